"""The data sync's HTTP API (issue 9). Admins only; the organization is always the verified caller's.

Routes (``template.yaml``, ``SyncApiFunction``):

* ``POST /asana/api/sync``: start a sync now (202), or get the live run back (200): never a second run beside it.
* ``GET /asana/api/sync``: the live run with its progress, the latest runs, the imported projects.
* ``GET /asana/api/mirror/{kind}``: the mirror, paged (``offset``/``next_offset``); ``include_deleted=true`` adds
  tombstones; tasks need ``project``, memberships take an optional ``team``.
* ``POST`` / ``DELETE /asana/api/projects/{gid}/import``: import a synced project (its first task import is queued at
  once), or stop importing it (its mirrored tasks and sync cursor are deleted).
* ``GET /asana/api/users``: mirrored Asana users with the SecureDB user each maps to, and how.
* ``PUT /asana/api/users/{gid}/mapping``: an admin's manual mapping, or ``null`` to clear it.

Thin by design: the caller from the verified claims (their sign-in email remembered on the way, for email matching),
domain work in ``asana_integration.sync_admin`` and ``asana_integration.mapping``.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from asana_integration.mapping.models import AsanaUserView, MappingUpdate, UsersPage, UserStatus
from asana_integration.mapping.service import UserDirectory
from asana_integration.observability import logger, metrics
from asana_integration.sync_admin.models import (
    ImportStarted,
    ImportStopped,
    MirrorKindName,
    MirrorPageView,
    SyncOverview,
    SyncRequest,
    SyncStarted,
)
from asana_integration.sync_admin.service import SyncAdmin
from asana_integration.web.dependencies import get_sync_admin, get_user_directory
from asana_integration.web.resolver import create_resolver, refuse_unless_admin
from asana_integration.web.responses import uncached as answer
from asana_integration.web.signed_in import SignedInCaller

app = create_resolver()

# Asana gids are numeric strings; anything else could only miss (or alter a key), so it is refused up front.
GID_PATTERN = r"^\d{1,32}$"
ProjectGid = Annotated[str, Path(pattern=GID_PATTERN, description="The Asana project gid")]
UserGid = Annotated[str, Path(pattern=GID_PATTERN, description="The Asana user gid")]
Offset = Annotated[str | None, Query(max_length=2048, description="next_offset from the previous page")]
Limit = Annotated[int, Query(ge=1, le=100, description="Items per page")]

Admin = Annotated[SyncAdmin, Depends(get_sync_admin)]
Directory = Annotated[UserDirectory, Depends(get_user_directory)]


# --------------------------------------------------------------------------------------------------------- runs --


# The body is optional, but when sent it is an object: a default instance (not None) keeps `null` out of the
# documented schema, as the resolver refuses a body that is not a JSON object.
WITHOUT_A_BODY = SyncRequest()


@app.post("/asana/api/sync", responses={202: {"description": "A new run started"}})
def start_sync(
    caller: SignedInCaller, admin: Admin, request: Annotated[SyncRequest, Body()] = WITHOUT_A_BODY
) -> Response[SyncStarted]:
    started = admin.start(caller.require_admin().org_id, request.mode)
    return answer(started, 202 if started.started else 200)


@app.get("/asana/api/sync")
def get_sync(caller: SignedInCaller, admin: Admin) -> Response[SyncOverview]:
    return answer(admin.overview(caller.require_admin().org_id))


# ------------------------------------------------------------------------------------------------------- mirror --


@app.get("/asana/api/mirror/<kind>")
def get_mirror(
    *,
    kind: Annotated[MirrorKindName, Path(description="What to list")],
    caller: SignedInCaller,
    admin: Admin,
    project: Annotated[str | None, Query(pattern=GID_PATTERN, description="tasks: the project")] = None,
    team: Annotated[str | None, Query(pattern=GID_PATTERN, description="memberships: only this team's")] = None,
    offset: Offset = None,
    limit: Limit = 100,
    include_deleted: Annotated[bool, Query(description="Add tombstones (entities gone from Asana)")] = False,
) -> Response[MirrorPageView]:
    page = admin.mirror_page(
        caller.require_admin().org_id,
        kind,
        project=project,
        team=team,
        offset=offset,
        limit=limit,
        include_deleted=include_deleted,
    )
    return answer(page)


# ------------------------------------------------------------------------------------------------------ imports --


@app.post("/asana/api/projects/<gid>/import", responses={202: {"description": "Imported; first task import queued"}})
def import_project(gid: ProjectGid, caller: SignedInCaller, admin: Admin) -> Response[ImportStarted]:
    caller.require_admin()
    started = admin.import_project(caller.org_id, gid, admin_id=caller.user_id)
    return answer(started, 202 if started.started else 200)


@app.delete("/asana/api/projects/<gid>/import")
def stop_import(gid: ProjectGid, caller: SignedInCaller, admin: Admin) -> Response[ImportStopped]:
    return answer(admin.stop_import(caller.require_admin().org_id, gid))


# -------------------------------------------------------------------------------------------------------- users --


@app.get("/asana/api/users")
def list_users(
    caller: SignedInCaller,
    directory: Directory,
    status: Annotated[UserStatus | None, Query(description="Only users of this status")] = None,
    offset: Annotated[str | None, Query(pattern=GID_PATTERN, description="next_offset of the previous page")] = None,
    limit: Limit = 100,
) -> Response[UsersPage]:
    return answer(directory.page(caller.require_admin().org_id, status=status, offset=offset, limit=limit))


@app.put("/asana/api/users/<gid>/mapping")
def put_mapping(
    gid: UserGid, update: Annotated[MappingUpdate, Body()], caller: SignedInCaller, directory: Directory
) -> Response[AsanaUserView]:
    caller.require_admin()
    user = directory.set_mapping(caller.org_id, gid, update.securedb_user_id, admin_id=caller.user_id)
    return answer(user)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Every route here is admin-only: refuse others before the resolver validates (and so describes) their input.
    return refuse_unless_admin(event) or app.resolve(event, context)
