"""The logger and metrics singletons every module imports; none creates its own (one configuration, one service name).

**Exceptions are logged by type and frames, never by message.** An exception's text is written by whoever raised it,
and libraries quote what they were given: requests' ``InvalidHeader`` quotes the whole ``Authorization`` header,
botocore quotes parameters, ``json`` keeps the document, pydantic the input. So ``ExceptionWithoutText``, a filter on
the logger (and its handler), turns a record's exception, before any handler formats it, into ``exception_name``
(the type) and ``exception`` (the traceback's frames and the type of each chained exception, without their messages
or notes); an exception passed as the message or an argument (``logger.error(error)``) becomes its type name. The
frames say where it failed, which is what an operator needs; the request id in the caller's error links the two.

Tracing is left to Lambda's active tracing in the template: the X-Ray SDK behind Powertools' Tracer costs ~350 ms of
cold start and is in maintenance mode.
"""

from __future__ import annotations

import logging
import traceback
import warnings
from collections.abc import Iterator

from aws_lambda_powertools import Logger, Metrics

# Most requests emit no metric by design; Powertools would otherwise warn about it on every such invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


class ExceptionWithoutText(logging.Filter):
    """Replaces a record's exception (and any exception among its message and arguments) with text-free facts."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            record.exception_name = type(error).__name__
            record.exception = describe(error)
        record.exc_info = None
        record.exc_text = None
        if isinstance(record.msg, BaseException):
            record.msg = _type_name(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_type_name(arg) if isinstance(arg, BaseException) else arg for arg in record.args)
        return True


def describe(error: BaseException) -> str:
    """The traceback of ``error`` and of the exceptions chained to it, oldest first, with types but no messages."""
    parts = []
    for link in reversed(list(_chain(error))):
        frames = "".join(traceback.StackSummary.extract(traceback.walk_tb(link.__traceback__)).format())
        parts.append(f"Traceback (most recent call last):\n{frames}{_type_name(link)}\n")
    return "\nThe above exception led to the following one:\n\n".join(parts)


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)


def _type_name(error: BaseException) -> str:
    kind = type(error)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


logger = Logger()
logger.addFilter(ExceptionWithoutText())
logger.logger_handler.addFilter(ExceptionWithoutText())  # records of child loggers skip the parent's filters
metrics = Metrics()
