"""The one writer and reader of mirrored Asana entities (MirrorTable): the sync and the webhook consumer both use it.

Layout, keyed by organization so no query can reach another organization's data:

* ``pk = ORG#<org>#<KIND>`` (tasks: ``ORG#<org>#TASK#<project gid>``), ``sk = <gid>`` (memberships:
  ``<team gid>#<user gid>``);
* ``gid``, ``data`` (the mirrored fields), ``hash`` (SHA-256 of ``data``'s canonical JSON), ``synced_at`` (last
  write), and ``deleted_at`` on a tombstone: an entity gone from Asana is kept, marked with when it went.

No write when nothing changed: a list is compared against the partition's hashes, read once (``existing_hashes``),
and only new, changed or returning entities and new tombstones are written, 25 to a ``BatchWriteItem``. Tombstones are
single conditional updates (deletions are rare, and an update keeps the entity's last data).
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from asana_integration.errors import InvalidInput
from asana_integration.models.mirror import (
    Existing,
    MirrorCounts,
    MirroredItem,
    MirrorEntity,
    MirrorKind,
    MirrorPage,
)
from asana_integration.stores.dynamo import is_condition_failed, plain_values, query_items

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

BATCH_SIZE = 25  # BatchWriteItem's maximum
MAX_BATCH_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 0.05
MAX_PAGE_LIMIT = 100

Upserted = Literal["created", "updated", "unchanged"]


def iso_now(clock: Callable[[], float]) -> str:
    return datetime.fromtimestamp(clock(), UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class MirrorStore:
    def __init__(
        self,
        table: Table,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = table
        self._clock = clock
        self._sleep = sleep

    # --- Reading what is there ----------------------------------------------------------------------------------

    def existing_hashes(self, org_id: str, kind: MirrorKind, parent: str | None = None) -> dict[str, Existing]:
        """Every entity of the list (``kind`` under ``parent``) the mirror holds, tombstones included: gid → hash."""
        items = query_items(
            self._table,
            KeyConditionExpression=_key_condition(org_id, kind, parent),
            ProjectionExpression="sk, #hash, deleted_at",
            ExpressionAttributeNames={"#hash": "hash"},
        )
        return {str(item["sk"]): Existing(str(item["hash"]), "deleted_at" in item) for item in items}

    def page(
        self,
        org_id: str,
        kind: MirrorKind,
        parent: str | None = None,
        *,
        offset: str | None = None,
        limit: int = MAX_PAGE_LIMIT,
        include_deleted: bool = False,
    ) -> MirrorPage:
        """One page of the mirror, in gid order. ``offset`` is the ``next_offset`` of the previous page.

        Memberships are read per team, or with no team the organization's all (one partition: reading is safe
        without a parent, writing a list is not, so only this read allows it).
        """
        if not 1 <= limit <= MAX_PAGE_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_LIMIT}.", "Send a limit from 1 to 100.")
        every_team = kind.parent_in_sort_key and parent is None
        pk = f"ORG#{org_id}#{kind.value}" if every_team else _partition(org_id, kind, parent)
        query: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(pk) if every_team else _key_condition(org_id, kind, parent)
        }
        if not include_deleted:
            query["FilterExpression"] = Attr("deleted_at").not_exists()
        if offset:
            query["ExclusiveStartKey"] = {"pk": pk, "sk": _decode_offset(offset, kind, parent)}
        items: list[MirroredItem] = []
        while len(items) < limit:
            # A filter applies after the limit, so a page of tombstones may return few items: keep reading.
            response = self._table.query(**query, Limit=limit - len(items))
            items.extend(_mirrored(item) for item in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if last is None:
                return MirrorPage(items, None)
            query["ExclusiveStartKey"] = last
        return MirrorPage(items, _encode_offset(str(query["ExclusiveStartKey"]["sk"])))

    # --- Applying a list ------------------------------------------------------------------------------------------

    def apply(
        self,
        org_id: str,
        kind: MirrorKind,
        parent: str | None,
        entities: Iterable[MirrorEntity],
        *,
        seen_complete: bool = False,
        existing: dict[str, Existing] | None = None,
    ) -> MirrorCounts:
        """Write the entities that are new, changed or back from a tombstone; with ``seen_complete`` (``entities``
        is the whole list) tombstone every live entity not among them.

        ``existing`` (from :meth:`existing_hashes`) lets a paged list read the partition once; it is updated in place.
        """
        if existing is None:
            existing = self.existing_hashes(org_id, kind, parent)
        pk = _partition(org_id, kind, parent)
        synced_at = iso_now(self._clock)
        counts = MirrorCounts()
        puts: list[dict[str, Any]] = []
        seen: set[str] = set()
        for entity in entities:
            _check_gid(entity.gid, kind, parent)
            seen.add(entity.gid)
            before = existing.get(entity.gid)
            if before is not None and not before.deleted and before.hash == entity.hash:
                counts.unchanged += 1
                continue
            if before is None or before.deleted:
                counts.created += 1
            else:
                counts.updated += 1
            puts.append(_item(pk, entity, synced_at))
            existing[entity.gid] = Existing(entity.hash)
        self._batch_put(puts)
        if seen_complete:
            counts.add(self.tombstone_unseen(org_id, kind, parent, seen, existing))
        return counts

    def tombstone_unseen(
        self, org_id: str, kind: MirrorKind, parent: str | None, seen: set[str], existing: dict[str, Existing]
    ) -> MirrorCounts:
        """Tombstone every live entity of ``existing`` not in ``seen``: the end of a complete list."""
        counts = MirrorCounts()
        for gid, before in list(existing.items()):
            if gid not in seen and not before.deleted and self.tombstone_one(org_id, kind, parent, gid):
                existing[gid] = Existing(before.hash, deleted=True)
                counts.deleted += 1
        return counts

    # --- One entity (webhook deliveries) --------------------------------------------------------------------------

    def upsert_one(self, org_id: str, kind: MirrorKind, parent: str | None, entity: MirrorEntity) -> Upserted:
        """Write one entity unless the mirror already holds exactly it (a conditional put: no read first)."""
        _check_gid(entity.gid, kind, parent)
        try:
            response = self._table.put_item(
                Item=_item(_partition(org_id, kind, parent), entity, iso_now(self._clock)),
                ConditionExpression="attribute_not_exists(pk) OR #hash <> :hash OR attribute_exists(deleted_at)",
                ExpressionAttributeNames={"#hash": "hash"},
                ExpressionAttributeValues={":hash": entity.hash},
                ReturnValues="ALL_OLD",
            )
        except ClientError as error:
            if is_condition_failed(error):
                return "unchanged"
            raise
        old = response.get("Attributes")
        return "updated" if old and "deleted_at" not in old else "created"

    def tombstone_one(self, org_id: str, kind: MirrorKind, parent: str | None, gid: str) -> bool:
        """Mark a live entity deleted now, keeping its last data. False when absent or already a tombstone."""
        _check_gid(gid, kind, parent)
        now = iso_now(self._clock)
        try:
            self._table.update_item(
                Key={"pk": _partition(org_id, kind, parent), "sk": gid},
                UpdateExpression="SET deleted_at = :now, synced_at = :now",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(deleted_at)",
                ExpressionAttributeValues={":now": now},
            )
        except ClientError as error:
            if is_condition_failed(error):
                return False
            raise
        return True

    def delete_all(self, org_id: str, kind: MirrorKind, parent: str | None = None) -> int:
        """Remove a list from the mirror entirely (tombstones too), e.g. the tasks of a project no longer imported."""
        keys = [
            {"DeleteRequest": {"Key": {"pk": _partition(org_id, kind, parent), "sk": gid}}}
            for gid in self.existing_hashes(org_id, kind, parent)
        ]
        self._batch_write(keys)
        return len(keys)

    # --- Batches ----------------------------------------------------------------------------------------------------

    def _batch_put(self, items: list[dict[str, Any]]) -> None:
        self._batch_write([{"PutRequest": {"Item": item}} for item in items])

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        client = self._table.meta.client  # the resource's client: plain Python values in and out
        for start in range(0, len(requests), BATCH_SIZE):
            pending: list[Any] = requests[start : start + BATCH_SIZE]
            for attempt in range(MAX_BATCH_ATTEMPTS):
                response = client.batch_write_item(RequestItems={self._table.name: pending})
                pending = list(response.get("UnprocessedItems", {}).get(self._table.name, []))
                if not pending:
                    break
                # DynamoDB returns (not raises) what it throttled; AWS asks for exponential backoff before resending.
                self._sleep(BACKOFF_BASE_SECONDS * 2**attempt)
            else:
                raise RuntimeError(
                    f"DynamoDB left {len(pending)} mirror writes unprocessed after {MAX_BATCH_ATTEMPTS} attempts"
                )


# --- Keys -----------------------------------------------------------------------------------------------------------


def _partition(org_id: str, kind: MirrorKind, parent: str | None) -> str:
    if kind.needs_parent and not parent:
        raise ValueError(f"{kind.label} are mirrored per parent: a parent gid is required")
    if not kind.needs_parent and parent:
        raise ValueError(f"{kind.label} have no parent in the mirror")
    return f"ORG#{org_id}#{kind.value}#{parent}" if kind.parent_in_partition else f"ORG#{org_id}#{kind.value}"


def _key_condition(org_id: str, kind: MirrorKind, parent: str | None) -> Any:
    in_partition = Key("pk").eq(_partition(org_id, kind, parent))
    return in_partition & Key("sk").begins_with(f"{parent}#") if kind.parent_in_sort_key else in_partition


def _check_gid(gid: str, kind: MirrorKind, parent: str | None) -> None:
    # A membership must sit in its team's key range, or a per-team list would never see (or tombstone) it.
    if not gid or (kind.parent_in_sort_key and not gid.startswith(f"{parent}#")):
        raise ValueError(f"{gid!r} is not an id of {kind.label} under {parent!r}")


def _item(pk: str, entity: MirrorEntity, synced_at: str) -> dict[str, Any]:
    return {
        "pk": pk,
        "sk": entity.gid,
        "gid": entity.gid,
        "data": dict(entity.data),
        "hash": entity.hash,
        "synced_at": synced_at,
    }


def _mirrored(item: Mapping[str, Any]) -> MirroredItem:
    deleted_at = item.get("deleted_at")
    return MirroredItem(
        gid=str(item["gid"]),
        data=plain_values(item.get("data", {})),
        synced_at=str(item["synced_at"]),
        deleted_at=str(deleted_at) if deleted_at is not None else None,
    )


# --- Offsets: the last key of a page, opaque to callers ----------------------------------------------------------


def _encode_offset(sort_key: str) -> str:
    return base64.urlsafe_b64encode(sort_key.encode()).decode().rstrip("=")


def _decode_offset(offset: str, kind: MirrorKind, parent: str | None) -> str:
    try:
        sort_key = base64.urlsafe_b64decode(offset + "=" * (-len(offset) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        sort_key = ""
    if not sort_key or (kind.parent_in_sort_key and parent is not None and not sort_key.startswith(f"{parent}#")):
        raise InvalidInput(
            "The offset is not one this list returned.",
            "Pass the next_offset of the previous page unchanged, or leave offset out to start from the beginning.",
        )
    return sort_key
