"""The local API Gateway: a WSGI app that routes, authorizes, invokes and answers as the HTTP API would.

Besides the template's routes it serves a few local-only control endpoints under ``/_local/`` (a prefix the template
never uses; API Gateway would answer 404 there):

- ``GET /_local/health``: ``{"status": "ok"}`` once the stack is wired.
- ``GET /_local/routes``: the routes read from the template.
- ``POST /_local/schedules/<FunctionLogicalId>[/<EventName>]``: deliver that function's scheduled event now and wait
  for it; answers the invocation's outcome and result.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Request

from local.gateway.authorizer import JwtAuthorizer, Unauthorized, flatten_claims
from local.gateway.events import (
    HttpResult,
    InvalidLambdaResponse,
    build_event,
    error_result,
    http_result,
    new_request_id,
)
from local.gateway.routes import RouteTable
from local.gateway.runtime import FunctionHost, Invocation
from local.gateway.schedules import ScheduleSpec, scheduled_event

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

# HTTP APIs give up on an integration after 30 s (the maximum) and answer 503, whatever the function's own Timeout.
INTEGRATION_TIMEOUT_SECONDS = 30.0
CONTROL_PREFIX = "/_local/"

_access = logging.getLogger("local.gateway.access")
_log = logging.getLogger("local.gateway")


@dataclass(frozen=True)
class _Answer:
    result: HttpResult
    function: str = "-"


class Gateway:
    def __init__(
        self,
        routes: RouteTable,
        host: FunctionHost,
        authorizer: JwtAuthorizer,
        schedules: list[ScheduleSpec],
        *,
        integration_timeout: float = INTEGRATION_TIMEOUT_SECONDS,
    ) -> None:
        self.routes = routes
        self.host = host
        self.authorizer = authorizer
        self.schedules = schedules
        self._integration_timeout = integration_timeout

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.monotonic()
        request = Request(environ)
        request_id = new_request_id()
        try:
            answer = (
                self._control(request) if request.path.startswith(CONTROL_PREFIX) else self._api(request, request_id)
            )
        except Exception:  # a bug in the gateway itself: still answer the way API Gateway does
            _log.exception("gateway failure")
            answer = _Answer(error_result(500, "Internal Server Error"))
        result = answer.result
        headers = [*result.headers, ("apigw-requestid", request_id)]
        if not any(name.lower() == "content-length" for name, _ in headers):
            headers.append(("content-length", str(len(result.body))))
        start_response(f"{result.status} {HTTP_STATUS_CODES.get(result.status, 'Unknown')}", headers)
        # Path only: the query string can carry an OAuth authorization code, and headers a bearer token.
        _access.info(
            "%s %s %d %.0fms %s %s",
            request.method,
            request.path,
            result.status,
            (time.monotonic() - started) * 1000,
            answer.function,
            request_id,
        )
        return [result.body]

    # ------------------------------------------------------------------------------------------------ the HTTP API
    def _api(self, request: Request, request_id: str) -> _Answer:
        match = self.routes.match(request.method, request.path)
        if match is None:
            return _Answer(error_result(404, "Not Found"))
        function = match.route.function
        claims = None
        if match.route.authorized:
            try:
                verified = self.authorizer.authorize({k.lower(): v for k, v in request.headers.items()})
            except Unauthorized as denied:
                _log.info("%s %s: unauthorized (%s)", request.method, request.path, denied.description)
                challenge = f'Bearer scope="" error="invalid_token" error_description="{denied.description}"'
                return _Answer(error_result(401, "Unauthorized", [("www-authenticate", challenge)]), function)
            claims = flatten_claims(verified)
        event = build_event(request, match, claims=claims, request_id=request_id)
        invocation = self.host.invoke(function, event, wait_seconds=self._integration_timeout)
        return _Answer(self._integration_answer(invocation), function)

    @staticmethod
    def _integration_answer(invocation: Invocation) -> HttpResult:
        if invocation.outcome == "abandoned":
            return error_result(503, "Service Unavailable")
        if invocation.outcome != "ok":  # raised, timed out, throttled or failed to load: Lambda reported an error
            return error_result(500, "Internal Server Error")
        try:
            result = http_result(invocation.result)
        except InvalidLambdaResponse as error:
            _log.error("%s returned a malformed response: %s", invocation.function, error)
            return error_result(500, "Internal Server Error")
        for warning in result.warnings:
            _log.warning("%s: %s", invocation.function, warning)
        return result

    # ------------------------------------------------------------------------------------------------ local control
    def _control(self, request: Request) -> _Answer:
        parts = request.path.removeprefix(CONTROL_PREFIX).strip("/").split("/")
        if request.method == "GET" and parts == ["health"]:
            return _Answer(_json(200, {"status": "ok"}))
        if request.method == "GET" and parts == ["routes"]:
            routes = [
                {"routeKey": r.route_key, "function": r.function, "authorizer": "jwt" if r.authorized else None}
                for r in self.routes.routes
            ]
            return _Answer(_json(200, {"routes": routes}))
        if request.method == "POST" and parts[0] == "schedules" and len(parts) in (2, 3):
            try:
                spec = self.schedule(parts[1], parts[2] if len(parts) == 3 else None)
            except LookupError as error:
                return _Answer(_json(404, {"message": str(error)}))
            invocation = self.fire_schedule(spec)
            return _Answer(
                _json(200 if invocation.outcome == "ok" else 500, _describe(spec, invocation)), spec.function
            )
        return _Answer(error_result(404, "Not Found"))

    def schedule(self, function: str, event_name: str | None = None) -> ScheduleSpec:
        candidates = [
            s for s in self.schedules if s.function == function and (event_name is None or s.event_name == event_name)
        ]
        if len(candidates) != 1:
            known = ", ".join(f"{s.function}/{s.event_name}" for s in self.schedules) or "none"
            raise LookupError(f"no single schedule matches {function}/{event_name or '*'} (known: {known})")
        return candidates[0]

    def fire_schedule(self, spec: ScheduleSpec) -> Invocation:
        """Deliver the schedule's event as an asynchronous invocation would: queued behind the function's reserved
        concurrency, never throttled away. One attempt: Lambda's retries of a failed run and its ``EventInvokeConfig``
        ``OnFailure`` destination are not played here; the outcome is answered and logged instead."""
        invocation = self.host.invoke(spec.function, scheduled_event(spec), queue_when_throttled=True)
        _log.info(
            "schedule %s -> %s: %s in %.0f ms", spec.name, spec.function, invocation.outcome, invocation.duration_ms
        )
        return invocation


def _describe(spec: ScheduleSpec, invocation: Invocation) -> dict[str, Any]:
    return {
        "function": spec.function,
        "schedule": spec.name,
        "requestId": invocation.request_id,
        "outcome": invocation.outcome,
        "durationMs": round(invocation.duration_ms),
        "result": invocation.result,
        "error": type(invocation.error).__name__ if invocation.error is not None else None,
    }


def _json(status: int, body: Any) -> HttpResult:
    return HttpResult(status, [("content-type", "application/json")], json.dumps(body, default=str).encode())
