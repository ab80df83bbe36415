"""Records every AWS API call a Lambda function's code makes during the test suite.

How: one botocore handler on ``before-parameter-build``, added to ``botocore.handlers.BUILTIN_HANDLERS`` before any
session exists (the way moto installs its own stubber), so every session and client made afterwards carries it: those
of ``mock_aws`` tests and those of the local stack's functions talking to the moto server alike. The event carries the
operation and its API parameters exactly as the code passed them.

Who: the call belongs to the function whose code is on the calling thread's stack, found by the file's directory
under ``functions/<dir>/`` (the template's ``CodeUri``) and by the module Lambda called into, the outermost frame of
that directory (the ``Handler``'s module: several functions share one ``CodeUri``, e.g. the webhook function and its
consumer), not by module names, which differ between tests (imported as ``functions.settings.app``) and the local
gateway (loaded from the file). Calls with no function on the stack (test set-up, moto's own bootstrapping) are not
the functions' and are ignored. A function that ever hands AWS calls to a thread of its own would need that thread
attributed too (today none does).

What: the service and operation, which top-level parameters were present (``Tags``, ``KmsKeyId``…), the values of the
parameters that name a resource (table, key, secret, queue), the KMS encryption context, and the function's environment
variables at that moment: resource names come from the environment, so the audit can map a concrete name used in a
test (``asana-integration-test``) back to what the template gives the function (``!Ref IntegrationTable``).
"""

from __future__ import annotations

import os
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import botocore.handlers

from local.template import ROOT, functions, load_template

FUNCTIONS_DIR = ROOT / "functions"

# Top-level request parameters whose value names a resource (or the key a resource is encrypted with).
RESOURCE_PARAMETERS = frozenset({"TableName", "IndexName", "KeyId", "SecretId", "Name", "KmsKeyId", "QueueUrl"})


@dataclass(frozen=True)
class AwsCall:
    code_dir: str  # the function's directory under functions/, e.g. "settings"
    service: str  # botocore's service name: "dynamodb", "kms", "secretsmanager"
    operation: str  # the API operation: "PutItem"
    parameters: frozenset[str]  # the top-level parameters present
    identifiers: tuple[tuple[str, str], ...]  # (parameter, value) for each parameter naming a resource
    encryption_context: tuple[tuple[str, str], ...]  # KMS EncryptionContext, sorted
    environment: tuple[tuple[str, str], ...]  # the function's template variables as the process had them
    handler_module: str = "app"  # the module Lambda called into (the Handler's), e.g. "consumer"

    @property
    def function(self) -> tuple[str, str]:
        """The function the call belongs to: its code directory and its handler module."""
        return self.code_dir, self.handler_module

    def identifier(self, parameter: str) -> str | None:
        return next((value for name, value in self.identifiers if name == parameter), None)

    @property
    def env(self) -> dict[str, str]:
        return dict(self.environment)

    def describe(self) -> str:
        names = ", ".join(f"{name}={value}" for name, value in self.identifiers)
        return f"{self.service}:{self.operation}({names})"


class Recording:
    """The calls seen so far, each distinct call once with how often it happened."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[AwsCall] = Counter()
        self.unattributed = 0  # calls with no function on the stack (set-up): counted to prove the hook is live
        self.errors: list[str] = []  # a failure inside the hook must fail the audit, never the call it watched

    def add(self, call: AwsCall | None) -> None:
        with self._lock:
            if call is None:
                self.unattributed += 1
            else:
                self.calls[call] += 1

    def by_function(self) -> dict[tuple[str, str], list[AwsCall]]:
        """The calls of each function, by code directory and handler module."""
        grouped: dict[tuple[str, str], list[AwsCall]] = {}
        for call in self.calls:
            grouped.setdefault(call.function, []).append(call)
        return grouped


RECORDING = Recording()
_installed = False


def install() -> None:
    """Hook every botocore session created from now on. Call before any session exists (pytest_configure)."""
    global _installed  # noqa: PLW0603 - one hook per process, however often pytest configures
    if _installed:
        return
    botocore.handlers.BUILTIN_HANDLERS.append(("before-parameter-build", _on_call))
    _installed = True


def _on_call(params: dict[str, Any], model: Any, **_: Any) -> None:
    try:
        RECORDING.add(_capture(params, model))
    except Exception as error:  # reported by the audit: raising here would look like an AWS failure to the code
        RECORDING.errors.append(f"{type(error).__name__}: {error}")


def _capture(params: dict[str, Any], model: Any) -> AwsCall | None:
    function = calling_function(sys._getframe())
    if function is None:
        return None
    code_dir, handler_module = function
    identifiers = [(name, value) for name, value in params.items() if name in RESOURCE_PARAMETERS]
    # Batch and transaction operations name their tables inside the request.
    identifiers += [("RequestItems", table) for table in params.get("RequestItems", {})]
    for item in params.get("TransactItems", []):
        identifiers += [(f"TransactItems.{kind}", body["TableName"]) for kind, body in item.items()]
    context = params.get("EncryptionContext") or {}
    return AwsCall(
        code_dir=code_dir,
        service=model.service_model.service_name,
        operation=model.name,
        parameters=frozenset(params),
        identifiers=tuple(sorted((name, str(value)) for name, value in identifiers)),
        encryption_context=tuple(sorted(context.items())),
        environment=tuple(sorted((name, os.environ[name]) for name in _template_variables() if name in os.environ)),
        handler_module=handler_module,
    )


def calling_function(frame: Any) -> tuple[str, str] | None:
    """The ``functions/<dir>`` whose code is on this stack and the module of its outermost frame there (the one
    Lambda called: the handler's), or None."""
    found = None
    while frame is not None:
        location = _function_file_of(frame.f_code.co_filename)
        if location is not None and (found is None or location[0] == found[0]):
            found = location
        frame = frame.f_back
    return found


@cache
def _function_file_of(filename: str) -> tuple[str, str] | None:
    try:
        relative = Path(os.path.abspath(filename)).relative_to(FUNCTIONS_DIR)
    except ValueError:
        return None
    return (relative.parts[0], Path(relative.parts[1]).stem) if len(relative.parts) == 2 else None


@cache
def _template_variables() -> frozenset[str]:
    return frozenset(name for spec in functions(load_template()) for name in spec.environment)
