"""The webhook events' consumer: ``WebhookEventsQueue`` → this function → the mirror.

Each SQS message holds the events of one verified delivery (``app.py``). Every event is applied through Powertools'
``idempotent_function`` on the ``IdempotencyTable``, keyed by the Asana event itself (organization, resource, action,
time, changed field, parent, user), not by the SQS message: Asana may deliver an event twice, in two deliveries or
through two webhooks, and SQS may deliver a message twice; each event is applied once either way. A message that
fails part-way is retried whole, and the events already applied are answered from their idempotency records.

Partial batch failures (``ReportBatchItemFailures``): a failed message returns to the queue after its visibility
timeout; after ``maxReceiveCount`` receives it moves to the dead-letter queue, whose alarm tells an operator.

What applying an event means is in ``asana_integration/webhooks/processing.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from asana_integration.observability import logger, metrics
from asana_integration.sync.meter import CallMeter
from asana_integration.web.dependencies import Services, get_services
from asana_integration.webhooks.processing import EventApplier

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from asana_integration.asana.client import AsanaClient

# The idempotency key: what makes two deliveries the same Asana event. The organization is part of it: two
# organizations watching one Asana workspace each need the event in their own mirror.
EVENT_KEY_JMESPATH = (
    "[org_id, event.resource.gid, event.resource.resource_type, event.action, event.created_at, "
    "event.change.field, event.change.action, event.parent.gid, event.user.gid]"
)
# Asana resends a delivery for up to 24 hours; a duplicate must still find the record then.
IDEMPOTENCY_SECONDS = 25 * 3600
# Not the function's name (Powertools' default): keys stay valid across renames and between local and AWS.
IDEMPOTENCY_KEY_PREFIX = "asana-webhook-event"
# Below this much time left, the remaining messages are handed back to the queue instead of started.
TIME_RESERVE_MS = 15_000

# A batch whose every message failed is reported like any partial failure, not raised: the same retries, without
# counting as an invocation error.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class OutOfTime(Exception):
    """Not enough time left to start a message: it is reported failed and comes back after its visibility timeout."""


def _apply(event: dict[str, Any], applier: EventApplier) -> dict[str, Any]:
    return applier.apply(str(event["org_id"]), event["event"]).to_json()


@dataclass
class Consumer:
    """This execution environment's consumer: the services, the idempotency store and the idempotent apply."""

    services: Services
    idempotency: IdempotencyConfig
    apply_once: Callable[..., dict[str, Any]]

    @classmethod
    def build(cls, services: Services) -> Consumer:
        table_name = services.config.idempotency_table_name
        if table_name is None:
            raise RuntimeError("IDEMPOTENCY_TABLE_NAME is not set: this function cannot apply webhook events once")
        persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=boto3.client("dynamodb"))
        config = IdempotencyConfig(
            event_key_jmespath=EVENT_KEY_JMESPATH,
            raise_on_no_idempotency_key=True,
            expires_after_seconds=IDEMPOTENCY_SECONDS,
            hash_function="sha256",
            use_local_cache=True,
        )
        apply_once = idempotent_function(
            data_keyword_argument="event",
            persistence_store=persistence,
            config=config,
            key_prefix=IDEMPOTENCY_KEY_PREFIX,
        )(_apply)
        return cls(services, config, apply_once)

    def handle(self, event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        self.idempotency.register_lambda_context(context)  # an in-progress record expires with this invocation
        applier = EventApplier(
            self.services.mirror, self._imported_projects, lambda org_id: self._client(org_id, context)
        )

        def handle_record(record: SQSRecord) -> None:
            message = json.loads(record.body)  # written by app.py: a malformed one is a bug, and ends in the DLQ
            org_id = str(message["org_id"])
            for asana_event in message["delivery"]["events"]:
                if context.get_remaining_time_in_millis() < TIME_RESERVE_MS:
                    raise OutOfTime
                self.apply_once(event={"org_id": org_id, "event": asana_event}, applier=applier)

        return process_partial_response(event=event, record_handler=handle_record, processor=processor, context=context)

    def _imported_projects(self, org_id: str) -> list[str]:
        return [imported.gid for imported in self.services.sync_state.imports(org_id)]

    def _client(self, org_id: str, context: LambdaContext) -> AsanaClient:
        """The organization's identity (PAT > org OAuth), metered against the rate budget it shares with the sync."""
        remaining_ms = context.get_remaining_time_in_millis
        budget = self.services.rate_budget(org_id, lambda: max(0.0, (remaining_ms() - TIME_RESERVE_MS) / 1000))
        return self.services.sync_client(org_id, CallMeter(budget), remaining_ms)


@dataclass
class _Current:
    consumer: Consumer | None = None


_current = _Current()


def get_consumer() -> Consumer:
    """The consumer of this execution environment, rebuilt when its services are (a new configuration)."""
    services = get_services()
    if _current.consumer is None or _current.consumer.services is not services:
        _current.consumer = Consumer.build(services)
    return _current.consumer


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return get_consumer().handle(event, context)
