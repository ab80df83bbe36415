"""Issue 9's first Done-when, end to end on the local stack: the large generated organization, synced in full through
the real handlers, and its mirror, read the way SecureDB's services read it, equals the sandbox's data.

The stack's sandbox serves ``large_org.LARGE`` (2,000 users, 300 teams, 5,000 projects, 20,000 tasks in 20 generated
projects, plus the demo's). The demo admin connects her organization with the demo PAT and Starts now; the projects
that hold tasks are imported and she Starts now again. Each time the sync queue is drained (the gateway's SQS event
source runs the worker) until the run ends, and every mirrored list is read back through
``GET /asana/api/mirror/{kind}`` page by page (tasks per imported project) and compared, gid by gid and field by
field, with :func:`tests.sync_harness.expected_mirror`, which reads the sandbox's store, not the API the sync reads.
Then a task is changed and another deleted through Asana's own API, and an incremental sync shows both.

Nothing here depends on how many Asana calls the sync makes. One module-scoped setup: the organization is built and
synced once; afterwards the shared stack's mirror table and the sandbox's demo data are as they were, for the tests
that follow. The stack's moto server runs with DynamoDB's item-level costs instead of moto's whole-table ones
(local/moto_costs.py): without them moto, not the sync, takes most of the time and gigabytes of memory.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from moto.dynamodb.models import dynamodb_backends

from local.asana_sandbox import demo
from local.asana_sandbox.large_org import LARGE
from local.gateway.runtime import ACCOUNT_ID, REGION
from tests import log_audit
from tests.conftest import RunningStack
from tests.sync_harness import expected_mirror

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

TIMEOUT = 30
API = "/asana/api"
# Generous bounds for a drain of the whole organization on a slow CI machine; never asserted as timings.
DRAIN_TIMEOUT = 600
# The mirror's list keys (tests/sync_harness) as the API names them.
KINDS = {
    "WORKSPACE": "workspaces",
    "TEAM": "teams",
    "MEMBERSHIP": "memberships",
    "USER": "users",
    "PROJECT": "projects",
}
# What the mirror API adds to an entity's mirrored fields.
BOOKKEEPING = ("gid", "synced_at", "deleted_at")
log_audit.remember(demo.DEMO_PAT, demo.DEMO_APP_CLIENT_SECRET)


def api(stack: RunningStack, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(
        method, f"{stack.urls.gateway}{API}{path}", headers=stack.auth("admin"), timeout=TIMEOUT, **kwargs
    )


def asana(stack: RunningStack, method: str, path: str, **kwargs: Any) -> requests.Response:
    """Asana's REST API, called as the demo admin's own app would (a change made in Asana, not by SecureDB)."""
    headers = {"Authorization": f"Bearer {demo.DEMO_PAT}"}
    return requests.request(method, f"{stack.urls.asana_api}{path}", headers=headers, timeout=TIMEOUT, **kwargs)


def sandbox_control(stack: RunningStack, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(f"{stack.urls.sandbox}/_sandbox/{path}", json=body, timeout=120)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def drain(stack: RunningStack) -> None:
    """Run the sync queue through the worker until nothing is visible, in flight or delayed."""
    reports = stack.stack.drain_queues("SyncQueue", wait_for_invisible=True, timeout=DRAIN_TIMEOUT)
    assert all(report.settled for report in reports), reports


def run_sync(stack: RunningStack, mode: str) -> dict[str, Any]:
    """Start now, drain, and return the run as ``GET /asana/api/sync`` reports it once it has ended."""
    started = api(stack, "POST", "/sync", json={"mode": mode})
    assert (started.status_code, started.json()["started"]) == (202, True), started.text
    run_id = started.json()["run"]["run_id"]
    drain(stack)
    overview = api(stack, "GET", "/sync").json()
    assert overview["current"] is None, overview["current"]
    run: dict[str, Any] = next(run for run in overview["runs"] if run["run_id"] == run_id)
    return run


def read_mirror(stack: RunningStack, kind: str, **params: str) -> dict[str, dict[str, Any]]:
    """Every item of a mirrored list, page after page as a reader of the mirror would, by gid."""
    items: dict[str, dict[str, Any]] = {}
    offset: str | None = None
    while True:
        page = api(stack, "GET", f"/mirror/{kind}", params={**params, **({"offset": offset} if offset else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        for item in body["data"]:
            assert item["gid"] not in items, f"{kind}: {item['gid']} listed twice"
            items[item["gid"]] = item
        if not (offset := body["next_offset"]):
            return items


def fields(item: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in item.items() if name not in BOOKKEEPING}


def differences(list_key: str, mirrored: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]]) -> list[str]:
    """What differs between a mirrored list and the sandbox's, in words (empty: equal)."""
    found: list[str] = []
    missing, extra = expected.keys() - mirrored.keys(), mirrored.keys() - expected.keys()
    if missing:
        found.append(f"{list_key}: {len(missing)} missing from the mirror, e.g. {sorted(missing)[:3]}")
    if extra:
        found.append(f"{list_key}: {len(extra)} mirrored but not in the sandbox, e.g. {sorted(extra)[:3]}")
    changed = sorted(gid for gid in expected.keys() & mirrored.keys() if fields(mirrored[gid]) != expected[gid])
    for gid in changed[:3]:
        found.append(f"{list_key} {gid}: mirrored {fields(mirrored[gid])}, sandbox {expected[gid]}")
    if len(changed) > 3:
        found.append(f"{list_key}: {len(changed)} differ in all")
    return found


@dataclass
class LargeOrg:
    stack: RunningStack
    imported: list[str]
    first_run: dict[str, Any]
    run: dict[str, Any]

    def expected(self) -> dict[str, dict[str, dict[str, Any]]]:
        return expected_mirror(self.stack.stack.sandbox.state, demo.DEMO_ADMIN_USER_GID, self.imported)

    def mirrored(self, list_key: str) -> dict[str, dict[str, Any]]:
        if list_key.startswith("TASK#"):
            return read_mirror(self.stack, "tasks", project=list_key.removeprefix("TASK#"))
        return read_mirror(self.stack, KINDS[list_key])


@contextmanager
def mirror_table_restored(stack: RunningStack) -> Iterator[None]:
    """The stack's mirror table (mirror and sync state) exactly as before, afterwards. Disconnecting keeps the mirror,
    and the tests that follow on the shared stack would otherwise start by tombstoning twelve thousand entities of
    the large organization (in moto, in-process, that the stack serves)."""
    table = dynamodb_backends[ACCOUNT_ID][REGION].get_table(stack.stack.resources.references["MirrorTable"])
    saved = copy.deepcopy(table.items)
    try:
        yield
    finally:
        table.items = saved


@pytest.fixture(scope="module")
def large_org(local_stack: RunningStack) -> Iterator[LargeOrg]:
    """The large organization in the stack's sandbox; the demo organization connected with the demo PAT and synced in
    full; every project holding tasks imported (their first task imports run); synced in full again. Afterwards: the
    organization disconnected, the mirror table as it was (imports included) and the sandbox's demo data back.

    moto, not the sync, would set the pace here: it copies the whole mirror table on every ``TransactWriteItems``
    (each unit's completion) and sorts it on every ``Query``. The two harness patches make both cost what they cost
    on DynamoDB, with the same answers (tests/sync_harness.py)."""
    drain(local_stack)  # whatever an earlier test left queued
    with mirror_table_restored(local_stack):
        loaded = sandbox_control(local_stack, "dataset", {"size": "large"})
        assert loaded["tasks"] == LARGE.imported_tasks
        try:
            saved = api(
                local_stack,
                "PUT",
                "/settings",
                json={
                    "client_id": demo.DEMO_APP_CLIENT_ID,
                    "client_secret": demo.DEMO_APP_CLIENT_SECRET,
                    "pat": demo.DEMO_PAT,
                },
            )
            assert saved.status_code == 200, saved.text
            first_run = run_sync(local_stack, "full")  # projects must be mirrored before they can be imported
            store = local_stack.stack.sandbox.state.store
            with store.lock:
                imported = sorted({m.project_gid for task in store.tasks.values() for m in task.memberships})
            for project_gid in imported:
                response = api(local_stack, "POST", f"/projects/{project_gid}/import")
                assert response.status_code == 202, response.text
            drain(local_stack)
            run = run_sync(local_stack, "full")
            yield LargeOrg(local_stack, imported, first_run, run)
        finally:
            api(local_stack, "DELETE", "/settings")
            drain(local_stack)
            sandbox_control(local_stack, "dataset", {"size": "demo"})


def test_the_sandbox_holds_the_large_organization_of_issue_9(large_org: LargeOrg):
    expected = large_org.expected()

    members = [user for user in expected["USER"].values() if demo.ORG_WORKSPACE_GID in user["workspace_gids"]]
    projects = [
        project for project in expected["PROJECT"].values() if project["workspace_gid"] == demo.ORG_WORKSPACE_GID
    ]
    assert (len(members), len(expected["TEAM"]), len(projects)) == (LARGE.users, LARGE.teams, LARGE.projects)
    assert sum(len(expected[f"TASK#{gid}"]) for gid in large_org.imported) == LARGE.imported_tasks
    assert len(large_org.imported) == LARGE.task_projects + 1  # the demo's own task project too


def test_both_full_syncs_succeed_with_every_unit_done(large_org: LargeOrg):
    for run in (large_org.first_run, large_org.run):
        assert (run["status"], run["mode"], run["errors"]) == ("succeeded", "full", [])
        assert (run["pending"], run["units_failed"]) == (0, 0)
    # The second run found everything the first run and the imports had written, and wrote nothing.
    counts = large_org.run["counts"]
    assert all(kind["created"] == kind["updated"] == kind["deleted"] == 0 for kind in counts.values()), counts
    assert counts["tasks"]["unchanged"] == LARGE.imported_tasks


def test_the_mirror_read_through_the_api_equals_the_sandboxs_data(large_org: LargeOrg):
    expected = large_org.expected()
    assert set(expected) == {*KINDS, *(f"TASK#{gid}" for gid in large_org.imported)}

    found: list[str] = []
    for list_key, entities in expected.items():
        found += differences(list_key, large_org.mirrored(list_key), entities)

    assert not found, "\n".join(found)


def test_a_change_and_a_deletion_in_asana_show_after_the_next_incremental_sync(large_org: LargeOrg):
    project = next(gid for gid in large_org.imported if gid != demo.DEMO_TASK_PROJECT_GID)
    renamed, deleted = sorted(large_org.mirrored(f"TASK#{project}"))[:2]
    changed = asana(
        large_org.stack, "PUT", f"/tasks/{renamed}", json={"data": {"name": "Renamed in Asana", "completed": True}}
    )
    removed = asana(large_org.stack, "DELETE", f"/tasks/{deleted}")
    assert (changed.status_code, removed.status_code) == (200, 200), (changed.text, removed.text)

    run = run_sync(large_org.stack, "incremental")

    assert (run["status"], run["mode"], run["errors"]) == ("succeeded", "incremental", [])
    assert (run["counts"]["tasks"]["updated"], run["counts"]["tasks"]["deleted"]) == (1, 1), run["counts"]
    after = large_org.mirrored(f"TASK#{project}")
    assert (after[renamed]["name"], after[renamed]["completed"]) == ("Renamed in Asana", True)
    assert deleted not in after
    assert "deleted_at" in read_mirror(large_org.stack, "tasks", project=project, include_deleted="true")[deleted]
    assert not differences(f"TASK#{project}", after, large_org.expected()[f"TASK#{project}"])
