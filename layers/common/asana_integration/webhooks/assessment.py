"""How a webhook is doing, from this integration's record and Asana's view of it: one verdict, for the list the admin
page shows and for the scheduled health check that repairs what is broken.

Asana's rules (fact sheet §2): a heartbeat comes every 8 hours (and at the handshake); a delivery that fails is retried
with backoff, and 24 hours without a success delete the webhook. So a webhook is in trouble when Asana says so
(``active`` false, failures since the last success, or no such webhook any more), or when no heartbeat nor delivery
has reached us for longer than a heartbeat interval and a margin, whatever Asana says: then Asana is sending
somewhere else, or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from asana_integration.models.webhooks import WebhookRecord, WebhookState
from asana_integration.webhooks.api_models import Health

HEARTBEAT_INTERVAL_SECONDS = 8 * 3600
# Asana's heartbeat may come late like any delivery (most within 10 minutes, it says): an hour's margin.
HEARTBEAT_MARGIN_SECONDS = 3600
HEARTBEAT_OVERDUE_SECONDS = HEARTBEAT_INTERVAL_SECONDS + HEARTBEAT_MARGIN_SECONDS

AsanaStatus = Literal["ok", "not_found", "unavailable", "not_linked", "not_asked"]
# Verdicts on an active webhook that the health check repairs by re-creating it.
NEEDS_RECREATION: frozenset[Health] = frozenset({"failing", "inactive", "deleted_at_asana", "heartbeat_overdue"})


@dataclass(frozen=True, slots=True)
class Assessment:
    health: Health
    message: str

    @property
    def needs_recreation(self) -> bool:
        return self.health in NEEDS_RECREATION


def iso(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds") if epoch is not None else None


def last_heard(record: WebhookRecord) -> int | None:
    """When Asana was last heard from: a heartbeat, a delivery, or the handshake itself."""
    times = [t for t in (record.last_heartbeat_at, record.last_delivery_at, record.handshake_at) if t is not None]
    return max(times) if times else None


def assess(record: WebhookRecord, view: Mapping[str, Any] | None, status: AsanaStatus, now: float) -> Assessment:
    """The verdict on one webhook. ``view`` is Asana's WebhookResponse when ``status`` is ``ok``."""
    if record.state is WebhookState.DELETED:
        return Assessment("deleted", f"Deleted at {iso(record.deleted_at) or 'an unknown time'}; nothing is accepted.")
    if record.state is WebhookState.PENDING:
        return _pending(record, now)
    return _asana_verdict(view, status) or _heard_verdict(record, view, status, now)


def _pending(record: WebhookRecord, now: float) -> Assessment:
    if now < record.handshake_deadline:
        return Assessment(
            "awaiting_handshake",
            f"Waiting for Asana's handshake until {iso(record.handshake_deadline)}. Create the webhook in Asana "
            "with the target URL shown; exactly one handshake is accepted.",
        )
    return Assessment(
        "handshake_expired",
        "No handshake arrived before the window closed, so this URL accepts nothing. Arm a new handshake window "
        "and create the webhook in Asana within it.",
    )


def _asana_verdict(view: Mapping[str, Any] | None, status: AsanaStatus) -> Assessment | None:
    """Trouble Asana reports: no such webhook, inactive, or failing deliveries. None when it reports none."""
    if status == "not_found":
        return Assessment(
            "deleted_at_asana",
            "Asana has no such webhook any more (deleted, possibly after 24 hours of failed deliveries). The hourly "
            "health check re-creates it.",
        )
    if status != "ok" or view is None:
        return None
    if view.get("active") is False:
        return Assessment("inactive", "Asana reports the webhook as inactive: it sends nothing.")
    failing = _failing_since(view)
    if failing is None:
        return None
    content = str(view.get("last_failure_content") or "").strip()
    deletion = view.get("failure_deletion_timestamp")
    message = f"Asana's deliveries have been failing since {failing}"
    message += f" ({view.get('delivery_retry_count') or 0} retries)"
    message += f"; Asana deletes the webhook at {deletion} unless one succeeds." if deletion else "."
    if content:
        message += f" Last failure: {content[:300]}"
    return Assessment("failing", message)


def _heard_verdict(
    record: WebhookRecord, view: Mapping[str, Any] | None, status: AsanaStatus, now: float
) -> Assessment:
    """What our own record says: when Asana was last heard from."""
    heard = last_heard(record)
    baseline = heard if heard is not None else record.activated_at or record.created_at
    if now - baseline > HEARTBEAT_OVERDUE_SECONDS:
        return Assessment(
            "heartbeat_overdue",
            f"Nothing from Asana since {iso(baseline)}: its heartbeat comes every 8 hours. Asana may be sending "
            "elsewhere or not at all; the hourly health check re-creates the webhook.",
        )
    heard_text = f"Asana was last heard from at {iso(heard)}." if heard is not None else "No heartbeat yet."
    if status == "ok":
        success = view.get("last_success_at") if view is not None else None
        since = f" Last success per Asana: {success}." if success else ""
        return Assessment("healthy", f"Active. {heard_text}{since}")
    if status == "not_linked":
        return Assessment(
            "healthy",
            f"Active. {heard_text} Asana does not list this webhook for the integration's identity (made with "
            "another token or app), so its Asana-side health cannot be shown.",
        )
    return Assessment("unknown" if heard is None else "healthy", f"{heard_text} Asana's view could not be read.")


def _failing_since(view: Mapping[str, Any]) -> str | None:
    """The last failure, when it is newer than the last success (ISO 8601 in UTC sorts as text)."""
    failure = view.get("last_failure_at")
    success = view.get("last_success_at")
    if not isinstance(failure, str) or not failure:
        return None
    if view.get("failure_deletion_timestamp"):
        return failure
    if isinstance(success, str) and success and _parse(success) >= _parse(failure):
        return None
    return failure


def _parse(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
