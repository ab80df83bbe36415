"""Connection upkeep: re-verify every configured organization, one run at a time, each run where the last stopped.

Verifying calls Asana with the organization's identity, so an OAuth connection is refreshed ahead of expiry (a refresh
token in regular use stays valid, and a dead one is found within the hour, not when an admin next clicks), and the
status the admin page shows stays current. One organization's failure never stops the others.

* **One run at a time** (overlapping runs would refresh the same tokens): a run takes the lease in
  ``stores/upkeep_lease.py`` or, finding it held, returns at once; that is logged and counted (``UpkeepSkipped``),
  not an error, so Lambda does not retry it.
* **Every organization gets its turn.** A run starts after the organization the previous run reached and wraps
  around. When less than ``TIME_RESERVE_MS`` is left it stops starting new organizations (counted as deferred) and
  the next run starts with them. The cursor moves after each organization, so a run Lambda kills still passes on
  its progress.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from asana_integration.config import Config
from asana_integration.identity import Caller
from asana_integration.observability import logger, metrics
from asana_integration.settings.service import OrganizationSettingsService
from asana_integration.stores.organizations import OrganizationRegistry
from asana_integration.stores.upkeep_lease import UpkeepLease, UpkeepLeaseStore
from asana_integration.tenant_urls import tenant_urls

# Stop starting new organizations when less than this is left, so the run ends cleanly instead of timing out.
TIME_RESERVE_MS = 20_000
# The lease outlives the run by this much: enough to release it, short enough that a killed run blocks little.
LEASE_MARGIN_SECONDS = 30
# The scheduler acts for no user: not an admin, so it never mints Connect links attributed to itself.
UPKEEP_USER = "system:connection-upkeep"


@dataclass
class UpkeepReport:
    """What one invocation did: whether it held the lease, and each organization's outcome by state."""

    ran: bool
    states: Counter[str] = field(default_factory=Counter)
    started_after: str | None = None  # the cursor this run started from
    reached: str | None = None  # the last organization it verified (the next run starts after it, lease permitting)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ran": self.ran,
            "organizations": sum(self.states.values()),
            "states": dict(self.states),
            "started_after": self.started_after,
            "reached": self.reached,
        }


class ConnectionUpkeep:
    def __init__(
        self,
        config: Config,
        settings: OrganizationSettingsService,
        organizations: OrganizationRegistry,
        leases: UpkeepLeaseStore,
    ) -> None:
        self._config = config
        self._settings = settings
        self._organizations = organizations
        self._leases = leases

    def run(self, remaining_time_ms: Callable[[], int]) -> UpkeepReport:
        hold_seconds = remaining_time_ms() / 1000 + LEASE_MARGIN_SECONDS
        # Unique per invocation: a retried event must not find "its own" lease from a run that died.
        lease = self._leases.acquire(uuid.uuid4().hex, hold_seconds)
        if lease is None:
            metrics.add_metric(name="UpkeepSkipped", unit=MetricUnit.Count, value=1)
            logger.info("connection upkeep skipped: another run holds the lease")
            return UpkeepReport(ran=False)
        try:
            report = self._verify_in_turn(lease, remaining_time_ms)
        finally:
            self._leases.release(lease)
        for state, count in report.states.items():
            metrics.add_metric(name=f"Upkeep_{state}", unit=MetricUnit.Count, value=count)
        logger.info("connection upkeep finished", extra=report.to_dict())
        return report

    def _verify_in_turn(self, lease: UpkeepLease, remaining_time_ms: Callable[[], int]) -> UpkeepReport:
        report = UpkeepReport(ran=True, started_after=lease.cursor)
        urls = tenant_urls(self._config, None)
        for org_id in self._organizations.organizations_after(lease.cursor):
            if remaining_time_ms() < TIME_RESERVE_MS:
                report.states["deferred"] += 1  # first in line for the next run
                continue
            caller = Caller(org_id=org_id, user_id=UPKEEP_USER, is_admin=False)
            try:
                report.states[self._settings.verify(caller, urls, remaining_time_ms).connection.state] += 1
            except Exception:
                # Logged with its traceback; the other organizations still get their upkeep.
                logger.exception("connection upkeep failed", extra={"org_id": org_id})
                report.states["failed"] += 1
            report.reached = org_id
            if not self._leases.advance(lease, org_id):
                # Only a run that outlived its lease gets here; another run has taken over and continues.
                logger.warning("connection upkeep lost its lease; stopping", extra={"org_id": org_id})
                break
        return report
