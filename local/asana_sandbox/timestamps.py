"""Asana's time formats: date-times as ISO 8601 UTC with milliseconds ("2012-02-22T02:06:58.147Z"), dates as
YYYY-MM-DD. The sandbox keeps POSIX seconds internally and converts only at the edges.

Parsing is lenient the way `datetime.fromisoformat` is (a `Z` or an offset, with or without fractions, or a bare
date); a value without a zone is taken as UTC. Which variants Asana itself accepts is not documented.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from local.asana_sandbox.errors import AsanaError


def iso(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def iso_or_none(seconds: float | None) -> str | None:
    return None if seconds is None else iso(seconds)


def parse_datetime(param: str, raw: str) -> float:
    """A query or body date-time as POSIX seconds, or Asana's 400 naming the parameter (wording: sandbox guess)."""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise AsanaError(400, f"{param}: Not a valid date-time: {raw}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_date(param: str, raw: str) -> str:
    """A calendar date (YYYY-MM-DD) as given, or Asana's 400 (wording: sandbox guess)."""
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError as exc:
        raise AsanaError(400, f"{param}: Not a valid date: {raw}") from exc
