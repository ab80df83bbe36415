"""The messages on the sync queue: a run's start, and its units of work.

A run starts with ``start`` (from the schedule's dispatcher, an admin's Start now, or an import). The worker that takes
it records the run and runs its plan, which spawns one unit per list to mirror; a teams unit spawns one memberships
unit per team it found. Every unit is small and resumable: it pages one list (or one project's changes), saves a
checkpoint when it runs short of time, and is sent again to carry on.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from asana_integration.models.sync import SyncMode, SyncTrigger

UnitKind = Literal[
    "plan",  # list the workspaces, then plan the run's units
    "users",  # the users of every workspace (one item per user)
    "teams",  # the teams of every organization; then one memberships unit per team
    "projects",  # the projects of every workspace, archived ones included
    "memberships",  # one team's memberships (parent: the team)
    "tasks",  # an imported project's tasks, in full (parent: the project)
    "task_events",  # an imported project's changes from the Events API (Full permissions)
    "task_changes",  # an imported project's tasks modified since the last pass (granular scopes: no /events)
]


class Unit(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: UnitKind
    parent: str | None = None
    # The workspaces a users, teams or projects unit lists, in order (the plan found them).
    workspaces: tuple[str, ...] = ()
    # A plan limited to these imported projects' tasks (an import starting now), instead of the whole organization.
    projects: tuple[str, ...] | None = None
    # Tells apart a unit added to a live run (an import joining it) from one the run's plan made for the same list.
    tag: str | None = None
    # A tasks unit's Events API sync token, taken by the plan before the listing (Full permissions, none stored yet):
    # the plan takes them ten projects a request instead of one call per unit. A position in Asana's event stream,
    # not a credential.
    sync_token: str | None = None

    @property
    def unit_id(self) -> str:
        """Unique within a run: a unit's done marker and checkpoint are keyed by it."""
        parts = [self.kind, self.parent, self.tag]
        return ".".join(part for part in parts if part)


class StartMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: Literal["start"] = "start"
    org_id: str
    run_id: str
    mode: SyncMode
    trigger: SyncTrigger
    projects: tuple[str, ...] | None = None


class UnitMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: Literal["unit"] = "unit"
    org_id: str
    run_id: str
    mode: SyncMode
    unit: Unit
    # Sends after a transient failure (Asana unavailable after the client's retries), and after waits for the rate
    # limit (longer than the time left); a unit suspended only for time counts neither.
    attempt: int = 0
    rate_limit_waits: int = 0


SyncMessage = Annotated[StartMessage | UnitMessage, Field(discriminator="type")]
MESSAGE = TypeAdapter[StartMessage | UnitMessage](SyncMessage)


def parse_message(body: str) -> StartMessage | UnitMessage:
    return MESSAGE.validate_json(body)


def new_run_id(now: float) -> str:
    """A run id that sorts by start time: ``20250615T150640123456Z-1a2b3c4d``."""
    return f"{datetime.fromtimestamp(now, UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(4)}"
