"""Start and watch syncs, import projects, read the mirror: every call scoped to the caller's organization.

The organization always comes from the verified caller, and every key read or written starts with it (the stores
build them), so no gid in a path or query can reach another organization's runs, imports or mirror: a project or user
of another organization is simply not found.
"""

from __future__ import annotations

from typing import Protocol

from asana_integration.errors import ConnectionRequired, InvalidInput, NotFound
from asana_integration.models.mirror import MirrorKind
from asana_integration.models.sync import ImportedProject, SyncMode, SyncRun, SyncTrigger
from asana_integration.stores.mirror import MirrorStore
from asana_integration.stores.mirror_lookup import MirrorLookup
from asana_integration.stores.organizations import OrganizationRegistry
from asana_integration.stores.sync_state import SyncStateStore
from asana_integration.sync_admin.models import (
    ImportStarted,
    ImportStopped,
    MirrorKindName,
    MirrorPageView,
    SyncOverview,
    SyncStarted,
)

NOT_CONFIGURED_MESSAGE = "Asana is not configured for this organization yet, so there is nothing to sync."
NOT_CONFIGURED_FIX = (
    "An administrator saves the Asana app's Client ID and Client Secret (and optionally a Personal Access Token) in "
    "the Asana settings; then start the sync again."
)


class Starter(Protocol):
    """Queues runs on the sync queue (``sync/starter.py``): a run, and an imported project's first task import."""

    def start(self, org_id: str, mode: SyncMode, trigger: SyncTrigger) -> tuple[SyncRun, bool]: ...

    def import_project(self, org_id: str, project_gid: str) -> SyncRun: ...


class SyncAdmin:
    def __init__(
        self,
        state: SyncStateStore,
        mirror: MirrorStore,
        lookup: MirrorLookup,
        organizations: OrganizationRegistry,
        starter: Starter,
    ) -> None:
        self._state = state
        self._mirror = mirror
        self._lookup = lookup
        self._organizations = organizations
        self._starter = starter

    # --- Runs --------------------------------------------------------------------------------------------------------

    def overview(self, org_id: str) -> SyncOverview:
        return SyncOverview(
            current=self._state.current_run(org_id),
            runs=self._state.recent_runs(org_id),
            imports=sorted(self._state.imports(org_id), key=lambda project: (project.name or "", project.gid)),
        )

    def start(self, org_id: str, mode: SyncMode) -> SyncStarted:
        """A new run now, or the live one (never a second run beside it)."""
        self._require_configured(org_id)
        run, started = self._starter.start(org_id, mode, "manual")
        return SyncStarted(run=run, started=started)

    # --- Imports -----------------------------------------------------------------------------------------------------

    def import_project(self, org_id: str, project_gid: str, *, admin_id: str) -> ImportStarted:
        """Import a mirrored project of the organization and queue its first task import now."""
        self._require_configured(org_id)
        project = self._lookup.get(org_id, MirrorKind.PROJECT, project_gid)
        if project is None or project.deleted_at is not None:
            raise NotFound(
                f"Project {project_gid} is not among your organization's synced Asana projects.",
                "Run a sync (Start now) so the project is mirrored, then import it from the synced projects. A "
                "project deleted in Asana cannot be imported.",
            )
        name = project.data.get("name")
        imported, added = self._state.add_import(
            org_id, project_gid, imported_by=admin_id, name=name if isinstance(name, str) else None
        )
        if not added:
            return ImportStarted(project=imported, run=None, started=False)
        run = self._starter.import_project(org_id, project_gid)
        return ImportStarted(project=imported, run=run, started=True)

    def stop_import(self, org_id: str, project_gid: str) -> ImportStopped:
        """Stop importing the project and delete its mirrored tasks and sync cursor. Safe to repeat."""
        self._state.remove_import(org_id, project_gid)
        removed = self._mirror.delete_all(org_id, MirrorKind.TASK, project_gid)
        return ImportStopped(project_gid=project_gid, tasks_removed=removed)

    def imports(self, org_id: str) -> list[ImportedProject]:
        return self._state.imports(org_id)

    # --- The mirror --------------------------------------------------------------------------------------------------

    def mirror_page(
        self,
        org_id: str,
        kind: MirrorKindName,
        *,
        project: str | None,
        team: str | None,
        offset: str | None,
        limit: int,
        include_deleted: bool,
    ) -> MirrorPageView:
        """One page of a mirrored list: tasks of one project; memberships of the organization or of one team."""
        page = self._mirror.page(
            org_id, kind.kind, _parent(kind, project, team), offset=offset, limit=limit, include_deleted=include_deleted
        )
        return MirrorPageView(kind=kind, data=[item.to_json() for item in page.items], next_offset=page.next_offset)

    def _require_configured(self, org_id: str) -> None:
        if not self._organizations.is_registered(org_id):
            raise ConnectionRequired(NOT_CONFIGURED_MESSAGE, NOT_CONFIGURED_FIX, code="not_configured")


def _parent(kind: MirrorKindName, project: str | None, team: str | None) -> str | None:
    """The list's parent from the query: ``project`` for tasks (required), ``team`` for memberships (optional)."""
    if kind is MirrorKindName.TASKS and project is None:
        raise InvalidInput(
            "Tasks are mirrored per imported project: the project query parameter is missing.",
            "Add ?project=<project gid> (one of the imported projects the sync status lists).",
            details=[{"field": "project", "message": "Field required"}],
        )
    misplaced = [
        name
        for name, value, applies in (
            ("project", project, MirrorKindName.TASKS),
            ("team", team, MirrorKindName.MEMBERSHIPS),
        )
        if value is not None and kind is not applies
    ]
    if misplaced:
        raise InvalidInput(
            f"{kind.value} cannot be filtered by {misplaced[0]}.",
            "Use project only with tasks and team only with memberships.",
            details=[{"field": name, "message": f"Not a filter of {kind.value}"} for name in misplaced],
        )
    return project if kind is MirrorKindName.TASKS else team
