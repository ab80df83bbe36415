"""The organization's shared Asana budget: no rolling minute ever exceeds the plan's limit, however many workers draw
from it; a 429 pauses them all; a wait longer than the time left is refused, not waited."""

from __future__ import annotations

import bisect

import boto3
import pytest

from asana_integration.sync.rate_budget import RateBudget, RateBudgetExhausted

PER_MINUTE = 600


class Clock:
    """A shared fake time: sleeping moves it forward instead of waiting."""

    def __init__(self) -> None:
        self.now = 1_750_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def table(aws):
    return boto3.resource("dynamodb").Table(aws.mirror_table_name)


@pytest.fixture
def clock():
    return Clock()


def budget(table, clock, org: str = "org-a", *, time_left=None, per_minute: int = PER_MINUTE) -> RateBudget:
    return RateBudget(table, org, per_minute, clock=clock, sleep=clock.sleep, time_left=time_left)


def test_no_rolling_minute_exceeds_the_limit_whatever_the_workers_do(table, clock):
    workers = [budget(table, clock) for _ in range(3)]
    calls: list[float] = []

    for n in range(2 * PER_MINUTE):
        workers[n % 3].take()
        calls.append(clock.now)
        clock.now += 0.01  # the call itself

    busiest = max(bisect.bisect_left(calls, start + 60) - index for index, start in enumerate(calls))
    assert busiest <= PER_MINUTE
    # …and the budget is used, not hoarded: 1,200 calls take a little over two minutes, not much more.
    assert calls[-1] - calls[0] < 2 * 60 * 1.15


def test_tokens_are_taken_in_growing_batches_so_a_long_list_writes_once_per_ten_calls(table, clock, monkeypatch):
    writes: list[int] = []
    original = table.put_item
    monkeypatch.setattr(table, "put_item", lambda **kwargs: writes.append(1) or original(**kwargs))
    worker = budget(table, clock)

    for _ in range(55):
        worker.take()

    assert len(writes) == 8  # batches of 1, 2, 4, 8, 10, 10, 10 and 10 tokens: 55


def test_a_429_pauses_every_worker_of_the_organization_for_its_retry_after(table, clock):
    first, second = budget(table, clock), budget(table, clock)
    first.take()
    started = clock.now

    first.pause(30)
    second.take()

    assert clock.now - started >= 30
    assert budget(table, clock, org="org-b").take() is None  # another organization's budget is its own


def test_a_wait_longer_than_the_time_left_is_refused(table, clock):
    worker = budget(table, clock, time_left=lambda: 0.05)
    for _ in range(PER_MINUTE // 10):  # the bucket's whole burst
        worker.take()

    with pytest.raises(RateBudgetExhausted) as exhausted:
        worker.take()

    assert exhausted.value.wait_seconds == pytest.approx(1 / ((PER_MINUTE - PER_MINUTE // 10) / 60))
    assert clock.slept == []


def test_a_shorter_pause_never_shortens_a_longer_one(table, clock):
    worker = budget(table, clock)
    worker.pause(60)
    worker.pause(5)
    started = clock.now

    worker.take()

    assert clock.now - started >= 60


def test_a_batch_request_costs_one_token_per_action_as_asana_counts_it(table, clock):
    from asana_integration.sync.meter import CallMeter

    meter = CallMeter(budget(table, clock, per_minute=60))
    actions: list[float] = []

    for _ in range(12):  # twelve batches of ten actions: two minutes' worth at 60 a minute
        meter.before_request(10)
        actions += [clock.now] * 10
        meter.after_response(200)

    busiest = max(bisect.bisect_left(actions, start + 60) - index for index, start in enumerate(actions))
    assert busiest <= 60
    assert meter.calls == 12  # the run record counts HTTP requests
