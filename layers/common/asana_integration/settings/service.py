"""Organization settings: save the Asana app credentials, verify the connection, report the status (seed Steps 5 to 7).

The status never carries a secret: the client secret shows only as set or unset, and the PAT as its last 4 characters.
The last verification is kept in DynamoDB so reading the status costs no call to Asana.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from asana_integration.asana.client import AsanaClient, Page
from asana_integration.config import Config
from asana_integration.connections.service import ConnectionService
from asana_integration.errors import (
    FIX_AUTH_FAILED,
    SEED_AUTH_FAILED,
    AsanaAuthenticationFailed,
    AsanaError,
    ConnectionRequired,
    InvalidInput,
)
from asana_integration.identity import Caller
from asana_integration.models.asana import AsanaUser, Workspace
from asana_integration.models.credentials import OrgCredentials
from asana_integration.models.verification import ConnectionState, ConnectionStatus
from asana_integration.observability import logger
from asana_integration.settings.access import (
    NOT_CONFIGURED_FIX,
    NOT_CONFIGURED_MESSAGE,
    OrganizationAccessResolver,
)
from asana_integration.settings.models import Disconnected, QuickActionPage, SettingsStatus, SettingsUpdate
from asana_integration.stores.credentials import CredentialStore
from asana_integration.stores.organizations import OrganizationRegistry
from asana_integration.stores.verifications import VerificationStore
from asana_integration.tenant_urls import TenantUrls

FIX_PAT_REJECTED = (
    "Asana rejected the saved Personal Access Token. Create a new one in the Asana Developer Console → Personal "
    "Access Tokens and save it here, or remove the PAT (and use Connect / Authorize) to work with an admin's OAuth "
    "token instead."
)


class OrganizationSettingsService:
    def __init__(
        self,
        config: Config,
        credentials: CredentialStore,
        connections: ConnectionService,
        verifications: VerificationStore,
        organizations: OrganizationRegistry,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._credentials = credentials
        self._connections = connections
        self._verifications = verifications
        self._organizations = organizations
        self._access = OrganizationAccessResolver(config, credentials, connections)
        self._clock = clock

    def status(
        self, caller: Caller, urls: TenantUrls, remaining_time_ms: Callable[[], int] | None = None
    ) -> SettingsStatus:
        credentials = self._credentials.get(caller.org_id)
        if credentials is None:
            connection = ConnectionStatus(
                state="not_configured", message=NOT_CONFIGURED_MESSAGE, fix=NOT_CONFIGURED_FIX
            )
            return self._status(None, connection, urls)
        stored = self._verifications.get(caller.org_id)
        if stored is None or stored.state == "requires_connection":
            # Nothing verified yet, or an admin may have just completed Connect: verifying is cheap here (no token means
            # no call to Asana) and hands out a fresh connect_url.
            return self.verify(caller, urls, remaining_time_ms)
        if stored.mode == "oauth" and stored.message == SEED_AUTH_FAILED:
            # The OAuth token is dead: offer the reconnect link. Links carry a single-use state that expires, so none
            # is stored; a fresh one is minted each time the status is read.
            stored = stored.model_copy(update={"connect_url": self._access.connect_url(caller, urls)})
        return self._status(credentials, stored, urls)

    def save(
        self, caller: Caller, update: SettingsUpdate, urls: TenantUrls, remaining_time_ms: Callable[[], int] | None
    ) -> SettingsStatus:
        existing = self._credentials.get(caller.org_id)
        client_secret = update.client_secret or (existing.client_secret if existing else None)
        if client_secret is None:
            raise InvalidInput(
                "The Asana Client Secret is required the first time the settings are saved.",
                "Copy the Client Secret from the Asana Developer Console → your app → OAuth (click Show Secret).",
                details=[{"field": "client_secret", "message": "Field required"}],
            )
        pat = existing.pat if existing else None
        if "pat" in update.model_fields_set:
            pat = update.pat  # a new PAT, or an explicit null that removes the stored one
        credentials = OrgCredentials(client_id=update.client_id, client_secret=client_secret, pat=pat)
        self._credentials.save(caller.org_id, credentials, remaining_time_ms=remaining_time_ms)
        logger.info(
            "organization settings saved",
            extra={
                "org_id": caller.org_id,
                "pat_set": pat is not None,
                "client_id_changed": _changed(existing, update),
            },
        )
        return self.verify(caller, urls, remaining_time_ms)

    def verify(self, caller: Caller, urls: TenantUrls, remaining_time_ms: Callable[[], int] | None) -> SettingsStatus:
        credentials = self._credentials.get(caller.org_id)
        connection = self._verify(caller, urls, remaining_time_ms)
        self._verifications.put(caller.org_id, connection)
        self._organizations.register(caller.org_id, connection.state)
        logger.info(
            "connection verified",
            extra={"org_id": caller.org_id, "state": connection.state, "mode": connection.mode},
        )
        return self._status(credentials, connection, urls)

    def delete(self, caller: Caller) -> Disconnected:
        """Disconnect the organization: revoke its OAuth tokens at Asana, then forget its credentials and status."""
        credentials = self._credentials.get(caller.org_id)
        revoked = self._connections.disconnect_organization(caller.org_id, credentials)
        self._credentials.delete(caller.org_id)
        self._verifications.delete(caller.org_id)
        self._organizations.remove(caller.org_id)
        logger.info("organization disconnected", extra={"org_id": caller.org_id, "connections_removed": revoked})
        return Disconnected(connections_removed=revoked)

    def quick_action(
        self,
        caller: Caller,
        urls: TenantUrls,
        remaining_time_ms: Callable[[], int] | None,
        fetch: Callable[[AsanaClient], Page],
    ) -> QuickActionPage:
        """One page of a live Asana listing (Step 7's Quick Actions), acting by the seed's credential precedence."""
        access = self._access.resolve(caller, urls, remaining_time_ms=remaining_time_ms)
        client = self._access.client(access, remaining_time_ms=remaining_time_ms)
        try:
            page = fetch(client)
        except AsanaAuthenticationFailed as error:
            # A dead OAuth token gets a reconnect link; a PAT can only be replaced.
            if access.mode == "pat":
                error.fix = FIX_PAT_REJECTED
            self._access.with_reconnect_link(error, access, caller, urls)
            raise
        return QuickActionPage(data=page.data, next_offset=page.next_offset, mode=access.mode)

    # ---------------------------------------------------------------------------------------------------------------

    def _verify(
        self, caller: Caller, urls: TenantUrls, remaining_time_ms: Callable[[], int] | None
    ) -> ConnectionStatus:
        checked_at = datetime.fromtimestamp(self._clock(), UTC).isoformat(timespec="seconds")
        try:
            access = self._access.resolve(caller, urls, remaining_time_ms=remaining_time_ms)
        except ConnectionRequired as required:
            state: ConnectionState = "not_configured" if required.code == "not_configured" else "requires_connection"
            return ConnectionStatus(
                state=state,
                message=required.message,
                fix=required.fix,
                connect_url=required.connect_url,
                checked_at=checked_at,
            )
        connected_by = access.oauth_connection.connected_by if access.oauth_connection else None
        client = self._access.client(access, remaining_time_ms=remaining_time_ms)
        try:
            me = client.me()
            workspaces = client.workspaces_page().data
        except AsanaAuthenticationFailed as error:
            return ConnectionStatus(
                mode=access.mode,
                state="error",
                message=SEED_AUTH_FAILED,
                fix=FIX_PAT_REJECTED if access.mode == "pat" else FIX_AUTH_FAILED,
                connected_by=connected_by,
                connect_url=self._access.with_reconnect_link(error, access, caller, urls).connect_url,
                checked_at=checked_at,
            )
        except AsanaError as error:
            return ConnectionStatus(
                mode=access.mode,
                state="error",
                message=error.message,
                fix=error.fix,
                connected_by=connected_by,
                checked_at=checked_at,
            )
        via = "the company Personal Access Token" if access.mode == "pat" else "an administrator's OAuth authorization"
        return ConnectionStatus(
            mode=access.mode,
            state="connected",
            message=f"Connected to Asana as {me.get('name') or me.get('gid')} using {via}.",
            asana_user=AsanaUser.model_validate(me),
            connected_by=connected_by,
            workspaces=[Workspace.model_validate(workspace) for workspace in workspaces],
            checked_at=checked_at,
        )

    def _status(
        self, credentials: OrgCredentials | None, connection: ConnectionStatus, urls: TenantUrls
    ) -> SettingsStatus:
        return SettingsStatus(
            configured=credentials is not None,
            client_id=credentials.client_id if credentials else None,
            client_secret_set=credentials is not None,
            pat_set=bool(credentials and credentials.pat),
            pat_last4=credentials.pat_last4 if credentials else None,
            redirect_uris=list(urls.redirect_uris),
            webhook_url=urls.webhook_url,
            recommended_scopes=self._config.oauth_granular_scopes,
            scopes_mode=self._config.oauth_scopes_mode,
            connection=connection,
        )


def _changed(existing: OrgCredentials | None, update: SettingsUpdate) -> bool:
    return existing is None or existing.client_id != update.client_id
