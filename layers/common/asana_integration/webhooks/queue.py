"""The queue between the webhook function and its consumer (``WebhookEventsQueue``).

One message per delivery, ``{"org_id", "prefix", "delivery": {"events": [...]}}``. The delivery is the JSON text
Asana sent, embedded as it came (it was verified and parsed already; serializing it again would cost as much as
parsing did). A delivery too large for one message is split into as many as needed, each under SQS's classic 256 KB,
with the events in their order. The organization comes from the webhook record the delivery was verified against,
never from the delivery itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from asana_integration.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

MAX_MESSAGE_BYTES = 256 * 1024
# The envelope around the delivery ({"org_id": …, "prefix": …, "delivery": …}) with room to spare.
_ENVELOPE_BYTES = 1024


def message_body(org_id: str, prefix: str, events: list[dict[str, Any]]) -> str:
    return json.dumps({"org_id": org_id, "prefix": prefix, "delivery": {"events": events}}, separators=(",", ":"))


class WebhookEventQueue:
    def __init__(self, sqs_client: SQSClient, queue_url: str) -> None:
        self._sqs = sqs_client
        self._queue_url = queue_url

    def send(self, org_id: str, prefix: str, events: list[dict[str, Any]], raw_delivery: bytes | None = None) -> int:
        """Queue the events (``raw_delivery``: the body they were parsed from); returns how many messages it took."""
        bodies = _bodies(org_id, prefix, events, raw_delivery)
        for body in bodies:
            self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=body)
        return len(bodies)


def _bodies(org_id: str, prefix: str, events: list[dict[str, Any]], raw: bytes | None) -> list[str]:
    limit = MAX_MESSAGE_BYTES - _ENVELOPE_BYTES - len(org_id) - len(prefix)
    if raw is not None and len(raw) <= limit:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            pass  # JSON in another Unicode encoding: serialized again below, as UTF-8
        else:
            return [f'{{"org_id":{json.dumps(org_id)},"prefix":{json.dumps(prefix)},"delivery":{text}}}']
    body = message_body(org_id, prefix, events)
    return [body] if len(body.encode("utf-8")) <= MAX_MESSAGE_BYTES else list(_split(org_id, prefix, events, limit))


def _split(org_id: str, prefix: str, events: list[dict[str, Any]], limit: int) -> Iterator[str]:
    chunk: list[dict[str, Any]] = []
    size = 0
    for event in events:
        event_bytes = len(json.dumps(event, separators=(",", ":")).encode("utf-8")) + 1  # and its comma
        if event_bytes > limit:
            # Asana's events are compact (ids and a field name); one this large is not Asana's and is dropped,
            # so it cannot block the delivery's other events.
            logger.error("webhook event too large to queue, dropped", extra={"event_bytes": event_bytes})
            continue
        if chunk and size + event_bytes > limit:
            yield message_body(org_id, prefix, chunk)
            chunk, size = [], 0
        chunk.append(event)
        size += event_bytes
    if chunk:
        yield message_body(org_id, prefix, chunk)
