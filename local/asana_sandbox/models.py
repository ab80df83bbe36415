"""Plain records the sandbox keeps in memory: Asana resources, OAuth apps and issued credentials.

Resources hold references to other resources by gid; `store.SandboxStore` resolves them when a response is built,
so one resource can be rendered compact, full or through `opt_fields` without duplicating data.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
    email: str
    workspace_gids: list[str] = field(default_factory=list)


@dataclass
class Team:
    gid: str
    name: str
    organization_gid: str
    description: str = ""
    # Asana hides "secret" teams from non-members in GET /workspaces/{gid}/teams.
    visibility: str = "public"
    member_gids: list[str] = field(default_factory=list)


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
    created_at: str = "2025-01-01T00:00:00.000Z"
    modified_at: str = "2025-01-01T00:00:00.000Z"
    privacy_setting: str = "public_to_workspace"


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
