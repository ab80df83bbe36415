"""The upkeep's lease and rotating cursor, on the template's table in moto.

Verification itself is replaced by a recorder that spends a fixed slice of the run's time per organization, so a
test can give a run room for exactly a few organizations and watch consecutive runs take turns.
"""

from __future__ import annotations

import boto3
import pytest

from asana_integration.config import get_config
from asana_integration.settings.upkeep import TIME_RESERVE_MS, ConnectionUpkeep
from asana_integration.stores.organizations import OrganizationRegistry
from asana_integration.stores.upkeep_lease import UpkeepLeaseStore

ORGANIZATIONS = ["org-a", "org-b", "org-c", "org-d", "org-e"]
PER_ORGANIZATION_MS = 1_000


class Run:
    """One invocation's clock: the time left drops by ``PER_ORGANIZATION_MS`` with each verification."""

    def __init__(self, room_for: int) -> None:
        self.left_ms = TIME_RESERVE_MS + room_for * PER_ORGANIZATION_MS - 1

    def remaining_time_ms(self) -> int:
        return self.left_ms


class Verification:
    def __init__(self, state: str) -> None:
        self.connection = type("Connection", (), {"state": state})()


class RecordingSettings:
    """Stands in for the settings service: records who was verified, in which run, and spends that run's time."""

    def __init__(self) -> None:
        self.run: Run | None = None
        self.verified: list[str] = []
        self.failing: set[str] = set()

    def verify(self, caller, urls, remaining_time_ms):
        assert self.run is not None
        self.run.left_ms -= PER_ORGANIZATION_MS
        self.verified.append(caller.org_id)
        if caller.org_id in self.failing:
            raise RuntimeError("Asana answered garbage")
        return Verification("connected")


@pytest.fixture
def table(aws):
    return boto3.resource("dynamodb").Table(get_config().table_name)


@pytest.fixture
def registry(table) -> OrganizationRegistry:
    registry = OrganizationRegistry(table)
    for org_id in ORGANIZATIONS:
        registry.register(org_id, "connected")
    return registry


@pytest.fixture
def settings() -> RecordingSettings:
    return RecordingSettings()


@pytest.fixture
def upkeep(table, registry, settings) -> ConnectionUpkeep:
    return ConnectionUpkeep(get_config(), settings, registry, UpkeepLeaseStore(table))


def run_with_room_for(upkeep: ConnectionUpkeep, settings: RecordingSettings, organizations: int):
    settings.run = Run(room_for=organizations)
    settings.verified = []
    report = upkeep.run(settings.run.remaining_time_ms)
    return report, list(settings.verified)


def test_short_runs_take_turns_so_that_every_organization_gets_its_upkeep(upkeep, settings):
    turns = [run_with_room_for(upkeep, settings, 2)[1] for _ in range(3)]

    assert turns == [["org-a", "org-b"], ["org-c", "org-d"], ["org-e", "org-a"]]
    assert {org for turn in turns for org in turn} == set(ORGANIZATIONS)


def test_a_run_reports_where_it_started_what_it_reached_and_what_it_left(upkeep, settings):
    run_with_room_for(upkeep, settings, 2)

    report, verified = run_with_room_for(upkeep, settings, 2)

    assert verified == ["org-c", "org-d"]
    assert (report.started_after, report.reached) == ("org-b", "org-d")
    assert report.states == {"connected": 2, "deferred": 3}


def test_a_run_with_room_for_everyone_verifies_each_organization_once(upkeep, settings):
    run_with_room_for(upkeep, settings, 3)

    report, verified = run_with_room_for(upkeep, settings, 100)

    assert verified == ["org-d", "org-e", "org-a", "org-b", "org-c"]
    assert report.states == {"connected": 5}


def test_a_failing_organization_still_moves_the_cursor_past_it(upkeep, settings):
    settings.failing = {"org-a"}

    first, _ = run_with_room_for(upkeep, settings, 1)
    _, second = run_with_room_for(upkeep, settings, 1)

    assert first.states == {"failed": 1, "deferred": 4}
    assert second == ["org-b"], "one broken organization must not hold up the others"


def test_a_run_that_finds_the_lease_held_does_nothing(table, upkeep, settings):
    holder = UpkeepLeaseStore(table).acquire("another-run", hold_seconds=300)
    assert holder is not None

    report, verified = run_with_room_for(upkeep, settings, 100)

    assert report.ran is False
    assert verified == []


def test_a_lease_left_by_a_run_that_died_expires(table, registry, settings):
    now = [1_800_000_000.0]
    leases = UpkeepLeaseStore(table, clock=lambda: now[0])
    assert leases.acquire("killed-run", hold_seconds=300) is not None  # never released
    upkeep = ConnectionUpkeep(get_config(), settings, registry, leases)

    assert run_with_room_for(upkeep, settings, 100)[0].ran is False
    now[0] += 301
    report, verified = run_with_room_for(upkeep, settings, 100)

    assert report.ran is True
    assert verified == ORGANIZATIONS


def test_a_finished_run_frees_the_lease_and_keeps_the_cursor(table, upkeep, settings):
    run_with_room_for(upkeep, settings, 2)

    item = table.get_item(Key={"pk": "UPKEEP", "sk": "CONNECTIONS"}, ConsistentRead=True)["Item"]

    assert item.get("cursor") == "org-b"
    assert "lease_owner" not in item
    assert "expires_at" not in item, "the table's TTL must never delete the cursor"
    assert UpkeepLeaseStore(table).acquire("next-run", hold_seconds=60) is not None


def test_a_run_that_lost_its_lease_stops_and_leaves_the_cursor_to_the_new_holder(table, registry, settings):
    now = [1_800_000_000.0]
    leases = UpkeepLeaseStore(table, clock=lambda: now[0])
    upkeep = ConnectionUpkeep(get_config(), settings, registry, leases)
    verify = settings.verify

    def overrunning_verify(caller, urls, remaining_time_ms):
        if caller.org_id == "org-b":  # this run outlives its lease, and another run takes over
            now[0] += 3_600
            assert leases.acquire("next-run", hold_seconds=300) is not None
        return verify(caller, urls, remaining_time_ms)

    settings.verify = overrunning_verify
    report, verified = run_with_room_for(upkeep, settings, 100)

    assert verified == ["org-a", "org-b"]
    assert report.reached == "org-b"
    item = table.get_item(Key={"pk": "UPKEEP", "sk": "CONNECTIONS"}, ConsistentRead=True)["Item"]
    assert (item["cursor"], item["lease_owner"]) == ("org-a", "next-run"), "the new holder's lease stays"


def test_organizations_after_a_cursor_wrap_around_and_a_removed_cursor_still_works(registry):
    assert list(registry.organizations_after(None)) == ORGANIZATIONS
    assert list(registry.organizations_after("org-c")) == ["org-d", "org-e", "org-a", "org-b", "org-c"]
    registry.remove("org-c")
    assert list(registry.organizations_after("org-c")) == ["org-d", "org-e", "org-a", "org-b"]
