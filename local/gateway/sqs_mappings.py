"""The template's SQS event source mappings (function events of ``Type: SQS``), read and checked as Lambda checks them.

SAM turns each such event into an ``AWS::Lambda::EventSourceMapping``; the properties and their limits here are that
resource's (AWS Lambda Developer Guide, "Using Lambda with Amazon SQS"; CloudFormation's ``ScalingConfig``):

- ``BatchSize``: 1 to 10,000, default 10; at most 10 on a FIFO queue; above 10 only with a batching window of at least
  one second.
- ``MaximumBatchingWindowInSeconds``: 0 to 300, default 0; standard queues only.
- ``ScalingConfig.MaximumConcurrency``: 2 to 1,000 concurrent batches. Without it Lambda starts with five and scales
  up; locally the mapping stays at five (:data:`DEFAULT_CONCURRENCY`).
- ``FunctionResponseTypes``: only ``ReportBatchItemFailures``.
- ``Enabled: false``: no polling.

``FilterCriteria`` is refused: Lambda deletes the messages a filter rejects, and delivering them instead would make the
local system behave differently from the deployed one without saying so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local.gateway.environment import LOCAL_DEPLOYMENT
from local.template import TemplateError, load_template, local_intrinsics

_log = logging.getLogger("local.sqs")

DEFAULT_BATCH_SIZE = 10
DEFAULT_CONCURRENCY = 5
_REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"


@dataclass(frozen=True)
class SqsMapping:
    function: str  # logical id
    event_name: str
    queue_arn: str
    queue: str  # the queue's logical id in the template, or its name when the ARN names no queue of the template
    batch_size: int = DEFAULT_BATCH_SIZE
    batching_window_seconds: int = 0
    maximum_concurrency: int = DEFAULT_CONCURRENCY
    report_batch_item_failures: bool = False

    @property
    def queue_name(self) -> str:
        return self.queue_arn.rsplit(":", 1)[1]

    @property
    def account_id(self) -> str:
        return self.queue_arn.split(":")[4]


def sqs_mappings(references: Mapping[str, str], template: Mapping[str, Any] | None = None) -> list[SqsMapping]:
    """Every enabled SQS event of the template's functions, the queue ARN resolved through ``references`` (the local
    resources' ``"<Queue>.Arn"`` values, as :meth:`local.aws.LocalAws.create_resources` returns them)."""
    template = template or load_template()
    intrinsics = local_intrinsics(references, template, LOCAL_DEPLOYMENT)
    queues_by_arn = {arn: name.removesuffix(".Arn") for name, arn in references.items() if name.endswith(".Arn")}
    found = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event_name, event in resource["Properties"].get("Events", {}).items():
            if event["Type"] != "SQS":
                continue
            where = f"{logical_id}.Events.{event_name}"
            props = intrinsics.resolve(event["Properties"])
            if not props.get("Enabled", True):
                _log.info("%s is disabled (Enabled: false); not polled", where)
                continue
            arn = str(props["Queue"])
            found.append(
                _checked(
                    where,
                    SqsMapping(
                        function=logical_id,
                        event_name=event_name,
                        queue_arn=arn,
                        queue=queues_by_arn.get(arn, arn.rsplit(":", 1)[1]),
                        batch_size=int(props.get("BatchSize", DEFAULT_BATCH_SIZE)),
                        batching_window_seconds=int(props.get("MaximumBatchingWindowInSeconds", 0)),
                        maximum_concurrency=int(
                            props.get("ScalingConfig", {}).get("MaximumConcurrency", DEFAULT_CONCURRENCY)
                        ),
                        report_batch_item_failures=_REPORT_BATCH_ITEM_FAILURES
                        in _response_types(where, props.get("FunctionResponseTypes", [])),
                    ),
                    props,
                )
            )
    return found


def _response_types(where: str, types: list[str]) -> list[str]:
    unknown = set(types) - {_REPORT_BATCH_ITEM_FAILURES}
    if unknown:
        raise TemplateError(f"{where}: FunctionResponseTypes takes only {_REPORT_BATCH_ITEM_FAILURES}, not {unknown}")
    return types


def _checked(where: str, mapping: SqsMapping, props: Mapping[str, Any]) -> SqsMapping:
    """Lambda's CreateEventSourceMapping limits: a template that breaks one fails to deploy, so it fails here too."""
    fifo = mapping.queue_name.endswith(".fifo")
    problems = []
    if not 1 <= mapping.batch_size <= (10 if fifo else 10_000):
        problems.append(f"BatchSize {mapping.batch_size} is outside 1..{10 if fifo else 10_000}")
    if mapping.batch_size > 10 and mapping.batching_window_seconds < 1:
        problems.append("a BatchSize above 10 needs MaximumBatchingWindowInSeconds of at least 1")
    if not 0 <= mapping.batching_window_seconds <= 300:
        problems.append(f"MaximumBatchingWindowInSeconds {mapping.batching_window_seconds} is outside 0..300")
    if fifo and mapping.batching_window_seconds:
        problems.append("a FIFO queue takes no MaximumBatchingWindowInSeconds")
    if not 2 <= mapping.maximum_concurrency <= 1000:
        problems.append(f"ScalingConfig.MaximumConcurrency {mapping.maximum_concurrency} is outside 2..1000")
    if "FilterCriteria" in props:
        problems.append(
            "FilterCriteria is not emulated locally (Lambda deletes the messages a filter rejects); "
            "teach local/gateway/sqs_mappings.py and the poller before using it"
        )
    if problems:
        raise TemplateError(f"{where}: {'; '.join(problems)}")
    return mapping
