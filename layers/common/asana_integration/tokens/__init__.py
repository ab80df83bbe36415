"""Stored OAuth connections: field encryption (``crypto``), the DynamoDB items (``store``) and the refresh lifecycle
(``lifecycle``)."""
