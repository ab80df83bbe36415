"""Asana's OAuth endpoints: /-/oauth_authorize (consent), /-/oauth_token (code and refresh grants), /-/oauth_revoke.

Behaviour follows the fact sheet (shared/reference/asana-platform.md §1). Deliberate deviations, because this runs on a
developer machine:

- http redirect URIs on loopback are accepted (real Asana requires https for non-native apps);
- only `response_type=code` is supported (Asana also offers OpenID Connect `id_token`);
- a PKCE `code_challenge` must use `S256`;
- the refresh-grant response repeats `data` (the authorizing user) like the code exchange; Asana documents the body
  only for the code exchange, so clients must not rely on it.

Guesses where Asana's docs are silent: token and revoke errors are RFC 6749 §5.2 JSON (`error`,
`error_description`); only `{"error": "invalid_grant"}` for a dead refresh token has been observed, so every
`error_description` text, the revoke endpoint's `invalid_request` for an access token and these are the sandbox's:

- the client is authenticated first: an unknown `client_id`, a wrong `client_secret` or none at all answers 401
  `invalid_client` whatever the grant (RFC 6749 §5.2 allows 400 or 401; a 401 is what Asana is expected to send, but
  unconfirmed). Only then is the grant checked: with good credentials, a made-up `code` answers 400
  `invalid_grant`, a missing one 400 `invalid_request`. A product can therefore test a Client ID and Secret with a
  dummy code and no user: `invalid_client` means rejected, `invalid_grant` means accepted. Against real Asana,
  anything but a clear `invalid_client` should read as "could not verify", never as "rejected";
- client authentication by HTTP Basic (RFC 6749 §2.3.1) is not accepted: Asana documents body parameters only.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from local.asana_sandbox.consent import SIGNED_IN_COOKIE, default_approver, render_consent_page
from local.asana_sandbox.models import OAuthApp, RefreshToken
from local.asana_sandbox.recorder import Revocation
from local.asana_sandbox.state import SandboxState, current_state

OAUTH_PREFIX = "/-"
REDIRECT_URI_MISMATCH = "The `redirect_uri` parameter does not match a valid url for the application."
# Sandbox wording, by analogy with the redirect_uri text (Asana's exact client_id text is not documented).
CLIENT_ID_MISMATCH = "The `client_id` parameter does not match a valid application."
NO_SCOPES_REGISTERED = "Your app does not have any scopes registered."
DEFAULT_IDENTITY_FORBIDDEN = "Your app is not allowed to request user authorization for `default identity` scopes"
# Sandbox wording (RFC 6749 §5.2 names the code, not the text); Asana's real invalid_client body is unconfirmed.
INVALID_CLIENT = "The client_id or client_secret is invalid."
INVALID_CODE = "The authorization code is invalid or was already used."
# OpenID Connect scopes any app may add to its request.
OPENID_SCOPES = frozenset({"openid", "email", "profile"})


@dataclass(frozen=True)
class AuthorizeRequest:
    app: OAuthApp
    redirect_uri: str
    state: str
    scopes: tuple[str, ...]
    code_challenge: str | None


class PlainTextError(Exception):
    """client_id/redirect_uri problems: Asana shows a plain-text page and does not redirect."""


class RedirectError(Exception):
    """Every other authorize error goes back to the (verified) redirect_uri."""

    def __init__(self, redirect_uri: str, state: str | None, error: str, description: str) -> None:
        super().__init__(description)
        self.location = _with_query(redirect_uri, {"error": error, "error_description": description, "state": state})


def _with_query(uri: str, params: dict[str, str | None]) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{uri}{'&' if '?' in uri else '?'}{query}"


def _quoted(scopes: list[str]) -> str:
    return ", ".join(f"'{scope}'" for scope in scopes)


def _check_scopes(app: OAuthApp, requested: list[str]) -> tuple[str, ...]:
    """Apply Asana's scope rules; return the granted scopes or raise ValueError((error, description))."""
    if not app.full_permissions and not app.scopes:
        raise ValueError("invalid_scope", NO_SCOPES_REGISTERED)
    if app.full_permissions:
        # Full permissions: `default` (also the meaning of an omitted scope) plus OpenID scopes only.
        extra = [s for s in requested if s != "default" and s not in OPENID_SCOPES]
        if extra:
            raise ValueError(
                "forbidden_scopes",
                f"Your app is not allowed to request user authorization for {_quoted(extra)} scopes.",
            )
        return tuple(requested) if requested else ("default",)
    if not requested or "default" in requested:
        raise ValueError("forbidden_scopes", DEFAULT_IDENTITY_FORBIDDEN)
    unregistered = [s for s in requested if s not in app.scopes and s not in OPENID_SCOPES]
    if unregistered:
        raise ValueError(
            "forbidden_scopes",
            f"Your app is not allowed to request user authorization for {_quoted(unregistered)} scopes.",
        )
    return tuple(requested)


def parse_authorize(state: SandboxState, params: dict[str, str]) -> AuthorizeRequest:
    app = state.store.apps.get(params.get("client_id", ""))
    if app is None:
        raise PlainTextError(f"invalid_request: {CLIENT_ID_MISMATCH}")
    redirect_uri = params.get("redirect_uri", "")
    # Exact string match: scheme, host, port, path and trailing slash all count.
    if redirect_uri not in app.redirect_uris:
        raise PlainTextError(f"invalid_request: {REDIRECT_URI_MISMATCH}")
    client_state = params.get("state")
    if params.get("response_type") != "code":
        raise RedirectError(
            redirect_uri, client_state, "unsupported_response_type", "The sandbox supports only `response_type=code`."
        )
    if not client_state:
        raise RedirectError(redirect_uri, None, "invalid_request", "The `state` parameter is required.")
    try:
        scopes = _check_scopes(app, params.get("scope", "").split())
    except ValueError as exc:
        error, description = exc.args
        raise RedirectError(redirect_uri, client_state, error, description) from exc
    challenge = params.get("code_challenge") or None
    if challenge is not None and params.get("code_challenge_method") != "S256":
        raise RedirectError(
            redirect_uri, client_state, "invalid_request", "The `code_challenge_method` must be `S256`."
        )
    return AuthorizeRequest(app, redirect_uri, client_state, scopes, challenge)


def _pkce_matches(verifier: str, challenge: str) -> bool:
    digest = hashlib.sha256(verifier.encode("ascii", errors="replace")).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return secrets.compare_digest(computed, challenge)


def _oauth_error(status: int, error: str, description: str) -> tuple[Response, int]:
    return jsonify({"error": error, "error_description": description}), status


def _token_response(state: SandboxState, refresh: RefreshToken, *, include_refresh: bool) -> dict[str, Any]:
    access = state.store.issue_access_token(refresh)
    user = state.store.users[refresh.user_gid]
    # Key order as in Asana's documented example.
    body: dict[str, Any] = {
        "access_token": access.token,
        "expires_in": max(0, round(access.expires_at - state.clock.now())),
        "token_type": "bearer",
        "data": {"id": int(user.gid), "gid": user.gid, "name": user.name, "email": user.email},
    }
    if include_refresh:
        body["refresh_token"] = refresh.token
    return body


def register_oauth_routes(app: Flask) -> None:
    @app.route(f"{OAUTH_PREFIX}/oauth_authorize", methods=["GET", "POST"])
    def oauth_authorize() -> BaseResponse | tuple[str, int, dict[str, str]] | str:
        state = current_state()
        store = state.store
        params = dict(request.form if request.method == "POST" else request.args)
        try:
            authorize = parse_authorize(state, params)
        except PlainTextError as exc:
            return str(exc), 400, {"Content-Type": "text/plain; charset=utf-8"}
        except RedirectError as exc:
            return redirect(exc.location, 302)
        with store.lock:
            # Users who belong to some workspace: someone deactivated or removed everywhere cannot sign in.
            users = [u for u in store.users.values() if u.workspace_gids]
        approver = default_approver(users, params.get("login_hint"), request.cookies.get(SIGNED_IN_COOKIE))
        if request.method == "GET":
            forwarded = (
                "client_id",
                "redirect_uri",
                "response_type",
                "state",
                "scope",
                "code_challenge",
                "code_challenge_method",
                "login_hint",
            )
            return render_consent_page(
                app=authorize.app,
                scopes=authorize.scopes,
                users=sorted(users, key=lambda u: (u.name, u.gid)),
                approver=approver,
                action=f"{OAUTH_PREFIX}/oauth_authorize",
                hidden={name: params[name] for name in forwarded if name in params},
            )
        if params.get("decision") != "approve":
            return redirect(
                _with_query(
                    authorize.redirect_uri,
                    {
                        "error": "access_denied",
                        "error_description": "The user denied the request.",
                        "state": authorize.state,
                    },
                ),
                302,
            )
        user_gid = params.get("user_gid") or approver.user.gid
        if user_gid not in {u.gid for u in users}:
            return "invalid_request: Unknown user.", 400, {"Content-Type": "text/plain; charset=utf-8"}
        code = store.issue_code(
            authorize.app.client_id, authorize.redirect_uri, user_gid, authorize.scopes, authorize.code_challenge
        )
        return redirect(_with_query(authorize.redirect_uri, {"code": code, "state": authorize.state}), 302)

    @app.post(f"{OAUTH_PREFIX}/oauth_token")
    def oauth_token() -> tuple[Response, int]:
        state = current_state()
        store = state.store
        form = request.form
        grant_type = form.get("grant_type", "")  # recorded by app.py before any fault can answer
        # The client is checked before anything else, so a dummy code tells a bad client (401 invalid_client) from
        # good credentials (400 invalid_grant): how a product can test a Client ID and Secret before storing them.
        client = store.check_client(form.get("client_id", ""), form.get("client_secret", ""))
        if client is None:
            return _oauth_error(401, "invalid_client", INVALID_CLIENT)
        if grant_type == "authorization_code":
            return _exchange_code(state, client)
        if grant_type == "refresh_token":
            return _refresh(state, client)
        return _oauth_error(
            400, "unsupported_grant_type", "The grant_type must be authorization_code or refresh_token."
        )

    @app.post(f"{OAUTH_PREFIX}/oauth_revoke")
    def oauth_revoke() -> tuple[Response | str, int]:
        state = current_state()
        store = state.store
        form = request.form
        client = store.check_client(form.get("client_id", ""), form.get("client_secret", ""))
        if client is None:
            return _oauth_error(401, "invalid_client", INVALID_CLIENT)
        token = form.get("token", "")
        if not token:
            return _oauth_error(400, "invalid_request", "The `token` parameter is required.")
        if token in store.access_tokens:
            return _oauth_error(400, "invalid_request", "Only refresh tokens can be revoked.")
        refresh = store.refresh_tokens.get(token)
        # Unknown tokens and other apps' tokens answer 200 too ("revoked or not found").
        if refresh is not None and refresh.client_id == client.client_id:
            revoked = store.revoke_refresh_token(token)
            if revoked is not None:
                state.recorder.record_revocation(Revocation(revoked.client_id, revoked.user_gid, "oauth_revoke"))
        return "", 200


def _exchange_code(state: SandboxState, client: OAuthApp) -> tuple[Response, int]:
    form = request.form
    store = state.store
    if not form.get("code"):
        return _oauth_error(400, "invalid_request", "The `code` parameter is required.")
    with store.lock:
        code = store.codes.get(form["code"])
        if code is None or code.used or code.client_id != client.client_id:
            return _oauth_error(400, "invalid_grant", INVALID_CODE)
        if state.clock.now() >= code.expires_at:
            return _oauth_error(400, "invalid_grant", "The authorization code has expired.")
        if form.get("redirect_uri", "") != code.redirect_uri:
            return _oauth_error(400, "invalid_grant", REDIRECT_URI_MISMATCH)
        if code.code_challenge is not None:
            verifier = form.get("code_verifier", "")
            if not verifier or not _pkce_matches(verifier, code.code_challenge):
                return _oauth_error(400, "invalid_grant", "The `code_verifier` does not match the `code_challenge`.")
        # Single use: burnt by the first exchange that passes every check, so a replayed code never works. A failed
        # attempt leaves it usable (whether Asana burns a code on e.g. a wrong verifier is not documented).
        code.used = True
    refresh = store.issue_refresh_token(client.client_id, code.user_gid, code.scopes)
    return jsonify(_token_response(state, refresh, include_refresh=True)), 200


def _refresh(state: SandboxState, client: OAuthApp) -> tuple[Response, int]:
    store = state.store
    token = request.form.get("refresh_token", "")
    with store.lock:
        refresh = store.refresh_tokens.get(token)
        failing = store.fail_all_refreshes or token in store.failing_refresh_tokens
        if refresh is None or refresh.revoked or refresh.client_id != client.client_id or failing:
            return _oauth_error(400, "invalid_grant", "The refresh token is invalid or has been revoked.")
        if store.rotate_refresh_tokens:
            # Rotation retires the old refresh token but, as with other providers, not the access tokens it minted.
            refresh.revoked = True
            refresh = store.issue_refresh_token(client.client_id, refresh.user_gid, refresh.scopes)
    return jsonify(_token_response(state, refresh, include_refresh=store.rotate_refresh_tokens)), 200
