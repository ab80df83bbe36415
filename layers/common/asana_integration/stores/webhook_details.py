"""What webhook management adds to a webhook's record (``stores/webhooks.py`` owns the record and its lifecycle).

Written onto the same item, ``pk WEBHOOK#<prefix>  sk WEBHOOK``, as attributes the receiving half never reads:

* ``target_url``: the exact URL Asana was given (or told to use): the tenant's webhook URL plus ``/<prefix>``. The
  scheduled health check re-creates a webhook on the same tenant host, and the list shows where Asana delivers.
* ``resource_name``: the watched resource's name as Asana's 201 (or its list) showed it, for people to read.
* ``replaces`` / ``replaced_by``: the prefix of the webhook a health check re-created this one from, or as.
* ``health``: the last health check's verdict ``{checked_at, outcome, message}``.

A webhook made by hand in Asana has no Asana gid, resource or filters until management finds it in Asana's list by
its target URL; ``link`` records them then (the same attribute names the record uses for a created webhook).

Every write is conditional on the record existing, so nothing here can bring back a record its TTL removed. The health
check's cursor (``WEBHOOK_HEALTH/CURSOR``) lets each run start with the organization after the last one it checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from asana_integration.stores.dynamo import is_condition_failed
from asana_integration.stores.webhooks import record_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

BATCH_GET_MAX_KEYS = 100  # BatchGetItem's limit
MAX_BATCH_GET_ATTEMPTS = 8
_DETAIL_ATTRIBUTES = ("prefix", "target_url", "resource_name", "replaces", "replaced_by", "health")
_CURSOR_KEY = {"pk": "WEBHOOK_HEALTH", "sk": "CURSOR"}


@dataclass(frozen=True, slots=True)
class HealthNote:
    """The last health check's verdict on one webhook."""

    checked_at: int  # epoch seconds
    outcome: str  # healthy | recreated | recreate_failed | unchecked
    message: str


@dataclass(frozen=True, slots=True)
class WebhookDetails:
    prefix: str
    target_url: str | None = None
    resource_name: str | None = None
    replaces: str | None = None
    replaced_by: str | None = None
    health: HealthNote | None = None


class WebhookDetailStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    # --- Writing ------------------------------------------------------------------------------------------------

    def set_target(self, prefix: str, target_url: str, *, replaces: str | None = None) -> bool:
        values: dict[str, Any] = {":target": target_url}
        update = "SET target_url = :target"
        if replaces is not None:
            update += ", replaces = :replaces"
            values[":replaces"] = replaces
        return self._update(prefix, update, values)

    def set_resource_name(self, prefix: str, name: str) -> bool:
        return self._update(prefix, "SET resource_name = :name", {":name": name[:500]})

    def link(
        self,
        prefix: str,
        *,
        asana_gid: str,
        resource_gid: str | None,
        resource_type: str | None,
        resource_name: str | None,
        filters: Sequence[Mapping[str, Any]],
    ) -> bool:
        """A hand-made webhook found in Asana's list: its Asana gid, resource and filters, recorded once."""
        values: dict[str, Any] = {":gid": asana_gid, ":filters": [dict(f) for f in filters]}
        update = "SET asana_gid = :gid, filters = :filters"
        for attribute, value in (
            ("resource_gid", resource_gid),
            ("resource_type", resource_type),
            ("resource_name", resource_name),
        ):
            if value is not None:
                update += f", {attribute} = :{attribute}"
                values[f":{attribute}"] = value
        once = "attribute_exists(pk) AND attribute_not_exists(asana_gid)"
        return self._update(prefix, update, values, condition=once)

    def mark_replaced(self, prefix: str, replaced_by: str) -> bool:
        return self._update(prefix, "SET replaced_by = :new", {":new": replaced_by})

    def note_health(self, prefix: str, note: HealthNote) -> bool:
        health = {"checked_at": note.checked_at, "outcome": note.outcome, "message": note.message[:1000]}
        return self._update(prefix, "SET health = :health", {":health": health})

    # --- Reading ------------------------------------------------------------------------------------------------

    def details(self, prefixes: Iterable[str]) -> dict[str, WebhookDetails]:
        """The details of each webhook that has a record, by prefix."""
        keys = [record_key(prefix) for prefix in dict.fromkeys(prefixes)]
        client = self._table.meta.client
        found: dict[str, WebhookDetails] = {}
        for start in range(0, len(keys), BATCH_GET_MAX_KEYS):
            pending: Any = {
                self._table.name: {
                    "Keys": keys[start : start + BATCH_GET_MAX_KEYS],
                    "ProjectionExpression": ", ".join(_DETAIL_ATTRIBUTES),
                    "ConsistentRead": True,
                }
            }
            for _ in range(MAX_BATCH_GET_ATTEMPTS):
                response = client.batch_get_item(RequestItems=pending)
                for item in response.get("Responses", {}).get(self._table.name, []):
                    details = _details(item)
                    found[details.prefix] = details
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
            else:
                raise RuntimeError(f"DynamoDB left webhook reads unprocessed after {MAX_BATCH_GET_ATTEMPTS} attempts")
        return found

    # --- The health check's cursor --------------------------------------------------------------------------------

    def health_cursor(self) -> str | None:
        item = self._table.get_item(Key=_CURSOR_KEY, ConsistentRead=True).get("Item")
        return str(item["org_id"]) if item and "org_id" in item else None

    def set_health_cursor(self, org_id: str) -> None:
        self._table.put_item(Item={**_CURSOR_KEY, "org_id": org_id})

    # --- Internals --------------------------------------------------------------------------------------------------

    def _update(
        self, prefix: str, update: str, values: dict[str, Any], *, condition: str = "attribute_exists(pk)"
    ) -> bool:
        try:
            self._table.update_item(
                Key=record_key(prefix),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if is_condition_failed(error):
                return False
            raise
        return True


def _details(item: Mapping[str, Any]) -> WebhookDetails:
    health = item.get("health")
    note = None
    if isinstance(health, Mapping):
        checked_at = health.get("checked_at")
        note = HealthNote(
            checked_at=int(checked_at) if isinstance(checked_at, int | Decimal) else 0,
            outcome=str(health.get("outcome", "")),
            message=str(health.get("message", "")),
        )
    return WebhookDetails(
        prefix=str(item["prefix"]),
        target_url=_text(item.get("target_url")),
        resource_name=_text(item.get("resource_name")),
        replaces=_text(item.get("replaces")),
        replaced_by=_text(item.get("replaced_by")),
        health=note,
    )


def _text(value: object) -> str | None:
    return str(value) if value is not None else None
