"""What the admin sees is always true: one status derived from the facts, changed by every event that changes them,
and credentials checked with Asana before they replace working ones.

Real events into the settings and oauth_callback functions, moto from the template, the sandbox playing Asana."""

from __future__ import annotations

from typing import Any

import pytest

from asana_integration.errors import SEED_AUTH_FAILED
from local.asana_sandbox import demo
from tests import log_audit
from tests.handlers.conftest import function_module
from tests.handlers.test_oauth_callback import api, connect_flow, oauth, save_credentials

__all__ = ["oauth"]  # the fixture, shared with the oauth_callback tests

SETTINGS = "/asana/api/settings"
CREDENTIALS = {"client_id": demo.DEMO_APP_CLIENT_ID, "client_secret": demo.DEMO_APP_CLIENT_SECRET}
log_audit.remember(demo.DEMO_PAT, demo.DEMO_APP_CLIENT_SECRET)


@pytest.fixture
def settings(services: Any) -> Any:
    return function_module("settings")


def status_of(settings: Any) -> dict[str, Any]:
    status, body = api(settings, "GET", SETTINGS)
    assert status == 200, body
    return body


def connect_organization(oauth: Any, sandbox: Any) -> None:
    flow = connect_flow(oauth, sandbox, purpose="organization")
    assert flow.completed_status == 200, flow.completed


# --- one status, derived from the facts ---------------------------------------------------------------------------


def test_disconnecting_the_oauth_connection_turns_the_status_to_requires_connection_with_connect(
    oauth, settings, sandbox
):
    connect_organization(oauth, sandbox)
    assert status_of(settings)["connection"]["state"] == "connected"

    assert api(oauth, "DELETE", "/asana/api/connection", query={"purpose": "organization"})[0] == 200
    calls = sandbox.request_count()

    connection = status_of(settings)["connection"]
    assert (connection["state"], connection["mode"]) == ("requires_connection", None)
    assert connection["connect_url"], "Connect is offered: nothing can act for the organization"
    assert sandbox.request_count() == calls, "known from the facts, without asking Asana"


def test_finishing_a_connection_makes_the_status_that_connections_at_once(oauth, settings, sandbox):
    save_credentials("org-a")
    assert status_of(settings)["connection"]["state"] == "requires_connection"

    connect_organization(oauth, sandbox)
    calls = sandbox.request_count()

    connection = status_of(settings)["connection"]
    assert (connection["state"], connection["mode"]) == ("connected", "oauth")
    assert connection["asana_user"]["gid"] == demo.DEMO_ADMIN_USER_GID
    assert sandbox.request_count() == calls, "checked when it was finished: reading it asks Asana nothing"


def test_a_refresh_failing_for_good_shows_reconnect_and_reconnecting_shows_connected_not_both(oauth, settings, sandbox):
    connect_organization(oauth, sandbox)
    sandbox.revoke_refresh_tokens()
    sandbox.expire_access_tokens()
    assert api(settings, "GET", "/asana/api/workspaces")[0] == 409  # the refresh fails for good

    connection = status_of(settings)["connection"]
    assert (connection["state"], connection["message"]) == ("error", SEED_AUTH_FAILED)
    assert connection["connect_url"]

    connect_organization(oauth, sandbox)

    connection = status_of(settings)["connection"]
    assert (connection["state"], connection["mode"]) == ("connected", "oauth")
    assert connection["message"] != SEED_AUTH_FAILED
    assert "connect_url" not in connection or connection["connect_url"] is None


def test_a_quick_action_refused_for_a_revoked_pat_changes_the_status_and_offers_connect(settings, sandbox):
    pat = sandbox.issue_pat(demo.DEMO_ADMIN_USER_GID)
    log_audit.remember(pat)
    assert api(settings, "PUT", SETTINGS, body={**CREDENTIALS, "pat": pat})[1]["connection"]["state"] == "connected"
    sandbox.revoke_pat(pat)

    status, refused = api(settings, "GET", "/asana/api/workspaces")

    assert (status, refused["error"]["message"]) == (409, SEED_AUTH_FAILED)
    body = status_of(settings)
    assert (body["connection"]["state"], body["connection"]["message"]) == ("error", SEED_AUTH_FAILED)
    assert body["connection"]["connect_url"], "nothing can act: Connect is offered"
    assert body["pat_rejected"] is True


def test_a_revoked_pat_gives_way_to_the_organizations_oauth_connection(oauth, settings, sandbox):
    connect_organization(oauth, sandbox)
    pat = sandbox.issue_pat(demo.DEMO_ADMIN_USER_GID)
    log_audit.remember(pat)
    api(settings, "PUT", SETTINGS, body={**CREDENTIALS, "pat": pat})
    assert status_of(settings)["connection"]["mode"] == "pat"
    sandbox.revoke_pat(pat)

    assert api(settings, "GET", "/asana/api/workspaces")[0] == 409  # the PAT's refusal, once
    status, page = api(settings, "GET", "/asana/api/workspaces")

    assert (status, page["mode"]) == (200, "oauth")
    connection = status_of(settings)["connection"]
    assert (connection["state"], connection["mode"]) == ("connected", "oauth")
    assert "Personal Access Token is not used" in connection["message"]


def test_a_quick_action_refused_with_403_is_shown_in_the_status(settings, sandbox):
    member_pat = sandbox.issue_pat(demo.ORG_MEMBER_USER_GID)  # a member of the organization, not of the other one
    log_audit.remember(member_pat)
    api(settings, "PUT", SETTINGS, body={**CREDENTIALS, "pat": member_pat})

    status, refused = api(settings, "GET", "/asana/api/projects", query={"workspace": demo.PLAIN_WORKSPACE_GID})

    assert (status, refused["error"]["code"]) == (403, "asana_forbidden")
    connection = status_of(settings)["connection"]
    assert (connection["state"], connection["message"]) == ("error", refused["error"]["message"])

    # The identity works again: the next Quick Action that succeeds puts the status right.
    assert api(settings, "GET", "/asana/api/workspaces")[0] == 200
    assert status_of(settings)["connection"]["state"] == "connected"


def test_a_new_client_id_leaves_the_previous_apps_connection_unused(oauth, settings, sandbox):
    connect_organization(oauth, sandbox)
    other = sandbox.register_app("another app", ["https://expand.securedb.io/asana/settings"])
    log_audit.remember(other.client_secret)

    _, body = api(settings, "PUT", SETTINGS, body={"client_id": other.client_id, "client_secret": other.client_secret})

    connection = body["connection"]
    assert connection["state"] == "requires_connection"
    assert "another Asana app" in connection["message"]
    assert connection["connect_url"]


# --- credentials checked before they are stored -------------------------------------------------------------------


def test_a_wrong_client_secret_is_caught_at_save_and_the_working_one_stays(oauth, settings, sandbox):
    assert api(settings, "PUT", SETTINGS, body={**CREDENTIALS, "pat": demo.DEMO_PAT})[0] == 200
    wrong = {**CREDENTIALS, "client_secret": "a-wrong-secret-for-this-app-1234"}
    log_audit.remember(wrong["client_secret"])

    checks = sandbox.grant_count("authorization_code")

    status, refused = api(settings, "PUT", SETTINGS, body=wrong)

    assert (status, refused["error"]["code"]) == (422, "client_credentials_rejected")
    assert refused["error"]["message"] == (
        "Asana rejected this Client ID and Client Secret, so the settings were not saved. The saved settings are "
        "unchanged."
    )
    assert {detail["field"] for detail in refused["error"]["details"]} == {"client_id", "client_secret"}
    assert sandbox.grant_count("authorization_code") == checks + 1, "checked with a dummy code at the token endpoint"
    # Still the good secret: a Connect right now would work.
    status, started = api(oauth, "POST", "/asana/api/connect", body={})
    assert status == 200, started


def test_a_client_check_asana_does_not_answer_clearly_saves_with_could_not_verify(settings, sandbox):
    sandbox.inject_errors(count=1, status=503, path_prefix="/-/oauth_token")

    status, body = api(settings, "PUT", SETTINGS, body=CREDENTIALS)

    assert status == 200
    check = body["credentials_check"]
    assert check["client"] == "unverified"
    assert "could not confirm" in check["message"]
    assert body["client_id"] == demo.DEMO_APP_CLIENT_ID


def test_a_malformed_pat_is_refused_and_the_working_pat_stays_in_use(settings):
    api(settings, "PUT", SETTINGS, body={**CREDENTIALS, "pat": demo.DEMO_PAT})

    status, refused = api(settings, "PUT", SETTINGS, body={**CREDENTIALS, "pat": "abc"})

    assert (status, refused["error"]["code"]) == (422, "pat_rejected")
    assert "The saved PAT is unchanged and still in use." in refused["error"]["message"]
    body = status_of(settings)
    assert (body["pat_last4"], body["connection"]["state"]) == (demo.DEMO_PAT[-4:], "connected")
    assert api(settings, "GET", "/asana/api/workspaces")[0] == 200


def test_a_short_pat_is_never_shown_whole_as_its_last_four(settings, sandbox):
    short = sandbox.issue_pat(demo.DEMO_ADMIN_USER_GID)[:0] or "abcd1234"
    sandbox.state.store.pats[short] = demo.DEMO_ADMIN_USER_GID  # a token Asana would accept, however short
    log_audit.remember(short)

    _, body = api(settings, "PUT", SETTINGS, body={**CREDENTIALS, "pat": short})

    assert (body["pat_set"], body["pat_last4"]) == (True, None)


# --- errors an admin understands ----------------------------------------------------------------------------------


def test_load_teams_on_a_workspace_that_is_not_an_organization_says_so_in_words(settings):
    api(settings, "PUT", SETTINGS, body={**CREDENTIALS, "pat": demo.DEMO_PAT})

    status, refused = api(settings, "GET", "/asana/api/teams", query={"workspace": demo.PLAIN_WORKSPACE_GID})

    assert (status, refused["error"]["code"]) == (400, "not_an_organization")
    assert refused["error"]["message"] == (
        f"“{demo.PLAIN_WORKSPACE_NAME}” is an Asana workspace, not an organization, so it has no teams."
    )
    assert "Check the ids" not in refused["error"]["fix"]
