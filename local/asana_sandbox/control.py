"""The control API under /_sandbox: the same switches as the Python API, as JSON POSTs for e2e tests and manual runs.

Every endpoint takes and returns JSON. Nothing here exists in real Asana; the gateway never forwards /_sandbox. The
data controls (dataset, users, teams, trash, event inspection) are in control_data.py, the webhook controls in
control_webhooks.py.

- `clock/advance` `{"seconds"}` jumps the sandbox clock forward; `clock/speed` `{"factor"}` makes it run that many
  times faster than real time (1: real time); `reset` returns it to real time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request

from local.asana_sandbox.control_data import DATA_HANDLERS, register_event_inspector
from local.asana_sandbox.control_webhooks import WEBHOOK_HANDLERS, register_webhook_inspector
from local.asana_sandbox.faults import CONTROL_PREFIX
from local.asana_sandbox.pagination import DEFAULT_OFFSET_TTL_SECONDS
from local.asana_sandbox.ratelimit import DEFAULT_REQUESTS_PER_MINUTE
from local.asana_sandbox.recorder import Revocation
from local.asana_sandbox.state import SandboxState, current_state

__all__ = ["CONTROL_PREFIX", "register_control_routes", "reset", "revoke_refresh_tokens"]


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def reset(state: SandboxState) -> None:
    """Clear every switch and counter and restore default settings.

    Issued tokens, registered apps and PATs stay, so a running stack keeps its connection across e2e tests. The Asana
    data and its events stay too: `POST /_sandbox/dataset` (control_data.py) restores pristine data. Webhooks stay,
    with their timers; simulated target failures are cleared.
    """
    state.faults.reset()
    state.limiter.reset()
    state.limiter.per_minute = DEFAULT_REQUESTS_PER_MINUTE
    state.offsets.ttl_seconds = DEFAULT_OFFSET_TTL_SECONDS
    state.recorder.clear()
    state.store.reset_switches()
    state.events.reset_settings()
    state.webhooks.reset_switches()
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


type Handler = Callable[[SandboxState, dict[str, Any]], dict[str, Any]]


def _errors(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    state.faults.inject_errors(int(body.get("count", 1)), int(body.get("status", 500)), body.get("path_prefix", ""))
    return {"faults": state.faults.pending()}


def _delay(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    state.faults.inject_delay(float(body["seconds"]), int(body.get("count", 1)), body.get("path_prefix", ""))
    return {"faults": state.faults.pending()}


def _rate_limit(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    state.faults.force_rate_limit(
        int(body.get("count", 1)), int(body.get("retry_after", 1)), body.get("path_prefix", "")
    )
    return {"faults": state.faults.pending()}


def _settings(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    store = state.store
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
    if "allow_loopback_targets" in body:
        state.webhooks.allow_loopback_targets = bool(body["allow_loopback_targets"])
    if "webhook_delivery_timeout_seconds" in body:
        state.webhooks.delivery_timeout_seconds = float(body["webhook_delivery_timeout_seconds"])
    return {
        "requests_per_minute": state.limiter.per_minute,
        "offset_ttl_seconds": state.offsets.ttl_seconds,
        "access_token_ttl_seconds": store.access_token_ttl_seconds,
        "rotate_refresh_tokens": store.rotate_refresh_tokens,
        "sync_token_ttl_seconds": state.events.token_ttl_seconds,
        "event_retention_seconds": state.events.retention_seconds,
        "allow_loopback_targets": state.webhooks.allow_loopback_targets,
        "webhook_delivery_timeout_seconds": state.webhooks.delivery_timeout_seconds,
    }


def _fail_refresh(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    refresh_token = body.get("refresh_token")
    state.store.fail_refreshes(bool(body.get("enabled", True)), str(refresh_token) if refresh_token else None)
    return {}


def _revoke(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    count = revoke_refresh_tokens(
        state,
        refresh_token=body.get("refresh_token"),
        user_gid=body.get("user_gid"),
        client_id=body.get("client_id"),
    )
    return {"revoked": count}


def _expire_access_tokens(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    return {"expired": state.store.expire_access_tokens()}


def _advance_clock(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    state.clock.advance(float(body["seconds"]))
    return {}


def _clock_speed(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    state.clock.set_speed(float(body["factor"]))
    return {"factor": state.clock.speed}


def _apps(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    registered = state.store.register_app(
        body.get("name", "Sandbox test app"),
        body["redirect_uris"],
        full_permissions=bool(body.get("full_permissions", not body.get("scopes"))),
        scopes=body.get("scopes", ()),
        client_id=body.get("client_id"),
        client_secret=body.get("client_secret"),
    )
    # The control API is loopback-only test tooling, so handing the fake secret back is the point.
    return {"client_id": registered.client_id, "client_secret": registered.client_secret}


def _redirect_uri(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    state.store.add_redirect_uri(str(body["client_id"]), str(body["redirect_uri"]))
    return {"redirect_uris": list(state.store.apps[str(body["client_id"])].redirect_uris)}


def _clear_requests(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    state.recorder.clear()
    return {}


def _pats(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    return {"token": state.store.issue_pat(str(body["user_gid"]))}


def _revoke_pat(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    return {"revoked": state.store.revoke_pat(str(body["token"]))}


def _reset(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    reset(state)
    return {}


HANDLERS: dict[str, Handler] = {
    "faults/errors": _errors,
    "faults/delay": _delay,
    "faults/rate_limit": _rate_limit,
    "settings": _settings,
    "oauth/fail_refresh": _fail_refresh,
    "oauth/revoke": _revoke,
    "oauth/expire_access_tokens": _expire_access_tokens,
    "clock/advance": _advance_clock,
    "clock/speed": _clock_speed,
    "apps": _apps,
    "apps/redirect_uri": _redirect_uri,
    "requests/clear": _clear_requests,
    "pats": _pats,
    "pats/revoke": _revoke_pat,
    "reset": _reset,
    **DATA_HANDLERS,
    **WEBHOOK_HANDLERS,
}


def register_control_routes(app: Flask) -> None:
    def route(name: str, handler: Handler) -> None:
        def view() -> Response | tuple[Response, int]:
            try:
                return jsonify({"ok": True, **handler(current_state(), _body())})
            except (KeyError, TypeError, ValueError) as exc:
                return jsonify({"ok": False, "error": f"{type(exc).__name__}: {exc}"}), 400

        app.add_url_rule(f"{CONTROL_PREFIX}/{name}", f"control_{name.replace('/', '_')}", view, methods=["POST"])

    for name, handler in HANDLERS.items():
        route(name, handler)
    register_event_inspector(app)
    register_webhook_inspector(app)

    @app.get(f"{CONTROL_PREFIX}/requests")
    def requests_summary() -> Response:
        return jsonify(current_state().recorder.summary())

    @app.get(f"{CONTROL_PREFIX}/health")
    def health() -> Response:
        return jsonify({"ok": True})
