"""One mirrored entity by its gid: what the routes check before acting on a project or a user.

``MirrorStore`` (stores/mirror.py, the mirror's one writer) reads whole lists page by page; importing a project or
mapping a user needs a single entity of the caller's organization, read by its key. Only kinds mirrored without a
parent (workspaces, teams, users, projects) are looked up this way.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from asana_integration.models.mirror import MirroredItem, MirrorKind

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class MirrorLookup:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, org_id: str, kind: MirrorKind, gid: str) -> MirroredItem | None:
        """The entity, tombstone or live, from the organization's own partition; ``None`` when never mirrored."""
        if kind.needs_parent:
            raise ValueError(f"{kind.label} are mirrored per parent and are not looked up by gid alone")
        item = self._table.get_item(Key={"pk": f"ORG#{org_id}#{kind.value}", "sk": gid}).get("Item")
        if item is None:
            return None
        deleted_at = item.get("deleted_at")
        return MirroredItem(
            gid=str(item["gid"]),
            data=_json_values(item.get("data", {})),
            synced_at=str(item["synced_at"]),
            deleted_at=str(deleted_at) if deleted_at is not None else None,
        )


def _json_values(value: Any) -> Any:
    """DynamoDB's numbers (Decimal) as JSON's."""
    if isinstance(value, Mapping):
        return {str(key): _json_values(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_values(item) for item in value]
    if isinstance(value, Decimal):
        return int(value) if value == int(value) else float(value)
    return value
