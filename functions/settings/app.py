"""Organization settings, verification and Quick Actions (seed Steps 5 and 7). Admins only.

Thin by design: identify the caller from the JWT claims, check the admin role, call the domain in the layer, shape the
response. Errors become ``{"error": {"code", "message", "fix"}}`` in the shared resolver.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from asana_integration.identity import Caller
from asana_integration.observability import logger, metrics
from asana_integration.settings.models import Disconnected, QuickActionPage, SettingsStatus, SettingsUpdate
from asana_integration.settings.service import OrganizationSettingsService
from asana_integration.web.dependencies import get_settings_service
from asana_integration.web.resolver import create_resolver, current_caller, current_tenant_urls, refuse_unless_admin

app = create_resolver()

# Asana gids are numeric strings; anything else would only reach Asana to be rejected (or alter the request path).
WorkspaceGid = Annotated[str, Query(pattern=r"^\d{1,32}$", description="The Asana workspace gid")]
Offset = Annotated[str | None, Query(max_length=2048, description="next_offset from the previous page")]
Service = Annotated[OrganizationSettingsService, Depends(get_settings_service)]


def admin() -> Caller:
    return current_caller(app).require_admin()


def remaining_time_ms() -> int:
    return app.lambda_context.get_remaining_time_in_millis()


@app.get("/asana/api/settings")
def get_settings(service: Service) -> SettingsStatus:
    return service.status(admin(), current_tenant_urls(app), remaining_time_ms)


@app.put("/asana/api/settings")
def put_settings(update: SettingsUpdate, service: Service) -> SettingsStatus:
    return service.save(admin(), update, current_tenant_urls(app), remaining_time_ms)


@app.post("/asana/api/settings/verify")
def verify_settings(service: Service) -> SettingsStatus:
    return service.verify(admin(), current_tenant_urls(app), remaining_time_ms)


@app.delete("/asana/api/settings")
def delete_settings(service: Service) -> Disconnected:
    return service.delete(admin())


@app.get("/asana/api/workspaces")
def list_workspaces(service: Service, offset: Offset = None) -> QuickActionPage:
    return service.quick_action(
        admin(), current_tenant_urls(app), remaining_time_ms, lambda client: client.workspaces_page(offset)
    )


@app.get("/asana/api/projects")
def list_projects(workspace: WorkspaceGid, service: Service, offset: Offset = None) -> QuickActionPage:
    return service.quick_action(
        admin(), current_tenant_urls(app), remaining_time_ms, lambda client: client.projects_page(workspace, offset)
    )


@app.get("/asana/api/teams")
def list_teams(workspace: WorkspaceGid, service: Service, offset: Offset = None) -> QuickActionPage:
    return service.quick_action(
        admin(), current_tenant_urls(app), remaining_time_ms, lambda client: client.teams_page(workspace, offset)
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Every route here is admin-only: refuse others before the resolver validates (and so describes) their input.
    return refuse_unless_admin(event) or app.resolve(event, context)
