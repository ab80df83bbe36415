"""The scheduled webhook health check: find the webhooks that stopped working and re-create them.

Hourly, for each organization in turn, each active webhook is judged (``assessment.py``) on Asana's view of it and on
our own record:

* Asana has no such webhook any more (deleted, for example after 24 hours of failed deliveries), reports it inactive,
  or its deliveries are failing since the last success;
* or nothing has reached us from it (heartbeat, delivery) for longer than Asana's 8-hour heartbeat and a margin.

Such a webhook is re-created: a new one on the same resource with the same filters and the same tenant host, through
the very path an admin's create takes (new prefix, handshake, 201 cross-checked). Only once the new one works is the
old one deleted at Asana and here, so a webhook is never dropped for a replacement that failed; a failed re-creation
is recorded on the old webhook and tried again next hour. What happened is recorded on both records (``health``,
``replaces``/``replaced_by``) and counted (``WebhookRecreated``, ``WebhookRecreateFailed``). Events Asana could not
deliver meanwhile are gone (webhooks cannot be replayed), so an incremental sync of the organization is queued: the
next sync reconciles the mirror.

Organizations are visited from the one after the last checked (a cursor), so a run that runs short of time leaves
different ones for the next run, never the same ones twice. One run works at a time (a lease,
``stores/upkeep_lease.py``): EventBridge may deliver a schedule twice, and two runs would re-create the same failing
webhook twice.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from asana_integration.asana.client import AsanaClient
from asana_integration.errors import IntegrationError
from asana_integration.models.webhooks import WebhookKind, WebhookRecord, WebhookState
from asana_integration.observability import logger, metrics
from asana_integration.stores.upkeep_lease import UpkeepLeaseStore
from asana_integration.stores.webhook_details import HealthNote, WebhookDetails, WebhookDetailStore
from asana_integration.stores.webhooks import WebhookStore
from asana_integration.webhooks.api_models import WebhookCreate, WebhookFilter
from asana_integration.webhooks.assessment import assess
from asana_integration.webhooks.management import WebhookManager

# Who re-created a webhook, in its record's created_by.
HEALTH_CHECK_ACTOR = "system:webhook-health"
# An organization is started only with this much time left: its reads, and a re-creation's handshake.
ORGANIZATION_SECONDS = 30.0
# The lease outlives the run's own time by this much, so a run Lambda kills blocks the next one only briefly.
LEASE_MARGIN_SECONDS = 60.0
_LOGGED_PREFIX_CHARS = 8
_FILTER_KEYS = ("resource_type", "resource_subtype", "action", "fields")


@dataclass
class HealthRunReport:
    organizations: int = 0
    webhooks_checked: int = 0
    recreated: int = 0
    recreate_failed: int = 0
    unchecked_organizations: int = 0  # no usable Asana identity, or Asana could not be read
    syncs_requested: int = 0
    stopped_early: bool = False
    ran: bool = True  # False: another run held the lease, and this one did nothing
    events: list[dict[str, Any]] = field(default_factory=list)  # what was done to which webhook, for the log

    def to_json(self) -> dict[str, Any]:
        return {
            "organizations": self.organizations,
            "webhooks_checked": self.webhooks_checked,
            "recreated": self.recreated,
            "recreate_failed": self.recreate_failed,
            "unchecked_organizations": self.unchecked_organizations,
            "syncs_requested": self.syncs_requested,
            "stopped_early": self.stopped_early,
            "ran": self.ran,
        }


class WebhookHealthCheck:
    def __init__(
        self,
        manager: WebhookManager,
        store: WebhookStore,
        details: WebhookDetailStore,
        leases: UpkeepLeaseStore,
        *,
        organizations_after: Callable[[str | None], Iterable[str]],
        client_for: Callable[[str, Callable[[], int]], AsanaClient],
        request_sync: Callable[[str], None],
        default_webhook_url: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._manager = manager
        self._store = store
        self._details = details
        self._leases = leases
        self._organizations_after = organizations_after
        self._client_for = client_for
        self._request_sync = request_sync
        self._default_webhook_url = default_webhook_url
        self._clock = clock

    def run(self, time_left: Callable[[], float]) -> HealthRunReport:
        """Check every organization's webhooks, from the one after the last run's; ``time_left`` in seconds. Another
        run holding the lease: this one leaves at once."""
        # Unique per invocation: a retried event must not find "its own" lease from a run that died.
        lease = self._leases.acquire(uuid.uuid4().hex, time_left() + LEASE_MARGIN_SECONDS)
        if lease is None:
            metrics.add_metric(name="WebhookHealthSkipped", unit=MetricUnit.Count, value=1)
            logger.info("webhook health check skipped: another run holds the lease")
            return HealthRunReport(ran=False)
        try:
            return self._check_in_turn(time_left)
        finally:
            self._leases.release(lease)

    def _check_in_turn(self, time_left: Callable[[], float]) -> HealthRunReport:
        report = HealthRunReport()
        for org_id in self._organizations_after(self._details.health_cursor()):
            if time_left() < ORGANIZATION_SECONDS:
                report.stopped_early = True
                break
            report.organizations += 1
            self._check_organization(org_id, report, lambda: int(time_left() * 1000))
            self._details.set_health_cursor(org_id)
        for name, value in (
            ("WebhookRecreated", report.recreated),
            ("WebhookRecreateFailed", report.recreate_failed),
            ("WebhookHealthUnchecked", report.unchecked_organizations),
        ):
            if value:
                metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        logger.info("webhook health check done", extra=report.to_json())
        return report

    def _check_organization(self, org_id: str, report: HealthRunReport, remaining_ms: Callable[[], int]) -> None:
        records = [
            r for r in self._store.for_org(org_id) if r.state is WebhookState.ACTIVE and r.kind is not WebhookKind.TEST
        ]
        if not records:
            return
        details = self._details.details(r.prefix for r in records)
        try:
            client = self._client_for(org_id, remaining_ms)  # Asana's waits are bounded by Lambda's time
        except IntegrationError as error:
            self._unchecked(org_id, records, f"Not checked: no usable Asana identity ({error.message})", report)
            return
        views = self._manager.asana_views(records, details, lambda: client)
        if views.error is not None:
            self._unchecked(org_id, records, f"Not checked: Asana could not be read ({views.error.message})", report)
            return
        now = self._clock()
        recreated = False
        for record in records:
            current = self._store.get(record.prefix) if record.prefix in views.linked else record
            if current is None or current.state is not WebhookState.ACTIVE:
                continue
            report.webhooks_checked += 1
            gid = current.asana_gid
            assessment = assess(current, views.by_gid.get(gid) if gid else None, views.status_of(current), now)
            if not assessment.needs_recreation:
                self._note(current.prefix, "healthy", assessment.message)
                continue
            recreated |= self._recreate(
                org_id, current, details.get(current.prefix), reason=assessment.message, client=client, report=report
            )
        if recreated:
            self._request_sync(org_id)
            report.syncs_requested += 1

    def _recreate(
        self,
        org_id: str,
        record: WebhookRecord,
        details: WebhookDetails | None,
        *,
        reason: str,
        client: AsanaClient,
        report: HealthRunReport,
    ) -> bool:
        if record.resource_gid is None:
            # Made by hand, and Asana does not list it for our identity: there is nothing to re-create it from.
            self._note(record.prefix, "unchecked", f"{reason} It cannot be re-created: its resource is unknown.")
            return False
        request = WebhookCreate(resource=record.resource_gid, filters=_filters(record.filters))
        webhook_url = _webhook_url(details, record.prefix) or self._default_webhook_url
        try:
            created = self._manager.create(
                org_id, HEALTH_CHECK_ACTOR, request, webhook_url, client, replaces=record.prefix
            )
        except IntegrationError as error:
            report.recreate_failed += 1
            self._note(record.prefix, "recreate_failed", f"{reason} Re-creating it failed: {error.message}")
            logger.warning(
                "webhook re-creation failed",
                extra={"org_id": org_id, "webhook": record.prefix[:_LOGGED_PREFIX_CHARS], "error_code": error.code},
            )
            return False
        # The replacement works: only now is the old one retired (at Asana, where it may be gone already, and here).
        if record.asana_gid:
            self._manager.delete_at_asana(client, record.asana_gid)
        self._store.mark_deleted(record.prefix)
        self._details.mark_replaced(record.prefix, created.id)
        self._note(record.prefix, "recreated", f"{reason} Re-created as webhook {created.gid}.")
        self._note(created.id, "recreated", f"Re-created from webhook {record.asana_gid or 'made by hand'}: {reason}")
        report.recreated += 1
        logger.info(
            "webhook re-created",
            extra={
                "org_id": org_id,
                "webhook": record.prefix[:_LOGGED_PREFIX_CHARS],
                "new_webhook": created.id[:_LOGGED_PREFIX_CHARS],
                "asana_gid": created.gid,
            },
        )
        return True

    def _unchecked(self, org_id: str, records: list[WebhookRecord], message: str, report: HealthRunReport) -> None:
        report.unchecked_organizations += 1
        logger.warning("webhooks of an organization not checked", extra={"org_id": org_id})
        for record in records:
            self._note(record.prefix, "unchecked", message)

    def _note(self, prefix: str, outcome: str, message: str) -> None:
        self._details.note_health(prefix, HealthNote(checked_at=int(self._clock()), outcome=outcome, message=message))


def _filters(stored: Iterable[Mapping[str, Any]]) -> list[WebhookFilter]:
    """The record's filters as a create takes them (a hand-made webhook's come from Asana and may carry nulls)."""
    return [
        WebhookFilter.model_validate({key: value for key, value in f.items() if key in _FILTER_KEYS and value})
        for f in stored
    ]


def _webhook_url(details: WebhookDetails | None, prefix: str) -> str | None:
    """The tenant's webhook URL the webhook was registered under: its target without the prefix."""
    target = details.target_url if details else None
    suffix = f"/{prefix}"
    return target[: -len(suffix)] if target and target.endswith(suffix) else None
