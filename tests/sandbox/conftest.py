"""Fixtures for the sandbox's own tests: a fresh sandbox per test, real HTTP over loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.asana_sandbox import AsanaSandbox, demo


@pytest.fixture
def sandbox() -> Iterator[AsanaSandbox]:
    sb = AsanaSandbox(host="127.0.0.1", port=0).start()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def pat_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.DEMO_PAT}"}
