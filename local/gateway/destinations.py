"""Delivery to the destinations of asynchronous invocations: SQS queues in moto.

AWS passes the invocation record as the SQS message body ("Asynchronous invocation", "Destination-specific JSON
format"), and a dead-letter queue gets the event itself with ``RequestID``, ``ErrorCode`` and ``ErrorMessage``
attributes. SNS topics, Lambda functions, EventBridge buses and S3 buckets as destinations are not emulated: the local
stack creates no such resource. A record bound for one is logged as dropped, loudly, never silently.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from local.gateway.async_config import Destination

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

_log = logging.getLogger("local.async")


class Destinations:
    def __init__(self, sqs: SQSClient | None) -> None:
        self._sqs = sqs
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    @staticmethod
    def supported(destination: Destination) -> bool:
        return destination.arn.startswith("arn:aws:sqs:")

    def send(
        self, destination: Destination, body: str, attributes: dict[str, MessageAttributeValueTypeDef] | None = None
    ) -> bool:
        """Send ``body``; ``False`` (and an error in the log) when the destination is not emulated or refuses it."""
        sqs = self._sqs
        if sqs is None or not self.supported(destination):
            _log.error("dropped a record for %s: only SQS destinations are emulated locally", destination.arn)
            return False
        try:
            url = self._url(sqs, destination.arn)
            sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes or {})
        except Exception:
            _log.exception("could not send a record to %s", destination.arn)
            return False
        return True

    def _url(self, sqs: SQSClient, arn: str) -> str:
        with self._lock:
            if arn not in self._urls:
                account, name = arn.split(":")[4], arn.split(":")[5]
                self._urls[arn] = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            return self._urls[arn]
