"""Starting a sync run now: an admin's Start now, and the first task import of a project just imported.

Both record the run (taking the organization's run lease) before anything is queued, so the caller can answer with
the run at once, and a second start while a run is live gets that run back instead of starting another.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from asana_integration.models.sync import SyncMode, SyncRun, SyncTrigger
from asana_integration.stores.sync_state import SyncStateStore
from asana_integration.sync.queue import UnitQueue
from asana_integration.sync.units import StartMessage, Unit, UnitMessage, new_run_id


class SyncStarter:
    def __init__(self, state: SyncStateStore, queue: UnitQueue, *, clock: Callable[[], float] = time.time) -> None:
        self._state = state
        self._queue = queue
        self._clock = clock

    def start(self, org_id: str, mode: SyncMode = "full", trigger: SyncTrigger = "manual") -> tuple[SyncRun, bool]:
        """``(the new run, True)``, or ``(the live run, False)`` when one is running already."""
        run_id = new_run_id(self._clock())
        run, created = self._state.start_run(org_id, run_id, mode, trigger)
        if created:
            self._queue.send([StartMessage(org_id=org_id, run_id=run_id, mode=mode, trigger=trigger)])
        return run, created

    def import_project(self, org_id: str, project_gid: str) -> SyncRun:
        """Queue a project's first task import now: a run of its own, or a unit added to the live run."""
        for _ in range(2):
            run_id = new_run_id(self._clock())
            run, created = self._state.start_run(org_id, run_id, "full", "import")
            if created:
                message = StartMessage(
                    org_id=org_id, run_id=run_id, mode="full", trigger="import", projects=(project_gid,)
                )
                self._queue.send([message])
                return run
            # A run is live: the project joins it (its own unit id, in case the run planned this project too).
            if self._state.add_units(org_id, run.run_id, 1):
                unit = Unit(kind="tasks", parent=project_gid, tag=f"import-{secrets.token_hex(4)}")
                self._queue.send([UnitMessage(org_id=org_id, run_id=run.run_id, mode=run.mode, unit=unit)])
                return run
            # The live run finished between the two steps: start one now.
        raise RuntimeError(f"could not queue the import of project {project_gid}: runs keep starting and ending")
