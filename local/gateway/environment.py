"""Each function's environment from ``template.yaml``, and the one process environment they must share locally.

A function's environment is its template variables (Globals + its own, intrinsics evaluated for the local deployment)
plus what Lambda itself sets from the function's configuration that the code reads: with ``LoggingConfig``'s JSON
format, ``AWS_LAMBDA_LOG_FORMAT`` and ``AWS_LAMBDA_LOG_LEVEL`` (the ``ApplicationLogLevel``), which Powertools' Logger
prefers to ``POWERTOOLS_LOG_LEVEL``.

On AWS every function has its own environment. Here all handlers run in one process with one ``os.environ``, so the
stack sets the union of the functions' variables once, before any handler module is imported. That is only faithful
if no two functions give a variable different values, so :func:`merged_environment` refuses the union when they do
(today they cannot: every variable comes from ``Globals``). A function that needs a value of its own would need its
own process; the error says so instead of letting one function silently read another's value.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from local.gateway.runtime import ACCOUNT_ID, REGION, STACK_NAME
from local.template import Deployment, FunctionSpec, functions, load_template, local_intrinsics, resolve_environment

# Pseudo parameters locally: moto's account and region, and the local stack's name.
LOCAL_DEPLOYMENT = Deployment(stack_name=STACK_NAME, region=REGION, account_id=ACCOUNT_ID)


class EnvironmentConflict(ValueError):
    pass


def function_environments(
    references: Mapping[str, str], template: Mapping[str, Any] | None = None
) -> dict[str, dict[str, str]]:
    """Each function's variables (Globals + its own), intrinsics resolved through ``references`` (parameter values
    and resources' local names), with the variables Lambda sets from the function's logging configuration."""
    template = template or load_template()
    return {
        spec.logical_id: {
            **resolve_environment(spec.environment, references, template, deployment=LOCAL_DEPLOYMENT),
            **lambda_logging_variables(spec, references, template),
        }
        for spec in functions(template)
    }


def lambda_logging_variables(
    spec: FunctionSpec, references: Mapping[str, str], template: Mapping[str, Any]
) -> dict[str, str]:
    """What Lambda's advanced logging controls set in the runtime's environment for this function."""
    intrinsics = local_intrinsics(references, template, LOCAL_DEPLOYMENT)
    log_format = str(intrinsics.resolve(spec.logging.get("LogFormat", "Text"))).upper()
    variables = {"AWS_LAMBDA_LOG_FORMAT": log_format}
    # Lambda applies log levels with the JSON format only (and then defaults the application level to INFO).
    if log_format == "JSON":
        variables["AWS_LAMBDA_LOG_LEVEL"] = str(intrinsics.resolve(spec.logging.get("ApplicationLogLevel", "INFO")))
    return variables


def merged_environment(environments: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for function, variables in environments.items():
        for name, value in variables.items():
            if name in merged and merged[name] != value:
                raise EnvironmentConflict(
                    f"{owner[name]} and {function} set {name} to different values; the local gateway runs every "
                    "function in one process with one environment, so it cannot give each its own value."
                )
            merged[name] = value
            owner.setdefault(name, function)
    return merged


@contextmanager
def process_environment(values: Mapping[str, str], *, remove: tuple[str, ...] = ()) -> Iterator[None]:
    """Set ``values`` (and delete ``remove``) in ``os.environ``, restoring the previous state on exit."""
    touched = set(values) | set(remove)
    saved = {name: os.environ.get(name) for name in touched}
    try:
        for name in remove:
            os.environ.pop(name, None)
        os.environ.update(values)
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = previous


def lambda_log_level(level: str) -> str:
    """Python's level name as Lambda spells it (``ApplicationLogLevel``, the template's ``LogLevel``): WARN, not
    WARNING; FATAL, not CRITICAL. Python's logging accepts both spellings."""
    level = level.upper()
    return {"WARNING": "WARN", "CRITICAL": "FATAL"}.get(level, level)
