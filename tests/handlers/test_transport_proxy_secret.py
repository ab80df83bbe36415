"""Each function that calls Asana does so through the proxy whose URL the secret ``ASANA_PROXY_SECRET_ARN`` holds.

The settings function (verification), the oauth_callback function (Connect's pre-check and the code exchange) and the
scheduled upkeep, each through its real ``lambda_handler``; moto holds the secret, and a forward proxy on loopback
checks the proxy credentials and relays to the Asana sandbox.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from aws_lambda_powertools.utilities import parameters

from asana_integration.config import get_config
from local.asana_sandbox import demo
from tests import log_audit
from tests.events import LambdaContext
from tests.fake_proxy import FakeProxy
from tests.handlers.conftest import function_module, invoke

SETTINGS = "/asana/api/settings"
CREDENTIALS = {"client_id": demo.DEMO_APP_CLIENT_ID, "client_secret": demo.DEMO_APP_CLIENT_SECRET}
PROXY_PASSWORD = "deployed-proxy-password-5e21"
log_audit.remember(PROXY_PASSWORD, demo.DEMO_PAT, demo.DEMO_APP_CLIENT_SECRET)

SCHEDULER_EVENT = {
    "version": "0",
    "id": "b7e1c3d4-0000-4000-8000-000000000002",
    "detail-type": "Scheduled Event",
    "source": "aws.scheduler",
    "account": "123456789012",
    "time": "2026-11-28T13:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/asana-upkeep"],
    "detail": "{}",
}


@pytest.fixture
def proxy(services, monkeypatch) -> Iterator[FakeProxy]:
    """A deployment with AsanaProxySecretArn set: the URL (with credentials) in a secret, its ARN in the environment."""
    with FakeProxy("svc-asana", PROXY_PASSWORD) as running:
        arn = boto3.client("secretsmanager").create_secret(Name="corp/asana-proxy", SecretString=running.url)["ARN"]
        monkeypatch.setenv("ASANA_PROXY_SECRET_ARN", arn)
        get_config.cache_clear()
        yield running


def test_the_settings_function_verifies_through_the_proxy(proxy, settings_api):
    status, body = settings_api("PUT", SETTINGS, body={**CREDENTIALS, "pat": demo.DEMO_PAT})

    assert status == 200
    assert body["connection"]["state"] == "connected"
    assert "/api/1.0/users/me" in proxy.paths()
    assert PROXY_PASSWORD not in json.dumps(body)


def test_the_oauth_callback_function_connects_through_the_proxy(proxy, settings_api, sandbox):
    for suffix in ("", "/"):
        sandbox.add_redirect_uri(demo.DEMO_APP_CLIENT_ID, f"https://expand.securedb.io/asana/settings{suffix}")
    settings_api("PUT", SETTINGS, body=CREDENTIALS)  # checks the credentials with Asana: through the proxy too
    oauth = function_module("oauth_callback")
    parameters.clear_caches()  # the oauth_callback function runs in its own execution environment: it reads the secret

    started = invoke(oauth, "POST", "/asana/api/connect", body={"purpose": "organization"})
    connect_url = json.loads(started["body"])["connect_url"]
    params = {key: values[0] for key, values in parse_qs(urlsplit(connect_url).query).items()}
    consent = requests.post(
        f"{sandbox.oauth_base_url}/oauth_authorize",
        data={**params, "decision": "approve", "user_gid": demo.DEMO_ADMIN_USER_GID},
        allow_redirects=False,
        timeout=5,
    )
    query = {key: values[0] for key, values in parse_qs(urlsplit(consent.headers["Location"]).query).items()}
    log_audit.remember(query["code"], query["state"])
    redirect = invoke(oauth, "GET", "/asana/settings", anonymous=True, query=query)
    assert parse_qs(urlsplit(redirect["headers"]["Location"]).query)["outcome"] == ["awaiting_completion"]
    completion = {
        "state": query["state"],
        "code": query["code"],
        "completion_key": json.loads(started["body"])["completion_key"],
    }
    finished = invoke(oauth, "POST", "/asana/api/connect/complete", body=completion)

    assert finished["statusCode"] == 200, finished["body"]
    assert "/-/oauth_authorize" in proxy.paths(), "Connect's pre-check"
    assert "/-/oauth_token" in proxy.paths(), "the code exchange"


def test_the_upkeep_verifies_through_the_proxy(proxy, settings_api, services, monkeypatch):
    settings_api("PUT", SETTINGS, body={**CREDENTIALS, "pat": demo.DEMO_PAT})
    before = len(proxy.paths())
    upkeep = function_module("sync", "connection_upkeep")
    monkeypatch.setattr(upkeep, "get_services", lambda: services)
    parameters.clear_caches()  # the upkeep runs in its own execution environment: it reads the secret itself

    result = upkeep.lambda_handler(SCHEDULER_EVENT, LambdaContext(timeout_seconds=300))

    assert result["states"] == {"connected": 1}
    assert proxy.paths()[before:].count("/api/1.0/users/me") == 1
