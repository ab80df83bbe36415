"""A sync run as recorded and reported, and the projects whose tasks are imported.

Shared by the sync engine, which writes runs, and the routes, which show them (``GET /asana/api/sync``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SyncMode = Literal["full", "incremental"]
SyncTrigger = Literal["schedule", "manual", "import"]
RunStatus = Literal["running", "succeeded", "partial", "failed"]


class KindCounts(BaseModel):
    """Per kind of entity: how many a run created, updated, left unchanged and tombstoned."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


class RunError(BaseModel):
    """A failure a run met, in the seed's style: what happened and what to do. ``count``: units that met it."""

    kind: str
    code: str
    message: str
    fix: str
    count: int = 1


class SyncRun(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str
    status: RunStatus
    trigger: SyncTrigger
    mode: SyncMode
    started_at: str
    ended_at: str | None = None
    # Units of work still to finish, and all units planned so far (a teams unit adds one unit per team it found).
    pending: int = 0
    total_units: int = 0
    units_failed: int = 0
    counts: dict[str, KindCounts] = Field(default_factory=dict)
    asana_calls: int = 0
    rate_limited: int = 0
    retries: int = 0
    errors: list[RunError] = Field(default_factory=list)

    @property
    def done_units(self) -> int:
        return self.total_units - self.pending


class ImportedProject(BaseModel):
    """A project whose tasks the sync mirrors, chosen by an admin."""

    model_config = ConfigDict(frozen=True)

    gid: str
    name: str | None = None
    imported_by: str
    imported_at: str
