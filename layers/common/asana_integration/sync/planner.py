"""A run's plan: which units of work mirror the organization, and the units a finished teams list adds.

Full run: list the workspaces (mirrored as they are listed), then one unit per list: users and projects across every
workspace, teams across every organization (teams exist only there), and each imported project's tasks. The teams
unit adds one memberships unit per team it found.

With Full permissions, the plan first takes an Events API sync token for each imported project that has none yet,
ten projects an HTTP request (Asana's Batch API), and hands each to the project's tasks unit: taken before the
listing, the next incremental pass misses nothing that changed during it, and a first full sync costs ⌈projects ÷ 10⌉
requests for them instead of one per project.

Incremental run: only the imported projects' tasks, each from where the last pass left it (the Events API with Full
permissions; ``modified_since`` with granular scopes, which cannot read events). Users, teams and projects wait for the
next full pass, which the longer schedule runs.

An import starting now: only that project's tasks.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from asana_integration.asana.client import AsanaClient, Page
from asana_integration.models.mirror import MirrorEntity, MirrorKind
from asana_integration.observability import logger
from asana_integration.sync import entities
from asana_integration.sync.listing import CAUGHT, ListSync, Source
from asana_integration.sync.unit_run import UnitRun
from asana_integration.sync.units import Unit, UnitKind


def plan(run: UnitRun) -> None:
    scope = run.unit.projects
    if scope is not None:
        _spawn_task_units(run, scope)
        return
    imported = [project.gid for project in run.state.imports(run.org_id)]
    if run.mode == "incremental":
        kind: UnitKind = "task_events" if run.scopes_mode == "default" else "task_changes"
        for project_gid in imported:
            run.spawn(Unit(kind=kind, parent=project_gid))
        return
    source = Source(
        fetch=lambda offset: run.client.workspaces_page(offset, opt_fields=entities.WORKSPACE_FIELDS),
        entity=entities.workspace,
    )
    listing = ListSync(
        run,
        MirrorKind.WORKSPACE,
        None,
        [source],
        extra={"workspaces": [], "organizations": []},
        on_entities=_note_workspaces,
    )
    listing.run()
    workspaces = tuple(listing.extra["workspaces"])
    organizations = tuple(listing.extra["organizations"])
    run.spawn(Unit(kind="users", workspaces=workspaces))
    run.spawn(Unit(kind="projects", workspaces=workspaces))
    if organizations:
        run.spawn(Unit(kind="teams", workspaces=organizations))
    _spawn_task_units(run, imported)


def _spawn_task_units(run: UnitRun, project_gids: Sequence[str]) -> None:
    tokens = _event_tokens(run, project_gids)
    for project_gid in project_gids:
        run.spawn(Unit(kind="tasks", parent=project_gid, sync_token=tokens.get(project_gid)))


def _event_tokens(run: UnitRun, project_gids: Sequence[str]) -> dict[str, str]:
    """Sync tokens for the projects that have none stored (Full permissions only: granular scopes cannot read
    events). Only a saving: when Asana gives none (the batch failed, a project is gone), the unit takes its own."""
    if run.scopes_mode != "default":
        return {}
    missing = [gid for gid in project_gids if not _has_sync_token(run, gid)]
    if not missing:
        return {}
    try:
        return run.client.event_tokens(missing)
    except CAUGHT as error:
        logger.warning(
            "Sync tokens not taken ahead; each project's unit takes its own",
            extra={"org_id": run.org_id, "run_id": run.run_id, "reason": type(error).__name__},
        )
        return {}


def _has_sync_token(run: UnitRun, project_gid: str) -> bool:
    cursor = run.state.sync_cursor(run.org_id, project_gid)
    return cursor is not None and cursor.sync_token is not None


def _note_workspaces(listing: ListSync, found: list[MirrorEntity]) -> None:
    # Kept in the listing's checkpointed state: a plan resumed after a pause still knows the earlier pages.
    listing.extra["workspaces"] += [workspace.gid for workspace in found]
    listing.extra["organizations"] += [workspace.gid for workspace in found if workspace.data["is_organization"]]


def list_users(run: UnitRun) -> None:
    """Every workspace's users as one list: a user in two workspaces is one entity; one absent from every
    workspace (deactivated or removed) becomes a tombstone."""
    sources = [Source(partial(_users_page, run.client, gid), entities.user) for gid in run.unit.workspaces]
    ListSync(run, MirrorKind.USER, None, sources).run()


def list_projects(run: UnitRun) -> None:
    sources = [Source(partial(_projects_page, run.client, gid), entities.project) for gid in run.unit.workspaces]
    ListSync(run, MirrorKind.PROJECT, None, sources).run()


def list_teams(run: UnitRun) -> None:
    """The organizations' teams; then one memberships unit per team, and the memberships of teams that are gone
    become tombstones with them."""
    sources = [Source(partial(_teams_page, run.client, gid), entities.team) for gid in run.unit.workspaces]
    result = ListSync(run, MirrorKind.TEAM, None, sources).run()
    for team_gid in sorted(result.seen):
        run.spawn(Unit(kind="memberships", parent=team_gid))
    for team_gid in sorted(result.tombstoned):
        counts = run.mirror.apply(run.org_id, MirrorKind.MEMBERSHIP, team_gid, [], seen_complete=True)
        run.report.count(MirrorKind.MEMBERSHIP, counts)


def list_memberships(run: UnitRun) -> None:
    team_gid = run.unit.parent
    if team_gid is None:
        raise ValueError("a memberships unit names its team")
    source = Source(
        fetch=lambda offset: run.client.team_memberships_page(team_gid, offset, opt_fields=entities.MEMBERSHIP_FIELDS),
        entity=lambda record: entities.membership(record, team_gid),
    )
    ListSync(run, MirrorKind.MEMBERSHIP, team_gid, [source]).run()


def _users_page(client: AsanaClient, workspace_gid: str, offset: str | None) -> Page:
    return client.users_page(workspace_gid, offset, opt_fields=entities.USER_FIELDS)


def _projects_page(client: AsanaClient, workspace_gid: str, offset: str | None) -> Page:
    # No ``archived`` filter: archived projects are mirrored too (with their ``archived`` flag).
    return client.projects_page(workspace_gid, offset, opt_fields=entities.PROJECT_FIELDS)


def _teams_page(client: AsanaClient, workspace_gid: str, offset: str | None) -> Page:
    return client.teams_page(workspace_gid, offset, opt_fields=entities.TEAM_FIELDS)
