"""Scheduled connection upkeep: re-verify every configured organization (EventBridge Scheduler, hourly).

Verifying calls Asana with the organization's identity, so an OAuth connection is refreshed ahead of expiry (a refresh
token in regular use stays valid, and a dead one is found within the hour, not when an admin next clicks), and the
status the admin page shows stays current. One organization's failure never stops the others.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from asana_integration.identity import Caller
from asana_integration.observability import logger, metrics
from asana_integration.tenant_urls import tenant_urls
from asana_integration.web.dependencies import get_services

# Stop starting new organizations when less than this is left, so the run ends cleanly instead of timing out.
TIME_RESERVE_MS = 20_000
# The scheduler acts for no user: not an admin, so it never mints Connect links attributed to itself.
UPKEEP_USER = "system:connection-upkeep"


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    services = get_services()
    urls = tenant_urls(services.config, None)
    states: Counter[str] = Counter()
    for org_id in services.organizations.organizations():
        if context.get_remaining_time_in_millis() < TIME_RESERVE_MS:
            states["deferred"] += 1  # picked up by the next run
            continue
        caller = Caller(org_id=org_id, user_id=UPKEEP_USER, is_admin=False)
        try:
            states[services.settings.verify(caller, urls, context.get_remaining_time_in_millis).connection.state] += 1
        except Exception:
            # Logged with its traceback; the other organizations still get their upkeep.
            logger.exception("connection upkeep failed", extra={"org_id": org_id})
            states["failed"] += 1
    for state, count in states.items():
        metrics.add_metric(name=f"Upkeep_{state}", unit=MetricUnit.Count, value=count)
    logger.info("connection upkeep finished", extra={"states": dict(states)})
    return {"organizations": sum(states.values()), "states": dict(states)}
