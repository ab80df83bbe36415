"""A scheduled job's lease and cursor (the connection upkeep's, the webhook health check's): one item per job, so that
one run works at a time and each starts where the last stopped.

* **Lease.** A run takes it with a conditional write that succeeds only when no one holds it or the holder's time is
  up; a second run (a retry, a manual invocation, a late schedule) finds it held and leaves. This replaces reserved
  concurrency, which new accounts cannot set. A run holds it for its own remaining time plus a margin, so a run that
  Lambda kills mid-way blocks the next one only until then.
* **Cursor.** The last organization a run reached. The next run starts after it and wraps around, so a run that is
  short of time leaves the rest to the next one instead of every run dropping the same tail.

Item ``UPKEEP/<job>`` (``CONNECTIONS``, ``WEBHOOK_HEALTH``): ``lease_owner``, ``lease_expires_at`` (absent when
free) and ``cursor`` (the webhook health check keeps its cursor with its webhook details). It has no ``expires_at``:
the table's TTL must never take the cursor away.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from asana_integration.stores.dynamo import is_condition_failed

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

CONNECTION_UPKEEP = "CONNECTIONS"
WEBHOOK_HEALTH = "WEBHOOK_HEALTH"


@dataclass(frozen=True)
class UpkeepLease:
    """A lease this run holds: its owner token, and the cursor the previous runs left (None before the first)."""

    owner: str
    cursor: str | None


class UpkeepLeaseStore:
    def __init__(self, table: Table, job: str = CONNECTION_UPKEEP, *, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._key = {"pk": "UPKEEP", "sk": job}
        self._clock = clock

    def acquire(self, owner: str, hold_seconds: float) -> UpkeepLease | None:
        """Take the lease for ``hold_seconds`` if it is free or its holder's time is up; None while another holds it."""
        now = int(self._clock())
        try:
            answer = self._table.update_item(
                Key=self._key,
                UpdateExpression="SET lease_owner = :owner, lease_expires_at = :until",
                ConditionExpression="attribute_not_exists(lease_owner) OR lease_expires_at < :now",
                ExpressionAttributeValues={":owner": owner, ":until": now + math.ceil(hold_seconds), ":now": now},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if is_condition_failed(error):
                return None
            raise
        cursor = answer.get("Attributes", {}).get("cursor")
        return UpkeepLease(owner=owner, cursor=str(cursor) if cursor else None)

    def advance(self, lease: UpkeepLease, cursor: str) -> bool:
        """Record that the run has reached ``cursor``; False if the lease is no longer ours (nothing was written)."""
        try:
            self._table.update_item(
                Key=self._key,
                UpdateExpression="SET #cursor = :cursor",
                ConditionExpression="lease_owner = :owner",
                ExpressionAttributeNames={"#cursor": "cursor"},
                ExpressionAttributeValues={":cursor": cursor, ":owner": lease.owner},
            )
        except ClientError as error:
            if is_condition_failed(error):
                return False
            raise
        return True

    def release(self, lease: UpkeepLease) -> None:
        """Free the lease (the cursor stays), unless another run has taken it over meanwhile."""
        try:
            self._table.update_item(
                Key=self._key,
                UpdateExpression="REMOVE lease_owner, lease_expires_at",
                ConditionExpression="lease_owner = :owner",
                ExpressionAttributeValues={":owner": lease.owner},
            )
        except ClientError as error:
            if not is_condition_failed(error):
                raise
