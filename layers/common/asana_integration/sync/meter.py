"""The Asana client's observer during a sync unit: every attempt takes a token from the organization's rate budget,
and calls, 429s and retries are counted for the run record."""

from __future__ import annotations

from dataclasses import dataclass, field

from asana_integration.sync.rate_budget import RateBudget


@dataclass
class CallMeter:
    budget: RateBudget = field(repr=False)
    calls: int = 0
    limited: int = 0
    retries: int = 0

    def before_request(self, cost: int = 1) -> None:
        for _ in range(cost):  # a batch takes one token per action: Asana counts each as a request
            self.budget.take()

    def after_response(self, status: int | str) -> None:
        self.calls += 1  # Asana counts every request against the quota, rejected ones included

    def rate_limited(self, retry_after: int) -> None:
        self.limited += 1
        self.budget.pause(retry_after)

    def retried(self) -> None:
        self.retries += 1
