"""The OAuth redirect from Asana, the admin settings page, and each user's own Asana connection.

Routes (``template.yaml``):

* ``GET /asana/settings`` and ``/asana/settings/`` (public): with ``code``/``state`` or ``error`` it is Asana's
  redirect: check it, exchange nothing, and send the browser (302) to the settings page with ``?outcome=<code>``
  (and, for a valid redirect, the state and code in the URL fragment), so the authorization code leaves the address
  bar and history at once. Otherwise it serves the admin page.
* ``POST /asana/api/connect``: a ``connect_url`` for the caller's own Asana account, or (admins) the organization's,
  and the ``completion_key`` the browser session keeps to finish it.
* ``POST /asana/api/connect/complete``: the settings page finishing Connect with the session that started it.
* ``GET`` / ``DELETE /asana/api/connection?purpose=``: the caller's own connection (``organization``: admins only).
* ``GET /asana/api/me``: who is signed in, by name.

Thin by design: identity from the JWT claims, domain work in ``asana_integration.connections``. The redirect's query
string carries the authorization code, so neither it nor the full URL is ever logged.
"""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from asana_integration.config import get_config
from asana_integration.connections.models import (
    ConnectCompleted,
    ConnectCompletion,
    ConnectionRemoved,
    ConnectionView,
    ConnectLink,
    ConnectRequest,
    SignedInUser,
)
from asana_integration.connections.outcomes import REVOCATION_TEXTS
from asana_integration.connections.service import ConnectionService
from asana_integration.errors import ConnectionRequired
from asana_integration.models.connections import Purpose
from asana_integration.observability import logger, metrics
from asana_integration.web.dependencies import EnvironmentServices, get_connection_service
from asana_integration.web.resolver import create_resolver, current_caller, current_tenant_urls
from asana_integration.web.signed_in import SignedInCaller

if TYPE_CHECKING:
    from functions.oauth_callback import settings_page
else:
    try:
        import settings_page  # on AWS the function's code directory is the task root
    except ModuleNotFoundError:  # imported as a package (tests)
        from functions.oauth_callback import settings_page

app = create_resolver()

# Query parameters that make a GET of the settings URL Asana's redirect rather than a page view.
CALLBACK_PARAMETERS = frozenset({"code", "state", "error"})


# POST /asana/api/connect may come without a body: it asks for the caller's personal connection.
WITHOUT_A_BODY = ConnectRequest()
PurposeQuery = Annotated[Purpose, Query(description="organization (admins only) or personal")]
Service = Annotated[ConnectionService, Depends(get_connection_service)]


def not_stored[Model: BaseModel](body: Model) -> Response[Model]:
    """A JSON answer no cache may keep: it carries single-use links or a connection's current state."""
    return Response(
        status_code=200, content_type=content_types.APPLICATION_JSON, body=body, headers={"Cache-Control": "no-store"}
    )


SETTINGS_PAGE_RESPONSES: dict[int, OpenAPIResponse] = {
    200: {"description": "The admin settings page", "content": {"text/html": {"schema": {"type": "string"}}}},
    302: {
        "description": "Asana's redirect, checked: on to the settings page with ?outcome=<code> (and, to finish the "
        "connection, the state and code in the URL fragment)",
        "headers": {"Location": {"description": "The settings page", "schema": {"type": "string"}}},
        "content": {},
    },
}


# Both are redirect URIs. API Gateway hands /asana/settings/ to the one route without the slash (an HTTP API route
# cannot end in "/"), and the function serves both paths.
@app.get("/asana/settings", responses=SETTINGS_PAGE_RESPONSES, summary="The admin page, or Asana's OAuth redirect")
@app.get("/asana/settings/", responses=SETTINGS_PAGE_RESPONSES, summary="The same, at the trailing-slash redirect URI")
def settings_page_or_callback(services: EnvironmentServices) -> Response[str]:
    query = dict(app.current_event.query_string_parameters or {})
    urls = current_tenant_urls(app)
    if CALLBACK_PARAMETERS & query.keys():
        # Exactly the URL Asana redirected to (allow-listed host, path as requested, trailing slash included).
        callback_url = f"{urls.base_url}{app.current_event.raw_path}"
        _outcome, location = services.connections.check_redirect(query, callback_url)
        return Response(
            status_code=302,
            body="",
            headers={"Location": location, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
        )
    html, headers = settings_page.render(get_config(), settings_page.outcome_from_query(query, urls))
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=html, headers=headers)


@app.post("/asana/api/connect", summary="A Connect / Authorize link for the caller's or the organization's Asana")
def connect(
    caller: SignedInCaller, service: Service, request: Annotated[ConnectRequest, Body()] = WITHOUT_A_BODY
) -> Response[ConnectLink]:
    # SignedInCaller remembers the caller's sign-in email (for matching Asana users), as does the status read below.
    url, completion_key = service.start_browser_connect(caller, request.purpose, current_tenant_urls(app))
    return not_stored(ConnectLink(connect_url=url, completion_key=completion_key))


@app.post(
    "/asana/api/connect/complete",
    summary="Finish Connect in the browser session that started it (after Asana's redirect)",
)
def complete_connect(
    caller: SignedInCaller, services: EnvironmentServices, completion: Annotated[ConnectCompletion, Body()]
) -> Response[ConnectCompleted]:
    outcome = services.connections.complete(
        caller,
        state=completion.state,
        code=completion.code,
        completion_key=completion.completion_key,
        caller_name=caller.name,
    )
    if outcome.purpose is Purpose.ORGANIZATION:
        # The organization's identity changed: check it now, so the status shown next is this connection's.
        services.settings.verify(caller, current_tenant_urls(app), remaining_time_ms)
    completed = ConnectCompleted(
        code="connected", kind="success", message=outcome.message, purpose=outcome.purpose or Purpose.PERSONAL
    )
    return not_stored(completed)


@app.get("/asana/api/me", summary="Who is signed in to SecureDB (any user)")
def signed_in_user() -> Response[SignedInUser]:
    caller = current_caller(app)
    user = SignedInUser(
        user_id=caller.user_id, name=caller.name, display_name=caller.display_name, is_admin=caller.is_admin
    )
    return not_stored(user)


def remaining_time_ms() -> int:
    return app.lambda_context.get_remaining_time_in_millis()


@app.get("/asana/api/connection", summary="The caller's own Asana connection (the organization's: admins)")
def get_connection(
    caller: SignedInCaller, service: Service, purpose: PurposeQuery = Purpose.PERSONAL
) -> Response[ConnectionView]:
    if purpose is Purpose.ORGANIZATION:
        caller.require_admin()
    info = service.connection_info(caller.org_id, purpose, caller.user_id)
    if info is None:
        return not_stored(ConnectionView(purpose=purpose, status="not_connected"))
    view = info.to_view()
    if info.status == "needs_reconnect":
        # Without saved credentials there is no link to offer; the settings status says what to do instead.
        with suppress(ConnectionRequired):
            view.connect_url = service.start_connect(caller, purpose, current_tenant_urls(app))
    return not_stored(view)


@app.delete("/asana/api/connection", summary="Disconnect it: revoke the token at Asana, delete it here")
def delete_connection(service: Service, purpose: PurposeQuery = Purpose.PERSONAL) -> Response[ConnectionRemoved]:
    revocation = service.disconnect(current_caller(app), purpose)
    removed = ConnectionRemoved(revoked=revocation == "revoked", revocation=revocation)
    if revocation in REVOCATION_TEXTS:
        removed.message, fix = REVOCATION_TEXTS[revocation]
        removed.fix = fix or None
    return not_stored(removed)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
