"""The Events API: 412 with a fresh sync token first, then the changes since, 100 at a time, until tokens expire."""

from __future__ import annotations

import pytest

from local.asana_sandbox import demo
from local.asana_sandbox.api_events import NOT_AN_EVENT_RESOURCE
from local.asana_sandbox.events import SYNC_TOKEN_INVALID

from .helpers import call, control, error_message

PROJECT = demo.DEMO_TASK_PROJECT_GID
TASKS = [demo.numbered_gid(demo.TASK_PREFIX, n) for n in range(1, demo.DEMO_TASK_COUNT + 1)]


def events(sandbox, headers, resource: str = PROJECT, sync: str | None = None):
    params = {"resource": resource} if sync is None else {"resource": resource, "sync": sync}
    return call(sandbox, "GET", "/events", headers, **params)


def first_token(sandbox, headers, resource: str = PROJECT) -> str:
    response = events(sandbox, headers, resource)
    assert response.status_code == 412
    token: str = response.json()["sync"]
    return token


def rename(sandbox, task_gid: str, name: str) -> None:
    sandbox.changes.update_task(demo.DEMO_ADMIN_USER_GID, sandbox.state.store.tasks[task_gid], {"name": name})


def test_the_first_call_is_412_with_a_fresh_token_and_asanas_message(sandbox, pat_headers):
    response = events(sandbox, pat_headers)

    assert response.status_code == 412
    body = response.json()
    assert body["errors"] == [{"message": SYNC_TOKEN_INVALID}]
    assert len(body["sync"]) == 32


def test_a_token_returns_the_changes_made_since_it_was_issued(sandbox, pat_headers):
    rename(sandbox, TASKS[0], "Before the token")  # not seen: it happened before
    token = first_token(sandbox, pat_headers)
    call(sandbox, "PUT", f"/tasks/{TASKS[1]}", pat_headers, {"completed": True})
    created = call(sandbox, "POST", "/tasks", pat_headers, {"name": "Fresh", "projects": [PROJECT]}).json()["data"]

    response = events(sandbox, pat_headers, sync=token)

    assert response.status_code == 200
    body = response.json()
    assert body["has_more"] is False
    assert body["sync"] != token
    assert [(e["action"], e["resource"]["gid"]) for e in body["data"]] == [
        ("changed", TASKS[1]),
        ("added", created["gid"]),
    ]
    changed = body["data"][0]
    assert changed["user"] == {"gid": demo.DEMO_ADMIN_USER_GID, "resource_type": "user", "name": demo.DEMO_ADMIN_NAME}
    assert changed["type"] == "task"
    assert changed["change"] == {"field": "completed", "action": "changed"}
    assert changed["parent"] is None
    assert changed["created_at"].endswith("Z")
    assert body["data"][1]["parent"] == {"gid": PROJECT, "resource_type": "project", "name": "Vulnerability triage 001"}


def test_the_next_token_continues_and_an_idle_read_is_empty(sandbox, pat_headers):
    token = first_token(sandbox, pat_headers)
    rename(sandbox, TASKS[0], "One")
    first = events(sandbox, pat_headers, sync=token).json()
    rename(sandbox, TASKS[0], "Two")
    second = events(sandbox, pat_headers, sync=first["sync"]).json()
    idle = events(sandbox, pat_headers, sync=second["sync"]).json()

    assert [e["resource"]["name"] for e in first["data"]] == ["One"]
    assert [e["resource"]["name"] for e in second["data"]] == ["Two"]
    assert (idle["data"], idle["has_more"]) == ([], False)


def test_re_reading_a_token_returns_the_same_events(sandbox, pat_headers):
    token = first_token(sandbox, pat_headers)
    rename(sandbox, TASKS[0], "Once")

    first = events(sandbox, pat_headers, sync=token).json()
    again = events(sandbox, pat_headers, sync=token).json()

    assert first["data"] == again["data"]
    assert len(first["data"]) == 1


def test_more_than_100_events_page_with_has_more(sandbox, pat_headers):
    token = first_token(sandbox, pat_headers)
    for n in range(250):
        rename(sandbox, TASKS[n % len(TASKS)], f"Name {n}")

    pages = []
    while True:
        body = events(sandbox, pat_headers, sync=token).json()
        pages.append(body)
        token = body["sync"]
        if not body["has_more"]:
            break

    assert [(len(p["data"]), p["has_more"]) for p in pages] == [(100, True), (100, True), (50, False)]
    names = [e["resource"]["name"] for p in pages for e in p["data"]]
    assert names == [f"Name {n}" for n in range(250)]


def test_a_token_expires_after_24_hours(sandbox, pat_headers):
    token = first_token(sandbox, pat_headers)
    sandbox.advance_clock(24 * 3600 - 5)
    still_valid = events(sandbox, pat_headers, sync=token)
    sandbox.advance_clock(10)

    expired = events(sandbox, pat_headers, sync=token)

    assert still_valid.status_code == 200
    assert expired.status_code == 412
    assert expired.json()["sync"] not in (token, still_valid.json()["sync"])
    # The fresh token works again.
    assert events(sandbox, pat_headers, sync=expired.json()["sync"]).status_code == 200


def test_the_token_lifetime_is_configurable_over_http(sandbox, pat_headers):
    settings = control(sandbox, "settings", sync_token_ttl_seconds=60)
    token = first_token(sandbox, pat_headers)
    sandbox.advance_clock(61)

    assert settings["sync_token_ttl_seconds"] == 60
    assert events(sandbox, pat_headers, sync=token).status_code == 412


def test_a_token_older_than_the_kept_events_is_412(sandbox, pat_headers):
    sandbox.set_event_retention(30)
    token = first_token(sandbox, pat_headers)
    rename(sandbox, TASKS[0], "Soon forgotten")
    sandbox.advance_clock(31)

    response = events(sandbox, pat_headers, sync=token)

    assert response.status_code == 412


@pytest.mark.parametrize("token", ["0123456789abcdef0123456789abcdef", "garbage"])
def test_an_unknown_token_is_412_with_a_new_one(sandbox, pat_headers, token):
    response = events(sandbox, pat_headers, sync=token)

    assert response.status_code == 412
    assert response.json()["sync"] != token


def test_a_token_is_bound_to_its_resource(sandbox, pat_headers):
    project_token = first_token(sandbox, pat_headers)

    response = events(sandbox, pat_headers, resource=TASKS[0], sync=project_token)

    assert response.status_code == 412


def test_a_task_stream_shows_only_that_task(sandbox, pat_headers):
    token = first_token(sandbox, pat_headers, resource=TASKS[0])
    rename(sandbox, TASKS[0], "Mine")
    rename(sandbox, TASKS[1], "Not mine")

    body = events(sandbox, pat_headers, resource=TASKS[0], sync=token).json()

    assert [e["resource"]["name"] for e in body["data"]] == ["Mine"]


def test_changes_through_the_control_api_are_events_too(sandbox, pat_headers):
    token = first_token(sandbox, pat_headers)
    call(sandbox, "DELETE", f"/tasks/{TASKS[2]}", pat_headers)
    control(sandbox, "tasks/undelete", task_gid=TASKS[2], actor_gid=demo.ORG_MEMBER_USER_GID)

    body = events(sandbox, pat_headers, sync=token).json()

    assert [(e["action"], e["user"]["gid"]) for e in body["data"]] == [
        ("deleted", demo.DEMO_ADMIN_USER_GID),
        ("undeleted", demo.ORG_MEMBER_USER_GID),
    ]


@pytest.mark.parametrize(
    ("resource", "status", "message"),
    [
        (None, 400, "resource: Missing input"),
        ("abc", 400, "resource: Not a Long: abc"),
        (demo.TEAM_SECURITY_GID, 400, NOT_AN_EVENT_RESOURCE),
        ("1204999999999999", 404, "resource: Not a recognized ID: 1204999999999999"),
    ],
)
def test_bad_resources(sandbox, pat_headers, resource, status, message):
    params = {} if resource is None else {"resource": resource}

    response = call(sandbox, "GET", "/events", pat_headers, **params)

    assert (response.status_code, error_message(response)) == (status, message)


def test_a_project_the_user_cannot_see_is_forbidden(sandbox):
    outsider = {"Authorization": f"Bearer {sandbox.issue_pat(demo.OUTSIDER_USER_GID)}"}

    assert events(sandbox, outsider).status_code == 403
