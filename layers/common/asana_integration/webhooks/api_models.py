"""The webhook management routes' JSON: ``/asana/api/webhooks``, ``…/expect``, ``…/test``, ``…/{gid}``.

A webhook is shown as this integration recorded it (``state``, ``kind``, when its handshake came, when Asana was last
heard from) joined with Asana's own view of it (``asana``: the health fields of Asana's WebhookResponse), and a
plain-language ``health`` verdict built from both. Secrets never appear; the ``id`` is the webhook's path prefix,
which its target URL shows anyway.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# Asana gids are numeric strings; anything else could only miss (or alter a request path).
GID_PATTERN = r"^\d{1,32}$"
Gid = Annotated[str, StringConstraints(pattern=GID_PATTERN)]
FilterWord = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,64}$")]

FilterAction = Literal["added", "changed", "deleted", "removed", "undeleted"]
Health = Literal[
    "healthy",
    "awaiting_handshake",
    "handshake_expired",
    "failing",
    "inactive",
    "deleted_at_asana",
    "heartbeat_overdue",
    "not_found_in_asana",
    "unknown",
    "deleted",
]


class WebhookFilter(BaseModel):
    """One of Asana's WebhookFilters: an event is delivered when it passes any of the webhook's filters."""

    model_config = ConfigDict(extra="forbid")

    resource_type: FilterWord = Field(description="e.g. task, project, story, team_membership")
    resource_subtype: FilterWord | None = Field(default=None, description="e.g. milestone, comment")
    action: FilterAction | None = None
    fields: list[Annotated[str, StringConstraints(pattern=r"^[a-z_.]{1,64}$")]] | None = Field(
        default=None, max_length=20, description="Only with action changed, and not on workspace or team webhooks"
    )


class WebhookCreate(BaseModel):
    """``POST /asana/api/webhooks``: watch an Asana resource (a project, a task; teams and workspaces need filters)."""

    model_config = ConfigDict(extra="forbid")

    resource: Gid = Field(description="The Asana gid of the resource to watch")
    filters: list[WebhookFilter] = Field(default_factory=list, max_length=30)


class ResourceRef(BaseModel):
    gid: str
    resource_type: str | None = None
    name: str | None = None


class AsanaWebhookHealth(BaseModel):
    """Asana's view of the webhook (its WebhookResponse), read when the list was asked for."""

    active: bool | None = None
    target: str | None = None
    created_at: str | None = None
    last_success_at: str | None = None
    last_failure_at: str | None = None
    last_failure_content: str | None = None
    delivery_retry_count: int | None = None
    next_attempt_after: str | None = None
    failure_deletion_timestamp: str | None = None


class HealthCheckNote(BaseModel):
    checked_at: str
    outcome: str = Field(description="healthy, recreated, recreate_failed or unchecked")
    message: str


class WebhookView(BaseModel):
    id: str = Field(description="This integration's id for the webhook (its path prefix); DELETE takes it or the gid")
    gid: str | None = Field(description="Asana's webhook gid, once known")
    kind: Literal["created", "expected-manual"] = Field(
        description="created: from SecureDB; expected-manual: made by hand in Asana in an armed handshake window"
    )
    state: Literal["pending", "active", "deleted"]
    resource: ResourceRef | None
    filters: list[dict[str, object]]
    target_url: str | None = Field(description="Where Asana delivers: the tenant's webhook URL plus the prefix")
    created_at: str
    created_by: str
    handshake_deadline: str | None = Field(description="Pending: the handshake is accepted until then")
    handshake_at: str | None
    last_heartbeat_at: str | None
    last_delivery_at: str | None
    asana: AsanaWebhookHealth | None = Field(description="Asana's view, when it could be read")
    asana_status: Literal["ok", "not_found", "unavailable", "not_linked", "not_asked"] = Field(
        description="not_linked: made by hand and not (yet) found among the webhooks Asana lists for this identity"
    )
    health: Health
    health_message: str
    last_check: HealthCheckNote | None = Field(description="The scheduled health check's last verdict")
    replaces: str | None = Field(default=None, description="The id of the webhook this one was re-created from")


class ErrorInfo(BaseModel):
    code: str
    message: str
    fix: str


class WebhookList(BaseModel):
    data: list[WebhookView]
    webhook_url: str = Field(description="The tenant's webhook URL; each webhook's target is this plus its id")
    asana_error: ErrorInfo | None = Field(
        description="Asana's view could not be read (the list shows this integration's records alone)"
    )


class HandshakeWindow(BaseModel):
    """``POST /asana/api/webhooks/expect``: the URL to give Asana, accepting exactly one handshake until it expires."""

    id: str
    target_url: str
    expires_at: str
    expires_in_seconds: int


class WebhookDeleted(BaseModel):
    id: str
    gid: str | None
    deleted: Literal[True] = True
    deleted_at_asana: bool = Field(description="false: Asana had no such webhook (any more), or it was never linked")
    note: str | None = Field(default=None, description="What could not be done at Asana, and what to do about it")


CheckName = Literal["dns", "tls", "handshake", "test_event"]
CheckStatus = Literal["passed", "failed", "skipped"]


class ProbeCheck(BaseModel):
    name: CheckName
    status: CheckStatus
    summary: str = Field(description="What happened, in plain language")
    latency_ms: int | None = None
    http_status: int | None = None
    secret_echoed: bool | None = None


class HandshakeTestReport(BaseModel):
    """``POST /asana/api/webhooks/test``: the built-in test handshake against the tenant's public webhook URL."""

    ok: bool
    verdict: str
    webhook_url: str
    checks: list[ProbeCheck]
    total_ms: int
    notes: list[str] = Field(default_factory=list)
    message: str | None = Field(default=None, description="On failure: the seed's error")
    fix: str | None = Field(default=None, description="On failure: the seed's cause and fix, with this URL")
