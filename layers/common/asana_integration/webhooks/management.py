"""Webhook management (issue 10): create webhooks in Asana, arm a window for one made by hand, list them with Asana's
view of their health, delete them. The receiving half (``receiver.py``) accepts what this arms.

**Create** (``create``): a pending record with an unguessable prefix is stored first, armed for one handshake for a
minute; then Asana's ``POST /webhooks`` gets the tenant's webhook URL plus ``/<prefix>`` as its target. Asana
handshakes with that URL while the call is open, and the webhook function stores the secret it brings (one
conditional write). When Asana's 201 comes back, the secret in its body must be the one stored, compared in constant
time. If it is not (someone else answered the handshake, or nothing reached us), the webhook is deleted at Asana at
once, the record is marked deleted and the admin is told: the secret is the only thing that authenticates
deliveries, and one we did not receive ourselves proves nothing.

**Expect** (``expect``): the seed's second way, a webhook an admin makes in Asana by hand. A prefix is armed for one
handshake for a few minutes and its URL returned; the handshake makes it active (no 201 reaches us to cross-check).
Its Asana gid, resource and filters are learnt later from Asana's list, matched by target URL.

Asana is always called with the organization's identity (PAT, else an admin's OAuth connection), handed in as a
factory so that routes which do not need Asana never resolve it. Nothing here logs a secret or a full prefix: until
its handshake, a prefix is the capability to plant a secret.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from aws_lambda_powertools.metrics import MetricUnit

from asana_integration.asana.client import AsanaClient
from asana_integration.errors import (
    FIX_WEBHOOK_UNREACHABLE,
    SEED_WEBHOOK_UNREACHABLE,
    AsanaError,
    AsanaForbidden,
    AsanaNotFound,
    IntegrationError,
    NotFound,
)
from asana_integration.models.webhooks import WebhookKind, WebhookRecord, WebhookState
from asana_integration.observability import logger, metrics
from asana_integration.stores.webhook_details import WebhookDetails, WebhookDetailStore
from asana_integration.stores.webhooks import WebhookStore, is_prefix
from asana_integration.webhooks.api_models import (
    AsanaWebhookHealth,
    ErrorInfo,
    HandshakeWindow,
    HealthCheckNote,
    ResourceRef,
    WebhookCreate,
    WebhookDeleted,
    WebhookList,
    WebhookView,
)
from asana_integration.webhooks.assessment import AsanaStatus, assess, iso

ClientFactory = Callable[[], AsanaClient]

# Asana handshakes while its POST /webhooks is open: the window only has to outlast that call.
HANDSHAKE_WINDOW_SECONDS = 60
# Long enough to create a webhook by hand in Asana's API explorer or a script, short enough to be of little use to
# anyone who learns the URL later.
EXPECT_WINDOW_SECONDS = 300
WEBHOOK_FIELDS = (
    "active",
    "target",
    "created_at",
    "resource.name",
    "resource.resource_type",
    "filters",
    "last_success_at",
    "last_failure_at",
    "last_failure_content",
    "delivery_retry_count",
    "next_attempt_after",
    "failure_deletion_timestamp",
)
_LOGGED_PREFIX_CHARS = 8  # as the receiver logs it: enough to find the record, too little to use it
# Up to this many webhooks are read one GET each; more are read from Asana's list (100 a page) instead.
MAX_SINGLE_READS = 3
_GID_CHARS = frozenset("0123456789")


class WebhookHandshakeFailed(AsanaError):
    """Asana could not complete the handshake with the tenant's webhook URL: the seed's webhook troubleshooting row."""

    status = 502
    code = "webhook_handshake_failed"


class WebhookSecretMismatch(AsanaError):
    """Asana's 201 carried a secret other than the one the handshake brought us: the webhook was deleted at Asana."""

    status = 502
    code = "webhook_secret_mismatch"


class WebhookManager:
    def __init__(
        self, store: WebhookStore, details: WebhookDetailStore, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._details = details
        self._clock = clock

    # --- Create -----------------------------------------------------------------------------------------------------

    def create(
        self,
        org_id: str,
        created_by: str,
        request: WebhookCreate,
        webhook_url: str,
        client: AsanaClient,
        *,
        replaces: str | None = None,
    ) -> WebhookView:
        filters = [f.model_dump(exclude_none=True) for f in request.filters]
        prefix = self._store.create_pending(
            org_id,
            WebhookKind.CREATED,
            resource=request.resource,
            filters=filters,
            created_by=created_by,
            deadline=self._clock() + HANDSHAKE_WINDOW_SECONDS,
        )
        target = f"{webhook_url}/{prefix}"
        self._details.set_target(prefix, target, replaces=replaces)
        data: dict[str, Any] = {"resource": request.resource, "target": target}
        if filters:
            data["filters"] = filters
        try:
            envelope = client.request(
                "POST", "/webhooks", params={"opt_fields": ",".join(WEBHOOK_FIELDS)}, json={"data": data}
            )
        except AsanaError as error:
            self._store.mark_deleted(prefix)
            raise self._create_failed(error, prefix, webhook_url) from error
        except BaseException:
            self._store.mark_deleted(prefix)  # whatever Asana did, this prefix accepts nothing more
            raise
        data_field = envelope.get("data")
        webhook: dict[str, Any] = data_field if isinstance(data_field, dict) else {}
        gid = webhook.get("gid")
        if not _is_gid(gid):
            self._store.mark_deleted(prefix)
            raise AsanaError(
                "Asana's answer to creating a webhook did not carry the new webhook's gid.",
                "A proxy may be answering instead of Asana: check ASANA_PROXY and ASANA_API_BASE_URL.",
                code="asana_bad_response",
            )
        asana_gid = str(gid)
        confirmed = self._secret_confirmed(prefix, envelope.get("X-Hook-Secret"))
        if not confirmed or not self._store.activate(prefix, asana_gid):
            self._refuse_unconfirmed(client, org_id, prefix, asana_gid, webhook_url)
        resource = webhook.get("resource")
        if isinstance(resource, Mapping) and isinstance(resource.get("name"), str):
            self._details.set_resource_name(prefix, str(resource["name"]))
        metrics.add_metric(name="WebhookCreated", unit=MetricUnit.Count, value=1)
        logger.info(
            "webhook created",
            extra={"org_id": org_id, "webhook": prefix[:_LOGGED_PREFIX_CHARS], "asana_gid": asana_gid},
        )
        return self._view_of(prefix, webhook, "ok")

    def _secret_confirmed(self, prefix: str, returned: object) -> bool:
        """Whether Asana's 201 carries exactly the secret the handshake stored (constant-time comparison)."""
        stored = self._store.secret_for(prefix)
        if stored is None or not isinstance(returned, str) or not returned:
            return False
        return hmac.compare_digest(stored.encode("utf-8"), returned.encode("utf-8"))

    def _refuse_unconfirmed(
        self, client: AsanaClient, org_id: str, prefix: str, asana_gid: str, webhook_url: str
    ) -> NoReturn:
        deleted = self._delete_at_asana(client, asana_gid, best_effort=True)
        self._store.mark_deleted(prefix)
        metrics.add_metric(name="WebhookSecretMismatch", unit=MetricUnit.Count, value=1)
        logger.warning(
            "webhook refused: the secret in Asana's answer is not the one the handshake brought",
            extra={"org_id": org_id, "webhook": prefix[:_LOGGED_PREFIX_CHARS], "asana_gid": asana_gid},
        )
        cleanup = (
            "It was deleted at Asana."
            if deleted
            else f"Deleting it at Asana failed: delete webhook {asana_gid} in Asana (SecureDB refuses its deliveries "
            "meanwhile, so Asana also deletes it within 24 hours)."
        )
        raise WebhookSecretMismatch(
            "Asana created the webhook, but the secret in its answer is not the one SecureDB received in the "
            f"handshake, so the webhook was not accepted. {cleanup}",
            f"Another server may be answering the handshake for {webhook_url} (a proxy, a CDN or a DNS name pointing "
            "elsewhere). Run the test handshake to check that the URL reaches this SecureDB deployment, then create "
            "the webhook again.",
        )

    def _create_failed(self, error: AsanaError, prefix: str, webhook_url: str) -> AsanaError:
        """The error to show when Asana did not create the webhook. A failed handshake is the seed's error."""
        if not _is_handshake_failure(error):
            error.fix = f"{error.fix} Nothing was created."
            return error
        record = self._store.get(prefix)
        reached = record is not None and record.handshake_at is not None
        seen = (
            "SecureDB received the handshake and answered it, so the answer did not get back to Asana in time (a "
            "proxy or firewall on the way back, or an answer slower than Asana waits)."
            if reached
            else "The handshake never reached SecureDB."
        )
        metrics.add_metric(name="WebhookHandshakeFailed", unit=MetricUnit.Count, value=1)
        return WebhookHandshakeFailed(
            f"{SEED_WEBHOOK_UNREACHABLE}: Asana could not complete the handshake with {webhook_url}. {seen} "
            f"Asana said: {error.message}",
            FIX_WEBHOOK_UNREACHABLE.format(webhook_url=webhook_url)
            + " Run the test handshake to see which step fails. Nothing was created.",
        )

    # --- Expect a webhook made by hand -----------------------------------------------------------------------------

    def expect(self, org_id: str, created_by: str, webhook_url: str) -> HandshakeWindow:
        now = self._clock()
        deadline = int(now) + EXPECT_WINDOW_SECONDS
        prefix = self._store.create_pending(
            org_id, WebhookKind.EXPECTED_MANUAL, resource=None, filters=[], created_by=created_by, deadline=deadline
        )
        target = f"{webhook_url}/{prefix}"
        self._details.set_target(prefix, target)
        logger.info("webhook handshake armed", extra={"org_id": org_id, "webhook": prefix[:_LOGGED_PREFIX_CHARS]})
        return HandshakeWindow(
            id=prefix,
            target_url=target,
            expires_at=str(iso(deadline)),
            expires_in_seconds=EXPECT_WINDOW_SECONDS,
        )

    # --- List -------------------------------------------------------------------------------------------------------

    def list_webhooks(
        self, org_id: str, webhook_url: str, client_for: ClientFactory, *, include_deleted: bool = False
    ) -> WebhookList:
        records = [
            r
            for r in self._store.for_org(org_id)
            if r.kind is not WebhookKind.TEST and (include_deleted or r.state is not WebhookState.DELETED)
        ]
        details = self._details.details(r.prefix for r in records)
        views = self.asana_views(records, details, client_for)
        # A hand-made webhook linked just now: read again, with the gid, resource and filters Asana showed.
        records = [(self._store.get(r.prefix) or r) if r.prefix in views.linked else r for r in records]
        now = self._clock()
        data = [self._view(r, details.get(r.prefix), views, now) for r in records]
        data.sort(key=lambda view: view.created_at, reverse=True)
        return WebhookList(data=data, webhook_url=webhook_url, asana_error=views.error)

    def asana_views(
        self, records: Iterable[WebhookRecord], details: Mapping[str, WebhookDetails], client_for: ClientFactory
    ) -> AsanaViews:
        """Asana's view of each live webhook: its gid's, or (made by hand) the one Asana lists with its target URL,
        which is then linked to the record. Asana being unreachable leaves the views empty and says why."""
        live = [r for r in records if r.state is not WebhookState.DELETED]
        with_gid = [r for r in live if r.asana_gid]
        unlinked = [r for r in live if r.asana_gid is None and r.state is WebhookState.ACTIVE]
        views = AsanaViews({}, frozenset(), None, frozenset())
        if not with_gid and not unlinked:
            return views
        try:
            client = client_for()
            listed = self._listed(client) if unlinked or len(with_gid) > MAX_SINGLE_READS else {}
            by_gid: dict[str, dict[str, Any]] = {}
            missing: set[str] = set()
            linked: set[str] = set()
            for record in unlinked:
                target = details.get(record.prefix, WebhookDetails(record.prefix)).target_url
                found = next((w for w in listed.values() if target and w.get("target") == target), None)
                if found is not None and self._link(record, found):
                    by_gid[str(found["gid"])] = found
                    linked.add(record.prefix)
            for record in with_gid:
                gid = str(record.asana_gid)
                view = listed.get(gid) or self._get_at_asana(client, gid)
                if view is None:
                    missing.add(gid)
                else:
                    by_gid[gid] = view
        except IntegrationError as error:
            logger.warning("asana's view of the webhooks could not be read", extra={"error_code": error.code})
            return AsanaViews({}, frozenset(), ErrorInfo(code=error.code, message=error.message, fix=error.fix))
        return AsanaViews(by_gid, frozenset(missing), None, frozenset(linked))

    def _listed(self, client: AsanaClient) -> dict[str, dict[str, Any]]:
        """Every webhook Asana lists for this identity (and app), in every workspace it sees, by gid."""
        found: dict[str, dict[str, Any]] = {}
        for workspace in client.iterate("/workspaces", opt_fields=("name",)):
            workspace_gid = workspace.get("gid")
            if not _is_gid(workspace_gid):
                continue
            for webhook in client.iterate("/webhooks", {"workspace": str(workspace_gid)}, opt_fields=WEBHOOK_FIELDS):
                if _is_gid(webhook.get("gid")):
                    found[str(webhook["gid"])] = webhook
        return found

    def _get_at_asana(self, client: AsanaClient, gid: str) -> dict[str, Any] | None:
        try:
            return client.get(f"/webhooks/{gid}", opt_fields=WEBHOOK_FIELDS)
        except (AsanaNotFound, AsanaForbidden):
            return None  # deleted, or not this identity's to see: either way Asana does not deliver it for us

    def _link(self, record: WebhookRecord, webhook: Mapping[str, Any]) -> bool:
        found = webhook.get("resource")
        resource: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        filters = webhook.get("filters")
        linked = self._details.link(
            record.prefix,
            asana_gid=str(webhook["gid"]),
            resource_gid=str(resource["gid"]) if _is_gid(resource.get("gid")) else None,
            resource_type=str(resource["resource_type"]) if isinstance(resource.get("resource_type"), str) else None,
            resource_name=str(resource["name"]) if isinstance(resource.get("name"), str) else None,
            filters=[dict(f) for f in filters if isinstance(f, Mapping)] if isinstance(filters, list) else [],
        )
        if linked:
            logger.info(
                "hand-made webhook found in asana",
                extra={"webhook": record.prefix[:_LOGGED_PREFIX_CHARS], "asana_gid": webhook["gid"]},
            )
        return linked

    # --- Delete -----------------------------------------------------------------------------------------------------

    def delete(self, org_id: str, webhook_id: str, client_for: ClientFactory) -> WebhookDeleted:
        """Delete one of the organization's webhooks at Asana, then here. If Asana cannot be reached, nothing changes
        (the error says so) and the admin can try again; a webhook Asana no longer has is only deleted here."""
        client_for = _once(client_for)
        record = self._find(org_id, webhook_id)
        if record is None:
            raise NotFound(
                "This organization has no such webhook.",
                "Refresh the list of webhooks: it may have been deleted already.",
                code="webhook_not_found",
            )
        gid = record.asana_gid
        note = None
        if gid is None and record.state is WebhookState.ACTIVE:
            details = self._details.details([record.prefix])
            views = self.asana_views([record], details, client_for)
            if views.error is not None:
                raise AsanaError(views.error.message, views.error.fix, code=views.error.code)
            gid = next(iter(views.by_gid), None)
            if gid is None:
                note = (
                    "Asana does not list this webhook for the integration's identity, so it was only deleted here: "
                    "SecureDB refuses its deliveries from now on, and Asana deletes it after 24 hours of refusals. "
                    "Delete it in Asana with the token that created it to stop it at once."
                )
        deleted_at_asana = self._delete_at_asana(client_for(), gid, best_effort=False) if gid else False
        self._store.mark_deleted(record.prefix)
        metrics.add_metric(name="WebhookDeleted", unit=MetricUnit.Count, value=1)
        logger.info(
            "webhook deleted",
            extra={"org_id": org_id, "webhook": record.prefix[:_LOGGED_PREFIX_CHARS], "at_asana": deleted_at_asana},
        )
        return WebhookDeleted(id=record.prefix, gid=gid, deleted_at_asana=deleted_at_asana, note=note)

    def delete_all(self, org_id: str, client_for: ClientFactory) -> int:
        """Disconnecting the organization: each webhook deleted at Asana (best effort: the disconnect goes on when
        Asana cannot be reached) and here, where its deliveries are refused from now on. Returns how many."""
        records = [r for r in self._store.for_org(org_id) if r.state is not WebhookState.DELETED]
        client: AsanaClient | None = None
        if any(r.asana_gid for r in records):
            try:
                client = client_for()
            except IntegrationError as error:
                logger.warning(
                    "webhooks not deleted at asana: no usable identity", extra={"org_id": org_id, "code": error.code}
                )
        for record in records:
            if client is not None and record.asana_gid:
                self._delete_at_asana(client, record.asana_gid, best_effort=True)
            self._store.mark_deleted(record.prefix)
        if records:
            logger.info("webhooks of the organization deleted", extra={"org_id": org_id, "count": len(records)})
        return len(records)

    def delete_at_asana(self, client: AsanaClient, gid: str) -> bool:
        """Best effort: True when Asana deleted the webhook now; a failure is logged and counted, never raised."""
        return self._delete_at_asana(client, gid, best_effort=True)

    def _delete_at_asana(self, client: AsanaClient, gid: str, *, best_effort: bool) -> bool:
        """True when Asana deleted it now; False when it had no such webhook (or, best effort, could not be asked)."""
        try:
            client.delete(f"/webhooks/{gid}")
        except (AsanaNotFound, AsanaForbidden):
            return False
        except IntegrationError as error:
            if not best_effort:
                raise
            logger.warning("webhook not deleted at asana", extra={"asana_gid": gid, "error_code": error.code})
            metrics.add_metric(name="WebhookDeleteFailed", unit=MetricUnit.Count, value=1)
            return False
        return True

    def _find(self, org_id: str, webhook_id: str) -> WebhookRecord | None:
        """The organization's live webhook with this Asana gid or prefix; never another organization's."""
        if is_prefix(webhook_id):
            record = self._store.get(webhook_id)
            if record is not None and record.org_id == org_id and _manageable(record):
                return record
        if set(webhook_id) <= _GID_CHARS:
            return next((r for r in self._store.for_org(org_id) if r.asana_gid == webhook_id and _manageable(r)), None)
        return None

    # --- Views ------------------------------------------------------------------------------------------------------

    def _view_of(self, prefix: str, asana_view: Mapping[str, Any] | None, status: AsanaStatus) -> WebhookView:
        record = self._store.get(prefix)
        if record is None:  # just written: only a TTL sweep between two reads could remove it
            raise RuntimeError("the webhook record disappeared")
        details = self._details.details([prefix])
        views = AsanaViews(
            {str(record.asana_gid): dict(asana_view)} if asana_view and record.asana_gid else {}, frozenset(), None
        )
        return self._view(record, details.get(prefix), views, self._clock(), status)

    def _view(
        self,
        record: WebhookRecord,
        details: WebhookDetails | None,
        views: AsanaViews,
        now: float,
        status: AsanaStatus | None = None,
    ) -> WebhookView:
        gid = record.asana_gid
        view = views.by_gid.get(gid) if gid else None
        if status is None:
            status = views.status_of(record)
        assessment = assess(record, view, status, now)
        resource = None
        if record.resource_gid:
            name = details.resource_name if details else None
            resource = ResourceRef(gid=record.resource_gid, resource_type=record.resource_type, name=name)
        note = details.health if details else None
        return WebhookView(
            id=record.prefix,
            gid=gid,
            kind="expected-manual" if record.kind is WebhookKind.EXPECTED_MANUAL else "created",
            state=record.state.value,
            resource=resource,
            filters=[dict(f) for f in record.filters],
            target_url=details.target_url if details else None,
            created_at=str(iso(record.created_at)),
            created_by=record.created_by,
            handshake_deadline=iso(record.handshake_deadline) if record.state is WebhookState.PENDING else None,
            handshake_at=iso(record.handshake_at),
            last_heartbeat_at=iso(record.last_heartbeat_at),
            last_delivery_at=iso(record.last_delivery_at),
            asana=AsanaWebhookHealth.model_validate(_health_fields(view)) if view is not None else None,
            asana_status=status,
            health=assessment.health,
            health_message=assessment.message,
            last_check=HealthCheckNote(checked_at=str(iso(note.checked_at)), outcome=note.outcome, message=note.message)
            if note
            else None,
            replaces=details.replaces if details else None,
        )


@dataclass(frozen=True, slots=True)
class AsanaViews:
    """Asana's view of an organization's webhooks, as far as it could be read."""

    by_gid: dict[str, dict[str, Any]]
    missing: frozenset[str]  # gids Asana answered 404 (or 403) for
    error: ErrorInfo | None
    linked: frozenset[str] = frozenset()  # prefixes of hand-made webhooks found (and linked) just now

    def status_of(self, record: WebhookRecord) -> AsanaStatus:
        if record.state is not WebhookState.ACTIVE:
            return "not_asked"
        if self.error is not None:
            return "unavailable"
        gid = record.asana_gid
        if gid is None:
            return "not_linked"
        if gid in self.missing:
            return "not_found"
        return "ok" if gid in self.by_gid else "not_asked"


def _once(factory: ClientFactory) -> ClientFactory:
    """The factory's client, made on first use and then reused (resolving the identity reads Secrets Manager)."""
    made: list[AsanaClient] = []

    def client() -> AsanaClient:
        if not made:
            made.append(factory())
        return made[0]

    return client


def _health_fields(view: Mapping[str, Any]) -> dict[str, Any]:
    fields = set(AsanaWebhookHealth.model_fields)
    return {key: value for key, value in view.items() if key in fields}


def _manageable(record: WebhookRecord) -> bool:
    return record.kind is not WebhookKind.TEST and record.state is not WebhookState.DELETED


def _is_gid(value: object) -> bool:
    return isinstance(value, str) and _GID_CHARS.issuperset(value) and 0 < len(value) <= 32


def _is_handshake_failure(error: AsanaError) -> bool:
    """Whether Asana refused the create because the handshake with the target failed (or the target is unusable).

    Asana documents no code for it; its message names the handshake or the target URL (sandbox: the wording Asana's
    forum reports). A rejected filter or resource is passed on as Asana put it instead."""
    if error.status not in (400, 403):
        return False
    text = error.message.lower()
    return "handshake" in text or "target" in text
