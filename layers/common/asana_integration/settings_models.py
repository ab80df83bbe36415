"""The settings API's request and status models (the JSON contract with SecureDB's UI and the admin page)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints

ConnectionState = Literal["connected", "requires_connection", "error", "not_configured"]

# Opaque credentials (Asana says not to validate token formats): only reject what cannot be one.
_Credential = Annotated[SecretStr, Field(min_length=1, max_length=1024)]
_ClientId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128, pattern=r"^\S+$")]


class SettingsUpdate(BaseModel):
    """``PUT /asana/api/settings``. An omitted secret field keeps the stored value; ``"pat": null`` removes the PAT."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    client_id: _ClientId
    client_secret: _Credential | None = None
    pat: _Credential | None = None


class AsanaUser(BaseModel):
    gid: str
    name: str | None = None
    email: str | None = None


class Workspace(BaseModel):
    gid: str
    name: str | None = None
    is_organization: bool | None = None


class ConnectionStatus(BaseModel):
    """The outcome of the last verification, as the admin page shows it."""

    mode: Literal["pat", "oauth"] | None = None
    state: ConnectionState
    message: str
    fix: str | None = None
    asana_user: AsanaUser | None = None
    connected_by: str | None = None
    connect_url: str | None = None
    workspaces: list[Workspace] | None = None
    checked_at: str | None = None


class SettingsStatus(BaseModel):
    configured: bool
    client_id: str | None
    client_secret_set: bool
    pat_set: bool
    pat_last4: str | None
    redirect_uris: list[str]
    webhook_url: str
    recommended_scopes: str
    scopes_mode: Literal["default", "granular"]
    connection: ConnectionStatus
