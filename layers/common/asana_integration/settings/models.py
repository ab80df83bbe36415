"""The settings API's request and response models (the JSON contract with SecureDB's UI and the admin page)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from asana_integration.models.text import OpaqueIdentifier, OpaqueSecret
from asana_integration.models.verification import ConnectionStatus


class SettingsUpdate(BaseModel):
    """``PUT /asana/api/settings``. An omitted secret field keeps the stored value; ``"pat": null`` removes the PAT.

    Each value is trimmed, then must be printable ASCII (``models/text.py``): the PAT is sent as an HTTP header and the
    client id is shown back, so neither may carry a line break or a control character.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    client_id: OpaqueIdentifier
    client_secret: OpaqueSecret | None = None
    pat: OpaqueSecret | None = None


class CredentialsCheck(BaseModel):
    """What Asana said of the Client ID and Secret at this save: ``accepted``, ``unverified`` (with the reason and
    what to do), or ``unchanged`` (they were saved before and not checked again)."""

    client: Literal["accepted", "unverified", "unchanged"]
    message: str | None = None
    fix: str | None = None


class SettingsStatus(BaseModel):
    configured: bool
    client_id: str | None
    client_secret_set: bool
    pat_set: bool
    pat_last4: str | None
    pat_rejected: bool = False  # Asana refused the saved PAT since it was saved: it no longer acts
    redirect_uris: list[str]
    webhook_url: str
    recommended_scopes: str
    scopes_mode: Literal["default", "granular"]
    connection: ConnectionStatus
    # Only in the answer to a save: what Asana said of the Client ID and Secret before they were stored.
    credentials_check: CredentialsCheck | None = None


class Disconnected(BaseModel):
    """``DELETE /asana/api/settings``: the organization's credentials, status and connections are gone."""

    disconnected: Literal[True] = True
    connections_removed: int
    webhooks_deleted: int = 0


class QuickActionPage(BaseModel):
    """One page of a live Asana listing; ``next_offset`` asks for the next one, ``mode`` says which identity acted."""

    data: list[dict[str, Any]]
    next_offset: str | None
    mode: Literal["pat", "oauth"]
