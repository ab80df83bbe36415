"""One project: `GET /projects/{gid}` and Asana's project writes (`POST /projects`, `PUT`/`DELETE /projects/{gid}`).

As the spec describes createProject: a project is created in a workspace, or in a team (whose organization is then
the workspace); in an organization a team is required; the owner defaults to the caller; the answer is the full
record with 201. Changes go through changes.py (modified_at, events).

Sandbox guesses: a project needs a name (`name: Missing input`; Asana's rule is undocumented); an organization
project without a team answers 400 `TEAM_REQUIRED`; `team` in a plain workspace answers 400; an owner must be an
active member of the workspace. The `Asana-Change` deprecation header Asana sends when `team` or `private_to_team`
is used is not sent.
"""

from __future__ import annotations

from flask import Flask, Response

from local.asana_sandbox.api import API_PREFIX, Api, empty, require_scope
from local.asana_sandbox.errors import AsanaError
from local.asana_sandbox.models import Principal, Workspace
from local.asana_sandbox.request_body import Body, missing

TEAM_REQUIRED = "team: Missing input. Projects in an organization must be shared with a team."

PROJECT_UPDATE_WRITABLE = frozenset(
    {
        "archived",
        "color",
        "current_status",
        "current_status_update",
        "custom_fields",
        "default_access_level",
        "default_view",
        "due_date",
        "due_on",
        "followers",
        "html_notes",
        "icon",
        "minimum_access_level_for_customization",
        "minimum_access_level_for_sharing",
        "name",
        "notes",
        "owner",
        "privacy_setting",
        "public",
        "start_on",
        "team",
    }
)
PROJECT_CREATE_WRITABLE = PROJECT_UPDATE_WRITABLE | {"workspace"}
PROJECT_UPDATE_MODELLED = frozenset(
    {"name", "notes", "archived", "color", "owner", "privacy_setting", "default_view", "team"}
)
PROJECT_CREATE_MODELLED = PROJECT_UPDATE_MODELLED | {"workspace"}

# The spec's enums (ProjectRequest).
COLORS: tuple[str | None, ...] = (
    *(f"{shade}-{hue}" for shade in ("dark", "light") for hue in (
        "pink", "green", "blue", "red", "teal", "brown", "orange", "purple", "warm-gray"
    )),
    "none",
    None,
)  # fmt: skip
PRIVACY_SETTINGS = ("public_to_workspace", "private_to_team", "private")
DEFAULT_VIEWS = ("list", "board", "calendar", "timeline")


def _project_fields(api: Api, principal: Principal, body: Body, workspace: Workspace) -> dict[str, object]:
    """The modelled project fields of a create or update body, checked (the model's names, e.g. owner_gid)."""
    fields: dict[str, object] = {}
    for name in ("name", "notes"):
        if name in body:
            fields[name] = body.string(name)
    if "archived" in body:
        fields["archived"] = body.boolean("archived")
    if "color" in body:
        fields["color"] = body.choice("color", COLORS)
    if "privacy_setting" in body:
        fields["privacy_setting"] = body.choice("privacy_setting", PRIVACY_SETTINGS)
    if "default_view" in body:
        fields["default_view"] = body.choice("default_view", DEFAULT_VIEWS)
    if "owner" in body:
        ref = body.data["owner"]
        if ref is None:
            fields["owner_gid"] = None
        else:
            owner = api.user(principal, "owner", body.string("owner"))
            if workspace.gid not in owner.workspace_gids:
                raise AsanaError(400, f"owner: {ref} is not a member of the project's workspace.")
            fields["owner_gid"] = owner.gid
    if "team" in body:
        team = api.team(principal, "team", body.gid("team"))
        if team.organization_gid != workspace.gid:
            raise AsanaError(400, "team: The team must belong to the project's workspace.")
        fields["team_gid"] = team.gid
    return fields


def register_project_routes(app: Flask, api: Api) -> None:

    @app.get(f"{API_PREFIX}/projects/<project_gid>")
    def get_project(project_gid: str) -> tuple[Response, int]:
        principal = require_scope("projects:read")
        return api.one(api.project(principal, "project", project_gid))

    @app.post(f"{API_PREFIX}/projects")
    def create_project() -> tuple[Response, int]:
        principal = require_scope("projects:write")
        body = Body(PROJECT_CREATE_WRITABLE, PROJECT_CREATE_MODELLED)
        if "workspace" in body:
            workspace = api.workspace(principal, "workspace", body.gid("workspace"))
        elif "team" in body:
            team = api.team(principal, "team", body.gid("team"))
            workspace = api.workspace(principal, "workspace", team.organization_gid)
        else:
            raise missing("workspace")
        if "name" not in body:
            raise missing("name")
        if workspace.is_organization and "team" not in body:
            raise AsanaError(400, TEAM_REQUIRED)
        fields = {"owner_gid": principal.user_gid, **_project_fields(api, principal, body, workspace)}
        return api.one(api.changes.create_project(principal.user_gid, workspace_gid=workspace.gid, fields=fields), 201)

    @app.put(f"{API_PREFIX}/projects/<project_gid>")
    def update_project(project_gid: str) -> tuple[Response, int]:
        principal = require_scope("projects:write")
        project = api.project(principal, "project", project_gid)
        body = Body(PROJECT_UPDATE_WRITABLE, PROJECT_UPDATE_MODELLED)
        workspace = api.store.workspaces[project.workspace_gid]
        api.changes.update_project(principal.user_gid, project, _project_fields(api, principal, body, workspace))
        return api.one(project)

    @app.delete(f"{API_PREFIX}/projects/<project_gid>")
    def delete_project(project_gid: str) -> Response:
        principal = require_scope("projects:delete")
        api.changes.delete_project(principal.user_gid, api.project(principal, "project", project_gid))
        return empty()
