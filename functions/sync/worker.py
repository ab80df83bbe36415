"""The sync worker: runs the sync queue's messages (SQS event source), one record at a time, reporting failures per
record (``ReportBatchItemFailures``) so one failing unit never sends its batch-mates round again.

Each record is a run's start or one unit of work (``asana_integration.sync``). A unit that runs short of time or has
to wait for Asana saves its progress and is sent again as a new message; its record still succeeds. A record fails
only on the unexpected (a bug, AWS unavailable): SQS delivers it again after the visibility timeout, and after
``maxReceiveCount`` receives it lands in the dead-letter queue, whose alarm says so. On that last receive its unit is
first recorded as failed (``SYNC_MAX_RECEIVE_COUNT``), so the run ends and shows the failure.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from asana_integration.observability import logger, metrics
from asana_integration.web.dependencies import get_services

processor = BatchProcessor(event_type=EventType.SQS)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    engine = get_services().sync_engine

    def run_record(record: SQSRecord) -> None:
        # Lambda always sends it; a record without it (a test's, a hand-made event) counts as a first receive.
        receive_count = int(record.attributes.get("ApproximateReceiveCount") or 1)
        engine.handle_body(record.body, context.get_remaining_time_in_millis, receive_count=receive_count)

    return process_partial_response(event=event, record_handler=run_record, processor=processor, context=context)
