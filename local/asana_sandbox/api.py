"""The REST API under /api/1.0: the read endpoints this project uses, shaped as in Asana's OpenAPI spec.

Authentication and rate limiting run before these views (see app.py); each view only checks access and scopes.

Sandbox choices where Asana's behaviour is not documented:

- `GET /workspaces/{gid}/teams` on a workspace that is not an organization answers 400 with
  `errors.NOT_AN_ORGANIZATION` (teams exist only in organizations; Asana's exact answer is unconfirmed);
- a workspace or team the user does not belong to answers 403 `Forbidden`;
- an OAuth token with granular scopes lacking the operation's scope answers 403 naming the missing scope;
- `GET /workspaces/{gid}/users` and `GET /teams/{gid}/users` are not paginated (the spec gives them no `limit` and no
  `next_page`): they answer everyone, alphabetically, capped at 2,000.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Flask, Response, g, jsonify, request

from local.asana_sandbox import errors
from local.asana_sandbox.errors import AsanaError
from local.asana_sandbox.models import Principal, Project, Team, User, Workspace
from local.asana_sandbox.pagination import paginate, parse_page_request
from local.asana_sandbox.render import Resource, parse_opt_fields, render
from local.asana_sandbox.state import SandboxState

API_PREFIX = "/api/1.0"
# Asana caps the unpaginated member listings at 2,000 users.
MEMBER_LISTING_CAP = 2000


def _principal() -> Principal:
    principal: Principal = g.principal
    return principal


def _require_scope(scope: str) -> Principal:
    principal = _principal()
    if principal.scopes is not None and "default" not in principal.scopes and scope not in principal.scopes:
        raise AsanaError(403, f"Forbidden: this token does not have the required scope `{scope}`.")
    return principal


def _gid(param: str, value: str) -> str:
    if not value.isdigit():
        raise errors.not_a_number(param, value)
    return value


def _bool_param(param: str) -> bool | None:
    raw = request.args.get(param)
    if raw is None:
        return None
    if raw.lower() not in ("true", "false"):
        raise AsanaError(400, f"{param}: Not a boolean: {raw}")
    return raw.lower() == "true"


class Api:
    """Access rules and listing helpers bound to one sandbox's state."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.store = state.store

    # --- Access -----------------------------------------------------------------------------------------------
    def user_workspaces(self, principal: Principal) -> list[Workspace]:
        user = self.store.users[principal.user_gid]
        return [self.store.workspaces[gid] for gid in user.workspace_gids if gid in self.store.workspaces]

    def workspace(self, principal: Principal, param: str, gid: str) -> Workspace:
        workspace = self.store.workspace(_gid(param, gid))
        if workspace is None:
            raise errors.unknown_object(param, gid)
        if workspace not in self.user_workspaces(principal):
            raise AsanaError(403, errors.FORBIDDEN)
        return workspace

    def team_visible(self, principal: Principal, team: Team) -> bool:
        in_org = team.organization_gid in self.store.users[principal.user_gid].workspace_gids
        return in_org and (team.visibility != "secret" or principal.user_gid in team.member_gids)

    def team(self, principal: Principal, param: str, gid: str) -> Team:
        team = self.store.team(_gid(param, gid))
        if team is None:
            raise errors.unknown_object(param, gid)
        if not self.team_visible(principal, team):
            raise AsanaError(403, errors.FORBIDDEN)
        return team

    def project_visible(self, principal: Principal, project: Project) -> bool:
        if project.workspace_gid not in self.store.users[principal.user_gid].workspace_gids:
            return False
        if project.privacy_setting == "private_to_team" and project.team_gid:
            team = self.store.teams[project.team_gid]
            return principal.user_gid in team.member_gids
        return True

    def projects(
        self, principal: Principal, *, workspace_gid: str | None, team_gid: str | None, archived: bool | None
    ) -> list[Project]:
        return sorted(
            (
                p
                for p in self.store.projects.values()
                if (workspace_gid is None or p.workspace_gid == workspace_gid)
                and (team_gid is None or p.team_gid == team_gid)
                and (archived is None or p.archived == archived)
                and self.project_visible(principal, p)
            ),
            key=lambda p: int(p.gid),
        )

    # --- Responses --------------------------------------------------------------------------------------------
    def one(self, obj: Resource) -> Response:
        tree = parse_opt_fields(request.args.get("opt_fields"))
        return jsonify({"data": render(obj, tree, self.store, full=True)})

    def listing(self, items: Sequence[Resource], *, paginated: bool = True) -> Response:
        tree = parse_opt_fields(request.args.get("opt_fields"))
        body: dict[str, Any] = {}
        if paginated:
            path = request.path.removeprefix(API_PREFIX)
            page = parse_page_request(request.args, self.state.offsets, path)
            query = [(k, v) for k, v in request.args.items(multi=True) if k != "offset"]
            api_base = f"{request.host_url.rstrip('/')}{API_PREFIX}"
            chunk, next_page, with_next = paginate(
                items, page, codec=self.state.offsets, path=path, query=query, base_url=api_base
            )
            body["data"] = [render(obj, tree, self.store) for obj in chunk]
            if with_next:
                body["next_page"] = next_page
        else:
            body["data"] = [render(obj, tree, self.store) for obj in items[:MEMBER_LISTING_CAP]]
        return jsonify(body)


def _by_name(users: list[User]) -> list[User]:
    return sorted(users, key=lambda u: (u.name.lower(), u.gid))


def register_api_routes(app: Flask, state: SandboxState) -> None:
    api = Api(state)
    _register_user_routes(app, api)
    _register_workspace_routes(app, api)
    _register_project_routes(app, api)


def _register_user_routes(app: Flask, api: Api) -> None:
    store = api.store

    @app.get(f"{API_PREFIX}/users/<user_ref>")
    def get_user(user_ref: str) -> Response:
        principal = _require_scope("users:read")
        user = store.users[principal.user_gid] if user_ref == "me" else store.find_user(user_ref)
        shared = user is not None and set(user.workspace_gids) & set(store.users[principal.user_gid].workspace_gids)
        if user is None or not shared:
            raise errors.unknown_object("user", user_ref)
        return api.one(user)

    @app.get(f"{API_PREFIX}/users")
    def get_users() -> Response:
        principal = _require_scope("users:read")
        workspace_gid, team_gid = request.args.get("workspace"), request.args.get("team")
        workspaces = (
            [api.workspace(principal, "workspace", workspace_gid)] if workspace_gid else api.user_workspaces(principal)
        )
        gids = {ws.gid for ws in workspaces}
        users = [u for u in store.users.values() if gids & set(u.workspace_gids)]
        if team_gid:
            members = set(api.team(principal, "team", team_gid).member_gids)
            users = [u for u in users if u.gid in members]
        # Asana: "Results are sorted by user ID."
        return api.listing(sorted(users, key=lambda u: int(u.gid)))


def _register_workspace_routes(app: Flask, api: Api) -> None:
    store = api.store

    @app.get(f"{API_PREFIX}/workspaces")
    def get_workspaces() -> Response:
        principal = _require_scope("workspaces:read")
        return api.listing(api.user_workspaces(principal))

    @app.get(f"{API_PREFIX}/workspaces/<workspace_gid>")
    def get_workspace(workspace_gid: str) -> Response:
        principal = _require_scope("workspaces:read")
        return api.one(api.workspace(principal, "workspace", workspace_gid))

    @app.get(f"{API_PREFIX}/workspaces/<workspace_gid>/teams")
    def get_teams_for_workspace(workspace_gid: str) -> Response:
        principal = _require_scope("teams:read")
        workspace = api.workspace(principal, "workspace", workspace_gid)
        if not workspace.is_organization:
            raise AsanaError(400, errors.NOT_AN_ORGANIZATION)
        teams = [
            t for t in store.teams.values() if t.organization_gid == workspace.gid and api.team_visible(principal, t)
        ]
        return api.listing(sorted(teams, key=lambda t: (t.name.lower(), t.gid)))

    @app.get(f"{API_PREFIX}/workspaces/<workspace_gid>/users")
    def get_users_for_workspace(workspace_gid: str) -> Response:
        principal = _require_scope("users:read")
        workspace = api.workspace(principal, "workspace", workspace_gid)
        members = [u for u in store.users.values() if workspace.gid in u.workspace_gids]
        return api.listing(_by_name(members), paginated=False)

    @app.get(f"{API_PREFIX}/teams/<team_gid>/users")
    def get_users_for_team(team_gid: str) -> Response:
        principal = _require_scope("users:read")
        team = api.team(principal, "team", team_gid)
        return api.listing(_by_name(store.team_members(team.gid)), paginated=False)


def _register_project_routes(app: Flask, api: Api) -> None:
    @app.get(f"{API_PREFIX}/projects")
    def get_projects() -> Response:
        principal = _require_scope("projects:read")
        workspace_gid, team_gid = request.args.get("workspace"), request.args.get("team")
        archived = _bool_param("archived")
        if workspace_gid:
            workspace_gid = api.workspace(principal, "workspace", workspace_gid).gid
        if team_gid:
            team_gid = api.team(principal, "team", team_gid).gid
        if not workspace_gid and not team_gid:
            workspaces = api.user_workspaces(principal)
            if len(workspaces) != 1:
                raise AsanaError(400, errors.MULTIPLE_WORKSPACES)
            workspace_gid = workspaces[0].gid
        return api.listing(api.projects(principal, workspace_gid=workspace_gid, team_gid=team_gid, archived=archived))

    @app.get(f"{API_PREFIX}/workspaces/<workspace_gid>/projects")
    def get_projects_for_workspace(workspace_gid: str) -> Response:
        principal = _require_scope("projects:read")
        workspace = api.workspace(principal, "workspace", workspace_gid)
        archived = _bool_param("archived")
        return api.listing(api.projects(principal, workspace_gid=workspace.gid, team_gid=None, archived=archived))

    @app.get(f"{API_PREFIX}/teams/<team_gid>/projects")
    def get_projects_for_team(team_gid: str) -> Response:
        principal = _require_scope("projects:read")
        team = api.team(principal, "team", team_gid)
        archived = _bool_param("archived")
        return api.listing(api.projects(principal, workspace_gid=None, team_gid=team.gid, archived=archived))
