"""The standalone entry point: `python -m local.asana_sandbox --port N` serves the same sandbox."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import requests

from local.asana_sandbox import demo

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_module_entry_point_serves_the_api():
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "local.asana_sandbox", "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", first_line)
        assert match, first_line
        base_url = match.group(1)

        health = requests.get(f"{base_url}/_sandbox/health", timeout=5)
        me = requests.get(
            f"{base_url}/api/1.0/users/me", headers={"Authorization": f"Bearer {demo.DEMO_PAT}"}, timeout=5
        )

        assert health.json() == {"ok": True}
        assert me.json()["data"]["gid"] == demo.DEMO_ADMIN_USER_GID
    finally:
        process.terminate()
        process.wait(timeout=10)
