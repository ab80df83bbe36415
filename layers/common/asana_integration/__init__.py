"""The domain of the SecureDB ↔ Asana integration, shared by every Lambda function through the common layer.

Folders by concern: ``asana/`` talks to Asana (REST client, OAuth endpoints, transport), ``web/`` is the HTTP plumbing
the functions share, and the top-level modules hold configuration, identity, errors and the stores.
"""
