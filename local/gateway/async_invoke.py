"""Asynchronous invocation (``InvocationType=Event``) as Lambda runs it: retries, event age, destinations.

EventBridge Scheduler (the template's ``ScheduleV2`` events) invokes a function asynchronously: Lambda accepts the
event, queues it, and runs it apart from the caller. What happens next follows the AWS Lambda Developer Guide,
"Asynchronous invocation", with the function's :class:`~local.gateway.async_config.AsyncConfig`:

- A function error (an exception, a timeout, an unserializable response) is retried up to ``MaximumRetryAttempts``
  times (default 2), one minute after the first attempt and two minutes after the second. Every attempt runs under
  the event's one request id.
- An event older than ``MaximumEventAgeInSeconds`` when its retry comes due is discarded (``EventAgeExceeded``).
- A discarded event goes to ``DestinationConfig.OnFailure`` as an invocation record (``version``, ``timestamp``,
  ``requestContext`` {``requestId``, ``functionArn``, ``condition``, ``approximateInvokeCount``},
  ``requestPayload``, ``responseContext``, ``responsePayload``), and as the bare event to a ``DeadLetterQueue``;
  a success goes to ``OnSuccess`` with the condition ``Success``.

Locally the waits between attempts are scaled down (``retry_delay_scale``: 1/60 makes them one and two seconds; 0
retries at once). Event age is still counted in AWS time: the time really spent plus the full AWS waits, so an event
expires after the same attempts it would on AWS. Throttling and Lambda's own 5xx retries (up to six hours) do not
arise here: an event waits for a free concurrency slot instead.

The schedule's own ``DeadLetterConfig`` is not involved: it receives only events Scheduler could not deliver to
Lambda, and delivery to an in-process function cannot fail.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from local.gateway.async_config import AsyncConfig, Destination
from local.gateway.destinations import Destinations
from local.gateway.lambda_results import FunctionResult, function_result
from local.gateway.runtime import FunctionHost, Invocation, Outcome

_log = logging.getLogger("local.async")

AWS_RETRY_DELAYS_SECONDS = (60.0, 120.0)  # after the first attempt, after the second
LOCAL_RETRY_DELAY_SCALE = 1 / 60
_DLQ_MESSAGE_LIMIT = 1024  # a dead letter's ErrorMessage attribute: "the first 1 KB of the error message"

Condition = Literal["Success", "RetriesExhausted", "EventAgeExceeded", "Stopped"]


@dataclass(frozen=True)
class AsyncDelivery:
    """How an asynchronous event ended: every attempt, the condition (Lambda's names; ``Stopped`` is local only: the
    stack stopped while a retry was due), and where its record went."""

    function: str
    request_id: str
    attempts: tuple[Invocation, ...]
    condition: Condition
    record_sent_to: tuple[str, ...]  # destination ARNs that received the record (or the dead letter)

    @property
    def last(self) -> Invocation:
        return self.attempts[-1]

    @property
    def outcome(self) -> Outcome:
        return self.last.outcome

    @property
    def result(self) -> Any:
        return self.last.result

    @property
    def succeeded(self) -> bool:
        return self.condition == "Success"


@dataclass(frozen=True)
class PendingDelivery:
    function: str
    request_id: str
    future: Future[AsyncDelivery]

    def wait(self, timeout: float | None = None) -> AsyncDelivery:
        return self.future.result(timeout)


class AsyncInvoker:
    def __init__(
        self,
        host: FunctionHost,
        configs: Mapping[str, AsyncConfig] | None = None,
        destinations: Destinations | None = None,
        *,
        retry_delay_scale: float = LOCAL_RETRY_DELAY_SCALE,
    ) -> None:
        if retry_delay_scale < 0:
            raise ValueError("retry_delay_scale must be 0 or more")
        self._host = host
        self._configs = dict(configs or {})
        self._destinations = destinations or Destinations(None)
        self._scale = retry_delay_scale
        self._stop = threading.Event()
        for function, config in self._configs.items():
            for destination in (config.on_success, config.on_failure, config.dead_letter_queue):
                if destination is not None and not Destinations.supported(destination):
                    _log.warning(
                        "%s sends records to %s (%s), which is not emulated locally: they will be dropped",
                        function,
                        destination.arn,
                        destination.type,
                    )

    def config(self, function: str) -> AsyncConfig:
        return self._configs.get(function, AsyncConfig())

    def invoke(self, function: str, event: Any) -> PendingDelivery:
        """Accept the event as Invoke with ``InvocationType=Event`` does (202), and run it in the background."""
        if function not in self._host.functions:
            raise LookupError(f"no function {function!r}")
        pending = PendingDelivery(function, str(uuid.uuid4()), Future())
        pending.future.set_running_or_notify_cancel()
        threading.Thread(
            target=self._deliver, args=(pending, copy.deepcopy(event)), name=f"async:{function}", daemon=True
        ).start()
        return pending

    def stop(self) -> None:
        """Due retries are abandoned (``Stopped``); attempts already running finish in their own threads."""
        self._stop.set()

    def _deliver(self, pending: PendingDelivery, event: Any) -> None:
        try:
            pending.future.set_result(self._attempts(pending, event))
        except BaseException as error:  # a bug here must reach whoever waits, not vanish with the thread
            _log.exception("asynchronous delivery to %s failed in the invoker", pending.function)
            pending.future.set_exception(error)

    def _attempts(self, pending: PendingDelivery, event: Any) -> AsyncDelivery:
        function, config = pending.function, self.config(pending.function)
        timeout = self._host.functions[function].spec.timeout
        queued_at = time.monotonic()
        not_waited = 0.0  # AWS waiting time skipped by the local scale, still counted in the event's age
        attempts: list[Invocation] = []
        while True:
            invocation = self._host.invoke(
                function, copy.deepcopy(event), queue_when_throttled=True, request_id=pending.request_id
            )
            attempts.append(invocation)
            result = function_result(invocation, timeout)
            if not result.error:
                return self._settle(pending, event, attempts, "Success", result)
            if len(attempts) > config.maximum_retry_attempts:
                return self._settle(pending, event, attempts, "RetriesExhausted", result)
            aws_delay = AWS_RETRY_DELAYS_SECONDS[len(attempts) - 1]
            local_delay = aws_delay * self._scale
            if self._stop.wait(local_delay):
                return self._settle(pending, event, attempts, "Stopped", result)
            not_waited += aws_delay - local_delay
            if time.monotonic() - queued_at + not_waited > config.maximum_event_age_seconds:
                return self._settle(pending, event, attempts, "EventAgeExceeded", result)

    def _settle(
        self,
        pending: PendingDelivery,
        event: Any,
        attempts: list[Invocation],
        condition: Condition,
        last: FunctionResult,
    ) -> AsyncDelivery:
        config = self.config(pending.function)
        function_arn = self._host.functions[pending.function].arn
        sent: list[str] = []

        def send(destination: Destination | None, body: Any, attributes: Any = None) -> None:
            if destination is not None and self._destinations.send(destination, json.dumps(body), attributes):
                sent.append(destination.arn)

        if condition != "Stopped":
            record = invocation_record(
                function_arn=function_arn,
                request_id=pending.request_id,
                condition=condition,
                invoke_count=len(attempts),
                event=event,
                response=last,
            )
            if condition == "Success":
                send(config.on_success, record)
            else:
                send(config.on_failure, record)
                send(config.dead_letter_queue, event, dead_letter_attributes(pending.request_id, last))
        delivery = AsyncDelivery(pending.function, pending.request_id, tuple(attempts), condition, tuple(sent))
        log = _log.info if condition == "Success" else _log.warning if condition == "Stopped" else _log.error
        log(
            "%s: asynchronous event %s after %d attempt(s)%s (request %s)",
            pending.function,
            condition,
            len(attempts),
            f", record sent to {', '.join(sent)}" if sent else "",
            pending.request_id,
        )
        return delivery


def invocation_record(
    *,
    function_arn: str,
    request_id: str,
    condition: Condition,
    invoke_count: int,
    event: Any,
    response: FunctionResult,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The JSON document Lambda sends a destination (the guide's "Example invocation record")."""
    moment = now or datetime.now(UTC)
    response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if response.error:
        response_context["functionError"] = "Unhandled"
    return {
        "version": "1.0",
        "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{function_arn}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "requestPayload": event,
        "responseContext": response_context,
        "responsePayload": response.payload,
    }


def dead_letter_attributes(request_id: str, response: FunctionResult) -> dict[str, Any]:
    """A dead letter's message attributes: the request id, the Invoke call's HTTP status (200 for a function error)
    and the first 1 KB of the error message."""
    payload = response.payload if isinstance(response.payload, dict) else {}
    message = str(payload.get("errorMessage", "")).encode()[:_DLQ_MESSAGE_LIMIT].decode(errors="ignore")
    return {
        "RequestID": {"DataType": "String", "StringValue": request_id},
        "ErrorCode": {"DataType": "Number", "StringValue": "200"},
        "ErrorMessage": {"DataType": "String", "StringValue": message or "function error"},
    }
