"""Which webhook states accept a handshake or a delivery (models/webhooks.py): a handshake only while pending, without
a secret and strictly before the deadline; a delivery only when active and holding a secret."""

from __future__ import annotations

import pytest

from asana_integration.models.webhooks import DeliveryTarget, WebhookKind, WebhookRecord, WebhookState

DEADLINE = 1_800_000_060


def record(
    state: WebhookState, *, secret: bytes | None = None, kind: WebhookKind = WebhookKind.CREATED
) -> WebhookRecord:
    return WebhookRecord(
        prefix="p" * 32,
        org_id="org-a",
        state=state,
        kind=kind,
        created_by="admin-a",
        created_at=DEADLINE - 60,
        handshake_deadline=DEADLINE,
        secret_ciphertext=secret,
    )


@pytest.mark.parametrize(
    ("state", "secret", "now", "awaits"),
    [
        (WebhookState.PENDING, None, DEADLINE - 0.001, True),
        (WebhookState.PENDING, None, DEADLINE, False),  # the deadline itself is too late
        (WebhookState.PENDING, b"ciphertext", DEADLINE - 30, False),  # a second handshake
        (WebhookState.ACTIVE, None, DEADLINE - 30, False),
        (WebhookState.DELETED, None, DEADLINE - 30, False),
    ],
)
def test_a_handshake_is_awaited_only_while_pending_without_a_secret_and_before_the_deadline(state, secret, now, awaits):
    assert record(state, secret=secret).awaits_handshake(now) is awaits


@pytest.mark.parametrize(
    ("state", "secret", "accepts"),
    [
        (WebhookState.ACTIVE, b"ciphertext", True),
        (WebhookState.ACTIVE, None, False),
        (WebhookState.PENDING, b"ciphertext", False),
        (WebhookState.DELETED, b"ciphertext", False),
    ],
)
def test_deliveries_are_accepted_only_by_an_active_webhook_holding_a_secret(state, secret, accepts):
    target = DeliveryTarget(
        prefix="p" * 32, org_id="org-a", state=state, kind=WebhookKind.CREATED, secret_ciphertext=secret
    )

    assert target.accepts_deliveries is accepts
    assert record(state, secret=secret).accepts_deliveries is accepts
    assert record(state, secret=secret).has_secret is (secret is not None)


@pytest.mark.parametrize(
    ("kind", "active_on_handshake", "applies_events"),
    [
        (WebhookKind.CREATED, False, True),  # Asana's 201 confirms it first
        (WebhookKind.EXPECTED_MANUAL, True, True),
        (WebhookKind.TEST, True, False),  # its events prove the path and stop there
    ],
)
def test_what_each_kind_of_webhook_does_on_its_handshake_and_with_its_events(kind, active_on_handshake, applies_events):
    assert kind.active_on_handshake is active_on_handshake
    assert kind.applies_events is applies_events
