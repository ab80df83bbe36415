"""Webhook management through its real handler, against moto and the Asana sandbox, with the tenant's webhook URL
played on loopback in front of the real webhook function: create (the 201 cross-check and every way it fails),
arming a window for a webhook made by hand, the list joined with Asana's view, delete, the organization's
disconnect, and tenancy on every route."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
import requests

from asana_integration.models.webhooks import WebhookKind, WebhookState
from local.asana_sandbox import demo
from tests import log_audit
from tests.handlers.conftest import function_module, make_caller
from tests.handlers.webhook_api_support import (
    ORG,
    OTHER_ORG,
    PROJECT,
    TAMPERED_SECRET,
    WebhookApiWorld,
    error_of,
    webhook_api_fixture,  # noqa: F401 - registers the webhook_api fixture
)
from tests.handlers.webhook_support import connect, handshake

log_audit.remember(TAMPERED_SECRET)
pytestmark = pytest.mark.usefixtures("webhook_api")


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Asana's client retries 5xx answers with backoff; these tests need the outcome, not the waits."""
    monkeypatch.setattr("asana_integration.asana.client._backoff", lambda retries: 0.0)


def live_records(world: WebhookApiWorld, org: str = ORG) -> list[Any]:
    return [r for r in world.store().for_org(org) if r.state is not WebhookState.DELETED]


def a_task(world: WebhookApiWorld) -> str:
    store = world.sandbox.state.store
    return next(gid for gid, task in store.tasks.items() if any(m.project_gid == PROJECT for m in task.memberships))


def asana(world: WebhookApiWorld, method: str, path: str, **kwargs: Any) -> requests.Response:
    """Asana's REST API as a person with the demo PAT would call it (the Developer Console, a script)."""
    headers = {"Authorization": f"Bearer {demo.DEMO_PAT}"}
    return requests.request(method, f"{world.sandbox.api_base_url}{path}", headers=headers, timeout=10, **kwargs)


def queued_count(world: WebhookApiWorld) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=world.resources.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def single_webhook_reads(world: WebhookApiWorld) -> int:
    return sum(1 for r in world.sandbox.requests() if r.method == "GET" and r.path.startswith("/api/1.0/webhooks/"))


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# --- Create ----------------------------------------------------------------------------------------------------------


def test_an_admin_creates_a_webhook_and_its_signed_deliveries_are_queued(webhook_api):
    world = webhook_api
    status, body = world.create(filters=[{"resource_type": "task", "action": "changed"}])

    assert status == 201, body
    assert body["state"] == "active"
    assert body["kind"] == "created"
    assert body["target_url"] == f"{world.webhook_url}/{body['id']}"
    assert body["resource"]["gid"] == PROJECT
    assert body["resource"]["name"]
    assert body["filters"] == [{"resource_type": "task", "action": "changed"}]
    at_asana = world.sandbox.webhooks.get(body["gid"])
    assert at_asana is not None
    assert at_asana["target"] == body["target_url"]
    record = world.store().get(body["id"])
    assert record.state is WebhookState.ACTIVE
    assert record.asana_gid == body["gid"]
    assert record.org_id == ORG

    task = a_task(world)
    assert asana(world, "PUT", f"/tasks/{task}", json={"data": {"name": "Renamed by a person"}}).ok
    wait_for(lambda: queued_count(world) > 0)

    queued = world.resources.take_queued()
    assert any(event["resource"]["gid"] == task for message in queued for event in message["delivery"]["events"]), (
        queued
    )
    assert all(message["org_id"] == ORG for message in queued)


def test_a_secret_other_than_the_handshake_s_in_asana_s_201_gets_the_webhook_deleted_at_asana(webhook_api):
    world = webhook_api
    world.public.mode = "tamper"  # the function stores one secret, Asana's 201 carries another

    status, body = world.create()

    assert status == 502
    assert error_of(body)["code"] == "webhook_secret_mismatch"
    assert "deleted at Asana" in error_of(body)["message"]
    assert world.public.handshakes == 1
    assert world.asana_webhooks() == []  # deleted at Asana
    assert [w["deleted_reason"] for w in world.asana_webhooks(include_deleted=True)] == ["deleted through the API"]
    assert live_records(world) == []  # and refused here
    assert [r.state for r in world.store().for_org(ORG)] == [WebhookState.DELETED]


def test_a_handshake_answered_by_another_server_stores_nothing_and_gets_the_webhook_deleted(webhook_api):
    world = webhook_api
    world.public.mode = "impostor"  # something echoes the secret without SecureDB ever seeing it

    status, body = world.create()

    assert status == 502
    assert error_of(body)["code"] == "webhook_secret_mismatch"
    assert world.public.forwarded == 0
    assert world.asana_webhooks() == []
    assert live_records(world) == []


def test_a_failed_handshake_is_the_seed_s_webhook_error_with_this_tenant_s_url(webhook_api):
    world = webhook_api
    world.public.mode = "status"
    world.public.status = 503

    status, body = world.create()

    assert status == 502
    error = error_of(body)
    assert error["code"] == "webhook_handshake_failed"
    assert error["message"].startswith("Webhook unreachable / handshake failure: ")
    assert "never reached SecureDB" in error["message"]
    assert error["fix"].startswith(f"Asana cannot reach {world.webhook_url}. Ensure firewall and DNS allow public")
    assert world.asana_webhooks() == []
    assert live_records(world) == []


def test_asana_unreachable_creates_nothing_and_says_so(webhook_api, no_backoff):
    world = webhook_api
    world.set_environment(ASANA_API_BASE_URL="http://127.0.0.1:9/api/1.0")  # the discard port: nothing listens

    status, body = world.create()

    assert status == 502
    assert error_of(body)["code"] == "asana_connection_error"
    assert live_records(world) == []
    assert world.asana_webhooks() == []


def test_asana_refusing_the_resource_is_passed_on_and_nothing_is_created(webhook_api):
    world = webhook_api
    status, body = world.create(resource="1204999999999999")

    assert status == 404
    assert error_of(body)["code"] == "asana_not_found"
    assert error_of(body)["fix"].endswith("Nothing was created.")
    assert live_records(world) == []


@pytest.mark.parametrize(
    "payload",
    [
        {"resource": "not-a-gid"},
        {"resource": PROJECT, "filters": [{"resource_type": "task", "action": "exploded"}]},
        {"resource": PROJECT, "filters": [{"resource_type": "Task; DROP"}]},
        {"resource": PROJECT, "target": "https://attacker.example/hook"},
        {},
    ],
)
def test_bad_input_is_refused_with_422_and_nothing_is_stored(webhook_api, payload):
    world = webhook_api
    status, body = world.api("POST", "/asana/api/webhooks", body=payload)

    assert status == 422
    assert error_of(body)["code"] == "invalid_input"
    assert world.store().for_org(ORG) == []
    assert world.public.handshakes == 0


# --- A webhook made by hand in Asana ----------------------------------------------------------------------------------


def test_an_armed_window_accepts_the_hand_made_webhook_s_handshake_and_the_list_links_it(webhook_api):
    world = webhook_api
    status, window = world.api("POST", "/asana/api/webhooks/expect")

    assert status == 201
    assert window["target_url"] == f"{world.webhook_url}/{window['id']}"
    assert window["expires_in_seconds"] == 300
    _, listed = world.api("GET", "/asana/api/webhooks")
    assert [(w["id"], w["health"]) for w in listed["data"]] == [(window["id"], "awaiting_handshake")]

    # The admin creates the webhook in Asana by hand (its API explorer, a script) with the URL shown.
    made = asana(world, "POST", "/webhooks", json={"data": {"resource": PROJECT, "target": window["target_url"]}})
    assert made.status_code == 201, made.text
    gid = made.json()["data"]["gid"]

    _, listed = world.api("GET", "/asana/api/webhooks")
    [webhook] = listed["data"]
    assert webhook["state"] == "active"
    assert webhook["kind"] == "expected-manual"
    assert webhook["handshake_at"] is not None
    assert webhook["gid"] == gid  # found in Asana's list by its target URL, and linked
    assert webhook["resource"]["gid"] == PROJECT
    assert webhook["asana_status"] == "ok"
    assert webhook["asana"]["active"] is True
    assert world.store().get(window["id"]).asana_gid == gid

    # Exactly one handshake: a second one on the same URL is refused and changes nothing.
    assert handshake(window["id"], "9" * 64)["statusCode"] == 404
    assert world.store().secret_for(window["id"]) != "9" * 64


def test_an_expired_window_accepts_no_handshake_and_shows_as_expired(webhook_api):
    world = webhook_api
    _, window = world.api("POST", "/asana/api/webhooks/expect")
    store = world.store()
    store._table.update_item(  # the window closed a second ago
        Key={"pk": f"WEBHOOK#{window['id']}", "sk": "WEBHOOK"},
        UpdateExpression="SET handshake_deadline = :past",
        ExpressionAttributeValues={":past": int(time.time()) - 1},
    )

    made = asana(world, "POST", "/webhooks", json={"data": {"resource": PROJECT, "target": window["target_url"]}})

    assert made.status_code == 400  # Asana's create fails: the handshake got 404
    _, listed = world.api("GET", "/asana/api/webhooks")
    assert [w["health"] for w in listed["data"]] == ["handshake_expired"]
    assert store.get(window["id"]).has_secret is False


# --- The list, joined with Asana's view ---------------------------------------------------------------------------


def test_the_list_shows_asana_s_health_fields_and_what_asana_reports_failing(webhook_api):
    world = webhook_api
    _, created = world.create()
    world.sandbox.webhooks.fail_target(1, status=500, content="Internal Server Error", webhook_gid=created["gid"])
    task = a_task(world)
    assert asana(world, "PUT", f"/tasks/{task}", json={"data": {"notes": "changed"}}).ok
    wait_for(lambda: world.sandbox.webhooks.get(created["gid"])["last_failure_at"] is not None)

    status, listed = world.api("GET", "/asana/api/webhooks")

    assert status == 200
    assert listed["asana_error"] is None
    [webhook] = listed["data"]
    health = webhook["asana"]
    assert set(health) >= {
        "active",
        "last_success_at",
        "last_failure_at",
        "last_failure_content",
        "delivery_retry_count",
        "failure_deletion_timestamp",
    }
    assert health["last_failure_content"].startswith("500")
    assert health["failure_deletion_timestamp"] is not None
    assert webhook["health"] == "failing"
    assert "failing since" in webhook["health_message"]


def test_a_webhook_deleted_at_asana_shows_as_such(webhook_api):
    world = webhook_api
    _, created = world.create()
    assert asana(world, "DELETE", f"/webhooks/{created['gid']}").ok

    _, listed = world.api("GET", "/asana/api/webhooks")

    [webhook] = listed["data"]
    assert webhook["asana_status"] == "not_found"
    assert webhook["health"] == "deleted_at_asana"


def test_many_webhooks_are_read_from_asana_s_list_and_a_missing_one_shows_as_deleted(webhook_api):
    world = webhook_api
    projects = sorted(gid for gid in world.sandbox.state.store.projects if gid.startswith("1204"))[:5]
    created = [world.create(resource=gid)[1] for gid in projects]
    assert asana(world, "DELETE", f"/webhooks/{created[0]['gid']}").ok
    single_reads_before = single_webhook_reads(world)

    _, listed = world.api("GET", "/asana/api/webhooks")

    by_id = {w["id"]: w for w in listed["data"]}
    assert by_id[created[0]["id"]]["health"] == "deleted_at_asana"
    assert [by_id[c["id"]]["asana_status"] for c in created[1:]] == ["ok"] * 4
    assert all(by_id[c["id"]]["asana"]["active"] is True for c in created[1:])
    # One list per workspace read them; only the one missing from it was asked for alone.
    assert single_webhook_reads(world) - single_reads_before == 1


def test_the_list_still_shows_our_records_when_asana_cannot_be_read(webhook_api, no_backoff):
    world = webhook_api
    _, created = world.create()
    world.sandbox.inject_errors(10, 503)

    status, listed = world.api("GET", "/asana/api/webhooks")

    assert status == 200
    assert listed["asana_error"]["code"] == "asana_server_error"
    [webhook] = listed["data"]
    assert webhook["id"] == created["id"]
    assert webhook["asana_status"] == "unavailable"
    assert webhook["asana"] is None


# --- Delete ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["gid", "id"])
def test_delete_removes_the_webhook_at_asana_and_here(webhook_api, by):
    world = webhook_api
    _, created = world.create()

    status, body = world.api("DELETE", f"/asana/api/webhooks/{created[by]}")

    assert status == 200, body
    assert body == {"id": created["id"], "gid": created["gid"], "deleted": True, "deleted_at_asana": True, "note": None}
    assert world.asana_webhooks() == []
    assert world.store().get(created["id"]).state is WebhookState.DELETED
    assert world.api("GET", "/asana/api/webhooks")[1]["data"] == []


def test_deleting_a_webhook_asana_no_longer_has_deletes_it_here(webhook_api):
    world = webhook_api
    _, created = world.create()
    assert asana(world, "DELETE", f"/webhooks/{created['gid']}").ok

    status, body = world.api("DELETE", f"/asana/api/webhooks/{created['gid']}")

    assert status == 200
    assert body["deleted_at_asana"] is False
    assert world.store().get(created["id"]).state is WebhookState.DELETED


def test_delete_when_asana_is_down_changes_nothing(webhook_api, no_backoff):
    world = webhook_api
    _, created = world.create()
    world.sandbox.inject_errors(20, 503)

    status, body = world.api("DELETE", f"/asana/api/webhooks/{created['gid']}")

    assert status == 503, body
    assert world.store().get(created["id"]).state is WebhookState.ACTIVE
    assert [w["gid"] for w in world.asana_webhooks()] == [created["gid"]]


def test_deleting_an_unknown_webhook_is_404(webhook_api):
    status, body = webhook_api.api("DELETE", "/asana/api/webhooks/1299999999999999")
    assert status == 404
    assert error_of(body)["code"] == "webhook_not_found"


def test_disconnecting_the_organization_deletes_its_webhooks_at_asana_and_here(webhook_api):
    world = webhook_api
    assert world.create()[0] == 201
    _, window = world.api("POST", "/asana/api/webhooks/expect")
    settings = make_caller(function_module("settings"))

    status, body = settings("DELETE", "/asana/api/settings")

    assert status == 200, body
    assert body["webhooks_deleted"] == 2
    assert world.asana_webhooks() == []
    assert live_records(world) == []
    assert handshake(window["id"])["statusCode"] == 404  # the armed window is closed too


# --- Tenancy and roles ------------------------------------------------------------------------------------------------


def test_another_organization_s_admin_can_neither_see_nor_delete_nor_arm_for_this_organization(webhook_api):
    world = webhook_api
    _, created = world.create()
    connect(world.services, OTHER_ORG)

    _, listed = world.api("GET", "/asana/api/webhooks", org=OTHER_ORG, user="admin-b")
    by_gid = world.api("DELETE", f"/asana/api/webhooks/{created['gid']}", org=OTHER_ORG, user="admin-b")
    by_id = world.api("DELETE", f"/asana/api/webhooks/{created['id']}", org=OTHER_ORG, user="admin-b")
    _, window = world.api("POST", "/asana/api/webhooks/expect", org=OTHER_ORG, user="admin-b")

    assert listed["data"] == []
    assert by_gid[0] == 404
    assert by_id[0] == 404
    assert [w["gid"] for w in world.asana_webhooks()] == [created["gid"]]
    assert world.store().get(created["id"]).state is WebhookState.ACTIVE
    assert world.store().get(window["id"]).org_id == OTHER_ORG
    assert [r.prefix for r in live_records(world)] == [created["id"]]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/asana/api/webhooks", None),
        ("POST", "/asana/api/webhooks", {"resource": PROJECT}),
        ("POST", "/asana/api/webhooks/expect", None),
        ("POST", "/asana/api/webhooks/test", None),
        ("DELETE", f"/asana/api/webhooks/{'1' * 16}", None),
    ],
)
def test_a_member_is_refused_every_route_with_403_and_nothing_happens(webhook_api, method, path, body):
    world = webhook_api
    route = path if not path.startswith("/asana/api/webhooks/1") else "/asana/api/webhooks/{gid}"
    status, answer = world.api(method, path, admin=False, user="member-a", body=body, route_path=route)

    assert status == 403
    assert error_of(answer)["code"] == "admin_required"
    assert world.store().for_org(ORG) == []
    assert world.public.handshakes == 0


def test_test_handshake_records_belong_to_the_caller_s_organization_and_are_gone_after(webhook_api):
    world = webhook_api
    status, report = world.api("POST", "/asana/api/webhooks/test", org=OTHER_ORG, user="admin-b")

    assert status == 200
    assert report["ok"] is True, report
    assert world.store().for_org(ORG) == []
    [test_record] = world.store().for_org(OTHER_ORG)
    assert test_record.kind is WebhookKind.TEST
    assert test_record.state is WebhookState.DELETED
