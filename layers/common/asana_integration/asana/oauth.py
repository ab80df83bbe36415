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

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import requests

from asana_integration.asana.transport import build_session, send
from asana_integration.config import RECOMMENDED_SCOPES, Config
from asana_integration.credentials import OrgCredentials
from asana_integration.errors import (
    FIX_NO_SCOPES,
    SEED_NO_SCOPES,
    SEED_REDIRECT_URI_MISMATCH,
    AsanaUnavailable,
    OAuthFlowError,
)
from asana_integration.observability import logger
from asana_integration.tenant_urls import TenantUrls

# RFC 7636 allows 43 to 128 characters; 64 random bytes give 86 URL-safe characters.
PKCE_VERIFIER_BYTES = 64
# The authorize pre-check is a convenience: it must not hold up Connect for long.
AUTHORIZE_CHECK_TIMEOUT_SECONDS = 5.0
_OAUTH_ERROR_CODE = re.compile(r"^[a-z_]{1,64}$")

FIX_EXCHANGE_FAILED = (
    "Click Connect again: authorization codes are single-use and expire after a few minutes. If it keeps failing, "
    "check that the Client ID and Client Secret saved in SecureDB belong to the same Asana app."
)


# --- Results -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AsanaUser:
    """The Asana user who authorized the app (the token response's ``data``)."""

    gid: str
    name: str
    email: str

    def to_public(self) -> dict[str, str]:
        return {"gid": self.gid, "name": self.name, "email": self.email}


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """A token endpoint answer. The tokens are excluded from ``repr`` so a log line or traceback cannot show them."""

    access_token: str = field(repr=False)
    expires_in: int
    # None when Asana sent none: the refresh grant's answer documents no refresh token, so the old one stays valid.
    refresh_token: str | None = field(repr=False, default=None)
    user: AsanaUser | None = None


@dataclass(frozen=True, slots=True)
class Pkce:
    verifier: str = field(repr=False)

    @classmethod
    def generate(cls) -> Pkce:
        return cls(secrets.token_urlsafe(PKCE_VERIFIER_BYTES))

    @property
    def challenge(self) -> str:
        return s256_challenge(self.verifier)


def s256_challenge(verifier: str) -> str:
    """``BASE64URL(SHA256(ASCII(code_verifier)))`` without padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# --- Errors ------------------------------------------------------------------------------------------------------


def redirect_uri_fix(urls: TenantUrls) -> str:
    return (
        "The redirect you registered in Asana does not match exactly the redirect used by the app. In the Asana "
        f"Developer Console open your app → OAuth → Redirect URLs, add {urls.redirect_uri} (and the trailing slash "
        f"variant {urls.redirect_uri_trailing_slash}) and save. Then run Connect again."
    )


class RedirectUriMismatch(OAuthFlowError):
    # A configuration conflict in the Asana app, not bad input from the caller.
    status = 409
    code = "redirect_uri_mismatch"

    def __init__(self, urls: TenantUrls) -> None:
        super().__init__(SEED_REDIRECT_URI_MISMATCH, redirect_uri_fix(urls))


class NoScopesRegistered(OAuthFlowError):
    # A configuration conflict in the Asana app, not bad input from the caller.
    status = 409
    code = "no_scopes"

    def __init__(self) -> None:
        super().__init__(SEED_NO_SCOPES, FIX_NO_SCOPES.format(scopes=RECOMMENDED_SCOPES))


class ForbiddenScopes(OAuthFlowError):
    # A configuration conflict in the Asana app, not bad input from the caller.
    status = 409
    code = "forbidden_scopes"

    def __init__(self) -> None:
        super().__init__(
            "Asana does not allow this app to request the configured scopes.",
            "The app's permissions in Asana and the deployment's OAuthScopesMode disagree. Either enable Full "
            "permissions (default) on the app in the Asana Developer Console, or deploy with OAuthScopesMode=granular "
            f"and register exactly these scopes on the app: {RECOMMENDED_SCOPES}.",
        )


class OAuthClientRejected(OAuthFlowError):
    """Asana does not accept the saved client id or secret. Reconnecting cannot help; re-saving them can."""

    status = 409
    code = "client_rejected"

    def __init__(self) -> None:
        super().__init__(
            "Asana rejected the saved Client ID or Client Secret.",
            "Copy the Client ID and Client Secret again from the Asana Developer Console (your app → OAuth) and save "
            "them in the SecureDB Asana settings.",
        )


class OAuthGrantRejected(OAuthFlowError):
    """Asana refused a code or a refresh token. ``oauth_error`` is Asana's error code (e.g. ``invalid_grant``)."""

    code = "exchange_failed"

    def __init__(self, oauth_error: str, message: str, fix: str) -> None:
        super().__init__(message, fix)
        self.oauth_error = oauth_error


class RefreshTokenInvalid(OAuthGrantRejected):
    """The refresh token is dead (revoked, or the user removed the app): permanent, only a reconnect helps."""

    code = "refresh_token_invalid"


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

        Asana answers a wrong client id or redirect URI with a plain-text page and no redirect, so the admin would be
        stranded on Asana without the seed's fix. A GET without following redirects shows that error to us instead.
        Any other answer (a sign-in page, a redirect) means "go ahead": only recognised errors are raised, and only
        the connectivity failure every later OAuth call would hit too.

        The probe carries a throwaway state and challenge, never the real ones: an HTTP library's debug log of the
        request line must not hold a live state.
        """
        url = self.authorize_url(
            client_id=client_id,
            redirect_uri=urls.redirect_uri,
            state=secrets.token_urlsafe(16),
            code_challenge=Pkce.generate().challenge,
        )
        response = send(
            self._session,
            "GET",
            url,
            timeout=min(self._config.asana_timeout_seconds, AUTHORIZE_CHECK_TIMEOUT_SECONDS),
            allow_redirects=False,
        )
        if response.status_code in (400, 404) and "text/html" not in response.headers.get("Content-Type", ""):
            text = response.text[:2000]
            if "redirect_uri" in text:
                raise RedirectUriMismatch(urls)
            if "client_id" in text:
                raise OAuthClientRejected()
            return
        if response.is_redirect:
            # Errors other than client/redirect go back to the redirect URI as ?error=…; Asana may check scopes
            # before sign-in, in which case the misconfiguration is visible right now.
            location = response.headers.get("Location", "")
            if location.split("?", 1)[0] in urls.redirect_uris:
                query = parse_qs(urlsplit(location).query)
                error = (query.get("error") or [""])[0]
                description = (query.get("error_description") or [""])[0]
                scope_error = scope_error_for(error, description)
                if scope_error is not None:
                    raise scope_error

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
            raise _unavailable("revoke", response.status_code)
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
            raise _unavailable("users/me", response.status_code)
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
            raise _unavailable(operation, response.status_code)
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


def scope_error_for(error: str, description: str) -> OAuthFlowError | None:
    """The typed error for a scope-related authorize error, or None if it is not about scopes."""
    text = f"{error} {description}".lower()
    if "any scopes registered" in text:
        return NoScopesRegistered()
    if "forbidden_scopes" in text or "not allowed to request" in text or error == "invalid_scope":
        return ForbiddenScopes()
    return None


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


def safe_oauth_error(error: object) -> str:
    """An OAuth error code fit for a log line or a message: Asana's code if it looks like one, else a placeholder."""
    return error if isinstance(error, str) and _OAUTH_ERROR_CODE.match(error) else "unknown_error"


def _oauth_error_code(body: dict[str, Any] | None) -> str:
    return safe_oauth_error((body or {}).get("error"))


def _description(body: dict[str, Any] | None) -> str:
    description = (body or {}).get("error_description")
    return description if isinstance(description, str) else ""


def _unavailable(operation: str, status: int) -> AsanaUnavailable:
    return AsanaUnavailable(
        f"Asana's OAuth endpoint failed the {operation} request (HTTP {status}).",
        "Try again in a minute. If it keeps happening, check https://status.asana.com.",
        code="asana_unavailable",
    )
