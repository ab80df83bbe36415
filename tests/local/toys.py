"""Toy Lambda handlers for the queue and asynchronous invocation tests.

Each toy function's ``app.py`` (written by :func:`toy_handler_code`) hands its event to :func:`handle`, which records
it and answers with whatever behaviour the test set for that function: the handlers run in this process, so a test
steers them directly instead of through the event.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

Behaviour = Callable[[dict[str, Any], Any], Any]

_lock = threading.Lock()
_behaviours: dict[str, Behaviour] = {}
_calls: dict[str, list[dict[str, Any]]] = {}


def toy_handler_code(function: str) -> str:
    return f"""
from tests.local import toys

def lambda_handler(event, context):
    return toys.handle({function!r}, event, context)
"""


def behave(function: str, behaviour: Behaviour) -> None:
    with _lock:
        _behaviours[function] = behaviour


def calls(function: str) -> list[dict[str, Any]]:
    """The events the function received, as it received them (copied before the behaviour ran)."""
    with _lock:
        return list(_calls.get(function, []))


def reset() -> None:
    with _lock:
        _behaviours.clear()
        _calls.clear()


def handle(function: str, event: dict[str, Any], context: Any) -> Any:
    with _lock:
        _calls.setdefault(function, []).append(copy.deepcopy(event))
        behaviour = _behaviours.get(function, lambda event, context: None)
    return behaviour(event, context)


def raising(message: str = "boom") -> Behaviour:
    def behaviour(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError(message)

    return behaviour


def failing_bodies(*bodies: str) -> Behaviour:
    """Reports the records with these bodies as batch item failures (as Powertools' BatchProcessor does)."""

    def behaviour(event: dict[str, Any], context: Any) -> Any:
        failed = [record["messageId"] for record in event["Records"] if record["body"] in bodies]
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}

    return behaviour
