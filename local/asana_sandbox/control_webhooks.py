"""Control API for webhooks, under /_sandbox/ (the Python API behind it: webhooks.py).

- `webhooks/deliver` `{}`: deliver everything due now (retries, heartbeats, queued events) and answer
  `{"attempts": n}`, for runs that do not want to wait for the background dispatcher;
- `webhooks/fail_target` `{"count"?: 1, "status"?: 500, "content"?, "timeout"?: false, "webhook_gid"?,
  "handshake"?: false}`: the next `count` deliveries (of one webhook, or any; or handshakes) fail as if the target
  had answered `status` with `content`, or had not answered in time, without contacting it;
- `webhooks/heartbeat` `{"webhook_gid"?}`: make a heartbeat due now (for one webhook, or all);
- `webhooks/set_active` `{"webhook_gid", "active"}`: an inactive webhook sends nothing, as Asana's `active: false`;
- `GET /_sandbox/webhooks[?include_deleted=true]`: every webhook with its health, owner, queue and delivery log (each
  attempt's time, kind, status, failure and exact body), plus every handshake attempt. Secrets are never shown.

`settings` (control.py) takes `allow_loopback_targets` and `webhook_delivery_timeout_seconds`; `clock/advance` and
`clock/speed` move the clock every webhook timer runs on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request

from local.asana_sandbox.faults import CONTROL_PREFIX
from local.asana_sandbox.state import SandboxState, current_state

type Handler = Callable[[SandboxState, dict[str, Any]], dict[str, Any]]


def _optional_gid(body: dict[str, Any]) -> str | None:
    value = body.get("webhook_gid")
    return str(value) if value is not None else None


def _deliver(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    return {"attempts": state.webhooks.deliver_due()}


def _fail_target(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    webhooks = state.webhooks
    options: dict[str, Any] = {}
    if "content" in body:
        options["content"] = str(body["content"])
    webhooks.fail_target(
        int(body.get("count", 1)),
        status=int(body.get("status", 500)),
        timeout=bool(body.get("timeout", False)),
        webhook_gid=_optional_gid(body),
        handshake=bool(body.get("handshake", False)),
        **options,
    )
    return {"pending_failures": webhooks.pending_failures()}


def _heartbeat(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    return {"webhooks": state.webhooks.heartbeat_now(_optional_gid(body))}


def _set_active(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    active = body["active"]
    if not isinstance(active, bool):
        raise TypeError("active must be true or false")
    state.webhooks.set_active(str(body["webhook_gid"]), active)
    return {}


WEBHOOK_HANDLERS: dict[str, Handler] = {
    "webhooks/deliver": _deliver,
    "webhooks/fail_target": _fail_target,
    "webhooks/heartbeat": _heartbeat,
    "webhooks/set_active": _set_active,
}


def register_webhook_inspector(app: Flask) -> None:
    @app.get(f"{CONTROL_PREFIX}/webhooks")
    def webhooks() -> Response:
        registry = current_state().webhooks
        include_deleted = request.args.get("include_deleted", "").lower() == "true"
        return jsonify(
            {
                "ok": True,
                "data": registry.list(include_deleted=include_deleted),
                "handshakes": registry.handshakes(),
            }
        )
