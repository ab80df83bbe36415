"""Webhook management's HTTP API (issue 10). Admins only; the organization is always the verified caller's.

Routes (``template.yaml``, ``WebhookApiFunction``):

* ``GET /asana/api/webhooks``: the organization's webhooks, each joined with Asana's view of its health
  (``include_deleted=true`` adds the deleted ones, e.g. those the health check replaced).
* ``POST /asana/api/webhooks`` ``{resource, filters}``: create one in Asana; 201 once Asana's answer carries the secret
  the handshake brought (else it is deleted at Asana and 502 says why).
* ``POST /asana/api/webhooks/expect``: arm a one-handshake window for a webhook made by hand in Asana (201).
* ``POST /asana/api/webhooks/test``: the built-in test handshake against the tenant's public webhook URL.
* ``DELETE /asana/api/webhooks/{gid}``: delete it at Asana and here (``gid``: Asana's gid, or the webhook's ``id``).

A function of its own rather than routes of the settings function: it is the only one, beside the receiver, whose
role may decrypt webhook secrets (to check Asana's 201), and the receiver's role stays without Asana credentials.
Thin by design: the caller from the verified claims, the tenant's webhook URL from the domain the request arrived
on, the domain in ``asana_integration.webhooks``.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from asana_integration.asana.client import AsanaClient
from asana_integration.identity import Caller
from asana_integration.observability import logger, metrics
from asana_integration.web.dependencies import (
    EnvironmentServices,
    get_handshake_tester,
    get_webhook_manager,
)
from asana_integration.web.resolver import create_resolver, current_caller, current_tenant_urls, refuse_unless_admin
from asana_integration.web.responses import uncached as answer
from asana_integration.webhooks.api_models import (
    HandshakeTestReport,
    HandshakeWindow,
    WebhookCreate,
    WebhookDeleted,
    WebhookList,
    WebhookView,
)
from asana_integration.webhooks.management import ClientFactory, WebhookManager
from asana_integration.webhooks.test_handshake import HandshakeTester

app = create_resolver()

# An Asana gid (digits), or the id this integration gave the webhook (its 32-character path prefix).
WebhookId = Annotated[
    str, Path(pattern=r"^(\d{1,32}|[A-Za-z0-9_-]{32})$", description="Asana's webhook gid, or the webhook's id")
]
Manager = Annotated[WebhookManager, Depends(get_webhook_manager)]
Tester = Annotated[HandshakeTester, Depends(get_handshake_tester)]
# Seconds kept free for answering after the test handshake's requests (they are bounded by what is left).
TEST_RESERVE_SECONDS = 2.0


def admin() -> Caller:
    return current_caller(app).require_admin()


def remaining_time_ms() -> int:
    return app.lambda_context.get_remaining_time_in_millis()


def asana_client(services: EnvironmentServices, caller: Caller) -> ClientFactory:
    """The organization's Asana client, made only if the route needs Asana."""

    def make() -> AsanaClient:
        return services.organization_client(caller, current_tenant_urls(app), remaining_time_ms)

    return make


@app.get("/asana/api/webhooks", summary="The organization's webhooks, with Asana's view of their health")
def list_webhooks(
    manager: Manager,
    services: EnvironmentServices,
    include_deleted: Annotated[bool, Query(description="Add deleted webhooks (kept 30 days)")] = False,
) -> Response[WebhookList]:
    caller = admin()
    webhooks = manager.list_webhooks(
        caller.org_id,
        current_tenant_urls(app).webhook_url,
        asana_client(services, caller),
        include_deleted=include_deleted,
    )
    return answer(webhooks)


@app.post(
    "/asana/api/webhooks",
    summary="Create a webhook in Asana on a resource (handshake and secret cross-checked)",
    responses={201: {"description": "Created, its handshake done and its secret confirmed by Asana's answer"}},
)
def create_webhook(request: WebhookCreate, manager: Manager, services: EnvironmentServices) -> Response[WebhookView]:
    caller = admin()
    client = asana_client(services, caller)()
    view = manager.create(caller.org_id, caller.user_id, request, current_tenant_urls(app).webhook_url, client)
    return answer(view, 201)


@app.post(
    "/asana/api/webhooks/expect",
    summary="Arm a one-time handshake window for a webhook made by hand in Asana",
    responses={201: {"description": "Armed: give Asana the target URL before the window expires"}},
)
def expect_webhook(manager: Manager) -> Response[HandshakeWindow]:
    caller = admin()
    window = manager.expect(caller.org_id, caller.user_id, current_tenant_urls(app).webhook_url)
    return answer(window, 201)


@app.post("/asana/api/webhooks/test", summary="The built-in test handshake against the public webhook URL")
def test_handshake(tester: Tester) -> Response[HandshakeTestReport]:
    caller = admin()
    report = tester.run(
        caller.org_id,
        caller.user_id,
        current_tenant_urls(app).webhook_url,
        lambda: remaining_time_ms() / 1000 - TEST_RESERVE_SECONDS,
    )
    return answer(report)


@app.delete("/asana/api/webhooks/<gid>", summary="Delete a webhook at Asana and here")
def delete_webhook(gid: WebhookId, manager: Manager, services: EnvironmentServices) -> Response[WebhookDeleted]:
    caller = admin()
    return answer(manager.delete(caller.org_id, gid, asana_client(services, caller)))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Every route is admin-only: others are refused before the resolver validates (and so describes) their input.
    return refuse_unless_admin(event) or app.resolve(event, context)
