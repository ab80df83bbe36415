"""Asana's OAuth endpoints over real HTTP on loopback (the sandbox), plus the odd answers only a stub can give."""

from __future__ import annotations

import base64
import hashlib
import re
import socket
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from asana_integration.asana.errors import (
    NoScopesRegistered,
    OAuthClientRejected,
    OAuthGrantRejected,
    RedirectUriMismatch,
    RefreshTokenInvalid,
)
from asana_integration.asana.oauth import OAuthEndpoints
from asana_integration.asana.pkce import Pkce, s256_challenge
from asana_integration.config import Config
from asana_integration.errors import SEED_NO_SCOPES, SEED_REDIRECT_URI_MISMATCH, AsanaUnavailable, AsanaUnreachable
from asana_integration.models.credentials import OrgCredentials
from asana_integration.tenant_urls import TenantUrls
from local.asana_sandbox import demo
from tests import log_audit

URLS = TenantUrls(base_url="https://expand.securedb.io")
DEMO = OrgCredentials(client_id=demo.DEMO_APP_CLIENT_ID, client_secret=demo.DEMO_APP_CLIENT_SECRET)


def config_for(oauth_base_url: str, api_base_url: str = "https://app.asana.com/api/1.0", **extra: str) -> Config:
    return Config.model_validate(
        {
            "TABLE_NAME": "t",
            "KMS_KEY_ID": "k",
            "PUBLIC_BASE_URL": "https://expand.securedb.io",
            "ASANA_OAUTH_BASE_URL": oauth_base_url,
            "ASANA_API_BASE_URL": api_base_url,
            "ASANA_TIMEOUT_SECONDS": "2",
            **extra,
        }
    )


@pytest.fixture
def endpoints(sandbox) -> OAuthEndpoints:
    for uri in URLS.redirect_uris:
        sandbox.add_redirect_uri(demo.DEMO_APP_CLIENT_ID, uri)
    return OAuthEndpoints(config_for(sandbox.oauth_base_url, sandbox.api_base_url))


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def authorize(endpoints: OAuthEndpoints, sandbox, pkce: Pkce, credentials: OrgCredentials = DEMO) -> str:
    """Build the authorize URL, approve on the sandbox's consent page, return the code from the redirect."""
    url = endpoints.authorize_url(
        client_id=credentials.client_id, redirect_uri=URLS.redirect_uri, state="s" * 43, code_challenge=pkce.challenge
    )
    answer = requests.post(
        f"{sandbox.oauth_base_url}/oauth_authorize",
        data={**query_of(url), "decision": "approve"},
        allow_redirects=False,
        timeout=5,
    )
    code = query_of(answer.headers["Location"])["code"]
    log_audit.remember(code)
    return code


def exchange(endpoints: OAuthEndpoints, sandbox, **overrides):
    pkce = Pkce.generate()
    code = authorize(endpoints, sandbox, pkce)
    arguments = {"code": code, "redirect_uri": URLS.redirect_uri, "code_verifier": pkce.verifier, "urls": URLS}
    arguments.update(overrides)
    return endpoints.exchange_code(overrides.pop("credentials", DEMO), **arguments)


# --- the authorize URL ----------------------------------------------------------------------------------------------


def test_the_authorize_url_carries_exactly_what_asana_needs():
    pkce = Pkce.generate()
    url = OAuthEndpoints(config_for("https://app.asana.com/-")).authorize_url(
        client_id="1209", redirect_uri=URLS.redirect_uri, state="st", code_challenge=pkce.challenge
    )

    assert url.startswith("https://app.asana.com/-/oauth_authorize?")
    assert query_of(url) == {
        "client_id": "1209",
        "redirect_uri": "https://expand.securedb.io/asana/settings",
        "response_type": "code",
        "scope": "default",
        "state": "st",
        "code_challenge_method": "S256",
        "code_challenge": pkce.challenge,
    }
    assert 43 <= len(pkce.verifier) <= 128
    assert pkce.verifier not in url


def test_granular_scopes_are_sent_space_separated_as_percent_20():
    config = config_for("https://app.asana.com/-", OAUTH_SCOPES_MODE="granular")
    url = OAuthEndpoints(config).authorize_url(
        client_id="1", redirect_uri=URLS.redirect_uri, state="s", code_challenge="c"
    )

    assert "scope=projects%3Aread%20tasks%3Aread%20" in url
    assert query_of(url)["scope"] == config.oauth_granular_scopes


def test_the_pkce_challenge_is_unpadded_base64url_of_sha256():
    verifier = Pkce.generate().verifier
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).decode().rstrip("=")

    assert s256_challenge(verifier) == expected
    assert len(expected) == 43
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,128}", verifier)


def test_secrets_never_show_in_reprs():
    pkce = Pkce.generate()
    assert pkce.verifier not in repr(pkce)


# --- the pre-check of the authorize URL ------------------------------------------------------------------------------


def test_an_unregistered_redirect_uri_is_caught_before_the_browser_goes_to_asana(endpoints):
    tenant = TenantUrls(base_url="https://acme.expand.securedb.io")

    with pytest.raises(RedirectUriMismatch) as mismatch:
        endpoints.check_authorize(client_id=DEMO.client_id, urls=tenant)

    assert mismatch.value.message == SEED_REDIRECT_URI_MISMATCH
    assert "https://acme.expand.securedb.io/asana/settings " in mismatch.value.fix
    assert "https://acme.expand.securedb.io/asana/settings/" in mismatch.value.fix


def test_an_app_without_scopes_is_caught_with_the_seeds_message(endpoints, sandbox):
    for uri in URLS.redirect_uris:
        sandbox.add_redirect_uri(demo.NO_SCOPES_APP_CLIENT_ID, uri)
    with pytest.raises(NoScopesRegistered) as no_scopes:
        endpoints.check_authorize(client_id=demo.NO_SCOPES_APP_CLIENT_ID, urls=URLS)

    assert no_scopes.value.message == SEED_NO_SCOPES


def test_a_correct_client_and_redirect_uri_pass_the_check_and_store_nothing_at_asana(endpoints, sandbox):
    endpoints.check_authorize(client_id=DEMO.client_id, urls=URLS)

    assert sandbox.state.store.codes == {}


# --- code exchange ------------------------------------------------------------------------------------------------


def test_the_code_exchange_returns_tokens_and_the_authorizing_user(endpoints, sandbox):
    grant = exchange(endpoints, sandbox)

    assert grant.access_token
    assert grant.refresh_token
    assert grant.expires_in == 3600
    assert grant.user is not None
    assert (grant.user.gid, grant.user.name, grant.user.email) == (
        demo.DEMO_ADMIN_USER_GID,
        demo.DEMO_ADMIN_NAME,
        demo.DEMO_ADMIN_EMAIL,
    )
    assert grant.access_token not in repr(grant)
    assert grant.refresh_token not in repr(grant)


def test_a_wrong_code_verifier_is_refused(endpoints, sandbox):
    with pytest.raises(OAuthGrantRejected) as rejected:
        exchange(endpoints, sandbox, code_verifier=Pkce.generate().verifier)

    assert rejected.value.oauth_error == "invalid_grant"
    assert rejected.value.code == "exchange_failed"


def test_a_different_redirect_uri_at_the_exchange_gives_the_seeds_message(endpoints, sandbox):
    with pytest.raises(RedirectUriMismatch) as mismatch:
        exchange(endpoints, sandbox, redirect_uri=URLS.redirect_uri_trailing_slash)

    assert mismatch.value.message == SEED_REDIRECT_URI_MISMATCH
    assert URLS.redirect_uri in mismatch.value.fix


def test_a_wrong_client_secret_is_a_configuration_error_without_the_secret_in_it(endpoints, sandbox):
    wrong = OrgCredentials(client_id=DEMO.client_id, client_secret="not-the-secret-0123456789")
    pkce = Pkce.generate()
    code = authorize(endpoints, sandbox, pkce)

    with pytest.raises(OAuthClientRejected) as rejected:
        endpoints.exchange_code(
            wrong, code=code, redirect_uri=URLS.redirect_uri, code_verifier=pkce.verifier, urls=URLS
        )

    text = f"{rejected.value.message} {rejected.value.fix} {rejected.value!r}"
    assert "not-the-secret" not in text
    assert code not in text


def test_a_5xx_from_the_token_endpoint_is_transient(endpoints, sandbox):
    sandbox.inject_errors(count=1, status=502, path_prefix="/-/oauth_token")

    with pytest.raises(AsanaUnavailable):
        exchange(endpoints, sandbox)


def test_an_unreachable_asana_gives_the_proxy_diagnostic():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoints = OAuthEndpoints(config_for(f"http://127.0.0.1:{port}/-"))

    with pytest.raises(AsanaUnreachable) as unreachable:
        endpoints.refresh(DEMO, "some-refresh-token-value")

    assert "ASANA_PROXY" in unreachable.value.message
    assert "some-refresh-token-value" not in unreachable.value.message


@responses.activate
def test_an_unreadable_success_answer_is_transient_not_a_grant():
    responses.post("https://app.asana.com/-/oauth_token", body="<html>proxy login</html>", status=200)
    endpoints = OAuthEndpoints(config_for("https://app.asana.com/-"))

    with pytest.raises(AsanaUnavailable):
        endpoints.refresh(DEMO, "r")


@responses.activate
def test_a_missing_user_in_the_answer_is_fetched_from_users_me():
    responses.get(
        "https://app.asana.com/api/1.0/users/me",
        json={"data": {"gid": "42", "name": "N", "email": "n@example.com"}},
    )
    endpoints = OAuthEndpoints(config_for("https://app.asana.com/-"))

    user = endpoints.authorizing_user("access")

    assert (user.gid, user.name, user.email) == ("42", "N", "n@example.com")
    assert responses.calls[0].request.headers["Authorization"] == "Bearer access"


# --- refresh and revoke ---------------------------------------------------------------------------------------------


def test_refresh_returns_a_new_access_token_and_no_refresh_token_by_default(endpoints, sandbox):
    grant = exchange(endpoints, sandbox)

    refreshed = endpoints.refresh(DEMO, grant.refresh_token)

    assert refreshed.access_token != grant.access_token
    assert refreshed.refresh_token is None


def test_a_revoked_refresh_token_is_a_permanent_invalid_grant(endpoints, sandbox):
    grant = exchange(endpoints, sandbox)
    sandbox.revoke_refresh_tokens(refresh_token=grant.refresh_token)

    with pytest.raises(RefreshTokenInvalid) as invalid:
        endpoints.refresh(DEMO, grant.refresh_token)

    assert invalid.value.oauth_error == "invalid_grant"
    assert grant.refresh_token not in str(invalid.value)


@responses.activate
def test_other_refresh_refusals_are_not_taken_as_a_dead_token():
    responses.post("https://app.asana.com/-/oauth_token", json={"error": "invalid_request"}, status=400)
    endpoints = OAuthEndpoints(config_for("https://app.asana.com/-"))

    with pytest.raises(OAuthGrantRejected) as rejected:
        endpoints.refresh(DEMO, "r")

    assert not isinstance(rejected.value, RefreshTokenInvalid)


def test_revoke_sends_the_refresh_token_and_asana_records_it(endpoints, sandbox):
    grant = exchange(endpoints, sandbox)

    assert endpoints.revoke(DEMO, grant.refresh_token) is True

    assert [(r.client_id, r.via) for r in sandbox.revocations()] == [(DEMO.client_id, "oauth_revoke")]
    with pytest.raises(RefreshTokenInvalid):
        endpoints.refresh(DEMO, grant.refresh_token)


def test_revoking_something_asana_refuses_reports_false(endpoints, sandbox):
    grant = exchange(endpoints, sandbox)

    # Asana revokes refresh tokens only; an access token is refused with 400.
    assert endpoints.revoke(DEMO, grant.access_token) is False


# --- checking a Client ID and Secret before they are saved (RFC 6749 §5.2) -------------------------------------------


def test_good_client_credentials_are_accepted_by_a_dummy_code_and_nothing_is_issued(endpoints, sandbox):
    check = endpoints.check_client(DEMO, redirect_uri=URLS.redirect_uri)

    assert (check.verdict, check.reason) == ("accepted", None)
    assert not any(token.client_id == DEMO.client_id for token in sandbox.state.store.refresh_tokens.values())


def test_a_wrong_secret_is_rejected_by_the_sandboxs_invalid_client(endpoints):
    wrong = OrgCredentials(client_id=DEMO.client_id, client_secret="not-the-secret")

    assert endpoints.check_client(wrong, redirect_uri=URLS.redirect_uri).verdict == "rejected"


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (400, {"error": "invalid_request"}, "did not say whether"),
        (401, {}, "did not say whether"),  # no clear invalid_client: not a rejection
        (400, {"error": "unauthorized_client"}, "did not say whether"),
        (503, {}, "problem on its side"),
        (429, {}, "rate limit"),
        (200, {"access_token": "x"}, "did not say whether"),
    ],
)
def test_anything_but_a_clear_invalid_client_is_could_not_verify_never_rejected(status, body, reason):
    with responses.RequestsMock() as asana:
        asana.post("https://app.asana.com/-/oauth_token", status=status, json=body)
        check = OAuthEndpoints(config_for("https://app.asana.com/-")).check_client(DEMO, redirect_uri=URLS.redirect_uri)

    assert check.verdict == "unverified"
    assert reason in (check.reason or "")


def test_no_answer_at_all_is_could_not_verify_with_the_cause():
    with responses.RequestsMock() as asana:
        asana.post("https://app.asana.com/-/oauth_token", body=requests.exceptions.ConnectTimeout("timed out"))
        check = OAuthEndpoints(config_for("https://app.asana.com/-")).check_client(DEMO, redirect_uri=URLS.redirect_uri)

    assert check.verdict == "unverified"
    assert "timed out" in (check.reason or "")
    assert DEMO.client_secret.get_secret_value() not in (check.reason or "")


# --- the Connect pre-check is advisory --------------------------------------------------------------------------------

AUTHORIZE = re.compile(r"https://app\.asana\.com/-/oauth_authorize\?.*")


@pytest.mark.parametrize(
    "answer",
    [
        {"body": requests.exceptions.ReadTimeout("slow")},
        {"body": requests.exceptions.ConnectionError("refused")},
        {"status": 400, "body": "Something about redirect_uri changed", "content_type": "text/plain"},
        {"status": 400, "json": {"error": "invalid_request", "error_description": "redirect_uri is odd"}},
        {"status": 404, "body": "client_id unknown", "content_type": "text/plain"},
        {"status": 500, "body": "oops"},
    ],
    ids=["timeout", "unreachable", "other-text", "json-400", "404", "500"],
)
def test_the_connect_pre_check_never_blocks_on_a_timeout_or_an_unrecognised_answer(answer):
    with responses.RequestsMock() as asana:
        asana.get(AUTHORIZE, **answer)
        OAuthEndpoints(config_for("https://app.asana.com/-")).check_authorize(client_id="1", urls=URLS)


def test_the_pre_check_asks_for_the_page_a_browser_would_get_and_matches_asanas_exact_text():
    exact = "invalid_request: The `redirect_uri` parameter does not match a valid url for the application."
    with responses.RequestsMock() as asana:
        asana.get(AUTHORIZE, status=400, body=exact, content_type="text/plain")
        with pytest.raises(RedirectUriMismatch):
            OAuthEndpoints(config_for("https://app.asana.com/-")).check_authorize(client_id="1", urls=URLS)
        (call,) = asana.calls

    assert call.request.headers["Accept"] == "text/html"
