"""Scheduled events: read from the template, shaped as EventBridge delivers them, fired on time and on demand."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from local.gateway.schedules import Scheduler, ScheduleSpec, rate_seconds, scheduled_event, schedules


def _hourly_upkeep() -> ScheduleSpec:
    (hourly,) = [spec for spec in schedules() if spec.function == "SyncFunction"]
    return hourly


def test_the_templates_hourly_sync_is_found() -> None:
    hourly = _hourly_upkeep()
    assert (hourly.function, hourly.event_name, hourly.kind) == ("SyncFunction", "Hourly", "ScheduleV2")
    assert hourly.interval_seconds == 3600
    assert hourly.enabled


def test_schedule_v2_default_payload() -> None:
    hourly = _hourly_upkeep()
    event = scheduled_event(hourly, now=1_700_000_000)
    assert event["source"] == "aws.scheduler"
    assert event["detail-type"] == "Scheduled Event"
    assert event["detail"] == "{}"  # Scheduler's default notification carries detail as a string
    assert event["time"] == "2023-11-14T22:13:20Z"
    # The template names the schedule after the stack (!Sub ${AWS::StackName}-sync-hourly), here the local stack.
    assert event["resources"] == [
        "arn:aws:scheduler:us-east-1:123456789012:schedule/default/securedb-asana-local-sync-hourly"
    ]
    assert {"version", "id", "account", "region"} <= event.keys()


def _spec(kind: Any, expression: str = "rate(5 minutes)", payload: str | None = None) -> ScheduleSpec:
    return ScheduleSpec("F", "E", kind, expression, "F-E", payload, enabled=True)


def test_eventbridge_rule_payload() -> None:
    event = scheduled_event(_spec("Schedule"))
    assert (event["source"], event["detail"]) == ("aws.events", {})
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/F-E"]


def test_input_is_delivered_with_scheduler_keywords_substituted() -> None:
    spec = _spec(
        "ScheduleV2", payload='{"at": "<aws.scheduler.scheduled-time>", "n": "<aws.scheduler.attempt-number>"}'
    )
    assert scheduled_event(spec, now=0) == {"at": "1970-01-01T00:00:00Z", "n": "1"}
    assert scheduled_event(_spec("Schedule", payload='{"x": 1}')) == {"x": 1}


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(1 hour)", 3600),
        ("rate(2 days)", 172800),
        ("cron(0 * * * ? *)", None),
    ],
)
def test_rate_expressions(expression: str, seconds: int | None) -> None:
    assert rate_seconds(expression) == seconds


@pytest.mark.parametrize("expression", ["rate(1 hours)", "rate(2 hour)", "rate(0 minutes)", "rate(5 weeks)"])
def test_invalid_rate_expressions_are_refused_as_aws_does(expression: str) -> None:
    with pytest.raises(ValueError, match="invalid rate"):
        rate_seconds(expression)


def test_scheduler_fires_after_each_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _spec("ScheduleV2", "rate(1 minute)")
    monkeypatch.setattr(ScheduleSpec, "interval_seconds", property(lambda self: 0.05))
    fired = threading.Event()
    scheduler = Scheduler([spec], lambda s: fired.set())
    scheduler.start()
    try:
        assert fired.wait(2)
    finally:
        scheduler.stop()


def test_scheduler_stops_promptly_when_nothing_is_due() -> None:
    scheduler = Scheduler([_spec("ScheduleV2", "rate(1 day)")], lambda s: None)
    scheduler.start()
    scheduler.stop()
    assert not scheduler._thread.is_alive()


def test_every_schedule_of_the_template_delivers_json() -> None:
    for spec in schedules():
        assert spec.interval_seconds is None or spec.interval_seconds >= 60  # expressions resolved, valid
        json.dumps(scheduled_event(spec))
