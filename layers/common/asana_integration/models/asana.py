"""Asana objects as this integration keeps them: who a token belongs to, and the workspaces it can see."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AsanaUser(BaseModel):
    """An Asana user: who authorized a connection (stored with it) or whom a verification found (``/users/me``)."""

    model_config = ConfigDict(frozen=True)

    gid: str
    name: str | None = None
    email: str | None = None


class Workspace(BaseModel):
    model_config = ConfigDict(frozen=True)

    gid: str
    name: str | None = None
    is_organization: bool | None = None
