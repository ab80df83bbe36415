"""The outbound proxy from Secrets Manager: every Asana call (REST and OAuth) goes through the URL the secret
``ASANA_PROXY_SECRET_ARN`` names, read through a cache, and the URL's credentials are shown nowhere.

moto holds the secret; a forward proxy on loopback (``tests/fake_proxy.py``) checks the credentials and relays to the
Asana sandbox, so each test sees the call pass through the proxy and still work.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters import base as parameters_base
from botocore.exceptions import EndpointConnectionError

from asana_integration.asana import transport
from asana_integration.asana.client import AsanaClient
from asana_integration.asana.oauth import OAuthEndpoints
from asana_integration.asana.token_source import StaticToken
from asana_integration.config import Config, get_config
from asana_integration.errors import AsanaUnreachable
from asana_integration.models.credentials import OrgCredentials
from local.asana_sandbox import demo
from tests import log_audit
from tests.fake_proxy import FakeProxy

PROXY_USER = "svc-asana"
PROXY_PASSWORD = "proxy-password-7f3a9c"
log_audit.remember(PROXY_PASSWORD, demo.DEMO_PAT)


@pytest.fixture
def proxy() -> Iterator[FakeProxy]:
    with FakeProxy(PROXY_USER, PROXY_PASSWORD) as running:
        yield running


@pytest.fixture
def proxy_secret(aws_with_sandbox, proxy, monkeypatch) -> str:
    """The deployment's set-up: the proxy URL in a secret, its ARN in ASANA_PROXY_SECRET_ARN."""
    arn = boto3.client("secretsmanager").create_secret(Name="asana-proxy", SecretString=proxy.url)["ARN"]
    monkeypatch.setenv("ASANA_PROXY_SECRET_ARN", arn)
    get_config.cache_clear()
    return arn


def rest_client(config: Config) -> AsanaClient:
    return AsanaClient(StaticToken(demo.DEMO_PAT), config)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_rest_calls_go_through_the_proxy_from_the_secret_with_its_credentials(proxy_secret, proxy, sandbox):
    me = rest_client(get_config()).me()

    assert me["gid"] == demo.DEMO_ADMIN_USER_GID
    assert proxy.paths() == ["/api/1.0/users/me"]
    assert all(passed.authorized for passed in proxy.passed)


def test_oauth_calls_go_through_the_proxy_from_the_secret(proxy_secret, proxy, sandbox):
    credentials = OrgCredentials(client_id=demo.DEMO_APP_CLIENT_ID, client_secret=demo.DEMO_APP_CLIENT_SECRET)

    OAuthEndpoints(get_config()).revoke(credentials, "a-refresh-token-nobody-issued")

    assert proxy.paths() == ["/-/oauth_revoke"]


def test_the_secret_is_read_once_per_cache_period_not_per_request(proxy_secret, proxy, sandbox):
    client = rest_client(get_config())
    client.me()
    boto3.client("secretsmanager").delete_secret(SecretId=proxy_secret, ForceDeleteWithoutRecovery=True)

    client.me()  # the deleted secret is not read again: the cached URL serves

    assert proxy.paths() == ["/api/1.0/users/me"] * 2
    assert transport.PROXY_CACHE_SECONDS <= 300, "a changed URL must reach warm Lambdas within minutes"


def test_a_long_lived_session_follows_a_changed_proxy_url(proxy_secret, proxy, sandbox):
    credentials = OrgCredentials(client_id=demo.DEMO_APP_CLIENT_ID, client_secret=demo.DEMO_APP_CLIENT_SECRET)
    endpoints = OAuthEndpoints(get_config())  # built once per execution environment, as the services do
    endpoints.revoke(credentials, "first-refresh-token")
    with FakeProxy(PROXY_USER, "rotated-password-91be") as rotated:
        log_audit.remember("rotated-password-91be")
        boto3.client("secretsmanager").put_secret_value(SecretId=proxy_secret, SecretString=rotated.url)
        parameters.clear_caches()  # the cache period has passed

        endpoints.revoke(credentials, "second-refresh-token")

        assert rotated.paths() == ["/-/oauth_revoke"]
    assert proxy.paths() == ["/-/oauth_revoke"]


def test_the_secret_wins_over_a_development_asana_proxy(proxy_secret, proxy, sandbox, monkeypatch):
    monkeypatch.setenv("ASANA_PROXY", f"http://127.0.0.1:{closed_port()}")
    get_config.cache_clear()

    rest_client(get_config()).me()

    assert proxy.paths() == ["/api/1.0/users/me"]


def test_asana_proxy_alone_still_works_for_local_development(aws_with_sandbox, proxy, sandbox, monkeypatch):
    monkeypatch.setenv("ASANA_PROXY", proxy.url)
    get_config.cache_clear()

    rest_client(get_config()).me()

    assert proxy.paths() == ["/api/1.0/users/me"]


def test_a_failing_proxy_is_named_without_its_credentials(proxy_secret, sandbox):
    dead = f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{closed_port()}"
    boto3.client("secretsmanager").put_secret_value(SecretId=proxy_secret, SecretString=dead)

    with pytest.raises(AsanaUnreachable) as caught:
        rest_client(get_config()).me()

    shown = json.dumps(caught.value.to_body())
    assert caught.value.code == "asana_proxy_error"
    assert f"through the proxy http://127.0.0.1:{dead.rsplit(':', 1)[1]}" in caught.value.message
    assert "Check the proxy URL in ASANA_PROXY_SECRET_ARN (host" in caught.value.message  # where the URL came from
    assert "the proxy allows HTTPS CONNECT to app.asana.com" in caught.value.message  # what to ask the proxy's owner
    assert PROXY_PASSWORD not in shown
    assert PROXY_USER not in shown


@pytest.mark.parametrize("stored", ["proxy.corp.example:8080", "socks5://proxy.corp.example:1080", PROXY_PASSWORD, ""])
def test_a_secret_that_holds_no_proxy_url_is_a_diagnostic_that_does_not_echo_it(proxy_secret, sandbox, stored):
    client = boto3.client("secretsmanager")
    if stored:
        client.put_secret_value(SecretId=proxy_secret, SecretString=stored)
    else:
        client.put_secret_value(SecretId=proxy_secret, SecretBinary=b" \n")

    with pytest.raises(AsanaUnreachable) as caught:
        rest_client(get_config()).me()

    assert caught.value.code == "asana_proxy_secret_invalid"
    assert "ASANA_PROXY_SECRET_ARN" in caught.value.message
    assert "does not hold a proxy URL" in caught.value.message
    if stored:
        assert stored not in json.dumps(caught.value.to_body())
    assert sandbox.request_count() == 0, "nothing was sent around the proxy"


def test_a_secret_that_cannot_be_read_is_a_diagnostic_and_nothing_is_sent(aws_with_sandbox, sandbox, monkeypatch):
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-proxy-AbCdEf"
    monkeypatch.setenv("ASANA_PROXY_SECRET_ARN", missing)
    get_config.cache_clear()

    with pytest.raises(AsanaUnreachable) as caught:
        rest_client(get_config()).me()

    assert caught.value.code == "asana_proxy_secret_unreadable"
    assert "ResourceNotFoundException" in caught.value.message
    assert "ASANA_PROXY_SECRET_ARN" in caught.value.message
    assert "this function's role may read" in caught.value.message  # the fix: the secret's name or the role's IAM
    assert sandbox.request_count() == 0, "no call went out directly instead"


def test_a_proxy_url_stored_as_binary_is_used_like_a_string(proxy_secret, proxy, sandbox):
    boto3.client("secretsmanager").put_secret_value(SecretId=proxy_secret, SecretBinary=proxy.url.encode())

    rest_client(get_config()).me()

    assert proxy.paths() == ["/api/1.0/users/me"]


def test_secrets_manager_not_answering_is_a_diagnostic_not_a_crash(proxy_secret, sandbox, monkeypatch):
    def no_answer(*args, **kwargs):
        try:
            raise EndpointConnectionError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com")
        except EndpointConnectionError as cause:  # Powertools wraps every failure; this one is no AWS error answer
            raise parameters.exceptions.GetParameterError(str(cause)) from cause

    monkeypatch.setattr(transport.parameters, "get_secret", no_answer)

    with pytest.raises(AsanaUnreachable) as caught:
        rest_client(get_config()).me()

    assert caught.value.code == "asana_proxy_secret_unreadable"
    assert "(no answer)" in caught.value.message
    assert sandbox.request_count() == 0


class _Later(datetime):
    """``datetime`` for Powertools' parameter cache, moved on by ``ahead``: its entries expire without waiting."""

    ahead = timedelta(0)

    @classmethod
    def now(cls, tz=None):
        return datetime.now(tz) + cls.ahead


def test_a_rotated_proxy_url_applies_when_the_cache_period_ends_not_before(proxy_secret, proxy, sandbox, monkeypatch):
    monkeypatch.setattr(parameters_base, "datetime", _Later)
    client = rest_client(get_config())
    client.me()
    with FakeProxy(PROXY_USER, "rotated-password-4c2d") as rotated:
        log_audit.remember("rotated-password-4c2d")
        boto3.client("secretsmanager").put_secret_value(SecretId=proxy_secret, SecretString=rotated.url)

        monkeypatch.setattr(_Later, "ahead", timedelta(seconds=transport.PROXY_CACHE_SECONDS - 10))
        client.me()  # within the period: the cached URL, no Secrets Manager call per request
        monkeypatch.setattr(_Later, "ahead", timedelta(seconds=transport.PROXY_CACHE_SECONDS + 1))
        client.me()  # the period has ended: the rotated URL

        assert rotated.paths() == ["/api/1.0/users/me"]
    assert proxy.paths() == ["/api/1.0/users/me"] * 2


def test_without_any_proxy_setting_calls_go_directly(aws_with_sandbox, proxy, sandbox):
    rest_client(get_config()).me()

    assert proxy.passed == []
    assert sandbox.request_count("GET", "/api/1.0/users/me") == 1


def test_with_no_proxy_setting_the_environments_proxy_applies(aws_with_sandbox, proxy, sandbox, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)  # the sandbox speaks plain HTTP; Asana's HTTPS_PROXY alike
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)

    rest_client(get_config()).me()

    assert proxy.paths() == ["/api/1.0/users/me"]


def test_asana_proxy_wins_over_the_environments_proxy(aws_with_sandbox, proxy, sandbox, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("ASANA_PROXY", proxy.url)
    get_config.cache_clear()

    rest_client(get_config()).me()

    assert proxy.paths() == ["/api/1.0/users/me"]


def test_a_failing_proxy_from_the_environment_is_named_as_such(aws_with_sandbox, sandbox, monkeypatch):
    port = closed_port()
    monkeypatch.setenv("HTTP_PROXY", f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{port}")

    with pytest.raises(AsanaUnreachable) as caught:
        rest_client(get_config()).me()

    assert caught.value.code == "asana_proxy_error"
    assert f"through the proxy http://127.0.0.1:{port} (from the environment's HTTP_PROXY)" in caught.value.message
    assert "Check the proxy URL in HTTP_PROXY (host" in caught.value.message
    assert PROXY_PASSWORD not in json.dumps(caught.value.to_body())
    assert sandbox.request_count() == 0


def test_all_proxy_alone_applies_and_is_named_when_it_fails(aws_with_sandbox, proxy, sandbox, monkeypatch):
    monkeypatch.setenv("ALL_PROXY", proxy.url)  # requests' fallback for every scheme

    rest_client(get_config()).me()
    assert proxy.paths() == ["/api/1.0/users/me"]

    port = closed_port()
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{port}")
    with pytest.raises(AsanaUnreachable) as caught:
        rest_client(get_config()).me()
    assert f"through the proxy http://127.0.0.1:{port} (from the environment's ALL_PROXY)" in caught.value.message
    assert "Check the proxy URL in ALL_PROXY (host" in caught.value.message


def test_no_proxy_exempts_asana_from_the_environments_proxy(aws_with_sandbox, proxy, sandbox, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")

    rest_client(get_config()).me()

    assert proxy.passed == []
    assert sandbox.request_count("GET", "/api/1.0/users/me") == 1
