"""The tasks of an imported project: a full listing, or only what changed since the last pass.

Full (``tasks``): every task of the project, tombstones for the rest. With Full permissions the listing starts from an
Events API sync token taken *before* it, so the next incremental pass misses nothing that changed during it: the one
stored, else the one the run's plan took for this unit (ten projects a request, planner.py), else one taken here (one
call).

Incremental with Full permissions (``task_events``): read the project's events from the stored token (≤ 100 a call,
``has_more`` for more). Nothing changed: one call, done. Otherwise one ``modified_since`` listing of the project
fetches the changed tasks' current fields (no call per task), and tasks deleted or removed from the project become
tombstones. A 412 (token expired, or none yet) gives a fresh token and a full listing, as Asana asks. A section
changed (renamed, deleted): a full listing too, since the tasks in it do not change their ``modified_at``.

Incremental with granular scopes (``task_changes``; ``/events`` needs Full permissions): the tasks modified since the
last pass began, less a margin for clock skew. Deletions wait for the next full pass.

An admin may stop importing the project while its unit runs: a unit checks the import when it starts, and again
before it stores the cursor; gone by then, it removes what it wrote instead (stopping an import removes its tasks).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from asana_integration.asana.client import Page
from asana_integration.asana.errors import SyncTokenExpired
from asana_integration.errors import AsanaForbidden, AsanaNotFound
from asana_integration.models.mirror import MirrorCounts, MirrorKind
from asana_integration.stores.sync_state import SyncCursor
from asana_integration.sync import entities
from asana_integration.sync.listing import CAUGHT, ListSync, Source, is_transient, wait_for
from asana_integration.sync.unit_run import Suspend, UnitRun

# Asana's clock and ours differ, and an event is stamped a moment before the task's modified_at: read from earlier.
SKEW_SECONDS = 60


def while_imported(runner: Callable[[UnitRun], None]) -> Callable[[UnitRun], None]:
    """Run ``runner`` only for a project that is still imported (a stopped import's queued units do nothing)."""

    @functools.wraps(runner)
    def guarded(run: UnitRun) -> None:
        if run.state.is_imported(run.org_id, _project(run)):
            runner(run)

    return guarded


@while_imported
def sync_all_tasks(run: UnitRun) -> None:
    list_all_tasks(run, sync_token=run.unit.sync_token)


@while_imported
def follow_task_events(run: UnitRun) -> None:
    project_gid = _project(run)
    resumed = (run.resumed or {}).get("extra", {})
    if resumed.get("phase") == "full":
        list_all_tasks(run, sync_token=resumed.get("sync"))
        return
    if resumed.get("phase") == "changes":
        _list_changes(run, resumed)
        return
    cursor = run.state.sync_cursor(run.org_id, project_gid)
    if cursor is None or cursor.sync_token is None:
        list_all_tasks(run, sync_token=None)
        return
    events: list[dict[str, Any]] = []
    token = cursor.sync_token
    try:
        while True:
            page = run.client.events(project_gid, token)
            events += page.data
            token = page.sync
            if not page.has_more:
                break
    except SyncTokenExpired as expired:
        list_all_tasks(run, sync_token=expired.new_token)
        return
    except (AsanaNotFound, AsanaForbidden):
        _gone(run)
        raise
    except CAUGHT as error:
        if not is_transient(error):
            raise
        raise Suspend(wait_for(error), error) from error
    changes = EventSummary.of(events, project_gid)
    if changes.section_changed or (changes.touched and changes.since is None):
        list_all_tasks(run, sync_token=token)
        return
    if not changes.touched:
        _save_cursor(run, SyncCursor(token, cursor.synced_since))
        return
    extra = {"phase": "changes", "modified_since": changes.since, "removed": sorted(changes.removed), "sync": token}
    _list_changes(run, {**extra, "synced_since": cursor.synced_since})


@while_imported
def follow_task_changes(run: UnitRun) -> None:
    project_gid = _project(run)
    resumed = (run.resumed or {}).get("extra", {})
    if resumed.get("phase") == "full":
        list_all_tasks(run, sync_token=None)
        return
    if resumed.get("phase") == "changes":
        _list_changes(run, resumed)
        return
    cursor = run.state.sync_cursor(run.org_id, project_gid)
    if cursor is None or cursor.synced_since is None:
        list_all_tasks(run, sync_token=None)
        return
    extra: dict[str, Any] = {
        "phase": "changes",
        "modified_since": cursor.synced_since,
        "removed": [],
        "sync": None,
        "synced_since": _iso(run.clock() - SKEW_SECONDS),
    }
    _list_changes(run, extra)


def list_all_tasks(run: UnitRun, *, sync_token: str | None) -> None:
    """Every task of the project; then the cursor the next incremental pass starts from."""
    project_gid = _project(run)
    resumed = (run.resumed or {}).get("extra", {})
    extra: dict[str, Any] = {
        "phase": "full",
        "sync": sync_token,
        "synced_since": _iso(run.clock() - SKEW_SECONDS),
    }
    if resumed.get("phase") == "full":
        extra = resumed
    elif run.scopes_mode == "default" and sync_token is None:
        stored = run.state.sync_cursor(run.org_id, project_gid)
        extra["sync"] = stored.sync_token if stored and stored.sync_token else _fresh_token(run, project_gid)
    listing = ListSync(run, MirrorKind.TASK, project_gid, [_tasks_source(run, project_gid)], extra=extra)
    try:
        listing.run()
    except (AsanaNotFound, AsanaForbidden):
        _gone(run)
        raise
    _save_cursor(run, SyncCursor(listing.extra.get("sync"), listing.extra["synced_since"]))


def _list_changes(run: UnitRun, extra: dict[str, Any]) -> None:
    """The tasks modified since ``extra["modified_since"]``; tasks removed or deleted (per the events) and absent
    from that listing become tombstones; then the cursor moves on."""
    project_gid = _project(run)
    since = str(extra["modified_since"])
    source = _tasks_source(run, project_gid, modified_since=since)
    listing = ListSync(run, MirrorKind.TASK, project_gid, [source], complete=False, extra=extra)
    try:
        result = listing.run()
    except (AsanaNotFound, AsanaForbidden):
        _gone(run)
        raise
    deleted = MirrorCounts()
    for gid in sorted(set(extra["removed"]) - result.seen):
        if run.mirror.tombstone_one(run.org_id, MirrorKind.TASK, project_gid, gid):
            deleted.deleted += 1
    run.report.count(MirrorKind.TASK, deleted)
    _save_cursor(run, SyncCursor(extra.get("sync"), extra.get("synced_since")))


def _save_cursor(run: UnitRun, cursor: SyncCursor) -> None:
    """Where the next pass starts; unless the import stopped meanwhile: then what this unit wrote goes too."""
    project_gid = _project(run)
    if run.state.is_imported(run.org_id, project_gid):
        run.state.save_sync_cursor(run.org_id, project_gid, cursor)
    else:
        run.mirror.delete_all(run.org_id, MirrorKind.TASK, project_gid)


def _tasks_source(run: UnitRun, project_gid: str, *, modified_since: str | None = None) -> Source:
    fetch: Callable[[str | None], Page] = lambda offset: run.client.project_tasks_page(  # noqa: E731
        project_gid, offset, opt_fields=entities.TASK_FIELDS, modified_since=modified_since
    )
    return Source(fetch=fetch, entity=lambda record: entities.task(record, project_gid))


def _fresh_token(run: UnitRun, project_gid: str) -> str:
    """A sync token positioned now: Asana hands one out with the 412 of a read without a token."""
    try:
        page = run.client.events(project_gid, None)
    except SyncTokenExpired as expired:
        return expired.new_token
    except (AsanaNotFound, AsanaForbidden):
        _gone(run)
        raise
    except CAUGHT as error:
        if not is_transient(error):
            raise
        raise Suspend(wait_for(error), error) from error
    return page.sync  # not what Asana documents, but a token all the same


def _gone(run: UnitRun) -> None:
    """The project is deleted, or the identity lost access: its tasks leave the mirror as tombstones."""
    counts = run.mirror.apply(run.org_id, MirrorKind.TASK, _project(run), [], seen_complete=True)
    run.report.count(MirrorKind.TASK, counts)


def _project(run: UnitRun) -> str:
    if run.unit.parent is None:
        raise ValueError(f"a {run.unit.kind} unit names its project")
    return run.unit.parent


@dataclass
class EventSummary:
    """What a project's events mean for its mirrored tasks."""

    touched: bool = False  # some task of the project changed
    since: str | None = None  # read the tasks modified since then (the earliest task event, less the skew margin)
    removed: set[str] = field(default_factory=set)  # tasks deleted, or removed from this project
    section_changed: bool = False

    @classmethod
    def of(cls, events: list[dict[str, Any]], project_gid: str) -> EventSummary:
        summary = cls()
        earliest: datetime | None = None
        for event in events:
            resource = event.get("resource") or {}
            kind, action = resource.get("resource_type"), event.get("action")
            if kind == "section":
                summary.section_changed = True
            if kind != "task":
                continue  # stories, attachments, the project itself: nothing mirrored of a task changes
            summary.touched = True
            parent = event.get("parent") or {}
            if action == "deleted" or (action == "removed" and parent.get("gid") == project_gid):
                summary.removed.add(str(resource.get("gid")))
            when = _parsed(event.get("created_at"))
            if when is not None and (earliest is None or when < earliest):
                earliest = when
        if earliest is not None:
            summary.since = _iso(earliest.timestamp() - SKEW_SECONDS)
        return summary


def _parsed(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
