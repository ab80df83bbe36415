"""Scheduled events are asynchronous invocations with Lambda's retries, event age and destinations (the invocation
record's shape included), read from the template's ``EventInvokeConfig`` and ``DeadLetterQueue``."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from local.aws import LocalAws
from local.gateway import (
    AsyncConfig,
    AuthorizerConfig,
    Destination,
    Gateway,
    JwtAuthorizer,
    RouteTable,
    async_configs,
    scheduled_event,
    schedules,
)
from local.gateway.async_config import DEFAULT_MAXIMUM_EVENT_AGE_SECONDS
from local.gateway.async_invoke import AWS_RETRY_DELAYS_SECONDS, AsyncInvoker
from local.template import TemplateError, load_template
from tests.local import toys
from tests.local.queue_rig import SCHEDULED, QueueRig, rig_template, running_rig

Rig = Callable[..., AbstractContextManager[QueueRig]]
FAILURE_ARN = "arn:aws:sqs:us-east-1:123456789012:securedb-asana-local-FailureQueue"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:securedb-asana-local-ScheduledFunction"
ON_FAILURE = {"OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": ["FailureQueue", "Arn"]}}}
ON_SUCCESS = {"OnSuccess": {"Type": "SQS", "Destination": {"Fn::GetAtt": ["SuccessQueue", "Arn"]}}}


@pytest.fixture
def rig_in(local_aws: LocalAws, tmp_path: Path) -> Rig:
    """``with rig_in(invoke_config=...) as rig:`` retries at once (the waits scaled to nothing)."""

    def build(*, retry_delay_scale: float = 0.0, **template: Any) -> AbstractContextManager[QueueRig]:
        return running_rig(local_aws, rig_template(tmp_path, **template), tmp_path, retry_delay_scale=retry_delay_scale)

    return build


def _event(rig: QueueRig) -> dict[str, Any]:
    (spec,) = schedules(rig.template)
    event: dict[str, Any] = scheduled_event(spec)
    return event


def _fails_first(times: int) -> toys.Behaviour:
    def behaviour(event: dict[str, Any], context: Any) -> Any:
        if len(toys.calls(SCHEDULED)) <= times:
            raise RuntimeError("not yet")
        return {"done": True}

    return behaviour


# ------------------------------------------------------------------------------------------------ the settings
def test_settings_default_to_lambdas(tmp_path: Path) -> None:
    template = rig_template(tmp_path, invoke_config={})
    assert async_configs({}, template)[SCHEDULED] == AsyncConfig(2, DEFAULT_MAXIMUM_EVENT_AGE_SECONDS)


def test_settings_are_read_with_their_destinations_and_globals(tmp_path: Path) -> None:
    template = rig_template(
        tmp_path,
        invoke_config={"MaximumEventAgeInSeconds": 600, "DestinationConfig": ON_FAILURE},
        dead_letter_queue=True,
    )
    template["Globals"] = {"Function": {"EventInvokeConfig": {"MaximumRetryAttempts": 1}}}
    references = {"FailureQueue.Arn": FAILURE_ARN, "FunctionDeadLetter.Arn": "arn:aws:sqs:us-east-1:1:dlq"}
    config = async_configs(references, template)[SCHEDULED]
    assert config == AsyncConfig(
        maximum_retry_attempts=1,  # from Globals, merged as SAM merges maps
        maximum_event_age_seconds=600,
        on_failure=Destination("SQS", FAILURE_ARN),
        dead_letter_queue=Destination("SQS", "arn:aws:sqs:us-east-1:1:dlq"),
    )


@pytest.mark.parametrize(
    "invoke_config",
    [
        {"MaximumRetryAttempts": 3},
        {"MaximumRetryAttempts": -1},
        {"MaximumEventAgeInSeconds": 59},
        {"MaximumEventAgeInSeconds": 21_601},
        {"DestinationConfig": {"OnFailure": {"Type": "SQS"}}},  # SAM would create a queue the stack does not know
    ],
)
def test_settings_lambda_would_refuse_are_refused(tmp_path: Path, invoke_config: dict[str, Any]) -> None:
    with pytest.raises(TemplateError, match="ScheduledFunction"):
        async_configs({}, rig_template(tmp_path, invoke_config=invoke_config))


def test_the_templates_own_settings_are_valid() -> None:
    queues = [name for name, resource in load_template()["Resources"].items() if resource["Type"] == "AWS::SQS::Queue"]
    references = {f"{name}.Arn": f"arn:aws:sqs:us-east-1:123456789012:{name}" for name in queues}
    upkeep = async_configs(references)["SyncFunction"]
    assert upkeep.on_failure == Destination("SQS", references["SyncFailureQueue.Arn"])


# ------------------------------------------------------------------------------------------------ failing for good
def test_a_failing_event_is_retried_twice_then_recorded_on_the_failure_destination(rig_in: Rig) -> None:
    with rig_in() as rig:
        toys.behave(SCHEDULED, toys.raising("the upkeep broke"))
        event = _event(rig)
        delivery = rig.invoker.invoke(SCHEDULED, event).wait(30)
        assert (delivery.condition, len(delivery.attempts)) == ("RetriesExhausted", 3)
        assert {attempt.request_id for attempt in delivery.attempts} == {delivery.request_id}  # one event, one id
        assert toys.calls(SCHEDULED) == [event] * 3
        assert delivery.record_sent_to == (rig.arn("FailureQueue"),)

        (message,) = rig.receive_all("FailureQueue")
        record = json.loads(message["Body"])
        assert set(record) == {
            "version",
            "timestamp",
            "requestContext",
            "requestPayload",
            "responseContext",
            "responsePayload",
        }
        assert record["version"] == "1.0"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["timestamp"])
        assert record["requestContext"] == {
            "requestId": delivery.request_id,
            "functionArn": f"{FUNCTION_ARN}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        }
        assert record["requestPayload"] == event
        assert record["responseContext"] == {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        }
        payload = record["responsePayload"]
        assert (payload["errorType"], payload["errorMessage"], payload["requestId"]) == (
            "RuntimeError",
            "the upkeep broke",
            delivery.request_id,
        )
        assert any("raise RuntimeError(message)" in line for line in payload["stackTrace"])
        # The schedule's DeadLetterConfig is for events Scheduler could not deliver, not for function errors.
        assert rig.receive_all("ScheduleDeadLetter") == []


def test_retries_follow_maximum_retry_attempts(rig_in: Rig) -> None:
    with rig_in(invoke_config={"MaximumRetryAttempts": 0, "DestinationConfig": ON_FAILURE}) as rig:
        toys.behave(SCHEDULED, toys.raising())
        delivery = rig.invoker.invoke(SCHEDULED, _event(rig)).wait(30)
        assert (delivery.condition, len(delivery.attempts)) == ("RetriesExhausted", 1)
        (message,) = rig.receive_all("FailureQueue")
        assert json.loads(message["Body"])["requestContext"]["approximateInvokeCount"] == 1


def test_a_retry_that_succeeds_sends_no_failure_record(rig_in: Rig) -> None:
    with rig_in(invoke_config={"DestinationConfig": {**ON_FAILURE, **ON_SUCCESS}}) as rig:
        toys.behave(SCHEDULED, _fails_first(1))
        event = _event(rig)
        delivery = rig.invoker.invoke(SCHEDULED, event).wait(30)
        assert (delivery.condition, len(delivery.attempts), delivery.result) == ("Success", 2, {"done": True})
        assert rig.receive_all("FailureQueue") == []
        (message,) = rig.receive_all("SuccessQueue")
        record = json.loads(message["Body"])
        assert record["requestContext"]["condition"] == "Success"
        assert record["requestContext"]["approximateInvokeCount"] == 2
        assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
        assert (record["requestPayload"], record["responsePayload"]) == (event, {"done": True})


@pytest.mark.parametrize(("maximum_age", "attempts"), [(60, 1), (100, 2)])
def test_an_event_older_than_its_maximum_age_is_discarded(rig_in: Rig, maximum_age: int, attempts: int) -> None:
    """Age counts AWS's waits (a minute, then two), however short the local ones: 60 s expires at the first retry,
    100 s at the second."""
    with rig_in(invoke_config={"MaximumEventAgeInSeconds": maximum_age, "DestinationConfig": ON_FAILURE}) as rig:
        toys.behave(SCHEDULED, toys.raising())
        delivery = rig.invoker.invoke(SCHEDULED, _event(rig)).wait(30)
        assert (delivery.condition, len(delivery.attempts)) == ("EventAgeExceeded", attempts)
        (message,) = rig.receive_all("FailureQueue")
        context = json.loads(message["Body"])["requestContext"]
        assert (context["condition"], context["approximateInvokeCount"]) == ("EventAgeExceeded", attempts)


def test_a_timeout_is_a_function_error_with_lambdas_payload(rig_in: Rig) -> None:
    with rig_in(scheduled_timeout=1, invoke_config={"MaximumRetryAttempts": 0, "DestinationConfig": ON_FAILURE}) as rig:
        toys.behave(SCHEDULED, lambda event, context: time.sleep(1.5))
        delivery = rig.invoker.invoke(SCHEDULED, _event(rig)).wait(30)
        assert delivery.outcome == "timeout"
        (message,) = rig.receive_all("FailureQueue")
        assert json.loads(message["Body"])["responsePayload"] == {
            "errorType": "Sandbox.Timedout",
            "errorMessage": f"RequestId: {delivery.request_id} Error: Task timed out after 1.00 seconds",
        }


def test_a_dead_letter_queue_gets_the_event_with_lambdas_attributes(rig_in: Rig) -> None:
    with rig_in(invoke_config={"MaximumRetryAttempts": 0}, dead_letter_queue=True) as rig:
        toys.behave(SCHEDULED, toys.raising("x" * 2000))
        event = _event(rig)
        delivery = rig.invoker.invoke(SCHEDULED, event).wait(30)
        (message,) = rig.receive_all("FunctionDeadLetter")
        assert json.loads(message["Body"]) == event
        attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
        assert attributes == {"RequestID": delivery.request_id, "ErrorCode": "200", "ErrorMessage": "x" * 1024}


def test_every_attempt_gets_the_event_as_sent(rig_in: Rig) -> None:
    def mutating(event: dict[str, Any], context: Any) -> None:
        event.clear()
        raise RuntimeError("and it changed its event")

    with rig_in() as rig:
        toys.behave(SCHEDULED, mutating)
        event = _event(rig)
        rig.invoker.invoke(SCHEDULED, event).wait(30)
        assert toys.calls(SCHEDULED) == [event] * 3
        (message,) = rig.receive_all("FailureQueue")
        assert json.loads(message["Body"])["requestPayload"] == event


# ------------------------------------------------------------------------------------------------ timing
def test_retry_waits_are_awss_scaled(rig_in: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    with rig_in(retry_delay_scale=1 / 60) as rig:
        waits: list[float] = []
        monkeypatch.setattr(rig.invoker._stop, "wait", lambda seconds: waits.append(seconds) or False)
        toys.behave(SCHEDULED, toys.raising())
        rig.invoker.invoke(SCHEDULED, _event(rig)).wait(30)
        assert waits == [delay / 60 for delay in AWS_RETRY_DELAYS_SECONDS] == [1.0, 2.0]


def test_stopping_abandons_a_due_retry_and_sends_nothing(rig_in: Rig) -> None:
    with rig_in(retry_delay_scale=10.0) as rig:  # ten minutes to the first retry
        toys.behave(SCHEDULED, toys.raising())
        pending = rig.invoker.invoke(SCHEDULED, _event(rig))
        rig.invoker.stop()
        delivery = pending.wait(30)
        assert (delivery.condition, len(delivery.attempts), delivery.record_sent_to) == ("Stopped", 1, ())
        assert rig.receive_all("FailureQueue") == []


def test_a_negative_scale_is_refused(rig_in: Rig) -> None:
    with rig_in() as rig, pytest.raises(ValueError, match="retry_delay_scale"):
        AsyncInvoker(rig.host, retry_delay_scale=-1)


# ------------------------------------------------------------------------------------------------ the control endpoint
def _client(rig: QueueRig) -> Client:
    no_keys = JwtAuthorizer(AuthorizerConfig("http://127.0.0.1:9/", ("aud",), "Authorization"), lambda kid: None)
    gateway = Gateway(RouteTable([]), rig.host, no_keys, schedules(rig.template), invoker=rig.invoker)
    return Client(gateway, use_cookies=False)


def test_firing_a_failing_schedule_answers_when_it_settled(rig_in: Rig) -> None:
    with rig_in() as rig:
        toys.behave(SCHEDULED, toys.raising())
        answer = _client(rig).post(f"/_local/schedules/{SCHEDULED}")
        assert answer.status_code == 500
        body = answer.get_json()
        assert (body["condition"], body["attempts"], body["outcome"], body["error"]) == (
            "RetriesExhausted",
            3,
            "error",
            "RuntimeError",
        )
        assert body["recordSentTo"] == [rig.arn("FailureQueue")]


def test_firing_a_schedule_without_waiting_is_accepted(rig_in: Rig) -> None:
    with rig_in() as rig:
        toys.behave(SCHEDULED, lambda event, context: {"ok": True})
        client = _client(rig)
        answer = client.post(f"/_local/schedules/{SCHEDULED}?wait=false")
        assert answer.status_code == 202
        assert set(answer.get_json()) == {"function", "schedule", "requestId"}
        assert client.post(f"/_local/schedules/{SCHEDULED}?wait=soon").status_code == 400
