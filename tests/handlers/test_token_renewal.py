"""Every function that calls Asana with the organization's OAuth connection renews an expired access token itself:
the settings function (Quick Actions, verify) and the scheduled upkeep. Each renewal stores the new token encrypted,
so these are also the paths that prove those functions need ``kms:Encrypt`` and the conditional ``UpdateItem``
(``tests/zz_audit/test_iam_least_privilege.py``)."""

from __future__ import annotations

from local.asana_sandbox import demo
from tests.events import LambdaContext
from tests.handlers.conftest import function_module
from tests.handlers.test_oauth_callback import api, connect_flow, oauth
from tests.handlers.test_sync_handler import SCHEDULER_EVENT, upkeep_module

__all__ = ["oauth"]  # the fixture, shared with the oauth_callback tests

VERIFY = "/asana/api/settings/verify"


def test_the_settings_function_renews_an_expired_organization_token_and_keeps_working(oauth, sandbox):
    flow = connect_flow(oauth, sandbox, purpose="organization")
    assert flow.completed_status == 200
    sandbox.expire_access_tokens()
    settings = function_module("settings")

    status, workspaces = api(settings, "GET", "/asana/api/workspaces")

    assert status == 200, workspaces
    assert demo.ORG_WORKSPACE_GID in {workspace["gid"] for workspace in workspaces["data"]}
    assert sandbox.grant_count("refresh_token") == 1
    status, verified = api(settings, "POST", VERIFY)
    assert (status, verified["connection"]["state"]) == (200, "connected")
    assert sandbox.grant_count("refresh_token") == 1, "the renewed token was stored and reused, not renewed again"


def test_the_upkeep_renews_an_expired_organization_token_and_stays_connected(oauth, services, sandbox, monkeypatch):
    connect_flow(oauth, sandbox, purpose="organization")
    settings = function_module("settings")
    assert api(settings, "POST", VERIFY)[0] == 200  # registers the organization for the upkeep
    sandbox.expire_access_tokens()

    result = upkeep_module(monkeypatch, services).lambda_handler(SCHEDULER_EVENT, LambdaContext(timeout_seconds=300))

    assert (result["ran"], result["organizations"], result["states"]) == (True, 1, {"connected": 1})
    assert sandbox.grant_count("refresh_token") == 1
    status, read = api(settings, "GET", "/asana/api/settings")
    assert (status, read["connection"]["state"], read["connection"]["mode"]) == (200, "connected", "oauth")
    assert sandbox.grant_count("refresh_token") == 1, "the upkeep stored the renewed token for the other functions"
