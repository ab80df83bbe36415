"""Organization settings: save the Asana app credentials, verify the connection, report the status (seed Steps 5 to 7).

The status never carries a secret: the client secret shows only as set or unset, and the PAT as its last 4 characters.

**One status, derived from the facts.** Which identity acts (``settings/access.py``: the saved PAT unless Asana
refused it, else the organization's OAuth connection made with the saved app, else none) is decided afresh on every
read, from the saved credentials and the connection record. What Asana last said of that identity is kept in
DynamoDB with the identity's key, and shown only while the same identity still acts, so reading the status costs no
call to Asana, yet can never show a stale verdict:

* a save, a verify, a finished Connect: the identity is checked with Asana and the verdict stored;
* a disconnect (the organization's OAuth connection, or everything): no identity, or another one: derived at once;
* a refresh failing for good: the connection is marked, and the status says reconnect without asking Asana;
* a Quick Action's 401 or 403: the verdict is stored for the identity in use (a refused PAT stops acting at once).

Connect is offered (``connect_url``) whenever nothing can act for the organization.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from asana_integration.asana.client import AsanaClient, Page
from asana_integration.config import Config
from asana_integration.connections.service import ConnectionService
from asana_integration.errors import (
    FIX_AUTH_FAILED,
    SEED_AUTH_FAILED,
    AsanaAuthenticationFailed,
    AsanaError,
    AsanaForbidden,
    AsanaRequestRejected,
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
    OrganizationAccess,
    OrganizationAccessResolver,
)
from asana_integration.settings.credential_checks import CredentialChecks
from asana_integration.settings.models import (
    CredentialsCheck,
    Disconnected,
    QuickActionPage,
    SettingsStatus,
    SettingsUpdate,
)
from asana_integration.stores.credentials import CredentialStore
from asana_integration.stores.organizations import OrganizationRegistry
from asana_integration.stores.verifications import VerificationStore
from asana_integration.tenant_urls import TenantUrls, tenant_urls

FIX_PAT_REJECTED = (
    "Asana rejected the saved Personal Access Token. Create a new one in the Asana Developer Console "
    "(https://app.asana.com/0/developer-console) → Personal Access Tokens and save it here, or click Connect / "
    "Authorize to work with an admin's OAuth token instead."
)
PAT_SKIPPED = (
    " The saved Personal Access Token is not used: Asana rejected it. Save a new one, or remove it, to stop seeing "
    "this."
)


class OrganizationWebhooks(Protocol):
    """Deletes an organization's webhooks, at Asana (with the client the factory makes) and in our records; returns
    how many. Implemented by ``webhooks/management.py``, handed in so that settings does not depend on it."""

    def __call__(self, org_id: str, client_for: Callable[[], AsanaClient]) -> int: ...


class OrganizationSettingsService:
    def __init__(
        self,
        config: Config,
        credentials: CredentialStore,
        connections: ConnectionService,
        verifications: VerificationStore,
        organizations: OrganizationRegistry,
        *,
        delete_webhooks: OrganizationWebhooks | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._credentials = credentials
        self._connections = connections
        self._verifications = verifications
        self._organizations = organizations
        self._access = OrganizationAccessResolver(config, credentials, connections)
        self._checks = CredentialChecks(config, connections)
        self._delete_webhooks = delete_webhooks
        self._clock = clock

    def status(
        self, caller: Caller, urls: TenantUrls, remaining_time_ms: Callable[[], int] | None = None
    ) -> SettingsStatus:
        """The status as the facts stand now; Asana is asked only when the acting identity has not been checked."""
        credentials = self._credentials.get(caller.org_id)
        if credentials is None:
            return self._status(None, _not_configured(), urls)
        try:
            access = self._access.resolve(caller, urls, remaining_time_ms=remaining_time_ms)
        except ConnectionRequired as required:
            return self._status(credentials, _required(required, checked_at=None), urls)
        if _needs_reconnect(access):
            # The refresh failed for good: known without asking Asana.
            return self._status(credentials, self._auth_failed_status(access, caller, urls, None), urls)
        stored = self._verifications.get(caller.org_id)
        if stored is None or stored.identity != access.key:
            # Never checked, or the identity changed since (a save, a reconnect, a PAT refused): check it now.
            return self.verify(caller, urls, remaining_time_ms)
        return self._status(credentials, self._with_connect_link(stored.status, access, caller, urls), urls)

    def save(
        self, caller: Caller, update: SettingsUpdate, urls: TenantUrls, remaining_time_ms: Callable[[], int] | None
    ) -> SettingsStatus:
        """Check the new credentials with Asana, store them, verify. A refused check stores nothing."""
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
        check = CredentialsCheck(client="unchanged")
        if existing is None or (existing.client_id, existing.client_secret) != (update.client_id, client_secret):
            check = self._checks.check_client(credentials, urls, replacing=existing is not None)
        if pat is not None and (existing is None or existing.pat != pat):
            self._checks.check_pat(
                pat, replacing=existing is not None and existing.pat is not None, remaining_time_ms=remaining_time_ms
            )
        self._credentials.save(caller.org_id, credentials, remaining_time_ms=remaining_time_ms)
        logger.info(
            "organization settings saved",
            extra={
                "org_id": caller.org_id,
                "pat_set": pat is not None,
                "client_id_changed": _changed(existing, update),
                "client_check": check.client,
            },
        )
        return self.verify(caller, urls, remaining_time_ms).model_copy(update={"credentials_check": check})

    def verify(self, caller: Caller, urls: TenantUrls, remaining_time_ms: Callable[[], int] | None) -> SettingsStatus:
        """Check the acting identity with Asana now, and keep the verdict for the status."""
        connection, key = self._verify(caller, urls, remaining_time_ms)
        credentials = self._credentials.get(caller.org_id)  # read after: the check may have found the PAT refused
        if key is not None:
            self._verifications.put(caller.org_id, connection, identity=key)
        self._organizations.register(caller.org_id, connection.state)
        logger.info(
            "connection verified",
            extra={"org_id": caller.org_id, "state": connection.state, "mode": connection.mode},
        )
        return self._status(credentials, connection, urls)

    def delete(self, caller: Caller, remaining_time_ms: Callable[[], int] | None = None) -> Disconnected:
        """Disconnect the organization: delete its webhooks at Asana and revoke its OAuth tokens there (while its
        identity still works), then forget its credentials and status."""
        credentials = self._credentials.get(caller.org_id)
        webhooks = (
            self._delete_webhooks(caller.org_id, lambda: self._system_client(caller, remaining_time_ms))
            if self._delete_webhooks
            else 0
        )
        revoked = self._connections.disconnect_organization(caller.org_id, credentials)
        self._credentials.delete(caller.org_id)
        self._verifications.delete(caller.org_id)
        self._organizations.remove(caller.org_id)
        logger.info(
            "organization disconnected",
            extra={"org_id": caller.org_id, "connections_removed": revoked, "webhooks_deleted": webhooks},
        )
        return Disconnected(connections_removed=revoked, webhooks_deleted=webhooks)

    def _system_client(self, caller: Caller, remaining_time_ms: Callable[[], int] | None) -> AsanaClient:
        """The organization's identity for clean-up: as a non-admin, so a dead connection never mints a Connect link
        (and its OAuth state) on the way out."""
        as_system = Caller(org_id=caller.org_id, user_id=caller.user_id, is_admin=False)
        urls = tenant_urls(self._config, None)
        access = self._access.resolve(as_system, urls, remaining_time_ms=remaining_time_ms)
        return self._access.client(access, remaining_time_ms=remaining_time_ms)

    def quick_action(
        self,
        caller: Caller,
        urls: TenantUrls,
        remaining_time_ms: Callable[[], int] | None,
        fetch: Callable[[AsanaClient], Page],
    ) -> QuickActionPage:
        """One page of a live Asana listing (Step 7's Quick Actions), acting by the seed's credential precedence.

        Asana refusing the identity (401, or 403) is a fact about the connection: the status shows it from now on.
        """
        access = self._access.resolve(caller, urls, remaining_time_ms=remaining_time_ms)
        client = self._access.client(access, remaining_time_ms=remaining_time_ms)
        try:
            page = fetch(client)
        except AsanaAuthenticationFailed as error:
            # A dead OAuth token gets a reconnect link; a PAT can only be replaced (or OAuth used instead).
            if access.mode == "pat":
                error.fix = FIX_PAT_REJECTED
                self._access.record_rejection(access, caller.org_id)
            self._record(caller, access, self._auth_failed_status(access, caller, urls, _now(self._clock)))
            self._access.with_reconnect_link(error, access, caller, urls)
            raise
        except AsanaForbidden as error:
            self._record(caller, access, self._error_status(access, error, _now(self._clock)))
            raise
        stored = self._verifications.get(caller.org_id)
        if stored is not None and stored.identity == access.key and stored.status.state == "error":
            # The identity works again (the status still says it failed): check it, so the card follows.
            self.verify(caller, urls, remaining_time_ms)
        return QuickActionPage(data=page.data, next_offset=page.next_offset, mode=access.mode)

    # ---------------------------------------------------------------------------------------------------------------

    def _verify(
        self, caller: Caller, urls: TenantUrls, remaining_time_ms: Callable[[], int] | None, *, fallback: bool = True
    ) -> tuple[ConnectionStatus, str | None]:
        """The acting identity's status after asking Asana, and the identity's key (None when there is none)."""
        checked_at = _now(self._clock)
        try:
            access = self._access.resolve(caller, urls, remaining_time_ms=remaining_time_ms)
        except ConnectionRequired as required:
            return _required(required, checked_at=checked_at), None
        if not access.can_act:
            # A connection that needs a reconnect, or a refused PAT with nothing to fall back on: known already.
            return self._auth_failed_status(access, caller, urls, checked_at), access.key
        try:
            return self._ask_asana(access, checked_at, remaining_time_ms), access.key
        except AsanaAuthenticationFailed:
            if access.mode == "pat":
                self._access.record_rejection(access, caller.org_id)
                if fallback:
                    # The refused PAT no longer acts: whatever acts now (an OAuth connection, or nothing) is checked.
                    return self._verify(caller, urls, remaining_time_ms, fallback=False)
            return self._auth_failed_status(access, caller, urls, checked_at), access.key
        except AsanaError as error:
            return self._error_status(access, error, checked_at), access.key

    def _ask_asana(
        self, access: OrganizationAccess, checked_at: str, remaining_time_ms: Callable[[], int] | None
    ) -> ConnectionStatus:
        client = self._access.client(access, remaining_time_ms=remaining_time_ms)
        me = client.me()
        workspaces = client.workspaces_page().data
        via = "the company Personal Access Token" if access.mode == "pat" else "an administrator's OAuth authorization"
        connection = access.oauth_connection
        return ConnectionStatus(
            mode=access.mode,
            state="connected",
            message=f"Connected to Asana as {me.get('name') or me.get('gid')} using {via}."
            + (PAT_SKIPPED if access.pat_rejected else ""),
            asana_user=AsanaUser.model_validate(me),
            connected_by=connection.connected_by if connection else None,
            connected_by_name=connection.connected_by_name if connection else None,
            workspaces=[Workspace.model_validate(workspace) for workspace in workspaces],
            checked_at=checked_at,
        )

    def _auth_failed_status(
        self, access: OrganizationAccess, caller: Caller, urls: TenantUrls, checked_at: str | None
    ) -> ConnectionStatus:
        """Asana refuses the identity: the seed's message, and Connect offered (nothing else can act)."""
        connection = access.oauth_connection
        return ConnectionStatus(
            mode=access.mode,
            state="error",
            message=SEED_AUTH_FAILED,
            fix=FIX_PAT_REJECTED if access.mode == "pat" else FIX_AUTH_FAILED,
            asana_user=connection.asana_user if connection else None,
            connected_by=connection.connected_by if connection else None,
            connected_by_name=connection.connected_by_name if connection else None,
            connect_url=self._access.connect_url(caller, urls),
            checked_at=checked_at,
        )

    def _error_status(self, access: OrganizationAccess, error: AsanaError, checked_at: str | None) -> ConnectionStatus:
        connection = access.oauth_connection
        return ConnectionStatus(
            mode=access.mode,
            state="error",
            message=error.message,
            fix=error.fix,
            asana_user=connection.asana_user if connection else None,
            connected_by=connection.connected_by if connection else None,
            connected_by_name=connection.connected_by_name if connection else None,
            checked_at=checked_at,
        )

    def _with_connect_link(
        self, status: ConnectionStatus, access: OrganizationAccess, caller: Caller, urls: TenantUrls
    ) -> ConnectionStatus:
        """A stored verdict as shown now: with a fresh Connect link when it says the identity cannot act. Links
        carry a single-use state that expires, so none is stored; a fresh one is minted each time it is shown."""
        if status.state == "error" and status.message == SEED_AUTH_FAILED:
            return status.model_copy(update={"connect_url": self._access.connect_url(caller, urls)})
        return status

    def _record(self, caller: Caller, access: OrganizationAccess, status: ConnectionStatus) -> None:
        self._verifications.put(caller.org_id, status, identity=access.key)
        self._organizations.register(caller.org_id, status.state)
        logger.info("connection status changed by a quick action", extra={"org_id": caller.org_id})

    def _status(
        self, credentials: OrgCredentials | None, connection: ConnectionStatus, urls: TenantUrls
    ) -> SettingsStatus:
        return SettingsStatus(
            configured=credentials is not None,
            client_id=credentials.client_id if credentials else None,
            client_secret_set=credentials is not None,
            pat_set=bool(credentials and credentials.pat),
            pat_last4=credentials.pat_last4 if credentials else None,
            pat_rejected=bool(credentials and credentials.pat and credentials.pat_rejected),
            redirect_uris=list(urls.redirect_uris),
            webhook_url=urls.webhook_url,
            recommended_scopes=self._config.oauth_granular_scopes,
            scopes_mode=self._config.oauth_scopes_mode,
            connection=connection,
        )


def teams_of_organization(client: AsanaClient, workspace_gid: str, offset: str | None) -> Page:
    """Load Teams: a workspace's teams. Asana keeps teams in organizations only, and answers a plain workspace with a
    400 whose text is not documented: that case is told in words, with what to pick instead."""
    try:
        return client.teams_page(workspace_gid, offset)
    except AsanaRequestRejected:
        workspace = client.get(f"/workspaces/{workspace_gid}", opt_fields=("name", "is_organization"))
        if workspace.get("is_organization") is False:
            raise NotAnOrganization(str(workspace.get("name") or workspace_gid)) from None
        raise


class NotAnOrganization(AsanaRequestRejected):
    code = "not_an_organization"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"“{name}” is an Asana workspace, not an organization, so it has no teams.",
            "Asana keeps teams in organizations only. Pick a workspace marked “organization” and click Load Teams.",
        )


def _not_configured() -> ConnectionStatus:
    return ConnectionStatus(state="not_configured", message=NOT_CONFIGURED_MESSAGE, fix=NOT_CONFIGURED_FIX)


def _required(required: ConnectionRequired, *, checked_at: str | None) -> ConnectionStatus:
    state: ConnectionState = "not_configured" if required.code == "not_configured" else "requires_connection"
    return ConnectionStatus(
        state=state,
        message=required.message,
        fix=required.fix,
        connect_url=required.connect_url,
        checked_at=checked_at,
    )


def _needs_reconnect(access: OrganizationAccess) -> bool:
    return access.mode == "oauth" and not access.can_act


def _now(clock: Callable[[], float]) -> str:
    return datetime.fromtimestamp(clock(), UTC).isoformat(timespec="seconds")


def _changed(existing: OrgCredentials | None, update: SettingsUpdate) -> bool:
    return existing is None or existing.client_id != update.client_id
