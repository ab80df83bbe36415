"""Team memberships: `GET /teams/{gid}/team_memberships`, `GET /team_memberships` (`team=`, or `user=` with
`workspace=`), `GET /team_memberships/{gid}` and `GET /users/{gid}/team_memberships?workspace=`.

Records are the spec's TeamMembershipCompact (user, team, is_guest, is_limited_access, is_admin), listed in the order
the memberships were made (gid order), paginated like every list. Only teams the caller can see are shown.

Sandbox guesses: `GET /team_memberships` with neither `team` nor `user` + `workspace` answers 400
`TEAM_OR_USER_REQUIRED`; `workspace` missing from `/users/{gid}/team_memberships` answers `workspace: Missing input`.
"""

from __future__ import annotations

from flask import Flask, Response, request

from local.asana_sandbox import errors
from local.asana_sandbox.api import API_PREFIX, Api, gid_param, require_scope
from local.asana_sandbox.errors import AsanaError
from local.asana_sandbox.models import Principal, Team, TeamMembership, User, Workspace
from local.asana_sandbox.request_body import missing

TEAM_OR_USER_REQUIRED = "Must specify either team, or user and workspace."


def register_membership_routes(app: Flask, api: Api) -> None:

    def of_team(team: Team) -> list[TeamMembership]:
        with api.store.lock:
            return sorted(api.store.memberships_by_team.get(team.gid, {}).values(), key=lambda m: int(m.gid))

    def of_user(principal: Principal, user: User, workspace: Workspace) -> list[TeamMembership]:
        store = api.store
        with store.lock:
            memberships = [
                m
                for m in store.team_memberships.values()
                if m.user_gid == user.gid
                and store.teams[m.team_gid].organization_gid == workspace.gid
                and api.team_visible(principal, store.teams[m.team_gid])
            ]
        return sorted(memberships, key=lambda m: int(m.gid))

    @app.get(f"{API_PREFIX}/teams/<team_gid>/team_memberships")
    def get_team_memberships_for_team(team_gid: str) -> Response:
        principal = require_scope("team_memberships:read")
        return api.listing(of_team(api.team(principal, "team", team_gid)))

    @app.get(f"{API_PREFIX}/team_memberships")
    def get_team_memberships() -> Response:
        principal = require_scope("team_memberships:read")
        args = request.args
        if args.get("team"):
            return api.listing(of_team(api.team(principal, "team", args["team"])))
        if not (args.get("user") and args.get("workspace")):
            raise AsanaError(400, TEAM_OR_USER_REQUIRED)
        workspace = api.workspace(principal, "workspace", args["workspace"])
        return api.listing(of_user(principal, api.user(principal, "user", args["user"]), workspace))

    @app.get(f"{API_PREFIX}/team_memberships/<team_membership_gid>")
    def get_team_membership(team_membership_gid: str) -> tuple[Response, int]:
        principal = require_scope("team_memberships:read")
        membership = api.store.team_memberships.get(gid_param("team_membership", team_membership_gid))
        if membership is None:
            raise errors.unknown_object("team_membership", team_membership_gid)
        api.team(principal, "team", membership.team_gid)
        return api.one(membership)

    @app.get(f"{API_PREFIX}/users/<user_ref>/team_memberships")
    def get_team_memberships_for_user(user_ref: str) -> Response:
        principal = require_scope("team_memberships:read")
        user = api.user(principal, "user", user_ref)
        if not request.args.get("workspace"):
            raise missing("workspace")
        workspace = api.workspace(principal, "workspace", request.args["workspace"])
        return api.listing(of_user(principal, user, workspace))
