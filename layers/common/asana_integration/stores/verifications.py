"""The last verification result of each organization, so reading the status needs no call to Asana."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asana_integration.models.verification import ConnectionStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


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

    def delete(self, org_id: str) -> None:
        self._table.delete_item(Key=_key(org_id))


def _key(org_id: str) -> dict[str, str]:
    return {"pk": f"ORG#{org_id}", "sk": "VERIFICATION"}
