"""The data controls: users, teams and memberships changed as Asana's web app would, each with its events."""

from __future__ import annotations

import pytest
import requests

from local.asana_sandbox import demo

from .helpers import call, control, page_all

ORG, TEAM = demo.ORG_WORKSPACE_GID, demo.TEAM_SECURITY_GID


def summary(sandbox, resource: str) -> list[tuple[str, str, str | None]]:
    return [
        (e["action"], e["resource"]["resource_type"], (e["parent"] or {}).get("gid")) for e in sandbox.events(resource)
    ]


def user_gids(sandbox, headers, **params) -> list[str]:
    return [u["gid"] for u in page_all(sandbox, "/users", headers, **params)[0]]


def test_add_a_user_with_and_without_an_email(sandbox, pat_headers):
    with_email = control(sandbox, "users/add", name="Nova Reyes", email="nova@acme-security.example")["user_gid"]
    without = control(sandbox, "users/add", name="Quiet Person")["user_gid"]

    users = {u["gid"]: u for u in page_all(sandbox, "/users", pat_headers, workspace=ORG, opt_fields="name,email")[0]}

    assert users[with_email] == {"gid": with_email, "name": "Nova Reyes", "email": "nova@acme-security.example"}
    assert users[without] == {"gid": without, "name": "Quiet Person"}  # a hidden email is left out
    assert summary(sandbox, ORG) == [("added", "user", ORG), ("added", "user", ORG)]
    assert sandbox.events(ORG)[0]["user"] is None  # no actor_gid: a system event


def test_deactivate_a_user(sandbox, pat_headers):
    member = demo.ORG_MEMBER_USER_GID  # in the Security team

    control(sandbox, "users/deactivate", user_gid=member, actor_gid=demo.DEMO_ADMIN_USER_GID)

    assert member not in user_gids(sandbox, pat_headers, workspace=ORG)
    team = [m["user"]["gid"] for m in page_all(sandbox, f"/teams/{TEAM}/team_memberships", pat_headers)[0]]
    assert member not in team
    # Still resolvable, as the assignee of old tasks is.
    assert call(sandbox, "GET", f"/users/{member}", pat_headers).json()["data"]["workspaces"] == []
    task = call(sandbox, "GET", f"/tasks/{demo.numbered_gid(demo.TASK_PREFIX, 1)}", pat_headers).json()["data"]
    assert task["assignee"]["gid"] == member
    assert summary(sandbox, ORG) == [("removed", "team_membership", TEAM), ("removed", "user", ORG)]
    assert sandbox.events(ORG)[1]["user"]["gid"] == demo.DEMO_ADMIN_USER_GID
    # Their own token no longer sees the organization.
    own = {"Authorization": f"Bearer {sandbox.issue_pat(member)}"}
    assert call(sandbox, "GET", f"/workspaces/{ORG}/projects", own).status_code == 403


def test_remove_a_user_leaves_no_trace_in_the_workspace(sandbox, pat_headers):
    member = demo.USER_GIDS[4]

    control(sandbox, "users/remove", user_gid=member)

    assert member not in user_gids(sandbox, pat_headers, workspace=ORG)
    assert call(sandbox, "GET", f"/users/{member}", pat_headers).status_code == 404


def test_a_deactivated_user_can_be_added_back(sandbox, pat_headers):
    member = demo.ORG_MEMBER_USER_GID
    control(sandbox, "users/deactivate", user_gid=member)

    control(sandbox, "users/add", user_gid=member)

    assert member in user_gids(sandbox, pat_headers, workspace=ORG)
    assert not sandbox.state.store.users[member].deactivated_workspace_gids


def test_create_rename_and_delete_a_team(sandbox, pat_headers):
    team = control(sandbox, "teams/create", name="Purple Team", description="Red meets blue")["team_gid"]
    project = call(sandbox, "POST", "/projects", pat_headers, {"name": "Exercise", "team": team}).json()["data"]
    control(sandbox, "teams/rename", team_gid=team, name="Purple Team 2")
    listed = {t["gid"]: t["name"] for t in page_all(sandbox, f"/workspaces/{ORG}/teams", pat_headers)[0]}

    control(sandbox, "teams/delete", team_gid=team)

    assert listed[team] == "Purple Team 2"
    assert team not in {t["gid"] for t in page_all(sandbox, f"/workspaces/{ORG}/teams", pat_headers)[0]}
    assert call(sandbox, "GET", f"/projects/{project['gid']}", pat_headers).status_code == 404
    assert [(a, kind) for a, kind, _ in summary(sandbox, team)] == [
        ("added", "team"),
        ("added", "project"),
        ("changed", "team"),
        ("deleted", "project"),
        ("deleted", "team"),
    ]
    assert sandbox.events(team)[2]["change"] == {"field": "name", "action": "changed"}


def test_add_and_remove_a_team_member(sandbox, pat_headers):
    outsider_of_team = demo.USER_GIDS[9]

    membership = control(sandbox, "teams/add_member", team_gid=TEAM, user_gid=outsider_of_team, is_admin=True)
    added = call(sandbox, "GET", f"/team_memberships/{membership['team_membership_gid']}", pat_headers).json()["data"]
    control(sandbox, "teams/remove_member", team_gid=TEAM, user_gid=outsider_of_team)
    members = [m["user"]["gid"] for m in page_all(sandbox, f"/teams/{TEAM}/team_memberships", pat_headers)[0]]

    assert (added["user"]["gid"], added["is_admin"]) == (outsider_of_team, True)
    assert outsider_of_team not in members
    assert summary(sandbox, TEAM) == [("added", "team_membership", TEAM), ("removed", "team_membership", TEAM)]
    gone = call(sandbox, "GET", f"/team_memberships/{membership['team_membership_gid']}", pat_headers)
    assert gone.status_code == 404


def test_a_member_of_a_secret_team_sees_it_once_added(sandbox):
    member = demo.USER_GIDS[3]  # in Platform, not in Leadership
    headers = {"Authorization": f"Bearer {sandbox.issue_pat(member)}"}
    before = {t["gid"] for t in page_all(sandbox, f"/workspaces/{ORG}/teams", headers)[0]}

    control(sandbox, "teams/add_member", team_gid=demo.TEAM_LEADERSHIP_GID, user_gid=member)

    after = {t["gid"] for t in page_all(sandbox, f"/workspaces/{ORG}/teams", headers)[0]}
    assert after - before == {demo.TEAM_LEADERSHIP_GID}


@pytest.mark.parametrize(
    ("name", "body", "error"),
    [
        ("users/add", {}, "a new user needs a name"),
        ("users/add", {"user_gid": demo.DEMO_ADMIN_USER_GID}, "already a member"),
        ("users/deactivate", {"user_gid": demo.OUTSIDER_USER_GID}, "is not a member of workspace"),
        ("users/remove", {"user_gid": "1202999999999999"}, "unknown user"),
        ("users/remove", {}, "KeyError"),
        ("teams/create", {"name": "Nope", "workspace_gid": demo.PLAIN_WORKSPACE_GID}, "not an organization"),
        ("teams/create", {"name": "Nope", "visibility": "hidden"}, "visibility must be"),
        ("teams/rename", {"team_gid": "1203999999999999", "name": "x"}, "unknown team"),
        ("teams/add_member", {"team_gid": TEAM, "user_gid": demo.DEMO_ADMIN_USER_GID}, "already a member"),
        ("teams/add_member", {"team_gid": TEAM, "user_gid": demo.OUTSIDER_USER_GID}, "not a member of the team's"),
        ("teams/remove_member", {"team_gid": TEAM, "user_gid": demo.USER_GIDS[9]}, "is not a member of team"),
        ("tasks/undelete", {"task_gid": demo.numbered_gid(demo.TASK_PREFIX, 1)}, "is not in the trash"),
    ],
)
def test_bad_control_requests_are_400_and_change_nothing(sandbox, name, body, error):
    response = requests.post(f"{sandbox.base_url}/_sandbox/{name}", json=body, timeout=5)

    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert error in response.json()["error"]
    assert sandbox.events(ORG) == []


def test_the_event_inspector_shows_any_stream(sandbox):
    control(sandbox, "teams/rename", team_gid=TEAM, name="AppSec")

    inspected = requests.get(f"{sandbox.base_url}/_sandbox/events", params={"resource": TEAM}, timeout=5).json()
    missing = requests.get(f"{sandbox.base_url}/_sandbox/events", timeout=5)

    assert inspected == {"ok": True, "data": sandbox.events(TEAM)}
    assert inspected["data"][0]["resource"]["name"] == "AppSec"
    assert missing.status_code == 400
