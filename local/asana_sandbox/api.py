"""The REST API under /api/1.0: the endpoints this project uses, shaped as in Asana's OpenAPI spec.

Authentication and rate limiting run before these views (see app.py); each view only checks access and scopes. This
module holds the access rules and response helpers every route shares, plus the user, workspace and project-listing
reads; the other routes live in api_tasks.py, api_projects.py, api_memberships.py, api_events.py and
api_webhooks.py.

Sandbox choices where Asana's behaviour is not documented:

- `GET /workspaces/{gid}/teams` on a workspace that is not an organization answers 400 with
  `errors.NOT_AN_ORGANIZATION` (teams exist only in organizations; Asana's exact answer is unconfirmed);
- a workspace, team, project or task the user cannot see answers 403 `Forbidden`; a gid that does not exist (or was
  deleted) answers 404 `<param>: Not a recognized ID: <gid>`;
- an OAuth token with granular scopes lacking the operation's scope answers 403 naming the missing scope; operations
  whose spec `security` lists no granular scope (`oauth2: []`: `/events`, sections) need a Full-permissions token
  or a PAT (the spec's getEvents text says "Required scope: tasks:read" while its security lists none; the stricter
  reading is the safe one to build against);
- per-field scopes (e.g. `opt_fields=assignee.email` needing `users:read`) are not enforced;
- `GET /workspaces/{gid}/users` and `GET /teams/{gid}/users` are not paginated (the spec gives them no `limit` and no
  `next_page`): they answer everyone, alphabetically, capped at 2,000;
- query parameters an operation does not declare are ignored, e.g. `modified_since` on `/projects/{gid}/tasks`
  (only `GET /tasks` declares it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flask import Flask, Response, g, jsonify, request

from local.asana_sandbox import errors
from local.asana_sandbox.changes import Changes
from local.asana_sandbox.errors import AsanaError
from local.asana_sandbox.models import Principal, Project, Section, Task, Team, User, Workspace
from local.asana_sandbox.pagination import paginate, parse_page_request
from local.asana_sandbox.render import Resource, parse_opt_fields, render
from local.asana_sandbox.state import SandboxState, current_state
from local.asana_sandbox.store import SandboxStore

API_PREFIX = "/api/1.0"
# Asana caps the unpaginated member listings at 2,000 users.
MEMBER_LISTING_CAP = 2000
FULL_PERMISSIONS_REQUIRED = (
    "Forbidden: this endpoint declares no granular scope, so it needs an app with full permissions (or a PAT)."
)


def principal() -> Principal:
    current: Principal = g.principal
    return current


def require_scope(scope: str | None) -> Principal:
    """The caller, if its token may call an operation needing `scope` (None: one that declares no granular scope)."""
    current = principal()
    if current.scopes is None or "default" in current.scopes:
        return current
    if scope is None:
        raise AsanaError(403, FULL_PERMISSIONS_REQUIRED)
    if scope not in current.scopes:
        raise AsanaError(403, f"Forbidden: this token does not have the required scope `{scope}`.")
    return current


def gid_param(param: str, value: str) -> str:
    if not value.isdigit():
        raise errors.not_a_number(param, value)
    return value


def bool_param(param: str) -> bool | None:
    raw = request.args.get(param)
    if raw is None:
        return None
    if raw.lower() not in ("true", "false"):
        raise AsanaError(400, f"{param}: Not a boolean: {raw}")
    return raw.lower() == "true"


class Api:
    """Access rules and listing helpers, acting on the state of the sandbox serving the current request."""

    @property
    def state(self) -> SandboxState:
        return current_state()

    @property
    def store(self) -> SandboxStore:
        return current_state().store

    @property
    def changes(self) -> Changes:
        return current_state().changes

    # --- Access -----------------------------------------------------------------------------------------------
    def user_workspaces(self, principal: Principal) -> list[Workspace]:
        user = self.store.users[principal.user_gid]
        return [self.store.workspaces[gid] for gid in user.workspace_gids if gid in self.store.workspaces]

    def workspace(self, principal: Principal, param: str, gid: str) -> Workspace:
        workspace = self.store.workspace(gid_param(param, gid))
        if workspace is None:
            raise errors.unknown_object(param, gid)
        if workspace not in self.user_workspaces(principal):
            raise AsanaError(403, errors.FORBIDDEN)
        return workspace

    def user_visible(self, principal: Principal, user: User) -> bool:
        """Users sharing a workspace with the caller, and those deactivated from one (still named on old tasks)."""
        mine = set(self.store.users[principal.user_gid].workspace_gids)
        return bool(mine & {*user.workspace_gids, *user.deactivated_workspace_gids})

    def user(self, principal: Principal, param: str, ref: str) -> User:
        """Asana's user reference: "me", a gid or an email."""
        user = self.store.users[principal.user_gid] if ref == "me" else self.store.find_user(ref)
        if user is None or not self.user_visible(principal, user):
            raise errors.unknown_object(param, ref)
        return user

    def team_visible(self, principal: Principal, team: Team) -> bool:
        in_org = team.organization_gid in self.store.users[principal.user_gid].workspace_gids
        return in_org and (team.visibility != "secret" or self.store.is_team_member(team.gid, principal.user_gid))

    def team(self, principal: Principal, param: str, gid: str) -> Team:
        team = self.store.team(gid_param(param, gid))
        if team is None:
            raise errors.unknown_object(param, gid)
        if not self.team_visible(principal, team):
            raise AsanaError(403, errors.FORBIDDEN)
        return team

    def project_visible(self, principal: Principal, project: Project) -> bool:
        if project.workspace_gid not in self.store.users[principal.user_gid].workspace_gids:
            return False
        if project.privacy_setting != "public_to_workspace" and project.team_gid:
            return self.store.is_team_member(project.team_gid, principal.user_gid)
        return True

    def project(self, principal: Principal, param: str, gid: str) -> Project:
        project = self.store.project(gid_param(param, gid))
        if project is None:
            raise errors.unknown_object(param, gid)
        if not self.project_visible(principal, project):
            raise AsanaError(403, errors.FORBIDDEN)
        return project

    def section(self, principal: Principal, param: str, gid: str) -> Section:
        section = self.store.section(gid_param(param, gid))
        if section is None:
            raise errors.unknown_object(param, gid)
        self.project(principal, "project", section.project_gid)
        return section

    def task_visible(self, principal: Principal, task: Task) -> bool:
        if task.workspace_gid not in self.store.users[principal.user_gid].workspace_gids:
            return False
        projects = [self.store.projects[m.project_gid] for m in task.memberships]
        return not projects or any(self.project_visible(principal, p) for p in projects)

    def task(self, principal: Principal, param: str, gid: str) -> Task:
        task = self.store.tasks.get(gid_param(param, gid))
        if task is None:
            raise errors.unknown_object(param, gid)
        if not self.task_visible(principal, task):
            raise AsanaError(403, errors.FORBIDDEN)
        return task

    def projects(
        self, principal: Principal, *, workspace_gid: str | None, team_gid: str | None, archived: bool | None
    ) -> list[Project]:
        with self.store.lock:
            candidates = list(self.store.projects.values())
        return sorted(
            (
                p
                for p in candidates
                if (workspace_gid is None or p.workspace_gid == workspace_gid)
                and (team_gid is None or p.team_gid == team_gid)
                and (archived is None or p.archived == archived)
                and self.project_visible(principal, p)
            ),
            key=lambda p: int(p.gid),
        )

    # --- Responses --------------------------------------------------------------------------------------------
    def one(self, obj: Resource, status: int = 200) -> tuple[Response, int]:
        tree = parse_opt_fields(request.args.get("opt_fields"))
        return jsonify({"data": render(obj, tree, self.store, full=True)}), status

    def listing(self, items: Sequence[Resource], *, paginated: bool = True) -> Response:
        tree = parse_opt_fields(request.args.get("opt_fields"))
        if not paginated:
            return jsonify({"data": [render(obj, tree, self.store) for obj in items[:MEMBER_LISTING_CAP]]})
        return self.paged(items, lambda obj: render(obj, tree, self.store))

    def paged[T](self, items: Sequence[T], renderer: Callable[[T], dict[str, Any]]) -> Response:
        """One page of `items` (Asana's limit/offset/next_page), each record rendered by `renderer`."""
        path = request.path.removeprefix(API_PREFIX)
        page = parse_page_request(request.args, self.state.offsets, path)
        query = [(k, v) for k, v in request.args.items(multi=True) if k != "offset"]
        api_base = f"{request.host_url.rstrip('/')}{API_PREFIX}"
        chunk, next_page, with_next = paginate(
            items, page, codec=self.state.offsets, path=path, query=query, base_url=api_base
        )
        body: dict[str, Any] = {"data": [renderer(obj) for obj in chunk]}
        if with_next:
            body["next_page"] = next_page
        return jsonify(body)


def empty() -> Response:
    """The spec's EmptyResponse: what deletes and task-project changes answer."""
    return jsonify({"data": {}})


def _by_name(users: list[User]) -> list[User]:
    return sorted(users, key=lambda u: (u.name.lower(), u.gid))


def register_read_routes(app: Flask, api: Api) -> None:
    """The user, workspace, team-member and project-listing reads (other routes: see the module docstring)."""
    _register_user_routes(app, api)
    _register_workspace_routes(app, api)
    _register_project_listing_routes(app, api)


def _register_user_routes(app: Flask, api: Api) -> None:

    @app.get(f"{API_PREFIX}/users/<user_ref>")
    def get_user(user_ref: str) -> tuple[Response, int]:
        return api.one(api.user(require_scope("users:read"), "user", user_ref))

    @app.get(f"{API_PREFIX}/users")
    def get_users() -> Response:
        principal = require_scope("users:read")
        workspace_gid, team_gid = request.args.get("workspace"), request.args.get("team")
        workspaces = (
            [api.workspace(principal, "workspace", workspace_gid)] if workspace_gid else api.user_workspaces(principal)
        )
        gids = {ws.gid for ws in workspaces}
        with api.store.lock:
            users = [u for u in api.store.users.values() if gids & set(u.workspace_gids)]
        if team_gid:
            team = api.team(principal, "team", team_gid)
            users = [u for u in users if api.store.is_team_member(team.gid, u.gid)]
        # Asana: "Results are sorted by user ID."
        return api.listing(sorted(users, key=lambda u: int(u.gid)))


def _register_workspace_routes(app: Flask, api: Api) -> None:

    @app.get(f"{API_PREFIX}/workspaces")
    def get_workspaces() -> Response:
        principal = require_scope("workspaces:read")
        return api.listing(api.user_workspaces(principal))

    @app.get(f"{API_PREFIX}/workspaces/<workspace_gid>")
    def get_workspace(workspace_gid: str) -> tuple[Response, int]:
        principal = require_scope("workspaces:read")
        return api.one(api.workspace(principal, "workspace", workspace_gid))

    @app.get(f"{API_PREFIX}/workspaces/<workspace_gid>/teams")
    def get_teams_for_workspace(workspace_gid: str) -> Response:
        principal = require_scope("teams:read")
        workspace = api.workspace(principal, "workspace", workspace_gid)
        if not workspace.is_organization:
            raise AsanaError(400, errors.NOT_AN_ORGANIZATION)
        with api.store.lock:
            teams = [
                t
                for t in api.store.teams.values()
                if t.organization_gid == workspace.gid and api.team_visible(principal, t)
            ]
        teams.sort(key=lambda t: (t.name.lower(), t.gid))
        return api.listing(teams)

    @app.get(f"{API_PREFIX}/workspaces/<workspace_gid>/users")
    def get_users_for_workspace(workspace_gid: str) -> Response:
        principal = require_scope("users:read")
        workspace = api.workspace(principal, "workspace", workspace_gid)
        with api.store.lock:
            members = [u for u in api.store.users.values() if workspace.gid in u.workspace_gids]
        return api.listing(_by_name(members), paginated=False)

    @app.get(f"{API_PREFIX}/teams/<team_gid>/users")
    def get_users_for_team(team_gid: str) -> Response:
        principal = require_scope("users:read")
        team = api.team(principal, "team", team_gid)
        return api.listing(_by_name(api.store.team_members(team.gid)), paginated=False)


def _register_project_listing_routes(app: Flask, api: Api) -> None:
    @app.get(f"{API_PREFIX}/projects")
    def get_projects() -> Response:
        principal = require_scope("projects:read")
        workspace_gid, team_gid = request.args.get("workspace"), request.args.get("team")
        archived = bool_param("archived")
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
        principal = require_scope("projects:read")
        workspace = api.workspace(principal, "workspace", workspace_gid)
        archived = bool_param("archived")
        return api.listing(api.projects(principal, workspace_gid=workspace.gid, team_gid=None, archived=archived))

    @app.get(f"{API_PREFIX}/teams/<team_gid>/projects")
    def get_projects_for_team(team_gid: str) -> Response:
        principal = require_scope("projects:read")
        team = api.team(principal, "team", team_gid)
        archived = bool_param("archived")
        return api.listing(api.projects(principal, workspace_gid=None, team_gid=team.gid, archived=archived))
