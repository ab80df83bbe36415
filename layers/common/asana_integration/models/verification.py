"""The outcome of verifying an organization's Asana access: what the admin page shows and the upkeep refreshes.

Shared by the settings domain, which produces it, and the verification store, which keeps the last one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from asana_integration.models.asana import AsanaUser, Workspace

ConnectionState = Literal["connected", "requires_connection", "error", "not_configured"]


class ConnectionStatus(BaseModel):
    """The outcome of the last verification, as the admin page shows it."""

    mode: Literal["pat", "oauth"] | None = None
    state: ConnectionState
    message: str
    fix: str | None = None
    asana_user: AsanaUser | None = None
    connected_by: str | None = None  # the SecureDB user who connected the OAuth identity (by id) …
    connected_by_name: str | None = None  # … and by name, when their session carried one
    connect_url: str | None = None  # present whenever nothing can act for the organization: Connect is offered
    workspaces: list[Workspace] | None = None
    checked_at: str | None = None
