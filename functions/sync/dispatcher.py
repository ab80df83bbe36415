"""The sync dispatcher: on each schedule (EventBridge Scheduler), one start message per connected organization.

The schedule's input says which pass: ``{"mode": "incremental"}`` (imported projects' changes, often) or
``{"mode": "full"}`` (everything, less often). Only organizations whose last verification is ``connected`` are
started: the hourly connection upkeep re-verifies the others, and they join the next pass once they are connected.
The messages go ten to a request; the workers do the rest (``functions/sync/worker.py``).
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from asana_integration.models.sync import SyncMode
from asana_integration.observability import logger, metrics
from asana_integration.sync.units import StartMessage, new_run_id
from asana_integration.web.dependencies import get_services


class ScheduleInput(BaseModel):
    """The schedule's ``Input`` (template.yaml): which pass to run."""

    model_config = ConfigDict(extra="ignore")

    mode: SyncMode


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    mode = ScheduleInput.model_validate(event).mode
    services = get_services()
    now = time.time()
    messages = [
        StartMessage(org_id=org_id, run_id=new_run_id(now), mode=mode, trigger="schedule")
        for org_id in services.organizations.organizations_in_state("connected")
    ]
    requests = services.sync_queue.send(messages)
    metrics.add_metric(name="SyncRunsDispatched", unit=MetricUnit.Count, value=len(messages))
    logger.info("sync dispatched", extra={"mode": mode, "organizations": len(messages), "sqs_requests": requests})
    return {"mode": mode, "organizations": len(messages), "sqs_requests": requests}
