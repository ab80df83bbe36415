"""What the webhook function answers Asana, and what it stores: nothing unless the request proves itself.

Three kinds of request reach ``POST /asana/webhook/<prefix>``:

* **Handshake** (an ``X-Hook-Secret`` header): accepted only through ``accept_handshake``, one conditional write that
  holds only for a pending prefix inside its window with no secret yet. Then 200 with the same header echoed, as
  Asana requires. An unknown prefix, an expired window, a second handshake and the bare path all get 404, and
  nothing is stored: no one can plant a secret, nor replace one.
* **Delivery**: ``X-Hook-Signature`` must be the lowercase hex HMAC-SHA256 of the exact bytes received (API Gateway's
  base64 undone first), keyed by that webhook's secret, compared in constant time. Unknown or inactive prefix: 404;
  missing or wrong signature: 401. Either way nothing is stored or queued.
* **Heartbeat**: a signed delivery of ``{"events": []}``; it records when the webhook was last seen.

Valid events go to the queue and the answer is 200: nothing here calls Asana, so the answer comes well within
Asana's 10 seconds. A test webhook's events are checked and answered, never queued.

Responses are plain API Gateway results (no resolver): this path is kept to the standard library, the stores and
Powertools' logger, so the function's cold start stays close to a bare ``import boto3`` (``make bench``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from asana_integration.errors import BadRequest, IntegrationError, NotAuthenticated, NotFound
from asana_integration.models.webhooks import DeliveryTarget
from asana_integration.observability import logger, metrics

SECRET_HEADER = "x-hook-secret"
SIGNATURE_HEADER = "x-hook-signature"
# Asana documents no format for the secret (its example: 64 hex characters). Anything a header can carry verbatim,
# long enough to be a secret and short enough to be one.
_SECRET = re.compile(r"[\x21-\x7e]{16,512}")
_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")
# A delivery's arrival is written at most this often per webhook (heartbeats always are): one write a minute
# says "deliveries arrive" as well as one per delivery would.
DELIVERY_MARK_SECONDS = 60
# Enough of a prefix to find its record in the table, too little to use it: a prefix is a capability until its
# handshake, so logs carry only this.
_LOGGED_PREFIX_CHARS = 8


class WebhookRecords(Protocol):
    """What the receiver needs of the webhook store (``stores/webhooks.py``)."""

    def delivery_target(self, prefix: str) -> DeliveryTarget | None: ...
    def accept_handshake(self, prefix: str, secret: str, now: float) -> bool: ...
    def secret_of(self, record: DeliveryTarget) -> str: ...
    def record_heartbeat(self, prefix: str, now: float) -> bool: ...
    def record_delivery(self, prefix: str, now: float) -> bool: ...


class EventSink(Protocol):
    """Where verified events go (``webhooks/queue.py``)."""

    def send(
        self, org_id: str, prefix: str, events: list[dict[str, Any]], raw_delivery: bytes | None = None
    ) -> int: ...


@dataclass(frozen=True)
class WebhookRequest:
    prefix: str | None
    headers: Mapping[str, str]  # names lower-cased
    body: bytes
    # What correlates a log line with API Gateway's access log and Lambda's own lines, under Powertools' key names.
    log_keys: Mapping[str, str | None] = field(default_factory=dict)

    @classmethod
    def from_http_event(cls, event: Mapping[str, Any], function_request_id: str | None = None) -> WebhookRequest:
        """The request in an API Gateway HTTP API (payload 2.0) event. ``BadRequest`` for a body that is not base64
        although the event says it is (API Gateway never sends one; only a malformed event would)."""
        raw = event.get("body") or ""
        if event.get("isBase64Encoded"):
            try:
                body = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError) as error:
                raise BadRequest(
                    "The request body is not valid base64.",
                    "Send the delivery body unchanged.",
                    code="invalid_body",
                ) from error
        else:
            # API Gateway passes a text body as the UTF-8 text of the bytes received: encoding it gives them back.
            body = raw.encode("utf-8", "surrogatepass")
        # HTTP APIs already lower-case header names; a REST API or a test may not.
        headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
        return cls(_prefix(event), headers, body, _log_keys(event, function_request_id))


@dataclass(frozen=True)
class WebhookResponse:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""

    @classmethod
    def refusal(cls, error: IntegrationError) -> WebhookResponse:
        return cls(error.status, {"Content-Type": "application/json"}, json.dumps(error.to_body()))

    def to_api_gateway(self) -> dict[str, Any]:
        return {"statusCode": self.status, "headers": dict(self.headers), "body": self.body}


OK = WebhookResponse(200)


class WebhookReceiver:
    def __init__(self, records: WebhookRecords, sink: EventSink, *, clock: Callable[[], float] = time.time) -> None:
        self._records = records
        self._sink = sink
        self._clock = clock

    def receive_http_event(self, event: Mapping[str, Any], function_request_id: str | None = None) -> dict[str, Any]:
        """An API Gateway HTTP API event in, its result out (``function_request_id``: Lambda's, for the log)."""
        try:
            request = WebhookRequest.from_http_event(event, function_request_id)
        except IntegrationError as error:
            _refused(WebhookRequest(_prefix(event), {}, b"", _log_keys(event, function_request_id)), error)
            return WebhookResponse.refusal(error).to_api_gateway()
        return self.receive(request).to_api_gateway()

    def receive(self, request: WebhookRequest) -> WebhookResponse:
        try:
            if request.prefix is None:
                raise _unknown_webhook()  # the bare path: nothing can be armed on it
            secret = request.headers.get(SECRET_HEADER)
            if secret is not None:
                return self._handshake(request, request.prefix, secret)
            return self._delivery(request)
        except IntegrationError as error:
            _refused(request, error)
            return WebhookResponse.refusal(error)

    # --- Handshake --------------------------------------------------------------------------------------------------

    def _handshake(self, request: WebhookRequest, prefix: str, secret: str) -> WebhookResponse:
        if not _SECRET.fullmatch(secret):
            raise BadRequest(
                "The X-Hook-Secret header is not a usable webhook secret.",
                "Send the secret Asana generated, unchanged (16 to 512 visible ASCII characters).",
                code="invalid_hook_secret",
            )
        if not self._records.accept_handshake(prefix, secret, self._clock()):
            raise _unknown_webhook()
        logger.info("webhook handshake accepted", extra={**request.log_keys, "webhook": prefix[:_LOGGED_PREFIX_CHARS]})
        return WebhookResponse(200, {"X-Hook-Secret": secret})

    # --- Deliveries and heartbeats ----------------------------------------------------------------------------------

    def _delivery(self, request: WebhookRequest) -> WebhookResponse:
        prefix = str(request.prefix)
        record = self._records.delivery_target(prefix)
        if record is None or not record.accepts_deliveries:
            raise _unknown_webhook()
        self._verify(record, request)
        events = _events(request.body)
        now = self._clock()
        if not events:
            self._records.record_heartbeat(prefix, now)
            return OK
        if record.kind.applies_events:
            self._sink.send(record.org_id, prefix, events, request.body)
        if record.last_delivery_at is None or now - record.last_delivery_at >= DELIVERY_MARK_SECONDS:
            self._records.record_delivery(prefix, now)
        return OK

    def _verify(self, record: DeliveryTarget, request: WebhookRequest) -> None:
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            raise NotAuthenticated(
                "The delivery carries no X-Hook-Signature header.",
                "Only Asana can deliver to this webhook: it signs every delivery with the webhook's secret.",
                code="missing_signature",
            )
        secret = self._records.secret_of(record)
        expected = hmac.new(secret.encode("utf-8"), request.body, hashlib.sha256).hexdigest()
        # A signature of any other shape is wrong too; the shape check keeps non-ASCII out of compare_digest.
        candidate = signature.strip()
        if not _SIGNATURE.fullmatch(candidate) or not hmac.compare_digest(expected, candidate.lower()):
            raise NotAuthenticated(
                "The X-Hook-Signature does not match the delivery.",
                "Only Asana can deliver to this webhook: the signature is the HMAC-SHA256 of the exact body, keyed "
                "with the secret from the webhook's handshake.",
                code="invalid_signature",
            )


def _events(body: bytes) -> list[dict[str, Any]]:
    """The events of a signed delivery. Asana signs only well-formed ones; anything else is refused with 400."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise _invalid_delivery("The delivery body is not JSON.") from error
    events = payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(events, list) or not all(isinstance(event, dict) for event in events):
        raise _invalid_delivery('The delivery body is not {"events": [...]} with an object per event.')
    return events


def _prefix(event: Mapping[str, Any]) -> str | None:
    prefix = (event.get("pathParameters") or {}).get("prefix")
    return str(prefix) if prefix else None


def _log_keys(event: Mapping[str, Any], function_request_id: str | None) -> dict[str, str | None]:
    """The keys Powertools' ``inject_lambda_context`` would add, for the few lines this function writes. Set on each
    invocation, they would cost more than the rest of a delivery's handling (make bench), for lines rarely written."""
    context = event.get("requestContext") or {}
    return {"correlation_id": context.get("requestId"), "function_request_id": function_request_id}


def _invalid_delivery(message: str) -> BadRequest:
    return BadRequest(message, "Send Asana's delivery body unchanged.", code="invalid_delivery")


def _unknown_webhook() -> NotFound:
    return NotFound(
        "No Asana webhook is registered for this URL.",
        "Create webhooks from SecureDB's Asana settings, or arm a handshake there before creating one in Asana: "
        "only an armed URL accepts a handshake, and only once.",
        code="unknown_webhook",
    )


def _refused(request: WebhookRequest, error: IntegrationError) -> None:
    # Refusals are what an attack looks like: counted, and logged without the secret, signature or body. Flushed
    # here, the only metric this function emits: no per-delivery flush (and its empty-metrics warning) otherwise.
    metrics.add_metric(name="WebhookRequestsRefused", unit=MetricUnit.Count, value=1)
    metrics.flush_metrics()
    logger.warning(
        "webhook request refused",
        extra={
            **request.log_keys,
            "error_code": error.code,
            "status": error.status,
            "webhook": (request.prefix or "")[:_LOGGED_PREFIX_CHARS] or None,
            "handshake": SECRET_HEADER in request.headers,
        },
    )
