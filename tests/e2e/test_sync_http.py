"""The data sync's routes over HTTP on the local stack: gateway, JWT, the sync API function, moto and the sandbox.

One journey, as an admin would make it: save settings, Start now, the worker runs the queued units (the local
gateway's SQS event source, drained here), then read the runs, the mirror and the users' mapping, import a project
and stop importing it. Around it: a member is refused every route and another organization's admin sees and changes
none of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.asana_sandbox import demo
from tests import log_audit
from tests.conftest import RunningStack

pytestmark = pytest.mark.e2e

TIMEOUT = 30
API = "/asana/api"
log_audit.remember(demo.DEMO_PAT, demo.DEMO_APP_CLIENT_SECRET)


def api(stack: RunningStack, method: str, path: str, identity: str = "admin", **kwargs: Any) -> requests.Response:
    return requests.request(
        method, f"{stack.urls.gateway}{API}{path}", headers=stack.auth(identity), timeout=TIMEOUT, **kwargs
    )


def drain(stack: RunningStack) -> None:
    """Run the sync queue's messages through the worker until none is left (what Lambda's event source does)."""
    stack.stack.drain_queues("SyncQueue", wait_for_invisible=True, timeout=120)


@pytest.fixture(scope="module")
def synced(local_stack: RunningStack) -> Iterator[dict[str, Any]]:
    """The demo organization connected with the demo PAT and synced once in full; disconnected afterwards."""
    saved = api(
        local_stack,
        "PUT",
        "/settings",
        json={"client_id": demo.DEMO_APP_CLIENT_ID, "client_secret": demo.DEMO_APP_CLIENT_SECRET, "pat": demo.DEMO_PAT},
    )
    assert saved.status_code == 200, saved.text
    drain(local_stack)  # whatever an earlier test left queued
    started = api(local_stack, "POST", "/sync", json={"mode": "full"})
    assert started.status_code in {200, 202}, started.text
    drain(local_stack)
    try:
        yield started.json()["run"]
    finally:
        api(local_stack, "DELETE", "/settings")


def test_start_now_runs_a_full_sync_that_mirrors_the_sandbox(local_stack: RunningStack, synced: dict[str, Any]):
    overview = api(local_stack, "GET", "/sync").json()

    run = next(run for run in overview["runs"] if run["run_id"] == synced["run_id"])
    assert overview["current"] is None
    assert run["status"] == "succeeded", run["errors"]
    assert run["counts"]["users"]["created"] + run["counts"]["users"]["unchanged"] == len(demo.USER_GIDS)
    assert run["asana_calls"] > 0
    workspaces = api(local_stack, "GET", "/mirror/workspaces").json()["data"]
    assert {w["gid"] for w in workspaces} == {demo.ORG_WORKSPACE_GID, demo.PLAIN_WORKSPACE_GID}
    projects, offset = [], None
    while True:
        page = api(local_stack, "GET", "/mirror/projects", params={"offset": offset} if offset else {}).json()
        projects += page["data"]
        if not (offset := page["next_offset"]):
            break
    assert len(projects) == demo.ORG_PROJECT_COUNT + demo.PLAIN_PROJECT_COUNT
    assert sum(1 for p in projects if p["archived"]) >= demo.ORG_ARCHIVED_PROJECT_COUNT


def test_a_second_start_while_a_run_is_live_returns_it(local_stack: RunningStack, synced: dict[str, Any]):
    first = api(local_stack, "POST", "/sync", json={"mode": "incremental"})
    second = api(local_stack, "POST", "/sync")
    drain(local_stack)

    assert first.status_code == 202
    assert (second.status_code, second.json()["started"]) == (200, False)
    assert second.json()["run"]["run_id"] == first.json()["run"]["run_id"]


def test_an_imported_project_has_its_tasks_mirrored_until_the_import_stops(
    local_stack: RunningStack, synced: dict[str, Any]
):
    project = demo.DEMO_TASK_PROJECT_GID

    imported = api(local_stack, "POST", f"/projects/{project}/import")
    drain(local_stack)
    tasks = api(local_stack, "GET", "/mirror/tasks", params={"project": project}).json()["data"]
    stopped = api(local_stack, "DELETE", f"/projects/{project}/import")

    assert imported.status_code == 202, imported.text
    assert len(tasks) == demo.DEMO_TASK_COUNT
    assert {"name", "completed", "permalink_url"} <= tasks[0].keys()
    assert stopped.json() == {"project_gid": project, "imported": False, "tasks_removed": demo.DEMO_TASK_COUNT}
    assert api(local_stack, "GET", "/mirror/tasks", params={"project": project}).json()["data"] == []
    assert project not in [p["gid"] for p in api(local_stack, "GET", "/sync").json()["imports"]]


def test_users_map_by_sign_in_email_and_by_an_admins_hand(local_stack: RunningStack, synced: dict[str, Any]):
    # Dana's requests above carried her verified email claim, which is her Asana email in the sandbox.
    users = {u["gid"]: u for u in api(local_stack, "GET", "/users").json()["data"]}
    member = demo.ORG_MEMBER_USER_GID

    mapped = api(local_stack, "PUT", f"/users/{member}/mapping", json={"securedb_user_id": "user-blake-chen"})
    cleared = api(local_stack, "PUT", f"/users/{member}/mapping", json={"securedb_user_id": None})

    assert users[demo.DEMO_ADMIN_USER_GID]["mapping"]["method"] == "email"
    assert users[demo.DEMO_ADMIN_USER_GID]["mapping"]["securedb_user_id"] == "user-dana-admin"
    assert mapped.status_code == 200
    assert (mapped.json()["mapping"]["method"], mapped.json()["mapping"]["set_by"]) == ("manual", "user-dana-admin")
    assert cleared.json()["mapping"] is None or cleared.json()["mapping"]["method"] != "manual"


def test_another_organizations_admin_sees_and_changes_nothing(local_stack: RunningStack, synced: dict[str, Any]):
    project = demo.DEMO_TASK_PROJECT_GID

    overview = api(local_stack, "GET", "/sync", "other-admin").json()
    projects = api(local_stack, "GET", "/mirror/projects", "other-admin").json()["data"]
    users = api(local_stack, "GET", "/users", "other-admin").json()["data"]
    imported = api(local_stack, "POST", f"/projects/{project}/import", "other-admin")
    mapped = api(
        local_stack,
        "PUT",
        f"/users/{demo.ORG_MEMBER_USER_GID}/mapping",
        "other-admin",
        json={"securedb_user_id": "user-olu-okafor"},
    )

    assert (overview["current"], overview["runs"], overview["imports"]) == (None, [], [])
    assert (projects, users) == ([], [])
    # Judged against its own organization only: which has no Asana settings, and no such user.
    assert (imported.status_code, imported.json()["error"]["code"]) == (409, "not_configured")
    assert mapped.status_code == 404
    assert api(local_stack, "GET", "/users").json()["counts"]["mapped"] >= 1  # org-a's own mapping is intact


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/sync"),
        ("GET", "/sync"),
        ("GET", "/mirror/users"),
        ("POST", f"/projects/{demo.DEMO_TASK_PROJECT_GID}/import"),
        ("DELETE", f"/projects/{demo.DEMO_TASK_PROJECT_GID}/import"),
        ("GET", "/users"),
        ("PUT", f"/users/{demo.ORG_MEMBER_USER_GID}/mapping"),
    ],
)
def test_a_member_is_refused_every_sync_route(local_stack: RunningStack, method: str, path: str):
    response = api(local_stack, method, path, "member", json={"securedb_user_id": "user-blake-chen"})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "admin_required"


def test_no_token_is_refused_by_the_gateway(local_stack: RunningStack):
    response = requests.get(f"{local_stack.urls.gateway}{API}/sync", timeout=TIMEOUT)

    assert response.status_code == 401
