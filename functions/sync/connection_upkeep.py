"""Scheduled connection upkeep: re-verify every configured organization (EventBridge Scheduler, hourly).

Thin by design: the domain (``asana_integration.settings.upkeep``) holds the lease that keeps runs from overlapping
and the cursor that gives every organization its turn; this handler hands it the invocation's remaining time. A run
that finds another one working returns normally, so Lambda does not retry it.
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
    return get_services().connection_upkeep.run(context.get_remaining_time_in_millis).to_dict()
