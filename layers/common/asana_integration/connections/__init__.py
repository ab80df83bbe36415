"""The OAuth connection domain: Connect and its redirect (``service``), the redirect's outcomes (``outcomes``) and
keeping a connection's access token fresh (``token_refresh``)."""
