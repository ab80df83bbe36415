"""Webhooks: the handshake during the create, signed compact deliveries of every change, filters, heartbeats, retries
with backoff and deletion after 24 h of failures, on the sandbox clock; and the list/get/put/delete endpoints.

Unless a test says otherwise, the sandbox runs without its background dispatcher: deliveries happen exactly when the
test calls `deliver_due()`, at the time the test set on the sandbox clock.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests

from local.asana_sandbox import AsanaSandbox, demo
from local.asana_sandbox.api_webhooks import RESOURCE_MISSING, UNSUPPORTED_RESOURCE
from local.asana_sandbox.clock import SandboxClock
from local.asana_sandbox.webhook_delivery import DUPLICATED_WEBHOOK, HANDSHAKE_FAILED, LOCAL_TARGET
from local.asana_sandbox.webhooks import (
    DELETED_AFTER_FAILURES,
    FIRST_HEARTBEAT_DELAY_SECONDS,
    FIRST_RETRY_SECONDS,
    HEARTBEAT_INTERVAL_SECONDS,
    MAX_RETRY_INTERVAL_SECONDS,
)

from .helpers import call, control, error_message, token_for
from .webhook_target import WebhookTarget

ORG = demo.ORG_WORKSPACE_GID
PROJECT = demo.DEMO_TASK_PROJECT_GID
OTHER_PROJECT = demo.numbered_gid(demo.PROJECT_PREFIX, 2)
TASKS = [demo.numbered_gid(demo.TASK_PREFIX, n) for n in range(1, demo.DEMO_TASK_COUNT + 1)]
HOUR = 3600.0


@pytest.fixture
def sandbox() -> Iterator[AsanaSandbox]:
    """No background dispatcher: the test decides when deliveries happen."""
    with AsanaSandbox(webhook_dispatcher=False) as sb:
        yield sb


@pytest.fixture
def target() -> Iterator[WebhookTarget]:
    with WebhookTarget() as receiver:
        yield receiver


def create(sandbox, headers, resource: str, target_url: str, filters=None) -> requests.Response:
    data: dict[str, object] = {"resource": resource, "target": target_url}
    if filters is not None:
        data["filters"] = filters
    return call(sandbox, "POST", "/webhooks", headers, data)


def created(sandbox, headers, resource: str, target: WebhookTarget, filters=None) -> tuple[str, str]:
    """Create a webhook and let its first heartbeat through; returns (gid, secret)."""
    response = create(sandbox, headers, resource, target.url, filters)
    assert response.status_code == 201, response.text
    sandbox.advance_clock(FIRST_HEARTBEAT_DELAY_SECONDS)
    assert sandbox.webhooks.deliver_due() == 1
    body = response.json()
    return body["data"]["gid"], body["X-Hook-Secret"]


def health(sandbox, headers, gid: str) -> dict[str, object]:
    response = call(sandbox, "GET", f"/webhooks/{gid}", headers)
    assert response.status_code == 200, response.text
    record: dict[str, object] = response.json()["data"]
    return record


def seconds(timestamp: object) -> float:
    return datetime.fromisoformat(str(timestamp)).timestamp()


def set_task(sandbox, headers, task_gid: str, **fields: object) -> None:
    response = call(sandbox, "PUT", f"/tasks/{task_gid}", headers, dict(fields))
    assert response.status_code == 200, response.text


# --- The handshake ------------------------------------------------------------------------------------------------


def test_the_create_handshakes_while_open_and_its_201_carries_the_same_secret(sandbox, pat_headers, target):
    response = create(sandbox, pat_headers, PROJECT, target.url)

    assert response.status_code == 201, response.text
    [handshake] = target.received()  # already there when the create answered
    secret = handshake.headers["X-Hook-Secret"]
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    assert handshake.body == b""
    assert "X-Hook-Signature" not in handshake.headers
    body = response.json()
    assert body["X-Hook-Secret"] == secret
    data = body["data"]
    assert data["resource"] == {"gid": PROJECT, "resource_type": "project", "name": "Vulnerability triage 001"}
    assert (data["resource_type"], data["target"], data["active"], data["filters"]) == (
        "webhook",
        target.url,
        True,
        [],
    )
    assert data["last_success_at"] is None
    assert data["last_failure_at"] is None
    assert data["delivery_retry_count"] == 0


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(lambda t: setattr(t, "echo", False), id="secret-not-echoed"),
        pytest.param(lambda t: setattr(t, "handshake_status", 500), id="status-500"),
        pytest.param(lambda t: setattr(t, "handshake_status", 201), id="status-201"),
    ],
)
def test_a_handshake_the_target_does_not_confirm_fails_the_create(sandbox, pat_headers, target, breakage):
    breakage(target)

    response = create(sandbox, pat_headers, PROJECT, target.url)

    assert response.status_code == 400
    assert error_message(response) == HANDSHAKE_FAILED
    assert len(target.handshakes()) == 1
    assert call(sandbox, "GET", "/webhooks", pat_headers, workspace=ORG).json()["data"] == []
    assert sandbox.webhooks.list(include_deleted=True) == []
    [attempt] = sandbox.webhooks.handshakes()
    assert attempt["ok"] is False


def test_an_unreachable_or_slow_target_fails_the_create(sandbox, pat_headers, target):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    sandbox.webhooks.delivery_timeout_seconds = 0.3
    target.delay_seconds = 1.0

    unreachable = create(sandbox, pat_headers, PROJECT, f"http://127.0.0.1:{closed_port}/hook")
    slow = create(sandbox, pat_headers, PROJECT, target.url)

    assert (unreachable.status_code, error_message(unreachable)) == (400, HANDSHAKE_FAILED)
    assert (slow.status_code, error_message(slow)) == (400, HANDSHAKE_FAILED)
    failures = [h["failure"] for h in sandbox.webhooks.handshakes()]
    assert failures[0].startswith("Could not reach the target")
    assert failures[1].startswith("Timed out")


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/hook",
        "https://LOCALHOST:8443/hook",
        "https://hooks.localhost/x",
        "http://127.0.0.1:3000/asana/webhook",
        "http://[::1]/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/hook",
    ],
)
def test_localhost_type_targets_get_403_when_loopback_targets_are_off(pat_headers, url):
    with AsanaSandbox(allow_loopback_targets=False, webhook_dispatcher=False) as sandbox:
        response = create(sandbox, pat_headers, PROJECT, url)

        assert response.status_code == 403
        assert error_message(response) == LOCAL_TARGET
        assert sandbox.webhooks.handshakes() == []  # refused before any request to it


def test_a_public_target_passes_the_local_host_rule(pat_headers):
    with AsanaSandbox(allow_loopback_targets=False, webhook_dispatcher=False) as sandbox:
        # Simulated so that nothing leaves the machine: the rule let it through to the handshake.
        sandbox.webhooks.fail_target(handshake=True)

        response = create(sandbox, pat_headers, PROJECT, "https://hooks.example.com/asana/webhook/abc")

        assert (response.status_code, error_message(response)) == (400, HANDSHAKE_FAILED)
        assert [h["target"] for h in sandbox.webhooks.handshakes()] == ["https://hooks.example.com/asana/webhook/abc"]


def test_the_loopback_setting_is_a_control_and_reset_restores_the_default(sandbox, pat_headers, target):
    control(sandbox, "settings", allow_loopback_targets=False)
    refused = create(sandbox, pat_headers, PROJECT, target.url)
    control(sandbox, "reset")
    accepted = create(sandbox, pat_headers, PROJECT, target.url)

    assert refused.status_code == 403
    assert accepted.status_code == 201, accepted.text


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"target": "http://127.0.0.1:1/x"}, 400, RESOURCE_MISSING),
        ({"resource": PROJECT}, 400, "target: Missing input"),
        ({"resource": PROJECT, "target": "ftp://127.0.0.1/x"}, 400, None),
        ({"resource": PROJECT, "target": "no url at all"}, 400, None),
        ({"resource": "abc", "target": "http://127.0.0.1:1/x"}, 400, "resource: Not a Long: abc"),
        ({"resource": "1204999999999999", "target": "http://127.0.0.1:1/x"}, 404, None),
        ({"resource": demo.ORG_MEMBER_USER_GID, "target": "http://127.0.0.1:1/x"}, 400, UNSUPPORTED_RESOURCE),
        ({"resource": PROJECT, "target": "http://127.0.0.1:1/x", "secret": "mine"}, 400, None),
        ({"resource": ORG, "target": "http://127.0.0.1:1/x"}, 400, None),
        ({"resource": demo.TEAM_SECURITY_GID, "target": "http://127.0.0.1:1/x", "filters": []}, 400, None),
        (
            {"resource": ORG, "target": "http://127.0.0.1:1/x", "filters": [{"resource_type": "task"}]},
            400,
            None,
        ),
        (
            {
                "resource": ORG,
                "target": "http://127.0.0.1:1/x",
                "filters": [{"resource_type": "project", "action": "changed", "fields": ["name"]}],
            },
            400,
            None,
        ),
        (
            {"resource": PROJECT, "target": "http://127.0.0.1:1/x", "filters": [{"action": "added", "fields": ["x"]}]},
            400,
            None,
        ),
        ({"resource": PROJECT, "target": "http://127.0.0.1:1/x", "filters": [{"action": "moved"}]}, 400, None),
        ({"resource": PROJECT, "target": "http://127.0.0.1:1/x", "filters": {"action": "added"}}, 400, None),
    ],
)
def test_bad_creates_are_refused_before_any_handshake(sandbox, pat_headers, data, status, message):
    response = call(sandbox, "POST", "/webhooks", pat_headers, data)

    assert response.status_code == status, response.text
    if message is not None:
        assert error_message(response) == message
    assert sandbox.webhooks.handshakes() == []


def test_workspace_and_team_webhooks_are_created_with_filters(sandbox, pat_headers, target):
    on_workspace = create(sandbox, pat_headers, ORG, target.url, [{"resource_type": "project", "action": "added"}])
    on_team = create(sandbox, pat_headers, demo.TEAM_SECURITY_GID, target.url, [{"resource_type": "team_membership"}])

    assert on_workspace.status_code == 201, on_workspace.text
    assert on_workspace.json()["data"]["filters"] == [{"resource_type": "project", "action": "added"}]
    assert on_team.status_code == 201, on_team.text


def test_a_second_webhook_on_the_same_resource_and_target_is_a_403(sandbox, pat_headers, target):
    first = create(sandbox, pat_headers, PROJECT, target.url)
    again = create(sandbox, pat_headers, PROJECT, target.url)
    other_target = create(sandbox, pat_headers, PROJECT, f"{target.url}?tenant=2")

    assert first.status_code == 201
    assert (again.status_code, error_message(again)) == (403, DUPLICATED_WEBHOOK)
    assert other_target.status_code == 201
    assert len(target.handshakes()) == 2


def test_a_resource_the_caller_cannot_see_is_a_403(sandbox, target):
    outsider = {"Authorization": f"Bearer {sandbox.issue_pat(demo.OUTSIDER_USER_GID)}"}

    response = create(sandbox, outsider, PROJECT, target.url)

    assert response.status_code == 403
    assert target.received() == []


# --- Deliveries ---------------------------------------------------------------------------------------------------


def test_the_first_heartbeat_follows_the_handshake_and_then_every_8_hours(sandbox, pat_headers, target):
    response = create(sandbox, pat_headers, PROJECT, target.url)
    gid = response.json()["data"]["gid"]

    before = sandbox.webhooks.deliver_due()
    sandbox.advance_clock(FIRST_HEARTBEAT_DELAY_SECONDS)
    first = sandbox.webhooks.deliver_due()
    idle = sandbox.webhooks.deliver_due()
    sandbox.advance_clock(HEARTBEAT_INTERVAL_SECONDS - 60)
    not_yet = sandbox.webhooks.deliver_due()
    sandbox.advance_clock(60)
    second = sandbox.webhooks.deliver_due()

    assert (before, first, idle, not_yet, second) == (0, 1, 0, 0, 1)
    assert [d.body for d in target.deliveries()] == [b'{"events":[]}', b'{"events":[]}']
    record = health(sandbox, pat_headers, gid)
    assert record["last_success_at"] is not None
    assert record["last_failure_at"] is None


def test_a_delivery_is_signed_with_the_secret_over_its_exact_bytes(sandbox, pat_headers, target):
    _, secret = created(sandbox, pat_headers, PROJECT, target)
    set_task(sandbox, pat_headers, TASKS[0], name="Signed change")
    sandbox.webhooks.deliver_due()

    deliveries = target.deliveries()
    assert len(deliveries) == 2
    for delivery in deliveries:
        expected = hmac.new(secret.encode(), delivery.body, hashlib.sha256).hexdigest()
        assert delivery.headers["X-Hook-Signature"] == expected
        assert delivery.headers["Content-Type"] == "application/json"
        altered = delivery.body.replace(b"events", b"Events")
        assert hmac.new(secret.encode(), altered, hashlib.sha256).hexdigest() != expected
    assert json.loads(deliveries[1].body)["events"][0]["action"] == "changed"


def test_a_task_changed_through_put_tasks_reaches_a_webhook_on_its_project_as_compact_events(
    sandbox, pat_headers, target
):
    created(sandbox, pat_headers, PROJECT, target)

    set_task(sandbox, pat_headers, TASKS[1], completed=True, assignee=demo.ORG_MEMBER_USER_GID)
    sandbox.webhooks.deliver_due()

    [delivery] = target.deliveries()[1:]
    assert delivery.body.startswith(b'{"events":[{')
    assert b" " not in delivery.body.split(b'"created_at"')[0]  # compact encoding
    completed, assigned = delivery.events
    user = {"gid": demo.DEMO_ADMIN_USER_GID, "resource_type": "user"}
    task = {"gid": TASKS[1], "resource_type": "task", "resource_subtype": "default_task"}
    assert list(completed) == ["user", "created_at", "action", "resource", "parent", "change"]
    assert completed["user"] == user
    assert completed["resource"] == task
    assert (completed["action"], completed["parent"]) == ("changed", None)
    assert completed["change"] == {"field": "completed", "action": "changed"}
    assert completed["created_at"].endswith("Z")
    assert assigned["change"] == {
        "field": "assignee",
        "action": "changed",
        "new_value": {"gid": demo.ORG_MEMBER_USER_GID, "resource_type": "user"},
    }


def test_a_change_made_through_the_control_api_is_delivered(sandbox, pat_headers, target):
    created(sandbox, pat_headers, ORG, target, [{"resource_type": "team_membership", "action": "added"}])

    joined = control(sandbox, "users/add", name="Team Newcomer")  # a user event: filtered out
    control(sandbox, "teams/add_member", team_gid=demo.TEAM_PLATFORM_GID, user_gid=joined["user_gid"])
    sandbox.webhooks.deliver_due()

    [event] = target.events()
    assert (event["action"], event["resource"]["resource_type"], event["user"]) == ("added", "team_membership", None)
    assert event["parent"] == {"gid": demo.TEAM_PLATFORM_GID, "resource_type": "team"}


def test_a_task_undeleted_through_the_control_api_is_delivered(sandbox, pat_headers, target):
    assert call(sandbox, "DELETE", f"/tasks/{TASKS[2]}", pat_headers).status_code == 200
    created(sandbox, pat_headers, PROJECT, target)

    control(sandbox, "tasks/undelete", task_gid=TASKS[2], actor_gid=demo.DEMO_ADMIN_USER_GID)
    sandbox.webhooks.deliver_due()

    assert [(e["action"], e["resource"]["gid"]) for e in target.events()] == [("undeleted", TASKS[2])]


def test_events_bubble_up_to_webhooks_on_their_parents_only(sandbox, pat_headers):
    with WebhookTarget() as on_project, WebhookTarget() as on_task, WebhookTarget() as elsewhere:
        created(sandbox, pat_headers, PROJECT, on_project)
        created(sandbox, pat_headers, TASKS[0], on_task)
        created(sandbox, pat_headers, OTHER_PROJECT, elsewhere)
        created(sandbox, pat_headers, ORG, elsewhere, [{"resource_type": "project"}])

        set_task(sandbox, pat_headers, TASKS[0], notes="Seen by the project and the task")
        set_task(sandbox, pat_headers, TASKS[3], notes="Seen by the project only")
        sandbox.webhooks.deliver_due()

        assert [e["resource"]["gid"] for e in on_project.events()] == [TASKS[0], TASKS[3]]
        assert [e["resource"]["gid"] for e in on_task.events()] == [TASKS[0]]
        assert elsewhere.events() == []  # other project; workspace webhooks get no task events


def test_an_event_is_delivered_when_it_passes_any_filter(sandbox, pat_headers, target):
    filters = [{"resource_type": "task", "action": "changed", "fields": ["completed"]}, {"action": "added"}]
    created(sandbox, pat_headers, PROJECT, target, filters)

    set_task(sandbox, pat_headers, TASKS[0], name="Renamed: filtered out")
    set_task(sandbox, pat_headers, TASKS[0], completed=True)
    fresh = call(sandbox, "POST", "/tasks", pat_headers, {"name": "New", "projects": [PROJECT]}).json()["data"]
    call(sandbox, "DELETE", f"/tasks/{TASKS[4]}", pat_headers)
    sandbox.webhooks.deliver_due()

    assert [(e["action"], e["resource"]["gid"], e.get("change", {}).get("field")) for e in target.events()] == [
        ("changed", TASKS[0], "completed"),
        ("added", fresh["gid"], None),
    ]


def test_a_workspace_membership_filter_sees_users_joining_the_workspace(sandbox, pat_headers, target):
    created(sandbox, pat_headers, ORG, target, [{"resource_type": "workspace_membership", "action": "added"}])

    joined = control(sandbox, "users/add", name="New Hire", email="new.hire@acme-security.example")
    control(sandbox, "teams/create", name="Not a membership")
    sandbox.webhooks.deliver_due()

    [event] = target.events()
    assert event["resource"] == {"gid": joined["user_gid"], "resource_type": "user"}
    assert event["parent"] == {"gid": ORG, "resource_type": "workspace"}


def test_put_replaces_the_filters(sandbox, pat_headers, target):
    gid, _ = created(sandbox, pat_headers, PROJECT, target, [{"action": "deleted"}])

    response = call(sandbox, "PUT", f"/webhooks/{gid}", pat_headers, {"filters": [{"action": "changed"}]})
    set_task(sandbox, pat_headers, TASKS[0], name="Now delivered")
    sandbox.webhooks.deliver_due()

    assert response.status_code == 200, response.text
    assert response.json()["data"]["filters"] == [{"action": "changed"}]
    assert [e["action"] for e in target.events()] == ["changed"]


def test_many_changes_go_in_deliveries_of_at_most_100_events_in_order(sandbox, pat_headers, target):
    created(sandbox, pat_headers, PROJECT, target)
    for n in range(130):
        set_task(sandbox, pat_headers, TASKS[0], name=f"Name {n}")

    assert sandbox.webhooks.deliver_due() == 2

    batches = [len(d.events) for d in target.deliveries()[1:]]
    assert batches == [100, 30]
    assert [e["created_at"] for e in target.events()] == sorted(e["created_at"] for e in target.events())


def test_events_before_the_webhook_existed_are_not_delivered(sandbox, pat_headers, target):
    set_task(sandbox, pat_headers, TASKS[0], name="Before the webhook")
    created(sandbox, pat_headers, PROJECT, target)

    assert sandbox.webhooks.deliver_due() == 0
    assert target.events() == []


# --- Failures, retries and deletion -------------------------------------------------------------------------------


def test_a_failed_delivery_is_resent_unchanged_with_backoff_until_it_succeeds(sandbox, pat_headers, target):
    gid, _ = created(sandbox, pat_headers, PROJECT, target)
    target.delivery_status = 500
    set_task(sandbox, pat_headers, TASKS[0], completed=True)

    sandbox.webhooks.deliver_due()
    failing = health(sandbox, pat_headers, gid)
    immediately = sandbox.webhooks.deliver_due()
    set_task(sandbox, pat_headers, TASKS[1], completed=True)  # queued behind the failing delivery
    sandbox.advance_clock(FIRST_RETRY_SECONDS)
    sandbox.webhooks.deliver_due()
    retried = health(sandbox, pat_headers, gid)
    target.delivery_status = 204
    sandbox.advance_clock(2 * FIRST_RETRY_SECONDS)
    sandbox.webhooks.deliver_due()
    recovered = health(sandbox, pat_headers, gid)

    failed_at = seconds(failing["last_failure_at"])
    assert str(failing["last_failure_content"]).startswith("500 Internal Server Error")
    assert failing["delivery_retry_count"] == 0
    assert seconds(failing["next_attempt_after"]) == pytest.approx(failed_at + FIRST_RETRY_SECONDS, abs=0.01)
    assert seconds(failing["failure_deletion_timestamp"]) == pytest.approx(failed_at + 24 * HOUR, abs=0.01)
    assert immediately == 0
    assert retried["delivery_retry_count"] == 1
    retried_at = seconds(retried["last_failure_at"])
    assert seconds(retried["next_attempt_after"]) == pytest.approx(retried_at + 2 * FIRST_RETRY_SECONDS, abs=0.01)
    assert retried["failure_deletion_timestamp"] == failing["failure_deletion_timestamp"]
    assert recovered["delivery_retry_count"] == 0
    assert recovered["next_attempt_after"] is None
    assert recovered["failure_deletion_timestamp"] is None
    assert seconds(recovered["last_success_at"]) > retried_at
    bodies = [d.body for d in target.deliveries()[1:]]
    assert bodies[0] == bodies[1] == bodies[2]  # resent unchanged, so its signature still verifies
    assert [e["resource"]["gid"] for e in json.loads(bodies[3])["events"]] == [TASKS[1]]


def test_the_backoff_doubles_up_to_an_hour_and_24_hours_of_failures_delete_the_webhook(sandbox, pat_headers, target):
    response = create(sandbox, pat_headers, PROJECT, target.url)
    gid = response.json()["data"]["gid"]
    target.delivery_status = 503  # even the heartbeats fail
    sandbox.advance_clock(FIRST_HEARTBEAT_DELAY_SECONDS)
    sandbox.webhooks.deliver_due()
    first_failure = seconds(health(sandbox, pat_headers, gid)["last_failure_at"])

    intervals, last = [], {}
    while (record := call(sandbox, "GET", f"/webhooks/{gid}", pat_headers)).status_code == 200:
        last = record.json()["data"]
        intervals.append(seconds(last["next_attempt_after"]) - seconds(last["last_failure_at"]))
        sandbox.advance_clock(intervals[-1])
        assert sandbox.webhooks.deliver_due() == 1
    [deleted] = sandbox.webhooks.list(include_deleted=True)

    assert record.status_code == 404
    expected = [FIRST_RETRY_SECONDS * 2**n for n in range(7)]  # 30 s ... 32 min, then hourly
    assert intervals[:7] == pytest.approx(expected, abs=0.01)
    assert max(intervals) == pytest.approx(MAX_RETRY_INTERVAL_SECONDS, abs=0.01)
    # The last resend is due exactly at the deletion deadline, 24 h after the first failure; failing, it deletes.
    assert last["next_attempt_after"] == last["failure_deletion_timestamp"]
    assert seconds(last["failure_deletion_timestamp"]) == pytest.approx(first_failure + 24 * HOUR, abs=0.01)
    assert deleted["deleted_reason"] == DELETED_AFTER_FAILURES
    assert seconds(deleted["deleted_at"]) >= first_failure + 24 * HOUR
    assert all(not d["ok"] and d["kind"] == "heartbeat" for d in deleted["deliveries"])
    assert call(sandbox, "GET", "/webhooks", pat_headers, workspace=ORG).json()["data"] == []
    set_task(sandbox, pat_headers, TASKS[0], name="After deletion")
    assert sandbox.webhooks.deliver_due() == 0


def test_a_target_slower_than_the_limit_fails_the_delivery(sandbox, pat_headers, target):
    gid, _ = created(sandbox, pat_headers, PROJECT, target)
    sandbox.webhooks.delivery_timeout_seconds = 0.3
    target.delay_seconds = 1.0
    set_task(sandbox, pat_headers, TASKS[0], completed=True)

    sandbox.webhooks.deliver_due()

    record = health(sandbox, pat_headers, gid)
    assert str(record["last_failure_content"]).startswith("Timed out")
    assert record["next_attempt_after"] is not None


def test_fail_target_fails_deliveries_without_reaching_the_target(sandbox, pat_headers, target):
    gid, _ = created(sandbox, pat_headers, PROJECT, target)
    answer = control(sandbox, "webhooks/fail_target", count=1, status=503, content="Down for maintenance")
    set_task(sandbox, pat_headers, TASKS[0], completed=True)

    attempts = control(sandbox, "webhooks/deliver")["attempts"]

    assert (answer["pending_failures"], attempts) == (1, 1)
    assert len(target.deliveries()) == 1  # only the first heartbeat
    record = health(sandbox, pat_headers, gid)
    assert record["last_failure_content"] == "503 Service Unavailable\n\nDown for maintenance"
    inspected = control_webhooks(sandbox)[0]["deliveries"][-1]
    assert (inspected["ok"], inspected["simulated"], inspected["status"]) == (False, True, 503)


def test_an_inactive_webhook_sends_nothing_and_a_heartbeat_can_be_forced(sandbox, pat_headers, target):
    gid, _ = created(sandbox, pat_headers, PROJECT, target)

    control(sandbox, "webhooks/set_active", webhook_gid=gid, active=False)
    set_task(sandbox, pat_headers, TASKS[0], completed=True)
    control(sandbox, "webhooks/heartbeat", webhook_gid=gid)
    while_inactive = sandbox.webhooks.deliver_due()
    inactive = health(sandbox, pat_headers, gid)["active"]
    control(sandbox, "webhooks/set_active", webhook_gid=gid, active=True)
    after = sandbox.webhooks.deliver_due()

    assert (while_inactive, inactive, after) == (0, False, 1)
    assert [d.body for d in target.deliveries()] == [b'{"events":[]}', b'{"events":[]}']


# --- Background dispatcher and the clock --------------------------------------------------------------------------


def test_the_background_dispatcher_delivers_on_its_own_and_stops_with_the_sandbox(pat_headers, target):
    sandbox = AsanaSandbox().start()
    try:
        sandbox.set_clock_speed(100)  # the first heartbeat's second passes in 10 ms
        assert create(sandbox, pat_headers, PROJECT, target.url).status_code == 201
        assert target.wait_for(lambda: len(target.deliveries()) == 1)
        set_task(sandbox, pat_headers, TASKS[0], completed=True)
        assert target.wait_for(lambda: len(target.events()) == 1)
        assert sandbox.webhooks.dispatching
    finally:
        sandbox.stop()

    assert not sandbox.webhooks.dispatching


def test_the_clock_advances_and_speeds_up_without_going_back():
    clock = SandboxClock()
    start = clock.now()

    clock.advance(HOUR)
    advanced = clock.now()
    clock.set_speed(1000)
    sped = clock.now()
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="at least 1"):
        clock.set_speed(0.5)
    clock.reset()

    assert advanced - start >= HOUR
    assert sped >= advanced
    assert clock.speed == 1.0
    assert clock.now() < advanced


def test_the_clock_speed_is_a_control(sandbox):
    answer = control(sandbox, "clock/speed", factor=60)

    assert answer["factor"] == 60
    assert sandbox.state.clock.speed == 60
    control(sandbox, "reset")
    assert sandbox.state.clock.speed == 1


# --- List, get, put, delete ---------------------------------------------------------------------------------------


def control_webhooks(sandbox, **params: str) -> list[dict[str, Any]]:
    response = requests.get(f"{sandbox.base_url}/_sandbox/webhooks", params=params, timeout=10)
    assert response.status_code == 200
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def test_list_needs_a_workspace_and_narrows_to_a_resource_and_pages(sandbox, pat_headers, target):
    on_project, _ = created(sandbox, pat_headers, PROJECT, target)
    on_task, _ = created(sandbox, pat_headers, TASKS[0], target)

    missing = call(sandbox, "GET", "/webhooks", pat_headers)
    everything = call(sandbox, "GET", "/webhooks", pat_headers, workspace=ORG)
    narrowed = call(sandbox, "GET", "/webhooks", pat_headers, workspace=ORG, resource=TASKS[0])
    first_page = call(sandbox, "GET", "/webhooks", pat_headers, workspace=ORG, limit=1)
    second_page = requests.get(first_page.json()["next_page"]["uri"], headers=pat_headers, timeout=10)
    other_workspace = call(sandbox, "GET", "/webhooks", pat_headers, workspace=demo.PLAIN_WORKSPACE_GID)
    selected = call(sandbox, "GET", "/webhooks", pat_headers, workspace=ORG, opt_fields="active,resource.name")

    assert (missing.status_code, error_message(missing)) == (400, "workspace: Missing input")
    assert [w["gid"] for w in everything.json()["data"]] == [on_project, on_task]
    assert [w["gid"] for w in narrowed.json()["data"]] == [on_task]
    assert [w["gid"] for w in first_page.json()["data"]] == [on_project]
    assert [w["gid"] for w in second_page.json()["data"]] == [on_task]
    assert other_workspace.json()["data"] == []
    assert selected.json()["data"][0] == {
        "gid": on_project,
        "active": True,
        "resource": {"gid": PROJECT, "resource_type": "project", "name": "Vulnerability triage 001"},
    }


def test_webhooks_belong_to_the_user_and_app_that_made_them(sandbox, pat_headers, target):
    gid, _ = created(sandbox, pat_headers, PROJECT, target)
    member = {"Authorization": f"Bearer {sandbox.issue_pat(demo.ORG_MEMBER_USER_GID)}"}
    admin_via_oauth = token_for(
        sandbox, client_id=demo.DEMO_APP_CLIENT_ID, client_secret=demo.DEMO_APP_CLIENT_SECRET, scope=None
    )

    assert call(sandbox, "GET", "/webhooks", member, workspace=ORG).json()["data"] == []
    assert call(sandbox, "GET", f"/webhooks/{gid}", member).status_code == 403
    assert call(sandbox, "DELETE", f"/webhooks/{gid}", member).status_code == 403
    assert call(sandbox, "GET", "/webhooks", admin_via_oauth, workspace=ORG).json()["data"] == []
    assert create(sandbox, admin_via_oauth, PROJECT, target.url).status_code == 201  # no duplicate across apps


def test_the_operations_need_the_specs_scopes(sandbox, target):
    granular = token_for(sandbox)  # the granular demo app: webhooks:write, but neither :read nor :delete
    response = create(sandbox, granular, PROJECT, target.url)
    gid = response.json()["data"]["gid"]

    listing = call(sandbox, "GET", "/webhooks", granular, workspace=ORG)
    deletion = call(sandbox, "DELETE", f"/webhooks/{gid}", granular)
    update = call(sandbox, "PUT", f"/webhooks/{gid}", granular, {"filters": []})

    assert response.status_code == 201, response.text
    assert (listing.status_code, error_message(listing)) == (
        403,
        "Forbidden: this token does not have the required scope `webhooks:read`.",
    )
    assert (deletion.status_code, error_message(deletion)) == (
        403,
        "Forbidden: this token does not have the required scope `webhooks:delete`.",
    )
    assert update.status_code == 200, update.text


def test_delete_removes_the_webhook_and_stops_its_deliveries(sandbox, pat_headers, target):
    gid, _ = created(sandbox, pat_headers, PROJECT, target)
    set_task(sandbox, pat_headers, TASKS[0], completed=True)  # queued, never sent

    deletion = call(sandbox, "DELETE", f"/webhooks/{gid}", pat_headers)
    again = call(sandbox, "DELETE", f"/webhooks/{gid}", pat_headers)
    sandbox.advance_clock(HEARTBEAT_INTERVAL_SECONDS)

    assert (deletion.status_code, deletion.json()) == (200, {"data": {}})
    assert again.status_code == 404
    assert call(sandbox, "GET", f"/webhooks/{gid}", pat_headers).status_code == 404
    assert sandbox.webhooks.deliver_due() == 0
    assert len(target.deliveries()) == 1
    assert sandbox.webhooks.get(gid)["deleted_reason"] == "deleted through the API"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/webhooks/1209999999999999", 404),
        ("GET", "/webhooks/abc", 400),
        ("PUT", "/webhooks/1209999999999999", 404),
        ("DELETE", "/webhooks/1209999999999999", 404),
    ],
)
def test_unknown_webhooks(sandbox, pat_headers, method, path, status):
    data: dict[str, Any] | None = {"filters": []} if method == "PUT" else None

    assert call(sandbox, method, path, pat_headers, data).status_code == status


def test_put_checks_the_filters_as_the_create_does(sandbox, pat_headers, target):
    gid, _ = created(sandbox, pat_headers, ORG, target, [{"resource_type": "project"}])

    emptied = call(sandbox, "PUT", f"/webhooks/{gid}", pat_headers, {"filters": []})
    without = call(sandbox, "PUT", f"/webhooks/{gid}", pat_headers, {})

    assert emptied.status_code == 400
    assert (without.status_code, error_message(without)) == (400, "filters: Missing input")
    assert health(sandbox, pat_headers, gid)["filters"] == [{"resource_type": "project"}]


def test_the_control_listing_shows_health_and_deliveries_but_never_the_secret(sandbox, pat_headers, target):
    gid, secret = created(sandbox, pat_headers, PROJECT, target)
    set_task(sandbox, pat_headers, TASKS[0], completed=True)
    sandbox.webhooks.deliver_due()

    response = requests.get(f"{sandbox.base_url}/_sandbox/webhooks", timeout=10)

    assert secret not in response.text
    body = response.json()
    [webhook] = body["data"]
    assert webhook["gid"] == gid
    assert webhook["user_gid"] == demo.DEMO_ADMIN_USER_GID
    assert [(d["kind"], d["events"], d["ok"]) for d in webhook["deliveries"]] == [
        ("heartbeat", 0, True),
        ("events", 1, True),
    ]
    assert webhook["deliveries"][1]["body"].encode() == target.deliveries()[1].body
    assert [h["ok"] for h in body["handshakes"]] == [True]
