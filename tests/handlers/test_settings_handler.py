"""The settings function end to end: real events, moto from the template, the Asana sandbox over loopback."""

from __future__ import annotations

import json
import socket
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from asana_integration.config import get_config
from asana_integration.errors import SEED_AUTH_FAILED
from local.asana_sandbox import demo
from local.template import http_routes
from tests import log_audit

SETTINGS = "/asana/api/settings"
DEMO_CREDENTIALS = {"client_id": demo.DEMO_APP_CLIENT_ID, "client_secret": demo.DEMO_APP_CLIENT_SECRET}
log_audit.remember(demo.DEMO_PAT, demo.DEMO_APP_CLIENT_SECRET)


def stored_secret(org_id: str) -> dict:
    """The secret's credentials; the save's revision (checked to be there) left out."""
    value = boto3.client("secretsmanager").get_secret_value(SecretId=f"securedb-asana/{org_id}")
    stored = json.loads(value["SecretString"])
    assert isinstance(stored.pop("revision"), int)
    return stored


def secret_exists(org_id: str) -> bool:
    try:
        stored_secret(org_id)
    except boto3.client("secretsmanager").exceptions.ResourceNotFoundException:
        return False
    return True


def test_save_with_a_valid_pat_connects_as_its_asana_user(settings_api, sandbox):
    status, body = settings_api("PUT", SETTINGS, body={**DEMO_CREDENTIALS, "pat": demo.DEMO_PAT})

    assert status == 200
    connection = body["connection"]
    assert (connection["state"], connection["mode"]) == ("connected", "pat")
    assert connection["asana_user"]["gid"] == demo.DEMO_ADMIN_USER_GID
    assert connection["asana_user"]["name"] == demo.DEMO_ADMIN_NAME
    assert {w["gid"] for w in connection["workspaces"]} == {demo.ORG_WORKSPACE_GID, demo.PLAIN_WORKSPACE_GID}
    assert stored_secret("org-a") == {**DEMO_CREDENTIALS, "pat": demo.DEMO_PAT}


def test_status_shows_secrets_only_as_set_and_last_four(settings_api, sandbox):
    settings_api("PUT", SETTINGS, body={**DEMO_CREDENTIALS, "pat": demo.DEMO_PAT})
    calls_before = sandbox.request_count()

    status, body = settings_api("GET", SETTINGS)

    assert status == 200
    assert body["client_id"] == demo.DEMO_APP_CLIENT_ID
    assert (body["client_secret_set"], body["pat_set"], body["pat_last4"]) == (True, True, demo.DEMO_PAT[-4:])
    assert demo.DEMO_PAT not in json.dumps(body)
    assert demo.DEMO_APP_CLIENT_SECRET not in json.dumps(body)
    assert body["connection"]["state"] == "connected"
    assert sandbox.request_count() == calls_before, "reading the status must not call Asana"


def test_without_pat_or_token_requires_connection_with_a_connect_url_on_the_exact_redirect_uri(settings_api, sandbox):
    status, body = settings_api("PUT", SETTINGS, body=DEMO_CREDENTIALS)

    assert status == 200
    connection = body["connection"]
    assert connection["state"] == "requires_connection"
    assert connection["mode"] is None
    url = urlsplit(connection["connect_url"])
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{sandbox.oauth_base_url}/oauth_authorize"
    assert query["redirect_uri"] == ["https://expand.securedb.io/asana/settings"]
    assert query["client_id"] == [demo.DEMO_APP_CLIENT_ID]
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"][0]
    assert body["redirect_uris"] == [
        "https://expand.securedb.io/asana/settings",
        "https://expand.securedb.io/asana/settings/",
    ]
    assert body["webhook_url"] == "https://expand.securedb.io/asana/webhook"


def test_each_status_read_mints_a_fresh_single_use_connect_link(settings_api):
    settings_api("PUT", SETTINGS, body=DEMO_CREDENTIALS)

    first = settings_api("GET", SETTINGS)[1]["connection"]["connect_url"]
    second = settings_api("GET", SETTINGS)[1]["connection"]["connect_url"]

    assert parse_qs(urlsplit(first).query)["state"] != parse_qs(urlsplit(second).query)["state"]


@pytest.mark.parametrize(
    ("host", "expected_base"),
    [
        ("acme.expand.securedb.io", "https://acme.expand.securedb.io"),
        ("evil.example.com", "https://expand.securedb.io"),
        ("a.b.expand.securedb.io", "https://expand.securedb.io"),
    ],
)
def test_tenant_hosts_get_their_exact_urls_and_unlisted_hosts_fall_back(settings_api, host, expected_base):
    _, body = settings_api("PUT", SETTINGS, body=DEMO_CREDENTIALS, host=host)

    assert body["redirect_uris"] == [f"{expected_base}/asana/settings", f"{expected_base}/asana/settings/"]
    redirect_uri = parse_qs(urlsplit(body["connection"]["connect_url"]).query)["redirect_uri"]
    assert redirect_uri == [f"{expected_base}/asana/settings"]


def test_a_pat_asana_rejects_is_refused_at_save_with_its_cause_and_nothing_is_stored(settings_api):
    bad_pat = "2/1202000000000001/1208000000000999:00000000000000000000000000000000"
    log_audit.remember(bad_pat)

    status, body = settings_api("PUT", SETTINGS, body={**DEMO_CREDENTIALS, "pat": bad_pat})

    assert status == 422
    assert body["error"]["code"] == "pat_rejected"
    assert body["error"]["message"] == "Asana rejected this Personal Access Token, so the settings were not saved."
    assert body["error"]["details"] == [{"field": "pat", "message": "Asana rejected this token"}]
    assert bad_pat not in json.dumps(body)
    assert not secret_exists("org-a")


def test_a_saved_pat_asana_later_rejects_gives_the_seeds_authentication_message(settings_api, sandbox):
    settings_api("PUT", SETTINGS, body={**DEMO_CREDENTIALS, "pat": demo.DEMO_PAT})
    sandbox.revoke_pat(demo.DEMO_PAT)

    status, body = settings_api("POST", f"{SETTINGS}/verify")

    assert status == 200
    connection = body["connection"]
    assert (connection["state"], connection["mode"]) == ("error", "pat")
    assert connection["message"] == SEED_AUTH_FAILED == "Authentication failed. Your token may have expired."
    assert "Personal Access Token" in connection["fix"]
    assert connection["connect_url"], "nothing can act for the organization: Connect is offered"
    assert body["pat_rejected"] is True


def test_rate_limited_verification_waits_for_retry_after_then_succeeds(settings_api, sandbox):
    sandbox.force_rate_limit(count=1, retry_after=1)

    _, body = settings_api("PUT", SETTINGS, body={**DEMO_CREDENTIALS, "pat": demo.DEMO_PAT})

    assert body["connection"]["state"] == "connected"
    assert sandbox.request_count("GET", "/api/1.0/users/me") == 2, "one 429, then the retry"


def test_an_unreachable_proxy_gives_the_proxy_diagnostic(settings_api, monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("ASANA_PROXY", f"http://127.0.0.1:{closed_port}")
    get_config.cache_clear()

    status, body = settings_api("PUT", SETTINGS, body={**DEMO_CREDENTIALS, "pat": demo.DEMO_PAT})

    # The new PAT cannot be checked, so it does not replace anything: the proxy diagnostic says why.
    assert status == 502
    error = body["error"]
    assert error["code"] == "asana_proxy_error"
    assert "nothing was saved" in error["message"]
    assert "proxy" in error["message"]
    assert "ASANA_PROXY" in error["message"]
    assert "ASANA_PROXY" in error["fix"]
    assert not secret_exists("org-a")


# The API's documentation routes are public (tests/handlers/test_api_docs.py); every other one is for admins.
SETTINGS_ROUTES = [route for route in http_routes() if route.function == "SettingsFunction" and route.authorized]


@pytest.mark.parametrize("route", SETTINGS_ROUTES, ids=lambda route: route.route_key)
def test_a_member_is_refused_every_settings_route(settings_api, route):
    status, body = settings_api(
        route.method, route.path, admin=False, user="member-a", query={"workspace": demo.ORG_WORKSPACE_GID}
    )

    assert status == 403
    assert body["error"]["code"] == "admin_required"
    assert body["error"]["fix"]


def test_a_member_cannot_save_or_delete_settings(settings_api):
    settings_api("PUT", SETTINGS, body={**DEMO_CREDENTIALS, "pat": demo.DEMO_PAT})

    settings_api("PUT", SETTINGS, admin=False, user="member-a", body={**DEMO_CREDENTIALS, "pat": None})
    settings_api("DELETE", SETTINGS, admin=False, user="member-a")

    assert stored_secret("org-a")["pat"] == demo.DEMO_PAT


def test_a_second_organization_sees_and_changes_nothing_of_the_first(settings_api):
    settings_api("PUT", SETTINGS, body={**DEMO_CREDENTIALS, "pat": demo.DEMO_PAT})

    status, body = settings_api("GET", SETTINGS, org="org-b", user="admin-b")
    assert status == 200
    assert body["configured"] is False
    assert body["client_id"] is None
    assert body["connection"]["state"] == "not_configured"

    status, body = settings_api("GET", "/asana/api/workspaces", org="org-b", user="admin-b")
    assert status == 409
    assert body["error"]["code"] == "not_configured"

    settings_api("DELETE", SETTINGS, org="org-b", user="admin-b")
    assert stored_secret("org-a")["pat"] == demo.DEMO_PAT


def test_omitted_secrets_keep_their_values_and_a_null_pat_removes_it(settings_api):
    settings_api("PUT", SETTINGS, body={**DEMO_CREDENTIALS, "pat": demo.DEMO_PAT})

    _, body = settings_api("PUT", SETTINGS, body={"client_id": demo.DEMO_APP_CLIENT_ID})
    assert (body["client_secret_set"], body["pat_set"]) == (True, True)
    assert stored_secret("org-a") == {**DEMO_CREDENTIALS, "pat": demo.DEMO_PAT}

    _, body = settings_api("PUT", SETTINGS, body={"client_id": demo.DEMO_APP_CLIENT_ID, "pat": None})
    assert body["pat_set"] is False
    assert body["connection"]["state"] == "requires_connection"
    assert stored_secret("org-a") == {**DEMO_CREDENTIALS, "pat": None}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"client_id": "", "client_secret": "s3cr3t-value-0001"}, "client_id"),
        ({"client_id": "has space", "client_secret": "s3cr3t-value-0001"}, "client_id"),
        ({"client_secret": "s3cr3t-value-0001"}, "client_id"),
        ({"client_id": "123", "client_secret": ""}, "client_secret"),
        ({"client_id": "123", "client_secret": "s3cr3t-value-0001", "clientSecret": "x"}, "clientSecret"),
        ({"client_id": "123"}, "client_secret"),  # the first save needs the secret
    ],
)
def test_bad_input_is_422_with_the_field_and_changes_nothing(settings_api, payload, field):
    status, body = settings_api("PUT", SETTINGS, body=payload)

    assert status == 422
    assert body["error"]["code"] == "invalid_input"
    assert field in [detail["field"] for detail in body["error"]["details"]]
    assert body["error"]["fix"]
    assert "s3cr3t-value-0001" not in json.dumps(body), "validation errors must not echo submitted secrets"
    assert not secret_exists("org-a")


def test_malformed_json_is_rejected_without_changes(settings_api):
    status, body = settings_api("PUT", SETTINGS, body='{"client_id": ')

    assert status in (400, 422)
    assert body["error"]["code"] in ("invalid_input", "bad_request")
    assert not secret_exists("org-a")


def test_quick_actions_list_workspaces_and_pass_offsets_through_for_more_pages(settings_api):
    settings_api("PUT", SETTINGS, body={**DEMO_CREDENTIALS, "pat": demo.DEMO_PAT})

    status, workspaces = settings_api("GET", "/asana/api/workspaces")
    assert status == 200
    assert {w["name"] for w in workspaces["data"]} == {demo.ORG_WORKSPACE_NAME, demo.PLAIN_WORKSPACE_NAME}
    assert workspaces["mode"] == "pat"

    projects, offset, pages = [], None, 0
    while True:
        query = {"workspace": demo.ORG_WORKSPACE_GID, **({"offset": offset} if offset else {})}
        status, page = settings_api("GET", "/asana/api/projects", query=query)
        assert status == 200
        projects += page["data"]
        pages += 1
        offset = page["next_offset"]
        if offset is None:
            break
    assert pages == 3
    assert len({p["gid"] for p in projects}) == demo.ORG_PROJECT_COUNT

    status, teams = settings_api("GET", "/asana/api/teams", query={"workspace": demo.ORG_WORKSPACE_GID})
    assert status == 200
    assert demo.TEAM_SECURITY_GID in {team["gid"] for team in teams["data"]}


@pytest.mark.parametrize("query", [{}, {"workspace": "not-a-gid"}, {"workspace": "../users/me"}])
def test_projects_and_teams_need_a_valid_workspace(settings_api, query):
    for path in ("/asana/api/projects", "/asana/api/teams"):
        status, body = settings_api("GET", path, query=query)
        assert status == 422
        assert body["error"]["details"][0]["field"] == "workspace"


def test_quick_actions_without_any_credential_answer_409_with_a_connect_url(settings_api):
    settings_api("PUT", SETTINGS, body=DEMO_CREDENTIALS)

    status, body = settings_api("GET", "/asana/api/workspaces")

    assert status == 409
    assert body["error"]["code"] == "requires_connection"
    assert body["error"]["connect_url"].startswith("http")


def test_verify_notices_a_pat_revoked_in_asana(settings_api, sandbox):
    settings_api("PUT", SETTINGS, body={**DEMO_CREDENTIALS, "pat": demo.DEMO_PAT})
    sandbox.revoke_pat(demo.DEMO_PAT)

    status, body = settings_api("POST", "/asana/api/settings/verify")

    assert status == 200
    assert body["connection"]["state"] == "error"
    assert body["connection"]["message"] == SEED_AUTH_FAILED


def test_delete_forgets_the_organizations_credentials_and_status(settings_api):
    settings_api("PUT", SETTINGS, body={**DEMO_CREDENTIALS, "pat": demo.DEMO_PAT})

    status, body = settings_api("DELETE", SETTINGS)

    assert status == 200
    assert body["disconnected"] is True
    assert not secret_exists("org-a")
    assert settings_api("GET", SETTINGS)[1]["connection"]["state"] == "not_configured"
