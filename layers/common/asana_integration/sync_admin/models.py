"""The sync routes' JSON: ``/asana/api/sync``, ``/asana/api/mirror/{kind}``, ``/asana/api/projects/{gid}/import``.

Runs and imports are the sync engine's own models (``models/sync.py``), shown as recorded.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from asana_integration.models.mirror import MirrorKind
from asana_integration.models.sync import ImportedProject, SyncMode, SyncRun


class MirrorKindName(StrEnum):
    """The kinds ``GET /asana/api/mirror/{kind}`` serves, as the API spells them."""

    WORKSPACES = "workspaces"
    TEAMS = "teams"
    MEMBERSHIPS = "memberships"
    USERS = "users"
    PROJECTS = "projects"
    TASKS = "tasks"

    @property
    def kind(self) -> MirrorKind:
        return next(kind for kind in MirrorKind if kind.label == self.value)


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: SyncMode = Field(
        default="full", description="full re-reads everything; incremental reads imported projects' changes only"
    )


class SyncStarted(BaseModel):
    run: SyncRun
    started: bool = Field(description="false: a run was live already and is returned instead; no other was started")


class SyncOverview(BaseModel):
    current: SyncRun | None = Field(description="The live run, with its progress: total_units - pending done")
    runs: list[SyncRun] = Field(description="The latest runs, newest first (the live one included)")
    imports: list[ImportedProject] = Field(description="Projects whose tasks are mirrored")


class MirrorPageView(BaseModel):
    kind: MirrorKindName
    data: list[dict[str, Any]] = Field(
        description="Mirrored entities: gid, the mirrored fields, synced_at, and deleted_at on a tombstone"
    )
    next_offset: str | None = Field(description="Pass as offset for the next page; null on the last one")


class ImportStarted(BaseModel):
    project: ImportedProject
    run: SyncRun | None = Field(description="The run the first task import belongs to (null: imported already)")
    started: bool = Field(description="false: the project was imported already; nothing was queued")


class ImportStopped(BaseModel):
    project_gid: str
    imported: Literal[False] = False
    tasks_removed: int = Field(description="Mirrored tasks (tombstones included) deleted with the import")
