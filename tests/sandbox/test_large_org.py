"""The generated organization: exact sizes, determinism, the shapes a sync meets (hidden emails, deactivated users,
archived projects, secret teams), and paging all of it through the API."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import requests

from local.asana_sandbox import AsanaSandbox, demo
from local.asana_sandbox.large_org import LARGE, OrgSize, build_large_org

from .helpers import call, control, page_all

ORG = demo.ORG_WORKSPACE_GID
PAT = {"Authorization": f"Bearer {demo.DEMO_PAT}"}


@pytest.fixture(scope="module")
def large() -> Iterator[AsanaSandbox]:
    """The sizes issue 9 names (2,000 users, 300 teams, 5,000 projects, 20,000 tasks), served once for the module."""
    sandbox = AsanaSandbox(dataset=LARGE).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def test_paging_the_large_org_returns_every_record_exactly_once(large):
    users, user_calls = page_all(large, "/users", PAT, workspace=ORG)
    teams, team_calls = page_all(large, f"/workspaces/{ORG}/teams", PAT)
    projects, project_calls = page_all(large, "/projects", PAT, workspace=ORG)
    archived, _ = page_all(large, "/projects", PAT, workspace=ORG, archived="true")

    assert (len(users), user_calls) == (2000, 20)
    assert (len(teams), team_calls) == (300, 3)
    assert (len(projects), project_calls) == (5000, 50)
    assert len(archived) == 500  # every tenth project
    for records in (users, teams, projects):
        assert len({r["gid"] for r in records}) == len(records)


def test_the_large_orgs_tasks_page_per_project_to_the_total(large):
    store = large.state.store
    task_projects = sorted({m.project_gid for t in store.tasks.values() for m in t.memberships}, key=int)
    seen: list[str] = []
    calls = 0
    for gid in task_projects:
        tasks, used = page_all(large, f"/projects/{gid}/tasks", PAT, opt_fields="name,modified_at")
        seen.extend(t["gid"] for t in tasks)
        calls += used

    assert len(task_projects) == 1 + LARGE.task_projects  # the demo's task project and the generated ones
    assert len(seen) == len(set(seen)) == 20000
    # ceil(items / 100) per project: the pagination minimum the sync benchmark measures against.
    assert calls == sum(-(-len(store.project_tasks(store.projects[gid])) // 100) for gid in task_projects)


def test_team_memberships_page_to_every_membership(large):
    store = large.state.store
    team_gid = max(store.teams, key=lambda gid: len(store.memberships_by_team[gid]))
    memberships, _ = page_all(large, f"/teams/{team_gid}/team_memberships", PAT, limit=7)

    assert [m["user"]["gid"] for m in memberships] == list(store.memberships_by_team[team_gid])
    assert {m["team"]["gid"] for m in memberships} == {team_gid}


def test_deactivated_users_and_hidden_emails(large):
    store = large.state.store
    deactivated = [u for u in store.users.values() if ORG in u.deactivated_workspace_gids]
    listed, _ = page_all(large, "/users", PAT, workspace=ORG, opt_fields="email")
    listed_gids = {u["gid"] for u in listed}
    assigned = {t.assignee_gid for t in store.tasks.values()}

    assert len(deactivated) == LARGE.deactivated_users
    assert not listed_gids & {u.gid for u in deactivated}
    assert assigned & {u.gid for u in deactivated}, "some tasks stay assigned to deactivated users"
    # A deactivated assignee still resolves by gid, without being a member.
    former = call(large, "GET", f"/users/{deactivated[0].gid}", PAT).json()["data"]
    assert former["workspaces"] == []
    hidden = [u for u in listed if "email" not in u]
    assert len(hidden) == sum(1 for u in store.users.values() if u.email is None and ORG in u.workspace_gids) > 0


def test_the_demo_admin_sees_every_secret_team_and_a_member_does_not(large):
    store = large.state.store
    secret = {t.gid for t in store.teams.values() if t.visibility == "secret"}
    member = next(
        u.gid for u in store.users.values() if u.workspace_gids == [ORG] and u.gid != demo.DEMO_ADMIN_USER_GID
    )
    visible_to_member, _ = page_all(
        large, f"/workspaces/{ORG}/teams", {"Authorization": f"Bearer {large.issue_pat(member)}"}
    )

    assert len(secret) >= 10
    hidden_from_member = secret - {gid for gid in secret if store.is_team_member(gid, member)}
    assert hidden_from_member
    assert not hidden_from_member & {t["gid"] for t in visible_to_member}


def test_generation_is_deterministic_by_seed_and_sized_exactly():
    small = {
        "users": 60,
        "teams": 12,
        "projects": 260,
        "imported_tasks": 307,
        "task_projects": 3,
        "deactivated_users": 4,
    }
    first = build_large_org(**small, seed=7)
    again = build_large_org(**small, seed=7)
    other = build_large_org(**small, seed=8)

    assert dataclasses.asdict(first) == dataclasses.asdict(again)
    assert dataclasses.asdict(first) != dataclasses.asdict(other)
    assert sum(1 for u in first.users if ORG in u.workspace_gids) == 60
    assert sum(1 for u in first.users if ORG in u.deactivated_workspace_gids) == 4
    assert len(first.teams) == 12
    assert sum(1 for p in first.projects if p.workspace_gid == ORG) == 260
    assert len(first.tasks) == 307
    assert len(first.task_project_gids()) == 1 + 3


@pytest.mark.parametrize("size", [{"users": 5}, {"projects": 100}, {"imported_tasks": 1}])
def test_sizes_below_the_demo_organizations_are_refused(size):
    with pytest.raises(ValueError, match="at least"):
        build_large_org(**size)


def test_the_dataset_control_switches_a_running_sandbox_and_back(sandbox):
    size = {"users": 40, "teams": 8, "projects": 240, "imported_tasks": 120, "task_projects": 2, "seed": 3}

    grown = control(sandbox, "dataset", **size)
    projects, _ = page_all(sandbox, "/projects", PAT, workspace=ORG)
    restored = control(sandbox, "dataset", size="demo")
    after, _ = page_all(sandbox, "/projects", PAT, workspace=ORG)

    assert grown["ok"] is True
    assert len(projects) == 240
    assert grown["tasks"] == 120
    assert restored["tasks"] == demo.DEMO_TASK_COUNT
    assert len(after) == demo.ORG_PROJECT_COUNT


def test_switching_datasets_keeps_issued_tokens_and_clears_events(sandbox):
    pat = sandbox.issue_pat(demo.ORG_MEMBER_USER_GID)
    call(sandbox, "PUT", f"/projects/{demo.DEMO_TASK_PROJECT_GID}", PAT, {"name": "Renamed"})
    assert sandbox.events(demo.DEMO_TASK_PROJECT_GID)

    sandbox.load_dataset(OrgSize(users=20, teams=6, projects=231, imported_tasks=10, task_projects=1))

    me = call(sandbox, "GET", "/users/me", {"Authorization": f"Bearer {pat}"})
    assert me.status_code == 200
    assert sandbox.events(demo.DEMO_TASK_PROJECT_GID) == []
    project = call(sandbox, "GET", f"/projects/{demo.DEMO_TASK_PROJECT_GID}", PAT).json()["data"]
    assert project["name"] != "Renamed"


@pytest.mark.parametrize(
    ("body", "error"),
    [({"size": "huge"}, "size must be"), ({"users": 1}, "at least"), ({"colour": 1}, "unknown size fields")],
)
def test_the_dataset_control_rejects_bad_sizes(sandbox, body, error):
    response = requests.post(f"{sandbox.base_url}/_sandbox/dataset", json=body, timeout=10)

    assert response.status_code == 400
    assert error in response.json()["error"]


def test_too_few_unarchived_projects_for_the_task_projects_is_refused():
    # 231..240 are the generated projects; 240 is archived, so nine can hold tasks, not ten.
    with pytest.raises(ValueError, match="leave 9 unarchived"):
        build_large_org(projects=240, imported_tasks=100, task_projects=10)
