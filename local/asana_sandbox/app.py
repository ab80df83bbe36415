"""Builds the Flask app every sandbox shares and wires the cross-cutting behaviour every request goes through.

The app holds no state: each request acts on the state its sandbox's server put into the environ (state.py), so one
app, built once per process, serves any number of isolated sandboxes.

Order per request: fault switches (delay, forced 429, injected 5xx) → per-token rate limit → authentication (API
only) → the route. A batch's actions each go through all of it as requests of their own (api_batch.py). Every
answered request is recorded afterwards (see recorder.py).
"""

from __future__ import annotations

import time
from functools import cache

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from local.asana_sandbox.api import API_PREFIX, Api, register_read_routes
from local.asana_sandbox.api_batch import BATCH_ACTION_KEY, BATCH_PATH, register_batch_routes
from local.asana_sandbox.api_events import register_event_routes
from local.asana_sandbox.api_memberships import register_membership_routes
from local.asana_sandbox.api_projects import register_project_routes
from local.asana_sandbox.api_tasks import register_task_routes
from local.asana_sandbox.api_webhooks import register_webhook_routes
from local.asana_sandbox.control import CONTROL_PREFIX, register_control_routes
from local.asana_sandbox.errors import RATE_LIMITED, SERVER_ERROR, AsanaError, error_body
from local.asana_sandbox.oauth import OAUTH_PREFIX, register_oauth_routes
from local.asana_sandbox.recorder import RecordedRequest
from local.asana_sandbox.state import current_state


def _asana_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    response = jsonify(error_body(status, message))
    response.status_code = status
    response.headers.update(headers or {})
    return response


@cache
def shared_app() -> Flask:
    """The one app of this process (Flask compiles every route when it is added: worth doing once)."""
    return create_app()


def create_app() -> Flask:
    app = Flask("asana_sandbox")
    # Keep keys in insertion order, as Asana's documented examples show them.
    app.json.sort_keys = False  # type: ignore[attr-defined]

    @app.before_request
    def apply_faults_limits_and_auth() -> Response | None:
        path = request.path
        if path.startswith(CONTROL_PREFIX):
            return None
        state = current_state()
        if path == f"{OAUTH_PREFIX}/oauth_token":
            # Recorded even when a fault answers first: tests count refresh *requests*, not successes.
            g.grant_type = request.form.get("grant_type") or None
        decision = state.faults.take(path)
        if decision.delay_seconds:
            time.sleep(decision.delay_seconds)
        if decision.retry_after is not None:
            return _asana_error(429, RATE_LIMITED, {"Retry-After": str(decision.retry_after)})
        if decision.error_status is not None:
            return _asana_error(decision.error_status, SERVER_ERROR)
        if not path.startswith(API_PREFIX):
            return None
        authorization = request.headers.get("Authorization")
        # A batch's actions are each counted as they run (api_batch.py), the batch itself is not.
        if authorization and authorization.lower().startswith("bearer ") and path != BATCH_PATH:
            retry_after = state.limiter.hit(authorization[7:].strip())
            if retry_after is not None:
                return _asana_error(429, RATE_LIMITED, {"Retry-After": str(retry_after)})
        g.principal = state.store.authenticate(authorization)
        return None

    @app.after_request
    def record(response: Response) -> Response:
        if not request.path.startswith(CONTROL_PREFIX):
            current_state().recorder.record(
                RecordedRequest(
                    request.method,
                    request.path,
                    response.status_code,
                    g.get("grant_type"),
                    via_batch=request.environ.get(BATCH_ACTION_KEY, False),
                )
            )
        return response

    @app.errorhandler(AsanaError)
    def asana_error(exc: AsanaError) -> Response:
        return _asana_error(exc.status, exc.message, exc.headers)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        # Unknown routes and methods answer in Asana's JSON envelope instead of Flask's HTML page.
        status = exc.code or 500
        message = "No matching route for request" if status in (404, 405) else (exc.description or "Error")
        return _asana_error(status, message)

    api = Api()
    for register in (
        register_read_routes,
        register_project_routes,
        register_task_routes,
        register_membership_routes,
        register_event_routes,
        register_webhook_routes,
        register_batch_routes,
    ):
        register(app, api)
    register_oauth_routes(app)
    register_control_routes(app)
    return app
