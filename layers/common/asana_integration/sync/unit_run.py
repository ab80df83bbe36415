"""One execution of one unit: what its steps share (client, stores, clock, time left), what it has done so far (the
report), and how it stops early and carries on later (a checkpoint, then ``Suspend``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from asana_integration.asana.client import AsanaClient
from asana_integration.models.mirror import MirrorCounts, MirrorKind
from asana_integration.models.sync import SyncMode
from asana_integration.stores.mirror import MirrorStore
from asana_integration.stores.sync_state import Checkpoint, SyncStateStore, UnitReport
from asana_integration.sync.meter import CallMeter
from asana_integration.sync.units import Unit

ScopesMode = Literal["default", "granular"]


class Suspend(Exception):
    """The unit stops here and is sent again after ``delay_seconds``: it ran short of time (no cause), or Asana
    or the rate budget asked it to wait (``cause``). Its progress is in its checkpoint."""

    def __init__(self, delay_seconds: float, cause: Exception | None = None) -> None:
        super().__init__(f"unit suspended for {delay_seconds:.0f} s")
        self.delay_seconds = delay_seconds
        self.cause = cause


@dataclass
class UnitRun:
    org_id: str
    run_id: str
    mode: SyncMode
    unit: Unit
    client: AsanaClient
    meter: CallMeter
    mirror: MirrorStore
    state: SyncStateStore
    scopes_mode: ScopesMode
    clock: Callable[[], float]
    # Seconds of work left before the unit must stop (the Lambda's remaining time less the reserve to wind down).
    time_left: Callable[[], float]
    checkpoint: Checkpoint | None = None
    report: UnitReport = field(default_factory=UnitReport)
    spawned: list[Unit] = field(default_factory=list)
    checkpoint_chunks: int = 0

    def __post_init__(self) -> None:
        if self.checkpoint is not None:
            self.checkpoint_chunks = self.checkpoint.chunks
            progress = self.checkpoint.state.get("progress", {})
            for label, counts in progress.get("counts", {}).items():
                self.report.count(MirrorKind(label), MirrorCounts(**counts))
            self.meter.calls += int(progress.get("calls", 0))
            self.meter.limited += int(progress.get("limited", 0))
            self.meter.retries += int(progress.get("retries", 0))

    @property
    def resumed(self) -> dict[str, Any] | None:
        """The position the last checkpoint saved, or None when the unit starts from the beginning."""
        return self.checkpoint.state if self.checkpoint is not None else None

    def save(self, position: dict[str, Any], seen: set[str]) -> None:
        """Checkpoint: the unit's position, the gids seen so far, and everything counted so far."""
        progress = {
            "counts": {kind.value: counts.as_dict() for kind, counts in self.report.counts.items()},
            "calls": self.meter.calls,
            "limited": self.meter.limited,
            "retries": self.meter.retries,
        }
        chunks = self.state.save_checkpoint(
            self.org_id, self.run_id, self.unit.unit_id, {**position, "progress": progress}, seen
        )
        self.checkpoint_chunks = max(self.checkpoint_chunks, chunks)

    def spawn(self, unit: Unit) -> None:
        self.spawned.append(unit)

    def finished_report(self) -> UnitReport:
        """The report to complete the unit with: counts, calls from the meter (this execution's and earlier ones')."""
        self.report.asana_calls = self.meter.calls
        self.report.rate_limited = self.meter.limited
        self.report.retries = self.meter.retries
        return self.report
