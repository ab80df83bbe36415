"""Sending sync messages to the queue: ten to a ``SendMessageBatch`` (SQS's maximum), entries SQS failed sent again.

The dispatcher sends one start per organization: 10,000 organizations are 1,000 requests, a few seconds in a region.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

BATCH_SIZE = 10
MAX_DELAY_SECONDS = 900  # SQS's maximum DelaySeconds
MAX_SEND_ATTEMPTS = 3


class QueueSendFailed(Exception):
    """SQS refused some messages after retries (its per-entry failures are not raised by boto3)."""


class UnitQueue:
    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self._url = queue_url

    def send(self, messages: Sequence[BaseModel], *, delay_seconds: float = 0) -> int:
        """Send the messages, visible after ``delay_seconds`` (capped at 15 minutes); returns the requests made."""
        delay = max(0, min(MAX_DELAY_SECONDS, round(delay_seconds)))
        bodies = [message.model_dump_json() for message in messages]
        batches = [bodies[i : i + BATCH_SIZE] for i in range(0, len(bodies), BATCH_SIZE)]
        return sum(self._send_batch(batch, delay) for batch in batches)

    def _send_batch(self, bodies: list[str], delay: int) -> int:
        entries: list[SendMessageBatchRequestEntryTypeDef] = [
            {"Id": str(index), "MessageBody": body, "DelaySeconds": delay} for index, body in enumerate(bodies)
        ]
        for attempt in range(1, MAX_SEND_ATTEMPTS + 1):
            response = self._sqs.send_message_batch(QueueUrl=self._url, Entries=entries)
            failed = {entry["Id"] for entry in response.get("Failed", [])}
            entries = [entry for entry in entries if entry["Id"] in failed]
            if not entries:
                return attempt
        raise QueueSendFailed(f"SQS refused {len(entries)} sync messages after {MAX_SEND_ATTEMPTS} attempts")
