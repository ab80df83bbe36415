"""The last check of each organization's Asana identity, so reading the status needs no call to Asana.

A check is only as good as the identity it checked: each is stored with that identity's key (``pat:<credentials
revision>`` or ``oauth:<connection id>``, see ``settings/access.py``), and the status uses it only while the same
identity is still the one acting. Item ``ORG#<org>/VERIFICATION``: ``status`` (the JSON the API shows), ``state`` and
``identity``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asana_integration.models.verification import ConnectionStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


@dataclass(frozen=True, slots=True)
class StoredCheck:
    identity: str  # the key of the identity that was checked; "" for checks stored before keys existed
    status: ConnectionStatus


class VerificationStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, org_id: str) -> StoredCheck | None:
        item = self._table.get_item(Key=_key(org_id), ConsistentRead=True).get("Item")
        if not item:
            return None
        return StoredCheck(str(item.get("identity", "")), ConnectionStatus.model_validate_json(str(item["status"])))

    def put(self, org_id: str, status: ConnectionStatus, *, identity: str) -> None:
        # A connect_url holds a single-use, short-lived state: never store it; readers mint a fresh one.
        stored = status.model_copy(update={"connect_url": None})
        item: dict[str, Any] = {
            **_key(org_id),
            "status": stored.model_dump_json(),
            "state": status.state,
            "identity": identity,
        }
        self._table.put_item(Item=item)

    def delete(self, org_id: str) -> None:
        self._table.delete_item(Key=_key(org_id))


def _key(org_id: str) -> dict[str, str]:
    return {"pk": f"ORG#{org_id}", "sk": "VERIFICATION"}
