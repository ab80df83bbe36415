"""Which Asana identity acts for an organization: the seed's precedence, in one place.

1. The company PAT, when one is saved (Step 5: "if a PAT is present it will be preferred") and Asana has not refused
   it since it was saved.
2. Otherwise the organization's OAuth connection, made by an admin through Connect / Authorize (Step 6) with the Asana
   app whose credentials are saved now (a connection made with a previous app's Client ID cannot be refreshed).
3. Otherwise nothing: ``ConnectionRequired`` with a ``connect_url`` for this tenant's exact redirect URI. A refused
   PAT with no connection to fall back on is still returned (it says why nothing works), but ``can_act`` is False.

Each identity has a ``key`` that changes whenever the identity does (a save, a reconnect): the status shows a stored
check only while its key is the current one. Verification, the Quick Actions and the scheduled jobs all ask here, so
they can never disagree on the identity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from asana_integration.asana.client import AsanaClient
from asana_integration.asana.token_source import AccessTokenSource, StaticToken
from asana_integration.config import Config
from asana_integration.connections.service import ConnectionInfo, ConnectionService
from asana_integration.errors import AsanaAuthenticationFailed, ConnectionRequired
from asana_integration.identity import Caller
from asana_integration.models.connections import Purpose
from asana_integration.models.credentials import OrgCredentials
from asana_integration.observability import logger
from asana_integration.stores.credentials import CredentialStore
from asana_integration.tenant_urls import TenantUrls

Mode = Literal["pat", "oauth"]

NOT_CONFIGURED_MESSAGE = "Asana is not configured for this organization yet."
NOT_CONFIGURED_FIX = (
    "An administrator pastes the Asana app's Client ID and Client Secret (and optionally a Personal Access Token) "
    "into the Asana settings and clicks Save Asana Settings."
)
REQUIRES_CONNECTION_MESSAGE = (
    "Asana is not connected: no Personal Access Token is saved and no administrator has authorized the app yet."
)
REQUIRES_CONNECTION_FIX = (
    "Click Connect / Authorize and approve the app on Asana's consent screen; you will come back here connected. "
    "Alternatively, save a company Personal Access Token."
)
OTHER_APP_MESSAGE = (
    "Asana is not connected: the organization's OAuth connection was made with another Asana app than the Client ID "
    "saved now, so it cannot be used."
)


@dataclass(frozen=True)
class OrganizationAccess:
    mode: Mode
    token_source: AccessTokenSource
    key: str  # "pat:<credentials revision>" or "oauth:<connection id>": changes whenever the identity does
    oauth_connection: ConnectionInfo | None = None  # who authorized, when the mode is "oauth"
    pat_rejected: bool = False  # a saved PAT exists, but Asana refused it since it was saved

    @property
    def can_act(self) -> bool:
        """Whether this identity may still work: not a refused PAT, nor a connection that needs a reconnect."""
        if self.mode == "pat":
            return not self.pat_rejected
        return self.oauth_connection is None or self.oauth_connection.status == "connected"


class OrganizationAccessResolver:
    def __init__(self, config: Config, credentials: CredentialStore, connections: ConnectionService) -> None:
        self._config = config
        self._credentials = credentials
        self._connections = connections

    def resolve(
        self, caller: Caller, urls: TenantUrls, *, remaining_time_ms: Callable[[], int] | None = None
    ) -> OrganizationAccess:
        """The identity to act with, or ``ConnectionRequired`` (409) saying what the admin must do."""
        credentials = self._credentials.get(caller.org_id)
        if credentials is None:
            raise ConnectionRequired(NOT_CONFIGURED_MESSAGE, NOT_CONFIGURED_FIX, code="not_configured")
        pat = _pat_access(credentials)
        if pat is not None and not pat.pat_rejected:
            return pat
        found = self._connections.organization_token_source(
            caller.org_id, credentials, remaining_time_ms=remaining_time_ms
        )
        if found is not None and found[1].client_id in ("", credentials.client_id):
            token_source, info = found
            return OrganizationAccess(
                "oauth",
                token_source,
                key=f"oauth:{info.connection_id}",
                oauth_connection=info,
                pat_rejected=pat is not None,
            )
        if pat is not None:
            return pat  # refused, and nothing to fall back on: the status says so and offers Connect
        raise ConnectionRequired(
            OTHER_APP_MESSAGE if found is not None else REQUIRES_CONNECTION_MESSAGE,
            REQUIRES_CONNECTION_FIX,
            connect_url=self.connect_url(caller, urls),
        )

    def record_rejection(self, access: OrganizationAccess, org_id: str) -> None:
        """Asana refused the PAT in use (401): from now on it does not act for the organization until replaced."""
        if access.mode != "pat":
            return
        credentials = self._credentials.get(org_id)
        if credentials is not None and f"pat:{credentials.revision}" == access.key:
            self._credentials.mark_pat_rejected(credentials, org_id)

    def client(self, access: OrganizationAccess, *, remaining_time_ms: Callable[[], int] | None = None) -> AsanaClient:
        return AsanaClient(access.token_source, self._config, remaining_time_ms=remaining_time_ms)

    def connect_url(self, caller: Caller, urls: TenantUrls) -> str | None:
        """A fresh Connect / Authorize link for the organization connection (only admins may start one)."""
        if not caller.is_admin:
            return None
        return self._connections.start_connect(caller, Purpose.ORGANIZATION, urls)

    def with_reconnect_link(
        self, error: AsanaAuthenticationFailed, access: OrganizationAccess, caller: Caller, urls: TenantUrls
    ) -> AsanaAuthenticationFailed:
        """``error`` with a fresh reconnect link when the dead token was an OAuth connection's and the caller may
        reconnect. The token source below never makes one: it does not know who is asking."""
        if access.mode != "oauth" or error.connect_url:
            return error
        try:
            error.connect_url = self.connect_url(caller, urls)
        except Exception:  # the reconnect link is a courtesy: its failure must not hide the real error
            logger.exception("could not build a reconnect url", extra={"org_id": caller.org_id})
        return error


def _pat_access(credentials: OrgCredentials) -> OrganizationAccess | None:
    if credentials.pat is None:
        return None
    return OrganizationAccess(
        "pat",
        StaticToken(credentials.pat.get_secret_value()),
        key=f"pat:{credentials.revision}",
        pat_rejected=credentials.pat_rejected,
    )
