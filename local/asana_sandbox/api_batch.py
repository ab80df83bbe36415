"""The Batch API: `POST /batch` runs up to 10 actions, each a request to another endpoint, and answers one result each.

As Asana documents it (https://developers.asana.com/docs/batch-requests): the body is `{"data": {"actions": [...]}}`,
each action `{"relative_path", "method", "data"?, "options"?}`; more than 10 actions, or none, is a 400; a GET's
`data` holds its query parameters and `options` its `limit`, `offset` and `fields`; a write's `data` is what its
body's `data` would be. The answer is `{"data": [{"status_code", "headers", "body"}, ...]}` in the actions' order.
"The batch API fully respects all of our rate limiting": every action counts as a request of its own.

Each action runs here as a request of its own to this app, with the batch's `Authorization`, so it meets the same
fault switches, rate limit, authentication, scopes and recording as if it had been sent alone.

Sandbox guesses where Asana's docs are silent:
- the `POST /batch` request itself is not counted against the rate limit (its actions are);
- an action's failure (404, 412, 429, ...) is that action's result, never the batch's: the batch answers 200;
- a result's `headers` carries `location` and `retry-after` only, as the docs name `location` as their purpose;
- a nested `/batch` or a `relative_path` with a query string is a 400 of that action.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, jsonify, request

from local.asana_sandbox.api import API_PREFIX, Api
from local.asana_sandbox.errors import AsanaError, error_body
from local.asana_sandbox.state import ENVIRON_KEY, current_state

BATCH_PATH = f"{API_PREFIX}/batch"
BATCH_ACTION_KEY = "asana_sandbox.batch_action"  # in an action's environ: recorded as part of its batch
MAX_ACTIONS = 10
METHODS = ("get", "post", "put", "delete", "patch", "head")
PASSED_HEADERS = ("location", "retry-after")

TOO_MANY_ACTIONS = f"actions: The maximum number of actions in a batch request is {MAX_ACTIONS}."
NO_ACTIONS = "actions: A batch request must contain at least one action."
BAD_ACTION = (
    "action: relative_path must be a path without a query string, "
    "and method one of get, post, put, delete, patch, head."
)


def register_batch_routes(app: Flask, api: Api) -> None:

    @app.post(BATCH_PATH)
    def create_batch_request() -> tuple[Response, int]:
        body = request.get_json(silent=True)
        data = body.get("data") if isinstance(body, dict) else None
        actions = data.get("actions") if isinstance(data, dict) else None
        if not isinstance(actions, list) or not actions:
            raise AsanaError(400, NO_ACTIONS)
        if len(actions) > MAX_ACTIONS:
            raise AsanaError(400, TOO_MANY_ACTIONS)
        return jsonify({"data": [_run(action) for action in actions]}), 200


def _run(action: Any) -> dict[str, Any]:
    """One action as a request of its own to this app; its answer as a batch result."""
    if not _valid(action):
        return {"status_code": 400, "headers": {}, "body": error_body(400, BAD_ACTION)}
    method = str(action["method"]).upper()
    data = action.get("data") or {}
    options = action.get("options") or {}
    query: dict[str, Any] = {}
    json: dict[str, Any] | None = None
    if method in ("GET", "HEAD", "DELETE"):
        query.update({key: _query_value(value) for key, value in data.items()})
    else:
        json = {"data": data}
    for option in ("limit", "offset"):
        if option in options:
            query[option] = options[option]
    if options.get("fields"):
        query["opt_fields"] = ",".join(str(name) for name in options["fields"])
    headers = {"Authorization": request.headers["Authorization"]} if "Authorization" in request.headers else {}
    with current_app.test_client() as client:
        response = client.open(
            API_PREFIX + action["relative_path"],
            method=method,
            query_string=query,
            json=json,
            headers=headers,
            environ_overrides={ENVIRON_KEY: current_state(), BATCH_ACTION_KEY: True},
        )
    passed = {name: response.headers[name] for name in PASSED_HEADERS if name in response.headers}
    return {"status_code": response.status_code, "headers": passed, "body": response.get_json(silent=True)}


def _valid(action: Any) -> bool:
    if not isinstance(action, dict):
        return False
    path, method = action.get("relative_path"), action.get("method")
    return (
        isinstance(path, str)
        and path.startswith("/")
        and "?" not in path
        and not path.startswith("/batch")
        and isinstance(method, str)
        and method.lower() in METHODS
        and isinstance(action.get("data", {}), dict)
        and isinstance(action.get("options", {}), dict)
    )


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)
