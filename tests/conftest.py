"""Fixtures shared by every test: a clean AWS (moto, from template.yaml) and the environment the template gives the
functions, with Asana's base URLs pointing wherever a test says."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from moto import mock_aws

from tests import log_audit
from tests.aws import AwsResources, create_resources
from tests.iam import plugin as iam_audit

if TYPE_CHECKING:
    from local.stack import LocalStack, StackUrls

REGION = "us-east-1"
# Tests against a running local stack go after all others: the stack sets the functions' environment in os.environ
# and moto's backends are per process, state a unit test using mock_aws must never share.
STACK_MARKERS = ("e2e", "browser")


def pytest_configure(config: pytest.Config) -> None:
    # Before any Logger exists: debug level, so the log audit also sees what only a debugging operator would see.
    os.environ["POWERTOOLS_LOG_LEVEL"] = "DEBUG"
    # Metrics() and Logger() read these when observability is first imported, which may happen at collection.
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "SecureDB/AsanaIntegration")
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "asana-integration")
    # Process-wide, not per test: the local stack sets the same value for its functions and checks it stays, and a
    # per-test monkeypatch would delete it when the test that happened to start the stack ends.
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "1"
    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("urllib3").setLevel(logging.DEBUG)  # it logs request URLs, where token leaks usually hide
    log_audit.install()
    iam_audit.install(config)  # records each function's AWS calls for tests/zz_audit/test_iam_*.py


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Unit and handler tests first, then the live-stack tests, then the log audit (which must see everyone's logs).
    ``sorted`` is stable, so the order within each group stays as collected."""

    def group(item: pytest.Item) -> int:
        if item.nodeid.startswith("tests/zz_audit/"):
            return 2
        return 1 if any(item.get_closest_marker(marker) for marker in STACK_MARKERS) else 0

    items[:] = sorted(items, key=group)


@dataclass(frozen=True)
class RunningStack:
    stack: LocalStack
    urls: StackUrls
    tokens: Mapping[str, str]  # bearer tokens by demo identity: "admin", "member", "other-admin"

    def auth(self, identity: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[identity]}"}


@pytest.fixture(scope="session")
def local_stack() -> Iterator[RunningStack]:
    """Gateway, functions, moto, Asana sandbox and dev sign-in, started once per session for the e2e and browser
    tests; schedules are not timed (tests fire them with ``POST /_local/schedules/<function>``)."""
    from local.dev_identity import DEMO_IDENTITIES
    from local.stack import LocalStack

    with LocalStack(run_schedules=False, log_level="WARNING") as stack:
        log_audit.remember_sandbox(stack.sandbox)
        tokens = {identity.key: stack.token_for(identity) for identity in DEMO_IDENTITIES}
        yield RunningStack(stack=stack, urls=stack.urls, tokens=tokens)
        log_audit.remember_sandbox(stack.sandbox)
        log_audit.remember(*tokens.values())


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reaches a real AWS account or reuses another test's cached configuration."""
    proxies = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", *proxies, *(variable.lower() for variable in proxies)):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "SecureDB/AsanaIntegration")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "asana-integration")
    _clear_caches()
    yield
    _clear_caches()


def _clear_caches() -> None:
    from aws_lambda_powertools.utilities import parameters

    from asana_integration.config import get_config

    get_config.cache_clear()
    parameters.clear_caches()


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Everything the Powertools logger writes (JSON lines, debug level included)."""
    from asana_integration.observability import logger  # the layer is imported only by the tests that use it

    stream = io.StringIO()
    handler = logger.logger_handler  # type: ignore[attr-defined]
    # Swapped in place: setStream() would flush the previous stream, which may be a capture of an earlier test that
    # pytest has closed by now (the logger keeps the stdout it found when it was first imported).
    previous_stream, handler.stream = handler.stream, stream
    previous_level = logger.log_level
    logger.setLevel("DEBUG")
    yield stream
    logger.setLevel(previous_level)
    handler.stream = previous_stream


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsResources]:
    """moto with the template's table and KMS key, and the functions' environment variables set."""
    with mock_aws():
        resources = create_resources()
        integration_env(monkeypatch, resources)
        yield resources


def integration_env(
    monkeypatch: pytest.MonkeyPatch,
    resources: AwsResources,
    *,
    api_base_url: str = "https://app.asana.com/api/1.0",
    oauth_base_url: str = "https://app.asana.com/-",
) -> None:
    from asana_integration.config import get_config

    env = {
        "TABLE_NAME": resources.table_name,
        "MIRROR_TABLE_NAME": resources.mirror_table_name,
        "SYNC_QUEUE_URL": resources.sync_queue_url,
        "WEBHOOK_EVENTS_QUEUE_URL": resources.webhook_events_queue_url,
        "IDEMPOTENCY_TABLE_NAME": resources.idempotency_table_name,
        "KMS_KEY_ID": resources.kms_key_arn,
        "SECRET_NAME_PREFIX": "securedb-asana",
        "PUBLIC_BASE_URL": "https://expand.securedb.io",
        "ALLOWED_TENANT_HOSTS": "expand.securedb.io,*.expand.securedb.io",
        "OAUTH_SCOPES_MODE": "default",
        "ASANA_API_BASE_URL": api_base_url,
        "ASANA_OAUTH_BASE_URL": oauth_base_url,
        "ASANA_PROXY": "",
        "ASANA_CA_BUNDLE": "",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_config.cache_clear()


@pytest.fixture
def sandbox() -> Iterator[object]:
    """A fresh Asana sandbox on an ephemeral loopback port."""
    from local.asana_sandbox import AsanaSandbox

    instance = AsanaSandbox(host="127.0.0.1", port=0)
    instance.start()
    try:
        yield instance
    finally:
        log_audit.remember_sandbox(instance)
        instance.stop()


@pytest.fixture
def aws_with_sandbox(monkeypatch: pytest.MonkeyPatch, aws: AwsResources, sandbox: object) -> AwsResources:
    """moto plus the functions configured to talk to the sandbox instead of Asana."""
    integration_env(
        monkeypatch,
        aws,
        api_base_url=sandbox.api_base_url,  # type: ignore[attr-defined]
        oauth_base_url=sandbox.oauth_base_url,  # type: ignore[attr-defined]
    )
    # moto's mock_aws lets requests to the sandbox's loopback port through untouched.
    return aws
