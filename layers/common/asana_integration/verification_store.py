"""The last verification result of each organization, so reading the status needs no call to Asana.

It also keeps the registry of configured organizations (one small item each under a single partition) that the
scheduled upkeep walks with a query instead of a table scan.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Key

from asana_integration.settings_models import ConnectionStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

_REGISTRY_PK = "ORGANIZATIONS"


class VerificationStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, org_id: str) -> ConnectionStatus | None:
        item = self._table.get_item(Key=_key(org_id), ConsistentRead=True).get("Item")
        return ConnectionStatus.model_validate_json(str(item["status"])) if item else None

    def put(self, org_id: str, status: ConnectionStatus) -> None:
        # A connect_url holds a single-use, short-lived state: never store it; readers mint a fresh one.
        stored = status.model_copy(update={"connect_url": None})
        item: dict[str, Any] = {**_key(org_id), "status": stored.model_dump_json(), "state": status.state}
        self._table.put_item(Item=item)
        self._table.put_item(Item={"pk": _REGISTRY_PK, "sk": org_id, "state": status.state})

    def delete(self, org_id: str) -> None:
        self._table.delete_item(Key=_key(org_id))
        self._table.delete_item(Key={"pk": _REGISTRY_PK, "sk": org_id})

    def organizations(self) -> Iterator[str]:
        """Every organization that has saved settings, page by page."""
        query: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(_REGISTRY_PK), "ProjectionExpression": "sk"}
        while True:
            page = self._table.query(**query)
            for item in page.get("Items", []):
                yield str(item["sk"])
            if "LastEvaluatedKey" not in page:
                return
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _key(org_id: str) -> dict[str, str]:
    return {"pk": f"ORG#{org_id}", "sk": "VERIFICATION"}
