"""The data sync end to end, in-process: the real dispatcher and worker handlers, moto's SQS played as Lambda's event
source (batches, partial failures, redelivery), the Asana sandbox as Asana. After each run the mirror must equal the
sandbox's own data, and nothing may be written twice."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from asana_integration.config import get_config
from asana_integration.models.credentials import OrgCredentials
from asana_integration.models.sync import SyncRun
from asana_integration.sync import engine, listing
from asana_integration.web.dependencies import Services
from local.asana_sandbox import AsanaSandbox, demo
from local.asana_sandbox.large_org import OrgSize
from local.moto_costs import item_level_transaction_backups
from tests.aws import AwsResources
from tests.handlers.conftest import function_module
from tests.sync_harness import (
    MirrorWrites,
    SqsLoop,
    WorkerKilled,
    expected_mirror,
    live,
    mirror_contents,
    tombstones,
)

ORG = "org-a"
# Most lists take several pages, yet the test stays quick (moto copies the table in every transaction; the
# benchmark syncs the large organization).
MID_SIZE = OrgSize(users=180, teams=12, projects=320, imported_tasks=450, task_projects=2, deactivated_users=5)
# One imported project of three pages of tasks, and three pages of projects: something to kill a worker in.
KILL_SIZE = OrgSize(users=20, teams=6, projects=300, imported_tasks=250, task_projects=1, deactivated_users=1)


@dataclass
class Sync:
    services: Services
    sandbox: AsanaSandbox
    resources: AwsResources
    dispatcher: ModuleType
    loop: SqsLoop
    writes: MirrorWrites

    def run(self, mode: str = "full") -> SyncRun:
        result = self.dispatcher.lambda_handler({"mode": mode}, _context())
        assert result["organizations"] == 1
        self.loop.drain()
        return self.last_run()

    def last_run(self) -> SyncRun:
        return self.services.sync_state.recent_runs(ORG)[0]

    def imports(self) -> list[str]:
        return [project.gid for project in self.services.sync_state.imports(ORG)]

    def import_projects(self, *gids: str) -> None:
        for gid in gids:
            self.services.sync_state.add_import(ORG, gid, imported_by="admin-a")

    def contents(self) -> dict[str, dict[str, Any]]:
        return mirror_contents(self.services.mirror_table, ORG)

    def assert_mirror_equals_sandbox(self) -> None:
        expected = expected_mirror(self.sandbox.state, demo.DEMO_ADMIN_USER_GID, self.imports())
        contents = self.contents()
        for list_key, entities in expected.items():
            mirrored = live(contents, list_key)
            assert mirrored.keys() == entities.keys(), f"{list_key}: different gids"
            different = [gid for gid in entities if mirrored[gid] != entities[gid]]
            assert not different, f"{list_key}: {different[:3]} differ, e.g. {mirrored[different[0]]}"
        stray = set(contents) - set(expected)
        assert not any(live(contents, key) for key in stray), f"lists mirrored that should not be: {stray}"


def _context() -> Any:
    from tests.events import LambdaContext

    return LambdaContext(timeout_seconds=120)


def connect(services: Services, org_id: str = ORG, pat: str = demo.DEMO_PAT) -> None:
    """The organization's saved settings with a PAT, verified connected (what Save Asana Settings leaves)."""
    credentials = OrgCredentials(client_id=demo.DEMO_APP_CLIENT_ID, client_secret=demo.DEMO_APP_CLIENT_SECRET, pat=pat)
    services.credentials.save(org_id, credentials)
    services.organizations.register(org_id, "connected")


@pytest.fixture
def sync_env() -> dict[str, str]:
    """Environment the sync runs with beyond the template's; a test changes it with ``parametrize("sync_env", …)``."""
    return {}


@pytest.fixture
def sync(sandbox, aws_with_sandbox, sync_env, monkeypatch) -> Iterator[Sync]:
    for name, value in sync_env.items():
        monkeypatch.setenv(name, value)
    get_config.cache_clear()
    services = Services()
    connect(services)
    worker, dispatcher = function_module("sync", "worker"), function_module("sync", "dispatcher")
    for module in (worker, dispatcher):
        monkeypatch.setattr(module, "get_services", lambda: services)
    # Waits the engine would ask SQS for (after a 5xx) are not waited in tests.
    monkeypatch.setattr(engine, "FAILURE_BACKOFF_SECONDS", 0)
    loop = SqsLoop(aws_with_sandbox.sync_queue_url, worker)
    writes = MirrorWrites().install(services.mirror_table)
    with item_level_transaction_backups():
        yield Sync(services, sandbox, aws_with_sandbox, dispatcher, loop, writes)
    services.asana_session.close()  # the sandbox stops only once no client holds a connection open


def projects_with_tasks(sync: Sync) -> list[str]:
    return sorted({m.project_gid for task in sync.sandbox.state.store.tasks.values() for m in task.memberships})


def pagination_minimum(sync: Sync) -> int:
    """Σ ⌈items/100⌉ over every list a full sync reads (an empty list still takes its one call)."""
    expected = expected_mirror(sync.sandbox.state, demo.DEMO_ADMIN_USER_GID, sync.imports())
    store = sync.sandbox.state.store
    pages = lambda n: max(1, math.ceil(n / 100))  # noqa: E731
    workspaces = expected["WORKSPACE"]
    users = sum(pages(sum(1 for u in store.users.values() if ws in u.workspace_gids)) for ws in workspaces)
    projects = sum(pages(sum(1 for p in expected["PROJECT"].values() if p["workspace_gid"] == ws)) for ws in workspaces)
    organizations = [gid for gid, ws in workspaces.items() if ws["is_organization"]]
    teams = sum(pages(sum(1 for t in expected["TEAM"].values() if t["workspace_gid"] == ws)) for ws in organizations)
    memberships = sum(
        pages(sum(1 for m in expected["MEMBERSHIP"].values() if m["team_gid"] == team)) for team in expected["TEAM"]
    )
    tasks = sum(pages(len(expected[f"TASK#{gid}"])) for gid in sync.imports())
    return pages(len(workspaces)) + users + projects + teams + memberships + tasks


def test_a_full_sync_of_the_demo_organization_mirrors_it_exactly(sync):
    sync.import_projects(demo.DEMO_TASK_PROJECT_GID)
    calls_before = sync.sandbox.request_count()

    run = sync.run("full")

    sync.assert_mirror_equals_sandbox()
    assert (run.status, run.pending, run.errors) == ("succeeded", 0, [])
    assert run.counts["projects"].created == demo.ORG_PROJECT_COUNT + demo.PLAIN_PROJECT_COUNT
    assert run.counts["tasks"].created == demo.DEMO_TASK_COUNT
    assert run.counts["teams"].created == len(demo.TEAM_GIDS)
    # Every call is a page of a list, plus one Batch API request taking the imported project's first sync token.
    minimum = pagination_minimum(sync)
    assert sync.sandbox.request_count() - calls_before == run.asana_calls == minimum + 1
    assert sync.sandbox.request_count("POST", "/api/1.0/batch") == 1
    assert not sync.writes.twice()
    assert sync.writes.total() == sum(c.created for c in run.counts.values())


def test_a_second_unchanged_full_sync_writes_no_mirror_item(sync):
    sync.import_projects(demo.DEMO_TASK_PROJECT_GID)
    sync.run("full")
    sync.writes.clear()
    calls_before = sync.sandbox.request_count()

    run = sync.run("full")

    assert run.status == "succeeded"
    assert sync.writes.total() == 0
    assert all(c.created == c.updated == c.deleted == 0 for c in run.counts.values())
    assert run.counts["users"].unchanged == len(demo.USER_GIDS)
    assert sync.sandbox.request_count() - calls_before == pagination_minimum(sync)  # the token is stored now


def test_an_incremental_sync_with_nothing_changed_makes_one_call_per_imported_project(sync):
    sync.import_projects(demo.DEMO_TASK_PROJECT_GID, demo.numbered_gid(demo.PROJECT_PREFIX, 2))
    sync.run("full")
    sync.writes.clear()
    calls_before = sync.sandbox.request_count()

    run = sync.run("incremental")

    assert (run.status, run.mode, run.total_units) == ("succeeded", "incremental", 3)
    assert sync.sandbox.request_count() - calls_before == run.asana_calls == 2
    assert sync.writes.total() == 0


def test_a_change_and_a_deletion_in_asana_show_after_the_next_incremental_sync(sync):
    sync.import_projects(demo.DEMO_TASK_PROJECT_GID)
    sync.run("full")
    store, changes = sync.sandbox.state.store, sync.sandbox.changes
    renamed = store.tasks[demo.numbered_gid(demo.TASK_PREFIX, 1)]
    deleted = store.tasks[demo.numbered_gid(demo.TASK_PREFIX, 2)]
    moved = store.tasks[demo.numbered_gid(demo.TASK_PREFIX, 3)]
    project = store.projects[demo.DEMO_TASK_PROJECT_GID]
    changes.update_task(demo.DEMO_ADMIN_USER_GID, renamed, {"name": "Triage the OpenSSL advisory (again)"})
    changes.delete_task(demo.DEMO_ADMIN_USER_GID, deleted)
    changes.add_task_to_project(
        demo.DEMO_ADMIN_USER_GID, moved, project, section=store.sections[project.section_gids[-1]]
    )
    sync.writes.clear()

    run = sync.run("incremental")

    sync.assert_mirror_equals_sandbox()
    assert tombstones(sync.contents(), f"TASK#{demo.DEMO_TASK_PROJECT_GID}") == {deleted.gid}
    assert (run.counts["tasks"].updated, run.counts["tasks"].deleted) == (2, 1)
    assert sync.writes.total() == 3
    assert run.asana_calls == 2  # the events, then one listing of the tasks changed since


def test_a_mid_size_organization_is_mirrored_exactly_within_the_pagination_minimum(sync):
    sync.sandbox.load_dataset(MID_SIZE)
    imported = projects_with_tasks(sync)
    sync.import_projects(*imported)

    run = sync.run("full")

    sync.assert_mirror_equals_sandbox()
    assert run.status == "succeeded"
    # + the imported projects' first sync tokens, ten projects a Batch API request
    assert run.asana_calls == pagination_minimum(sync) + math.ceil(len(imported) / 10)
    assert not sync.writes.twice()


def test_when_asana_gives_no_sync_tokens_ahead_each_project_takes_its_own_and_misses_nothing(sync):
    imported = [demo.DEMO_TASK_PROJECT_GID, demo.numbered_gid(demo.PROJECT_PREFIX, 2)]
    sync.import_projects(*imported)
    sync.sandbox.inject_errors(count=1, status=500, path_prefix="/api/1.0/batch")

    run = sync.run("full")
    renamed = sync.sandbox.state.store.tasks[demo.numbered_gid(demo.TASK_PREFIX, 1)]
    sync.sandbox.changes.update_task(demo.DEMO_ADMIN_USER_GID, renamed, {"name": "Renamed after the full sync"})
    incremental = sync.run("incremental")

    assert (run.status, incremental.status) == ("succeeded", "succeeded")
    # The failed batch, then one events call per project, taking its token before its listing.
    assert run.asana_calls == pagination_minimum(sync) + 1 + len(imported)
    assert sync.sandbox.request_count("GET", "/api/1.0/events") == len(imported) * 2
    sync.assert_mirror_equals_sandbox()


def test_deactivated_users_and_deleted_teams_and_projects_become_tombstones(sync):
    sync.run("full")
    store, changes = sync.sandbox.state.store, sync.sandbox.changes
    leaver = demo.USER_GIDS[3]
    changes.deactivate_user(None, leaver, demo.ORG_WORKSPACE_GID)
    team = demo.TEAM_COMPLIANCE_GID
    members = list(store.memberships_by_team[team])
    changes.delete_team(None, team)

    run = sync.run("full")

    sync.assert_mirror_equals_sandbox()
    contents = sync.contents()
    assert leaver in tombstones(contents, "USER")
    assert team in tombstones(contents, "TEAM")
    assert {f"{team}#{user}" for user in members} <= tombstones(contents, "MEMBERSHIP")
    assert run.counts["projects"].deleted == demo.ORG_PROJECT_COUNT // len(demo.TEAM_GIDS)


def test_a_worker_killed_mid_run_loses_nothing_and_writes_nothing_twice(sync, monkeypatch):
    sync.sandbox.load_dataset(KILL_SIZE)
    sync.import_projects(*projects_with_tasks(sync))
    # Checkpoint after every page, and kill the worker twice: once right after a page of projects was written, once
    # mid-way through a task listing.
    monkeypatch.setattr(listing, "CHECKPOINT_INTERVAL_SECONDS", 0)
    original_apply = sync.services.mirror.apply
    kills = {"PROJECT": 2, "TASK": 2}

    def apply_then_die(org_id, kind, parent, entities, **kwargs):
        counts = original_apply(org_id, kind, parent, entities, **kwargs)
        if kills.get(kind.value) == 1:
            kills[kind.value] = 0
            raise WorkerKilled
        if kills.get(kind.value):
            kills[kind.value] -= 1
        return counts

    monkeypatch.setattr(sync.services.mirror, "apply", apply_then_die)

    run = sync.run("full")

    assert sync.loop.stats.killed_batches == 2
    sync.assert_mirror_equals_sandbox()
    assert run.status == "succeeded"
    assert not sync.writes.twice()
    # A page written after the last checkpoint and before the kill is read again, and counted unchanged then.
    expected = expected_mirror(sync.sandbox.state, demo.DEMO_ADMIN_USER_GID, sync.imports())
    assert sync.writes.total() == sum(len(entities) for entities in expected.values())


def test_a_429_storm_still_leaves_the_mirror_equal_and_nothing_written_twice(sync):
    sync.import_projects(demo.DEMO_TASK_PROJECT_GID)
    # More 429s in a row than the client retries (3): the unit waits, is sent again, and carries on.
    sync.sandbox.force_rate_limit(count=12, retry_after=0)

    run = sync.run("full")

    sync.assert_mirror_equals_sandbox()
    assert run.status == "succeeded"
    assert run.rate_limited == 12
    assert not sync.writes.twice()


@pytest.mark.parametrize("sync_env", [{"ASANA_MAX_RETRIES": "0"}])  # every 5xx reaches the engine
def test_asana_5xx_faults_still_leave_the_mirror_equal(sync):
    sync.import_projects(demo.DEMO_TASK_PROJECT_GID)
    sync.sandbox.inject_errors(count=2, status=503, path_prefix="/api/1.0/projects")
    sync.sandbox.inject_errors(count=1, status=500, path_prefix="/api/1.0/tasks")

    run = sync.run("full")

    sync.assert_mirror_equals_sandbox()
    assert (run.status, run.errors) == ("succeeded", [])
    assert sum(1 for request in sync.sandbox.requests() if request.status >= 500) == 3  # each unit sent again
    assert not sync.writes.twice()


def test_an_organization_whose_token_is_rejected_records_a_failed_run_with_the_seed_message(sync):
    sync.sandbox.revoke_pat(demo.DEMO_PAT)
    listed_before = sync.sandbox.request_count("GET", "/api/1.0/workspaces")

    run = sync.run("full")

    assert run.status == "failed"
    assert [(e.kind, e.code, e.message) for e in run.errors] == [
        ("plan", "asana_authentication_failed", "Authentication failed. Your token may have expired.")
    ]
    assert run.errors[0].fix
    assert sync.sandbox.request_count("GET", "/api/1.0/workspaces") == listed_before + 1  # never retried in a loop
    assert sync.contents() == {}
