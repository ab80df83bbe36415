"""Scheduled connection upkeep: re-verify every configured organization (EventBridge Scheduler, hourly).

Verifying calls Asana with the organization's identity, so an OAuth connection is refreshed ahead of expiry (a refresh
token in regular use stays valid, and a dead one is found within the hour, not when an admin next clicks), and the
status the admin page shows stays current. One organization's failure never stops the others.
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from asana_integration.config import get_config
from asana_integration.connections import ConnectionService
from asana_integration.credentials import CredentialStore
from asana_integration.identity import Caller
from asana_integration.observability import logger, metrics
from asana_integration.organization_settings import OrganizationSettingsService
from asana_integration.tenant_urls import tenant_urls
from asana_integration.verification_store import VerificationStore

# Stop starting new organizations when less than this is left, so the run ends cleanly instead of timing out.
TIME_RESERVE_MS = 20_000
# The scheduler acts for no user: not an admin, so it never mints Connect links attributed to itself.
UPKEEP_USER = "system:connection-upkeep"


@cache
def services() -> tuple[OrganizationSettingsService, VerificationStore]:
    config = get_config()
    credentials = CredentialStore(config)
    table = boto3.resource("dynamodb").Table(config.table_name)
    verifications = VerificationStore(table)
    connections = ConnectionService(config, credentials=credentials, dynamodb_table=table)
    return OrganizationSettingsService(config, credentials, connections, verifications), verifications


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    service, verifications = services()
    urls = tenant_urls(get_config(), None)
    states: Counter[str] = Counter()
    for org_id in verifications.organizations():
        if context.get_remaining_time_in_millis() < TIME_RESERVE_MS:
            states["deferred"] += 1  # picked up by the next run
            continue
        caller = Caller(org_id=org_id, user_id=UPKEEP_USER, is_admin=False)
        try:
            states[service.verify(caller, urls, context.get_remaining_time_in_millis).connection.state] += 1
        except Exception:
            # Logged with its traceback; the other organizations still get their upkeep.
            logger.exception("connection upkeep failed", extra={"org_id": org_id})
            states["failed"] += 1
    for state, count in states.items():
        metrics.add_metric(name=f"Upkeep_{state}", unit=MetricUnit.Count, value=count)
    logger.info("connection upkeep finished", extra={"states": dict(states)})
    return {"organizations": sum(states.values()), "states": dict(states)}
