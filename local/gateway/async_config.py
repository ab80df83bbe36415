"""Each function's asynchronous invocation settings from the template: ``EventInvokeConfig`` and ``DeadLetterQueue``.

Lambda's defaults and limits (``AWS::Lambda::EventInvokeConfig``; AWS Lambda Developer Guide, "Asynchronous
invocation"): ``MaximumRetryAttempts`` 0 to 2, default 2; ``MaximumEventAgeInSeconds`` 60 to 21,600, default 21,600
(six hours); ``DestinationConfig`` ``OnSuccess``/``OnFailure`` with SAM's ``Type`` (SQS, SNS, Lambda, EventBridge, S3)
and ``Destination`` ARN. ``DeadLetterQueue`` (SAM: ``Type`` SQS or SNS, ``TargetArn``) receives the bare event of a
discarded invocation. ``Globals.Function`` may set both; a function's own keys win, as SAM merges maps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local.gateway.environment import LOCAL_DEPLOYMENT
from local.template import TemplateError, load_template, local_intrinsics

DEFAULT_MAXIMUM_RETRY_ATTEMPTS = 2
DEFAULT_MAXIMUM_EVENT_AGE_SECONDS = 21_600


@dataclass(frozen=True)
class Destination:
    type: str  # SAM's Type: SQS, SNS, Lambda, EventBridge or S3
    arn: str


@dataclass(frozen=True)
class AsyncConfig:
    maximum_retry_attempts: int = DEFAULT_MAXIMUM_RETRY_ATTEMPTS
    maximum_event_age_seconds: int = DEFAULT_MAXIMUM_EVENT_AGE_SECONDS
    on_success: Destination | None = None
    on_failure: Destination | None = None
    dead_letter_queue: Destination | None = None


def async_configs(references: Mapping[str, str], template: Mapping[str, Any] | None = None) -> dict[str, AsyncConfig]:
    """Every function's settings by logical id (the defaults where the template sets none), destinations resolved
    through ``references`` as :func:`local.gateway.sqs_mappings.sqs_mappings` resolves queues."""
    template = template or load_template()
    intrinsics = local_intrinsics(references, template, LOCAL_DEPLOYMENT)
    globals_ = template.get("Globals", {}).get("Function", {})
    configs = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        invoke = intrinsics.resolve({**globals_.get("EventInvokeConfig", {}), **props.get("EventInvokeConfig", {})})
        dead_letter = intrinsics.resolve(props.get("DeadLetterQueue", globals_.get("DeadLetterQueue")))
        destinations = invoke.get("DestinationConfig", {})
        config = AsyncConfig(
            maximum_retry_attempts=int(invoke.get("MaximumRetryAttempts", DEFAULT_MAXIMUM_RETRY_ATTEMPTS)),
            maximum_event_age_seconds=int(invoke.get("MaximumEventAgeInSeconds", DEFAULT_MAXIMUM_EVENT_AGE_SECONDS)),
            on_success=_destination(logical_id, "OnSuccess", destinations.get("OnSuccess")),
            on_failure=_destination(logical_id, "OnFailure", destinations.get("OnFailure")),
            dead_letter_queue=Destination(str(dead_letter["Type"]), str(dead_letter["TargetArn"]))
            if dead_letter
            else None,
        )
        configs[logical_id] = _checked(logical_id, config)
    return configs


def _destination(function: str, condition: str, spec: Mapping[str, Any] | None) -> Destination | None:
    if not spec:
        return None
    if "Destination" not in spec:
        # SAM then creates the queue or topic itself; the local stack creates only the template's own resources.
        raise TemplateError(
            f"{function}.EventInvokeConfig.DestinationConfig.{condition} names no Destination; the local stack only "
            "knows destinations the template declares. Name the queue (!GetAtt Queue.Arn)."
        )
    return Destination(str(spec.get("Type", "")), str(spec["Destination"]))


def _checked(function: str, config: AsyncConfig) -> AsyncConfig:
    problems = []
    if not 0 <= config.maximum_retry_attempts <= 2:
        problems.append(f"MaximumRetryAttempts {config.maximum_retry_attempts} is outside 0..2")
    if not 60 <= config.maximum_event_age_seconds <= DEFAULT_MAXIMUM_EVENT_AGE_SECONDS:
        problems.append(f"MaximumEventAgeInSeconds {config.maximum_event_age_seconds} is outside 60..21600")
    if problems:
        raise TemplateError(f"{function}.EventInvokeConfig: {'; '.join(problems)}")
    return config
