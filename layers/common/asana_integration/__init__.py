"""The domain of the SecureDB ↔ Asana integration, shared by every Lambda function through the common layer.

Grouped by domain, each part importing only the parts below it (``tests/unit/test_layer_imports.py`` enforces it):
``config``, ``errors`` and ``observability``; then ``models`` (shared values), ``identity`` and ``tenant_urls``; then
``asana`` (talks to Asana) and ``stores`` (persistence), which never import each other; then the ``connections`` and
``settings`` domains; and ``web``, the HTTP plumbing and the one wiring module the functions use.
"""
