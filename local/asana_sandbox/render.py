"""Turn records into Asana JSON: compact by default, full for single-resource GETs, or exactly what `opt_fields` asks.

Asana's `opt_fields` semantics, as the sandbox implements them: the answer holds `gid` plus each requested field; a
related object requested without sub-fields (`owner`) comes as `{gid, resource_type}`, and dotted paths
(`owner.name`, `memberships.section.name`) select fields of the related object. Unknown fields are ignored.

Compact records hold exactly the properties of the spec's `*Compact` schema, minus those it marks "[Opt In]" (e.g.
TaskCompact.created_by). Full records hold the fields the sandbox models, a subset of the spec's `*Response`; related
objects inside them are compact.

A user whose email Asana does not show (`User.email is None`) is rendered without the `email` key, even when it is
asked for. Whether Asana omits the key, sends null or an empty string is unconfirmed (a third-party connector notes
that Asana "hides email for deactivated / privacy-protected users"); clients must accept all three.
"""

from __future__ import annotations

from typing import Any, Protocol

from local.asana_sandbox.models import Project, Section, Task, Team, TeamMembership, User, Workspace
from local.asana_sandbox.timestamps import iso, iso_or_none

type Resource = Workspace | User | Team | TeamMembership | Project | Section | Task
type FieldTree = dict[str, FieldTree]

RESOURCE_TYPES: dict[type, str] = {
    Workspace: "workspace",
    User: "user",
    Team: "team",
    TeamMembership: "team_membership",
    Project: "project",
    Section: "section",
    Task: "task",
}
TASK_SUBTYPE = "default_task"  # the only subtype the sandbox models


class Lookup(Protocol):
    def workspace(self, gid: str) -> Workspace | None: ...
    def user(self, gid: str) -> User | None: ...
    def team(self, gid: str) -> Team | None: ...
    def project(self, gid: str) -> Project | None: ...
    def section(self, gid: str) -> Section | None: ...
    def team_members(self, team_gid: str) -> list[User]: ...


def resource_type(obj: Resource) -> str:
    return RESOURCE_TYPES[type(obj)]


def task_permalink(gid: str) -> str:
    # Asana's classic task link; "0" stands for "no particular project", so the link survives project moves.
    return f"https://app.asana.com/0/0/{gid}"


def compact(obj: Resource, lookup: Lookup) -> dict[str, Any]:
    match obj:
        case TeamMembership():
            user, team = lookup.user(obj.user_gid), lookup.team(obj.team_gid)
            return {
                "gid": obj.gid,
                "resource_type": "team_membership",
                "user": compact(user, lookup) if user else None,
                "team": compact(team, lookup) if team else None,
                "is_guest": obj.is_guest,
                "is_limited_access": False,
                "is_admin": obj.is_admin,
            }
        case Task():
            return {"gid": obj.gid, "resource_type": "task", "name": obj.name, "resource_subtype": TASK_SUBTYPE}
        case _:
            return {"gid": obj.gid, "resource_type": resource_type(obj), "name": obj.name}


def _fields(obj: Resource, lookup: Lookup) -> dict[str, Any]:
    """Every field the sandbox knows for a record; related records stay objects so they can be projected."""
    base: dict[str, Any] = {"gid": obj.gid, "resource_type": resource_type(obj)}
    match obj:
        case Workspace():
            base |= {"name": obj.name, "email_domains": list(obj.email_domains), "is_organization": obj.is_organization}
        case User():
            workspaces = [ws for gid in obj.workspace_gids if (ws := lookup.workspace(gid)) is not None]
            base |= {"name": obj.name, "email": obj.email, "photo": None, "workspaces": workspaces}
            if obj.email is None:
                del base["email"]
        case Team():
            base |= {
                "name": obj.name,
                "description": obj.description,
                "html_description": f"<body>{obj.description}</body>",
                "organization": lookup.workspace(obj.organization_gid),
                "permalink_url": f"https://app.asana.com/0/team/{obj.gid}",
                "visibility": obj.visibility,
            }
        case TeamMembership():
            base |= {
                "user": lookup.user(obj.user_gid),
                "team": lookup.team(obj.team_gid),
                "is_guest": obj.is_guest,
                "is_limited_access": False,
                "is_admin": obj.is_admin,
            }
        case Project():
            base |= _project_fields(obj, lookup)
        case Section():
            base |= {"name": obj.name, "created_at": iso(obj.created_at), "project": lookup.project(obj.project_gid)}
        case Task():
            base |= _task_fields(obj, lookup)
    return base


def _project_fields(obj: Project, lookup: Lookup) -> dict[str, Any]:
    owner = lookup.user(obj.owner_gid) if obj.owner_gid else None
    team = lookup.team(obj.team_gid) if obj.team_gid else None
    members = lookup.team_members(obj.team_gid) if obj.team_gid else ([owner] if owner else [])
    fields: dict[str, Any] = {
        "name": obj.name,
        "archived": obj.archived,
        "color": obj.color,
        "completed": False,
        "completed_at": None,
        "created_at": iso(obj.created_at),
        "default_view": obj.default_view,
        "members": members,
        "modified_at": iso(obj.modified_at),
        "notes": obj.notes,
        "owner": owner,
        "permalink_url": f"https://app.asana.com/0/{obj.gid}/list",
        "privacy_setting": obj.privacy_setting,
        "public": obj.privacy_setting == "public_to_workspace",
        "workspace": lookup.workspace(obj.workspace_gid),
    }
    # The spec's ProjectResponse.team is not nullable, so a project without a team (plain workspace) leaves the
    # field out. Whether real Asana sends null or omits it is unconfirmed: clients must accept both.
    if team is not None:
        fields["team"] = team
    return fields


def _task_fields(obj: Task, lookup: Lookup) -> dict[str, Any]:
    memberships = [
        {"project": lookup.project(m.project_gid), "section": lookup.section(m.section_gid)} for m in obj.memberships
    ]
    return {
        "name": obj.name,
        "resource_subtype": TASK_SUBTYPE,
        "assignee": lookup.user(obj.assignee_gid) if obj.assignee_gid else None,
        "completed": obj.completed,
        "completed_at": iso_or_none(obj.completed_at),
        "created_at": iso(obj.created_at),
        "due_at": None,
        "due_on": obj.due_on,
        "memberships": memberships,
        "modified_at": iso(obj.modified_at),
        "notes": obj.notes,
        "parent": None,
        "permalink_url": task_permalink(obj.gid),
        "projects": [m["project"] for m in memberships],
        "start_on": None,
        "workspace": lookup.workspace(obj.workspace_gid),
    }


# Fields of the "full record" Asana returns from single-resource GETs without opt_fields (a modelled subset).
FULL_FIELDS: dict[type, tuple[str, ...]] = {
    Workspace: ("gid", "resource_type", "name", "email_domains", "is_organization"),
    User: ("gid", "resource_type", "name", "email", "photo", "workspaces"),
    TeamMembership: ("gid", "resource_type", "user", "team", "is_guest", "is_limited_access", "is_admin"),
    Project: (
        "gid",
        "resource_type",
        "name",
        "archived",
        "color",
        "completed",
        "completed_at",
        "created_at",
        "default_view",
        "members",
        "modified_at",
        "notes",
        "owner",
        "permalink_url",
        "privacy_setting",
        "public",
        "team",
        "workspace",
    ),
    Section: ("gid", "resource_type", "name", "created_at", "project"),
    Task: (
        "gid",
        "resource_type",
        "name",
        "resource_subtype",
        "assignee",
        "completed",
        "completed_at",
        "created_at",
        "due_at",
        "due_on",
        "memberships",
        "modified_at",
        "notes",
        "parent",
        "permalink_url",
        "projects",
        "start_on",
        "workspace",
    ),
}


def parse_opt_fields(raw: str | None) -> FieldTree | None:
    if raw is None or not raw.strip():
        return None
    tree: FieldTree = {}
    for path in raw.split(","):
        node = tree
        for part in path.strip().split("."):
            if part:
                node = node.setdefault(part, {})
    return tree


def _is_resource(value: object) -> bool:
    return type(value) in RESOURCE_TYPES


def _value(value: Any, subtree: FieldTree, lookup: Lookup) -> Any:
    """A field's value as opt_fields asks for it."""
    if isinstance(value, list):
        return [_value(item, subtree, lookup) for item in value]
    if isinstance(value, dict):  # e.g. a task membership: {"project": ..., "section": ...}
        keys = subtree or {key: {} for key in value}
        return {k: _value(value[k], sub, lookup) for k, sub in keys.items() if k in value}
    if _is_resource(value):
        if not subtree:
            return {"gid": value.gid, "resource_type": resource_type(value)}
        return select(value, subtree, lookup)
    return value


def _compact_value(value: Any, lookup: Lookup) -> Any:
    """A field's value inside a full record: related records compact."""
    if isinstance(value, list):
        return [_compact_value(item, lookup) for item in value]
    if isinstance(value, dict):
        return {k: _compact_value(v, lookup) for k, v in value.items()}
    if _is_resource(value):
        return compact(value, lookup)
    return value


def select(obj: Resource, tree: FieldTree, lookup: Lookup) -> dict[str, Any]:
    available = _fields(obj, lookup)
    out: dict[str, Any] = {"gid": obj.gid}
    for name, subtree in tree.items():
        if name in available:
            out[name] = _value(available[name], subtree, lookup)
    return out


def render(obj: Resource, tree: FieldTree | None, lookup: Lookup, *, full: bool = False) -> dict[str, Any]:
    """Render one record: `opt_fields` wins; otherwise the full record (single GETs) or the compact one (lists)."""
    if tree is not None:
        return select(obj, tree, lookup)
    if full:
        available = _fields(obj, lookup)
        return {name: _compact_value(available[name], lookup) for name in FULL_FIELDS[type(obj)] if name in available}
    return compact(obj, lookup)
