"""An admin's manual mapping of an Asana user to a SecureDB user, the one mapping that is stored.

One item per mapped Asana user in the mirror table, under ``pk = ORG#<org>#MAPPING``, ``sk = <asana user gid>``:
``securedb_user_id``, ``method`` (always ``manual``), ``set_by`` (the admin) and ``set_at`` (ISO 8601, UTC).

Mappings through a personal connection or by email are derived when read (``mapping/``), so they follow every new
connection and sign-in without a write; only the override an admin chose needs to be kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from boto3.dynamodb.conditions import Key

from asana_integration.stores.dynamo import query_items
from asana_integration.stores.signed_in_users import iso_time

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


@dataclass(frozen=True, slots=True)
class ManualMapping:
    asana_user_gid: str
    securedb_user_id: str
    set_by: str
    set_at: str


class ManualMappingStore:
    def __init__(self, table: Table, *, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    def put(self, org_id: str, asana_user_gid: str, securedb_user_id: str, set_by: str) -> ManualMapping:
        mapping = ManualMapping(asana_user_gid, securedb_user_id, set_by, iso_time(self._clock()))
        self._table.put_item(
            Item={
                "pk": _pk(org_id),
                "sk": asana_user_gid,
                "securedb_user_id": securedb_user_id,
                "method": "manual",
                "set_by": set_by,
                "set_at": mapping.set_at,
            }
        )
        return mapping

    def delete(self, org_id: str, asana_user_gid: str) -> None:
        self._table.delete_item(Key={"pk": _pk(org_id), "sk": asana_user_gid})

    def all(self, org_id: str) -> dict[str, ManualMapping]:
        """The organization's manual mappings by Asana user gid."""
        items = query_items(self._table, KeyConditionExpression=Key("pk").eq(_pk(org_id)))
        return {
            str(item["sk"]): ManualMapping(
                asana_user_gid=str(item["sk"]),
                securedb_user_id=str(item["securedb_user_id"]),
                set_by=str(item["set_by"]),
                set_at=str(item["set_at"]),
            )
            for item in items
        }


def _pk(org_id: str) -> str:
    return f"ORG#{org_id}#MAPPING"
