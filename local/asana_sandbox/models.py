"""Plain records the sandbox keeps in memory: Asana resources, OAuth apps and issued credentials.

Resources hold references to other resources by gid; `store.SandboxStore` resolves them when a response is built,
so one resource can be rendered compact, full or through `opt_fields` without duplicating data. Times are POSIX
seconds (the sandbox clock's unit) and are rendered as Asana's ISO 8601 strings only in responses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# 2025-01-01T00:00:00Z: when the demo data "was created", so demo timestamps never depend on the day tests run.
DEMO_EPOCH = 1735689600.0


@dataclass
class Workspace:
    gid: str
    name: str
    is_organization: bool
    email_domains: list[str] = field(default_factory=list)


@dataclass
class User:
    gid: str
    name: str
    # None: Asana does not show this user's email (see render.py for how that is answered).
    email: str | None
    # The workspaces the user is an active member of.
    workspace_gids: list[str] = field(default_factory=list)
    # Workspaces whose admins the user is; the consent page pre-selects the first admin.
    admin_workspace_gids: list[str] = field(default_factory=list)
    # Workspaces the user was deactivated in: no longer a member, still resolvable by gid (e.g. as an assignee).
    deactivated_workspace_gids: list[str] = field(default_factory=list)


@dataclass
class Team:
    gid: str
    name: str
    organization_gid: str
    description: str = ""
    # Asana hides "secret" teams from non-members in GET /workspaces/{gid}/teams.
    visibility: str = "public"


@dataclass
class TeamMembership:
    gid: str
    team_gid: str
    user_gid: str
    is_admin: bool = False
    is_guest: bool = False


@dataclass
class Project:
    gid: str
    name: str
    workspace_gid: str
    team_gid: str | None
    owner_gid: str | None
    archived: bool = False
    color: str | None = None
    notes: str = ""
    created_at: float = DEMO_EPOCH
    modified_at: float = DEMO_EPOCH
    privacy_setting: str = "public_to_workspace"
    default_view: str = "list"
    # Ordered: a project's tasks are listed section by section, in this order.
    section_gids: list[str] = field(default_factory=list)


@dataclass
class Section:
    gid: str
    name: str
    project_gid: str
    created_at: float = DEMO_EPOCH
    # Ordered: the section's tasks, top to bottom.
    task_gids: list[str] = field(default_factory=list)


@dataclass
class TaskMembership:
    project_gid: str
    section_gid: str


@dataclass
class Task:
    gid: str
    name: str
    workspace_gid: str
    created_at: float = DEMO_EPOCH
    modified_at: float = DEMO_EPOCH
    completed: bool = False
    completed_at: float | None = None
    assignee_gid: str | None = None
    due_on: str | None = None  # a calendar date, YYYY-MM-DD
    notes: str = ""
    memberships: list[TaskMembership] = field(default_factory=list)


@dataclass
class OAuthApp:
    """An app as registered in Asana's developer console.

    `full_permissions` and `scopes` are mutually exclusive in Asana; an app with neither cannot be authorized.
    """

    client_id: str
    client_secret: str
    name: str
    redirect_uris: list[str]
    full_permissions: bool = False
    scopes: frozenset[str] = frozenset()


@dataclass
class AuthorizationCode:
    client_id: str
    redirect_uri: str
    user_gid: str
    scopes: tuple[str, ...]
    code_challenge: str | None
    expires_at: float
    used: bool = False


@dataclass
class RefreshToken:
    token: str
    client_id: str
    user_gid: str
    scopes: tuple[str, ...]
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    client_id: str
    user_gid: str
    scopes: tuple[str, ...]
    expires_at: float
    refresh_token: str


@dataclass
class Principal:
    """Who a request acts as, after its bearer token was checked."""

    user_gid: str
    # None for a PAT (which acts with the user's full rights); the granted scopes for an OAuth token.
    scopes: tuple[str, ...] | None
    # The OAuth app the token was issued to; None for a PAT. Webhooks belong to a user *and* an app.
    client_id: str | None = None
