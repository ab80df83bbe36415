"""The organization's shared Asana budget: no rolling minute ever exceeds the plan's limit, however many workers draw
from it; a 429 pauses them all; a wait longer than the time left is refused, not waited."""

from __future__ import annotations

import bisect
from decimal import Decimal

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


def test_another_organization_s_budget_neither_waits_for_a_pause_nor_shares_its_tokens(table, clock):
    paused = budget(table, clock, org="org-a")
    paused.pause(30)
    for _ in range(PER_MINUTE // 10):  # org-a's bucket is empty and blocked; org-b's whole burst is still there
        budget(table, clock, org="org-b").take()

    assert clock.slept == []


@pytest.mark.parametrize("per_minute", [150, 20])
def test_small_plans_never_exceed_their_limit_in_any_rolling_minute(table, clock, per_minute):
    workers = [budget(table, clock, per_minute=per_minute) for _ in range(2)]
    calls: list[float] = []

    for n in range(3 * per_minute):
        workers[n % 2].take()
        calls.append(clock.now)
        clock.now += 0.01

    busiest = max(bisect.bisect_left(calls, start + 60) - index for index, start in enumerate(calls))
    assert busiest <= per_minute
    burst, refill = per_minute // 10, (per_minute - per_minute // 10) / 60
    assert calls[-1] - calls[0] < (3 * per_minute - burst) / refill * 1.15  # and the budget is used, not hoarded


def test_one_call_takes_one_token_and_no_batch_waits_for_more_than_the_bucket_holds(table, clock):
    worker = budget(table, clock, per_minute=50)  # a bucket of 5 tokens, refilled with the other 45 over the minute

    worker.take()
    item = table.get_item(Key={"pk": "ORG#org-a#RATE", "sk": "BUDGET"})["Item"]
    assert float(item["tokens"]) == 4
    for _ in range(40):  # batches grow to 8 and 10 tokens: more than the bucket ever holds
        worker.take()

    assert clock.slept
    assert max(clock.slept) <= 5 / (45 / 60) + 0.01


def test_a_conflicting_writer_retries_on_the_state_the_failed_write_returned_without_reading_again(
    table, clock, monkeypatch
):
    first, second = budget(table, clock), budget(table, clock)
    first.take()
    second.take()  # both have read and written the bucket once: each knows a version
    first.take()  # first's next batch moves the version on; second's knowledge is now stale
    first.take()
    reads: list[int] = []
    original = table.get_item
    monkeypatch.setattr(table, "get_item", lambda **kwargs: reads.append(1) or original(**kwargs))

    second.take()  # its write fails the version check; the failure carries the current state

    assert reads == []


def test_without_a_lambda_deadline_a_wait_of_up_to_a_minute_is_waited_and_a_longer_one_refused(table, clock):
    waiting = budget(table, clock, org="org-wait")
    waiting.pause(59)
    waiting.take()
    assert clock.slept[0] == pytest.approx(59, abs=0.01)

    refusing = budget(table, clock, org="org-refuse")
    refusing.pause(61)
    clock.slept.clear()
    with pytest.raises(RateBudgetExhausted) as exhausted:
        refusing.take()
    assert exhausted.value.wait_seconds == pytest.approx(61, abs=0.01)
    assert clock.slept == []


def test_a_wait_that_fits_the_time_left_is_waited_for_a_whole_batch_else_for_one_token(table, clock):
    refill = (60 - 6) / 60  # 60 a minute: a bucket of 6, 0.9 tokens a second
    roomy = budget(table, clock, org="org-roomy", per_minute=60, time_left=lambda: 30.0)
    for _ in range(6 + 1 + 2 + 4):  # the burst, then batches of 1, 2, 4 and 6 while empty
        roomy.take()
    assert max(clock.slept) * refill > 1.5  # a batch of several tokens was waited for in one go

    clock.slept.clear()
    tight = budget(table, clock, org="org-tight", per_minute=60, time_left=lambda: 1.5 / refill)
    for _ in range(6 + 1 + 2 + 4):
        tight.take()  # a batch would not fit in the time left: one token at a time does
    assert 0 < len(clock.slept) <= 1 + 2 + 4  # once per token at most: no polling of the bucket in between
    assert all(s * refill <= 1.01 for s in clock.slept)


def test_after_a_429_the_bucket_starts_empty_so_the_first_call_waits_for_a_token_to_refill(table, clock):
    refill = (PER_MINUTE - PER_MINUTE // 10) / 60
    budget(table, clock).pause(30)  # Asana counted the refused calls too: nothing is left when the pause ends
    started = clock.now

    budget(table, clock).take()

    assert clock.now - started >= 30 + 1 / refill - 0.01


def test_at_the_instant_a_pause_ends_the_worker_waits_for_a_token_not_for_the_pause_again(table, clock):
    refill = (PER_MINUTE - PER_MINUTE // 10) / 60
    budget(table, clock).pause(30)

    budget(table, clock).take()

    assert clock.slept == [pytest.approx(30), pytest.approx(1 / refill)]


def test_a_batch_whose_wait_is_exactly_the_time_left_is_still_waited_for_whole(table, clock):
    refill = (60 - 6) / 60  # 60 a minute: a bucket of 6, 0.9 tokens a second
    worker = budget(table, clock, per_minute=60, time_left=lambda: 2 / refill)
    worker.take()  # its next batch is 2 tokens
    budget(table, clock, per_minute=60).pause(1)  # and the bucket is empty when the pause ends

    worker.take()

    assert clock.slept == [pytest.approx(1), 2 / refill]


def test_short_of_half_a_batch_a_worker_waits_for_the_whole_batch_instead_of_writing_for_a_few_tokens(table, clock):
    refill = (PER_MINUTE - PER_MINUTE // 10) / 60
    worker = budget(table, clock)
    for _ in range(1 + 2 + 4 + 8):  # its batches have grown to 10 tokens
        worker.take()
    # Other workers left 4 tokens: less than half of its batch.
    table.put_item(
        Item={
            "pk": "ORG#org-a#RATE",
            "sk": "BUDGET",
            "tokens": 4,
            "refilled_at": int(clock.now),
            "blocked_until": 0,
            "version": 100,
        }
    )

    worker.take()

    assert clock.slept == [pytest.approx((10 - 4) / refill)]


def test_a_bucket_short_of_one_token_by_rounding_alone_gives_the_token_without_a_wait(table, clock):
    # Stored times are rounded to the millisecond, so a bucket can hold a millionth less than the token it refilled.
    table.put_item(
        Item={
            "pk": "ORG#org-a#RATE",
            "sk": "BUDGET",
            "tokens": Decimal("0.999999"),
            "refilled_at": int(clock.now),
            "blocked_until": 0,
            "version": 100,
        }
    )

    budget(table, clock).take()

    assert clock.slept == []


def test_a_worker_that_waited_reads_the_bucket_and_takes_its_tokens_in_one_write(table, clock, monkeypatch):
    worker = budget(table, clock)
    worker.take()
    budget(table, clock).pause(5)  # another worker's 429: the first one's view of the bucket is stale now
    writes: list[int] = []
    original = table.put_item
    monkeypatch.setattr(table, "put_item", lambda **kwargs: writes.append(1) or original(**kwargs))

    worker.take()

    # One write that fails on the stale view (it returns the paused state), then one after the wait and its read.
    assert len(writes) == 2


@pytest.mark.parametrize(("per_minute", "capacity"), [(5, 1), (25, 2)])
def test_a_small_plan_s_bucket_holds_a_tenth_of_its_minute_in_whole_calls(table, clock, per_minute, capacity):
    refill = (per_minute - capacity) / 60
    worker = budget(table, clock, per_minute=per_minute)
    for _ in range(capacity):  # the burst: no wait
        worker.take()
    assert clock.slept == []

    worker.take()

    # The next batch (at most the bucket) refills at the rest of the minute's calls.
    assert clock.slept == [pytest.approx(min(2, capacity) / refill)]
