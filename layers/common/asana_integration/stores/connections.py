"""Connection items in DynamoDB: one per organization (``CONNECTION#ORG``) and one per user (``CONNECTION#USER#<id>``).

Item layout under ``pk = ORG#<org id>``::

    sk                  CONNECTION#ORG | CONNECTION#USER#<user id>
    purpose, user_id    organization | personal, and the owner of a personal connection
    status              active | needs_reconnect (+ needs_reconnect_reason, needs_reconnect_at)
    access_token        KMS ciphertext (binary), context {org_id, user_id, field}
    refresh_token       KMS ciphertext (binary)
    access_expires_at   epoch seconds; deliberately NOT ``expires_at``, the table's TTL attribute
    token_id            random id of the current access token, changed on every refresh (waiters watch it)
    client_id           the Asana app the tokens belong to
    asana_user_*        gid, name, email of the Asana user who authorized
    connected_by        SecureDB user who completed Connect (connected_by_name: their name, when the JWT had one);
                        connected_at, updated_at, refreshed_at
    connection_id       random id of this grant, new on every (re)connect: the status says which grant it checked
    lease_owner, lease_expires_at   the single-flight refresh lease (absent when free)
    refresh_retry_after             after a transient refresh failure, no new attempt before this time

Every state change is a conditional write, so concurrent Lambdas, a disconnect and a reconnect cannot overwrite each
other's work: see the conditions on each method.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from asana_integration.models.asana import AsanaUser
from asana_integration.models.connections import ConnectionKey, Status
from asana_integration.stores.dynamo import is_condition_failed, query_items
from asana_integration.stores.field_crypto import TokenCipher, TokenField

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

CONNECTION_SK_PREFIX = "CONNECTION#"
ORG_CONNECTION_SK = "CONNECTION#ORG"
USER_CONNECTION_SK_PREFIX = "CONNECTION#USER#"
# The encryption-context "user" of the organization connection. '*' cannot start a SecureDB user id (see
# identity._IDENTIFIER), so it never collides with a real user's context.
ORGANIZATION_CONTEXT_USER = "*organization*"


def item_key(key: ConnectionKey) -> dict[str, str]:
    sk = ORG_CONNECTION_SK if key.user_id is None else f"{USER_CONNECTION_SK_PREFIX}{key.user_id}"
    return {"pk": f"ORG#{key.org_id}", "sk": sk}


def context_user(key: ConnectionKey) -> str:
    """The ``user_id`` of a token's encryption context."""
    return key.user_id if key.user_id is not None else ORGANIZATION_CONTEXT_USER


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    """A stored connection as read, tokens still encrypted (reading status never needs KMS)."""

    key: ConnectionKey
    status: Status
    client_id: str
    asana_user: AsanaUser
    connected_by: str
    connected_at: int
    updated_at: int
    access_expires_at: int
    token_id: str
    access_token_ct: bytes = field(repr=False)
    refresh_token_ct: bytes = field(repr=False)
    connection_id: str = ""
    connected_by_name: str | None = None
    lease_owner: str | None = None
    lease_expires_at: int = 0
    refresh_retry_after: int = 0
    needs_reconnect_reason: str | None = None

    def lease_free(self, now: float) -> bool:
        return self.lease_owner is None or self.lease_expires_at < now


@dataclass(frozen=True, slots=True)
class NewTokens:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_expires_at: int


class ConnectionStore:
    def __init__(self, table: Table, cipher: TokenCipher, *, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._cipher = cipher
        self._clock = clock

    # --- reads ---------------------------------------------------------------------------------------------------

    def get(self, key: ConnectionKey) -> ConnectionRecord | None:
        # Strongly consistent: the lease protocol relies on seeing the latest write.
        item = self._table.get_item(Key=item_key(key), ConsistentRead=True).get("Item")
        return _record(key, item) if item else None

    def list_organization(self, org_id: str) -> list[ConnectionRecord]:
        return [_record(ConnectionKey(org_id, _user_from_sk(str(item["sk"]))), item) for item in self._query(org_id)]

    def access_token(self, record: ConnectionRecord) -> str:
        return self._decrypt(record, record.access_token_ct, "access_token")

    def refresh_token(self, record: ConnectionRecord) -> str:
        return self._decrypt(record, record.refresh_token_ct, "refresh_token")

    # --- writes --------------------------------------------------------------------------------------------------

    def put_connection(
        self,
        key: ConnectionKey,
        tokens: NewTokens,
        *,
        asana_user: AsanaUser,
        connected_by: str,
        client_id: str,
        connected_by_name: str | None = None,
    ) -> ConnectionRecord | None:
        """Create or replace (reconnect) the connection. Returns the replaced record, if any.

        Replacing drops any refresh lease: a refresh in flight for the old tokens then fails its conditional save
        and cannot overwrite the new ones.
        """
        now = int(self._clock())
        item: dict[str, Any] = {
            **item_key(key),
            "record_type": "asana_connection",
            "org_id": key.org_id,
            "purpose": key.purpose.value,
            "status": Status.ACTIVE.value,
            "client_id": client_id,
            "access_token": self._encrypt(key, tokens.access_token, "access_token"),
            "refresh_token": self._encrypt(key, tokens.refresh_token, "refresh_token"),
            "access_expires_at": tokens.access_expires_at,
            "token_id": _new_token_id(),
            "connection_id": uuid.uuid4().hex,
            "asana_user_gid": asana_user.gid,
            "asana_user_name": asana_user.name,
            "asana_user_email": asana_user.email,
            "connected_by": connected_by,
            "connected_at": now,
            "updated_at": now,
        }
        if key.user_id is not None:
            item["user_id"] = key.user_id
        if connected_by_name:
            item["connected_by_name"] = connected_by_name
        old = self._table.put_item(Item=item, ReturnValues="ALL_OLD").get("Attributes")
        return _record(key, old) if old else None

    def acquire_lease(self, key: ConnectionKey, owner: str, lease_seconds: int) -> bool:
        """Take the refresh lease if it is free or expired, on an active connection. True if we hold it now."""
        now = int(self._clock())
        return self._conditional_update(
            key,
            UpdateExpression="SET lease_owner = :owner, lease_expires_at = :until",
            ConditionExpression=(
                "attribute_exists(pk) AND #status = :active "
                "AND (attribute_not_exists(lease_owner) OR lease_expires_at < :now)"
            ),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":owner": owner,
                ":until": now + lease_seconds,
                ":now": now,
                ":active": Status.ACTIVE.value,
            },
        )

    def save_refreshed(
        self, key: ConnectionKey, owner: str, *, access_token: str, refresh_token: str | None, access_expires_at: int
    ) -> str | None:
        """Store refreshed tokens and free the lease, only while we still hold it.

        Returns the new token id, or None if we had lost the lease (nothing was written).
        """
        now = int(self._clock())
        token_id = _new_token_id()
        assignments = [
            "access_token = :access",
            "access_expires_at = :expires",
            "token_id = :token_id",
            "updated_at = :now",
            "refreshed_at = :now",
        ]
        values: dict[str, Any] = {
            ":access": self._encrypt(key, access_token, "access_token"),
            ":expires": access_expires_at,
            ":token_id": token_id,
            ":now": now,
            ":owner": owner,
        }
        # No refresh token in the answer (Asana's documented refresh response) → keep the stored one.
        if refresh_token:
            assignments.append("refresh_token = :refresh")
            values[":refresh"] = self._encrypt(key, refresh_token, "refresh_token")
        saved = self._conditional_update(
            key,
            UpdateExpression=f"SET {', '.join(assignments)} REMOVE lease_owner, lease_expires_at, refresh_retry_after",
            ConditionExpression="lease_owner = :owner",
            ExpressionAttributeValues=values,
        )
        return token_id if saved else None

    def release_lease(self, key: ConnectionKey, owner: str, *, retry_after: int | None = None) -> bool:
        """Free our lease without new tokens; ``retry_after`` holds off further attempts after a transient failure."""
        values: dict[str, Any] = {":owner": owner}
        update = "REMOVE lease_owner, lease_expires_at"
        if retry_after is not None:
            update = f"SET refresh_retry_after = :retry {update}"
            values[":retry"] = retry_after
        return self._conditional_update(
            key, UpdateExpression=update, ConditionExpression="lease_owner = :owner", ExpressionAttributeValues=values
        )

    def mark_needs_reconnect(self, key: ConnectionKey, *, refresh_token_ct: bytes, reason: str) -> bool:
        """Flag the connection, but only if it still holds the refresh token that failed: a reconnect that landed
        in the meantime must not be flagged for its predecessor's death."""
        now = int(self._clock())
        return self._conditional_update(
            key,
            UpdateExpression=(
                "SET #status = :needs, needs_reconnect_reason = :reason, needs_reconnect_at = :now, updated_at = :now "
                "REMOVE lease_owner, lease_expires_at"
            ),
            ConditionExpression="refresh_token = :failed",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":needs": Status.NEEDS_RECONNECT.value,
                ":reason": reason,
                ":now": now,
                ":failed": refresh_token_ct,
            },
        )

    def delete(self, key: ConnectionKey) -> ConnectionRecord | None:
        old = self._table.delete_item(Key=item_key(key), ReturnValues="ALL_OLD").get("Attributes")
        return _record(key, old) if old else None

    # --- internals -----------------------------------------------------------------------------------------------

    def _encrypt(self, key: ConnectionKey, plaintext: str, field_name: TokenField) -> bytes:
        return self._cipher.encrypt(plaintext, org_id=key.org_id, user_id=context_user(key), field=field_name)

    def _decrypt(self, record: ConnectionRecord, ciphertext: bytes, field_name: TokenField) -> str:
        key = record.key
        return self._cipher.decrypt(ciphertext, org_id=key.org_id, user_id=context_user(key), field=field_name)

    def _conditional_update(self, key: ConnectionKey, **kwargs: Any) -> bool:
        try:
            self._table.update_item(Key=item_key(key), **kwargs)
        except ClientError as error:
            if is_condition_failed(error):
                return False
            raise
        return True

    def _query(self, org_id: str) -> Iterator[dict[str, Any]]:
        return query_items(
            self._table,
            KeyConditionExpression=Key("pk").eq(f"ORG#{org_id}") & Key("sk").begins_with(CONNECTION_SK_PREFIX),
            ConsistentRead=True,
        )


def _new_token_id() -> str:
    return uuid.uuid4().hex


def _user_from_sk(sk: str) -> str | None:
    return sk.removeprefix(USER_CONNECTION_SK_PREFIX) if sk.startswith(USER_CONNECTION_SK_PREFIX) else None


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | Decimal) else 0


def _bytes(value: Any) -> bytes:
    # The resource API hands binary attributes back as boto3.dynamodb.types.Binary, which bytes() unwraps.
    return bytes(value)


def _record(key: ConnectionKey, item: dict[str, Any]) -> ConnectionRecord:
    reason = item.get("needs_reconnect_reason")
    lease_owner = item.get("lease_owner")
    name = item.get("connected_by_name")
    connected_at = _int(item.get("connected_at"))
    return ConnectionRecord(
        key=key,
        status=Status(str(item.get("status", Status.ACTIVE.value))),
        client_id=str(item.get("client_id", "")),
        asana_user=AsanaUser(
            gid=str(item.get("asana_user_gid", "")),
            name=str(item.get("asana_user_name", "")),
            email=str(item.get("asana_user_email", "")),
        ),
        connected_by=str(item.get("connected_by", "")),
        connected_by_name=str(name) if name else None,
        # Connections made before grants had ids are told apart by when they were made and by whom.
        connection_id=str(item.get("connection_id") or f"{connected_at}-{item.get('asana_user_gid', '')}"),
        connected_at=connected_at,
        updated_at=_int(item.get("updated_at")),
        access_expires_at=_int(item.get("access_expires_at")),
        token_id=str(item.get("token_id", "")),
        access_token_ct=_bytes(item["access_token"]),
        refresh_token_ct=_bytes(item["refresh_token"]),
        lease_owner=str(lease_owner) if lease_owner else None,
        lease_expires_at=_int(item.get("lease_expires_at")),
        refresh_retry_after=_int(item.get("refresh_retry_after")),
        needs_reconnect_reason=str(reason) if reason else None,
    )
