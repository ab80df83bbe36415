"""Webhooks: `POST /webhooks`, `GET /webhooks?workspace=`, `GET`/`PUT`/`DELETE /webhooks/{gid}` (behaviour:
webhooks.py; the handshake and deliveries: webhook_delivery.py).

As the spec describes them: `resource` and `target` are required; the create handshakes with the target while the
request is open and answers 201 with the WebhookResponse and `X-Hook-Secret` beside `data`; `GET /webhooks` needs
`workspace` and may narrow to one `resource`, paginated like every list; `PUT` replaces `filters` entirely. Scopes,
from each operation's `security`: `webhooks:read` (the GETs), `webhooks:write` (create, update), `webhooks:delete`.

Sandbox guesses: webhooks can be made on a workspace, team, project or task (a user or section gid answers 400
`UNSUPPORTED_RESOURCE`); the caller must be able to see the resource (403 otherwise); a missing `resource` answers
Asana's observed "You should specify one of resource"; the list and the single GET both answer the full record (the
spec's list schema is WebhookResponse, although its text says "compact"), and `opt_fields` keeps `gid` plus the named
top-level fields (`resource.name` keeps `resource`); `PUT` without `filters` answers `filters: Missing input`.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request

from local.asana_sandbox import errors
from local.asana_sandbox.api import API_PREFIX, Api, empty, gid_param, require_scope
from local.asana_sandbox.changes import ref
from local.asana_sandbox.errors import AsanaError
from local.asana_sandbox.events import Ref
from local.asana_sandbox.models import Principal
from local.asana_sandbox.render import parse_opt_fields
from local.asana_sandbox.request_body import Body, missing
from local.asana_sandbox.webhooks import Webhook, Webhooks, parse_filters

# The writable properties of the spec's request schemas (tests/contract compares them with the spec); all modelled.
WEBHOOK_CREATE_WRITABLE = frozenset({"resource", "target", "filters"})
WEBHOOK_UPDATE_WRITABLE = frozenset({"filters"})

# Observed (node-asana issue #269: a create whose body lacked `resource`).
RESOURCE_MISSING = "You should specify one of resource"
UNSUPPORTED_RESOURCE = "resource: The sandbox models webhooks on workspaces, teams, projects and tasks only."


def _resource(api: Api, principal: Principal, gid: str) -> tuple[Ref, str]:
    """The webhook's resource (which the caller must see) and the workspace it belongs to."""
    store = api.store
    if gid in store.tasks:
        task = api.task(principal, "resource", gid)
        return ref(task), task.workspace_gid
    if gid in store.projects:
        project = api.project(principal, "resource", gid)
        return ref(project), project.workspace_gid
    if gid in store.teams:
        team = api.team(principal, "resource", gid)
        return ref(team), team.organization_gid
    if gid in store.workspaces:
        workspace = api.workspace(principal, "resource", gid)
        return ref(workspace), workspace.gid
    if gid in store.users or gid in store.sections or gid in store.team_memberships:
        raise AsanaError(400, UNSUPPORTED_RESOURCE)
    raise errors.unknown_object("resource", gid)


def _selected(record: dict[str, Any]) -> dict[str, Any]:
    tree = parse_opt_fields(request.args.get("opt_fields"))
    if tree is None:
        return record
    return {key: value for key, value in record.items() if key == "gid" or key in tree}


def register_webhook_routes(app: Flask, api: Api) -> None:

    def registry() -> Webhooks:
        return api.state.webhooks

    def owned(principal: Principal, gid: str) -> Webhook:
        webhook = registry().find(gid_param("webhook", gid))
        if webhook is None:
            raise errors.unknown_object("webhook", gid)
        if not webhook.owned_by(principal.user_gid, principal.client_id):
            raise AsanaError(403, errors.FORBIDDEN)
        return webhook

    def one(webhook: Webhook) -> Response:
        return jsonify({"data": _selected(registry().render(webhook))})

    @app.post(f"{API_PREFIX}/webhooks")
    def create_webhook() -> tuple[Response, int]:
        principal = require_scope("webhooks:write")
        body = Body(WEBHOOK_CREATE_WRITABLE, WEBHOOK_CREATE_WRITABLE)
        if "resource" not in body:
            raise AsanaError(400, RESOURCE_MISSING)
        resource, workspace_gid = _resource(api, principal, body.gid("resource"))
        if "target" not in body:
            raise missing("target")
        filters = parse_filters(body.data.get("filters"), resource.resource_type)
        webhook, secret = registry().create(
            resource=resource,
            workspace_gid=workspace_gid,
            target=body.string("target"),
            filters=filters,
            user_gid=principal.user_gid,
            client_id=principal.client_id,
        )
        return jsonify({"data": _selected(registry().render(webhook)), "X-Hook-Secret": secret}), 201

    @app.get(f"{API_PREFIX}/webhooks")
    def get_webhooks() -> Response:
        principal = require_scope("webhooks:read")
        if not request.args.get("workspace"):
            raise missing("workspace")
        workspace = api.workspace(principal, "workspace", request.args["workspace"])
        resource = request.args.get("resource")
        if resource:
            gid_param("resource", resource)
        webhooks = registry().owned(principal.user_gid, principal.client_id, workspace.gid, resource or None)
        return api.paged(webhooks, lambda w: _selected(registry().render(w)))

    @app.get(f"{API_PREFIX}/webhooks/<webhook_gid>")
    def get_webhook(webhook_gid: str) -> Response:
        return one(owned(require_scope("webhooks:read"), webhook_gid))

    @app.put(f"{API_PREFIX}/webhooks/<webhook_gid>")
    def update_webhook(webhook_gid: str) -> Response:
        webhook = owned(require_scope("webhooks:write"), webhook_gid)
        body = Body(WEBHOOK_UPDATE_WRITABLE, WEBHOOK_UPDATE_WRITABLE)
        if "filters" not in body:
            raise missing("filters")
        registry().replace_filters(webhook.gid, parse_filters(body.data["filters"], webhook.resource.resource_type))
        return one(webhook)

    @app.delete(f"{API_PREFIX}/webhooks/<webhook_gid>")
    def delete_webhook(webhook_gid: str) -> Response:
        webhook = owned(require_scope("webhooks:delete"), webhook_gid)
        registry().delete(webhook.gid)
        return empty()
