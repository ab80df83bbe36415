"""Organization settings, verification and Quick Actions (seed Steps 5 and 7), admins only; and the API's documentation.

Thin by design: identify the caller from the JWT claims, check the admin role, call the domain in the layer, shape the
response. Errors become ``{"error": {"code", "message", "fix"}}`` in the shared resolver. The OpenAPI document and its
Swagger UI page are public (``api_docs.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from asana_integration.identity import Caller
from asana_integration.models.text import VISIBLE_ASCII
from asana_integration.observability import logger, metrics
from asana_integration.settings.models import Disconnected, QuickActionPage, SettingsStatus, SettingsUpdate
from asana_integration.settings.service import OrganizationSettingsService, teams_of_organization
from asana_integration.web.dependencies import get_settings_service
from asana_integration.web.resolver import create_resolver, current_caller, current_tenant_urls, refuse_unless_admin

if TYPE_CHECKING:
    from functions.settings import api_docs
else:
    try:
        import api_docs  # on AWS the function's code directory is the task root
    except ModuleNotFoundError:  # imported as a package (tests)
        from functions.settings import api_docs

app = create_resolver()

# Asana gids are numeric strings; anything else would only reach Asana to be rejected (or alter the request path).
WorkspaceGid = Annotated[str, Query(pattern=r"^\d{1,32}$", description="The Asana workspace gid")]
Offset = Annotated[
    str | None,
    Query(min_length=1, max_length=2048, pattern=VISIBLE_ASCII, description="next_offset from the previous page"),
]
Service = Annotated[OrganizationSettingsService, Depends(get_settings_service)]

DocsFormat = Annotated[Literal["json"] | None, Query(description="json: the OpenAPI document instead of the page")]
DOCS = "/asana/api/docs"
OPENAPI_DOCUMENT = "/asana/api/openapi.json"
# Served to anyone (the template declares them without the JWT authorizer): they describe the API, nothing more.
PUBLIC_ROUTES = frozenset({f"GET {DOCS}", f"GET {OPENAPI_DOCUMENT}"})


def admin() -> Caller:
    return current_caller(app).require_admin()


def remaining_time_ms() -> int:
    return app.lambda_context.get_remaining_time_in_millis()


@app.get("/asana/api/settings", summary="The organization's Asana settings and connection status")
def get_settings(service: Service) -> SettingsStatus:
    return service.status(admin(), current_tenant_urls(app), remaining_time_ms)


@app.put("/asana/api/settings", summary="Save the Asana app credentials and PAT, then verify them")
def put_settings(update: SettingsUpdate, service: Service) -> SettingsStatus:
    return service.save(admin(), update, current_tenant_urls(app), remaining_time_ms)


@app.post("/asana/api/settings/verify", summary="Verify the connection to Asana again")
def verify_settings(service: Service) -> SettingsStatus:
    return service.verify(admin(), current_tenant_urls(app), remaining_time_ms)


@app.delete("/asana/api/settings", summary="Disconnect the organization: revoke its tokens, forget its settings")
def delete_settings(service: Service) -> Disconnected:
    return service.delete(admin(), remaining_time_ms)


@app.get("/asana/api/workspaces", summary="Quick Action: the workspaces Asana shows this integration")
def list_workspaces(service: Service, offset: Offset = None) -> QuickActionPage:
    return service.quick_action(
        admin(), current_tenant_urls(app), remaining_time_ms, lambda client: client.workspaces_page(offset)
    )


@app.get("/asana/api/projects", summary="Quick Action: a workspace's projects, page by page")
def list_projects(workspace: WorkspaceGid, service: Service, offset: Offset = None) -> QuickActionPage:
    return service.quick_action(
        admin(), current_tenant_urls(app), remaining_time_ms, lambda client: client.projects_page(workspace, offset)
    )


@app.get("/asana/api/teams", summary="Quick Action: a workspace's teams, page by page")
def list_teams(workspace: WorkspaceGid, service: Service, offset: Offset = None) -> QuickActionPage:
    return service.quick_action(
        admin(),
        current_tenant_urls(app),
        remaining_time_ms,
        lambda client: teams_of_organization(client, workspace, offset),
    )


@app.get(
    OPENAPI_DOCUMENT,
    summary="This API's OpenAPI document",
    responses={200: {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}},
)
def openapi_document() -> Response[str]:
    return document_response()


@app.get(
    DOCS,
    summary="Swagger UI for this API",
    responses={
        200: {
            "description": "Swagger UI (with format=json: the OpenAPI document)",
            "content": {
                "text/html": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
def docs(format: DocsFormat = None) -> Response[str]:
    if format == "json":  # where Swagger UI's own link to the document points
        return document_response()
    html, headers = api_docs.docs_page()
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=html, headers=headers)


def document_response() -> Response[str]:
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=api_docs.openapi_document(),
        headers={"Cache-Control": "public, max-age=300"},
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Every other route is admin-only: refuse others before the resolver validates (and so describes) their input.
    # Each admin route checks the role again itself (admin()), so the public routes are no way around it.
    if event.get("routeKey") in PUBLIC_ROUTES:
        return app.resolve(event, context)
    return refuse_unless_admin(event) or app.resolve(event, context)
