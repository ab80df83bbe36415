"""The connection API's request and response models (``/asana/api/connect`` and ``/asana/api/connection``).

Optional fields are left out of the JSON when they have no value, as the admin page and SecureDB's UI expect: a
``message`` or ``connect_url`` is present only when there is something to say or to click.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

from asana_integration.models.asana import AsanaUser
from asana_integration.models.connections import Purpose


class ConnectRequest(BaseModel):
    """``POST /asana/api/connect``: whose Asana account to connect (the organization's needs an admin)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    purpose: Purpose = Purpose.PERSONAL


class _OmitsUnsetValues(BaseModel):
    @model_serializer(mode="wrap")
    def _without_none(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {name: value for name, value in handler(self).items() if value is not None}


class ConnectLink(BaseModel):
    """Where to send the browser to authorize (single use, expires with its OAuth state)."""

    connect_url: str


class ConnectionView(_OmitsUnsetValues):
    """A connection as the caller may see it: never a token, only who authorized and until when."""

    purpose: Purpose
    status: Literal["connected", "needs_reconnect", "not_connected"]
    asana_user: AsanaUser | None = None
    connected_by: str | None = None
    connected_at: str | None = None
    access_expires_at: str | None = None
    message: str | None = None
    fix: str | None = None
    connect_url: str | None = None


class ConnectionRemoved(_OmitsUnsetValues):
    """``DELETE /asana/api/connection``: the tokens are deleted; ``revoked`` says whether Asana confirmed it."""

    disconnected: Literal[True] = True
    revoked: bool
    message: str | None = None
