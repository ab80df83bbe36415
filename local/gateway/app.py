"""The local API Gateway: a WSGI app that routes, authorizes, invokes and answers as the HTTP API would.

Besides the template's routes it serves a few local-only control endpoints under ``/_local/`` (a prefix the template
never uses; API Gateway would answer 404 there):

- ``GET /_local/health``: ``{"status": "ok"}`` once the stack is wired.
- ``GET /_local/routes``: the routes read from the template.
- ``POST /_local/schedules/<FunctionLogicalId>[/<EventName>]``: deliver that function's scheduled event now, as
  Scheduler does (an asynchronous invocation, with Lambda's retries and destinations), and wait until it settles:
  200 when it succeeded, 500 when it failed for good, with every attempt counted and the last one's outcome and
  result. ``?wait=false`` answers 202 at once, as Lambda's asynchronous Invoke does.
- ``GET /_local/queues``: the SQS event source mappings and their queues' message counts.
- ``POST /_local/queues/<QueueLogicalId>/drain``: run that queue's mappings until no message is visible and no batch
  is running (``?wait_for_invisible=true`` also waits out messages in flight or delayed; ``?timeout=`` seconds, 60 by
  default); answers what ran.
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

from local.gateway.async_invoke import AsyncDelivery, AsyncInvoker, PendingDelivery
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
from local.gateway.sqs_poller import EventSources, QueuePoller

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
        invoker: AsyncInvoker | None = None,
        event_sources: EventSources | None = None,
    ) -> None:
        self.routes = routes
        self.host = host
        self.authorizer = authorizer
        self.schedules = schedules
        self.invoker = invoker or AsyncInvoker(host)
        self.event_sources = event_sources or EventSources([])
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
            return self._fire_schedule_control(request, parts[1], parts[2] if len(parts) == 3 else None)
        if request.method == "GET" and parts == ["queues"]:
            return _Answer(_json(200, {"mappings": [self._describe_mapping(p) for p in self.event_sources.pollers]}))
        if request.method == "POST" and parts[0] == "queues" and len(parts) == 3 and parts[2] == "drain":
            return self._drain_control(request, parts[1])
        return _Answer(error_result(404, "Not Found"))

    def _fire_schedule_control(self, request: Request, function: str, event_name: str | None) -> _Answer:
        try:
            spec = self.schedule(function, event_name)
            wait = _flag(request, "wait", default=True)
        except LookupError as error:
            return _Answer(_json(404, {"message": str(error)}))
        except ValueError as error:
            return _Answer(_json(400, {"message": str(error)}))
        pending = self.fire_schedule(spec)
        if not wait:
            body = {"function": spec.function, "schedule": spec.name, "requestId": pending.request_id}
            return _Answer(_json(202, body), spec.function)
        delivery = pending.wait()
        return _Answer(_json(200 if delivery.succeeded else 500, _describe(spec, delivery)), spec.function)

    def _drain_control(self, request: Request, queue: str) -> _Answer:
        try:
            self.event_sources.for_queue(queue)
            wait_for_invisible = _flag(request, "wait_for_invisible", default=False)
            timeout = float(request.args.get("timeout", "60"))
            if not 0 < timeout <= 900:
                raise ValueError("timeout must be seconds between 0 and 900")
        except LookupError as error:
            return _Answer(_json(404, {"message": str(error)}))
        except ValueError as error:
            return _Answer(_json(400, {"message": str(error)}))
        reports = self.event_sources.drain(queue, wait_for_invisible=wait_for_invisible, timeout=timeout)
        return _Answer(_json(200, {"mappings": [report.as_json() for report in reports]}))

    @staticmethod
    def _describe_mapping(poller: QueuePoller) -> dict[str, Any]:
        mapping, counts = poller.mapping, poller.counts()
        return {
            "queue": mapping.queue,
            "function": mapping.function,
            "batchSize": mapping.batch_size,
            "maximumBatchingWindowInSeconds": mapping.batching_window_seconds,
            "maximumConcurrency": mapping.maximum_concurrency,
            "reportBatchItemFailures": mapping.report_batch_item_failures,
            "messages": {"visible": counts.visible, "inFlight": counts.in_flight, "delayed": counts.delayed},
        }

    def schedule(self, function: str, event_name: str | None = None) -> ScheduleSpec:
        candidates = [
            s for s in self.schedules if s.function == function and (event_name is None or s.event_name == event_name)
        ]
        if len(candidates) != 1:
            known = ", ".join(f"{s.function}/{s.event_name}" for s in self.schedules) or "none"
            raise LookupError(f"no single schedule matches {function}/{event_name or '*'} (known: {known})")
        return candidates[0]

    def fire_schedule(self, spec: ScheduleSpec) -> PendingDelivery:
        """Deliver the schedule's event as Scheduler does: an asynchronous invocation, which Lambda retries and
        reports to the function's destinations (``local.gateway.async_invoke``). Returns at once."""
        pending = self.invoker.invoke(spec.function, scheduled_event(spec))
        _log.info("schedule %s -> %s (request %s)", spec.name, spec.function, pending.request_id)
        return pending


def _describe(spec: ScheduleSpec, delivery: AsyncDelivery) -> dict[str, Any]:
    last = delivery.last
    return {
        "function": spec.function,
        "schedule": spec.name,
        "requestId": delivery.request_id,
        "condition": delivery.condition,
        "attempts": len(delivery.attempts),
        "outcome": last.outcome,
        "durationMs": round(last.duration_ms),
        "result": last.result,
        "error": type(last.error).__name__ if last.error is not None else None,
        "recordSentTo": list(delivery.record_sent_to),
    }


def _flag(request: Request, name: str, *, default: bool) -> bool:
    value = request.args.get(name)
    if value is None:
        return default
    if value not in ("true", "false"):
        raise ValueError(f"{name} must be true or false")
    return value == "true"


def _json(status: int, body: Any) -> HttpResult:
    return HttpResult(status, [("content-type", "application/json")], json.dumps(body, default=str).encode())
