"""The connection API's request and response models (``/asana/api/connect`` and ``/asana/api/connection``).

Optional fields are left out of the JSON when they have no value, as the admin page and SecureDB's UI expect: a
``message`` or ``connect_url`` is present only when there is something to say or to click.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, StringConstraints, model_serializer

from asana_integration.models.asana import AsanaUser
from asana_integration.models.connections import Purpose
from asana_integration.models.text import VISIBLE_ASCII


class ConnectRequest(BaseModel):
    """``POST /asana/api/connect``: whose Asana account to connect (the organization's needs an admin)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    purpose: Purpose = Purpose.PERSONAL


class _OmitsUnsetValues(BaseModel):
    @model_serializer(mode="wrap")
    def _without_none(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {name: value for name, value in handler(self).items() if value is not None}


class ConnectLink(BaseModel):
    """Where to send the browser to authorize (single use, expires with its OAuth state), and the key only the
    browser session that asked may present to finish the connection (``POST /asana/api/connect/complete``)."""

    connect_url: str
    completion_key: str


class ConnectCompletion(BaseModel):
    """``POST /asana/api/connect/complete``: what Asana's redirect handed the settings page (in the URL fragment),
    and the completion key the session kept when it started Connect (absent for a link from a status)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    state: Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=VISIBLE_ASCII)]
    code: Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=VISIBLE_ASCII)]
    completion_key: Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=VISIBLE_ASCII)] | None = None


class ConnectCompleted(BaseModel):
    """The connection is stored: the outcome's code (``connected``), message and purpose."""

    code: Literal["connected"]
    kind: Literal["success"]
    message: str
    purpose: Purpose


class SignedInUser(_OmitsUnsetValues):
    """``GET /asana/api/me``: who is signed in to SecureDB, by name (the configured claim), else by id."""

    user_id: str
    name: str | None = None
    display_name: str
    is_admin: bool


class ConnectionView(_OmitsUnsetValues):
    """A connection as the caller may see it: never a token, only who authorized and until when."""

    purpose: Purpose
    status: Literal["connected", "needs_reconnect", "not_connected"]
    asana_user: AsanaUser | None = None
    connected_by: str | None = None
    connected_by_name: str | None = None
    connected_at: str | None = None
    access_expires_at: str | None = None
    message: str | None = None
    fix: str | None = None
    connect_url: str | None = None


class ConnectionRemoved(_OmitsUnsetValues):
    """``DELETE /asana/api/connection``: the tokens are deleted; ``revoked`` says whether Asana confirmed it, and
    ``revocation`` what happened instead (the message and fix say it in words)."""

    disconnected: Literal[True] = True
    revoked: bool
    revocation: Literal["revoked", "unknown_token", "client_rejected", "unreachable", "unavailable", "no_credentials"]
    message: str | None = None
    fix: str | None = None
