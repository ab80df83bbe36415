"""A local, in-memory stand-in for Asana (REST API, OAuth, fault switches) so no test or local run needs the real one.

Start one with `AsanaSandbox(port=0).start()` or `python -m local.asana_sandbox --port 3010`; demo data and
credentials are in `local.asana_sandbox.demo`.
"""

from local.asana_sandbox.server import AsanaSandbox

__all__ = ["AsanaSandbox"]
