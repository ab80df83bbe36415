"""Turn records into Asana JSON: compact by default, full for single-resource GETs, or exactly what `opt_fields` asks.

Asana's `opt_fields` semantics, as the sandbox implements them: the answer holds `gid` plus each requested field; a
related object requested without sub-fields (`owner`) comes as `{gid, resource_type}`, and one-level dotted paths
(`owner.name`) select fields of the related object. Unknown fields are ignored.
"""

from __future__ import annotations

from typing import Any, Protocol

from local.asana_sandbox.models import Project, Team, User, Workspace

type Resource = Workspace | User | Team | Project
type FieldTree = dict[str, FieldTree]


class Lookup(Protocol):
    def workspace(self, gid: str) -> Workspace | None: ...
    def user(self, gid: str) -> User | None: ...
    def team(self, gid: str) -> Team | None: ...
    def team_members(self, team_gid: str) -> list[User]: ...


def resource_type(obj: Resource) -> str:
    match obj:
        case Workspace():
            return "workspace"
        case User():
            return "user"
        case Team():
            return "team"
        case Project():
            return "project"


def compact(obj: Resource) -> dict[str, Any]:
    return {"gid": obj.gid, "resource_type": resource_type(obj), "name": obj.name}


def _fields(obj: Resource, lookup: Lookup) -> dict[str, Any]:
    """Every field the sandbox knows for a record; related records stay objects so they can be projected."""
    base: dict[str, Any] = {"gid": obj.gid, "resource_type": resource_type(obj), "name": obj.name}
    match obj:
        case Workspace():
            base |= {"email_domains": list(obj.email_domains), "is_organization": obj.is_organization}
        case User():
            workspaces = [ws for gid in obj.workspace_gids if (ws := lookup.workspace(gid)) is not None]
            base |= {"email": obj.email, "photo": None, "workspaces": workspaces}
        case Team():
            base |= {
                "description": obj.description,
                "html_description": f"<body>{obj.description}</body>",
                "organization": lookup.workspace(obj.organization_gid),
                "permalink_url": f"https://app.asana.com/0/team/{obj.gid}",
                "visibility": obj.visibility,
            }
        case Project():
            owner = lookup.user(obj.owner_gid) if obj.owner_gid else None
            team = lookup.team(obj.team_gid) if obj.team_gid else None
            members = lookup.team_members(obj.team_gid) if obj.team_gid else ([owner] if owner else [])
            base |= {
                "archived": obj.archived,
                "color": obj.color,
                "completed": False,
                "completed_at": None,
                "created_at": obj.created_at,
                "modified_at": obj.modified_at,
                "notes": obj.notes,
                "owner": owner,
                "workspace": lookup.workspace(obj.workspace_gid),
                "members": members,
                "privacy_setting": obj.privacy_setting,
                "public": obj.privacy_setting == "public_to_workspace",
                "permalink_url": f"https://app.asana.com/0/{obj.gid}/list",
                "default_view": "list",
            }
            # The spec's ProjectResponse.team is not nullable, so a project without a team (plain workspace) leaves
            # the field out. Whether real Asana sends null or omits it is unconfirmed: clients must accept both.
            if team is not None:
                base["team"] = team
    return base


# Fields of the "full record" Asana returns from single-resource GETs without opt_fields.
_FULL_DEFAULTS: dict[type, tuple[str, ...]] = {
    Workspace: ("gid", "resource_type", "name", "email_domains", "is_organization"),
    User: ("gid", "resource_type", "name", "email", "photo", "workspaces"),
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


def _value(value: Any, subtree: FieldTree, lookup: Lookup) -> Any:
    if isinstance(value, list):
        return [_value(item, subtree, lookup) for item in value]
    if isinstance(value, Workspace | User | Team | Project):
        if not subtree:
            return {"gid": value.gid, "resource_type": resource_type(value)}
        return select(value, subtree, lookup)
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
    if full and type(obj) in _FULL_DEFAULTS:
        available = _fields(obj, lookup)
        return {
            name: _value(available[name], {"name": {}, "resource_type": {}}, lookup)
            for name in _FULL_DEFAULTS[type(obj)]
        }
    return compact(obj)
