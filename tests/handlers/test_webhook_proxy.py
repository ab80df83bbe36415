"""Webhook management and the health check call Asana through the proxy whose URL the secret
``ASANA_PROXY_SECRET_ARN`` holds, like every function that calls Asana; the test handshake does not: it goes straight
to the tenant's public URL, as Asana would come in."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from local.asana_sandbox import demo
from tests import log_audit
from tests.events import LambdaContext
from tests.fake_proxy import FakeProxy
from tests.handlers.conftest import function_module
from tests.handlers.webhook_api_support import (
    ORG,
    WebhookApiWorld,
    webhook_api_fixture,  # noqa: F401 - registers the webhook_api fixture
)

PROXY_PASSWORD = "deployed-proxy-password-77b0"
log_audit.remember(PROXY_PASSWORD, demo.DEMO_PAT)


@pytest.fixture
def proxied(webhook_api: WebhookApiWorld) -> Iterator[tuple[WebhookApiWorld, FakeProxy]]:
    """A deployment with AsanaProxySecretArn set: the proxy's URL (with credentials) in a secret."""
    with FakeProxy("svc-asana", PROXY_PASSWORD) as proxy:
        arn = boto3.client("secretsmanager").create_secret(Name="corp/asana-proxy", SecretString=proxy.url)["ARN"]
        webhook_api.set_environment(ASANA_PROXY_SECRET_ARN=arn)
        yield webhook_api, proxy


def test_management_and_the_health_check_call_asana_through_the_proxy(proxied, monkeypatch):
    world, proxy = proxied

    status, created = world.create()

    assert status == 201, created
    assert "/api/1.0/webhooks" in proxy.paths()
    assert PROXY_PASSWORD not in str(created)
    world.services.organizations.register(ORG, "connected")
    monkeypatch.setattr(function_module("webhook", "health"), "get_services", lambda: world.services)
    before = len(proxy.paths())
    parameters.clear_caches()  # the health check runs in an execution environment of its own: it reads the secret

    report = function_module("webhook", "health").lambda_handler({}, LambdaContext(timeout_seconds=300))

    assert report["webhooks_checked"] == 1
    assert len(proxy.paths()) > before


def test_the_test_handshake_goes_straight_to_the_public_url_and_says_a_proxy_is_configured(proxied):
    world, proxy = proxied
    world.public.mode = "status"  # the public URL fails: the report should mention the proxy

    status, report = world.api("POST", "/asana/api/webhooks/test")

    assert status == 200
    assert report["ok"] is False
    assert not any(path.startswith("/asana/webhook") for path in proxy.paths())
    assert any("through a proxy" in note for note in report["notes"])
