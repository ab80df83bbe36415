"""The oauth_callback function end to end: real HTTP API events into ``lambda_handler``, moto from the template, and
the Asana sandbox over loopback playing Asana (its consent page is driven the way a browser submits it).

Connect ends in two steps, as the page drives them: Asana's redirect (public, no JWT) is checked and handed on in the
URL fragment, exchanging nothing; then ``POST /asana/api/connect/complete`` with the session that started Connect
(its JWT and completion key) exchanges the code and stores the connection."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests

from asana_integration.config import get_config
from asana_integration.errors import (
    SEED_AUTH_FAILED,
    SEED_NO_SCOPES,
    SEED_REDIRECT_URI_MISMATCH,
    AsanaAuthenticationFailed,
)
from asana_integration.identity import Caller
from asana_integration.models.connections import ConnectionKey, Purpose
from asana_integration.models.credentials import OrgCredentials
from asana_integration.stores.credentials import CredentialStore
from asana_integration.tenant_urls import TenantUrls
from local.asana_sandbox import demo
from tests import log_audit
from tests.handlers.conftest import function_module, invoke

HOST = "expand.securedb.io"
SETTINGS_URL = f"https://{HOST}/asana/settings"
URLS = TenantUrls(base_url=f"https://{HOST}")
ADMIN = Caller(org_id="org-a", user_id="admin-a", is_admin=True)
MEMBER = Caller(org_id="org-a", user_id="member-a", is_admin=False)
# Modules that create the Powertools logger/metrics are imported inside tests, not at collection: Metrics reads its
# namespace from the environment when created, and conftest sets that environment per test.


@pytest.fixture
def oauth(services, sandbox):
    module = function_module("oauth_callback")
    for suffix in ("", "/"):
        sandbox.add_redirect_uri(demo.DEMO_APP_CLIENT_ID, SETTINGS_URL + suffix)
        sandbox.add_redirect_uri(demo.NO_SCOPES_APP_CLIENT_ID, SETTINGS_URL + suffix)
    save_credentials("org-a")
    return module


def save_credentials(org_id: str, client_id: str = demo.DEMO_APP_CLIENT_ID, secret: str = demo.DEMO_APP_CLIENT_SECRET):
    CredentialStore(get_config()).save(org_id, OrgCredentials(client_id=client_id, client_secret=secret))


def api(module, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    response = invoke(module, method, path, **kwargs)
    return response["statusCode"], json.loads(response["body"])


def consent(sandbox, connect_url: str, decision: str = "approve", user_gid: str = demo.DEMO_ADMIN_USER_GID):
    """Submit the sandbox's consent form; return Asana's redirect back to us (path, query), not yet followed."""
    params = {k: v[0] for k, v in parse_qs(urlsplit(connect_url).query).items()}
    answer = requests.post(
        f"{sandbox.oauth_base_url}/oauth_authorize",
        data={**params, "decision": decision, "user_gid": user_gid},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}" == f"https://{HOST}"
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    log_audit.remember(query.get("code"), query.get("state"))
    return location.path, query


def callback(module, path: str, query: dict[str, str]) -> dict[str, Any]:
    """Asana's redirect reaching the public route: no JWT."""
    return invoke(module, "GET", path, anonymous=True, query=query)


def outcome_of(response: dict[str, Any]) -> dict[str, list[str]]:
    assert response["statusCode"] == 302
    location = response["headers"]["Location"]
    assert location.startswith(SETTINGS_URL + "?")
    return parse_qs(urlsplit(location).query)


def handed_on(response: dict[str, Any]) -> dict[str, str]:
    """What the redirect hands the settings page in the URL fragment (which no server receives)."""
    return {k: v[0] for k, v in parse_qs(urlsplit(response["headers"]["Location"]).fragment).items()}


def finish(
    module, response: dict[str, Any], key: str | None, *, user: str = "admin-a", admin: bool = True, org: str = "org-a"
) -> tuple[int, Any]:
    """The settings page finishing Connect with its session: the JWT of ``user`` and the completion key it kept."""
    fragment = handed_on(response)
    body = {"state": fragment["asana_state"], "code": fragment["asana_code"]}
    if key is not None:
        body["completion_key"] = key
    return api(module, "POST", "/asana/api/connect/complete", org=org, user=user, admin=admin, body=body)


@dataclass
class Flow:
    redirect: dict[str, Any]  # the callback's 302
    query: dict[str, str]  # what Asana redirected with
    key: str  # the completion key the starting session kept
    completed: tuple[int, Any] | None  # the page's completion, when the redirect handed one on

    @property
    def completed_status(self) -> int | None:
        return self.completed[0] if self.completed else None


def connect_flow(
    module, sandbox, *, purpose: str, user: str = "admin-a", admin: bool = True, **consent_kwargs: str
) -> Flow:
    """Connect as a browser session does it: start, consent, Asana's redirect, then finish in the same session."""
    status, body = api(module, "POST", "/asana/api/connect", user=user, admin=admin, body={"purpose": purpose})
    assert status == 200, body
    path, query = consent(sandbox, body["connect_url"], **consent_kwargs)
    redirect = callback(module, path, query)
    completed = None
    if outcome_of(redirect)["outcome"] == ["awaiting_completion"]:
        completed = finish(module, redirect, body["completion_key"], user=user, admin=admin)
    return Flow(redirect, query, body["completion_key"], completed)


def table_items() -> list[dict[str, Any]]:
    return boto3.client("dynamodb").scan(TableName=get_config().table_name)["Items"]


def connection_items() -> list[dict[str, Any]]:
    return [item for item in table_items() if item["sk"]["S"].startswith("CONNECTION#")]


# --- connecting -----------------------------------------------------------------------------------------------------


def test_an_admin_connects_the_organization_and_quick_actions_then_run_on_the_oauth_token(oauth, sandbox):
    status, body = api(oauth, "POST", "/asana/api/connect", body={"purpose": "organization"})
    assert status == 200
    url = urlsplit(body["connect_url"])
    params = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{sandbox.oauth_base_url}/oauth_authorize"
    assert params["redirect_uri"] == [SETTINGS_URL]
    assert params["scope"] == ["default"]
    assert params["code_challenge_method"] == ["S256"]

    path, query = consent(sandbox, body["connect_url"])
    response = callback(oauth, path, query)

    # The redirect exchanges nothing: it hands the code on to the page, in the fragment only.
    assert outcome_of(response) == {"outcome": ["awaiting_completion"], "purpose": ["organization"]}
    assert query["code"] not in urlsplit(response["headers"]["Location"]).query
    assert handed_on(response) == {"asana_state": query["state"], "asana_code": query["code"]}
    assert response["headers"]["Referrer-Policy"] == "no-referrer"
    assert sandbox.grant_count("authorization_code") == 0
    assert connection_items() == []

    status, completed = finish(oauth, response, body["completion_key"])

    assert (status, completed["code"], completed["purpose"]) == (200, "connected", "organization")
    assert completed["message"] == "The organization is connected to Asana."
    status, connection = api(oauth, "GET", "/asana/api/connection", query={"purpose": "organization"})
    assert status == 200
    assert connection["status"] == "connected"
    assert connection["asana_user"] == {
        "gid": demo.DEMO_ADMIN_USER_GID,
        "name": demo.DEMO_ADMIN_NAME,
        "email": demo.DEMO_ADMIN_EMAIL,
    }
    assert connection["connected_by"] == "admin-a"

    # Seed Step 5: without a PAT, verification and the Quick Actions use the admin's OAuth token.
    settings = function_module("settings")
    workspaces = api(settings, "GET", "/asana/api/workspaces")
    assert workspaces[0] == 200
    assert workspaces[1]["mode"] == "oauth"
    assert demo.ORG_WORKSPACE_GID in {w["gid"] for w in workspaces[1]["data"]}


def test_a_member_connects_their_own_account(oauth, sandbox):
    flow = connect_flow(
        oauth, sandbox, purpose="personal", user="member-a", admin=False, user_gid=demo.ORG_MEMBER_USER_GID
    )

    assert outcome_of(flow.redirect) == {"outcome": ["awaiting_completion"], "purpose": ["personal"]}
    assert flow.completed is not None
    assert flow.completed[1]["message"] == "Your Asana account is connected."
    status, connection = api(oauth, "GET", "/asana/api/connection", user="member-a", admin=False)
    assert status == 200
    assert (connection["purpose"], connection["status"]) == ("personal", "connected")
    assert connection["asana_user"]["gid"] == demo.ORG_MEMBER_USER_GID
    # Someone else's personal connection is theirs alone.
    assert api(oauth, "GET", "/asana/api/connection", user="member-b", admin=False)[1]["status"] == "not_connected"


def test_connect_defaults_to_personal_when_the_body_is_empty(oauth, sandbox):
    status, body = api(oauth, "POST", "/asana/api/connect", user="member-a", admin=False)
    assert status == 200
    path, query = consent(sandbox, body["connect_url"])

    assert outcome_of(callback(oauth, path, query))["purpose"] == ["personal"]


def test_a_denied_consent_stores_nothing_and_says_so(oauth, sandbox):
    flow = connect_flow(oauth, sandbox, purpose="organization", decision="deny")

    assert outcome_of(flow.redirect)["outcome"] == ["access_denied"]
    assert flow.completed is None
    assert connection_items() == []


def test_the_name_of_who_connected_comes_from_their_session_and_is_shown_with_the_id(oauth, sandbox):
    from tests.events import LambdaContext, claims_for, http_event

    _, body = api(oauth, "POST", "/asana/api/connect", body={"purpose": "organization"})
    path, query = consent(sandbox, body["connect_url"])
    fragment = handed_on(callback(oauth, path, query))
    claims = {**claims_for("org-a", "admin-a", admin=True), "name": "Dana Admin"}
    completion = {
        "state": fragment["asana_state"],
        "code": fragment["asana_code"],
        "completion_key": body["completion_key"],
    }
    event = http_event("POST", "/asana/api/connect/complete", claims=claims, body=completion)
    assert oauth.lambda_handler(event, LambdaContext())["statusCode"] == 200

    _, connection = api(oauth, "GET", "/asana/api/connection", query={"purpose": "organization"})
    assert (connection["connected_by"], connection["connected_by_name"]) == ("admin-a", "Dana Admin")
    _, settings = api(function_module("settings"), "GET", "/asana/api/settings")
    assert settings["connection"]["connected_by_name"] == "Dana Admin"
    me = oauth.lambda_handler(http_event("GET", "/asana/api/me", claims=claims), LambdaContext())
    assert json.loads(me["body"]) == {
        "user_id": "admin-a",
        "name": "Dana Admin",
        "display_name": "Dana Admin",
        "is_admin": True,
    }


def test_without_a_name_claim_the_user_is_shown_by_id(oauth):
    status, me = api(oauth, "GET", "/asana/api/me", user="member-a", admin=False)

    assert (status, me) == (200, {"user_id": "member-a", "display_name": "member-a", "is_admin": False})


# --- finishing only in the session that started it (RFC 6749 §10.12) -------------------------------------------------


def test_a_connect_link_opened_by_another_user_stores_nothing_and_the_starter_can_still_finish(oauth, sandbox):
    _, body = api(oauth, "POST", "/asana/api/connect", body={"purpose": "personal"})
    # The admin sends the link to a colleague, who approves in Asana as themselves and lands on the page signed in.
    path, query = consent(sandbox, body["connect_url"], user_gid=demo.ORG_MEMBER_USER_GID)
    redirect = callback(oauth, path, query)

    status, refused = finish(oauth, redirect, None, user="member-a", admin=False)

    assert (status, refused["error"]["code"]) == (403, "not_yours")
    assert "another SecureDB user" in refused["error"]["message"]
    assert "Connect" in refused["error"]["fix"]
    assert connection_items() == []
    assert sandbox.grant_count("authorization_code") == 0, "the colleague's code was never exchanged"
    # Nor from another organization.
    assert finish(oauth, redirect, body["completion_key"], org="org-b")[1]["error"]["code"] == "not_yours"
    assert connection_items() == []


def test_the_same_user_in_another_browser_session_cannot_finish_a_session_bound_connect(oauth, sandbox):
    _, body = api(oauth, "POST", "/asana/api/connect", body={"purpose": "organization"})
    path, query = consent(sandbox, body["connect_url"])
    redirect = callback(oauth, path, query)

    for wrong_key in (None, "a-key-from-another-session"):
        status, refused = finish(oauth, redirect, wrong_key)
        assert (status, refused["error"]["code"]) == (403, "other_session")

    assert connection_items() == []
    assert finish(oauth, redirect, body["completion_key"])[0] == 200


def test_a_link_from_a_status_is_finished_by_the_same_user_without_a_session_key(oauth, sandbox, services):
    connect_url = services.connections.start_connect(ADMIN, Purpose.ORGANIZATION, URLS)
    path, query = consent(sandbox, connect_url)
    redirect = callback(oauth, path, query)

    assert finish(oauth, redirect, None, user="member-a", admin=False)[1]["error"]["code"] == "not_yours"
    assert finish(oauth, redirect, None)[0] == 200


def test_finishing_needs_a_signed_in_session(oauth, sandbox):
    _, body = api(oauth, "POST", "/asana/api/connect", body={"purpose": "organization"})
    path, query = consent(sandbox, body["connect_url"])
    fragment = handed_on(callback(oauth, path, query))

    response = invoke(
        oauth,
        "POST",
        "/asana/api/connect/complete",
        anonymous=True,
        body={"state": fragment["asana_state"], "code": fragment["asana_code"]},
    )

    assert response["statusCode"] == 401
    assert connection_items() == []


# --- what the callback rejects --------------------------------------------------------------------------------------


def test_a_replayed_callback_says_it_was_used_and_leaves_the_connection_as_it_is(oauth, sandbox):
    flow = connect_flow(oauth, sandbox, purpose="organization")
    assert flow.completed_status == 200
    before = connection_items()

    replay = callback(oauth, "/asana/settings", flow.query)

    assert outcome_of(replay) == {"outcome": ["already_used"], "purpose": ["organization"]}
    assert "#" not in replay["headers"]["Location"], "nothing is handed on to finish"
    assert sandbox.grant_count("authorization_code") == 1
    assert connection_items() == before
    page = invoke(oauth, "GET", "/asana/settings", anonymous=True, query={"outcome": "already_used"})
    shown = bootstrap_of(page)["outcome"]
    assert (shown["kind"], shown["message"]) == (
        "info",
        "This authorization link was already used, so nothing changed.",
    )


def test_finishing_twice_is_told_it_was_used_and_exchanges_once(oauth, sandbox):
    flow = connect_flow(oauth, sandbox, purpose="organization")

    status, again = finish(oauth, flow.redirect, flow.key)

    assert (status, again["error"]["code"]) == (409, "already_used")
    assert sandbox.grant_count("authorization_code") == 1


def test_a_forged_state_is_rejected_and_nothing_is_stored(oauth, sandbox):
    _, body = api(oauth, "POST", "/asana/api/connect", body={"purpose": "organization"})
    path, query = consent(sandbox, body["connect_url"])

    forged = callback(oauth, path, {**query, "state": "forged-" + query["state"][7:]})

    assert outcome_of(forged) == {"outcome": ["invalid_state"]}
    assert "#" not in forged["headers"]["Location"]
    assert sandbox.grant_count("authorization_code") == 0
    assert connection_items() == []


def test_an_expired_state_is_rejected_and_nothing_is_stored(oauth, sandbox):
    _, body = api(oauth, "POST", "/asana/api/connect", body={"purpose": "organization"})
    path, query = consent(sandbox, body["connect_url"])
    # The TTL passed but DynamoDB has not deleted the item yet (its TTL deletion is lazy).
    table = boto3.resource("dynamodb").Table(get_config().table_name)
    (state_item,) = [i for i in table.scan()["Items"] if i["sk"] == "OAUTH_STATE"]
    table.update_item(
        Key={"pk": state_item["pk"], "sk": "OAUTH_STATE"},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": int(state_item["created_at"]) - 1},
    )

    response = callback(oauth, path, query)

    assert outcome_of(response)["outcome"] == ["state_expired"]
    assert sandbox.grant_count("authorization_code") == 0
    assert connection_items() == []


def test_a_callback_on_another_url_than_the_state_was_issued_for_is_rejected(oauth, sandbox):
    _, body = api(oauth, "POST", "/asana/api/connect", body={"purpose": "organization"})
    _, query = consent(sandbox, body["connect_url"])

    # Issued for /asana/settings; arriving on the trailing-slash variant is not the redirect URI Asana was given.
    response = callback(oauth, "/asana/settings/", query)

    assert outcome_of(response)["outcome"] == ["redirect_uri_mismatch"]
    assert connection_items() == []


def test_an_unregistered_redirect_uri_gives_the_seeds_message_with_the_tenants_exact_uris(oauth, sandbox):
    save_credentials("org-t")

    status, body = api(
        oauth,
        "POST",
        "/asana/api/connect",
        org="org-t",
        body={"purpose": "organization"},
        host="acme.expand.securedb.io",
    )

    assert status == 409
    assert body["error"]["code"] == "redirect_uri_mismatch"
    assert body["error"]["message"] == SEED_REDIRECT_URI_MISMATCH
    assert "https://acme.expand.securedb.io/asana/settings " in body["error"]["fix"]
    assert "https://acme.expand.securedb.io/asana/settings/" in body["error"]["fix"]
    assert [i for i in table_items() if i["sk"]["S"] == "OAUTH_STATE"] == [], "nothing stored"


def test_an_app_without_scopes_gives_the_seeds_message_at_connect_and_on_the_redirect(oauth, sandbox, services):
    save_credentials("org-a", demo.NO_SCOPES_APP_CLIENT_ID, demo.NO_SCOPES_APP_CLIENT_SECRET)

    status, body = api(oauth, "POST", "/asana/api/connect", body={"purpose": "organization"})
    assert status == 409
    assert body["error"]["message"] == SEED_NO_SCOPES

    # Had the browser gone to Asana anyway, its error redirect shows the same message and stores nothing.
    connect_url = services.connections.start_connect(ADMIN, Purpose.ORGANIZATION, URLS)
    # The consent form's submission (a POST keeps the state out of the HTTP library's debug log of the URL).
    params = {k: v[0] for k, v in parse_qs(urlsplit(connect_url).query).items()}
    answer = requests.post(f"{sandbox.oauth_base_url}/oauth_authorize", data=params, allow_redirects=False, timeout=5)
    location = urlsplit(answer.headers["Location"])
    response = callback(oauth, location.path, {k: v[0] for k, v in parse_qs(location.query).items()})
    assert outcome_of(response)["outcome"] == ["no_scopes"]
    page = invoke(oauth, "GET", "/asana/settings", anonymous=True, query={"outcome": "no_scopes"})
    assert bootstrap_of(page)["outcome"]["message"] == SEED_NO_SCOPES
    assert connection_items() == []


def test_asana_failing_the_code_exchange_says_so_without_blaming_the_proxy_and_stores_nothing(oauth, sandbox):
    from asana_integration.connections.outcomes import outcome_for_code

    _, body = api(oauth, "POST", "/asana/api/connect", body={"purpose": "organization"})
    path, query = consent(sandbox, body["connect_url"])
    redirect = callback(oauth, path, query)
    sandbox.inject_errors(count=1, status=503, path_prefix="/-/oauth_token")

    status, failed = finish(oauth, redirect, body["completion_key"])

    assert (status, failed["error"]["code"]) == (503, "asana_unavailable")
    message, fix = outcome_for_code("asana_unavailable", URLS)
    assert (failed["error"]["message"], failed["error"]["fix"]) == (message, fix)
    assert "nothing was connected" in message
    assert "ASANA_PROXY" not in fix
    assert connection_items() == []


def test_connect_without_saved_credentials_is_409_with_a_fix(oauth):
    status, body = api(oauth, "POST", "/asana/api/connect", org="org-new", body={"purpose": "organization"})

    assert status == 409
    assert body["error"]["code"] == "not_configured"  # the same code the settings API uses for this situation
    assert "Client ID" in body["error"]["fix"]


def test_an_aws_failure_during_the_callback_still_redirects_with_an_explained_outcome(
    oauth, sandbox, services, monkeypatch
):
    _, body = api(oauth, "POST", "/asana/api/connect", body={"purpose": "organization"})
    path, query = consent(sandbox, body["connect_url"])

    def dynamodb_is_down(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("simulated DynamoDB outage")

    monkeypatch.setattr(services.connections._states, "peek", dynamodb_is_down)
    response = callback(oauth, path, query)

    assert outcome_of(response) == {"outcome": ["internal_error"]}
    assert query["code"] not in response["headers"]["Location"]
    assert connection_items() == []


@pytest.mark.parametrize(
    ("body", "query"),
    [({"purpose": "admin"}, None), ({"purpose": "personal", "org_id": "org-b"}, None), ("{not json", None)],
)
def test_bad_connect_input_is_a_4xx_json_error_and_stores_nothing(oauth, body, query):
    status, answer = api(oauth, "POST", "/asana/api/connect", body=body)

    assert 400 <= status < 500
    assert set(answer["error"]) >= {"code", "message", "fix"}
    assert [item for item in table_items() if item["sk"]["S"] == "OAUTH_STATE"] == []


def test_a_bad_purpose_on_the_connection_routes_is_422(oauth):
    assert api(oauth, "GET", "/asana/api/connection", query={"purpose": "everyone"})[0] == 422
    assert api(oauth, "DELETE", "/asana/api/connection", query={"purpose": "everyone"})[0] == 422


# --- who may see and change what ------------------------------------------------------------------------------------


def test_a_member_cannot_touch_the_organization_connection(oauth, sandbox):
    connect_flow(oauth, sandbox, purpose="organization")
    before = connection_items()

    for method, path, kwargs in [
        ("POST", "/asana/api/connect", {"body": {"purpose": "organization"}}),
        ("GET", "/asana/api/connection", {"query": {"purpose": "organization"}}),
        ("DELETE", "/asana/api/connection", {"query": {"purpose": "organization"}}),
    ]:
        status, body = api(oauth, method, path, user="member-a", admin=False, **kwargs)
        assert status == 403, (method, path)
        assert body["error"]["code"] == "admin_required"

    assert connection_items() == before
    assert sandbox.revocations() == []


def test_another_organization_cannot_see_or_remove_the_first_ones_connection(oauth, sandbox):
    connect_flow(oauth, sandbox, purpose="organization")
    save_credentials("org-b")

    status, body = api(
        oauth, "GET", "/asana/api/connection", org="org-b", user="admin-b", query={"purpose": "organization"}
    )
    assert (status, body["status"]) == (200, "not_connected")
    assert (
        api(oauth, "DELETE", "/asana/api/connection", org="org-b", user="admin-b", query={"purpose": "organization"})[0]
        == 404
    )

    assert api(oauth, "GET", "/asana/api/connection", query={"purpose": "organization"})[1]["status"] == "connected"
    assert sandbox.revocations() == []


# --- status, reconnect and disconnect -------------------------------------------------------------------------------


def test_a_revoked_refresh_token_shows_needs_reconnect_with_the_seeds_message_and_a_connect_url(
    oauth, sandbox, services
):
    connect_flow(oauth, sandbox, purpose="personal", user="member-a", admin=False)
    sandbox.revoke_refresh_tokens()
    sandbox.expire_access_tokens()
    service = services.connections
    credentials = CredentialStore(get_config()).get("org-a")
    found = service.token_source(ConnectionKey.personal(MEMBER.org_id, MEMBER.user_id), credentials)
    assert found is not None
    source, _ = found
    from asana_integration.asana.client import AsanaClient

    with pytest.raises(AsanaAuthenticationFailed) as failed:
        AsanaClient(source, get_config()).me()
    assert failed.value.message == SEED_AUTH_FAILED

    status, body = api(oauth, "GET", "/asana/api/connection", user="member-a", admin=False)

    assert status == 200
    assert body["status"] == "needs_reconnect"
    assert body["message"] == SEED_AUTH_FAILED
    assert parse_qs(urlsplit(body["connect_url"]).query)["redirect_uri"] == [SETTINGS_URL]
    assert sandbox.grant_count("refresh_token") == 1


def test_a_dead_organization_token_makes_quick_actions_and_verify_ask_for_a_reconnect_once(oauth, sandbox):
    flow = connect_flow(oauth, sandbox, purpose="organization")
    assert flow.completed_status == 200
    sandbox.revoke_refresh_tokens()
    sandbox.expire_access_tokens()
    settings = function_module("settings")

    status, body = api(settings, "GET", "/asana/api/workspaces")

    assert status == 409
    assert body["error"]["code"] == "asana_authentication_failed"
    assert body["error"]["message"] == SEED_AUTH_FAILED
    assert parse_qs(urlsplit(body["error"]["connect_url"]).query)["redirect_uri"] == [SETTINGS_URL]

    status, verified = api(settings, "POST", "/asana/api/settings/verify")

    assert status == 200
    assert (verified["connection"]["state"], verified["connection"]["mode"]) == ("error", "oauth")
    assert verified["connection"]["message"] == SEED_AUTH_FAILED
    assert verified["connection"]["connect_url"]

    status, read = api(settings, "GET", "/asana/api/settings")

    assert status == 200
    assert read["connection"]["message"] == SEED_AUTH_FAILED
    read_url = read["connection"]["connect_url"]
    assert parse_qs(urlsplit(read_url).query)["redirect_uri"] == [SETTINGS_URL], "reading the status offers the link"
    assert read_url != verified["connection"]["connect_url"], "each read mints a fresh single-use link"
    assert sandbox.grant_count("refresh_token") == 1, "a dead refresh token is tried once, never in a loop"


def test_disconnect_revokes_at_asana_then_deletes_the_tokens(oauth, sandbox):
    connect_flow(oauth, sandbox, purpose="personal", user="member-a", admin=False)

    status, body = api(oauth, "DELETE", "/asana/api/connection", user="member-a", admin=False)

    assert (status, body) == (200, {"disconnected": True, "revoked": True, "revocation": "revoked"})
    assert [(r.client_id, r.via) for r in sandbox.revocations()] == [(demo.DEMO_APP_CLIENT_ID, "oauth_revoke")]
    assert sandbox.state.store.live_refresh_tokens(client_id=demo.DEMO_APP_CLIENT_ID) == []
    assert connection_items() == []
    assert api(oauth, "DELETE", "/asana/api/connection", user="member-a", admin=False)[0] == 404


def test_disconnect_still_deletes_when_asana_cannot_be_reached(oauth, sandbox):
    connect_flow(oauth, sandbox, purpose="organization")
    sandbox.inject_errors(count=1, status=503, path_prefix="/-/oauth_revoke")

    status, body = api(oauth, "DELETE", "/asana/api/connection", query={"purpose": "organization"})

    assert status == 200
    assert (body["revoked"], body["revocation"]) == (False, "unavailable")
    assert body["message"].startswith("Asana had a problem on its side")
    assert "My Settings" in body["fix"]
    assert connection_items() == []


def test_a_disconnect_refused_for_a_wrong_secret_says_asana_answered_not_that_it_was_unreachable(oauth, sandbox):
    connect_flow(oauth, sandbox, purpose="personal", user="member-a", admin=False)
    sandbox.state.store.apps[demo.DEMO_APP_CLIENT_ID].client_secret = "rotated-in-asana"

    status, body = api(oauth, "DELETE", "/asana/api/connection", user="member-a", admin=False)

    assert status == 200
    assert (body["revoked"], body["revocation"]) == (False, "client_rejected")
    assert "Client ID and Client Secret" in body["message"]
    assert "could not reach" not in body["message"].lower()
    assert connection_items() == []


def test_disconnecting_the_organization_revokes_every_connection_of_it_only(oauth, sandbox, services):
    connect_flow(oauth, sandbox, purpose="organization")
    connect_flow(oauth, sandbox, purpose="personal", user="member-a", admin=False, user_gid=demo.ORG_MEMBER_USER_GID)
    save_credentials("org-b")
    _, org_b = api(oauth, "POST", "/asana/api/connect", org="org-b", user="admin-b", body={})
    path, query = consent(sandbox, org_b["connect_url"])
    finish(oauth, callback(oauth, path, query), org_b["completion_key"], org="org-b", user="admin-b")

    removed = services.connections.disconnect_organization("org-a", CredentialStore(get_config()).get("org-a"))

    assert removed == 2
    assert len(sandbox.revocations()) == 2
    assert [i["pk"]["S"] for i in connection_items()] == ["ORG#org-b"]


def test_reconnecting_replaces_the_connection_and_revokes_the_previous_grant(oauth, sandbox):
    connect_flow(oauth, sandbox, purpose="organization")
    connect_flow(oauth, sandbox, purpose="organization")

    assert len(connection_items()) == 1
    assert len(sandbox.revocations()) == 1
    assert len(sandbox.state.store.live_refresh_tokens(client_id=demo.DEMO_APP_CLIENT_ID)) == 1


# --- tokens at rest -------------------------------------------------------------------------------------------------


def test_a_token_item_read_without_kms_reveals_no_token(oauth, sandbox):
    connect_flow(oauth, sandbox, purpose="organization")
    connect_flow(oauth, sandbox, purpose="personal", user="member-a", admin=False, user_gid=demo.ORG_MEMBER_USER_GID)
    store = sandbox.state.store
    secrets = [*store.access_tokens, *store.refresh_tokens]
    assert len(secrets) >= 4

    dump = json.dumps(table_items(), default=str)
    raw = boto3.client("dynamodb").scan(TableName=get_config().table_name)["Items"]
    binary = b"".join(v["B"] for item in raw for v in item.values() if "B" in v)

    for token in secrets:
        assert token not in dump
        assert token.encode() not in binary
    assert {"access_token", "refresh_token"} <= set(connection_items()[0])


def test_a_token_ciphertext_moved_to_another_organization_does_not_decrypt(oauth, sandbox):
    connect_flow(oauth, sandbox, purpose="organization")
    (item,) = connection_items()
    kms = boto3.client("kms")

    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(
            CiphertextBlob=item["access_token"]["B"],
            EncryptionContext={"org_id": "org-b", "user_id": "*organization*", "field": "access_token"},
        )


# --- the admin page -------------------------------------------------------------------------------------------------


def bootstrap_of(response: dict[str, Any]) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="bootstrap" nonce="[^"]+">(.*?)</script>', response["body"])
    assert match, "bootstrap JSON not found"
    return json.loads(match.group(1))


@pytest.mark.parametrize("path", ["/asana/settings", "/asana/settings/"])
def test_the_page_is_served_with_a_strict_per_response_csp(oauth, path):
    first = invoke(oauth, "GET", path, anonymous=True)
    second = invoke(oauth, "GET", path, anonymous=True)

    assert first["statusCode"] == 200
    headers = first["headers"]
    assert headers["Content-Type"].startswith("text/html")
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    csp = headers["Content-Security-Policy"]
    nonce = re.search(r"script-src 'nonce-([^']+)'", csp).group(1)
    assert f"style-src 'nonce-{nonce}'" in csp
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'self' https://expand.securedb.io https://*.expand.securedb.io" in csp
    # Each element that runs or styles carries it: the stylesheet, the bootstrap JSON, the panels' and the page's code.
    assert first["body"].count(f'nonce="{nonce}"') == 4
    assert first["body"].count("<script") + first["body"].count("<style") == 4
    assert "{{" not in first["body"]
    assert nonce not in second["headers"]["Content-Security-Policy"]
    assert bootstrap_of(first)["outcome"] is None


def test_the_page_shows_an_outcome_from_its_code_with_the_tenants_uris(oauth):
    page = invoke(
        oauth,
        "GET",
        "/asana/settings",
        anonymous=True,
        query={"outcome": "redirect_uri_mismatch", "purpose": "organization"},
        host="acme.expand.securedb.io",
    )

    outcome = bootstrap_of(page)["outcome"]
    assert outcome["code"] == "redirect_uri_mismatch"
    assert outcome["message"] == SEED_REDIRECT_URI_MISMATCH
    assert "https://acme.expand.securedb.io/asana/settings/" in outcome["fix"]
    assert outcome["purpose"] == "organization"


def test_the_page_never_echoes_unknown_outcomes(oauth):
    page = invoke(
        oauth, "GET", "/asana/settings", anonymous=True, query={"outcome": "</script><script>alert(1)", "purpose": "x"}
    )

    assert bootstrap_of(page)["outcome"] is None
    assert "alert(1)" not in page["body"]
