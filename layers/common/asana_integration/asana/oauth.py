"""Asana's OAuth endpoints: the authorize URL (with PKCE), the code exchange, refresh and revoke.

Every call goes through ``transport.send`` so ``ASANA_PROXY``, ``ASANA_CA_BUNDLE`` and the timeout apply and a
connectivity failure becomes the seed's proxy/TLS diagnostic. Asana's answers become typed errors:

* a dead refresh token (``invalid_grant``) → ``RefreshTokenInvalid``: permanent, the connection needs a reconnect;
* a redirect URI Asana does not accept → ``RedirectUriMismatch`` with the seed's message and the tenant's exact URIs;
* a client id/secret Asana does not accept → ``OAuthClientRejected``: a configuration problem, not the token's fault;
* 5xx, timeouts, garbled answers → ``AsanaUnavailable`` / ``AsanaUnreachable``: transient, nothing is concluded.

Nothing here retries: a code is single-use, and a refresh retried after a lost answer could present a refresh token
Asana has already rotated and be misread as ``invalid_grant``. Callers decide what a transient failure means.

Tokens and secrets travel only in form bodies. Messages are built from fixed text, Asana's OAuth error *code* (checked
against a strict pattern) and URLs we built ourselves; Asana's free-text descriptions are only matched, never echoed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import requests

from asana_integration.asana.errors import (
    FIX_EXCHANGE_FAILED,
    OAuthClientRejected,
    OAuthGrantRejected,
    RedirectUriMismatch,
    RefreshTokenInvalid,
    exact_scope_error,
    safe_oauth_error,
)
from asana_integration.asana.pkce import Pkce
from asana_integration.asana.transport import build_session, send
from asana_integration.config import Config
from asana_integration.errors import AsanaError, AsanaRateLimited, AsanaUnavailable, IntegrationError, OAuthFlowError
from asana_integration.models.asana import AsanaUser
from asana_integration.models.credentials import OrgCredentials
from asana_integration.observability import logger
from asana_integration.tenant_urls import TenantUrls

# The authorize pre-check is a convenience: it must not hold up Connect for long.
AUTHORIZE_CHECK_TIMEOUT_SECONDS = 5.0
# Asana's plain-text answer to an authorize request whose redirect_uri the app does not list, exactly as reported
# (shared/reference/asana-platform.md, [ISSUE-239] and [ISSUE-CC]): the only answer the pre-check acts on.
AUTHORIZE_REDIRECT_URI_ERRORS = frozenset(
    {"invalid_request: The `redirect_uri` parameter does not match a valid url for the application."}
)

# --- Results -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientCheck:
    """What Asana said of a Client ID and Secret: ``accepted``, ``rejected``, or ``unverified`` with the reason."""

    verdict: Literal["accepted", "rejected", "unverified"]
    reason: str | None


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """A token endpoint answer. The tokens are excluded from ``repr`` so a log line or traceback cannot show them."""

    access_token: str = field(repr=False)
    expires_in: int
    # None when Asana sent none: the refresh grant's answer documents no refresh token, so the old one stays valid.
    refresh_token: str | None = field(repr=False, default=None)
    user: AsanaUser | None = None


# --- Endpoints ---------------------------------------------------------------------------------------------------


class OAuthEndpoints:
    def __init__(self, config: Config, session: requests.Session | None = None) -> None:
        self._config = config
        self._session = session or build_session(config)
        self._base = config.asana_oauth_base_url

    @property
    def authorize_endpoint(self) -> str:
        return f"{self._base}/oauth_authorize"

    @property
    def token_endpoint(self) -> str:
        return f"{self._base}/oauth_token"

    @property
    def revoke_endpoint(self) -> str:
        return f"{self._base}/oauth_revoke"

    def authorize_url(self, *, client_id: str, redirect_uri: str, state: str, code_challenge: str) -> str:
        params = {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            # Always sent: an app with granular scopes must send them, and "default" is explicit for the other mode.
            "scope": self._config.oauth_scope,
            "state": state,
            "code_challenge_method": "S256",
            "code_challenge": code_challenge,
        }
        # quote (not quote_plus): Asana's docs ask for spaces in `scope` as %20.
        return f"{self.authorize_endpoint}?{urlencode(params, quote_via=quote)}"

    def check_authorize(self, *, client_id: str, urls: TenantUrls) -> None:
        """Ask Asana's authorize endpoint about the client id and redirect URI before sending a browser there.

        Asana answers a redirect URI it does not know with a plain-text page and no redirect, so the admin would be
        stranded on Asana without the seed's fix. A GET without following redirects shows that answer to us instead.

        Advisory only: it raises only for an answer that is exactly one of Asana's documented error texts, and lets
        Connect go ahead on anything else (a sign-in page, a redirect, an unfamiliar answer, a timeout, no answer at
        all). Asana's answers to a server are not documented, so a guess must never block an admin.

        The probe carries a throwaway state and challenge, never the real ones: an HTTP library's debug log of the
        request line must not hold a live state.
        """
        url = self.authorize_url(
            client_id=client_id,
            redirect_uri=urls.redirect_uri,
            state=secrets.token_urlsafe(16),
            code_challenge=Pkce.generate().challenge,
        )
        try:
            response = send(
                self._session,
                "GET",
                url,
                timeout=min(self._config.asana_timeout_seconds, AUTHORIZE_CHECK_TIMEOUT_SECONDS),
                allow_redirects=False,
                headers={"Accept": "text/html"},  # what a browser asks for: the page the admin would see
            )
        except IntegrationError as failure:
            logger.info("authorize pre-check skipped: no answer from Asana", extra={"error_code": failure.code})
            return
        if response.status_code == 400 and response.text.strip() in AUTHORIZE_REDIRECT_URI_ERRORS:
            raise RedirectUriMismatch(urls)
        if response.is_redirect:
            # Errors other than client/redirect go back to the redirect URI as ?error=…; Asana may check scopes
            # before sign-in, in which case the misconfiguration is visible right now.
            location = response.headers.get("Location", "")
            if location.split("?", 1)[0] in urls.redirect_uris:
                query = parse_qs(urlsplit(location).query)
                error = (query.get("error") or [""])[0]
                description = (query.get("error_description") or [""])[0]
                scope_error = exact_scope_error(error, description)
                if scope_error is not None:
                    raise scope_error
        logger.info("authorize pre-check passed", extra={"status": response.status_code})

    def check_client(self, credentials: OrgCredentials, *, redirect_uri: str) -> ClientCheck:
        """Whether Asana accepts a Client ID and Secret, before they are stored: a code grant with a made-up code.

        RFC 6749 §5.2: a token endpoint authenticates the client before it looks at the grant, so a made-up code is
        answered ``invalid_client`` for bad credentials and ``invalid_grant`` for good ones. Asana's exact answer is
        unconfirmed, so only a clear ``invalid_client`` counts as rejected and only ``invalid_grant`` as accepted;
        anything else (another error, a timeout, no answer, a rate limit) is "could not verify", with its cause.
        """
        form = {
            "grant_type": "authorization_code",
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret.get_secret_value(),
            "redirect_uri": redirect_uri,
            # Not a code Asana issued: it can never be exchanged, and says so in its own words if it ever leaks.
            "code": f"securedb-credentials-check-{secrets.token_urlsafe(16)}",
        }
        try:
            response = send(
                self._session, "POST", self.token_endpoint, timeout=self._config.asana_timeout_seconds, data=form
            )
        except IntegrationError as failure:
            return ClientCheck("unverified", failure.message)
        error = _oauth_error_code(_json(response))
        logger.info("client credentials checked", extra={"status": response.status_code, "oauth_error": error})
        if error == "invalid_client" and 400 <= response.status_code < 500:
            return ClientCheck("rejected", None)
        if error == "invalid_grant" and response.status_code == 400:
            return ClientCheck("accepted", None)
        if response.status_code == 429:
            return ClientCheck("unverified", "Asana's rate limit was exhausted, so it did not check them.")
        if response.status_code >= 500:
            return ClientCheck("unverified", "Asana had a problem on its side and did not check them.")
        return ClientCheck("unverified", "Asana's answer did not say whether they are valid.")

    def exchange_code(
        self, credentials: OrgCredentials, *, code: str, redirect_uri: str, code_verifier: str, urls: TenantUrls
    ) -> TokenGrant:
        form = {
            "grant_type": "authorization_code",
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret.get_secret_value(),
            "redirect_uri": redirect_uri,
            "code": code,
            "code_verifier": code_verifier,
        }
        status, body = self._token_request(form, "exchange")
        if status != 200:
            raise _rejection("exchange", status, body, urls)
        return _grant(body, require_refresh=True)

    def refresh(self, credentials: OrgCredentials, refresh_token: str) -> TokenGrant:
        # The documented refresh request: no redirect_uri, no code_verifier.
        form = {
            "grant_type": "refresh_token",
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret.get_secret_value(),
            "refresh_token": refresh_token,
        }
        status, body = self._token_request(form, "refresh")
        if status != 200:
            raise _rejection("refresh", status, body, None)
        return _grant(body, require_refresh=False)

    def revoke(self, credentials: OrgCredentials, refresh_token: str) -> bool:
        """Revoke the refresh token (and with it every access token it minted). True if Asana confirmed.

        Asana answers 200 for "revoked or not found" and 400 for a malformed or already-invalid token; both leave
        nothing to revoke, but only 200 is a confirmation.
        """
        response = send(
            self._session,
            "POST",
            self.revoke_endpoint,
            timeout=self._config.asana_timeout_seconds,
            data={
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret.get_secret_value(),
                "token": refresh_token,
            },
        )
        if response.status_code == 200:
            return True
        if response.status_code >= 500:
            raise _unavailable("revoking the token", response.status_code)
        logger.warning(
            "asana refused to revoke a token",
            extra={"status": response.status_code, "oauth_error": _oauth_error_code(_json(response))},
        )
        if response.status_code == 401:
            raise OAuthClientRejected()
        return False

    def authorizing_user(self, access_token: str) -> AsanaUser:
        """``GET /users/me``: who a new token belongs to, for when the token response carries no ``data``."""
        response = send(
            self._session,
            "GET",
            f"{self._config.asana_api_base_url}/users/me",
            timeout=self._config.asana_timeout_seconds,
            params={"opt_fields": "name,email"},
            headers={"Authorization": f"Bearer {access_token}"},
        )
        data = (_json(response) or {}).get("data")
        if response.status_code != 200 or not isinstance(data, dict) or not data.get("gid"):
            raise _unavailable("reading the Asana user who approved", response.status_code)
        return AsanaUser(gid=str(data["gid"]), name=str(data.get("name") or ""), email=str(data.get("email") or ""))

    # --- internals -------------------------------------------------------------------------------------------

    def _token_request(self, form: dict[str, str], operation: str) -> tuple[int, dict[str, Any]]:
        """POST to the token endpoint: ``(200, body)`` with a usable body, or ``(4xx, error body)``.

        Anything that says nothing about the grant itself (5xx, 408/429, an unreadable 2xx) raises a transient error.
        """
        response = send(
            self._session, "POST", self.token_endpoint, timeout=self._config.asana_timeout_seconds, data=form
        )
        body = _json(response)
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise _unavailable(f"the token {operation}", response.status_code)
        if 200 <= response.status_code < 300:
            if body is None or not isinstance(body.get("access_token"), str) or not body["access_token"]:
                raise AsanaUnavailable(
                    f"Asana's token endpoint gave an unreadable answer to the {operation} request.",
                    "Try again in a minute. If it persists, a proxy may be rewriting the response: check ASANA_PROXY.",
                    code="asana_bad_response",
                )
            return 200, body
        return response.status_code, body or {}


def _rejection(operation: str, status: int, body: dict[str, Any], urls: TenantUrls | None) -> OAuthFlowError:
    error = _oauth_error_code(body)
    description = _description(body)
    logger.warning(f"asana rejected the token {operation}", extra={"status": status, "oauth_error": error})
    if "redirect_uri" in description and urls is not None:
        return RedirectUriMismatch(urls)
    if error == "invalid_client" or status == 401:
        return OAuthClientRejected()
    if operation == "refresh" and error == "invalid_grant":
        # The one answer that proves the refresh token is dead. Anything else might be our request or Asana's bad
        # day, and marking a connection for reconnect on a guess is what makes peers' users reconnect every week.
        return RefreshTokenInvalid(
            error,
            "Asana no longer accepts this connection's refresh token.",
            "Reconnect the Asana account. The token was revoked, or the app was removed from the Asana account.",
        )
    if operation == "refresh":
        return OAuthGrantRejected(
            error,
            f"Asana refused to refresh the connection's token ({error}).",
            "Try again in a minute. If it persists, disconnect and reconnect the Asana account.",
        )
    return OAuthGrantRejected(
        error,
        f"Asana did not accept the authorization ({error}), so nothing was connected.",
        FIX_EXCHANGE_FAILED,
    )


def _grant(body: dict[str, Any], *, require_refresh: bool) -> TokenGrant:
    refresh = body.get("refresh_token")
    if require_refresh and not (isinstance(refresh, str) and refresh):
        raise AsanaUnavailable(
            "Asana's token endpoint answered the code exchange without a refresh token.",
            "Run Connect again. Without a refresh token the connection would stop working within an hour.",
            code="asana_bad_response",
        )
    try:
        expires_in = int(body.get("expires_in", 3600))
    except (TypeError, ValueError):
        expires_in = 3600
    data = body.get("data")
    user = None
    if isinstance(data, dict) and (data.get("gid") or data.get("id")):
        user = AsanaUser(
            gid=str(data.get("gid") or data.get("id")),
            name=str(data.get("name") or ""),
            email=str(data.get("email") or ""),
        )
    return TokenGrant(
        access_token=body["access_token"],
        expires_in=max(0, expires_in),
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        user=user,
    )


def _json(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _oauth_error_code(body: dict[str, Any] | None) -> str:
    return safe_oauth_error((body or {}).get("error"))


def _description(body: dict[str, Any] | None) -> str:
    description = (body or {}).get("error_description")
    return description if isinstance(description, str) else ""


def _unavailable(action: str, status: int) -> AsanaError:
    if status == 429:
        return AsanaRateLimited(
            f"Asana's rate limit was exhausted during {action}.", "Wait a minute and try again.", retry_after=60
        )
    return AsanaUnavailable(
        f"Asana's sign-in service had a problem on its side during {action}.",
        "Try again in a minute. If it keeps happening, check https://status.asana.com.",
        code="asana_unavailable",
    )
