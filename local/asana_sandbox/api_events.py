"""The Events API: `GET /events?resource=<task or project gid>&sync=<token>` (semantics: events.py).

A first call without `sync`, or with a token that is unknown, expired or another resource's, answers 412 with the
spec's body: `{"errors": [{"message": SYNC_TOKEN_INVALID}], "sync": "<fresh token>"}`. A valid token answers
`{"data": [EventResponse...], "sync": "<next token>", "has_more": bool}`, at most 100 events at a time.

Sandbox guesses: `opt_fields` is ignored (events are always compact); a `resource` that exists but is no task or
project (goals are not modelled) answers 400 `NOT_AN_EVENT_RESOURCE`; a deleted project or task answers 404 like any
unknown gid, so a stream ends with its resource (its last events, e.g. a task's `deleted`, are seen on the streams
of the projects it was in).
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request

from local.asana_sandbox import errors
from local.asana_sandbox.api import API_PREFIX, Api, gid_param, require_scope
from local.asana_sandbox.errors import AsanaError
from local.asana_sandbox.events import SYNC_TOKEN_INVALID
from local.asana_sandbox.request_body import missing

NOT_AN_EVENT_RESOURCE = "resource: Events can be read for a task, project or goal only."


def register_event_routes(app: Flask, api: Api) -> None:

    @app.get(f"{API_PREFIX}/events")
    def get_events() -> tuple[Response, int]:
        principal = require_scope(None)
        store, log = api.store, api.state.events
        raw = request.args.get("resource")
        if not raw:
            raise missing("resource")
        gid = gid_param("resource", raw)
        if gid in store.projects:
            api.project(principal, "resource", gid)
        elif gid in store.tasks:
            api.task(principal, "resource", gid)
        elif gid in store.users or gid in store.teams or gid in store.workspaces or gid in store.sections:
            raise AsanaError(400, NOT_AN_EVENT_RESOURCE)
        else:
            raise errors.unknown_object("resource", gid)
        token = request.args.get("sync")
        page = log.read(gid, token) if token else None
        if page is None:
            return jsonify({"errors": [{"message": SYNC_TOKEN_INVALID}], "sync": log.fresh_token(gid)}), 412
        body = {"data": [event.render() for event in page.events], "sync": page.sync, "has_more": page.has_more}
        return jsonify(body), 200
