"""Control API for the data: what a person does in Asana's web app (or an admin in its admin console) and Asana's API
cannot, as JSON POSTs under /_sandbox/, plus the dataset switch and an event inspector.

Every change goes through changes.py, so it records the events Asana would emit. `actor_gid` (optional everywhere)
names the user the events are attributed to; without it they carry `user: null`, as Asana's system events do.
`workspace_gid` defaults to the demo organization.

- `dataset`: `{"size": "demo"}`, `{"size": "large"}` or large_org.OrgSize fields (`{"users": 2000, "teams": 300,
  "projects": 5000, "imported_tasks": 20000, "seed": 1}`): replaces every resource and clears the events;
  apps, PATs and issued tokens stay. Posting the same size again restores pristine data (generation is
  deterministic by seed).
- `users/add` `{"name", "email"?}` creates a member; `{"user_gid"}` adds (or reactivates) an existing user.
- `users/deactivate`, `users/remove` `{"user_gid"}`: see changes.py for how they differ.
- `teams/create` `{"name", "description"?, "visibility"?}`, `teams/rename` `{"team_gid", "name"}`,
  `teams/delete` `{"team_gid"}`, `teams/add_member` `{"team_gid", "user_gid", "is_admin"?, "is_guest"?}`,
  `teams/remove_member` `{"team_gid", "user_gid"}`.
- `tasks/undelete` `{"task_gid"}`: restore a deleted task from the trash (Asana's API has no undelete).
- `GET /_sandbox/events?resource=<gid>`: every kept event of one stream (any resource: workspace, team, project,
  task), rendered as `/events` renders them, for tests and debugging.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request

from local.asana_sandbox import demo, large_org
from local.asana_sandbox.faults import CONTROL_PREFIX
from local.asana_sandbox.state import SandboxState, current_state

type Handler = Callable[[SandboxState, dict[str, Any]], dict[str, Any]]


def dataset_for(body: dict[str, Any]) -> demo.DemoData:
    """The dataset a `dataset` control body asks for."""
    size = body.get("size")
    if size is not None:
        if len(body) > 1:
            raise ValueError("give either size or the size fields, not both")
        if size == "demo":
            return demo.build_demo_data()
        if size == "large":
            return large_org.build(large_org.LARGE)
        raise ValueError("size must be 'demo' or 'large'")
    return large_org.build(large_org.OrgSize.from_json(body))


def _actor(body: dict[str, Any]) -> str | None:
    value = body.get("actor_gid")
    return str(value) if value is not None else None


def _workspace(body: dict[str, Any]) -> str:
    return str(body.get("workspace_gid", demo.ORG_WORKSPACE_GID))


def _dataset(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    state.load(dataset_for(body))
    store = state.store
    with store.lock:
        return {
            "users": len(store.users),
            "teams": len(store.teams),
            "team_memberships": len(store.team_memberships),
            "projects": len(store.projects),
            "tasks": len(store.tasks),
        }


def _add_user(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    user_gid = body.get("user_gid")
    user = state.changes.add_user(
        _actor(body),
        workspace_gid=_workspace(body),
        name=body.get("name"),
        email=body.get("email"),
        user_gid=str(user_gid) if user_gid is not None else None,
    )
    return {"user_gid": user.gid}


def _deactivate_user(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    state.changes.deactivate_user(_actor(body), str(body["user_gid"]), _workspace(body))
    return {}


def _remove_user(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    state.changes.remove_user(_actor(body), str(body["user_gid"]), _workspace(body))
    return {}


def _create_team(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    team = state.changes.create_team(
        _actor(body),
        workspace_gid=_workspace(body),
        name=str(body["name"]),
        description=str(body.get("description", "")),
        visibility=str(body.get("visibility", "public")),
    )
    return {"team_gid": team.gid}


def _rename_team(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    state.changes.rename_team(_actor(body), str(body["team_gid"]), str(body["name"]))
    return {}


def _delete_team(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    state.changes.delete_team(_actor(body), str(body["team_gid"]))
    return {}


def _add_member(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    membership = state.changes.add_team_member(
        _actor(body),
        str(body["team_gid"]),
        str(body["user_gid"]),
        is_admin=bool(body.get("is_admin", False)),
        is_guest=bool(body.get("is_guest", False)),
    )
    return {"team_membership_gid": membership.gid}


def _remove_member(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    state.changes.remove_team_member(_actor(body), str(body["team_gid"]), str(body["user_gid"]))
    return {}


def _undelete_task(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    state.changes.undelete_task(_actor(body), str(body["task_gid"]))
    return {}


DATA_HANDLERS: dict[str, Handler] = {
    "dataset": _dataset,
    "users/add": _add_user,
    "users/deactivate": _deactivate_user,
    "users/remove": _remove_user,
    "teams/create": _create_team,
    "teams/rename": _rename_team,
    "teams/delete": _delete_team,
    "teams/add_member": _add_member,
    "teams/remove_member": _remove_member,
    "tasks/undelete": _undelete_task,
}


def register_event_inspector(app: Flask) -> None:
    @app.get(f"{CONTROL_PREFIX}/events")
    def events() -> Response | tuple[Response, int]:
        resource = request.args.get("resource")
        if not resource:
            return jsonify({"ok": False, "error": "the resource query parameter is required"}), 400
        rendered = [event.render() for event in current_state().events.events_for(resource)]
        return jsonify({"ok": True, "data": rendered})
