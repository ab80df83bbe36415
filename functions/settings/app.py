"""Organization settings, verification and Quick Actions (seed Steps 5 and 7). Admins only.

Thin by design: identify the caller from the JWT claims, check the admin role, call the domain in the layer, shape the
response. Errors become ``{"error": {"code", "message", "fix"}}`` in the shared resolver.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

import boto3
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from asana_integration.config import get_config
from asana_integration.connections import ConnectionService
from asana_integration.credentials import CredentialStore
from asana_integration.identity import Caller
from asana_integration.observability import logger, metrics
from asana_integration.organization_settings import OrganizationSettingsService
from asana_integration.settings_models import SettingsUpdate
from asana_integration.verification_store import VerificationStore
from asana_integration.web.resolver import create_resolver, current_caller, current_tenant_urls, refuse_unless_admin

app = create_resolver()

# Asana gids are numeric strings; anything else would only reach Asana to be rejected (or alter the request path).
WorkspaceGid = Annotated[str, Query(pattern=r"^\d{1,32}$", description="The Asana workspace gid")]
Offset = Annotated[str | None, Query(max_length=2048, description="next_offset from the previous page")]


@cache
def settings_service() -> OrganizationSettingsService:
    """Built on first use and kept for the execution environment's lifetime (clients and caches are reused)."""
    config = get_config()
    credentials = CredentialStore(config)
    table = boto3.resource("dynamodb").Table(config.table_name)
    connections = ConnectionService(config, credentials=credentials, dynamodb_table=table)
    return OrganizationSettingsService(config, credentials, connections, VerificationStore(table))


def admin() -> Caller:
    return current_caller(app).require_admin()


def remaining_time_ms() -> int:
    return app.lambda_context.get_remaining_time_in_millis()


@app.get("/asana/api/settings")
def get_settings() -> dict[str, Any]:
    status = settings_service().status(admin(), current_tenant_urls(app), remaining_time_ms)
    return status.model_dump(mode="json")


@app.put("/asana/api/settings")
def put_settings(update: SettingsUpdate) -> dict[str, Any]:
    status = settings_service().save(admin(), update, current_tenant_urls(app), remaining_time_ms)
    return status.model_dump(mode="json")


@app.post("/asana/api/settings/verify")
def verify_settings() -> dict[str, Any]:
    status = settings_service().verify(admin(), current_tenant_urls(app), remaining_time_ms)
    return status.model_dump(mode="json")


@app.delete("/asana/api/settings")
def delete_settings() -> dict[str, Any]:
    return settings_service().delete(admin())


@app.get("/asana/api/workspaces")
def list_workspaces(offset: Offset = None) -> dict[str, Any]:
    return settings_service().quick_action(
        admin(), current_tenant_urls(app), remaining_time_ms, lambda client: client.workspaces_page(offset)
    )


@app.get("/asana/api/projects")
def list_projects(workspace: WorkspaceGid, offset: Offset = None) -> dict[str, Any]:
    return settings_service().quick_action(
        admin(), current_tenant_urls(app), remaining_time_ms, lambda client: client.projects_page(workspace, offset)
    )


@app.get("/asana/api/teams")
def list_teams(workspace: WorkspaceGid, offset: Offset = None) -> dict[str, Any]:
    return settings_service().quick_action(
        admin(), current_tenant_urls(app), remaining_time_ms, lambda client: client.teams_page(workspace, offset)
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Every route here is admin-only: refuse others before the resolver validates (and so describes) their input.
    return refuse_unless_admin(event) or app.resolve(event, context)
