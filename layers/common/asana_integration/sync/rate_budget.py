"""One Asana rate budget per organization, shared by all its sync workers: a token bucket in DynamoDB.

Asana counts every request of a token (429s included) in a rolling minute: 1,500 on paid plans, 150 on free ones
(``ASANA_RATE_LIMIT_PER_MINUTE``). The bucket holds at most a tenth of a minute's calls and refills with the other
nine tenths over the minute, so no 60-second window can ever exceed the plan's limit, however the workers interleave.

Cost: a worker takes tokens in growing batches (1, 2, 4, 8, then 10 per conditional write), so a unit that makes one
call takes one token and a long listing writes DynamoDB once per ten calls (short of tokens, it waits for a batch).
Writes are optimistic (a version number): a conflicting writer gets the current state back from the failed condition
and tries again without a read.

A 429 pauses the whole organization: ``Retry-After`` is written as ``blocked_until`` and the bucket is emptied. A wait
that would outlast the Lambda's remaining time is never waited: ``RateBudgetExhausted`` tells the unit to save its
checkpoint and come back later (an SQS delay).

Asana's other limit, 50 concurrent reads per token, is kept structurally: a worker makes one call at a time and the
queue's event source runs at most 10 workers at once (template.yaml, ``ScalingConfig.MaximumConcurrency``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from asana_integration.stores.dynamo import is_condition_failed

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

MAX_BATCH = 10
MIN_WAIT_SECONDS = 0.001
_EPSILON = 1e-6
# Outside Lambda (no remaining-time callback) a wait longer than this gives up instead of blocking.
MAX_WAIT_SECONDS = 60.0


class RateBudgetExhausted(Exception):
    """The organization's budget has no token for longer than the time left: come back in ``wait_seconds``."""

    def __init__(self, wait_seconds: float) -> None:
        super().__init__(f"Asana rate budget exhausted for {wait_seconds:.1f} s")
        self.wait_seconds = wait_seconds


@dataclass(frozen=True, slots=True)
class _Bucket:
    tokens: float
    refilled_at: float
    blocked_until: float
    version: int


class RateBudget:
    def __init__(
        self,
        table: Table,
        org_id: str,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        time_left: Callable[[], float] | None = None,
    ) -> None:
        self._table = table
        self._key = {"pk": f"ORG#{org_id}#RATE", "sk": "BUDGET"}
        self.capacity = max(1, per_minute // 10)
        self.refill_per_second = (per_minute - self.capacity) / 60.0
        self._clock = clock
        self._sleep = sleep
        self._time_left = time_left
        self._held = 0  # tokens this worker took and has not used yet
        self._batch = 1
        self._bucket: _Bucket | None = None

    def take(self) -> None:
        """One token for one call to Asana: from the tokens held, else from the shared bucket (waiting if it fits)."""
        if self._held == 0:
            self._held = self._take_from_bucket()
            self._batch = min(MAX_BATCH, self._batch * 2)
        self._held -= 1

    def pause(self, retry_after: float) -> None:
        """Asana answered 429: no worker of the organization calls again before ``Retry-After`` has passed."""
        until = self._clock() + retry_after
        self._held = 0
        self._bucket = None
        try:
            self._table.update_item(
                Key=self._key,
                # Empty from then on, refilling after the pause: Asana counted the rejected calls too.
                UpdateExpression="SET blocked_until = :until, tokens = :zero, refilled_at = :until, "
                "version = if_not_exists(version, :zero) + :one",
                ConditionExpression="attribute_not_exists(blocked_until) OR blocked_until < :until",
                ExpressionAttributeValues={":until": _decimal(until), ":zero": 0, ":one": 1},
            )
        except ClientError as error:
            if not is_condition_failed(error):  # a longer pause is already in place
                raise

    def _take_from_bucket(self) -> int:
        want = min(self._batch, self.capacity)
        bucket = self._bucket or self._read()
        while True:
            now = self._clock()
            if bucket.blocked_until > now:
                self._wait(bucket.blocked_until - now)
                bucket = self._read()
                continue
            available = min(float(self.capacity), bucket.tokens + (now - bucket.refilled_at) * self.refill_per_second)
            # Stored times are rounded to the millisecond: "almost one" token is one.
            if available + _EPSILON >= max(1.0, want / 2):
                taken = max(1, min(want, math.floor(available + _EPSILON)))
                written = self._write(bucket, available - taken, now)
                if written is None:
                    return taken
                bucket = written  # another worker wrote first: try again on its state
                continue
            # Short of tokens: wait for a whole batch (one write per batch, also when the budget paces the workers),
            # or for one token when the batch would not fit in the time left, and then take that one (asking for
            # more would wait again in steps of MIN_WAIT_SECONDS, reading the bucket each time).
            batch = (want - available) / self.refill_per_second
            if batch > self._wait_limit():
                want = 1
            self._wait(batch if want > 1 else (1 - available) / self.refill_per_second)
            bucket = self._read()

    def _wait(self, seconds: float) -> None:
        seconds = max(seconds, MIN_WAIT_SECONDS)
        if seconds > self._wait_limit():
            raise RateBudgetExhausted(seconds)
        self._sleep(seconds)

    def _wait_limit(self) -> float:
        return self._time_left() if self._time_left is not None else MAX_WAIT_SECONDS

    def _read(self) -> _Bucket:
        item = self._table.get_item(Key=self._key, ConsistentRead=True).get("Item")
        return _bucket(item) if item else _Bucket(float(self.capacity), self._clock(), 0.0, 0)

    def _write(self, bucket: _Bucket, tokens: float, now: float) -> _Bucket | None:
        """Store the bucket after taking tokens; the state another worker wrote meanwhile, or None on success."""
        try:
            self._table.put_item(
                Item={
                    **self._key,
                    "tokens": _decimal(tokens),
                    "refilled_at": _decimal(now),
                    "blocked_until": _decimal(bucket.blocked_until),
                    "version": bucket.version + 1,
                },
                ConditionExpression="attribute_not_exists(pk) OR version = :version",
                ExpressionAttributeValues={":version": bucket.version},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not is_condition_failed(error):
                raise
            current: dict[str, Any] = error.response.get("Item") or {}  # type: ignore[assignment]
            if not current:
                return self._read()
            deserializer = TypeDeserializer()
            return _bucket({name: deserializer.deserialize(value) for name, value in current.items()})
        self._bucket = _Bucket(tokens, now, bucket.blocked_until, bucket.version + 1)
        return None


def _bucket(item: dict[str, Any]) -> _Bucket:
    return _Bucket(
        tokens=float(item.get("tokens", 0)),
        refilled_at=float(item.get("refilled_at", 0)),
        blocked_until=float(item.get("blocked_until", 0)),
        version=int(item.get("version", 0)),
    )


def _decimal(value: float) -> Decimal:
    # DynamoDB numbers are Decimals; milliseconds are precise enough for a bucket refilling at most 1,500 a minute.
    return Decimal(str(round(value, 3)))
