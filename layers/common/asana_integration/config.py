"""Configuration, read once per execution environment from the Lambda's environment variables.

Every value a deployment may change is here, named as in ``template.yaml``. Asana's base URLs are configuration so the
same code talks to Asana in AWS and to the local sandbox in tests and ``make run``.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

# The seed's recommended minimal scopes (Step 4), used when the app is registered with granular scopes.
RECOMMENDED_SCOPES = "projects:read tasks:read tasks:write users:read teams:read webhooks:write workspaces:read"


class Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    table_name: Annotated[str, Field(alias="TABLE_NAME", min_length=1)]
    kms_key_id: Annotated[str, Field(alias="KMS_KEY_ID", min_length=1)]
    secret_name_prefix: Annotated[str, Field(alias="SECRET_NAME_PREFIX", min_length=1)] = "securedb-asana"
    # The data sync (issue 9): the mirror table and the queue of sync units. Unset in functions that do not sync.
    mirror_table_name: Annotated[str | None, Field(alias="MIRROR_TABLE_NAME")] = None
    sync_queue_url: Annotated[str | None, Field(alias="SYNC_QUEUE_URL")] = None
    # Webhooks (issue 10): the queue between the webhook function and its consumer, and the consumer's idempotency
    # records. Unset in functions that do not handle webhook events.
    webhook_events_queue_url: Annotated[str | None, Field(alias="WEBHOOK_EVENTS_QUEUE_URL")] = None
    idempotency_table_name: Annotated[str | None, Field(alias="IDEMPOTENCY_TABLE_NAME")] = None
    # The Asana plan's per-token limit (1,500 a minute on paid plans, 150 on free ones); all sync workers of an
    # organization share it (sync/rate_budget.py).
    asana_rate_limit_per_minute: Annotated[int, Field(alias="ASANA_RATE_LIMIT_PER_MINUTE", ge=10, le=100_000)] = 1500
    # The sync queue's redrive maxReceiveCount (template.yaml): a worker on a message's last receive records its unit
    # as failed before the message goes to the dead-letter queue, so the run ends instead of staying "running".
    sync_max_receive_count: Annotated[int, Field(alias="SYNC_MAX_RECEIVE_COUNT", ge=1, le=1000)] = 5

    # Where SecureDB serves this integration; tenant subdomains must also be in allowed_tenant_hosts.
    public_base_url: Annotated[HttpUrl, Field(alias="PUBLIC_BASE_URL")]
    allowed_tenant_hosts: Annotated[tuple[str, ...], Field(alias="ALLOWED_TENANT_HOSTS")] = ()

    claim_org: Annotated[str, Field(alias="CLAIM_ORG_ID")] = "org_id"
    claim_user: Annotated[str, Field(alias="CLAIM_USER_ID")] = "sub"
    claim_roles: Annotated[str, Field(alias="CLAIM_ROLES")] = "roles"
    admin_role: Annotated[str, Field(alias="ADMIN_ROLE")] = "admin"
    # The claim with the user's email: email matching of Asana users to SecureDB users compares with it (mapping/).
    claim_email: Annotated[str, Field(alias="CLAIM_EMAIL")] = "email"
    # The claim with the user's display name: who is signed in, and who connected, are shown by it (else by id).
    claim_name: Annotated[str, Field(alias="CLAIM_NAME")] = "name"

    oauth_scopes_mode: Annotated[Literal["default", "granular"], Field(alias="OAUTH_SCOPES_MODE")] = "default"
    oauth_granular_scopes: Annotated[str, Field(alias="OAUTH_GRANULAR_SCOPES")] = RECOMMENDED_SCOPES
    oauth_state_ttl_seconds: Annotated[int, Field(alias="OAUTH_STATE_TTL_SECONDS", ge=60, le=3600)] = 600

    asana_api_base_url: Annotated[str, Field(alias="ASANA_API_BASE_URL")] = "https://app.asana.com/api/1.0"
    asana_oauth_base_url: Annotated[str, Field(alias="ASANA_OAUTH_BASE_URL")] = "https://app.asana.com/-"
    # The outbound proxy's URL may carry its credentials, so a deployment keeps it in Secrets Manager and names the
    # secret here (asana/transport.py reads it); ASANA_PROXY holds the URL itself, for local development only.
    asana_proxy_secret_arn: Annotated[str | None, Field(alias="ASANA_PROXY_SECRET_ARN")] = None
    asana_proxy: Annotated[str | None, Field(alias="ASANA_PROXY", repr=False)] = None
    asana_ca_bundle: Annotated[str | None, Field(alias="ASANA_CA_BUNDLE")] = None
    asana_timeout_seconds: Annotated[float, Field(alias="ASANA_TIMEOUT_SECONDS", gt=0, le=60)] = 10.0
    asana_max_retries: Annotated[int, Field(alias="ASANA_MAX_RETRIES", ge=0, le=10)] = 3

    # Local mode only (never set by template.yaml): where the admin page links for a development sign-in.
    dev_signin_url: Annotated[str | None, Field(alias="DEV_SIGNIN_URL")] = None

    @field_validator("allowed_tenant_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(host.strip().lower() for host in value.split(",") if host.strip())
        return value

    @field_validator(
        "asana_proxy_secret_arn",
        "asana_proxy",
        "asana_ca_bundle",
        "mirror_table_name",
        "sync_queue_url",
        "webhook_events_queue_url",
        "idempotency_table_name",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # CloudFormation parameters cannot be null, so an empty string means "not configured".
        return value or None

    @field_validator("asana_api_base_url", "asana_oauth_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def oauth_scope(self) -> str:
        """The ``scope`` sent to Asana's authorize endpoint for the app's registration mode."""
        return "default" if self.oauth_scopes_mode == "default" else self.oauth_granular_scopes


@cache
def get_config() -> Config:
    """The configuration of this execution environment. Tests call ``get_config.cache_clear()`` after changing env."""
    return Config.model_validate(dict(os.environ))
