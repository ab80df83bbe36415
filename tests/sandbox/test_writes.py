"""Asana's task and project writes: what each changes, the events it records, modified_at, and every refusal."""

from __future__ import annotations

import pytest
import requests

from local.asana_sandbox import demo
from local.asana_sandbox.api_projects import TEAM_REQUIRED
from local.asana_sandbox.api_tasks import NO_CONTAINER
from local.asana_sandbox.errors import FORBIDDEN

from .helpers import call, error_message, token_for

ORG, TEAM = demo.ORG_WORKSPACE_GID, demo.TEAM_SECURITY_GID
PROJECT = demo.DEMO_TASK_PROJECT_GID
OTHER_PROJECT = demo.numbered_gid(demo.PROJECT_PREFIX, 2)
TASKS = [demo.numbered_gid(demo.TASK_PREFIX, n) for n in range(1, demo.DEMO_TASK_COUNT + 1)]
SECTIONS = [demo.numbered_gid(demo.SECTION_PREFIX, n) for n in range(1, 4)]
DANA = {"gid": demo.DEMO_ADMIN_USER_GID, "resource_type": "user", "name": demo.DEMO_ADMIN_NAME}
UNKNOWN_FIELD = "Unknown property. Only the spec's writable fields are accepted."
NOT_MODELLED = "Valid in Asana, but the sandbox does not model this field."
NEEDS_SCOPE = "Forbidden: this token does not have the required scope `{}`."


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    data: dict = response.json()["data"]
    return data


def summary(events: list[dict]) -> list[tuple]:
    return [
        (e["action"], e["resource"]["gid"], (e["parent"] or {}).get("gid"), e.get("change", {}).get("field"))
        for e in events
    ]


# --- Tasks --------------------------------------------------------------------------------------------------------


def test_create_a_task_in_a_project(sandbox, pat_headers):
    body = {"name": "Rotate keys", "projects": [PROJECT], "assignee": "me", "due_on": "2025-06-30", "notes": "n"}

    task = ok(call(sandbox, "POST", "/tasks", pat_headers, body), 201)

    assert task["name"] == "Rotate keys"
    assert task["assignee"] == DANA
    assert task["due_on"] == "2025-06-30"
    assert task["workspace"]["gid"] == ORG
    # Asana adds a task given no position "to the end of the project": the end of its last section.
    assert task["memberships"] == [
        {
            "project": {"gid": PROJECT, "resource_type": "project", "name": "Vulnerability triage 001"},
            "section": {"gid": SECTIONS[2], "resource_type": "section", "name": "Done"},
        }
    ]
    assert task["created_at"] == task["modified_at"]
    listed = [t["gid"] for t in ok(call(sandbox, "GET", f"/projects/{PROJECT}/tasks", pat_headers))]
    assert listed == [*TASKS, task["gid"]]
    assert summary(sandbox.events(PROJECT)) == [("added", task["gid"], PROJECT, None)]
    assert sandbox.events(PROJECT)[0]["user"] == DANA


def test_create_a_task_in_a_workspace_only(sandbox, pat_headers):
    task = ok(call(sandbox, "POST", "/tasks", pat_headers, {"name": "Loose end", "workspace": ORG}), 201)

    assert task["projects"] == []
    assert summary(sandbox.events(task["gid"])) == [("added", task["gid"], ORG, None)]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"name": "Nowhere"}, 400, NO_CONTAINER),
        ({"workspace": ORG, "completed": "yes"}, 400, "completed: Not a boolean: 'yes'"),
        ({"workspace": ORG, "due_on": "soon"}, 400, "due_on: Not a valid date: soon"),
        ({"workspace": ORG, "tags": []}, 400, f"tags: {NOT_MODELLED}"),
        ({"workspace": ORG, "colour": "red"}, 400, f"colour: {UNKNOWN_FIELD}"),
        ({"projects": ["1204999999999999"]}, 404, "projects: Not a recognized ID: 1204999999999999"),
        (
            {"projects": [PROJECT], "workspace": demo.PLAIN_WORKSPACE_GID},
            400,
            "projects: Every project must be in the task's workspace.",
        ),
        (
            {"workspace": ORG, "assignee": demo.OUTSIDER_USER_GID},
            400,
            f"assignee: {demo.OUTSIDER_USER_GID} is not a member of the task's workspace.",
        ),
        ({"workspace": ORG, "assignee": "no@example.com"}, 404, "assignee: Not a recognized ID: no@example.com"),
    ],
)  # fmt: skip
def test_bad_task_bodies_are_refused_and_change_nothing(sandbox, pat_headers, body, status, message):
    before = len(sandbox.state.store.tasks)

    response = call(sandbox, "POST", "/tasks", pat_headers, body)

    assert (response.status_code, error_message(response)) == (status, message)
    assert len(sandbox.state.store.tasks) == before
    assert sandbox.events(ORG) == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "Could not parse request data: the body must be a JSON object."),
        (b'{"name": "no data envelope"}', "data: Missing input"),
        (b'{"data": ["a list"]}', "data: Missing input"),
    ],
)
def test_a_body_without_a_data_object_is_400(sandbox, pat_headers, raw, message):
    headers = {**pat_headers, "Content-Type": "application/json"}

    response = requests.post(f"{sandbox.api_base_url}/tasks", data=raw, headers=headers, timeout=5)

    assert (response.status_code, error_message(response)) == (400, message)


def test_update_a_task_records_one_event_per_changed_field(sandbox, pat_headers):
    before = ok(call(sandbox, "GET", f"/tasks/{TASKS[0]}", pat_headers))
    sandbox.advance_clock(5)

    task = ok(
        call(
            sandbox,
            "PUT",
            f"/tasks/{TASKS[0]}",
            pat_headers,
            {"completed": True, "assignee": "me", "name": before["name"]},
        )
    )

    assert task["completed"] is True
    assert task["completed_at"] == task["modified_at"] > before["modified_at"]
    assert task["assignee"] == DANA
    events = sandbox.events(TASKS[0])
    assert summary(events) == [("changed", TASKS[0], None, "completed"), ("changed", TASKS[0], None, "assignee")]
    assert events[1]["change"] == {"field": "assignee", "action": "changed", "new_value": DANA}
    assert "new_value" not in events[0]["change"]  # the spec: only when the new value is a resource
    assert summary(sandbox.events(PROJECT)) == summary(events)  # task events bubble up to the project


def test_an_update_to_the_same_values_changes_nothing(sandbox, pat_headers):
    before = ok(call(sandbox, "GET", f"/tasks/{TASKS[0]}", pat_headers))

    after = ok(call(sandbox, "PUT", f"/tasks/{TASKS[0]}", pat_headers, {"name": before["name"], "completed": False}))

    assert after["modified_at"] == before["modified_at"]
    assert sandbox.events(TASKS[0]) == []


def test_unassign_and_clear_a_due_date(sandbox, pat_headers):
    task = ok(call(sandbox, "PUT", f"/tasks/{TASKS[0]}", pat_headers, {"assignee": None, "due_on": None}))

    assert (task["assignee"], task["due_on"]) == (None, None)
    assert [e["change"] for e in sandbox.events(TASKS[0])] == [
        {"field": "assignee", "action": "changed"},
        {"field": "due_on", "action": "changed"},
    ]


def test_delete_a_task_then_restore_it_from_the_trash(sandbox, pat_headers):
    deleted = call(sandbox, "DELETE", f"/tasks/{TASKS[1]}", pat_headers)
    gone = call(sandbox, "GET", f"/tasks/{TASKS[1]}", pat_headers)
    listed_while_gone = [t["gid"] for t in ok(call(sandbox, "GET", f"/projects/{PROJECT}/tasks", pat_headers))]
    sandbox.changes.undelete_task(demo.DEMO_ADMIN_USER_GID, TASKS[1])
    back = ok(call(sandbox, "GET", f"/tasks/{TASKS[1]}", pat_headers))

    assert deleted.json() == {"data": {}}
    assert gone.status_code == 404
    assert TASKS[1] not in listed_while_gone
    assert back["memberships"][0]["section"]["gid"] == SECTIONS[0]
    assert summary(sandbox.events(PROJECT)) == [("deleted", TASKS[1], None, None), ("undeleted", TASKS[1], None, None)]


def test_add_a_task_to_another_project_and_remove_it(sandbox, pat_headers):
    added = call(sandbox, "POST", f"/tasks/{TASKS[0]}/addProject", pat_headers, {"project": OTHER_PROJECT})
    task = ok(call(sandbox, "GET", f"/tasks/{TASKS[0]}", pat_headers))
    removed = call(sandbox, "POST", f"/tasks/{TASKS[0]}/removeProject", pat_headers, {"project": OTHER_PROJECT})
    again = call(sandbox, "POST", f"/tasks/{TASKS[0]}/removeProject", pat_headers, {"project": OTHER_PROJECT})

    assert added.json() == removed.json() == again.json() == {"data": {}}
    assert [p["gid"] for p in task["projects"]] == [PROJECT, OTHER_PROJECT]
    assert task["modified_at"] > "2025-01-01T01:10:00.000Z"  # the demo task's, bumped to the sandbox's now
    assert summary(sandbox.events(OTHER_PROJECT)) == [
        ("added", TASKS[0], OTHER_PROJECT, None),
        ("removed", TASKS[0], OTHER_PROJECT, None),
    ]
    assert [t["gid"] for t in ok(call(sandbox, "GET", f"/projects/{OTHER_PROJECT}/tasks", pat_headers))] == []


def test_add_project_positions_a_task_in_a_section(sandbox, pat_headers):
    to_section_start = {"project": PROJECT, "section": SECTIONS[1], "insert_after": None}
    call(sandbox, "POST", f"/tasks/{TASKS[0]}/addProject", pat_headers, to_section_start)
    call(sandbox, "POST", f"/tasks/{TASKS[6]}/addProject", pat_headers, {"project": PROJECT, "insert_before": TASKS[3]})
    call(sandbox, "POST", f"/tasks/{TASKS[1]}/addProject", pat_headers, {"project": PROJECT, "insert_after": TASKS[4]})

    order = [t["gid"] for t in ok(call(sandbox, "GET", f"/projects/{PROJECT}/tasks", pat_headers))]
    in_progress = [t["gid"] for t in ok(call(sandbox, "GET", "/tasks", pat_headers, section=SECTIONS[1]))]

    assert in_progress == [TASKS[0], TASKS[2], TASKS[6], TASKS[3], TASKS[4], TASKS[1]]
    assert order == [*in_progress, TASKS[5]]
    # Each moved to another section of the project: an `added` event whose parent is the section.
    assert summary(sandbox.events(PROJECT)) == [
        ("added", TASKS[0], SECTIONS[1], None),
        ("added", TASKS[6], SECTIONS[1], None),
        ("added", TASKS[1], SECTIONS[1], None),
    ]


def test_reordering_inside_a_section_is_not_a_change(sandbox, pat_headers):
    call(sandbox, "POST", f"/tasks/{TASKS[3]}/addProject", pat_headers, {"project": PROJECT, "insert_before": TASKS[2]})

    order = [t["gid"] for t in ok(call(sandbox, "GET", "/tasks", pat_headers, section=SECTIONS[1]))]

    assert order == [TASKS[3], TASKS[2], TASKS[4]]
    assert sandbox.events(PROJECT) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "project: Missing input"),
        (
            {"project": PROJECT, "section": demo.numbered_gid(demo.SECTION_PREFIX, 5)},
            "section: The section must belong to the project.",
        ),
        ({"project": PROJECT, "insert_before": TASKS[0]}, "insert_before: Must be another task of the project."),
        (
            {"project": PROJECT, "insert_before": TASKS[1], "insert_after": TASKS[2]},
            "insert_before, insert_after: Specify at most one of them.",
        ),
        ({"project": demo.numbered_gid("1205", 1)}, "project: The project must be in the task's workspace."),
    ],
)  # fmt: skip
def test_bad_add_project_bodies_are_400(sandbox, pat_headers, body, message):
    response = call(sandbox, "POST", f"/tasks/{TASKS[0]}/addProject", pat_headers, body)

    assert (response.status_code, error_message(response)) == (400, message)
    assert sandbox.events(PROJECT) == []


def test_task_writes_need_their_scopes(sandbox):
    granular = token_for(sandbox)  # tasks:write but not tasks:delete

    updated = call(sandbox, "PUT", f"/tasks/{TASKS[0]}", granular, {"name": "Granular rename"})
    deleted = call(sandbox, "DELETE", f"/tasks/{TASKS[0]}", granular)

    assert updated.status_code == 200
    assert (deleted.status_code, error_message(deleted)) == (403, NEEDS_SCOPE.format("tasks:delete"))
    assert sandbox.events(TASKS[0])[0]["user"] == DANA


def test_someone_outside_the_workspace_cannot_write(sandbox):
    outsider = {"Authorization": f"Bearer {sandbox.issue_pat(demo.OUTSIDER_USER_GID)}"}

    response = call(sandbox, "PUT", f"/tasks/{TASKS[0]}", outsider, {"name": "Hijacked"})

    assert (response.status_code, error_message(response)) == (403, FORBIDDEN)
    assert sandbox.state.store.tasks[TASKS[0]].name != "Hijacked"


# --- Projects -----------------------------------------------------------------------------------------------------


def test_create_a_project_in_a_team(sandbox, pat_headers):
    body = {"name": "Red team 2025", "workspace": ORG, "team": TEAM, "color": "dark-red", "notes": "Scope: all"}

    project = ok(call(sandbox, "POST", "/projects", pat_headers, body), 201)

    assert (project["name"], project["color"], project["archived"]) == ("Red team 2025", "dark-red", False)
    assert project["owner"] == DANA
    assert project["team"]["gid"] == TEAM
    sections = ok(call(sandbox, "GET", f"/projects/{project['gid']}/sections", pat_headers))
    assert [s["name"] for s in sections] == ["Untitled section"]
    assert summary(sandbox.events(project["gid"])) == [("added", project["gid"], TEAM, None)]
    listed = [p["gid"] for p in ok(call(sandbox, "GET", f"/teams/{TEAM}/projects", pat_headers))]
    assert project["gid"] in listed


def test_create_a_project_by_team_alone(sandbox, pat_headers):
    project = ok(call(sandbox, "POST", "/projects", pat_headers, {"name": "By team", "team": TEAM}), 201)

    assert project["workspace"]["gid"] == ORG


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "No team", "workspace": ORG}, TEAM_REQUIRED),
        ({"workspace": ORG, "team": TEAM}, "name: Missing input"),
        ({"name": "Nowhere"}, "workspace: Missing input"),
        (
            {"name": "x", "workspace": ORG, "team": TEAM, "color": "plaid"},
            "color: Not one of the allowed values: 'plaid'",
        ),
        (
            {"name": "x", "workspace": demo.PLAIN_WORKSPACE_GID, "team": TEAM},
            "team: The team must belong to the project's workspace.",
        ),
    ],
)  # fmt: skip
def test_bad_project_bodies_are_400(sandbox, pat_headers, body, message):
    before = len(sandbox.state.store.projects)

    response = call(sandbox, "POST", "/projects", pat_headers, body)

    assert (response.status_code, error_message(response)) == (400, message)
    assert len(sandbox.state.store.projects) == before


def test_a_plain_workspace_project_needs_no_team(sandbox, pat_headers):
    project = ok(
        call(sandbox, "POST", "/projects", pat_headers, {"name": "Errands", "workspace": demo.PLAIN_WORKSPACE_GID}), 201
    )

    assert "team" not in project


def test_update_a_project(sandbox, pat_headers):
    sandbox.advance_clock(1)
    carmen = demo.USER_GIDS[2]
    body = {"archived": True, "name": "Triage (old)", "owner": carmen, "team": demo.TEAM_PLATFORM_GID}

    project = ok(call(sandbox, "PUT", f"/projects/{PROJECT}", pat_headers, body))

    assert (project["archived"], project["name"], project["owner"]["gid"]) == (True, "Triage (old)", carmen)
    assert project["modified_at"] > "2025-01-01T00:00:00.000Z"  # the demo project's, bumped
    events = sandbox.events(PROJECT)
    assert [e["change"]["field"] for e in events] == ["name", "archived", "owner", "team"]
    assert events[3]["change"]["new_value"]["gid"] == demo.TEAM_PLATFORM_GID
    # The project is seen on both teams' streams: the one it left and the one it joined.
    assert [e["change"]["field"] for e in sandbox.events(TEAM)] == ["name", "archived", "owner", "team"]
    archived = [
        p["gid"]
        for p in ok(call(sandbox, "GET", f"/teams/{demo.TEAM_PLATFORM_GID}/projects", pat_headers, archived="true"))
    ]
    assert PROJECT in archived


def test_project_writes_need_their_scopes(sandbox):
    granular = token_for(sandbox)  # projects:read only

    response = call(sandbox, "PUT", f"/projects/{PROJECT}", granular, {"name": "Nope"})

    assert (response.status_code, error_message(response)) == (403, NEEDS_SCOPE.format("projects:write"))


def test_delete_a_project_takes_its_own_tasks_and_leaves_multi_homed_ones(sandbox, pat_headers):
    call(sandbox, "POST", f"/tasks/{TASKS[0]}/addProject", pat_headers, {"project": OTHER_PROJECT})
    mark = len(sandbox.events(PROJECT))

    deleted = call(sandbox, "DELETE", f"/projects/{PROJECT}", pat_headers)

    assert deleted.json() == {"data": {}}
    assert call(sandbox, "GET", f"/projects/{PROJECT}", pat_headers).status_code == 404
    assert call(sandbox, "GET", f"/tasks/{TASKS[1]}", pat_headers).status_code == 404
    survivor = ok(call(sandbox, "GET", f"/tasks/{TASKS[0]}", pat_headers))
    assert [p["gid"] for p in survivor["projects"]] == [OTHER_PROJECT]
    actions = summary(sandbox.events(PROJECT)[mark:])
    assert actions[0] == ("removed", TASKS[0], PROJECT, None)
    assert actions[1:] == [*(("deleted", gid, None, None) for gid in TASKS[1:]), ("deleted", PROJECT, None, None)]
    assert call(sandbox, "GET", "/events", pat_headers, resource=PROJECT).status_code == 404
