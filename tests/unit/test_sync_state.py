"""Sync bookkeeping: one live run per organization, each unit counted once, checkpoints, cursors and imports."""

from __future__ import annotations

import boto3
import pytest

from asana_integration.models.mirror import MirrorCounts, MirrorKind
from asana_integration.models.sync import RunError
from asana_integration.stores import sync_state
from asana_integration.stores.sync_state import Completion, SyncCursor, SyncStateStore, UnitReport

ORG = "org-a"
AUTH = RunError(kind="teams", code="asana_authentication_failed", message="Authentication failed.", fix="Reconnect.")


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(aws, clock):
    return SyncStateStore(boto3.resource("dynamodb").Table(aws.mirror_table_name), clock=clock)


def report(*, spawned: int = 0, created: int = 0, error: RunError | None = None, calls: int = 1) -> UnitReport:
    result = UnitReport(asana_calls=calls, error=error, spawned=[{"unit": n} for n in range(spawned)])
    if created:
        result.count(MirrorKind.PROJECT, MirrorCounts(created=created))
    return result


def test_a_second_start_returns_the_live_run_and_the_same_start_again_joins_it(store):
    run, created = store.start_run(ORG, "r1", "full", "schedule")

    other, other_created = store.start_run(ORG, "r2", "incremental", "manual")
    again, again_created = store.start_run(ORG, "r1", "full", "schedule")

    assert (created, other_created, again_created) == (True, False, True)
    assert other.run_id == again.run_id == run.run_id == "r1"
    assert (run.status, run.pending, run.mode, run.trigger) == ("running", 1, "full", "schedule")
    assert store.current_run(ORG).run_id == "r1"
    assert [r.run_id for r in store.recent_runs(ORG)] == ["r1"]


def test_a_start_delivered_again_after_its_run_finished_keeps_no_lease(store):
    store.start_run(ORG, "r1", "full", "schedule")
    store.complete_unit(ORG, "r1", "plan", report())
    store.finish_if_done(ORG, "r1")

    again, created = store.start_run(ORG, "r1", "full", "schedule")
    following, following_created = store.start_run(ORG, "r2", "full", "schedule")

    assert (again.status, created) == ("succeeded", False)
    assert (following.run_id, following_created) == ("r2", True)


def test_units_are_counted_once_and_the_run_finishes_when_none_is_pending(store):
    store.start_run(ORG, "r1", "full", "schedule")

    plan = store.complete_unit(ORG, "r1", "plan", report(spawned=2))
    first = store.complete_unit(ORG, "r1", "projects", report(created=230, calls=3))
    duplicate = store.complete_unit(ORG, "r1", "projects", report(created=230, calls=3))
    not_yet = store.finish_if_done(ORG, "r1")
    store.complete_unit(ORG, "r1", "users", report(calls=2))
    finished = store.finish_if_done(ORG, "r1")

    assert (plan, first, duplicate, not_yet) == (Completion.DONE, Completion.DONE, Completion.DUPLICATE, None)
    assert finished.status == "succeeded"
    run = store.get_run(ORG, "r1")
    assert (run.status, run.pending, run.total_units, run.asana_calls) == ("succeeded", 0, 3, 6)
    assert run.counts["projects"].created == 230
    assert run.ended_at == "2025-06-15T15:06:40Z"
    assert store.current_run(ORG) is None
    assert store.finish_if_done(ORG, "r1") is None  # finishing twice changes nothing
    assert store.unit_children(ORG, "r1", "plan") == [{"unit": 0}, {"unit": 1}]


def test_errors_are_kept_once_per_kind_and_code_with_a_count_and_make_the_run_partial(store):
    store.start_run(ORG, "r1", "full", "schedule")
    store.complete_unit(ORG, "r1", "plan", report(spawned=3))
    store.complete_unit(ORG, "r1", "memberships.1", report(error=AUTH))
    store.complete_unit(ORG, "r1", "memberships.2", report(error=AUTH))
    store.complete_unit(ORG, "r1", "users", report())

    run = store.finish_if_done(ORG, "r1")

    assert run.status == "partial"
    assert [(e.code, e.count, e.message) for e in run.errors] == [("asana_authentication_failed", 2, AUTH.message)]


def test_a_plan_that_fails_fails_the_run(store):
    store.start_run(ORG, "r1", "full", "manual")
    store.complete_unit(ORG, "r1", "plan", report(error=AUTH.model_copy(update={"kind": "plan"})))

    assert store.finish_if_done(ORG, "r1").status == "failed"


def test_an_expired_lease_is_taken_over_and_its_run_marked_abandoned(store, clock):
    store.start_run(ORG, "r1", "full", "schedule")
    clock.now += sync_state.RUN_LEASE_SECONDS + 1

    run, created = store.start_run(ORG, "r2", "incremental", "schedule")

    assert (run.run_id, created) == ("r2", True)
    old = store.get_run(ORG, "r1")
    assert old.status == "failed"
    assert old.errors[0].code == "run_abandoned"
    assert store.complete_unit(ORG, "r1", "plan", report()) is Completion.RUN_GONE


def test_units_join_a_live_run_but_not_a_finished_one(store):
    store.start_run(ORG, "r1", "incremental", "schedule")

    assert store.add_units(ORG, "r1", 1) is True
    store.complete_unit(ORG, "r1", "plan", report())
    store.complete_unit(ORG, "r1", "tasks.1", report())
    store.finish_if_done(ORG, "r1")

    assert store.add_units(ORG, "r1", 1) is False
    assert store.get_run(ORG, "r1").total_units == 2


def test_checkpoints_round_trip_in_chunks_and_go_with_the_unit(store, monkeypatch):
    monkeypatch.setattr(sync_state, "CHECKPOINT_CHUNK_CHARS", 1000)
    store.start_run(ORG, "r1", "full", "schedule")
    seen = {f"1206{n:012d}" for n in range(5000)}

    chunks = store.save_checkpoint(ORG, "r1", "tasks.9", {"offset": "abc", "source": 0}, seen)
    loaded = store.load_checkpoint(ORG, "r1", "tasks.9")
    store.complete_unit(ORG, "r1", "tasks.9", report(), checkpoint_chunks=chunks)

    assert chunks > 1
    assert (loaded.state, loaded.seen, loaded.chunks) == ({"offset": "abc", "source": 0}, seen, chunks)
    assert store.load_checkpoint(ORG, "r1", "tasks.9") is None
    remaining = boto3.resource("dynamodb").Table(store._table.name).scan()["Items"]
    assert not [item for item in remaining if "CHECKPOINT" in item["pk"]]


def test_sync_cursors_and_imports(store):
    store.save_sync_cursor(ORG, "42", SyncCursor(sync_token="tok", synced_since="2025-06-15T15:00:00Z"))
    project, created = store.add_import(ORG, "42", imported_by="admin-a", name="Threat model")
    again, created_again = store.add_import(ORG, "42", imported_by="admin-b")

    assert store.sync_cursor(ORG, "42") == SyncCursor("tok", "2025-06-15T15:00:00Z")
    assert (created, created_again, again) == (True, False, project)
    assert [p.gid for p in store.imports(ORG)] == ["42"]
    assert store.imports("org-b") == []
    assert store.remove_import(ORG, "42") is True
    assert (store.imports(ORG), store.sync_cursor(ORG, "42")) == ([], None)
    assert store.remove_import(ORG, "42") is False


@pytest.mark.parametrize(
    "cursor",
    [SyncCursor(sync_token=None, synced_since="2025-06-15T15:00:00Z"), SyncCursor(sync_token="tok", synced_since=None)],
    ids=["listing-time-only", "events-token-only"],
)
def test_a_cursor_missing_one_part_reads_back_without_it(store, cursor):
    """A project Asana gave no Events token for is synced by listing time: its token must read back as absent, not
    as the text "None", which the sync would send to Asana's Events API as a token."""
    store.save_sync_cursor(ORG, "42", cursor)

    assert store.sync_cursor(ORG, "42") == cursor


def test_a_checkpoint_with_nothing_seen_yet_round_trips_and_expires_a_week_after_it_was_saved(store, clock):
    store.start_run(ORG, "r1", "full", "schedule")

    chunks = store.save_checkpoint(ORG, "r1", "tasks.1", {"offset": None}, [])
    loaded = store.load_checkpoint(ORG, "r1", "tasks.1")

    assert (chunks, loaded.state, loaded.seen, loaded.chunks) == (1, {"offset": None}, set(), 1)
    [item] = [i for i in boto3.resource("dynamodb").Table(store._table.name).scan()["Items"] if "CHECKPOINT" in i["pk"]]
    assert item["expires_at"] == int(clock.now) + sync_state.CHECKPOINT_TTL_SECONDS


def test_every_chunk_of_a_checkpoint_expires_with_its_head(store, clock, monkeypatch):
    """A unit that never completes (its run abandoned) leaves its checkpoint behind: all of it must expire."""
    monkeypatch.setattr(sync_state, "CHECKPOINT_CHUNK_CHARS", 1000)
    store.start_run(ORG, "r1", "full", "schedule")

    chunks = store.save_checkpoint(ORG, "r1", "tasks.1", {"offset": "x"}, {f"1206{n:012d}" for n in range(5000)})

    items = [i for i in boto3.resource("dynamodb").Table(store._table.name).scan()["Items"] if "CHECKPOINT" in i["pk"]]
    assert chunks > 1
    assert len(items) == chunks
    assert {item.get("expires_at") for item in items} == {int(clock.now) + sync_state.CHECKPOINT_TTL_SECONDS}


def test_a_checkpoint_missing_a_chunk_is_no_checkpoint(store, monkeypatch):
    monkeypatch.setattr(sync_state, "CHECKPOINT_CHUNK_CHARS", 1000)
    store.start_run(ORG, "r1", "full", "schedule")
    store.save_checkpoint(ORG, "r1", "tasks.1", {"offset": "x"}, {f"1206{n:012d}" for n in range(5000)})
    table = boto3.resource("dynamodb").Table(store._table.name)
    chunk = next(item for item in table.scan()["Items"] if "CHECKPOINT" in item["pk"] and "chunks" not in item)

    table.delete_item(Key={"pk": chunk["pk"], "sk": chunk["sk"]})  # gone by TTL before its head

    assert store.load_checkpoint(ORG, "r1", "tasks.1") is None  # the unit starts over, never with gids missing


def test_a_checkpoint_belongs_to_its_run_and_unit_and_a_later_save_replaces_it(store):
    store.start_run(ORG, "r1", "full", "schedule")
    store.save_checkpoint(ORG, "r1", "tasks.1", {"offset": "a"}, ["1", "2"])

    store.save_checkpoint(ORG, "r1", "tasks.1", {"offset": "b"}, ["1", "2", "3"])

    loaded = store.load_checkpoint(ORG, "r1", "tasks.1")
    assert (loaded.state, loaded.seen) == ({"offset": "b"}, {"1", "2", "3"})
    assert store.load_checkpoint(ORG, "r1", "tasks.2") is None
    assert store.load_checkpoint(ORG, "r2", "tasks.1") is None
    assert store.load_checkpoint("org-b", "r1", "tasks.1") is None
