"""What is mirrored of each kind of Asana object: the ``opt_fields`` asked for, and the entity kept.

Each list asks Asana for exactly the fields kept (``opt_fields``), so one call per page carries everything: no
per-item reads. Related objects are kept by gid (``team_gid``, ``owner_gid``…). A value Asana leaves out is kept as
``None``, so an entity's hash does not depend on whether Asana omitted a field or sent it empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asana_integration.models.mirror import MirrorEntity

WORKSPACE_FIELDS = ("name", "is_organization")
USER_FIELDS = ("name", "email", "workspaces")
TEAM_FIELDS = ("name", "description", "permalink_url", "organization")
MEMBERSHIP_FIELDS = ("user", "team", "is_admin", "is_guest")
PROJECT_FIELDS = (
    "name",
    "archived",
    "team",
    "workspace",
    "owner",
    "created_at",
    "modified_at",
    "permalink_url",
    "color",
)
TASK_FIELDS = (
    "name",
    "completed",
    "assignee",
    "due_on",
    "memberships.project",
    "memberships.section.name",
    "modified_at",
    "permalink_url",
)

Record = Mapping[str, Any]


def workspace(record: Record) -> MirrorEntity:
    return MirrorEntity(
        _gid(record),
        {"name": _text(record.get("name")), "is_organization": bool(record.get("is_organization"))},
    )


def user(record: Record) -> MirrorEntity:
    """A user; Asana may hide the email (missing, null or empty: kept as ``None``)."""
    workspaces = sorted(gid for ref in record.get("workspaces") or [] if (gid := _ref(ref)))
    return MirrorEntity(
        _gid(record),
        {
            "name": _text(record.get("name")),
            "email": _text(record.get("email")),
            "workspace_gids": workspaces,
        },
    )


def team(record: Record) -> MirrorEntity:
    return MirrorEntity(
        _gid(record),
        {
            "name": _text(record.get("name")),
            "description": _text(record.get("description")),
            "permalink_url": _text(record.get("permalink_url")),
            "workspace_gid": _ref(record.get("organization")),
        },
    )


def membership(record: Record, team_gid: str) -> MirrorEntity:
    """A team membership, keyed ``<team gid>#<user gid>`` (one per user and team, whatever Asana's own gid)."""
    user_gid = _ref(record.get("user"))
    if user_gid is None:
        raise ValueError(f"team membership {_gid(record)} names no user")
    return MirrorEntity(
        f"{team_gid}#{user_gid}",
        {
            "team_gid": team_gid,
            "user_gid": user_gid,
            "is_admin": bool(record.get("is_admin")),
            "is_guest": bool(record.get("is_guest")),
        },
    )


def project(record: Record) -> MirrorEntity:
    return MirrorEntity(
        _gid(record),
        {
            "name": _text(record.get("name")),
            "archived": bool(record.get("archived")),
            "team_gid": _ref(record.get("team")),
            "workspace_gid": _ref(record.get("workspace")),
            "owner_gid": _ref(record.get("owner")),
            "created_at": _text(record.get("created_at")),
            "modified_at": _text(record.get("modified_at")),
            "permalink_url": _text(record.get("permalink_url")),
            "color": _text(record.get("color")),
        },
    )


def task(record: Record, project_gid: str) -> MirrorEntity:
    """A task of an imported project, with its section in that project (a task may be in several projects)."""
    section: Mapping[str, Any] = {}
    for membership_record in record.get("memberships") or []:
        if isinstance(membership_record, Mapping) and _ref(membership_record.get("project")) == project_gid:
            section = membership_record.get("section") or {}
            break
    return MirrorEntity(
        _gid(record),
        {
            "name": _text(record.get("name")),
            "completed": bool(record.get("completed")),
            "assignee_gid": _ref(record.get("assignee")),
            "due_on": _text(record.get("due_on")),
            "section_gid": _ref(section),
            "section_name": _text(section.get("name")) if section else None,
            "modified_at": _text(record.get("modified_at")),
            "permalink_url": _text(record.get("permalink_url")),
        },
    )


def _gid(record: Record) -> str:
    gid = record.get("gid")
    if not isinstance(gid, str) or not gid:
        raise ValueError("an Asana record without a gid")
    return gid


def _ref(value: object) -> str | None:
    """The gid of a related object (``{"gid": …}``), or ``None`` when there is none."""
    if isinstance(value, Mapping) and isinstance(value.get("gid"), str) and value["gid"]:
        return str(value["gid"])
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
