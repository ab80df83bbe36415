"""End-to-end tests: the whole local stack (``local.stack.LocalStack``) on ephemeral ports, driven over real HTTP.

The stack runs in this process and sets the functions' environment (``AWS_ENDPOINT_URL`` among it) in ``os.environ``
while it runs, and moto's backends are per process. So tests that start a stack run after every other test: a unit
test using ``mock_aws`` must never share the process state of a running stack.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import pytest

from local.dev_identity import DEMO_IDENTITIES
from local.stack import LocalStack, StackUrls

STACK_MARKERS = ("e2e", "browser")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move tests that run against a live stack to the end, keeping their order (``sorted`` is stable)."""
    items[:] = sorted(items, key=lambda item: any(item.get_closest_marker(m) for m in STACK_MARKERS))


@dataclass(frozen=True)
class RunningStack:
    stack: LocalStack
    urls: StackUrls
    tokens: Mapping[str, str]  # bearer tokens by demo identity: "admin", "member", "other-admin"

    def auth(self, identity: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[identity]}"}


@pytest.fixture(scope="session")
def local_stack() -> Iterator[RunningStack]:
    """Gateway, functions, moto, Asana sandbox and dev sign-in, started once per session; schedules are not timed
    (tests fire them with ``POST /_local/schedules/<function>``)."""
    with LocalStack(run_schedules=False, log_level="WARNING") as stack:
        tokens = {identity.key: stack.token_for(identity) for identity in DEMO_IDENTITIES}
        yield RunningStack(stack=stack, urls=stack.urls, tokens=tokens)
