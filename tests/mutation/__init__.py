"""Mutation testing of the security-critical modules: ``make mutation`` (``python -m tests.mutation``)."""
