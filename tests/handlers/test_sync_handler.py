"""The scheduled upkeep re-verifies every configured organization, one failure does not stop the others, and a run
that finds another one working leaves at once (tests/handlers/test_connection_upkeep.py covers the lease and cursor)."""

from __future__ import annotations

import threading

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

    assert result["ran"] is True
    assert (result["organizations"], result["states"]) == (2, {"connected": 1, "error": 1})
    assert settings_api("GET", SETTINGS)[1]["connection"]["state"] == "connected"
    assert settings_api("GET", SETTINGS, org="org-b", user="admin-b")[1]["connection"]["state"] == "error"


def test_upkeep_defers_organizations_when_the_run_is_out_of_time(settings_api, services, monkeypatch):
    settings_api("PUT", SETTINGS, body={**CREDENTIALS, "pat": demo.DEMO_PAT})
    sync = upkeep_module(monkeypatch, services)

    result = sync.lambda_handler(SCHEDULER_EVENT, LambdaContext(timeout_seconds=5))

    assert (result["ran"], result["organizations"], result["states"]) == (True, 1, {"deferred": 1})
    assert result["reached"] is None, "the next run starts with it"


def test_of_two_concurrent_invocations_one_does_the_work_and_the_other_leaves(settings_api, services, monkeypatch):
    settings_api("PUT", SETTINGS, body={**CREDENTIALS, "pat": demo.DEMO_PAT})
    settings_api("PUT", SETTINGS, org="org-b", user="admin-b", body={**CREDENTIALS, "pat": demo.DEMO_PAT})
    sync = upkeep_module(monkeypatch, services)
    verify = services.settings.verify
    first_is_working, second_is_done = threading.Event(), threading.Event()
    verified: list[str] = []

    def slow_verify(caller, urls, remaining_time_ms):
        verified.append(caller.org_id)
        first_is_working.set()
        assert second_is_done.wait(timeout=30), "the second invocation never finished"
        return verify(caller, urls, remaining_time_ms)

    monkeypatch.setattr(services.settings, "verify", slow_verify)
    results: dict[str, dict] = {}
    first = threading.Thread(
        target=lambda: results.setdefault("first", sync.lambda_handler(SCHEDULER_EVENT, LambdaContext(300)))
    )
    first.start()
    try:
        assert first_is_working.wait(timeout=30), "the first invocation never started verifying"
        results["second"] = sync.lambda_handler(SCHEDULER_EVENT, LambdaContext(300))
    finally:
        second_is_done.set()
        first.join(timeout=60)

    assert results["second"] == {
        "ran": False,
        "organizations": 0,
        "states": {},
        "started_after": None,
        "reached": None,
    }
    assert results["first"]["ran"] is True
    assert results["first"]["states"] == {"connected": 2}
    assert sorted(verified) == ["org-a", "org-b"], "each organization verified once, by the first invocation"


def test_the_next_run_after_a_finished_one_takes_the_lease_again(settings_api, services, monkeypatch):
    settings_api("PUT", SETTINGS, body={**CREDENTIALS, "pat": demo.DEMO_PAT})
    sync = upkeep_module(monkeypatch, services)

    first = sync.lambda_handler(SCHEDULER_EVENT, LambdaContext(timeout_seconds=300))
    second = sync.lambda_handler(SCHEDULER_EVENT, LambdaContext(timeout_seconds=300))

    assert (first["ran"], second["ran"]) == (True, True)
    assert second["states"] == {"connected": 1}
    assert second["started_after"] == "org-a"
