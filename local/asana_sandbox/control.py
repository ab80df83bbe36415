"""The control API under /_sandbox: the same switches as the Python API, as JSON POSTs for e2e tests and manual runs.

Every endpoint takes and returns JSON. Nothing here exists in real Asana; the gateway never forwards /_sandbox. The
data controls (dataset, users, teams, trash, event inspection) are in control_data.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request

from local.asana_sandbox.control_data import data_handlers, register_event_inspector
from local.asana_sandbox.faults import CONTROL_PREFIX
from local.asana_sandbox.pagination import DEFAULT_OFFSET_TTL_SECONDS
from local.asana_sandbox.ratelimit import DEFAULT_REQUESTS_PER_MINUTE
from local.asana_sandbox.recorder import Revocation
from local.asana_sandbox.state import SandboxState

__all__ = ["CONTROL_PREFIX", "register_control_routes", "reset", "revoke_refresh_tokens"]


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def reset(state: SandboxState) -> None:
    """Clear every switch and counter and restore default settings.

    Issued tokens, registered apps and PATs stay, so a running stack keeps its connection across e2e tests. The Asana
    data and its events stay too: `POST /_sandbox/dataset` (control_data.py) restores pristine data.
    """
    state.faults.reset()
    state.limiter.reset()
    state.limiter.per_minute = DEFAULT_REQUESTS_PER_MINUTE
    state.offsets.ttl_seconds = DEFAULT_OFFSET_TTL_SECONDS
    state.recorder.clear()
    state.store.reset_switches()
    state.events.reset_settings()
    state.clock.reset()


def revoke_refresh_tokens(
    state: SandboxState, *, refresh_token: str | None = None, user_gid: str | None = None, client_id: str | None = None
) -> int:
    """Revoke one refresh token, or all of a user's and/or app's; returns how many were revoked."""
    store = state.store
    if refresh_token is not None:
        candidates = [refresh_token]
    else:
        candidates = [r.token for r in store.live_refresh_tokens(user_gid=user_gid, client_id=client_id)]
    count = 0
    for token in candidates:
        revoked = store.revoke_refresh_token(token)
        if revoked is not None:
            state.recorder.record_revocation(Revocation(revoked.client_id, revoked.user_gid, "switch"))
            count += 1
    return count


def register_control_routes(app: Flask, state: SandboxState) -> None:
    store = state.store

    def route(name: str, handler: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        def view() -> Response | tuple[Response, int]:
            try:
                return jsonify({"ok": True, **handler(_body())})
            except (KeyError, TypeError, ValueError) as exc:
                return jsonify({"ok": False, "error": f"{type(exc).__name__}: {exc}"}), 400

        app.add_url_rule(f"{CONTROL_PREFIX}/{name}", f"control_{name.replace('/', '_')}", view, methods=["POST"])

    def errors(body: dict[str, Any]) -> dict[str, Any]:
        state.faults.inject_errors(int(body.get("count", 1)), int(body.get("status", 500)), body.get("path_prefix", ""))
        return {"faults": state.faults.pending()}

    def delay(body: dict[str, Any]) -> dict[str, Any]:
        state.faults.inject_delay(float(body["seconds"]), int(body.get("count", 1)), body.get("path_prefix", ""))
        return {"faults": state.faults.pending()}

    def rate_limit(body: dict[str, Any]) -> dict[str, Any]:
        state.faults.force_rate_limit(
            int(body.get("count", 1)), int(body.get("retry_after", 1)), body.get("path_prefix", "")
        )
        return {"faults": state.faults.pending()}

    def settings(body: dict[str, Any]) -> dict[str, Any]:
        if "requests_per_minute" in body:
            state.limiter.per_minute = int(body["requests_per_minute"])
        if "offset_ttl_seconds" in body:
            state.offsets.ttl_seconds = float(body["offset_ttl_seconds"])
        if "access_token_ttl_seconds" in body:
            store.access_token_ttl_seconds = float(body["access_token_ttl_seconds"])
        if "rotate_refresh_tokens" in body:
            store.rotate_refresh_tokens = bool(body["rotate_refresh_tokens"])
        if "sync_token_ttl_seconds" in body:
            state.events.token_ttl_seconds = float(body["sync_token_ttl_seconds"])
        if "event_retention_seconds" in body:
            state.events.retention_seconds = float(body["event_retention_seconds"])
        return {
            "requests_per_minute": state.limiter.per_minute,
            "offset_ttl_seconds": state.offsets.ttl_seconds,
            "access_token_ttl_seconds": store.access_token_ttl_seconds,
            "rotate_refresh_tokens": store.rotate_refresh_tokens,
            "sync_token_ttl_seconds": state.events.token_ttl_seconds,
            "event_retention_seconds": state.events.retention_seconds,
        }

    def fail_refresh(body: dict[str, Any]) -> dict[str, Any]:
        refresh_token = body.get("refresh_token")
        store.fail_refreshes(bool(body.get("enabled", True)), str(refresh_token) if refresh_token else None)
        return {}

    def revoke(body: dict[str, Any]) -> dict[str, Any]:
        count = revoke_refresh_tokens(
            state,
            refresh_token=body.get("refresh_token"),
            user_gid=body.get("user_gid"),
            client_id=body.get("client_id"),
        )
        return {"revoked": count}

    def expire_access_tokens(body: dict[str, Any]) -> dict[str, Any]:
        return {"expired": store.expire_access_tokens()}

    def advance_clock(body: dict[str, Any]) -> dict[str, Any]:
        state.clock.advance(float(body["seconds"]))
        return {}

    def apps(body: dict[str, Any]) -> dict[str, Any]:
        registered = store.register_app(
            body.get("name", "Sandbox test app"),
            body["redirect_uris"],
            full_permissions=bool(body.get("full_permissions", not body.get("scopes"))),
            scopes=body.get("scopes", ()),
            client_id=body.get("client_id"),
            client_secret=body.get("client_secret"),
        )
        # The control API is loopback-only test tooling, so handing the fake secret back is the point.
        return {"client_id": registered.client_id, "client_secret": registered.client_secret}

    def redirect_uri(body: dict[str, Any]) -> dict[str, Any]:
        store.add_redirect_uri(str(body["client_id"]), str(body["redirect_uri"]))
        return {"redirect_uris": list(store.apps[str(body["client_id"])].redirect_uris)}

    def clear_requests(body: dict[str, Any]) -> dict[str, Any]:
        state.recorder.clear()
        return {}

    def pats(body: dict[str, Any]) -> dict[str, Any]:
        return {"token": store.issue_pat(str(body["user_gid"]))}

    def revoke_pat(body: dict[str, Any]) -> dict[str, Any]:
        return {"revoked": store.revoke_pat(str(body["token"]))}

    def reset_all(body: dict[str, Any]) -> dict[str, Any]:
        reset(state)
        return {}

    for name, handler in {
        "faults/errors": errors,
        "faults/delay": delay,
        "faults/rate_limit": rate_limit,
        "settings": settings,
        "oauth/fail_refresh": fail_refresh,
        "oauth/revoke": revoke,
        "oauth/expire_access_tokens": expire_access_tokens,
        "clock/advance": advance_clock,
        "apps": apps,
        "apps/redirect_uri": redirect_uri,
        "requests/clear": clear_requests,
        "pats": pats,
        "pats/revoke": revoke_pat,
        "reset": reset_all,
        **data_handlers(state),
    }.items():
        route(name, handler)
    register_event_inspector(app, state)

    @app.get(f"{CONTROL_PREFIX}/requests")
    def requests_summary() -> Response:
        return jsonify(state.recorder.summary())

    @app.get(f"{CONTROL_PREFIX}/health")
    def health() -> Response:
        return jsonify({"ok": True})
