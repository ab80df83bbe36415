"""OAuth connections to Asana: the organization's (made by an admin) and each user's own.

``ConnectionService`` is what the functions call. It starts Connect (state + PKCE + the authorize URL), checks
Asana's redirect, finishes the connection (code exchange, encrypted storage), hands out self-refreshing token sources,
reports a connection's status and disconnects (revoke at Asana, then delete).

**Connect finishes only in the browser session that started it** (RFC 6749 §10.12). Asana's redirect reaches
``check_redirect`` from a browser that carries no SecureDB session, so that step only checks the state and exchanges
nothing: it hands the code on to the settings page in the URL fragment (never sent to a server, removed from the
address bar at once). The page then calls ``complete`` with the SecureDB session it holds: the state must belong to
that same user and organization and, when Connect was started by the page (``start_browser_connect``), to the same
browser session, which proves it with the completion key it kept. A link opened by anyone else, or in a browser
without that session, therefore stores nothing, and a replayed redirect or link is told it was already used.

Every step takes what it acts on from the server-side state, never from the URL: the organization, the user, the
purpose and the redirect URI. Each outcome has a ``code`` alone enough to show its message again
(``outcome_for_code``), so the settings page is reached with ``?outcome=<code>`` and no free text in the URL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode, urlsplit

import boto3
import requests
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from asana_integration.asana.errors import OAuthClientRejected, safe_oauth_error, scope_error_for
from asana_integration.asana.oauth import ClientCheck, OAuthEndpoints, TokenGrant
from asana_integration.asana.pkce import Pkce
from asana_integration.asana.token_source import AccessTokenSource
from asana_integration.config import Config
from asana_integration.connections.models import ConnectionView
from asana_integration.connections.outcomes import OUTCOME_CODES, CallbackOutcome
from asana_integration.connections.token_refresh import ConnectionTokenSource
from asana_integration.errors import (
    FIX_AUTH_FAILED,
    SEED_AUTH_FAILED,
    AsanaError,
    AsanaUnavailable,
    AsanaUnreachable,
    ConnectionRequired,
    IntegrationError,
    NotFound,
    OAuthFlowError,
)
from asana_integration.identity import Caller
from asana_integration.models.asana import AsanaUser
from asana_integration.models.connections import ConnectionKey, Purpose, Status
from asana_integration.models.credentials import OrgCredentials
from asana_integration.observability import logger, metrics
from asana_integration.stores.connections import ConnectionRecord, ConnectionStore, NewTokens
from asana_integration.stores.credentials import CredentialStore
from asana_integration.stores.field_crypto import TokenCipher
from asana_integration.stores.oauth_state import OAuthStateStore, PendingAuthorization, StateRejected
from asana_integration.tenant_urls import TenantUrls

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_kms import KMSClient

# Anything longer is not an authorization code Asana issued; rejected before any work (states: MAX_STATE_LENGTH).
MAX_CODE_LENGTH = 2048
# Where the redirect hands the state and code on to the settings page: the URL fragment, which no server receives.
FRAGMENT_STATE = "asana_state"
FRAGMENT_CODE = "asana_code"

# What a revocation at Asana ended in (disconnect): only "revoked" is Asana's confirmation.
Revocation = Literal["revoked", "unknown_token", "client_rejected", "unreachable", "unavailable", "no_credentials"]

# --- Connection status --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    purpose: Purpose
    status: Literal["connected", "needs_reconnect"]
    asana_user: AsanaUser
    connected_by: str
    connected_at: int
    access_expires_at: int
    connection_id: str = ""
    client_id: str = ""  # the Asana app the grant belongs to
    connected_by_name: str | None = None

    @classmethod
    def from_record(cls, record: ConnectionRecord) -> ConnectionInfo:
        return cls(
            purpose=record.key.purpose,
            status="connected" if record.status is Status.ACTIVE else "needs_reconnect",
            asana_user=record.asana_user,
            connected_by=record.connected_by,
            connected_at=record.connected_at,
            access_expires_at=record.access_expires_at,
            connection_id=record.connection_id,
            client_id=record.client_id,
            connected_by_name=record.connected_by_name,
        )

    def to_view(self) -> ConnectionView:
        view = ConnectionView(
            purpose=self.purpose,
            status=self.status,
            asana_user=self.asana_user,
            connected_by=self.connected_by,
            connected_by_name=self.connected_by_name,
            connected_at=_iso(self.connected_at),
            access_expires_at=_iso(self.access_expires_at),
        )
        if self.status == "needs_reconnect":
            view.message = SEED_AUTH_FAILED
            view.fix = FIX_AUTH_FAILED
        return view


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


# --- The service ----------------------------------------------------------------------------------------------------


class ConnectionService:
    def __init__(
        self,
        config: Config,
        *,
        credentials: CredentialStore | None = None,
        dynamodb_table: Table | None = None,
        kms_client: KMSClient | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credentials = credentials or CredentialStore(config)
        table = dynamodb_table or boto3.resource("dynamodb").Table(config.table_name)
        kms = kms_client or boto3.client("kms")
        self._clock = clock
        self._states = OAuthStateStore(table, ttl_seconds=config.oauth_state_ttl_seconds, clock=clock)
        self._store = ConnectionStore(table, TokenCipher(kms, config.kms_key_id), clock=clock)
        self._endpoints = OAuthEndpoints(config, session)

    # --- Connect -------------------------------------------------------------------------------------------------

    def start_connect(
        self,
        caller: Caller,
        purpose: Purpose,
        urls: TenantUrls,
        *,
        check_with_asana: bool = False,
        completion_key: str | None = None,
    ) -> str:
        """The Asana authorize URL for ``caller`` to connect ``purpose``; a pending state is stored for the callback.

        With ``check_with_asana`` (the Connect button) the URL is first shown to Asana (see
        ``OAuthEndpoints.check_authorize``), so an unregistered redirect URI fails here with the seed's message
        and the tenant's exact URIs instead of stranding the admin on Asana's plain-text error page. Nothing is
        stored when that check fails. Off by default: a status page that merely offers a link should not call Asana.
        A link made without a ``completion_key`` can still be finished by the same user only.
        """
        if purpose is Purpose.ORGANIZATION:
            caller.require_admin()
        credentials = self._credentials.get(caller.org_id)
        if credentials is None or not credentials.client_id:
            raise ConnectionRequired(
                "Your organization has not saved its Asana app's Client ID yet, so there is nothing to connect to.",
                "An administrator must open the Asana settings, paste the Client ID and Client Secret from the Asana "
                "Developer Console (your app → OAuth) and click Save Asana Settings. Then Connect works.",
                code="not_configured",
            )
        if check_with_asana:
            self._endpoints.check_authorize(client_id=credentials.client_id, urls=urls)
        pkce = Pkce.generate()
        state = self._states.new_state()
        url = self._endpoints.authorize_url(
            client_id=credentials.client_id, redirect_uri=urls.redirect_uri, state=state, code_challenge=pkce.challenge
        )
        self._states.save(
            state,
            org_id=caller.org_id,
            user_id=caller.user_id,
            purpose=purpose,
            redirect_uri=urls.redirect_uri,
            code_verifier=pkce.verifier,
            completion_key=completion_key,
        )
        logger.info(
            "asana connect started",
            extra={"org_id": caller.org_id, "purpose": purpose.value, "session_bound": completion_key is not None},
        )
        return url

    def start_browser_connect(self, caller: Caller, purpose: Purpose, urls: TenantUrls) -> tuple[str, str]:
        """Connect started by a browser session (the Connect button): the authorize URL, checked with Asana first,
        and the completion key only that session keeps and must present to finish."""
        completion_key = self._states.new_state()
        url = self.start_connect(caller, purpose, urls, check_with_asana=True, completion_key=completion_key)
        return url, completion_key

    def check_redirect(self, params: Mapping[str, str], callback_url: str) -> tuple[CallbackOutcome, str]:
        """Asana's redirect to ``callback_url`` (its query in ``params``): check it, store and exchange nothing.

        Returns the outcome and where to send the browser on: the settings page with ``?outcome=`` and, for a valid
        redirect, the state and code in the fragment for the page to finish the connection with (``complete``).
        """
        pending: PendingAuthorization | None = None
        urls = _tenant_of(callback_url)
        state = params.get("state") or ""
        try:
            if params.get("error"):
                # Asana's error text is only matched, never echoed: it came through the browser and is untrusted.
                pending = self._states.burn(state) if state else None
                raise _CallbackFailed(
                    _asana_error_outcome(params["error"], params.get("error_description", "")),
                    asana_error=safe_oauth_error(params["error"]),
                )
            try:
                pending = self._states.peek(state)
            except StateRejected as rejected:
                pending = rejected.pending  # used or expired: still says what it was for
                raise _CallbackFailed(rejected.reason) from None
            # The fix texts name the URIs of the tenant that started Connect, else of the URL the browser arrived on.
            urls = _tenant_of(pending.redirect_uri)
            code = params.get("code") or ""
            if not code or len(code) > MAX_CODE_LENGTH:
                raise _CallbackFailed("invalid_request")
            if _origin_and_path(callback_url) != pending.redirect_uri:
                # The state was issued for another URL than the one Asana sent the browser to.
                raise _CallbackFailed("redirect_uri_mismatch", reason="callback_url_differs")
        except _CallbackFailed as failed:
            if pending is not None:
                urls = _tenant_of(pending.redirect_uri)
            outcome = CallbackOutcome.of(failed.code, pending.purpose if pending else None, urls)
            _record_outcome(outcome, pending, failed.log, step="redirect")
            return outcome, _settings_location(urls, outcome)
        except Exception:
            # DynamoDB failed: still send the browser on (the code leaves the address bar) with an outcome the page
            # can explain, instead of a raw 500 on Asana's redirect.
            logger.exception("asana oauth redirect could not be checked")
            outcome = CallbackOutcome.of("internal_error", None, urls)
            return outcome, _settings_location(urls, outcome)
        outcome = CallbackOutcome.of("awaiting_completion", pending.purpose, urls)
        _record_outcome(outcome, pending, {}, step="redirect")
        fragment = urlencode({FRAGMENT_STATE: state, FRAGMENT_CODE: code})
        return outcome, f"{_settings_location(urls, outcome)}#{fragment}"

    def complete(
        self,
        caller: Caller,
        *,
        state: str,
        code: str,
        completion_key: str | None,
        caller_name: str | None = None,
    ) -> CallbackOutcome:
        """Finish Connect for ``caller``, who must be the user (and, if bound, the session) that started it.

        Stores the connection and returns the ``connected`` outcome; anything else raises ``ConnectNotCompleted``
        with the outcome's code, message and fix, and stores nothing.
        """
        pending: PendingAuthorization | None = None
        try:
            if not code or len(code) > MAX_CODE_LENGTH:
                raise _CallbackFailed("invalid_request")
            try:
                # Claimed first, whatever follows: a state is spent by its first completion, successful or not.
                pending = self._states.claim(
                    state, org_id=caller.org_id, user_id=caller.user_id, completion_key=completion_key
                )
            except StateRejected as rejected:
                raise _CallbackFailed(rejected.reason) from None
            if pending.purpose is Purpose.ORGANIZATION and not caller.is_admin:
                raise _CallbackFailed("not_yours", reason="no_longer_admin")
            self._exchange_and_store(pending, code, caller_name)
        except _CallbackFailed as failed:
            urls = _tenant_of(pending.redirect_uri) if pending else None
            outcome = CallbackOutcome.of(failed.code, pending.purpose if pending else None, urls or _NO_TENANT)
            _record_outcome(outcome, pending, failed.log, step="complete")
            raise ConnectNotCompleted(outcome) from None
        outcome = CallbackOutcome.of("connected", pending.purpose, _tenant_of(pending.redirect_uri))
        _record_outcome(outcome, pending, {}, step="complete")
        return outcome

    def _exchange_and_store(self, pending: PendingAuthorization, code: str, caller_name: str | None) -> None:
        """Exchange the code and store the connection; each failure raises ``_CallbackFailed`` with its outcome."""
        urls = _tenant_of(pending.redirect_uri)
        credentials = self._credentials.get(pending.org_id)
        if credentials is None:
            raise _CallbackFailed("not_configured")
        try:
            grant = self._endpoints.exchange_code(
                credentials,
                code=code,
                redirect_uri=pending.redirect_uri,
                code_verifier=pending.code_verifier,
                urls=urls,
            )
            user = grant.user or self._endpoints.authorizing_user(grant.access_token)
        except OAuthFlowError as error:
            raise _CallbackFailed(
                error.code if error.code in OUTCOME_CODES else "exchange_failed", error_code=error.code
            ) from None
        except AsanaUnreachable as error:
            raise _CallbackFailed("asana_unreachable", error_code=error.code) from None
        except AsanaError as error:
            # Asana answered, but with a 5xx, a timeout or a garbled body: not a proxy or TLS problem.
            raise _CallbackFailed("asana_unavailable", error_code=error.code) from None
        self._store_grant(pending, credentials, grant, user, caller_name)

    def _store_grant(
        self,
        pending: PendingAuthorization,
        credentials: OrgCredentials,
        grant: TokenGrant,
        user: AsanaUser,
        caller_name: str | None,
    ) -> None:
        refresh_token = grant.refresh_token or ""  # exchange_code refuses answers without one
        key = ConnectionKey.for_purpose(pending.org_id, pending.purpose, pending.user_id)
        replaced = self._store.put_connection(
            key,
            NewTokens(
                access_token=grant.access_token,
                refresh_token=refresh_token,
                access_expires_at=int(self._clock()) + grant.expires_in,
            ),
            asana_user=user,
            connected_by=pending.user_id,
            connected_by_name=caller_name,
            client_id=credentials.client_id,
        )
        if replaced is not None:
            # A reconnect: the previous grant is no longer ours to keep alive at Asana.
            self._revoke(replaced, credentials)

    def check_client(self, credentials: OrgCredentials, urls: TenantUrls) -> ClientCheck:
        """What Asana says of a Client ID and Secret, before they are saved (``OAuthEndpoints.check_client``)."""
        return self._endpoints.check_client(credentials, redirect_uri=urls.redirect_uri)

    # --- Tokens and status ---------------------------------------------------------------------------------------

    def organization_token_source(
        self,
        org_id: str,
        credentials: OrgCredentials,
        *,
        remaining_time_ms: Callable[[], int] | None = None,
    ) -> tuple[AccessTokenSource, ConnectionInfo] | None:
        """The organization connection's token source and status, or None if the organization never connected.

        A connection that needs a reconnect still returns a source: it fails at once with the seed's "Authentication
        failed" without calling Asana. Whoever knows the caller attaches a reconnect link to that error.
        """
        return self.token_source(ConnectionKey.organization(org_id), credentials, remaining_time_ms=remaining_time_ms)

    def token_source(
        self,
        key: ConnectionKey,
        credentials: OrgCredentials,
        *,
        remaining_time_ms: Callable[[], int] | None = None,
    ) -> tuple[AccessTokenSource, ConnectionInfo] | None:
        """The token source and status of any connection (the organization's, or a user's own), or None."""
        record = self._store.get(key)
        if record is None:
            return None
        source = ConnectionTokenSource(
            self._store,
            self._endpoints,
            credentials,
            key,
            clock=self._clock,
            remaining_time_ms=remaining_time_ms,
            record=record,
        )
        return source, ConnectionInfo.from_record(record)

    def connection_info(self, org_id: str, purpose: Purpose, user_id: str) -> ConnectionInfo | None:
        record = self._store.get(ConnectionKey.for_purpose(org_id, purpose, user_id))
        return ConnectionInfo.from_record(record) if record else None

    # --- Disconnect ----------------------------------------------------------------------------------------------

    def disconnect(self, caller: Caller, purpose: Purpose) -> Revocation:
        """Revoke the caller's connection (or, for an admin, the organization's) at Asana, then delete it.

        Returns what the revocation ended in ("revoked" is Asana's confirmation); the stored tokens are deleted
        either way. Raises ``NotFound`` when there is nothing to disconnect.
        """
        if purpose is Purpose.ORGANIZATION:
            caller.require_admin()
        key = ConnectionKey.for_purpose(caller.org_id, purpose, caller.user_id)
        record = self._store.get(key)
        if record is None:
            raise NotFound(
                "There is no Asana connection to disconnect.",
                "Nothing to do. Use Connect to link an Asana account.",
                code="not_connected",
            )
        revocation = self._revoke_and_delete(record, self._credentials.get(caller.org_id))
        logger.info(
            "asana connection disconnected",
            extra={"org_id": caller.org_id, "purpose": purpose.value, "revocation": revocation},
        )
        return revocation

    def disconnect_organization(self, org_id: str, credentials: OrgCredentials | None) -> int:
        """Revoke and delete every connection of the organization (its own and its users'). Returns how many."""
        records = self._store.list_organization(org_id)
        for record in records:
            self._revoke_and_delete(record, credentials)
        logger.info("asana connections of the organization removed", extra={"org_id": org_id, "count": len(records)})
        return len(records)

    def _revoke_and_delete(self, record: ConnectionRecord, credentials: OrgCredentials | None) -> Revocation:
        """Revoke ``record``'s grant, then delete the item. Returns what the revocation ended in."""
        revocation = self._revoke(record, credentials)
        deleted = self._store.delete(record.key)
        if deleted is not None and deleted.refresh_token_ct != record.refresh_token_ct:
            # Reconnected (or the refresh token rotated) between our read and the delete: revoke what was deleted too,
            # so no grant outlives its tokens.
            self._revoke(deleted, credentials)
        return revocation

    def _revoke(self, record: ConnectionRecord, credentials: OrgCredentials | None) -> Revocation:
        """Best effort: a failure is logged and reported by its cause, never raised (the tokens are deleted anyway)."""
        context = {"org_id": record.key.org_id, "purpose": record.key.purpose.value}
        if credentials is None:
            logger.warning("cannot revoke asana token: the organization's credentials are gone", extra=context)
            return "no_credentials"
        try:
            revoked = self._endpoints.revoke(credentials, self._store.refresh_token(record))
        except (IntegrationError, ClientError, BotoCoreError) as error:
            code = error.code if isinstance(error, IntegrationError) else type(error).__name__
            logger.warning("asana token revocation failed", extra={**context, "error_code": code})
            metrics.add_metric(name="TokenRevokeFailed", unit=MetricUnit.Count, value=1)
            if isinstance(error, OAuthClientRejected):
                return "client_rejected"
            if isinstance(error, AsanaUnreachable):
                return "unreachable"
            return "unavailable"
        if not revoked:
            return "unknown_token"
        metrics.add_metric(name="TokenRevoked", unit=MetricUnit.Count, value=1)
        return "revoked"


class ConnectNotCompleted(OAuthFlowError):
    """Connect could not be finished: the outcome's code, message and fix, and a status that fits its cause."""

    _STATUSES: Mapping[str, int] = {
        "invalid_state": 404,  # no such pending authorization: forged, mistyped, or long gone
        "state_expired": 409,
        "already_used": 409,
        "not_yours": 403,
        "other_session": 403,
        "not_configured": 409,
        "client_rejected": 409,
        "redirect_uri_mismatch": 409,
        "asana_unreachable": AsanaUnreachable.status,
        "asana_unavailable": AsanaUnavailable.status,
        "internal_error": 500,
    }

    def __init__(self, outcome: CallbackOutcome) -> None:
        super().__init__(outcome.message, outcome.fix, code=outcome.code, status=self._STATUSES.get(outcome.code, 400))
        self.outcome = outcome


class _CallbackFailed(Exception):
    def __init__(self, code: str, **log: str) -> None:
        super().__init__(code)
        self.code = code
        self.log = log


# --- helpers --------------------------------------------------------------------------------------------------------


def _origin_and_path(url: str) -> str:
    """``scheme://host[:port]/path`` of a URL, without query or fragment: what Asana compares redirect URIs on."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path}"


def _tenant_of(url: str) -> TenantUrls:
    parts = urlsplit(url)
    return TenantUrls(base_url=f"{parts.scheme.lower()}://{parts.netloc.lower()}")


def _asana_error_outcome(error: str, description: str) -> str:
    if error == "access_denied":
        return "access_denied"
    scope_error = scope_error_for(error, description)
    if scope_error is not None:
        return scope_error.code
    if "redirect_uri" in description:
        return "redirect_uri_mismatch"
    return "authorization_failed"


def _settings_location(urls: TenantUrls, outcome: CallbackOutcome) -> str:
    target = {"outcome": outcome.code}
    if outcome.purpose is not None:
        target["purpose"] = outcome.purpose.value
    return f"{urls.settings_page_url}?{urlencode(target)}"


# Only for rebuilding an outcome's texts when no tenant is known; no outcome that names URIs is built without one.
_NO_TENANT = TenantUrls(base_url="https://tenant.invalid")


def _record_outcome(
    outcome: CallbackOutcome, pending: PendingAuthorization | None, log: dict[str, Any], *, step: str
) -> None:
    extra = {"outcome": outcome.code, "step": step, "purpose": outcome.purpose.value if outcome.purpose else None}
    extra.update(log)
    if pending is not None:
        extra["org_id"] = pending.org_id
    if outcome.ok:
        logger.info("asana connect completed", extra=extra)
        metrics.add_metric(name="OAuthConnected", unit=MetricUnit.Count, value=1)
    elif outcome.kind == "info":
        logger.info("asana connect step", extra=extra)
    else:
        logger.warning("asana connect failed; nothing stored", extra=extra)
        metrics.add_metric(name="OAuthCallbackFailed", unit=MetricUnit.Count, value=1)
