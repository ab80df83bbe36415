"""Page Asana lists into one mirror list: page → hash compare → write only changes → tombstones at the end.

A list may come from several sources read in turn (the users of every workspace; a user in two workspaces is one
entity, counted once). The mirror's hashes are read once per execution. Progress is checkpointed every
``CHECKPOINT_INTERVAL_SECONDS`` and whenever the unit must stop (out of time, rate budget spent, Asana failing), so a
unit that is sent again, or a worker killed mid-list, carries on from its last page boundary; re-applying a page that
was written before the stop writes nothing, because its hashes already match.

Tombstones are only written at the end of a complete pass over every source: a list cut short never deletes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from asana_integration.asana.client import RETRYABLE_FAILURE_CODES, Page
from asana_integration.errors import (
    AsanaError,
    AsanaRateLimited,
    AsanaRequestRejected,
    AsanaUnavailable,
    AsanaUnreachable,
)
from asana_integration.models.mirror import MirrorEntity, MirrorKind
from asana_integration.sync.rate_budget import RateBudgetExhausted
from asana_integration.sync.unit_run import Suspend, UnitRun

CHECKPOINT_INTERVAL_SECONDS = 20.0
EXPIRED_OFFSET = "asana_offset_expired"
# What a step of a unit may catch to tell a passing failure from a lasting one (``is_transient``).
CAUGHT = (AsanaError, RateBudgetExhausted)


@dataclass(frozen=True)
class Source:
    """One Asana listing: a page at an offset, and the mirrored entity of each record."""

    fetch: Callable[[str | None], Page]
    entity: Callable[[dict[str, Any]], MirrorEntity]


@dataclass
class ListResult:
    seen: set[str] = field(default_factory=set)
    tombstoned: set[str] = field(default_factory=set)


class ListSync:
    def __init__(
        self,
        run: UnitRun,
        kind: MirrorKind,
        parent: str | None,
        sources: Sequence[Source],
        *,
        complete: bool = True,
        extra: dict[str, Any] | None = None,
        on_entities: Callable[[ListSync, list[MirrorEntity]], None] | None = None,
    ) -> None:
        """``complete``: the sources list everything (tombstone the rest at the end); False for "changed since"
        listings. ``extra``: the caller's own state, saved with every checkpoint and restored with it;
        ``on_entities`` sees each page's new entities (to note in ``extra`` what the caller needs afterwards)."""
        self._run = run
        self._kind = kind
        self._parent = parent
        self._sources = sources
        self._complete = complete
        self.extra: dict[str, Any] = dict(extra or {})
        self._on_entities = on_entities

    def run(self) -> ListResult:
        run = self._run
        resumed = run.resumed or {}
        result = ListResult(seen=set(run.checkpoint.seen) if run.checkpoint else set())
        self.extra = {**self.extra, **resumed.get("extra", {})}
        existing = run.mirror.existing_hashes(run.org_id, self._kind, self._parent)
        saved_at = run.clock()
        source_index, offset = int(resumed.get("source", 0)), resumed.get("offset")
        while source_index < len(self._sources):
            source = self._sources[source_index]
            if run.time_left() <= 0:
                self._save(source_index, offset, result.seen)
                raise Suspend(0)
            try:
                page = source.fetch(offset)
            except AsanaRequestRejected as error:
                if error.code != EXPIRED_OFFSET:
                    raise
                offset = None  # Asana's offsets expire after minutes: read this source again from its start
                continue
            except CAUGHT as error:
                if not is_transient(error):
                    raise
                self._save(source_index, offset, result.seen)
                raise Suspend(wait_for(error), error) from error
            fresh = [entity for entity in map(source.entity, page.data) if entity.gid not in result.seen]
            result.seen.update(entity.gid for entity in fresh)
            if self._on_entities is not None:
                self._on_entities(self, fresh)
            counts = run.mirror.apply(run.org_id, self._kind, self._parent, fresh, existing=existing)
            run.report.count(self._kind, counts)
            if page.next_offset is None:
                source_index, offset = source_index + 1, None
            else:
                offset = page.next_offset
            if run.clock() - saved_at >= CHECKPOINT_INTERVAL_SECONDS and source_index < len(self._sources):
                self._save(source_index, offset, result.seen)
                saved_at = run.clock()
        if self._complete:
            gone = {gid for gid, before in existing.items() if not before.deleted and gid not in result.seen}
            counts = run.mirror.tombstone_unseen(run.org_id, self._kind, self._parent, result.seen, existing)
            run.report.count(self._kind, counts)
            result.tombstoned = {gid for gid in gone if existing[gid].deleted}
        return result

    def _save(self, source_index: int, offset: str | None, seen: set[str]) -> None:
        self._run.save({"source": source_index, "offset": offset, "extra": self.extra}, seen)


def is_transient(error: Exception) -> bool:
    """A failure that passes: the unit waits and is sent again (a bounded number of times, see engine.py). Proxy and
    TLS failures are configuration problems no retry fixes; a dropped or timed-out connection is worth another try."""
    if isinstance(error, AsanaUnavailable | AsanaRateLimited | RateBudgetExhausted):
        return True
    return isinstance(error, AsanaUnreachable) and error.code in RETRYABLE_FAILURE_CODES


def wait_for(error: Exception) -> float:
    if isinstance(error, RateBudgetExhausted):
        return error.wait_seconds
    if isinstance(error, AsanaRateLimited) and error.retry_after is not None:
        return float(error.retry_after)
    return 0.0  # the engine backs off by attempt
