"""Task and section reads: order, filters (completed_since, modified_since), opt_fields, access and scopes."""

from __future__ import annotations

import pytest

from local.asana_sandbox import demo
from local.asana_sandbox.api import FULL_PERMISSIONS_REQUIRED
from local.asana_sandbox.api_tasks import MUST_SPECIFY_ONE
from local.asana_sandbox.errors import FORBIDDEN

from .helpers import call, error_message, page_all, token_for

PROJECT = demo.DEMO_TASK_PROJECT_GID
TASKS = [demo.numbered_gid(demo.TASK_PREFIX, n) for n in range(1, demo.DEMO_TASK_COUNT + 1)]


def gids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [record["gid"] for record in response.json()["data"]]


def test_project_tasks_come_section_by_section_and_page(sandbox, pat_headers):
    records, calls = page_all(sandbox, f"/projects/{PROJECT}/tasks", pat_headers, limit=3)
    sections = gids(call(sandbox, "GET", f"/projects/{PROJECT}/sections", pat_headers))

    assert [r["gid"] for r in records] == TASKS
    assert calls == 3
    assert records[0] == {
        "gid": TASKS[0],
        "resource_type": "task",
        "name": "Triage the OpenSSL advisory",
        "resource_subtype": "default_task",
    }
    assert len(sections) == len(demo.DEMO_SECTION_NAMES)


def test_every_project_has_a_section(sandbox, pat_headers):
    project = demo.numbered_gid(demo.PROJECT_PREFIX, 2)

    sections = call(sandbox, "GET", f"/projects/{project}/sections", pat_headers).json()["data"]

    assert [s["name"] for s in sections] == ["Untitled section"]


def test_the_fields_a_sync_mirrors_come_through_opt_fields(sandbox, pat_headers):
    fields = "name,completed,assignee.name,due_on,memberships.section.name,modified_at,permalink_url"

    task = call(sandbox, "GET", f"/tasks/{TASKS[0]}", pat_headers, opt_fields=fields).json()["data"]

    assert task == {
        "gid": TASKS[0],
        "name": "Triage the OpenSSL advisory",
        "completed": False,
        "assignee": {"gid": demo.ORG_MEMBER_USER_GID, "name": "Blake Chen"},
        "due_on": "2025-02-01",
        "memberships": [{"section": {"gid": demo.numbered_gid(demo.SECTION_PREFIX, 1), "name": "To do"}}],
        "modified_at": "2025-01-01T01:10:00.000Z",
        "permalink_url": f"https://app.asana.com/0/0/{TASKS[0]}",
    }


def test_get_tasks_by_project_section_or_assignee(sandbox, pat_headers):
    done = demo.numbered_gid(demo.SECTION_PREFIX, 3)

    by_project = gids(call(sandbox, "GET", "/tasks", pat_headers, project=PROJECT))
    by_section = gids(call(sandbox, "GET", "/tasks", pat_headers, section=done))
    mine = gids(call(sandbox, "GET", "/tasks", pat_headers, assignee="me", workspace=demo.ORG_WORKSPACE_GID))

    assert by_project == TASKS
    assert by_section == TASKS[5:]
    store = sandbox.state.store
    assert mine == [gid for gid in TASKS if store.tasks[gid].assignee_gid == demo.DEMO_ADMIN_USER_GID] != []


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"assignee": "me"},
        {"workspace": demo.ORG_WORKSPACE_GID},
        {"project": PROJECT, "section": "1207000000000001"},
    ],
)
def test_get_tasks_needs_exactly_one_filter(sandbox, pat_headers, params):
    response = call(sandbox, "GET", "/tasks", pat_headers, **params)

    assert response.status_code == 400
    assert error_message(response) == MUST_SPECIFY_ONE


def test_modified_since_keeps_tasks_modified_at_or_after(sandbox, pat_headers):
    # Demo task n was modified at 2025-01-01 n:10 UTC.
    since_four = call(sandbox, "GET", "/tasks", pat_headers, project=PROJECT, modified_since="2025-01-01T04:10:00Z")
    with_offset = call(sandbox, "GET", "/tasks", pat_headers, project=PROJECT, modified_since="2025-01-01T05:00+01:00")

    assert gids(since_four) == TASKS[3:]
    assert gids(with_offset) == TASKS[3:]


def test_a_change_is_what_modified_since_finds(sandbox, pat_headers):
    mark = call(sandbox, "GET", f"/tasks/{TASKS[0]}", pat_headers).json()["data"]["modified_at"]
    call(sandbox, "PUT", f"/tasks/{TASKS[2]}", pat_headers, {"name": "Changed"})
    changed_at = call(sandbox, "GET", f"/tasks/{TASKS[2]}", pat_headers).json()["data"]["modified_at"]

    found = gids(call(sandbox, "GET", "/tasks", pat_headers, project=PROJECT, modified_since=changed_at))

    assert mark < changed_at
    assert found == [TASKS[2]]


def test_project_tasks_ignore_modified_since_as_the_spec_declares_it_only_on_get_tasks(sandbox, pat_headers):
    response = call(sandbox, "GET", f"/projects/{PROJECT}/tasks", pat_headers, modified_since="2030-01-01T00:00:00Z")

    assert gids(response) == TASKS


@pytest.mark.parametrize("path", ["/tasks", f"/projects/{PROJECT}/tasks"])
def test_completed_since(sandbox, pat_headers, path):
    params = {"project": PROJECT} if path == "/tasks" else {}
    # Tasks 6 and 7 are done, completed at 06:10 and 07:10.
    now = gids(call(sandbox, "GET", path, pat_headers, completed_since="now", **params))
    since_seven = gids(call(sandbox, "GET", path, pat_headers, completed_since="2025-01-01T07:00:00Z", **params))

    assert now == TASKS[:5]
    assert since_seven == [*TASKS[:5], TASKS[6]]


def test_a_malformed_date_time_is_400(sandbox, pat_headers):
    response = call(sandbox, "GET", "/tasks", pat_headers, project=PROJECT, modified_since="last tuesday")

    assert response.status_code == 400
    assert error_message(response) == "modified_since: Not a valid date-time: last tuesday"


def test_tasks_of_a_secret_teams_project_are_forbidden_to_others(sandbox, pat_headers):
    store = sandbox.state.store
    secret_project = next(p for p in store.projects.values() if p.team_gid == demo.TEAM_LEADERSHIP_GID)
    created = call(sandbox, "POST", "/tasks", pat_headers, {"name": "Board prep", "projects": [secret_project.gid]})
    outsider_of_team = {"Authorization": f"Bearer {sandbox.issue_pat(demo.USER_GIDS[3])}"}

    task = call(sandbox, "GET", f"/tasks/{created.json()['data']['gid']}", outsider_of_team)
    listing = call(sandbox, "GET", f"/projects/{secret_project.gid}/tasks", outsider_of_team)

    assert not store.is_team_member(demo.TEAM_LEADERSHIP_GID, demo.USER_GIDS[3])
    assert (task.status_code, error_message(task)) == (403, FORBIDDEN)
    assert listing.status_code == 403


def test_granular_tokens_read_tasks_but_not_sections_or_events(sandbox):
    granular = token_for(sandbox)

    tasks = call(sandbox, "GET", f"/projects/{PROJECT}/tasks", granular)
    sections = call(sandbox, "GET", f"/projects/{PROJECT}/sections", granular)
    events = call(sandbox, "GET", "/events", granular, resource=PROJECT)

    assert gids(tasks) == TASKS
    assert (sections.status_code, error_message(sections)) == (403, FULL_PERMISSIONS_REQUIRED)
    assert (events.status_code, error_message(events)) == (403, FULL_PERMISSIONS_REQUIRED)


def test_a_granular_token_without_team_memberships_read_is_refused(sandbox):
    response = call(sandbox, "GET", f"/teams/{demo.TEAM_SECURITY_GID}/team_memberships", token_for(sandbox))

    assert response.status_code == 403
    assert "team_memberships:read" in error_message(response)


def test_team_memberships_by_team_user_and_gid(sandbox, pat_headers):
    team = demo.TEAM_SECURITY_GID
    of_team = call(sandbox, "GET", "/team_memberships", pat_headers, team=team).json()["data"]
    of_member = call(
        sandbox,
        "GET",
        f"/users/{demo.ORG_MEMBER_USER_GID}/team_memberships",
        pat_headers,
        workspace=demo.ORG_WORKSPACE_GID,
    ).json()["data"]
    one = call(sandbox, "GET", f"/team_memberships/{of_team[0]['gid']}", pat_headers).json()["data"]

    assert [m["user"]["name"] for m in of_team] == ["Dana Admin", "Blake Chen", "Carmen Diaz"]
    assert [m["is_admin"] for m in of_team] == [True, False, False]
    assert [m["team"]["gid"] for m in of_member] == [team]
    assert one == of_team[0]
