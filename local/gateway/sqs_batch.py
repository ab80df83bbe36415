"""One SQS batch as Lambda handles it: the event it sends the function, and which messages it deletes afterwards.

The event (AWS Lambda Developer Guide, "Using Lambda with Amazon SQS", its example event): ``{"Records": [...]}``,
one record per message with ``messageId``, ``receiptHandle``, ``body``, ``attributes`` (the message's system
attributes as strings: ``ApproximateReceiveCount``, ``SentTimestamp``, ``SenderId``,
``ApproximateFirstReceiveTimestamp``, and on FIFO queues ``SequenceNumber``, ``MessageGroupId``,
``MessageDeduplicationId``), ``messageAttributes`` (``stringValue``/``binaryValue`` base64, ``stringListValues``,
``binaryListValues``, ``dataType``), ``md5OfBody`` (and ``md5OfMessageAttributes`` when the message has attributes),
``eventSource`` ``aws:sqs``, ``eventSourceARN`` and ``awsRegion``.

What is deleted (same guide, "Reporting batch item failures", "Success and failure conditions"):

- A function error (an exception, a timeout, a response the runtime cannot serialize) fails the whole batch: nothing is
  deleted, and every message returns when the queue's visibility timeout ends.
- Without ``ReportBatchItemFailures`` any response is a success: every message is deleted.
- With it, an empty or null ``batchItemFailures``, an empty response or a null one is a complete success. An invalid
  response, an empty or null ``itemIdentifier``, an item without the ``itemIdentifier`` key, or an identifier that is
  no message of the batch is a complete failure. Otherwise exactly the listed messages stay; the others are deleted.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from local.gateway.lambda_results import function_result
from local.gateway.runtime import Invocation

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageAttributeValueOutputTypeDef, MessageTypeDef

# The system attributes Lambda copies into a record (those SQS returns for "All"; FIFO ones only on FIFO queues).
_RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)


def sqs_record(message: MessageTypeDef, queue_arn: str, region: str) -> dict[str, Any]:
    """A ReceiveMessage message (asked with all system and message attributes) as a record of Lambda's SQS event."""
    attributes = message.get("Attributes", {})
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {name: attributes[name] for name in _RECORD_ATTRIBUTES if name in attributes},
        "messageAttributes": {
            name: _message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update({"eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region})
    return record


def _message_attribute(value: MessageAttributeValueOutputTypeDef) -> dict[str, Any]:
    attribute: dict[str, Any] = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    attribute["stringListValues"] = list(value.get("StringListValues", []))
    attribute["binaryListValues"] = [base64.b64encode(item).decode() for item in value.get("BinaryListValues", [])]
    attribute["dataType"] = value["DataType"]
    return attribute


@dataclass(frozen=True)
class BatchVerdict:
    """The message ids that return to the queue (all of them on a complete failure), and why, for the log."""

    returned: frozenset[str]
    reason: str | None = None


def batch_verdict(
    invocation: Invocation,
    message_ids: Sequence[str],
    *,
    report_batch_item_failures: bool,
    timeout_seconds: float,
) -> BatchVerdict:
    everything = frozenset(message_ids)
    result = function_result(invocation, timeout_seconds)
    if result.error:
        return BatchVerdict(everything, f"function error ({result.payload.get('errorType', invocation.outcome)})")
    if not report_batch_item_failures:
        return BatchVerdict(frozenset())
    try:
        returned = _reported_failures(result.payload, everything)
    except _InvalidResponse as invalid:
        return BatchVerdict(everything, f"invalid response: {invalid}")
    return BatchVerdict(returned, "reported batch item failures" if returned else None)


class _InvalidResponse(Exception):
    pass


def _reported_failures(response: Any, batch: frozenset[str]) -> frozenset[str]:
    if response is None:
        return frozenset()
    if not isinstance(response, dict):
        raise _InvalidResponse(f"a JSON {type(response).__name__}, not an object")
    failures = response.get("batchItemFailures")
    if failures is None:
        return frozenset()
    if not isinstance(failures, list):
        raise _InvalidResponse("batchItemFailures is not a list")
    returned = set()
    for item in failures:
        if not isinstance(item, dict) or "itemIdentifier" not in item:
            raise _InvalidResponse("a batchItemFailures item has no itemIdentifier")
        identifier = item["itemIdentifier"]
        if identifier is None or identifier == "":
            raise _InvalidResponse("an itemIdentifier is empty or null")
        if not isinstance(identifier, str) or identifier not in batch:
            raise _InvalidResponse("an itemIdentifier is no message of the batch")
        returned.add(identifier)
    return frozenset(returned)
