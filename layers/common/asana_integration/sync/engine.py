"""Runs one sync message: a run's start, or one unit of work.

Start: take the organization's run lease (a second start while a run is live does nothing) and run the plan.

Unit: run it, then complete it exactly once: its done marker and its counts go into the run in one transaction, and
only then are the units it planned sent (a redelivered unit finds its marker and sends them again, in case the first
delivery stopped in between; each of them completes once, whatever the number of copies). When no unit is pending
the run is finished.

A unit never outlives the Lambda: with ``RESERVE_SECONDS`` left it saves a checkpoint and is sent again (``Suspend``).
Asana's transient failures (5xx after the client's retries, a rate limit longer than the time left) suspend it too,
with a delay; after ``MAX_FAILURES`` failures in a row, or ``MAX_RATE_LIMIT_WAITS`` waits, it completes with the
error. Permanent failures (credentials rejected, access denied, a project gone) complete it at once, with the seed's
message and fix in the run record: never retried in a loop. Anything else (a bug) fails the SQS record, which comes
back after the visibility timeout and goes to the dead-letter queue after ``maxReceiveCount`` receives.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from aws_lambda_powertools.metrics import MetricUnit

from asana_integration.asana.client import AsanaClient, CallObserver
from asana_integration.errors import AsanaRateLimited, IntegrationError
from asana_integration.models.sync import RunError
from asana_integration.observability import logger, metrics
from asana_integration.stores.mirror import MirrorStore
from asana_integration.stores.sync_state import Completion, SyncStateStore, UnitReport
from asana_integration.sync import planner, tasks
from asana_integration.sync.meter import CallMeter
from asana_integration.sync.queue import UnitQueue
from asana_integration.sync.rate_budget import RateBudget, RateBudgetExhausted
from asana_integration.sync.unit_run import ScopesMode, Suspend, UnitRun
from asana_integration.sync.units import StartMessage, Unit, UnitKind, UnitMessage, parse_message

# Time kept back from the Lambda's remaining time to stop cleanly: one more Asana call may take the whole client
# timeout, then the page's writes, the checkpoint and the re-queue.
RESERVE_MARGIN_SECONDS = 10.0
MAX_FAILURES = 5
MAX_RATE_LIMIT_WAITS = 30
FAILURE_BACKOFF_SECONDS = 30.0

RUNNERS: dict[UnitKind, Callable[[UnitRun], None]] = {
    "plan": planner.plan,
    "users": planner.list_users,
    "teams": planner.list_teams,
    "projects": planner.list_projects,
    "memberships": planner.list_memberships,
    "tasks": tasks.sync_all_tasks,
    "task_events": tasks.follow_task_events,
    "task_changes": tasks.follow_task_changes,
}


class ClientFactory(Protocol):
    def __call__(self, org_id: str, observer: CallObserver, remaining_ms: Callable[[], int]) -> AsanaClient:
        """The Asana client acting for the organization (its PAT, else its OAuth connection); raises the
        ``IntegrationError`` that says why there is none."""
        ...


BudgetFactory = Callable[[str, Callable[[], float]], RateBudget]


class SyncEngine:
    def __init__(
        self,
        *,
        state: SyncStateStore,
        mirror: MirrorStore,
        queue: UnitQueue,
        clients: ClientFactory,
        budgets: BudgetFactory,
        scopes_mode: ScopesMode,
        asana_timeout_seconds: float,
        max_receive_count: int = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._state = state
        self._mirror = mirror
        self._queue = queue
        self._clients = clients
        self._budgets = budgets
        self._scopes_mode: ScopesMode = scopes_mode
        self._reserve_seconds = asana_timeout_seconds + RESERVE_MARGIN_SECONDS
        self._max_receive_count = max_receive_count
        self._clock = clock

    def handle_body(self, body: str, remaining_ms: Callable[[], int], *, receive_count: int = 1) -> None:
        self.handle(parse_message(body), remaining_ms, receive_count=receive_count)

    def handle(
        self, message: StartMessage | UnitMessage, remaining_ms: Callable[[], int], *, receive_count: int = 1
    ) -> None:
        """Run the message. The unexpected (a bug, AWS failing) is raised for SQS to deliver the message again; on
        its last receive, before it goes to the dead-letter queue, its unit is first recorded as failed, so the run
        ends and shows why instead of staying "running" until its lease runs out."""
        try:
            if isinstance(message, StartMessage):
                self._start(message, remaining_ms)
            else:
                self._run_unit(message, remaining_ms)
        except Exception as error:
            if receive_count >= self._max_receive_count:
                self._fail_for_good(message, error)
            raise

    def _fail_for_good(self, message: StartMessage | UnitMessage, error: Exception) -> None:
        if isinstance(message, StartMessage):  # the start runs the run's plan: that is the unit that failed
            plan = Unit(kind="plan", projects=message.projects)
            unit_message = UnitMessage(org_id=message.org_id, run_id=message.run_id, mode=message.mode, unit=plan)
        else:
            unit_message = message
        org_id, run_id = unit_message.org_id, unit_message.run_id
        try:
            run = self._state.get_run(org_id, run_id)
            if run is None or run.status != "running":
                return
            checkpoint = self._state.load_checkpoint(org_id, run_id, unit_message.unit.unit_id)
            self._failed(unit_message, UnitReport(), error, checkpoint.chunks if checkpoint else 0)
        except Exception as recording:  # the message's own failure is what gets raised
            logger.warning(
                "could not record a unit failing for good",
                extra={"org_id": org_id, "run_id": run_id, "error": type(recording).__name__},
            )

    # --- Start ------------------------------------------------------------------------------------------------------

    def _start(self, message: StartMessage, remaining_ms: Callable[[], int]) -> None:
        if message.trigger == "schedule" and message.mode == "incremental" and not self._state.imports(message.org_id):
            # Nothing to follow between full passes: no run to record every few minutes. (A manual start has its run
            # recorded already, so it always goes on.)
            return
        run, _ = self._state.start_run(message.org_id, message.run_id, message.mode, message.trigger)
        if run.run_id != message.run_id:
            logger.info(
                "sync not started: a run is live",
                extra={"org_id": message.org_id, "live_run": run.run_id, "skipped_run": message.run_id},
            )
            return
        plan = UnitMessage(
            org_id=message.org_id,
            run_id=message.run_id,
            mode=message.mode,
            unit=Unit(kind="plan", projects=message.projects),
        )
        self._run_unit(plan, remaining_ms)

    # --- Units ------------------------------------------------------------------------------------------------------

    def _run_unit(self, message: UnitMessage, remaining_ms: Callable[[], int]) -> None:
        org_id, run_id, unit = message.org_id, message.run_id, message.unit
        run = self._state.get_run(org_id, run_id)
        if run is None or run.status != "running":
            logger.info("sync unit dropped: its run is over", extra={"org_id": org_id, "run_id": run_id})
            return
        children = self._state.unit_children(org_id, run_id, unit.unit_id)
        if children is not None:  # completed before: this is a redelivery
            self._send_children(children)
            self._finish(org_id, run_id)
            return

        def time_left() -> float:
            return remaining_ms() / 1000 - self._reserve_seconds

        if time_left() <= 0:
            self._queue.send([message])
            return
        meter = CallMeter(self._budgets(org_id, time_left))
        checkpoint = self._state.load_checkpoint(org_id, run_id, unit.unit_id)
        try:
            client = self._clients(org_id, meter, lambda: max(0, int(time_left() * 1000)))
        except IntegrationError as error:  # no usable identity: the unit fails with the reason, never retried
            self._failed(message, UnitReport(), error, checkpoint.chunks if checkpoint else 0)
            return
        unit_run = UnitRun(
            org_id=org_id,
            run_id=run_id,
            mode=message.mode,
            unit=unit,
            client=client,
            meter=meter,
            mirror=self._mirror,
            state=self._state,
            scopes_mode=self._scopes_mode,
            clock=self._clock,
            time_left=time_left,
            checkpoint=checkpoint,
        )
        earlier = (meter.calls, meter.limited)  # restored from the checkpoint: earlier executions' calls
        try:
            RUNNERS[unit.kind](unit_run)
        except Suspend as suspended:
            self._count_calls(meter.calls - earlier[0], meter.limited - earlier[1])
            if not self._suspend(message, suspended):
                self._failed(message, unit_run.finished_report(), suspended.cause, unit_run.checkpoint_chunks)
            return
        except IntegrationError as error:
            self._count_calls(meter.calls - earlier[0], meter.limited - earlier[1])
            self._failed(message, unit_run.finished_report(), error, unit_run.checkpoint_chunks)
            return
        self._count_calls(meter.calls - earlier[0], meter.limited - earlier[1])
        self._complete(message, unit_run.finished_report(), unit_run.spawned, unit_run.checkpoint_chunks)

    def _failed(self, message: UnitMessage, report: UnitReport, error: Exception | None, chunks: int) -> None:
        """Complete the unit with its error (and whatever it did before): the run shows it, nothing retries it."""
        logger.warning(
            "sync unit failed",
            extra={
                "org_id": message.org_id,
                "run_id": message.run_id,
                "unit": message.unit.unit_id,
                "code": getattr(error, "code", type(error).__name__),
            },
        )
        report.error = _run_error(message.unit, error)
        self._complete(message, report, [], chunks)

    def _suspend(self, message: UnitMessage, suspended: Suspend) -> bool:
        """Send the unit again later; False when it has failed or waited too often (complete it with the error)."""
        cause = suspended.cause
        delay = suspended.delay_seconds
        update: dict[str, int] = {}
        if isinstance(cause, AsanaRateLimited | RateBudgetExhausted):
            update["rate_limit_waits"] = message.rate_limit_waits + 1
            if update["rate_limit_waits"] > MAX_RATE_LIMIT_WAITS:
                return False
        elif cause is not None:
            update["attempt"] = message.attempt + 1
            if update["attempt"] > MAX_FAILURES:
                return False
            delay = max(delay, FAILURE_BACKOFF_SECONDS * 2 ** (update["attempt"] - 1))
        logger.info(
            "sync unit suspended",
            extra={
                "org_id": message.org_id,
                "run_id": message.run_id,
                "unit": message.unit.unit_id,
                "delay_s": round(delay),
                "cause": getattr(cause, "code", type(cause).__name__ if cause else "time"),
            },
        )
        self._queue.send([message.model_copy(update=update)], delay_seconds=delay)
        return True

    def _complete(self, message: UnitMessage, report: UnitReport, spawned: list[Unit], chunks: int) -> None:
        org_id, run_id = message.org_id, message.run_id
        children = [UnitMessage(org_id=org_id, run_id=run_id, mode=message.mode, unit=unit) for unit in spawned]
        report.spawned = [child.model_dump(mode="json") for child in children]
        outcome = self._state.complete_unit(org_id, run_id, message.unit.unit_id, report, checkpoint_chunks=chunks)
        if outcome is Completion.RUN_GONE:
            return
        if outcome is Completion.DUPLICATE:
            self._send_children(self._state.unit_children(org_id, run_id, message.unit.unit_id) or [])
        else:
            self._queue.send(children)
            metrics.add_metric(name="SyncUnits", unit=MetricUnit.Count, value=1)
            written = sum(counts.written for counts in report.counts.values())
            metrics.add_metric(name="SyncEntitiesWritten", unit=MetricUnit.Count, value=written)
            logger.info(
                "sync unit done",
                extra={
                    "org_id": org_id,
                    "run_id": run_id,
                    "unit": message.unit.unit_id,
                    "counts": {kind.label: counts.as_dict() for kind, counts in report.counts.items()},
                    "asana_calls": report.asana_calls,
                    "spawned": len(children),
                    "error": report.error.code if report.error else None,
                },
            )
        self._finish(org_id, run_id)

    def _send_children(self, children: list[dict[str, object]]) -> None:
        self._queue.send([UnitMessage.model_validate(child) for child in children])

    def _finish(self, org_id: str, run_id: str) -> None:
        finished = self._state.finish_if_done(org_id, run_id)
        if finished is None:
            return
        if finished.status == "failed":
            metrics.add_metric(name="SyncRunsFailed", unit=MetricUnit.Count, value=1)
        logger.info(
            "sync run finished",
            extra={"org_id": org_id, "run_id": run_id, "status": finished.status, "units": finished.total_units},
        )

    @staticmethod
    def _count_calls(calls: int, limited: int) -> None:
        metrics.add_metric(name="SyncAsanaCalls", unit=MetricUnit.Count, value=calls)
        if limited:
            metrics.add_metric(name="SyncRateLimited", unit=MetricUnit.Count, value=limited)


def _run_error(unit: Unit, error: Exception | None) -> RunError:
    if isinstance(error, IntegrationError):
        return RunError(kind=unit.kind, code=error.code, message=error.message, fix=error.fix)
    if isinstance(error, RateBudgetExhausted):
        return RunError(
            kind=unit.kind,
            code="asana_rate_limited",
            message="The organization's Asana rate budget stayed exhausted; this list was not finished.",
            fix=(
                "Nothing to do if the next run succeeds. If other integrations share the token, raise "
                "ASANA_RATE_LIMIT_PER_MINUTE only to what your Asana plan allows (1,500 a minute on paid plans)."
            ),
        )
    return RunError(
        kind=unit.kind,
        code="sync_failed",
        message="The sync could not finish this list.",
        fix="Nothing to do if the next run succeeds; otherwise see the sync worker's logs.",
    )
