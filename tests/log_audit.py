"""Every log record emitted during the test session, and every secret the tests used, for the final audit.

``tests/zz_audit/test_no_secrets_in_logs.py`` runs last and asserts that no PAT, client secret, OAuth token,
authorization code or state value ever reached a log line — including the ``extra`` fields of structured logs and
exception text, which is where such leaks usually hide.
"""

from __future__ import annotations

import json
import logging
from typing import Any

CAPTURED: list[str] = []
SECRETS: set[str] = set()

# Secrets shorter than this would match by accident (e.g. a PAT's last 4 characters are shown on purpose).
_MIN_SECRET_LENGTH = 12


class _CaptureEverything(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        fields: dict[str, Any] = dict(record.__dict__)
        fields["formatted_message"] = record.getMessage()
        if record.exc_info:
            fields["formatted_exception"] = logging.Formatter().formatException(record.exc_info)
        CAPTURED.append(json.dumps(fields, default=str))


def install() -> None:
    handler = _CaptureEverything(level=logging.DEBUG)
    # The root catches library loggers (botocore, urllib3); Powertools' service logger may not propagate.
    for name in ("", "asana-integration"):
        logging.getLogger(name).addHandler(handler)


def remember(*values: str | None) -> None:
    SECRETS.update(value for value in values if value and len(value) >= _MIN_SECRET_LENGTH)


def remember_sandbox(sandbox: Any) -> None:
    """Everything secret the sandbox issued or knows: PATs, app secrets, codes, access and refresh tokens."""
    store = sandbox.state.store
    remember(*store.pats.keys(), *store.codes.keys(), *store.refresh_tokens.keys(), *store.access_tokens.keys())
    remember(*(app.client_secret for app in store.apps.values()))


def leaks() -> list[tuple[str, str]]:
    """(secret prefix, offending line excerpt) for every captured line that contains a known secret."""
    found = []
    for line in CAPTURED:
        for secret in SECRETS:
            if secret in line:
                at = line.index(secret)
                found.append((secret[:4] + "…", line[max(0, at - 80) : at].replace(secret, "<SECRET>")))
    return found
