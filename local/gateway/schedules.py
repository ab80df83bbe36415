"""The template's ``Schedule`` and ``ScheduleV2`` events: their payloads as AWS delivers them, and a timer to fire them.

- ``ScheduleV2`` (EventBridge Scheduler) without ``Input`` delivers Scheduler's default notification, whose
  ``detail`` is the *string* ``"{}"``; with ``Input`` the function receives that JSON, with Scheduler's context
  keywords (``<aws.scheduler.scheduled-time>`` and others) substituted.
- ``Schedule`` (an EventBridge rule) delivers the "Scheduled Event" from ``aws.events`` with ``detail`` ``{}``, or
  ``Input`` verbatim.

``rate(...)`` expressions are timed here; ``cron(...)`` ones are only fired on demand (``POST
/_local/schedules/<FunctionLogicalId>``), which is also how tests and people run a schedule now.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from local.gateway.environment import LOCAL_DEPLOYMENT
from local.gateway.runtime import ACCOUNT_ID, REGION, STACK_NAME
from local.template import Intrinsics, load_template

_log = logging.getLogger("local.schedules")

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class ScheduleSpec:
    function: str  # logical id
    event_name: str  # the key under the function's Events
    kind: Literal["Schedule", "ScheduleV2"]
    expression: str
    name: str
    input: str | None
    enabled: bool

    @property
    def arn(self) -> str:
        if self.kind == "ScheduleV2":
            return f"arn:aws:scheduler:{REGION}:{ACCOUNT_ID}:schedule/default/{self.name}"
        return f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{self.name}"

    @property
    def interval_seconds(self) -> int | None:
        return rate_seconds(self.expression)


def schedules(template: Mapping[str, Any] | None = None) -> list[ScheduleSpec]:
    template = template or load_template()
    intrinsics = Intrinsics(template, LOCAL_DEPLOYMENT)
    found = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event_name, event in resource["Properties"].get("Events", {}).items():
            if event["Type"] not in ("Schedule", "ScheduleV2"):
                continue
            # Only what is read here is evaluated (a DeadLetterConfig names resources this module has no value for).
            # Parameters take their defaults: a rate like !Ref IncrementalSyncRate resolves as deployed by default.
            props = {
                key: intrinsics.resolve(value)
                for key, value in event["Properties"].items()
                if key in ("Schedule", "ScheduleExpression", "Name", "Input", "State", "Enabled")
            }
            kind: Literal["Schedule", "ScheduleV2"] = event["Type"]
            # SAM names a ScheduleV2 after its generated resource (<Function><Event>); CloudFormation names a rule
            # <stack>-<Function><Event>-<suffix>.
            default_name = (
                f"{logical_id}{event_name}" if kind == "ScheduleV2" else f"{STACK_NAME}-{logical_id}{event_name}"
            )
            state = props.get("State", "ENABLED" if props.get("Enabled", True) else "DISABLED")
            found.append(
                ScheduleSpec(
                    function=logical_id,
                    event_name=event_name,
                    kind=kind,
                    expression=props["Schedule"] if kind == "Schedule" else props["ScheduleExpression"],
                    name=str(props.get("Name", default_name)),
                    input=props.get("Input"),
                    enabled=state == "ENABLED",
                )
            )
    return found


def rate_seconds(expression: str) -> int | None:
    """Seconds between runs of a ``rate(...)`` expression; ``None`` for ``cron(...)``/``at(...)``. AWS insists on the
    singular unit for 1 and the plural otherwise, and so does this."""
    found = _RATE.match(expression.strip())
    if found is None:
        if expression.startswith("rate("):
            raise ValueError(f"invalid rate expression {expression!r}")
        return None
    value, unit = int(found.group(1)), found.group(2)
    if value < 1 or (value == 1) != (not unit.endswith("s")):
        raise ValueError(f"invalid rate expression {expression!r} (use '1 hour' but '2 hours')")
    return value * _UNIT_SECONDS[unit.rstrip("s")]


def scheduled_event(schedule: ScheduleSpec, *, now: float | None = None, attempt: int = 1) -> Any:
    now = time.time() if now is None else now
    timestamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    if schedule.input is not None:
        text = schedule.input
        if schedule.kind == "ScheduleV2":
            for keyword, value in {
                "<aws.scheduler.schedule-arn>": schedule.arn,
                "<aws.scheduler.scheduled-time>": timestamp,
                "<aws.scheduler.execution-id>": secrets.token_hex(8),
                "<aws.scheduler.attempt-number>": str(attempt),
            }.items():
                text = text.replace(keyword, value)
        return json.loads(text)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler" if schedule.kind == "ScheduleV2" else "aws.events",
        "account": ACCOUNT_ID,
        "time": timestamp,
        "region": REGION,
        "resources": [schedule.arn],
        "detail": "{}" if schedule.kind == "ScheduleV2" else {},
    }


class Scheduler:
    """Fires each enabled ``rate(...)`` schedule every interval, first one interval after start (as a new schedule
    does). Each firing runs in its own thread, so a long run never delays another schedule."""

    def __init__(self, specs: list[ScheduleSpec], fire: Callable[[ScheduleSpec], object]) -> None:
        self._fire = fire
        self._stop = threading.Event()
        self._timed: list[tuple[ScheduleSpec, int]] = []
        for spec in specs:
            interval = spec.interval_seconds
            if not spec.enabled:
                continue
            if interval is None:
                _log.info(
                    "%s (%s) is not timed locally; fire it with POST /_local/schedules/%s",
                    spec.name,
                    spec.expression,
                    spec.function,
                )
                continue
            self._timed.append((spec, interval))
        self._thread = threading.Thread(target=self._run, name="local-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        started = time.monotonic()
        due = {spec.name: started + interval for spec, interval in self._timed}
        while self._timed:
            wait = max(0.0, min(due.values()) - time.monotonic())
            if self._stop.wait(wait):
                return
            for spec, interval in self._timed:
                if due[spec.name] <= time.monotonic():
                    due[spec.name] += interval
                    threading.Thread(target=self._fire, args=(spec,), name=f"schedule:{spec.name}", daemon=True).start()
