"""Asana's event streams: every change is logged once and shown to each resource it "bubbles up" to.

`GET /events?resource=<gid>&sync=<token>` reads one stream (see api_events.py). How the sandbox models it, after the
spec's Events tag and getEvents operation (fact sheet §5):

- a sync token is a position in one resource's stream. The first call (no token), an unknown token, a token for
  another resource or an expired one answers 412 with a fresh token positioned at "now";
- a token expires `token_ttl_seconds` (24 h, as Asana documents) after it was issued, and events are kept for
  `retention_seconds` (24 h); a token whose position is older than the oldest kept event is expired too;
- a read answers at most 100 events (Asana: "limits a single sync token to 100 events") with `has_more` and a new
  token after the last event returned. Re-reading a token returns the same events (plus any newer ones that fit):
  tokens are not single-use, and going back to an older unexpired token is allowed (Asana: "may not be valid").

Guesses, where Asana documents nothing: which streams an event reaches (the resource itself, the parent it was added
to or removed from, every project a task is in, and the workspace); one `changed` event per changed field; `change`
carries `new_value`/`added_value`/`removed_value` only when the value is a resource, as the spec says, rendered
compact; the `resource`, `parent` and `user` objects are snapshots taken when the event happened (so a deleted
task's events still name it).
"""

from __future__ import annotations

import bisect
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from local.asana_sandbox.timestamps import iso

DEFAULT_TOKEN_TTL_SECONDS = 24 * 3600.0
DEFAULT_RETENTION_SECONDS = 24 * 3600.0
MAX_EVENTS_PER_READ = 100
SYNC_TOKEN_INVALID = (
    "Sync token invalid or too old. If you are attempting to keep resources in sync, you must fetch the full dataset "
    "for this query now and use the new sync token for the next sync."
)


@dataclass(frozen=True)
class Ref:
    """A resource as an event names it: a snapshot of its compact form when the event happened."""

    gid: str
    resource_type: str
    name: str | None = None
    resource_subtype: str | None = None

    def render(self) -> dict[str, Any]:
        out: dict[str, Any] = {"gid": self.gid, "resource_type": self.resource_type}
        if self.name is not None:
            out["name"] = self.name
        if self.resource_subtype is not None:
            out["resource_subtype"] = self.resource_subtype
        return out


@dataclass(frozen=True)
class Change:
    field: str
    action: str  # "changed" | "added" | "removed"
    value: Ref | None = None  # only when the new, added or removed value is a resource

    def render(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "action": self.action}
        if self.value is not None:
            out[{"changed": "new_value", "added": "added_value", "removed": "removed_value"}[self.action]] = (
                self.value.render()
            )
        return out


@dataclass(frozen=True)
class Event:
    seq: int
    created_at: float
    action: str  # "added" | "changed" | "removed" | "deleted" | "undeleted"
    resource: Ref
    parent: Ref | None
    user: Ref | None  # None for changes Asana would attribute to no one (system events)
    change: Change | None
    streams: frozenset[str]

    def render(self) -> dict[str, Any]:
        """EventResponse, keys in the spec's order; `change` only on `changed` events, as the spec says."""
        out: dict[str, Any] = {
            "user": self.user.render() if self.user else None,
            "resource": self.resource.render(),
            "type": self.resource.resource_type,  # deprecated in the spec, still part of EventResponse
            "action": self.action,
            "parent": self.parent.render() if self.parent else None,
            "created_at": iso(self.created_at),
        }
        if self.change is not None:
            out["change"] = self.change.render()
        return out


@dataclass(frozen=True)
class _Cursor:
    stream: str
    seq: int  # the last event seq the holder has seen
    expires_at: float


@dataclass(frozen=True)
class EventPage:
    events: list[Event]
    sync: str
    has_more: bool


class EventLog:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.token_ttl_seconds = DEFAULT_TOKEN_TTL_SECONDS
        self.retention_seconds = DEFAULT_RETENTION_SECONDS
        # Told of every event as it is recorded (webhooks.py queues deliveries this way); they outlive clear().
        self._listeners: list[Callable[[Event], None]] = []
        self.clear()

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        """Call `listener(event)` for every event recorded from now on, in the order they are recorded."""
        self._listeners.append(listener)

    def clear(self) -> None:
        with self._lock:
            self._seq = 0
            self._streams: dict[str, list[Event]] = {}
            self._trimmed_upto: dict[str, int] = {}  # stream -> seq of the newest event dropped by retention
            self._cursors: dict[str, _Cursor] = {}

    def reset_settings(self) -> None:
        self.token_ttl_seconds = DEFAULT_TOKEN_TTL_SECONDS
        self.retention_seconds = DEFAULT_RETENTION_SECONDS

    # --- Writing ----------------------------------------------------------------------------------------------------
    def record(
        self,
        action: str,
        resource: Ref,
        *,
        streams: Iterable[str],
        parent: Ref | None = None,
        user: Ref | None = None,
        change: Change | None = None,
    ) -> Event:
        with self._lock:
            self._seq += 1
            event = Event(
                self._seq, self._clock(), action, resource, parent, user, change, frozenset({resource.gid, *streams})
            )
            for stream in event.streams:
                self._streams.setdefault(stream, []).append(event)
        # Outside this log's lock; changes.py records under the store's lock, which keeps listeners in event order.
        for listener in self._listeners:
            listener(event)
        return event

    # --- Reading ----------------------------------------------------------------------------------------------------
    def events_for(self, stream: str) -> list[Event]:
        """Every kept event of one stream, oldest first (inspection for tests and the control API)."""
        with self._lock:
            self._trim(stream)
            return list(self._streams.get(stream, []))

    def fresh_token(self, stream: str) -> str:
        """A token positioned at "now": what a 412 hands out."""
        with self._lock:
            return self._issue(stream, self._seq)

    def read(self, stream: str, token: str, limit: int = MAX_EVENTS_PER_READ) -> EventPage | None:
        """The events after the token's position, or None when the token is unknown, foreign or expired (→ 412)."""
        now = self._clock()
        with self._lock:
            cursor = self._cursors.get(token)
            if cursor is None or cursor.stream != stream or now >= cursor.expires_at:
                return None
            self._trim(stream)
            if cursor.seq < self._trimmed_upto.get(stream, 0):
                return None  # events the holder has not seen were already dropped: it must re-crawl
            events = self._streams.get(stream, [])
            start = bisect.bisect_right(events, cursor.seq, key=lambda e: e.seq)
            page = events[start : start + limit]
            has_more = start + limit < len(events)
            # Without more to read, the holder has seen everything of this stream up to the newest event anywhere.
            position = page[-1].seq if has_more else self._seq
            return EventPage(page, self._issue(stream, position), has_more)

    # --- Internals (lock held) --------------------------------------------------------------------------------------
    def _issue(self, stream: str, seq: int) -> str:
        now = self._clock()
        if len(self._cursors) > 10_000:
            self._cursors = {t: c for t, c in self._cursors.items() if c.expires_at > now}
        token = secrets.token_hex(16)  # the shape of the spec's example: 32 hex characters
        self._cursors[token] = _Cursor(stream, seq, now + self.token_ttl_seconds)
        return token

    def _trim(self, stream: str) -> None:
        events = self._streams.get(stream)
        if not events:
            return
        cutoff = self._clock() - self.retention_seconds
        drop = bisect.bisect_left(events, cutoff, key=lambda e: e.created_at)
        if drop:
            self._trimmed_upto[stream] = events[drop - 1].seq
            del events[:drop]
