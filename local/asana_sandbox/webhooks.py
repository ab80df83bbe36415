"""Asana's webhooks in the sandbox: the registry, which events reach which webhook, and delivery with retries.

Behaviour, as Asana documents it (fact sheet §2; the wire format is in webhook_delivery.py):

- `POST /webhooks` (api_webhooks.py) handshakes with the target while the request is open, then registers the webhook;
- every recorded event (changes.py records them for Asana's write endpoints and the control API alike) is queued for
  each live webhook whose resource it "bubbles up" to (the event's streams: the resource, the projects a task is in,
  its parent, the team and the workspace) and that passes at least one of the webhook's filters (or has none);
- webhooks on a workspace or team need filters, which can only name `project`, `team_membership` or
  `workspace_membership` events and cannot use `fields`; so they get no task events ("task/subtask/story events are
  not propagated");
- heartbeats (`{"events": []}`) come right after the handshake and every 8 hours;
- a delivery that fails (non-2xx, no answer, or slower than 10 s) is resent with exponential backoff; after 24 hours
  without a success the webhook is deleted. The health fields (`last_success_at`, `last_failure_at`,
  `last_failure_content`, `delivery_retry_count`, `next_attempt_after`, `failure_deletion_timestamp`) say where it is.

Every time here is the sandbox clock's (clock.py), so tests can `advance` it or `set_speed` it.

Python API (`sandbox.webhooks`), for tests and the product's own webhook tests:

- `list(include_deleted=False)`: every webhook, with its health, owner, queue and delivery log (never the secret);
  `get(gid)`: one of them; `handshakes()`: every handshake attempt, successful or not;
- `deliver_due()`: deliver everything due now, in this thread, and return the number of attempts (deterministic
  tests construct the sandbox with `webhook_dispatcher=False`; otherwise a background thread does this as soon as
  an event is queued and every 50 ms of real time for timers, and stops with the sandbox);
- `fail_target(count, status=500, content=..., timeout=False, webhook_gid=None, handshake=False)`: the next `count`
  deliveries (or handshakes) fail as if the target had answered `status` (or timed out), without contacting it;
- `heartbeat_now(gid=None)`: make a heartbeat due now; `set_active(gid, active)`: an inactive webhook sends nothing;
- settings: `allow_loopback_targets` (True by default: local mode's receiver listens on 127.0.0.1; False applies
  Asana's 403 for localhost-type targets), `delivery_timeout_seconds` (10, Asana's limit; real seconds).

Sandbox guesses, where Asana's docs are silent:

- a webhook belongs to the user and the app (OAuth client; PATs count as one app) that created it; `GET /webhooks`
  lists only those, and another user's or app's webhook answers 403;
- the first heartbeat follows the handshake after `FIRST_HEARTBEAT_DELAY_SECONDS` (1 s), and nothing is delivered
  before it, so the creator has stored the secret from the 201 before the first signed request (Asana's deliveries
  lag about a minute on average; the sandbox delivers as soon as something is due);
- one delivery carries up to 100 queued events, oldest first; a failed delivery is resent unchanged (same bytes),
  and nothing else is sent to that webhook until it succeeds or the webhook is deleted; a heartbeat that falls due
  meanwhile waits behind it;
- backoff: the first retry 30 s after the failure, then doubling, capped at 1 h (consistent with "after an hour-long
  outage, resumption within ~1 h"); the last retry is at `failure_deletion_timestamp` = the first failure since the
  last success + 24 h, and if it fails too the webhook is deleted;
- `delivery_retry_count` counts the resends made since the last success (0 after the first failure);
  `next_attempt_after` is set only while a resend is scheduled; `failure_deletion_timestamp` only while failing;
- `active` is true from creation (the spec's example shows false; what it means there is undocumented); inactive
  webhooks (only through `set_active`) queue and send nothing;
- events recorded before a webhook existed are never delivered to it; a webhook outlives its resource (and dataset
  switches), it simply gets no more events;
- the sandbox's workspace-membership events name the user (changes.py), so a filter with `resource_type:
  workspace_membership` matches events on users whose parent is a workspace.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local.asana_sandbox import errors, webhook_delivery
from local.asana_sandbox.errors import AsanaError
from local.asana_sandbox.events import Event, EventLog, Ref
from local.asana_sandbox.models import Project, Task, Team, Workspace
from local.asana_sandbox.store import SandboxStore
from local.asana_sandbox.timestamps import iso, iso_or_none
from local.asana_sandbox.webhook_delivery import DUPLICATED_WEBHOOK, HANDSHAKE_FAILED, Outcome

HEARTBEAT_INTERVAL_SECONDS = 8 * 3600.0
FAILURE_DELETION_SECONDS = 24 * 3600.0
FIRST_RETRY_SECONDS = 30.0
MAX_RETRY_INTERVAL_SECONDS = 3600.0
FIRST_HEARTBEAT_DELAY_SECONDS = 1.0
MAX_EVENTS_PER_DELIVERY = 100
# Real seconds between two passes of the background dispatcher.
DISPATCH_INTERVAL_SECONDS = 0.05
# Delivery attempts and handshakes kept for inspection (per webhook / per sandbox).
LOG_LIMIT = 500

ACTIONS = ("added", "changed", "removed", "deleted", "undeleted")
# Resources whose webhooks must have filters (portfolios too in Asana; the sandbox does not model them).
HIGHER_LEVEL = ("workspace", "team")
HIGHER_LEVEL_FILTER_TYPES = ("project", "team_membership", "workspace_membership")
DELETED_AFTER_FAILURES = "no successful delivery for 24 hours"

_log = logging.getLogger("local.asana_sandbox.webhooks")

# Inspection records (Webhooks.list and .handshakes); an alias because the class's own `list` method shadows the
# builtin in its annotations.
type Records = list[dict[str, Any]]


# --- Filters ------------------------------------------------------------------------------------------------------


def _filter_type(event: Event) -> str:
    parent = event.parent
    if event.resource.resource_type == "user" and parent is not None and parent.resource_type == "workspace":
        return "workspace_membership"
    return event.resource.resource_type


@dataclass(frozen=True)
class WebhookFilter:
    resource_type: str | None = None
    resource_subtype: str | None = None
    action: str | None = None
    fields: tuple[str, ...] | None = None

    def passes(self, event: Event) -> bool:
        if self.resource_type is not None and self.resource_type != _filter_type(event):
            return False
        if self.resource_subtype is not None and self.resource_subtype != event.resource.resource_subtype:
            return False
        if self.action is not None and self.action != event.action:
            return False
        if self.fields:
            return event.change is not None and event.change.field in self.fields
        return True

    def render(self) -> dict[str, Any]:
        """The keys that were given, in the spec's order."""
        out: dict[str, Any] = {}
        for name in ("resource_type", "resource_subtype", "action"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.fields is not None:
            out["fields"] = list(self.fields)
        return out


def parse_filters(raw: Any, resource_type: str) -> list[WebhookFilter]:
    """A request's `filters` for a webhook on a `resource_type`, checked; raises Asana's 400 (wording: guesses)."""
    higher = resource_type in HIGHER_LEVEL
    if raw is None:
        raw = []
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise AsanaError(400, "filters: Not an array of filter objects.")
    if higher and not raw:
        raise AsanaError(400, f"filters: Webhooks on a {resource_type} must specify filters.")
    return [_parse_filter(item, resource_type) for item in raw]


def _parse_filter(item: dict[str, Any], resource_type: str) -> WebhookFilter:
    unknown = set(item) - {"resource_type", "resource_subtype", "action", "fields"}
    if unknown:
        raise AsanaError(400, f"filters: Unknown filter property {sorted(unknown)[0]}.")
    for name in ("resource_type", "resource_subtype", "action"):
        if name in item and not isinstance(item[name], str):
            raise AsanaError(400, f"filters.{name}: Not a string: {item[name]!r}")
    action = item.get("action")
    if action is not None and action not in ACTIONS:
        raise AsanaError(400, f"filters.action: Must be one of {', '.join(ACTIONS)}.")
    fields = item.get("fields")
    if fields is not None:
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise AsanaError(400, "filters.fields: Not an array of field names.")
        if resource_type in HIGHER_LEVEL:
            raise AsanaError(400, f"filters.fields: Not supported on webhooks on a {resource_type}.")
        if action != "changed":
            raise AsanaError(400, "filters.fields: Only valid with action `changed`.")
    if resource_type in HIGHER_LEVEL and item.get("resource_type") not in HIGHER_LEVEL_FILTER_TYPES:
        allowed = ", ".join(HIGHER_LEVEL_FILTER_TYPES)
        raise AsanaError(400, f"filters.resource_type: Webhooks on a {resource_type} can filter on {allowed}.")
    return WebhookFilter(
        item.get("resource_type"), item.get("resource_subtype"), action, tuple(fields) if fields is not None else None
    )


# --- Records ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One request to a target, kept for inspection."""

    at: float
    kind: str  # "heartbeat" | "events"
    events: int
    retry: int  # 0 for a first attempt, n for the n-th resend
    outcome: Outcome
    body: bytes
    simulated: bool

    def render(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "kind": self.kind,
            "events": self.events,
            "retry": self.retry,
            "ok": self.outcome.ok,
            "status": self.outcome.status,
            "failure": self.outcome.detail or None,
            "seconds": round(self.outcome.seconds, 3),
            "simulated": self.simulated,
            "body": self.body.decode(),
        }


@dataclass(frozen=True)
class Handshake:
    at: float
    target: str
    resource_gid: str
    outcome: Outcome
    simulated: bool

    def render(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "target": self.target,
            "resource": self.resource_gid,
            "ok": self.outcome.ok,
            "status": self.outcome.status,
            "failure": self.outcome.detail or None,
            "seconds": round(self.outcome.seconds, 3),
            "simulated": self.simulated,
        }


@dataclass
class _Delivery:
    """One request body, resent unchanged until it succeeds."""

    kind: str
    body: bytes
    events: int
    attempts: int = 0


@dataclass
class Webhook:
    gid: str
    resource: Ref
    workspace_gid: str
    target: str
    filters: list[WebhookFilter]
    secret: str = field(repr=False)
    user_gid: str
    client_id: str | None
    created_at: float
    active: bool = True
    last_success_at: float | None = None
    last_failure_at: float | None = None
    last_failure_content: str | None = None
    delivery_retry_count: int = 0
    next_attempt_after: float | None = None
    failure_deletion_timestamp: float | None = None
    next_heartbeat_at: float = 0.0
    pending: deque[Event] = field(default_factory=deque)
    in_flight: _Delivery | None = None
    log: deque[Attempt] = field(default_factory=lambda: deque(maxlen=LOG_LIMIT))
    deleted_at: float | None = None
    deleted_reason: str | None = None

    def wants(self, event: Event) -> bool:
        if not self.active or self.resource.gid not in event.streams:
            return False
        return not self.filters or any(f.passes(event) for f in self.filters)

    def owned_by(self, user_gid: str, client_id: str | None) -> bool:
        return (self.user_gid, self.client_id) == (user_gid, client_id)


@dataclass
class _FailureRule:
    remaining: int
    status: int
    content: str
    timeout: bool
    webhook_gid: str | None
    handshake: bool

    def outcome(self, timeout_seconds: float) -> Outcome:
        if self.timeout:
            return Outcome(False, None, webhook_delivery.timeout_content(timeout_seconds))
        return Outcome(False, self.status, webhook_delivery.failure_content(self.status, self.content))


# --- The registry -------------------------------------------------------------------------------------------------


class Webhooks:
    """Every webhook of one sandbox, and their deliveries (see the module docstring for the Python API).

    Lock order: the store's lock (held while changes.py records an event) may be followed by this registry's lock,
    never the reverse, so nothing here takes the store's lock while holding its own (gids are drawn before).
    """

    def __init__(
        self, store: SandboxStore, events: EventLog, clock: Callable[[], float], *, allow_loopback_targets: bool
    ) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.RLock()
        # One delivery pass at a time: a test's deliver_due() and the dispatcher never send to a webhook at once.
        self._pass_lock = threading.Lock()
        self._live: dict[str, Webhook] = {}
        self._deleted: deque[Webhook] = deque(maxlen=LOG_LIMIT)
        self._handshakes: deque[Handshake] = deque(maxlen=LOG_LIMIT)
        self._failures: list[_FailureRule] = []
        self._default_allow_loopback = allow_loopback_targets
        self.allow_loopback_targets = allow_loopback_targets
        self.delivery_timeout_seconds = webhook_delivery.DEFAULT_TIMEOUT_SECONDS
        self._dispatcher: threading.Thread | None = None
        self._stopping = threading.Event()
        # Set when an event is queued, so the dispatcher delivers it at once instead of at its next timer tick.
        self._wake = threading.Event()
        events.subscribe(self._on_event)

    def reset_switches(self) -> None:
        """Simulated failures cleared, settings back to their defaults; webhooks and their logs stay."""
        with self._lock:
            self._failures.clear()
            self.allow_loopback_targets = self._default_allow_loopback
            self.delivery_timeout_seconds = webhook_delivery.DEFAULT_TIMEOUT_SECONDS

    # --- What the REST API does ----------------------------------------------------------------------------------
    def create(
        self,
        *,
        resource: Ref,
        workspace_gid: str,
        target: str,
        filters: list[WebhookFilter],
        user_gid: str,
        client_id: str | None,
    ) -> tuple[Webhook, str]:
        """Handshake with the target, then register; returns the webhook and its secret (or raises Asana's error)."""
        webhook_delivery.check_target(target, allow_loopback=self.allow_loopback_targets)
        self._refuse_duplicate(resource.gid, target, user_gid, client_id)
        secret = webhook_delivery.new_secret()
        started = self._clock()
        simulated = self._take_failure(None, handshake=True)
        outcome = simulated or webhook_delivery.handshake(target, secret, self.delivery_timeout_seconds)
        with self._lock:
            self._handshakes.append(Handshake(started, target, resource.gid, outcome, simulated is not None))
        if not outcome.ok:
            raise AsanaError(400, HANDSHAKE_FAILED)
        gid = self._store.new_gid()  # before taking this registry's lock (see the class docstring)
        now = self._clock()
        webhook = Webhook(
            gid,
            resource,
            workspace_gid,
            target,
            filters,
            secret,
            user_gid,
            client_id,
            created_at=now,
            next_heartbeat_at=now + FIRST_HEARTBEAT_DELAY_SECONDS,
        )
        with self._lock:
            # Checked again: a concurrent create for the same resource and target may have won meanwhile.
            self._refuse_duplicate(resource.gid, target, user_gid, client_id)
            self._live[gid] = webhook
        return webhook, secret

    def _refuse_duplicate(self, resource_gid: str, target: str, user_gid: str, client_id: str | None) -> None:
        with self._lock:
            for webhook in self._live.values():
                if webhook.owned_by(user_gid, client_id) and (webhook.resource.gid, webhook.target) == (
                    resource_gid,
                    target,
                ):
                    raise AsanaError(403, DUPLICATED_WEBHOOK)

    def find(self, gid: str) -> Webhook | None:
        with self._lock:
            return self._live.get(gid)

    def owned(
        self, user_gid: str, client_id: str | None, workspace_gid: str, resource_gid: str | None
    ) -> list[Webhook]:
        """The caller's live webhooks in a workspace (optionally on one resource), in creation order."""
        with self._lock:
            return [
                w
                for w in self._live.values()
                if w.owned_by(user_gid, client_id)
                and w.workspace_gid == workspace_gid
                and (resource_gid is None or w.resource.gid == resource_gid)
            ]

    def replace_filters(self, gid: str, filters: list[WebhookFilter]) -> None:
        with self._lock:
            webhook = self._live.get(gid)
            if webhook is None:  # deleted since the caller found it
                raise errors.unknown_object("webhook", gid)
            webhook.filters = filters

    def delete(self, gid: str, reason: str = "deleted through the API") -> bool:
        with self._lock:
            webhook = self._live.pop(gid, None)
            if webhook is None:
                return False
            webhook.deleted_at = self._clock()
            webhook.deleted_reason = reason
            webhook.pending.clear()
            webhook.in_flight = None
            webhook.next_attempt_after = None
            self._deleted.append(webhook)
            return True

    # --- Events --------------------------------------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        with self._lock:
            for webhook in self._live.values():
                if webhook.wants(event):
                    webhook.pending.append(event)
                    self._wake.set()

    # --- Delivery ------------------------------------------------------------------------------------------------
    def deliver_due(self) -> int:
        """Send everything due now (retries, heartbeats, queued events); returns how many requests were attempted."""
        attempts = 0
        with self._pass_lock:
            with self._lock:
                candidates = list(self._live.values())
            for webhook in candidates:
                while True:
                    now = self._clock()
                    with self._lock:
                        delivery = self._take_due(webhook, now)
                    if delivery is None:
                        break
                    simulated = self._take_failure(webhook.gid, handshake=False)
                    outcome = simulated or webhook_delivery.deliver(
                        webhook.target, webhook.secret, delivery.body, self.delivery_timeout_seconds
                    )
                    attempts += 1
                    with self._lock:
                        succeeded = self._settle(webhook, delivery, outcome, now, simulated=simulated is not None)
                    if not succeeded:
                        break
        return attempts

    def _take_due(self, webhook: Webhook, now: float) -> _Delivery | None:
        """The delivery to attempt now, if any (lock held)."""
        if webhook.gid not in self._live or not webhook.active:
            return None
        if webhook.in_flight is not None:
            if webhook.next_attempt_after is not None and now < webhook.next_attempt_after:
                return None
            webhook.delivery_retry_count += 1
            return webhook.in_flight
        if now >= webhook.next_heartbeat_at:
            webhook.next_heartbeat_at = now + HEARTBEAT_INTERVAL_SECONDS
            webhook.in_flight = _Delivery("heartbeat", webhook_delivery.delivery_body([]), 0)
            return webhook.in_flight
        if webhook.pending and now >= webhook.created_at + FIRST_HEARTBEAT_DELAY_SECONDS:
            batch = [webhook.pending.popleft() for _ in range(min(len(webhook.pending), MAX_EVENTS_PER_DELIVERY))]
            webhook.in_flight = _Delivery("events", webhook_delivery.delivery_body(batch), len(batch))
            return webhook.in_flight
        return None

    def _settle(self, webhook: Webhook, delivery: _Delivery, outcome: Outcome, at: float, *, simulated: bool) -> bool:
        """Record an attempt's outcome and schedule what follows (lock held); True on success."""
        webhook.log.append(
            Attempt(at, delivery.kind, delivery.events, delivery.attempts, outcome, delivery.body, simulated)
        )
        delivery.attempts += 1
        if webhook.gid not in self._live:
            return False  # deleted while the request was out: "a request already in flight" may still arrive
        if outcome.ok:
            webhook.in_flight = None
            webhook.last_success_at = at
            webhook.delivery_retry_count = 0
            webhook.next_attempt_after = None
            webhook.failure_deletion_timestamp = None
            return True
        webhook.last_failure_at = at
        webhook.last_failure_content = outcome.detail
        if webhook.failure_deletion_timestamp is None:
            webhook.failure_deletion_timestamp = at + FAILURE_DELETION_SECONDS
        if at >= webhook.failure_deletion_timestamp:
            self.delete(webhook.gid, DELETED_AFTER_FAILURES)
            return False
        backoff = min(FIRST_RETRY_SECONDS * 2**webhook.delivery_retry_count, MAX_RETRY_INTERVAL_SECONDS)
        webhook.next_attempt_after = min(at + backoff, webhook.failure_deletion_timestamp)
        return False

    # --- Simulated failures --------------------------------------------------------------------------------------
    def fail_target(
        self,
        count: int = 1,
        *,
        status: int = 500,
        content: str = "Could not complete the request",
        timeout: bool = False,
        webhook_gid: str | None = None,
        handshake: bool = False,
    ) -> None:
        """Make the next `count` deliveries (of one webhook, or any) or handshakes fail without reaching the target."""
        if count < 1:
            raise ValueError("count must be at least 1")
        if not timeout and (200 <= status < 300 or not 100 <= status <= 599):
            raise ValueError("status must be a failing HTTP status (not 2xx)")
        with self._lock:
            self._failures.append(_FailureRule(count, status, content, timeout, webhook_gid, handshake))

    def _take_failure(self, webhook_gid: str | None, *, handshake: bool) -> Outcome | None:
        with self._lock:
            for rule in self._failures:
                if rule.handshake == handshake and (rule.webhook_gid is None or rule.webhook_gid == webhook_gid):
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._failures.remove(rule)
                    return rule.outcome(self.delivery_timeout_seconds)
        return None

    def pending_failures(self) -> int:
        with self._lock:
            return sum(rule.remaining for rule in self._failures)

    # --- Other switches ------------------------------------------------------------------------------------------
    def heartbeat_now(self, gid: str | None = None) -> int:
        """Make a heartbeat due now for one webhook (or all); returns how many."""
        now = self._clock()
        with self._lock:
            targets = [self._existing(gid)] if gid is not None else list(self._live.values())
            for webhook in targets:
                webhook.next_heartbeat_at = min(webhook.next_heartbeat_at, now)
            return len(targets)

    def set_active(self, gid: str, active: bool) -> None:
        with self._lock:
            webhook = self._existing(gid)
            webhook.active = active
            if not active:
                webhook.pending.clear()

    def _existing(self, gid: str) -> Webhook:
        webhook = self._live.get(gid)
        if webhook is None:
            raise ValueError(f"no live webhook {gid}")
        return webhook

    # --- Inspection ----------------------------------------------------------------------------------------------
    def list(self, *, include_deleted: bool = False) -> Records:
        with self._lock:
            webhooks = [*self._live.values(), *(self._deleted if include_deleted else ())]
            return [self._inspect(w) for w in webhooks]

    def get(self, gid: str) -> dict[str, Any] | None:
        with self._lock:
            webhook = self._live.get(gid) or next((w for w in self._deleted if w.gid == gid), None)
            return self._inspect(webhook) if webhook is not None else None

    def handshakes(self) -> Records:
        with self._lock:
            return [h.render() for h in self._handshakes]

    def _inspect(self, webhook: Webhook) -> dict[str, Any]:
        return {
            **self.render(webhook),
            "user_gid": webhook.user_gid,
            "client_id": webhook.client_id,
            "pending_events": len(webhook.pending),
            "in_flight": webhook.in_flight.kind if webhook.in_flight else None,
            "next_heartbeat_at": iso(webhook.next_heartbeat_at),
            "deleted_at": iso_or_none(webhook.deleted_at),
            "deleted_reason": webhook.deleted_reason,
            "deliveries": [attempt.render() for attempt in webhook.log],
        }

    def render(self, webhook: Webhook) -> dict[str, Any]:
        """The spec's WebhookResponse, keys in its order; the resource's name as it is now, if it still exists."""
        with self._lock:
            return {
                "gid": webhook.gid,
                "resource_type": "webhook",
                "active": webhook.active,
                "resource": {
                    "gid": webhook.resource.gid,
                    "resource_type": webhook.resource.resource_type,
                    "name": self._current_name(webhook.resource),
                },
                "target": webhook.target,
                "created_at": iso(webhook.created_at),
                "last_failure_at": iso_or_none(webhook.last_failure_at),
                "last_failure_content": webhook.last_failure_content,
                "last_success_at": iso_or_none(webhook.last_success_at),
                "delivery_retry_count": webhook.delivery_retry_count,
                "next_attempt_after": iso_or_none(webhook.next_attempt_after),
                "failure_deletion_timestamp": iso_or_none(webhook.failure_deletion_timestamp),
                "filters": [f.render() for f in webhook.filters],
            }

    def _current_name(self, resource: Ref) -> str | None:
        # Plain dict reads, no store lock (see the class docstring).
        store = self._store
        current: Workspace | Team | Project | Task | None = None
        match resource.resource_type:
            case "workspace":
                current = store.workspaces.get(resource.gid)
            case "team":
                current = store.teams.get(resource.gid)
            case "project":
                current = store.projects.get(resource.gid)
            case "task":
                current = store.tasks.get(resource.gid)
        return current.name if current is not None else resource.name

    # --- The background dispatcher -------------------------------------------------------------------------------
    def start_dispatcher(self) -> None:
        if self._dispatcher is not None:
            return
        self._stopping.clear()
        self._dispatcher = threading.Thread(target=self._dispatch, name="asana-sandbox-webhooks", daemon=True)
        self._dispatcher.start()

    def stop_dispatcher(self) -> None:
        thread = self._dispatcher
        if thread is None:
            return
        self._stopping.set()
        self._wake.set()
        # A delivery already on the wire ends within the delivery timeout.
        thread.join(timeout=self.delivery_timeout_seconds + 1)
        if not thread.is_alive():
            self._dispatcher = None

    @property
    def dispatching(self) -> bool:
        """Whether the background dispatcher thread is running."""
        return self._dispatcher is not None and self._dispatcher.is_alive()

    def _dispatch(self) -> None:
        while not self._stopping.is_set():
            # Timers (heartbeats, resends) are checked every interval; a queued event wakes the thread at once.
            self._wake.wait(DISPATCH_INTERVAL_SECONDS)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self.deliver_due()
            except Exception:  # the dispatcher must outlive any one bad pass; the next pass retries
                _log.exception("webhook delivery pass failed")
