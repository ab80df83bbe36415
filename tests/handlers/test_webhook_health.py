"""The scheduled webhook health check through its real handler, against moto and the Asana sandbox: webhooks Asana
deleted, reports failing or inactive, and those whose heartbeat is overdue are re-created on the same tenant URL
and the old ones retired, with what happened recorded and an incremental sync queued; a failed re-creation keeps
the old webhook; an organization without a usable identity is left alone; the cursor shares the hours fairly."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from asana_integration.models.webhooks import WebhookState
from tests.events import LambdaContext
from tests.handlers.conftest import function_module
from tests.handlers.test_webhook_api import a_task, asana, wait_for
from tests.handlers.webhook_api_support import (
    ORG,
    OTHER_ORG,
    PROJECT,
    WebhookApiWorld,
    webhook_api_fixture,  # noqa: F401 - registers the webhook_api fixture
)
from tests.handlers.webhook_support import connect

pytestmark = pytest.mark.usefixtures("webhook_api")


@pytest.fixture
def world(webhook_api: WebhookApiWorld, monkeypatch: pytest.MonkeyPatch) -> WebhookApiWorld:
    webhook_api.services.organizations.register(ORG, "connected")
    monkeypatch.setattr(function_module("webhook", "health"), "get_services", lambda: webhook_api.services)
    return webhook_api


def check_health(timeout_seconds: float = 300) -> dict[str, Any]:
    result: dict[str, Any] = function_module("webhook", "health").lambda_handler(
        {"source": "aws.scheduler"}, LambdaContext(timeout_seconds=timeout_seconds)
    )
    return result


def created(world: WebhookApiWorld, org: str = ORG, **kwargs: Any) -> dict[str, Any]:
    status, body = world.create(org=org, user=f"admin-{org[-1]}", **kwargs)
    assert status == 201, body
    return dict(body)


def listed(world: WebhookApiWorld, **query: str) -> list[dict[str, Any]]:
    status, body = world.api("GET", "/asana/api/webhooks", query=query or None)
    assert status == 200
    return list(body["data"])


def sync_requests(world: WebhookApiWorld) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    url = str(world.services.config.sync_queue_url)
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def silence(world: WebhookApiWorld, prefix: str, hours: float) -> None:
    """Nothing from Asana on this webhook for ``hours``: its handshake, heartbeats and deliveries are that old."""
    then = int(time.time() - hours * 3600)
    world.store()._table.update_item(
        Key={"pk": f"WEBHOOK#{prefix}", "sk": "WEBHOOK"},
        UpdateExpression="SET handshake_at = :t, activated_at = :t, created_at = :t REMOVE last_heartbeat_at, "
        "last_delivery_at",
        ExpressionAttributeValues={":t": then},
    )


def assert_replaced(world: WebhookApiWorld, old: dict[str, Any]) -> dict[str, Any]:
    """The old webhook is gone at Asana and here; its replacement watches the same resource on the same tenant URL."""
    [new] = listed(world)
    assert new["id"] != old["id"]
    assert new["gid"] != old["gid"]
    assert new["state"] == "active"
    assert new["health"] == "healthy"
    assert new["resource"]["gid"] == old["resource"]["gid"]
    assert new["filters"] == old["filters"]
    assert new["target_url"] == f"{world.webhook_url}/{new['id']}"
    assert new["replaces"] == old["id"]
    assert new["last_check"]["outcome"] == "recreated"
    assert [w["gid"] for w in world.asana_webhooks()] == [new["gid"]]
    [retired] = [w for w in listed(world, include_deleted="true") if w["id"] == old["id"]]
    assert retired["state"] == "deleted"
    assert retired["last_check"]["outcome"] == "recreated"
    assert world.store().get(old["id"]).state is WebhookState.DELETED
    [request] = sync_requests(world)
    assert request["type"] == "start"
    assert request["org_id"] == ORG
    assert request["mode"] == "incremental"
    return new


def test_a_healthy_webhook_is_left_alone_and_its_check_recorded(world):
    webhook = created(world)

    report = check_health()

    assert report["recreated"] == 0
    assert report["webhooks_checked"] == 1
    [shown] = listed(world)
    assert shown["id"] == webhook["id"]
    assert shown["last_check"]["outcome"] == "healthy"
    assert sync_requests(world) == []


def test_a_webhook_asana_deleted_is_recreated_and_a_sync_queued(world):
    webhook = created(world, filters=[{"resource_type": "task"}])
    assert asana(world, "DELETE", f"/webhooks/{webhook['gid']}").ok

    report = check_health()

    assert report["recreated"] == 1
    assert report["syncs_requested"] == 1
    new = assert_replaced(world, webhook)
    # The replacement delivers: a task change reaches the events queue through it.
    assert asana(world, "PUT", f"/tasks/{a_task(world)}", json={"data": {"name": "after the repair"}}).ok
    wait_for(lambda: any(m["prefix"] == new["id"] for m in world.resources.take_queued()))


def test_while_another_run_holds_the_lease_a_run_does_nothing_and_frees_nothing(world):
    from asana_integration.stores.upkeep_lease import WEBHOOK_HEALTH, UpkeepLeaseStore

    webhook = created(world)
    assert asana(world, "DELETE", f"/webhooks/{webhook['gid']}").ok
    leases = UpkeepLeaseStore(world.services.table, WEBHOOK_HEALTH)
    other = leases.acquire("a-run-still-working", 300)
    assert other is not None

    skipped = check_health()
    leases.release(other)
    after = check_health()

    assert (skipped["ran"], skipped["recreated"]) == (False, 0)
    assert (after["ran"], after["recreated"]) == (True, 1)  # the skipped run left the lease as it found it
    assert_replaced(world, webhook)
    assert leases.acquire("the-next-run", 300) is not None  # and the run that worked released it


def test_a_webhook_asana_reports_failing_is_recreated(world):
    webhook = created(world)
    world.sandbox.webhooks.fail_target(3, status=502, webhook_gid=webhook["gid"])
    assert asana(world, "PUT", f"/tasks/{a_task(world)}", json={"data": {"name": "lost"}}).ok
    wait_for(lambda: world.sandbox.webhooks.get(webhook["gid"])["last_failure_at"] is not None)

    assert check_health()["recreated"] == 1

    assert_replaced(world, webhook)


def test_an_inactive_webhook_is_recreated(world):
    webhook = created(world)
    world.sandbox.webhooks.set_active(webhook["gid"], False)

    assert check_health()["recreated"] == 1

    assert_replaced(world, webhook)


def test_a_webhook_silent_past_its_heartbeat_is_recreated(world):
    webhook = created(world)
    silence(world, webhook["id"], hours=9.5)  # 8 hours and the margin have passed

    assert check_health()["recreated"] == 1

    assert_replaced(world, webhook)


def test_a_webhook_silent_for_less_than_the_margin_is_healthy(world):
    webhook = created(world)
    silence(world, webhook["id"], hours=8.5)

    assert check_health()["recreated"] == 0
    assert [w["id"] for w in listed(world)] == [webhook["id"]]


def test_a_failed_recreation_keeps_the_old_webhook_and_says_why(world):
    webhook = created(world)
    assert asana(world, "DELETE", f"/webhooks/{webhook['gid']}").ok
    world.public.mode = "status"
    world.public.status = 503  # the tenant URL is down: no new handshake can succeed

    report = check_health()

    assert report["recreated"] == 0
    assert report["recreate_failed"] == 1
    assert report["syncs_requested"] == 0
    [shown] = listed(world)
    assert shown["id"] == webhook["id"]
    assert shown["state"] == "active"
    assert shown["last_check"]["outcome"] == "recreate_failed"
    assert "Webhook unreachable / handshake failure" in shown["last_check"]["message"]
    assert world.asana_webhooks() == []
    assert sync_requests(world) == []


def test_a_hand_made_webhook_asana_deleted_is_recreated_from_what_asana_showed(world):
    _, window = world.api("POST", "/asana/api/webhooks/expect")
    made = asana(world, "POST", "/webhooks", json={"data": {"resource": PROJECT, "target": window["target_url"]}})
    gid = made.json()["data"]["gid"]
    [linked] = listed(world)  # the list links it to Asana's webhook by its target URL
    assert linked["gid"] == gid
    assert asana(world, "DELETE", f"/webhooks/{gid}").ok

    assert check_health()["recreated"] == 1

    new = assert_replaced(world, linked)
    assert new["kind"] == "created"


def test_an_organization_without_a_usable_identity_is_left_as_it_is(world):
    webhook = created(world)
    assert asana(world, "DELETE", f"/webhooks/{webhook['gid']}").ok
    world.services.credentials.delete(ORG)

    report = check_health()

    assert report["unchecked_organizations"] == 1
    assert report["recreated"] == 0
    assert world.store().get(webhook["id"]).state is WebhookState.ACTIVE
    [shown] = listed(world, include_deleted="true")
    assert shown["last_check"]["outcome"] == "unchecked"


def test_each_run_starts_after_the_organization_the_last_one_checked(world):
    connect(world.services, OTHER_ORG)
    world.services.organizations.register(OTHER_ORG, "connected")
    first = created(world)
    second = created(world, org=OTHER_ORG)
    for webhook in (first, second):
        assert asana(world, "DELETE", f"/webhooks/{webhook['gid']}").ok
    health = world.services.webhook_health
    budget = iter([60.0, 60.0, 0.0])  # the lease's hold, then time for one organization only

    report = health.run(lambda: next(budget))

    assert report.organizations == 1
    assert report.recreated == 1
    assert report.stopped_early
    done = ORG if world.store().get(first["id"]).state is WebhookState.DELETED else OTHER_ORG
    assert world.services.webhook_details.health_cursor() == done

    report = health.run(lambda: 60.0)  # the next run starts with the other one

    assert report.recreated == 1
    assert world.store().get(first["id"]).state is WebhookState.DELETED
    assert world.store().get(second["id"]).state is WebhookState.DELETED
