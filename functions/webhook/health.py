"""The scheduled webhook health check (EventBridge Scheduler, hourly): re-create the webhooks Asana reports failing or
deleted, and those whose heartbeat is overdue; queue an incremental sync for each organization that had one re-created.

What is checked and how a webhook is re-created: ``asana_integration/webhooks/health.py``. The run stops starting
organizations when Lambda's time runs short, and the next run starts after the last one checked.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from asana_integration.observability import logger, metrics
from asana_integration.web.dependencies import get_services


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = get_services().webhook_health.run(lambda: context.get_remaining_time_in_millis() / 1000)
    return report.to_json()
