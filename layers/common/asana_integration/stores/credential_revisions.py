"""The revision of each organization's saved credentials: what makes a save reach every warm function at once.

Credentials are read from Secrets Manager through a cache (``stores/credentials.py``), so a warm function could act on
a Client Secret or PAT an admin has just replaced. Each save therefore stamps the credentials with a revision number,
written into the secret and, once the secret is written, into this item. A reader compares the two: a cached secret
older than the stamp is fetched again, so no function acts on credentials older than the last save. The check is
one strongly consistent ``GetItem``, cheaper than reading the secret itself.

Saves are serialized by a lock on the same item. Two admins saving at once would otherwise write the secret and the
stamp in crossed order and leave a stamp that no secret matches; under the lock, revisions increase in the order the
secret was written. A save whose function dies holding the lock blocks the next one for ``LOCK_SECONDS`` at most.

The item also keeps one fact about what Asana said of the saved credentials, read with the revision at no extra
cost: ``pat_rejected``, the revision whose PAT Asana refused (401). It is a fact about that PAT only, so a new save
(a new revision) leaves it behind.

Item ``ORG#<org>/CREDENTIALS_REVISION``: ``revision`` (absent before the first save under revisions), ``saved_at``,
``pat_rejected``, ``lock_owner`` and ``lock_expires_at`` (absent when free). It has no ``expires_at``: the TTL must
never drop it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from asana_integration.stores.dynamo import is_condition_failed

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

SK = "CREDENTIALS_REVISION"
# Longer than a save takes (Secrets Manager writes, with the deletion wait), shorter than an admin's patience.
LOCK_SECONDS = 30


class RevisionLockBusy(Exception):
    """Another save of the same organization's credentials holds the lock."""


@dataclass(frozen=True, slots=True)
class Published:
    """The revision of the last completed save, and whether Asana has since rejected its PAT."""

    revision: int
    pat_rejected: bool


class CredentialRevisionStore:
    def __init__(self, table: Table, *, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    def current(self, org_id: str) -> Published | None:
        """The last completed save, or None (never saved under revisions, or disconnected)."""
        item = self._table.get_item(
            Key=_key(org_id), ConsistentRead=True, ProjectionExpression="revision, pat_rejected"
        ).get("Item")
        revision = (item or {}).get("revision")
        if item is None or revision is None:
            return None
        rejected = item.get("pat_rejected")
        return Published(int(str(revision)), rejected is not None and int(str(rejected)) == int(str(revision)))

    def mark_pat_rejected(self, org_id: str, revision: int) -> bool:
        """Record that Asana refused the PAT saved in ``revision``; False if a newer save replaced it meanwhile."""
        try:
            self._table.update_item(
                Key=_key(org_id),
                UpdateExpression="SET pat_rejected = :revision",
                ConditionExpression="revision = :revision",
                ExpressionAttributeValues={":revision": revision},
            )
        except ClientError as error:
            if is_condition_failed(error):
                return False
            raise
        return True

    def lock(self, org_id: str, owner: str) -> int:
        """Take the save lock; the revision the new save must carry (greater than every earlier one).

        Raises :class:`RevisionLockBusy` while another save holds it.
        """
        now = self._clock()
        try:
            answer = self._table.update_item(
                Key=_key(org_id),
                UpdateExpression="SET lock_owner = :owner, lock_expires_at = :until",
                ConditionExpression="attribute_not_exists(lock_owner) OR lock_expires_at < :now",
                ExpressionAttributeValues={":owner": owner, ":until": int(now) + LOCK_SECONDS, ":now": int(now)},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if is_condition_failed(error):
                raise RevisionLockBusy() from None
            raise
        previous = answer.get("Attributes", {}).get("revision")
        # Microseconds since the epoch read like a time in a log, and stay increasing when a clock lags behind.
        return max(int(now * 1_000_000), int(str(previous)) + 1 if previous is not None else 0)

    def commit(self, org_id: str, owner: str, revision: int) -> bool:
        """Publish ``revision`` as the current one and release the lock; False if the lock was no longer ours."""
        try:
            self._table.update_item(
                Key=_key(org_id),
                UpdateExpression="SET revision = :revision, saved_at = :now REMOVE lock_owner, lock_expires_at",
                ConditionExpression="lock_owner = :owner",
                ExpressionAttributeValues={":revision": revision, ":now": int(self._clock()), ":owner": owner},
            )
        except ClientError as error:
            if is_condition_failed(error):
                return False
            raise
        return True

    def release(self, org_id: str, owner: str) -> None:
        """Give the lock back without publishing (the save failed). Someone else's lock is left alone."""
        try:
            self._table.update_item(
                Key=_key(org_id),
                UpdateExpression="REMOVE lock_owner, lock_expires_at",
                ConditionExpression="lock_owner = :owner",
                ExpressionAttributeValues={":owner": owner},
            )
        except ClientError as error:
            if not is_condition_failed(error):
                raise

    def delete(self, org_id: str) -> None:
        self._table.delete_item(Key=_key(org_id))


def _key(org_id: str) -> dict[str, str]:
    return {"pk": f"ORG#{org_id}", "sk": SK}
