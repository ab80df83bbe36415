"""OAuth as Asana does it: consent, PKCE code exchange, refresh (with and without rotation), revoke and every error."""

from __future__ import annotations

import re

import pytest
import requests

from local.asana_sandbox import AsanaSandbox, demo
from local.asana_sandbox.oauth import (
    DEFAULT_IDENTITY_FORBIDDEN,
    INVALID_CLIENT,
    INVALID_CODE,
    NO_SCOPES_REGISTERED,
    REDIRECT_URI_MISMATCH,
)

from .helpers import Grant, authorize_params, connect, exchange, obtain_code, pkce_pair, query_of, refresh


def authorize(sandbox: AsanaSandbox, params: dict[str, str]) -> requests.Response:
    return requests.get(f"{sandbox.oauth_base_url}/oauth_authorize", params=params, allow_redirects=False, timeout=5)


def revoke(sandbox: AsanaSandbox, token: str, secret: str = demo.DEMO_APP_CLIENT_SECRET) -> requests.Response:
    return requests.post(
        f"{sandbox.oauth_base_url}/oauth_revoke",
        data={"client_id": demo.DEMO_APP_CLIENT_ID, "client_secret": secret, "token": token},
        timeout=5,
    )


def me(sandbox: AsanaSandbox, token: object) -> requests.Response:
    return requests.get(f"{sandbox.api_base_url}/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)


# --- Authorize ----------------------------------------------------------------------------------------------------


def test_consent_page_is_accessible_html_with_app_scopes_and_user_choice(sandbox):
    _, challenge = pkce_pair()
    page = authorize(sandbox, authorize_params(challenge=challenge))

    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    html = page.text
    assert demo.DEMO_APP_NAME in html
    assert '<html lang="en">' in html
    assert '<label for="user_gid">' in html
    assert f'<option value="{demo.DEMO_ADMIN_USER_GID}" selected>' in html
    assert 'name="decision" value="approve"' in html
    assert 'name="decision" value="deny"' in html
    assert "<li>default</li>" in html


def test_happy_path_with_pkce_returns_asanas_token_response(sandbox):
    grant = obtain_code(sandbox)
    response = exchange(sandbox, grant)

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["access_token", "expires_in", "token_type", "data", "refresh_token"]
    assert body["expires_in"] == 3600
    assert body["token_type"] == "bearer"
    assert body["data"] == {
        "id": int(demo.DEMO_ADMIN_USER_GID),
        "gid": demo.DEMO_ADMIN_USER_GID,
        "name": demo.DEMO_ADMIN_NAME,
        "email": demo.DEMO_ADMIN_EMAIL,
    }
    assert me(sandbox, body["access_token"]).json()["data"]["gid"] == demo.DEMO_ADMIN_USER_GID
    assert sandbox.grant_count("authorization_code") == 1


def selected_option(html: str) -> str:
    match = re.search(r'<option value="(\d+)" selected>', html)
    assert match, "one user must be pre-selected"
    return match.group(1)


@pytest.mark.parametrize(
    ("login_hint", "expected", "reason"),
    [
        (None, demo.DEMO_ADMIN_USER_GID, "the authorize request sent no login_hint, so the first workspace admin"),
        ("BLAKE.CHEN@acme-security.example", demo.ORG_MEMBER_USER_GID, "login_hint names this user"),
        (demo.USER_GIDS[3], demo.USER_GIDS[3], "login_hint names this user"),
        (
            "nobody@example.com",
            demo.DEMO_ADMIN_USER_GID,
            "no user matches the login_hint, so the first workspace admin",
        ),
    ],
)
def test_the_consent_page_pre_selects_the_hinted_user_or_the_first_admin_and_says_why(
    sandbox, login_hint, expected, reason
):
    params = authorize_params()
    if login_hint is not None:
        params["login_hint"] = login_hint

    html = authorize(sandbox, params).text

    assert selected_option(html) == expected
    assert reason in html
    assert f"Approving as <strong>{sandbox.state.store.users[expected].name}</strong>" in html


@pytest.mark.parametrize(
    ("signed_in", "login_hint", "expected", "reason"),
    [
        ("blake.chen@acme-security.example", None, demo.ORG_MEMBER_USER_GID, "this browser is signed in"),
        (demo.USER_GIDS[3], None, demo.USER_GIDS[3], "this browser is signed in"),
        ("nobody@example.com", None, demo.DEMO_ADMIN_USER_GID, "no sandbox user matches this browser"),
        ("blake.chen@acme-security.example", demo.USER_GIDS[3], demo.USER_GIDS[3], "login_hint names this user"),
    ],
)
def test_the_consent_page_pre_selects_the_user_this_browser_is_signed_in_as(
    sandbox, signed_in, login_hint, expected, reason
):
    params = authorize_params()
    if login_hint is not None:
        params["login_hint"] = login_hint

    answer = requests.get(
        f"{sandbox.oauth_base_url}/oauth_authorize",
        params=params,
        cookies={"asana_sandbox_user": signed_in},
        allow_redirects=False,
        timeout=5,
    )

    assert selected_option(answer.text) == expected
    assert reason in answer.text


def test_approving_without_a_choice_approves_as_the_pre_selected_user(sandbox):
    params = {**authorize_params(), "login_hint": "blake.chen@acme-security.example"}
    hidden = re.findall(r'<input type="hidden" name="(\w+)"', authorize(sandbox, params).text)

    answer = requests.post(
        f"{sandbox.oauth_base_url}/oauth_authorize",
        data={**params, "decision": "approve"},
        allow_redirects=False,
        timeout=5,
    )
    body = exchange(sandbox, Grant(query_of(answer.headers["Location"])["code"], "")).json()

    assert "login_hint" in hidden  # the page posts the hint back, so the default is the same on both requests
    assert body["data"]["gid"] == demo.ORG_MEMBER_USER_GID


def test_a_user_deactivated_everywhere_cannot_approve(sandbox):
    gone = demo.USER_GIDS[4]
    sandbox.changes.deactivate_user(None, gone, demo.ORG_WORKSPACE_GID)
    params = authorize_params()

    page = authorize(sandbox, params).text
    answer = requests.post(
        f"{sandbox.oauth_base_url}/oauth_authorize",
        data={**params, "decision": "approve", "user_gid": gone},
        allow_redirects=False,
        timeout=5,
    )

    assert f'value="{gone}"' not in page
    assert answer.status_code == 400


def test_signed_in_user_can_be_chosen_on_the_consent_page(sandbox):
    body = connect(sandbox, user_gid=demo.ORG_MEMBER_USER_GID)

    assert body["data"]["gid"] == demo.ORG_MEMBER_USER_GID  # type: ignore[index]


@pytest.mark.parametrize("redirect_uri", demo.DEMO_REDIRECT_URIS)
def test_every_registered_redirect_uri_works(sandbox, redirect_uri):
    grant = obtain_code(sandbox, redirect_uri=redirect_uri)

    assert exchange(sandbox, grant, redirect_uri=redirect_uri).status_code == 200


def test_deny_redirects_with_access_denied(sandbox):
    params = authorize_params()
    answer = requests.post(
        f"{sandbox.oauth_base_url}/oauth_authorize",
        data={**params, "decision": "deny"},
        allow_redirects=False,
        timeout=5,
    )

    assert answer.status_code == 302
    query = query_of(answer.headers["Location"])
    assert query["error"] == "access_denied"
    assert query["state"] == params["state"]
    assert answer.headers["Location"].startswith(demo.DEMO_REDIRECT_URI + "?")


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://127.0.0.1:3000/asana/settings",  # scheme
        "http://127.0.0.1:3001/asana/settings",  # port
        "http://127.0.0.2:3000/asana/settings",  # host
        "http://127.0.0.1:3000/asana/settings//",  # trailing slash
        "http://127.0.0.1:3000/asana/Settings",  # path case
        "",
    ],
)
def test_unregistered_redirect_uri_is_a_plain_text_400_without_redirect(sandbox, redirect_uri):
    response = authorize(sandbox, authorize_params(redirect_uri=redirect_uri))

    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text == f"invalid_request: {REDIRECT_URI_MISMATCH}"
    assert "Location" not in response.headers


def test_unknown_client_id_is_a_plain_text_400(sandbox):
    response = authorize(sandbox, authorize_params(client_id="999"))

    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text.startswith("invalid_request: The `client_id` parameter")


def test_app_without_scopes_redirects_invalid_scope(sandbox):
    response = authorize(sandbox, authorize_params(client_id=demo.NO_SCOPES_APP_CLIENT_ID))

    assert response.status_code == 302
    query = query_of(response.headers["Location"])
    assert query == {"error": "invalid_scope", "error_description": NO_SCOPES_REGISTERED, "state": "csrf-state-123"}


@pytest.mark.parametrize(
    ("client_id", "scope", "description"),
    [
        (
            demo.DEMO_APP_CLIENT_ID,
            "attachments:read",
            "Your app is not allowed to request user authorization for 'attachments:read' scopes.",
        ),
        (demo.GRANULAR_APP_CLIENT_ID, None, DEFAULT_IDENTITY_FORBIDDEN),
        (demo.GRANULAR_APP_CLIENT_ID, "default", DEFAULT_IDENTITY_FORBIDDEN),
        (
            demo.GRANULAR_APP_CLIENT_ID,
            "projects:read attachments:read",
            "Your app is not allowed to request user authorization for 'attachments:read' scopes.",
        ),
    ],
)
def test_forbidden_scopes_redirect_back(sandbox, client_id, scope, description):
    response = authorize(sandbox, authorize_params(client_id=client_id, scope=scope))

    assert response.status_code == 302
    query = query_of(response.headers["Location"])
    assert query["error"] == "forbidden_scopes"
    assert query["error_description"] == description
    assert query["state"] == "csrf-state-123"


@pytest.mark.parametrize("scope", [None, "default", "default openid email"])
def test_full_permission_app_accepts_default_or_omitted_scope(sandbox, scope):
    assert authorize(sandbox, authorize_params(scope=scope)).status_code == 200


def test_granular_token_is_forbidden_outside_its_scopes(sandbox):
    grant = obtain_code(sandbox, client_id=demo.GRANULAR_APP_CLIENT_ID, scope="users:read openid")
    body = exchange(
        sandbox, grant, client_id=demo.GRANULAR_APP_CLIENT_ID, client_secret=demo.GRANULAR_APP_CLIENT_SECRET
    ).json()
    headers = {"Authorization": f"Bearer {body['access_token']}"}

    assert me(sandbox, body["access_token"]).status_code == 200
    forbidden = requests.get(f"{sandbox.api_base_url}/workspaces", headers=headers, timeout=5)
    assert forbidden.status_code == 403
    assert "workspaces:read" in forbidden.json()["errors"][0]["message"]


def test_missing_state_and_unsupported_response_type_redirect_with_errors(sandbox):
    no_state = authorize_params()
    del no_state["state"]
    id_token = authorize_params() | {"response_type": "id_token"}

    assert query_of(authorize(sandbox, no_state).headers["Location"])["error"] == "invalid_request"
    assert query_of(authorize(sandbox, id_token).headers["Location"])["error"] == "unsupported_response_type"


def test_registered_apps_and_redirect_uris_can_be_added(sandbox):
    app = sandbox.register_app("Tenant app", ["https://acme.expand.securedb.example/asana/settings"])
    sandbox.add_redirect_uri(app.client_id, "http://127.0.0.1:9999/cb")

    grant = obtain_code(sandbox, client_id=app.client_id, redirect_uri="http://127.0.0.1:9999/cb")
    response = exchange(
        sandbox,
        grant,
        client_id=app.client_id,
        client_secret=app.client_secret,
        redirect_uri="http://127.0.0.1:9999/cb",
    )

    assert response.status_code == 200


# --- Token endpoint errors ----------------------------------------------------------------------------------------


def test_wrong_client_secret_is_401_invalid_client(sandbox):
    response = exchange(sandbox, obtain_code(sandbox), client_secret="wrong")

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def token_request(sandbox: AsanaSandbox, **form: str) -> requests.Response:
    return requests.post(f"{sandbox.oauth_base_url}/oauth_token", data=form, timeout=5)


DUMMY = {"grant_type": "authorization_code", "code": "dummy-code", "redirect_uri": demo.DEMO_REDIRECT_URI}


@pytest.mark.parametrize(
    "client",
    [
        {"client_id": demo.DEMO_APP_CLIENT_ID, "client_secret": "not-the-secret"},
        {"client_id": "1209999999999999", "client_secret": demo.DEMO_APP_CLIENT_SECRET},
        {"client_id": demo.GRANULAR_APP_CLIENT_ID, "client_secret": demo.DEMO_APP_CLIENT_SECRET},
        {"client_id": demo.DEMO_APP_CLIENT_ID},
        {},
    ],
)
def test_a_dummy_code_with_bad_client_credentials_is_401_invalid_client(sandbox, client):
    response = token_request(sandbox, **DUMMY, **client)

    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client", "error_description": INVALID_CLIENT}


@pytest.mark.parametrize(
    ("client_id", "client_secret"),
    [
        (demo.DEMO_APP_CLIENT_ID, demo.DEMO_APP_CLIENT_SECRET),
        (demo.GRANULAR_APP_CLIENT_ID, demo.GRANULAR_APP_CLIENT_SECRET),
    ],
)
def test_a_dummy_code_with_good_client_credentials_is_400_invalid_grant(sandbox, client_id, client_secret):
    response = token_request(sandbox, **DUMMY, client_id=client_id, client_secret=client_secret)

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": INVALID_CODE}
    assert sandbox.state.store.refresh_tokens == {}


def test_checking_credentials_with_a_dummy_code_does_not_spend_a_real_code(sandbox):
    grant = obtain_code(sandbox)
    token_request(sandbox, **DUMMY, client_id=demo.DEMO_APP_CLIENT_ID, client_secret=demo.DEMO_APP_CLIENT_SECRET)

    assert exchange(sandbox, grant).status_code == 200


def test_a_missing_code_with_good_credentials_is_invalid_request(sandbox):
    form = {k: v for k, v in DUMMY.items() if k != "code"}

    response = token_request(
        sandbox, **form, client_id=demo.DEMO_APP_CLIENT_ID, client_secret=demo.DEMO_APP_CLIENT_SECRET
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_code_is_single_use(sandbox):
    grant = obtain_code(sandbox)
    assert exchange(sandbox, grant).status_code == 200

    replay = exchange(sandbox, grant)

    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"


def test_code_expires(sandbox):
    grant = obtain_code(sandbox)
    sandbox.advance_clock(601)

    response = exchange(sandbox, grant)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_unknown_code_is_invalid_grant(sandbox):
    response = exchange(sandbox, Grant("made-up", "verifier"))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_redirect_uri_must_equal_the_authorize_requests(sandbox):
    grant = obtain_code(sandbox, redirect_uri=demo.DEMO_REDIRECT_URIS[0])

    response = exchange(sandbox, grant, redirect_uri=demo.DEMO_REDIRECT_URIS[1])

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": REDIRECT_URI_MISMATCH}


@pytest.mark.parametrize("verifier", ["", "wrong-verifier-wrong-verifier-wrong-verifier-123"])
def test_pkce_verifier_must_match(sandbox, verifier):
    grant = obtain_code(sandbox)

    response = exchange(sandbox, Grant(grant.code, verifier))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_code_for_another_app_is_invalid_grant(sandbox):
    grant = obtain_code(sandbox)

    response = exchange(
        sandbox, grant, client_id=demo.GRANULAR_APP_CLIENT_ID, client_secret=demo.GRANULAR_APP_CLIENT_SECRET
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert exchange(sandbox, grant).status_code == 200  # the failed attempt did not burn the app's own code


def test_unsupported_grant_type(sandbox):
    response = requests.post(
        f"{sandbox.oauth_base_url}/oauth_token",
        data={
            "grant_type": "client_credentials",
            "client_id": demo.DEMO_APP_CLIENT_ID,
            "client_secret": demo.DEMO_APP_CLIENT_SECRET,
        },
        timeout=5,
    )

    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


# --- Refresh ------------------------------------------------------------------------------------------------------


def test_refresh_returns_a_new_access_token_without_refresh_token_by_default(sandbox):
    tokens = connect(sandbox)

    response = refresh(sandbox, str(tokens["refresh_token"]))

    assert response.status_code == 200
    body = response.json()
    assert "refresh_token" not in body
    assert body["access_token"] != tokens["access_token"]
    assert body["expires_in"] == 3600
    assert me(sandbox, body["access_token"]).status_code == 200
    # The same refresh token keeps working (Asana: "for as long as the user has authorized the application").
    assert refresh(sandbox, str(tokens["refresh_token"])).status_code == 200
    assert sandbox.grant_count("refresh_token") == 2


def test_refresh_with_rotation_returns_and_retires(sandbox):
    sandbox.set_refresh_token_rotation(True)
    tokens = connect(sandbox)

    body = refresh(sandbox, str(tokens["refresh_token"])).json()

    assert body["refresh_token"] != tokens["refresh_token"]
    assert refresh(sandbox, str(tokens["refresh_token"])).json()["error"] == "invalid_grant"
    assert refresh(sandbox, body["refresh_token"]).status_code == 200


def test_access_token_ttl_switch_applies_to_refreshed_tokens(sandbox):
    tokens = connect(sandbox)
    sandbox.set_access_token_ttl(1)

    body = refresh(sandbox, str(tokens["refresh_token"])).json()

    assert body["expires_in"] == 1
    sandbox.advance_clock(2)
    assert me(sandbox, body["access_token"]).status_code == 401


def test_fail_refreshes_for_all_or_one_token(sandbox):
    first, second = connect(sandbox), connect(sandbox)
    sandbox.fail_refreshes(refresh_token=str(first["refresh_token"]))

    assert refresh(sandbox, str(first["refresh_token"])).json()["error"] == "invalid_grant"
    assert refresh(sandbox, str(second["refresh_token"])).status_code == 200
    sandbox.fail_refreshes(True)
    assert refresh(sandbox, str(second["refresh_token"])).status_code == 400
    sandbox.fail_refreshes(False)
    assert refresh(sandbox, str(second["refresh_token"])).status_code == 200


def test_refresh_counts_include_faulted_requests(sandbox):
    tokens = connect(sandbox)
    sandbox.inject_errors(count=1, path_prefix="/-/oauth_token")

    assert refresh(sandbox, str(tokens["refresh_token"])).status_code == 500
    assert sandbox.grant_count("refresh_token") == 1
    summary = requests.get(f"{sandbox.base_url}/_sandbox/requests", timeout=5).json()
    assert summary["by_grant_type"] == {"authorization_code": 1, "refresh_token": 1}


def test_refresh_with_wrong_client_is_invalid_client(sandbox):
    tokens = connect(sandbox)

    response = refresh(sandbox, str(tokens["refresh_token"]), client_secret="nope")

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


# --- Revoke -------------------------------------------------------------------------------------------------------


def test_revoke_kills_the_refresh_token_and_its_access_tokens(sandbox):
    tokens = connect(sandbox)

    response = revoke(sandbox, str(tokens["refresh_token"]))

    assert response.status_code == 200
    assert me(sandbox, tokens["access_token"]).status_code == 401
    assert refresh(sandbox, str(tokens["refresh_token"])).json()["error"] == "invalid_grant"
    [revocation] = sandbox.revocations()
    assert (revocation.client_id, revocation.user_gid, revocation.via) == (
        demo.DEMO_APP_CLIENT_ID,
        demo.DEMO_ADMIN_USER_GID,
        "oauth_revoke",
    )


def test_revoke_unknown_or_already_revoked_is_200(sandbox):
    tokens = connect(sandbox)
    assert revoke(sandbox, "unknown-token").status_code == 200
    assert revoke(sandbox, str(tokens["refresh_token"])).status_code == 200

    assert revoke(sandbox, str(tokens["refresh_token"])).status_code == 200
    assert len(sandbox.revocations()) == 1


def test_revoking_an_access_token_is_400(sandbox):
    tokens = connect(sandbox)

    response = revoke(sandbox, str(tokens["access_token"]))

    assert response.status_code == 400
    assert me(sandbox, tokens["access_token"]).status_code == 200


def test_revoke_with_wrong_secret_is_401(sandbox):
    tokens = connect(sandbox)

    assert revoke(sandbox, str(tokens["refresh_token"]), secret="nope").status_code == 401


def test_switch_revocation_over_http_and_expire_access_tokens(sandbox):
    tokens = connect(sandbox)
    expired = requests.post(f"{sandbox.base_url}/_sandbox/oauth/expire_access_tokens", json={}, timeout=5).json()
    assert expired["expired"] == 1
    assert me(sandbox, tokens["access_token"]).status_code == 401

    result = requests.post(
        f"{sandbox.base_url}/_sandbox/oauth/revoke", json={"user_gid": demo.DEMO_ADMIN_USER_GID}, timeout=5
    ).json()

    assert result["revoked"] == 1
    assert refresh(sandbox, str(tokens["refresh_token"])).status_code == 400
    assert sandbox.revocations()[0].via == "switch"


def test_apps_and_redirect_uris_can_be_registered_over_http(sandbox):
    created = requests.post(
        f"{sandbox.base_url}/_sandbox/apps",
        json={"name": "Granular via HTTP", "redirect_uris": ["http://127.0.0.1:4000/cb"], "scopes": ["users:read"]},
        timeout=5,
    ).json()
    added = requests.post(
        f"{sandbox.base_url}/_sandbox/apps/redirect_uri",
        json={"client_id": created["client_id"], "redirect_uri": "http://127.0.0.1:4000/cb/"},
        timeout=5,
    ).json()

    assert added["redirect_uris"] == ["http://127.0.0.1:4000/cb", "http://127.0.0.1:4000/cb/"]
    grant = obtain_code(
        sandbox, client_id=created["client_id"], redirect_uri="http://127.0.0.1:4000/cb/", scope="users:read"
    )
    response = exchange(
        sandbox,
        grant,
        client_id=created["client_id"],
        client_secret=created["client_secret"],
        redirect_uri="http://127.0.0.1:4000/cb/",
    )
    assert response.status_code == 200
    no_default = authorize(
        sandbox, authorize_params(client_id=created["client_id"], redirect_uri="http://127.0.0.1:4000/cb")
    )
    assert query_of(no_default.headers["Location"])["error"] == "forbidden_scopes"
    requests.post(f"{sandbox.base_url}/_sandbox/requests/clear", json={}, timeout=5)
    assert sandbox.request_count() == 0
