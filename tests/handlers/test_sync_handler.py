"""The scheduled upkeep re-verifies every configured organization, and one failure does not stop the others."""

from __future__ import annotations

from local.asana_sandbox import demo
from tests.events import LambdaContext
from tests.handlers.conftest import function_module

SETTINGS = "/asana/api/settings"
CREDENTIALS = {"client_id": demo.DEMO_APP_CLIENT_ID, "client_secret": demo.DEMO_APP_CLIENT_SECRET}

SCHEDULER_EVENT = {
    "version": "0",
    "id": "b7e1c3d4-0000-4000-8000-000000000001",
    "detail-type": "Scheduled Event",
    "source": "aws.scheduler",
    "account": "123456789012",
    "time": "2026-11-28T12:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/asana-upkeep"],
    "detail": "{}",
}


def upkeep_module(monkeypatch, services):
    """The upkeep handler, wired to this test's services (it has no resolver whose dependencies could be overridden)."""
    module = function_module("sync", "connection_upkeep")
    monkeypatch.setattr(module, "get_services", lambda: services)
    return module


def test_upkeep_reverifies_each_organization_and_records_what_changed(settings_api, services, sandbox, monkeypatch):
    second_pat = sandbox.issue_pat(demo.ORG_MEMBER_USER_GID)
    settings_api("PUT", SETTINGS, body={**CREDENTIALS, "pat": demo.DEMO_PAT})
    settings_api("PUT", SETTINGS, org="org-b", user="admin-b", body={**CREDENTIALS, "pat": second_pat})
    sandbox.revoke_pat(second_pat)  # org-b's PAT dies between two runs
    sync = upkeep_module(monkeypatch, services)

    result = sync.lambda_handler(SCHEDULER_EVENT, LambdaContext(timeout_seconds=300))

    assert result == {"organizations": 2, "states": {"connected": 1, "error": 1}}
    assert settings_api("GET", SETTINGS)[1]["connection"]["state"] == "connected"
    assert settings_api("GET", SETTINGS, org="org-b", user="admin-b")[1]["connection"]["state"] == "error"


def test_upkeep_defers_organizations_when_the_run_is_out_of_time(settings_api, services, monkeypatch):
    settings_api("PUT", SETTINGS, body={**CREDENTIALS, "pat": demo.DEMO_PAT})
    sync = upkeep_module(monkeypatch, services)

    result = sync.lambda_handler(SCHEDULER_EVENT, LambdaContext(timeout_seconds=5))

    assert result == {"organizations": 1, "states": {"deferred": 1}}
