"""Schemathesis against the local stack: the API answers as ``/asana/api/openapi.json`` says, to anything.

The document the settings function serves is loaded from the gateway, and every operation in it is called with
generated requests (valid and invalid) carrying an admin's token, through the gateway, the JWT authorizer and the real
functions. Every Schemathesis check runs except those ``schemathesis.toml`` turns off, each with its reason: no 5xx, a
status and a body as documented for each answer, invalid input refused with a 4xx, valid input accepted.

It runs in two passes, so that both leave something to check:

1. the operations that leave the organization's settings as they are, with the demo app's credentials and PAT saved,
   so the Quick Actions answer real pages from the Asana sandbox (and their documented 200 is checked);
2. the ones that replace or delete them (``PUT`` and ``DELETE``), which fuzz the settings away.

The organization is left unconfigured afterwards, as the other tests on this stack expect it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from local.asana_sandbox import demo
from tests.conftest import RunningStack

pytestmark = pytest.mark.e2e

CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
STATE_CHANGING = ("PUT", "DELETE")
TIMEOUT = 30


def schemathesis(
    stack: RunningStack, document: Path, report: Path, *filters: str
) -> tuple[subprocess.CompletedProcess[str], Any]:
    """One Schemathesis run over the operations of ``document`` that ``filters`` select: its output and JSON report."""
    result = subprocess.run(  # noqa: S603 - our own executable, arguments from this test
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(CONFIG),
            "run",
            str(document),
            "--url",
            stack.urls.gateway,
            "--header",
            f"Authorization: Bearer {stack.tokens['admin']}",
            "--no-color",
            "--report",
            "json",
            "--report-json-path",
            str(report),
            *filters,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result, json.loads(report.read_text(encoding="utf-8"))


def save_demo_settings(stack: RunningStack) -> None:
    answer = requests.put(
        f"{stack.urls.gateway}/asana/api/settings",
        json={"client_id": demo.DEMO_APP_CLIENT_ID, "client_secret": demo.DEMO_APP_CLIENT_SECRET, "pat": demo.DEMO_PAT},
        headers=stack.auth("admin"),
        timeout=TIMEOUT,
    )
    assert answer.status_code == 200, answer.text


def forget_settings_and_connections(stack: RunningStack) -> None:
    gateway, admin = stack.urls.gateway, stack.auth("admin")
    for purpose in ("personal", "organization"):
        requests.delete(f"{gateway}/asana/api/connection", params={"purpose": purpose}, headers=admin, timeout=TIMEOUT)
    assert requests.delete(f"{gateway}/asana/api/settings", headers=admin, timeout=TIMEOUT).status_code == 200


def test_schemathesis_finds_no_server_error_and_no_answer_the_document_does_not_describe(
    local_stack: RunningStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    # The document as the gateway serves it, handed to Schemathesis as a file: loaded from its URL, Schemathesis would
    # leave out the operation that serves it.
    served = requests.get(f"{local_stack.urls.gateway}/asana/api/openapi.json", timeout=TIMEOUT)
    assert served.status_code == 200
    document = tmp_path / "openapi.json"
    document.write_text(served.text, encoding="utf-8")
    save_demo_settings(local_stack)
    try:
        keeping = [arg for method in STATE_CHANGING for arg in ("--exclude-method", method)]
        changing = [arg for method in STATE_CHANGING for arg in ("--include-method", method)]
        runs = [
            schemathesis(local_stack, document, tmp_path / "keeping.json", *keeping),
            schemathesis(local_stack, document, tmp_path / "changing.json", *changing),
        ]
    finally:
        forget_settings_and_connections(local_stack)
    elapsed = time.monotonic() - started

    cases = sum(report["test_cases"]["generated"] for _, report in runs)
    operations = sum(report["operations"]["tested"] for _, report in runs)
    with capsys.disabled():
        print(f"\nSchemathesis: {cases} test cases over {operations} operations in {elapsed:.1f} s")
    documented = sum(len(item) for item in served.json()["paths"].values())
    assert operations == documented, "every documented operation is tested"
    for result, report in runs:
        assert report["complete"], result.stdout[-3000:]
        assert result.returncode == 0, result.stdout[-20000:]
        assert report["test_cases"]["generated"] > 0
