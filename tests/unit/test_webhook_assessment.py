"""The verdict on a webhook's health, from our record and Asana's view: what the list shows and what the hourly check
re-creates."""

from __future__ import annotations

from typing import Any

import pytest

from asana_integration.models.webhooks import WebhookKind, WebhookRecord, WebhookState
from asana_integration.webhooks.assessment import HEARTBEAT_OVERDUE_SECONDS, assess

NOW = 1_800_000_000.0


def record(state: WebhookState = WebhookState.ACTIVE, **fields: Any) -> WebhookRecord:
    values: dict[str, Any] = {
        "prefix": "p" * 32,
        "org_id": "org-a",
        "state": state,
        "kind": WebhookKind.CREATED,
        "created_by": "admin-a",
        "created_at": int(NOW) - 3600,
        "handshake_deadline": int(NOW) - 3540,
        "handshake_at": int(NOW) - 3590,
        "activated_at": int(NOW) - 3590,
        "asana_gid": "1211000000000001",
        **fields,
    }
    return WebhookRecord(**values)


def test_an_active_webhook_heard_from_recently_is_healthy():
    verdict = assess(record(last_heartbeat_at=int(NOW) - 60), {"active": True, "last_success_at": "x"}, "ok", NOW)
    assert verdict.health == "healthy"
    assert not verdict.needs_recreation


@pytest.mark.parametrize(
    ("silent_for", "health"),
    [(HEARTBEAT_OVERDUE_SECONDS - 1, "healthy"), (HEARTBEAT_OVERDUE_SECONDS + 1, "heartbeat_overdue")],
)
def test_a_heartbeat_is_overdue_only_after_8_hours_and_the_margin(silent_for, health):
    verdict = assess(record(last_heartbeat_at=int(NOW - silent_for), handshake_at=int(NOW - silent_for)), {}, "ok", NOW)
    assert verdict.health == health
    assert verdict.needs_recreation is (health == "heartbeat_overdue")


def test_a_delivery_counts_as_being_heard_from():
    long_ago = int(NOW) - 2 * HEARTBEAT_OVERDUE_SECONDS
    verdict = assess(record(handshake_at=long_ago, last_delivery_at=int(NOW) - 10), {}, "ok", NOW)
    assert verdict.health == "healthy"


@pytest.mark.parametrize(
    ("view", "health"),
    [
        ({"active": False}, "inactive"),
        ({"last_failure_at": "2027-01-15T08:00:00Z", "last_success_at": "2027-01-15T07:00:00Z"}, "failing"),
        ({"last_failure_at": "2027-01-15T08:00:00Z", "last_success_at": None}, "failing"),
        ({"last_failure_at": "2027-01-15T07:00:00Z", "last_success_at": "2027-01-15T08:00:00Z"}, "healthy"),
        (
            {
                "last_failure_at": "2027-01-15T07:00:00Z",
                "last_success_at": "2027-01-15T08:00:00Z",
                "failure_deletion_timestamp": "2027-01-16T07:00:00Z",
            },
            "failing",
        ),
    ],
)
def test_what_asana_reports_decides_first(view, health):
    verdict = assess(record(last_heartbeat_at=int(NOW) - 60), view, "ok", NOW)
    assert verdict.health == health


def test_a_failing_webhook_s_message_says_since_when_and_when_asana_deletes_it():
    view = {
        "last_failure_at": "2027-01-15T08:00:00Z",
        "delivery_retry_count": 4,
        "failure_deletion_timestamp": "2027-01-16T08:00:00Z",
        "last_failure_content": "502 Bad Gateway",
    }
    message = assess(record(), view, "ok", NOW).message
    assert "since 2027-01-15T08:00:00Z (4 retries)" in message
    assert "deletes the webhook at 2027-01-16T08:00:00Z" in message
    assert message.endswith("Last failure: 502 Bad Gateway")


def test_a_webhook_asana_no_longer_has_is_recreated():
    verdict = assess(record(last_heartbeat_at=int(NOW)), None, "not_found", NOW)
    assert verdict.health == "deleted_at_asana"
    assert verdict.needs_recreation


@pytest.mark.parametrize("status", ["unavailable", "not_linked"])
def test_without_asana_s_view_the_heartbeat_decides(status):
    assert assess(record(last_heartbeat_at=int(NOW) - 60), None, status, NOW).health == "healthy"
    silent = record(handshake_at=int(NOW - HEARTBEAT_OVERDUE_SECONDS - 1))
    assert assess(silent, None, status, NOW).health == "heartbeat_overdue"


def test_pending_and_deleted_webhooks_are_never_recreated():
    armed = record(WebhookState.PENDING, handshake_deadline=int(NOW) + 60, handshake_at=None)
    expired = record(WebhookState.PENDING, handshake_deadline=int(NOW) - 1, handshake_at=None)
    deleted = record(WebhookState.DELETED, deleted_at=int(NOW) - 5)

    assert assess(armed, None, "not_asked", NOW).health == "awaiting_handshake"
    assert assess(expired, None, "not_asked", NOW).health == "handshake_expired"
    assert assess(deleted, None, "not_found", NOW).health == "deleted"
    assert not any(assess(r, None, "not_found", NOW).needs_recreation for r in (armed, expired, deleted))
