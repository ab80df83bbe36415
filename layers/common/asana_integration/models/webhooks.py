"""An Asana webhook as this integration records it: who it belongs to, where it stands, what it watches.

Each webhook gets its own unguessable path prefix, the only path segment after ``/asana/webhook/``; Asana posts its
handshake and deliveries there. The record is keyed by that prefix, so a request finds its webhook (and nothing
else) from its URL alone.

Lifecycle (``state``):

* ``pending``: armed for exactly one handshake until ``handshake_deadline``. A webhook created from SecureDB stays
  pending after its handshake until Asana's 201 confirms the same secret (``activate``); one made by hand in Asana
  (``expected-manual``) and a test webhook become active with their handshake, since no 201 will ever reach us.
* ``active``: deliveries signed with its secret are accepted.
* ``deleted``: refused like an unknown prefix; the record lingers (TTL) so what happened can still be read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class WebhookState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    DELETED = "deleted"


class WebhookKind(StrEnum):
    CREATED = "created"  # created from SecureDB through Asana's POST /webhooks (the 201 is cross-checked)
    EXPECTED_MANUAL = "expected-manual"  # made by an admin in Asana while SecureDB held a handshake window open
    TEST = "test"  # the built-in test handshake: deliveries are checked and answered, never applied

    @property
    def active_on_handshake(self) -> bool:
        """Whether the handshake alone makes the webhook active (no 201 from Asana comes to cross-check it)."""
        return self is not WebhookKind.CREATED

    @property
    def applies_events(self) -> bool:
        """Whether its deliveries reach the mirror. A test webhook's events prove the path, and stop there."""
        return self is not WebhookKind.TEST


@dataclass(frozen=True)
class WebhookRecord:
    """A stored webhook. The secret stays KMS ciphertext here: reading a record never decrypts it."""

    prefix: str
    org_id: str
    state: WebhookState
    kind: WebhookKind
    created_by: str
    created_at: int  # epoch seconds, like every time below
    handshake_deadline: int
    resource_gid: str | None = None
    resource_type: str | None = None
    filters: Sequence[Mapping[str, Any]] = ()
    asana_gid: str | None = None
    handshake_at: int | None = None
    activated_at: int | None = None
    last_delivery_at: int | None = None
    last_heartbeat_at: int | None = None
    deleted_at: int | None = None
    secret_ciphertext: bytes | None = field(default=None, repr=False)

    @property
    def has_secret(self) -> bool:
        return self.secret_ciphertext is not None

    @property
    def accepts_deliveries(self) -> bool:
        return self.state is WebhookState.ACTIVE and self.has_secret

    def awaits_handshake(self, now: float) -> bool:
        """Pending, no secret yet, and still inside its window: the only state a handshake is accepted in."""
        return self.state is WebhookState.PENDING and not self.has_secret and now < self.handshake_deadline


@dataclass(frozen=True)
class DeliveryTarget:
    """The part of a record a delivery is checked against, read alone on the webhook function's hot path."""

    prefix: str
    org_id: str
    state: WebhookState
    kind: WebhookKind
    last_delivery_at: int | None = None
    secret_ciphertext: bytes | None = field(default=None, repr=False)

    @property
    def accepts_deliveries(self) -> bool:
        return self.state is WebhookState.ACTIVE and self.secret_ciphertext is not None
