"""Runs last (pytest collects ``zz_audit`` after every other folder): no secret used by the suite was ever logged."""

from tests import log_audit


def test_the_suite_logged_and_used_secrets() -> None:
    # Guards the audit itself: if capture silently broke, the next test would pass vacuously.
    assert log_audit.CAPTURED, "no log line was captured: the audit handler is not installed"
    # The service logger writes the lines that carry request data; an audit blind to it would pass vacuously.
    assert log_audit.captured_from(log_audit.SERVICE_LOGGER), "no line of the service logger was captured"
    assert log_audit.SECRETS, "no secret was registered: the audit has nothing to look for"


def test_no_secret_token_or_pat_appears_in_any_log_line() -> None:
    leaks = log_audit.leaks()
    assert not leaks, f"secrets reached the logs: {leaks[:5]}"
