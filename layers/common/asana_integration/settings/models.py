"""The settings API's request and response models (the JSON contract with SecureDB's UI and the admin page)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints

from asana_integration.models.verification import ConnectionStatus

# Opaque credentials (Asana says not to validate token formats): only reject what cannot be one.
_Credential = Annotated[SecretStr, Field(min_length=1, max_length=1024)]
_ClientId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128, pattern=r"^\S+$")]


class SettingsUpdate(BaseModel):
    """``PUT /asana/api/settings``. An omitted secret field keeps the stored value; ``"pat": null`` removes the PAT."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    client_id: _ClientId
    client_secret: _Credential | None = None
    pat: _Credential | None = None


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


class Disconnected(BaseModel):
    """``DELETE /asana/api/settings``: the organization's credentials, status and connections are gone."""

    disconnected: Literal[True] = True
    connections_removed: int


class QuickActionPage(BaseModel):
    """One page of a live Asana listing; ``next_offset`` asks for the next one, ``mode`` says which identity acted."""

    data: list[dict[str, Any]]
    next_offset: str | None
    mode: Literal["pat", "oauth"]
