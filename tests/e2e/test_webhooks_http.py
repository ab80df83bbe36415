"""Webhooks end to end on the local stack: gateway, JWT, the webhook functions, moto, SQS event sources and the sandbox.

Issue 10's "done when", as an admin and Asana would make it happen: the admin imports the demo project and creates
a webhook on it; Asana (the sandbox) handshakes through the local gateway while its create call is open; a task is
then changed in Asana, and the change arrives signed, is verified, queued, applied by the consumer (the gateway's SQS
event source) and shows in the mirror. Around it: the built-in test handshake passes on the stack's public URL, a
webhook Asana deleted is re-created by the scheduled health check and works again, and the disconnect deletes the
organization's webhooks at Asana.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from local.asana_sandbox import demo
from tests import log_audit
from tests.conftest import RunningStack

pytestmark = pytest.mark.e2e

TIMEOUT = 30
API = "/asana/api"
PROJECT = demo.DEMO_TASK_PROJECT_GID
log_audit.remember(demo.DEMO_PAT, demo.DEMO_APP_CLIENT_SECRET)


def api(stack: RunningStack, method: str, path: str, identity: str = "admin", **kwargs: Any) -> requests.Response:
    return requests.request(
        method, f"{stack.urls.gateway}{API}{path}", headers=stack.auth(identity), timeout=TIMEOUT, **kwargs
    )


def asana(stack: RunningStack, method: str, path: str, **kwargs: Any) -> requests.Response:
    """Asana's REST API, called as a person with the demo PAT would (a change made in Asana, not by SecureDB)."""
    headers = {"Authorization": f"Bearer {demo.DEMO_PAT}"}
    return requests.request(method, f"{stack.urls.asana_api}{path}", headers=headers, timeout=TIMEOUT, **kwargs)


def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """``check()``'s first truthy answer: the pipeline is asynchronous (deliveries, queues); its latency is not
    asserted."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "the change never arrived"
        time.sleep(0.1)


def mirrored_task(stack: RunningStack, gid: str) -> dict[str, Any] | None:
    tasks = api(stack, "GET", "/mirror/tasks", params={"project": PROJECT}).json()["data"]
    return next((task for task in tasks if task["gid"] == gid), None)


def renamed_in_asana_and_mirrored(stack: RunningStack, task_gid: str, name: str) -> dict[str, Any]:
    changed = asana(stack, "PUT", f"/tasks/{task_gid}", json={"data": {"name": name}})
    assert changed.status_code == 200, changed.text
    task: dict[str, Any] = eventually(
        lambda: (found := mirrored_task(stack, task_gid)) is not None and found["name"] == name and found
    )
    return task


@pytest.fixture(scope="module")
def connected(local_stack: RunningStack) -> Iterator[RunningStack]:
    """The demo organization connected with the demo PAT, synced, the demo project imported and its tasks mirrored;
    the organization disconnected afterwards (which deletes its webhooks)."""
    saved = api(
        local_stack,
        "PUT",
        "/settings",
        json={"client_id": demo.DEMO_APP_CLIENT_ID, "client_secret": demo.DEMO_APP_CLIENT_SECRET, "pat": demo.DEMO_PAT},
    )
    assert saved.status_code == 200, saved.text
    synced = api(local_stack, "POST", "/sync", json={"mode": "full"})  # a project is imported from the mirror
    assert synced.status_code in {200, 202}, synced.text
    local_stack.stack.drain_queues("SyncQueue", wait_for_invisible=True, timeout=120)
    imported = api(local_stack, "POST", f"/projects/{PROJECT}/import")
    assert imported.status_code in {200, 202}, imported.text
    local_stack.stack.drain_queues("SyncQueue", wait_for_invisible=True, timeout=120)
    try:
        yield local_stack
    finally:
        api(local_stack, "DELETE", f"/projects/{PROJECT}/import")
        api(local_stack, "DELETE", "/settings")


def test_a_webhook_created_by_an_admin_brings_a_change_made_in_asana_into_the_mirror(connected: RunningStack):
    stack = connected
    task_gid = mirrored_task_gid(stack)

    created = api(stack, "POST", "/webhooks", json={"resource": PROJECT, "filters": []})

    assert created.status_code == 201, created.text
    webhook = created.json()
    assert webhook["state"] == "active"
    assert webhook["target_url"] == f"{stack.urls.webhook}/{webhook['id']}"
    handshakes = [h for h in stack.stack.sandbox.webhooks.handshakes() if h["target"] == webhook["target_url"]]
    assert [h["ok"] for h in handshakes] == [True]  # through the local gateway, while Asana's call was open

    task = renamed_in_asana_and_mirrored(stack, task_gid, "Rotate the signing keys (renamed in Asana)")

    assert task["name"] == "Rotate the signing keys (renamed in Asana)"
    listed = api(stack, "GET", "/webhooks").json()["data"]
    shown = next(w for w in listed if w["id"] == webhook["id"])
    assert shown["health"] == "healthy"
    assert shown["last_delivery_at"] is not None
    assert shown["asana"]["last_success_at"] is not None
    assert api(stack, "DELETE", f"/webhooks/{webhook['gid']}").status_code == 200


def test_the_test_handshake_passes_on_the_stack_s_public_url(connected: RunningStack):
    report = api(connected, "POST", "/webhooks/test")

    assert report.status_code == 200, report.text
    body = report.json()
    assert body["ok"] is True, body
    assert body["webhook_url"] == connected.urls.webhook
    assert [(c["name"], c["status"]) for c in body["checks"]] == [
        ("dns", "passed"),
        ("tls", "skipped"),  # the local stack serves plain http
        ("handshake", "passed"),
        ("test_event", "passed"),
    ]
    assert body["checks"][2]["secret_echoed"] is True


def test_a_webhook_asana_deleted_is_recreated_by_the_health_check_and_works_again(connected: RunningStack):
    stack = connected
    task_gid = mirrored_task_gid(stack)
    webhook = api(stack, "POST", "/webhooks", json={"resource": PROJECT}).json()
    assert asana(stack, "DELETE", f"/webhooks/{webhook['gid']}").status_code == 200  # e.g. after 24 h of failures

    delivery = stack.stack.fire_schedule("WebhookHealthFunction")

    assert delivery.outcome == "ok", delivery
    assert delivery.last.result["recreated"] == 1
    listed = api(stack, "GET", "/webhooks").json()["data"]
    [replacement] = [w for w in listed if w["replaces"] == webhook["id"]]
    assert replacement["state"] == "active"
    assert webhook["id"] not in [w["id"] for w in listed]
    renamed_in_asana_and_mirrored(stack, task_gid, "Review the firewall rules (after the repair)")
    assert api(stack, "DELETE", f"/webhooks/{replacement['id']}").status_code == 200


def test_an_armed_window_takes_a_webhook_made_by_hand_in_asana(connected: RunningStack):
    stack = connected
    window = api(stack, "POST", "/webhooks/expect").json()

    made = asana(stack, "POST", "/webhooks", json={"data": {"resource": PROJECT, "target": window["target_url"]}})

    assert made.status_code == 201, made.text
    listed = api(stack, "GET", "/webhooks").json()["data"]
    shown = next(w for w in listed if w["id"] == window["id"])
    assert shown["state"] == "active"
    assert shown["handshake_at"] is not None
    assert shown["gid"] == made.json()["data"]["gid"]
    assert api(stack, "DELETE", f"/webhooks/{window['id']}").json()["deleted_at_asana"] is True


def test_another_organization_s_admin_and_a_member_see_none_of_it(connected: RunningStack):
    webhook = api(connected, "POST", "/webhooks", json={"resource": PROJECT}).json()

    other = api(connected, "GET", "/webhooks", identity="other-admin")
    refused = api(connected, "DELETE", f"/webhooks/{webhook['gid']}", identity="other-admin")
    member = api(connected, "GET", "/webhooks", identity="member")

    assert other.status_code == 200
    assert webhook["id"] not in [w["id"] for w in other.json()["data"]]
    assert refused.status_code == 404
    assert member.status_code == 403
    assert api(connected, "DELETE", f"/webhooks/{webhook['gid']}").status_code == 200


def test_disconnecting_deletes_the_organization_s_webhooks_at_asana(local_stack: RunningStack, connected: RunningStack):
    webhook = api(connected, "POST", "/webhooks", json={"resource": PROJECT}).json()
    assert webhook["gid"] in [w["gid"] for w in local_stack.stack.sandbox.webhooks.list()]

    disconnected = api(connected, "DELETE", "/settings")

    assert disconnected.status_code == 200, disconnected.text
    assert disconnected.json()["webhooks_deleted"] >= 1
    assert webhook["gid"] not in [w["gid"] for w in local_stack.stack.sandbox.webhooks.list()]


def mirrored_task_gid(stack: RunningStack) -> str:
    tasks = api(stack, "GET", "/mirror/tasks", params={"project": PROJECT}).json()["data"]
    assert tasks, "the demo project's tasks are mirrored"
    return str(tasks[0]["gid"])
