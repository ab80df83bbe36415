"""The registry of configured organizations: one small item each under a single partition.

The scheduled upkeep walks it with a query instead of scanning the whole table, starting after where its last run
stopped. An organization is registered when its settings are first verified and leaves the registry when it
disconnects.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from typing import TYPE_CHECKING

from boto3.dynamodb.conditions import Attr, Key

from asana_integration.stores.dynamo import query_items

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

_REGISTRY_PK = "ORGANIZATIONS"


class OrganizationRegistry:
    def __init__(self, table: Table) -> None:
        self._table = table

    def register(self, org_id: str, state: str) -> None:
        """Add (or refresh) the organization, with the state of its last verification."""
        self._table.put_item(Item={"pk": _REGISTRY_PK, "sk": org_id, "state": state})

    def remove(self, org_id: str) -> None:
        self._table.delete_item(Key={"pk": _REGISTRY_PK, "sk": org_id})

    def is_registered(self, org_id: str) -> bool:
        """Whether the organization has saved settings (a sync has something to connect with)."""
        return "Item" in self._table.get_item(Key={"pk": _REGISTRY_PK, "sk": org_id}, ProjectionExpression="sk")

    def organizations_in_state(self, state: str) -> Iterator[str]:
        """The organizations whose last verification ended in ``state`` (e.g. ``connected``), page by page."""
        items = query_items(
            self._table,
            KeyConditionExpression=Key("pk").eq(_REGISTRY_PK),
            FilterExpression=Attr("state").eq(state),
            ProjectionExpression="sk",
        )
        return (str(item["sk"]) for item in items)

    def organizations(self) -> Iterator[str]:
        """Every organization that has saved settings, page by page."""
        items = query_items(self._table, KeyConditionExpression=Key("pk").eq(_REGISTRY_PK), ProjectionExpression="sk")
        return (str(item["sk"]) for item in items)

    def organizations_after(self, cursor: str | None) -> Iterator[str]:
        """Every organization once, in key order from the first after ``cursor``, wrapping around to ``cursor``.

        The scheduled upkeep starts where its last run stopped, so over several short runs every organization gets its
        turn. Organizations registered or removed meanwhile are seen or not, as with any paged read.
        """
        if cursor is None:
            return self.organizations()
        after = Key("pk").eq(_REGISTRY_PK) & Key("sk").gt(cursor)
        up_to = Key("pk").eq(_REGISTRY_PK) & Key("sk").lte(cursor)
        items = chain(
            query_items(self._table, KeyConditionExpression=after, ProjectionExpression="sk"),
            query_items(self._table, KeyConditionExpression=up_to, ProjectionExpression="sk"),
        )
        return (str(item["sk"]) for item in items)
