"""A small stack for the SQS event source and asynchronous invocation tests: moto in server mode (as the local stack
runs it) with the queues of a miniature template, toy functions in the in-process runtime, and the gateway's poller
and asynchronous invoker wired as ``local.stack`` wires them. Each test states its queue, mapping and
``EventInvokeConfig`` as template properties.
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from local.aws import LocalAws
from local.gateway import (
    AsyncInvoker,
    Destinations,
    EventSources,
    FunctionHost,
    QueuePoller,
    async_configs,
    sqs_mappings,
)
from tests.local import toys

WORKER = "WorkerFunction"
_ON_FAILURE = {"OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": ["FailureQueue", "Arn"]}}}
SCHEDULED = "ScheduledFunction"
T = TypeVar("T")


def rig_template(
    root: Path,
    *,
    queue: Mapping[str, Any] | None = None,
    mapping: Mapping[str, Any] | None = None,
    worker_timeout: int = 3,
    invoke_config: Mapping[str, Any] | None = None,
    dead_letter_queue: bool = False,
    scheduled_timeout: int = 2,
) -> dict[str, Any]:
    """WorkQueue (and its WorkDeadLetter, declared after it as a template may) polled by WorkerFunction; and
    ScheduledFunction, a ScheduleV2 target with an EventInvokeConfig whose records go to FailureQueue and
    SuccessQueue."""
    for function in (WORKER, SCHEDULED):
        (root / "functions" / function).mkdir(parents=True)
        (root / "functions" / function / "app.py").write_text(toys.toy_handler_code(function))
    scheduled: dict[str, Any] = {
        "CodeUri": f"functions/{SCHEDULED}/",
        "Handler": "app.lambda_handler",
        "Timeout": scheduled_timeout,
        "EventInvokeConfig": invoke_config if invoke_config is not None else {"DestinationConfig": _ON_FAILURE},
        "Events": {
            "Nightly": {
                "Type": "ScheduleV2",
                "Properties": {
                    "ScheduleExpression": "rate(1 day)",
                    "DeadLetterConfig": {"Arn": {"Fn::GetAtt": ["ScheduleDeadLetter", "Arn"]}},
                },
            }
        },
    }
    if dead_letter_queue:
        scheduled["DeadLetterQueue"] = {"Type": "SQS", "TargetArn": {"Fn::GetAtt": ["FunctionDeadLetter", "Arn"]}}
    return {
        "Resources": {
            "WorkQueue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 30, **(queue or {})}},
            "WorkDeadLetter": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "FailureQueue": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "SuccessQueue": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "ScheduleDeadLetter": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "FunctionDeadLetter": {"Type": "AWS::SQS::Queue", "Properties": {}},
            WORKER: {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": f"functions/{WORKER}/",
                    "Handler": "app.lambda_handler",
                    "Timeout": worker_timeout,
                    "Events": {
                        "Work": {
                            "Type": "SQS",
                            "Properties": {"Queue": {"Fn::GetAtt": ["WorkQueue", "Arn"]}, **(mapping or {})},
                        }
                    },
                },
            },
            SCHEDULED: {"Type": "AWS::Serverless::Function", "Properties": scheduled},
        }
    }


def redrive_to_dead_letter(max_receive_count: int) -> dict[str, Any]:
    return {
        "RedrivePolicy": {
            "deadLetterTargetArn": {"Fn::GetAtt": ["WorkDeadLetter", "Arn"]},
            "maxReceiveCount": max_receive_count,
        }
    }


@dataclass
class QueueRig:
    aws: LocalAws
    template: dict[str, Any]
    references: dict[str, str]
    host: FunctionHost
    sources: EventSources
    invoker: AsyncInvoker
    sqs: Any

    @property
    def poller(self) -> QueuePoller:
        (poller,) = self.sources.pollers
        return poller

    def arn(self, queue: str) -> str:
        return self.references[f"{queue}.Arn"]

    def send(self, body: str, queue: str = "WorkQueue", **parameters: Any) -> str:
        sent = self.sqs.send_message(QueueUrl=self.references[queue], MessageBody=body, **parameters)
        message_id: str = sent["MessageId"]
        return message_id

    def receive_all(self, queue: str) -> list[dict[str, Any]]:
        """Every message now visible in ``queue`` (for the dead-letter and destination queues)."""
        messages: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.references[queue],
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
                VisibilityTimeout=30,
            ).get("Messages", [])
            if not batch:
                return messages
            messages += batch


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - SQS's own body checksum


def eventually[T](probe: Callable[[], T | None], *, timeout: float = 10.0, interval: float = 0.1) -> T:
    """The first result of ``probe`` that is not None (for what SQS makes visible when a timeout ends)."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing came within {timeout} s")
        time.sleep(interval)


@contextmanager
def running_rig(
    aws: LocalAws, template: dict[str, Any], root: Path, *, retry_delay_scale: float = 0.0
) -> Iterator[QueueRig]:
    """The rig on a running moto server, emptied first (a server per test module: starting one costs more than a
    test)."""
    toys.reset()
    aws.reset()
    references = dict(aws.create_resources(copy.deepcopy(template)).references)
    sqs = aws.sqs()
    host = FunctionHost(template, root=root)
    sources = EventSources([QueuePoller(m, host, sqs) for m in sqs_mappings(references, template)])
    invoker = AsyncInvoker(
        host, async_configs(references, template), Destinations(sqs), retry_delay_scale=retry_delay_scale
    )
    try:
        yield QueueRig(aws, template, references, host, sources, invoker, sqs)
    finally:
        sources.stop()
        invoker.stop()
        toys.reset()
