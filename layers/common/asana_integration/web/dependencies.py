"""The one wiring module: configuration, AWS clients, stores and services, built once per execution environment.

Route handlers receive what they need through Powertools' ``Depends``::

    def get_settings(service: Annotated[OrganizationSettingsService, Depends(get_settings_service)]) -> ...

Everything hangs off one ``Services`` per execution environment (``get_services``), built piece by piece on first
use, so a cold start pays only for the clients its route needs and a warm one reuses them (and their caches). Tests
replace the whole environment at once with ``app.dependency_overrides[get_services] = lambda: Services()``.

On AWS an execution environment has one configuration for its lifetime. The local gateway runs every function in
one process, and tests switch environments by clearing ``get_config``; the services follow the configuration object,
so a new configuration gets new clients instead of ones bound to an environment that is gone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Annotated

import boto3
import requests
from aws_lambda_powertools.event_handler.depends import Depends

from asana_integration.asana.client import AsanaClient, CallObserver
from asana_integration.asana.transport import build_session
from asana_integration.config import Config, get_config
from asana_integration.connections.service import ConnectionService
from asana_integration.identity import Caller
from asana_integration.mapping.service import UserDirectory
from asana_integration.settings.access import OrganizationAccessResolver
from asana_integration.settings.service import OrganizationSettingsService
from asana_integration.settings.upkeep import ConnectionUpkeep
from asana_integration.stores.connections import ConnectionStore
from asana_integration.stores.credential_revisions import CredentialRevisionStore
from asana_integration.stores.credentials import CredentialStore
from asana_integration.stores.field_crypto import TokenCipher, WebhookSecretCipher
from asana_integration.stores.mirror import MirrorStore
from asana_integration.stores.mirror_lookup import MirrorLookup
from asana_integration.stores.organizations import OrganizationRegistry
from asana_integration.stores.signed_in_users import SignedInUserStore
from asana_integration.stores.sync_state import SyncStateStore
from asana_integration.stores.upkeep_lease import WEBHOOK_HEALTH, UpkeepLeaseStore
from asana_integration.stores.user_mappings import ManualMappingStore
from asana_integration.stores.verifications import VerificationStore
from asana_integration.stores.webhook_details import WebhookDetailStore
from asana_integration.stores.webhooks import WebhookStore
from asana_integration.sync.engine import SyncEngine
from asana_integration.sync.queue import UnitQueue
from asana_integration.sync.rate_budget import RateBudget
from asana_integration.sync.starter import SyncStarter
from asana_integration.sync.units import StartMessage, new_run_id
from asana_integration.sync_admin.service import SyncAdmin
from asana_integration.tenant_urls import TenantUrls, tenant_urls
from asana_integration.webhooks.health import HEALTH_CHECK_ACTOR, WebhookHealthCheck
from asana_integration.webhooks.management import WebhookManager
from asana_integration.webhooks.test_handshake import HandshakeTester

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class Services:
    """The stores and services of one execution environment, each built on first use and then kept.

    Without a ``config`` the environment's own is read on first use (so a test may still change it before then).
    """

    def __init__(self, config: Config | None = None) -> None:
        if config is not None:
            self.config = config

    @cached_property
    def config(self) -> Config:
        return get_config()

    @cached_property
    def table(self) -> Table:
        return boto3.resource("dynamodb").Table(self.config.table_name)

    @cached_property
    def credentials(self) -> CredentialStore:
        return CredentialStore(self.config, revisions=CredentialRevisionStore(self.table))

    @cached_property
    def verifications(self) -> VerificationStore:
        return VerificationStore(self.table)

    @cached_property
    def organizations(self) -> OrganizationRegistry:
        return OrganizationRegistry(self.table)

    @cached_property
    def connections(self) -> ConnectionService:
        return ConnectionService(self.config, credentials=self.credentials, dynamodb_table=self.table)

    @cached_property
    def settings(self) -> OrganizationSettingsService:
        return OrganizationSettingsService(
            self.config,
            self.credentials,
            self.connections,
            self.verifications,
            self.organizations,
            # A lambda, so the webhook manager (and its KMS client) is built only when an organization disconnects.
            delete_webhooks=lambda org_id, client_for: self.webhook_manager.delete_all(org_id, client_for),  # noqa: PLW0108
        )

    @cached_property
    def connection_upkeep(self) -> ConnectionUpkeep:
        return ConnectionUpkeep(self.config, self.settings, self.organizations, UpkeepLeaseStore(self.table))

    # --- The data sync's mirror (MirrorTable) and the users' mapping ----------------------------------------------

    @cached_property
    def mirror_table(self) -> Table:
        if self.config.mirror_table_name is None:
            raise RuntimeError("MIRROR_TABLE_NAME is not set: this function has no access to the mirror table")
        return boto3.resource("dynamodb").Table(self.config.mirror_table_name)

    @cached_property
    def mirror(self) -> MirrorStore:
        return MirrorStore(self.mirror_table)

    @cached_property
    def signed_in_users(self) -> SignedInUserStore:
        return SignedInUserStore(self.mirror_table)

    @cached_property
    def user_directory(self) -> UserDirectory:
        # Listing connections reads who authorized as whom; it never decrypts a token, so KMS is never called.
        connection_records = ConnectionStore(self.table, TokenCipher(boto3.client("kms"), self.config.kms_key_id))
        return UserDirectory(
            self.mirror,
            MirrorLookup(self.mirror_table),
            ManualMappingStore(self.mirror_table),
            self.signed_in_users,
            connection_records,
        )

    # --- The data sync's engine: its bookkeeping, queue, rate budgets and the Asana identity it acts with ----------

    @cached_property
    def sync_state(self) -> SyncStateStore:
        return SyncStateStore(self.mirror_table)

    @cached_property
    def sync_queue(self) -> UnitQueue:
        if self.config.sync_queue_url is None:
            raise RuntimeError("SYNC_QUEUE_URL is not set: this function cannot queue sync work")
        return UnitQueue(boto3.client("sqs"), self.config.sync_queue_url)

    @cached_property
    def sync_starter(self) -> SyncStarter:
        return SyncStarter(self.sync_state, self.sync_queue)

    @cached_property
    def sync_admin(self) -> SyncAdmin:
        return SyncAdmin(
            self.sync_state, self.mirror, MirrorLookup(self.mirror_table), self.organizations, self.sync_starter
        )

    @cached_property
    def access(self) -> OrganizationAccessResolver:
        return OrganizationAccessResolver(self.config, self.credentials, self.connections)

    @cached_property
    def sync_engine(self) -> SyncEngine:
        return SyncEngine(
            state=self.sync_state,
            mirror=self.mirror,
            queue=self.sync_queue,
            clients=self.sync_client,
            budgets=self.rate_budget,
            scopes_mode=self.config.oauth_scopes_mode,
            asana_timeout_seconds=self.config.asana_timeout_seconds,
            max_receive_count=self.config.sync_max_receive_count,
        )

    @cached_property
    def asana_session(self) -> requests.Session:
        """One HTTP session for the sync's calls to Asana: a warm worker reuses its TLS connections unit after unit."""
        return build_session(self.config)

    def sync_client(self, org_id: str, observer: CallObserver, remaining_ms: Callable[[], int]) -> AsanaClient:
        """The organization's Asana client for the sync: the same identity as everywhere (PAT > org OAuth)."""
        caller = Caller(org_id=org_id, user_id=SYNC_USER, is_admin=False)
        access = self.access.resolve(caller, tenant_urls(self.config, None), remaining_time_ms=remaining_ms)
        return AsanaClient(
            access.token_source,
            self.config,
            session=self.asana_session,
            remaining_time_ms=remaining_ms,
            observer=observer,
        )

    def rate_budget(self, org_id: str, time_left: Callable[[], float]) -> RateBudget:
        return RateBudget(self.mirror_table, org_id, self.config.asana_rate_limit_per_minute, time_left=time_left)

    # --- Webhook management (issue 10): the records' management side, the test handshake, the health check -------

    @cached_property
    def webhook_store(self) -> WebhookStore:
        return WebhookStore(self.table, WebhookSecretCipher(boto3.client("kms"), self.config.kms_key_id))

    @cached_property
    def webhook_details(self) -> WebhookDetailStore:
        return WebhookDetailStore(self.table)

    @cached_property
    def webhook_manager(self) -> WebhookManager:
        return WebhookManager(self.webhook_store, self.webhook_details)

    @cached_property
    def handshake_tester(self) -> HandshakeTester:
        proxied = bool(self.config.asana_proxy or self.config.asana_proxy_secret_arn)
        return HandshakeTester(self.webhook_store, proxy_configured=proxied)

    @cached_property
    def webhook_health(self) -> WebhookHealthCheck:
        return WebhookHealthCheck(
            self.webhook_manager,
            self.webhook_store,
            self.webhook_details,
            UpkeepLeaseStore(self.table, WEBHOOK_HEALTH),
            organizations_after=self.organizations.organizations_after,
            client_for=lambda org_id, remaining_ms: self.organization_client(
                Caller(org_id=org_id, user_id=HEALTH_CHECK_ACTOR, is_admin=False),
                tenant_urls(self.config, None),
                remaining_ms,
            ),
            request_sync=self.request_incremental_sync,
            default_webhook_url=tenant_urls(self.config, None).webhook_url,
        )

    def organization_client(
        self, caller: Caller, urls: TenantUrls, remaining_ms: Callable[[], int] | None = None
    ) -> AsanaClient:
        """The organization's Asana client, by the seed's precedence (PAT > an admin's OAuth connection)."""
        access = self.access.resolve(caller, urls, remaining_time_ms=remaining_ms)
        return self.access.client(access, remaining_time_ms=remaining_ms)

    def request_incremental_sync(self, org_id: str) -> None:
        """Queue an incremental sync of the organization (what webhooks missed is read from Asana's events)."""
        run_id = new_run_id(time.time())
        self.sync_queue.send([StartMessage(org_id=org_id, run_id=run_id, mode="incremental", trigger="schedule")])


# The sync acts for no user: not an admin, so a dead OAuth connection never mints a Connect link in its name.
SYNC_USER = "system:sync"


# Which execution environment an invocation runs in. On AWS a process is one execution environment of one function,
# so this stays unset. Local mode runs every function in one process (local/gateway/runtime.py) and names the function
# for each invocation, so each function keeps services (and caches) of its own, as it would on AWS.
EXECUTION_ENVIRONMENT: ContextVar[str] = ContextVar("execution_environment", default="")


@dataclass
class _Current:
    services: dict[str, Services] = field(default_factory=dict)


_current = _Current()


def get_services() -> Services:
    """This execution environment's services: one instance for as long as its configuration stays the same."""
    config = get_config()
    environment = EXECUTION_ENVIRONMENT.get()
    services = _current.services.get(environment)
    if services is None or services.config is not config:
        services = _current.services[environment] = Services(config)
    return services


EnvironmentServices = Annotated[Services, Depends(get_services)]


def get_connection_service(services: EnvironmentServices) -> ConnectionService:
    return services.connections


def get_settings_service(services: EnvironmentServices) -> OrganizationSettingsService:
    return services.settings


def get_user_directory(services: EnvironmentServices) -> UserDirectory:
    return services.user_directory


def get_sync_admin(services: EnvironmentServices) -> SyncAdmin:
    return services.sync_admin


def get_webhook_manager(services: EnvironmentServices) -> WebhookManager:
    return services.webhook_manager


def get_handshake_tester(services: EnvironmentServices) -> HandshakeTester:
    return services.handshake_tester
