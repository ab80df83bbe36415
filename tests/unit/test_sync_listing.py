"""Paging a list into the mirror: a unit that stops (out of time, Asana failing) carries on from its checkpoint, an
expired Asana offset restarts the list, and only a complete pass tombstones."""

from __future__ import annotations

from dataclasses import dataclass, field

import boto3
import pytest

from asana_integration.asana.client import Page
from asana_integration.errors import AsanaRequestRejected, AsanaUnavailable, AsanaUnreachable
from asana_integration.models.mirror import MirrorEntity, MirrorKind
from asana_integration.stores.mirror import MirrorStore
from asana_integration.stores.sync_state import SyncStateStore
from asana_integration.sync import entities
from asana_integration.sync.listing import ListSync, Source
from asana_integration.sync.meter import CallMeter
from asana_integration.sync.unit_run import Suspend, UnitRun
from asana_integration.sync.units import Unit

ORG, RUN = "org-a", "run-1"


class NoBudget:
    def take(self) -> None: ...

    def pause(self, retry_after: float) -> None: ...


@dataclass
class Listing:
    """A list of records served in pages of ``size``; offsets are page numbers; ``fail`` holds what a fetch raises."""

    records: list[dict]
    size: int = 10
    fail: dict[int, Exception] = field(default_factory=dict)
    fetched: list[int] = field(default_factory=list)

    def fetch(self, offset: str | None) -> Page:
        page = int(offset or 0)
        self.fetched.append(page)
        if page in self.fail:
            raise self.fail.pop(page)
        chunk = self.records[page * self.size : (page + 1) * self.size]
        more = (page + 1) * self.size < len(self.records)
        return Page(chunk, str(page + 1) if more else None)


@pytest.fixture
def stores(aws):
    table = boto3.resource("dynamodb").Table(aws.mirror_table_name)
    return MirrorStore(table), SyncStateStore(table)


def unit_run(stores, *, time_left=lambda: 60.0, unit: Unit | None = None) -> UnitRun:
    mirror, state = stores
    unit = unit or Unit(kind="projects", workspaces=("1",))
    return UnitRun(
        org_id=ORG,
        run_id=RUN,
        mode="full",
        unit=unit,
        client=None,  # type: ignore[arg-type] - the sources here call no client
        meter=CallMeter(NoBudget()),  # type: ignore[arg-type]
        mirror=mirror,
        state=state,
        scopes_mode="default",
        clock=lambda: 1_750_000_000.0,
        time_left=time_left,
        checkpoint=state.load_checkpoint(ORG, RUN, unit.unit_id),
    )


def projects(count: int, name: str = "P") -> list[dict]:
    return [{"gid": str(1000 + n), "name": f"{name}{n}"} for n in range(count)]


def run_list(stores, listing: Listing, **kwargs) -> tuple[UnitRun, set[str]]:
    run = unit_run(stores, **kwargs)
    result = ListSync(run, MirrorKind.PROJECT, None, [Source(listing.fetch, entities.project)]).run()
    return run, result.seen


def live_gids(stores) -> set[str]:
    mirror, _ = stores
    return {item.gid for item in mirror.page(ORG, MirrorKind.PROJECT, limit=100).items}


def test_a_unit_out_of_time_saves_its_place_and_the_next_execution_carries_on(stores):
    listing = Listing(projects(35))
    clock_out = iter([30.0, 30.0, 0.0])

    with pytest.raises(Suspend) as suspended:
        run_list(stores, listing, time_left=lambda: next(clock_out))
    first_pages = list(listing.fetched)
    resumed, seen = run_list(stores, listing)

    assert suspended.value.delay_seconds == 0
    assert first_pages == [0, 1]
    assert listing.fetched[2:] == [2, 3]  # from where it stopped, no page twice
    assert seen == {str(1000 + n) for n in range(35)}
    assert resumed.report.counts[MirrorKind.PROJECT].created == 35  # the counts of both executions


def test_asana_failing_mid_list_suspends_at_the_failing_page_and_tombstones_nothing(stores):
    mirror, _ = stores
    mirror.apply(ORG, MirrorKind.PROJECT, None, [MirrorEntity("9", {"name": "Old"})])
    listing = Listing(projects(25), fail={1: AsanaUnavailable("Asana failed", "Try again", code="asana_server_error")})

    with pytest.raises(Suspend) as suspended:
        run_list(stores, listing)

    assert isinstance(suspended.value.cause, AsanaUnavailable)
    assert "9" in live_gids(stores)  # a list cut short never deletes
    run_list(stores, listing)
    assert listing.fetched == [0, 1, 1, 2]
    assert "9" not in live_gids(stores)


def test_an_expired_offset_lists_the_source_again_without_writing_anything_twice(stores):
    expired = AsanaRequestRejected("offset expired", "Start again", code="asana_offset_expired")
    listing = Listing(projects(25), fail={2: expired})

    run, seen = run_list(stores, listing)

    assert listing.fetched == [0, 1, 2, 0, 1, 2]
    assert len(seen) == 25
    counts = run.report.counts[MirrorKind.PROJECT]
    assert (counts.created, counts.unchanged) == (25, 0)  # the re-read pages' entities were seen already


def test_other_rejections_are_not_retried(stores):
    listing = Listing(projects(5), fail={0: AsanaRequestRejected("bad", "fix", code="asana_rejected_request")})

    with pytest.raises(AsanaRequestRejected):
        run_list(stores, listing)


def test_users_listed_in_two_workspaces_are_one_entity_counted_once(stores):
    mirror, _ = stores
    both = {"gid": "1", "name": "Ada", "workspaces": [{"gid": "10"}, {"gid": "20"}]}
    only_second = {"gid": "2", "name": "Bo", "workspaces": [{"gid": "20"}]}
    run = unit_run(stores, unit=Unit(kind="users", workspaces=("10", "20")))
    sources = [
        Source(Listing([both]).fetch, entities.user),
        Source(Listing([both, only_second]).fetch, entities.user),
    ]

    ListSync(run, MirrorKind.USER, None, sources).run()

    assert run.report.counts[MirrorKind.USER].created == 2
    assert [item.gid for item in mirror.page(ORG, MirrorKind.USER).items] == ["1", "2"]


def test_a_dropped_connection_is_waited_out_but_a_proxy_failure_is_not(stores):
    dropped = AsanaUnreachable("Could not connect to Asana", code="asana_connection_error")
    proxy = AsanaUnreachable("Could not reach Asana through the proxy", code="asana_proxy_error")

    with pytest.raises(Suspend):
        run_list(stores, Listing(projects(5), fail={0: dropped}))
    with pytest.raises(AsanaUnreachable):
        run_list(stores, Listing(projects(5), fail={0: proxy}))
