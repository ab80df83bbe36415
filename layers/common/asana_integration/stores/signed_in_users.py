"""SecureDB users who have signed in, with the email their verified JWT carried: what email matching compares with.

One item per user in the mirror table, under ``pk = ORG#<org>#SDBUSER``, ``sk = <user id>``: ``email`` (lowercased),
``name`` (when the token has one) and ``last_seen_at`` (ISO 8601, UTC).

Recording happens on ordinary requests, so it must cost next to nothing: an execution environment remembers whom it
recorded today and skips them, and the one write it does make is conditional, so a user seen by many Lambdas is
written at most once a day (or when their email changes), never read first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from asana_integration.stores.dynamo import is_condition_failed, query_items

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

RECORD_INTERVAL_SECONDS = 24 * 3600
# Enough for every user a warm execution environment sees in a day; past it the memory is simply started afresh.
_REMEMBERED_USERS = 10_000


@dataclass(frozen=True, slots=True)
class SignedInUser:
    user_id: str
    email: str
    name: str | None
    last_seen_at: str


def iso_time(epoch_seconds: float) -> str:
    """The mirror table's timestamp format (UTC, seconds, ``Z``): strings of one format compare in time order."""
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class SignedInUserStore:
    def __init__(self, table: Table, *, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock
        # (org, user) → (email, when this environment last wrote it or found it written).
        self._recorded: dict[tuple[str, str], tuple[str, float]] = {}

    def record(self, org_id: str, user_id: str, email: str, name: str | None = None) -> bool:
        """Remember that the user signed in with this email. True when an item was written."""
        email = email.strip().lower()
        now = self._clock()
        remembered = self._recorded.get((org_id, user_id))
        if remembered is not None and remembered[0] == email and now - remembered[1] < RECORD_INTERVAL_SECONDS:
            return False
        item = {
            "pk": _pk(org_id),
            "sk": user_id,
            "email": email,
            "last_seen_at": iso_time(now),
            **({"name": name} if name else {}),
        }
        try:
            self._table.put_item(
                Item=item,
                # Written when new, when the email changed, or when the last write is a day old; otherwise refused.
                ConditionExpression="attribute_not_exists(pk) OR email <> :email OR last_seen_at < :stale",
                ExpressionAttributeValues={":email": email, ":stale": iso_time(now - RECORD_INTERVAL_SECONDS)},
            )
            written = True
        except ClientError as error:
            if not is_condition_failed(error):
                raise
            written = False  # another environment recorded it within the day
        if len(self._recorded) >= _REMEMBERED_USERS:
            self._recorded.clear()
        self._recorded[(org_id, user_id)] = (email, now)
        return written

    def users(self, org_id: str) -> Iterator[SignedInUser]:
        items = query_items(self._table, KeyConditionExpression=Key("pk").eq(_pk(org_id)))
        for item in items:
            yield SignedInUser(
                user_id=str(item["sk"]),
                email=str(item["email"]),
                name=str(item["name"]) if item.get("name") else None,
                last_seen_at=str(item["last_seen_at"]),
            )


def _pk(org_id: str) -> str:
    return f"ORG#{org_id}#SDBUSER"
