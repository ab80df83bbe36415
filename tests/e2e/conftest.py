"""End-to-end tests: the whole local stack on ephemeral ports, driven over real HTTP.

The session-scoped ``local_stack`` fixture (shared with the browser tests, so one stack serves both) and the ordering
that runs these tests after the unit and handler tests live in ``tests/conftest.py``.
"""
