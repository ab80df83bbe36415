"""Fault switches: make the next N matching requests fail, stall or be rate-limited.

Each switch is a rule with a remaining count and an optional path prefix (e.g. "/api/1.0/projects" or
"/-/oauth_token"). A request consumes at most one rule of each kind, oldest first, so tests can queue e.g. "two 503s
then one 429". Control-API paths (/_sandbox) are never affected.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

CONTROL_PREFIX = "/_sandbox"


@dataclass
class FaultRule:
    kind: str  # "error" | "delay" | "rate_limit"
    remaining: int
    path_prefix: str = ""
    status: int = 500
    delay_seconds: float = 0.0
    retry_after: int = 1


@dataclass(frozen=True)
class FaultDecision:
    delay_seconds: float = 0.0
    error_status: int | None = None
    retry_after: int | None = None


class FaultSwitches:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def inject_errors(self, count: int = 1, status: int = 500, path_prefix: str = "") -> None:
        if not 500 <= status <= 599:
            raise ValueError("status must be a 5xx code")
        self._add(FaultRule("error", count, path_prefix, status=status))

    def inject_delay(self, seconds: float, count: int = 1, path_prefix: str = "") -> None:
        self._add(FaultRule("delay", count, path_prefix, delay_seconds=seconds))

    def force_rate_limit(self, count: int = 1, retry_after: int = 1, path_prefix: str = "") -> None:
        self._add(FaultRule("rate_limit", count, path_prefix, retry_after=retry_after))

    def _add(self, rule: FaultRule) -> None:
        if rule.remaining < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._rules.append(rule)

    def reset(self) -> None:
        with self._lock:
            self._rules.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(rule) for rule in self._rules]

    def take(self, path: str) -> FaultDecision:
        """Consume the rules that apply to this request and say what to do with it."""
        if path.startswith(CONTROL_PREFIX):
            return FaultDecision()
        taken: dict[str, FaultRule] = {}
        with self._lock:
            for rule in self._rules:
                if rule.kind not in taken and path.startswith(rule.path_prefix):
                    taken[rule.kind] = rule
                    rule.remaining -= 1
            self._rules = [rule for rule in self._rules if rule.remaining > 0]
        delay, error, limited = taken.get("delay"), taken.get("error"), taken.get("rate_limit")
        return FaultDecision(
            delay_seconds=delay.delay_seconds if delay else 0.0,
            error_status=error.status if error else None,
            retry_after=limited.retry_after if limited else None,
        )
