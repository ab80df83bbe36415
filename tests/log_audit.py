"""Every log record emitted during the test session, and every secret the tests used, for the final audit.

``tests/zz_audit/test_no_secrets_in_logs.py`` runs last and asserts that no PAT, client secret, OAuth token,
authorization code or state value ever reached a log line — including the ``extra`` fields of structured logs and
exception text, which is where such leaks usually hide.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

CAPTURED: list[str] = []
SECRETS: set[str] = set()
# The Powertools logger every module of the layer logs through (POWERTOOLS_SERVICE_NAME in tests/conftest.py).
SERVICE_LOGGER = "asana-integration"

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
    """One handler on the root (library loggers: botocore, urllib3, requests) and another on the service logger.

    Two instances, not one: when Powertools' ``Logger`` is created it adds a ``SuppressFilter`` for the service to
    every root handler (so its records are not written twice), and a handler shared with the root would then drop
    every record of the service logger, the very lines this audit is for.
    """
    for target in (logging.getLogger(), logging.getLogger(SERVICE_LOGGER)):
        # Once per process, however often pytest configures in it (mutmut runs several sessions in one process).
        if not any(isinstance(handler, _CaptureEverything) for handler in target.handlers):
            target.addHandler(_CaptureEverything(level=logging.DEBUG))


def captured_from(logger_name: str) -> list[str]:
    """The captured lines of one logger (and its children)."""
    return [line for line in CAPTURED if json.loads(line)["name"].split(".")[0] == logger_name]


# Runs of characters a secret keeps as they are in every rendering (JSON, repr, a header dump).
_PLAIN_RUN = re.compile(r"[!#-\[\]-~]+")


def variants(secret: str) -> set[str]:
    """Every form ``secret`` can take in a captured line, all long enough to match only by leaking.

    A line is JSON, and an exception message usually quotes a value with ``repr``: a secret holding a quote, a backslash
    or a control character (a PAT with CR/LF) is escaped once or twice there, so the raw text alone would never match.
    Its plain runs (the characters between those) are looked for too: the part of a PAT before an injected line break
    is the whole token.
    """
    forms = {secret, json.dumps(secret)[1:-1], repr(secret)[1:-1], json.dumps(repr(secret)[1:-1])[1:-1]}
    forms.update(_PLAIN_RUN.findall(secret))
    return {form for form in forms if len(form) >= _MIN_SECRET_LENGTH}


def remember(*values: str | None) -> None:
    for value in values:
        if value:
            SECRETS.update(variants(value))


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
