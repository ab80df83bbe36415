"""Webhook records and their secrets (IntegrationTable): the webhook function reads them on every request, the
webhook management routes create, activate and delete them.

Items::

    pk WEBHOOK#<prefix>   sk WEBHOOK              the record (models/webhooks.py): org_id, state, kind, resource_gid,
                                                  resource_type, filters, asana_gid, secret (KMS ciphertext, context
                                                  {org_id, webhook_prefix, field}), created_by, created_at,
                                                  handshake_deadline, handshake_at, activated_at, last_delivery_at,
                                                  last_heartbeat_at, deleted_at, expires_at (TTL)
    pk ORG#<org>          sk WEBHOOK#<prefix>     the organization's index: lists its webhooks without a scan

The record is keyed by the prefix alone because a request to ``/asana/webhook/<prefix>`` carries nothing else; the
index carries only immutable facts (the records hold the state), so the two cannot disagree. Both share one TTL while
a webhook is pending or deleted: an abandoned handshake window or an old deletion disappears whole.

The handshake is accepted by one conditional write (pending, no secret yet, inside the window), so of two concurrent
handshakes exactly one stores its secret, and a second, late or unarmed one stores nothing. Decrypted secrets are kept
in memory for a few minutes (KMS costs a call per decryption, a delivery must be answered within 10 s); never logged.
"""

from __future__ import annotations

import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from asana_integration.models.webhooks import DeliveryTarget, WebhookKind, WebhookRecord, WebhookState
from asana_integration.stores.dynamo import is_condition_failed, plain_values, query_items

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

    from asana_integration.stores.field_crypto import WebhookSecretCipher

RECORD_SK = "WEBHOOK"
INDEX_SK_PREFIX = "WEBHOOK#"
# secrets.token_urlsafe(24): 192 random bits, 32 URL-safe characters, the only path segment after /asana/webhook/.
PREFIX_BYTES = 24
PREFIX_LENGTH = 32
# How long a pending webhook whose handshake never came, or a deleted one, stays readable before its TTL removes it.
PENDING_RETENTION_SECONDS = 24 * 3600
DELETED_RETENTION_SECONDS = 30 * 24 * 3600
SECRET_CACHE_SECONDS = 300.0
SECRET_CACHE_MAX_ENTRIES = 1024
BATCH_GET_MAX_KEYS = 100  # BatchGetItem's limit
MAX_BATCH_GET_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 0.05


def record_key(prefix: str) -> dict[str, str]:
    return {"pk": f"WEBHOOK#{prefix}", "sk": RECORD_SK}


def index_key(org_id: str, prefix: str) -> dict[str, str]:
    return {"pk": f"ORG#{org_id}", "sk": f"{INDEX_SK_PREFIX}{prefix}"}


_PREFIX = re.compile(rf"[A-Za-z0-9_-]{{{PREFIX_LENGTH}}}")


def is_prefix(value: str) -> bool:
    """Whether ``value`` has the shape of a prefix this store issues (checked before any read)."""
    return _PREFIX.fullmatch(value) is not None


@dataclass(frozen=True)
class _CachedSecret:
    ciphertext: bytes
    plaintext: str
    until: float


class WebhookStore:
    def __init__(
        self,
        table: Table,
        cipher: WebhookSecretCipher,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = table
        self._cipher = cipher
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._secrets: OrderedDict[str, _CachedSecret] = OrderedDict()

    # --- Creating, arming, activating, deleting ---------------------------------------------------------------------

    def create_pending(
        self,
        org_id: str,
        kind: WebhookKind,
        *,
        resource: str | None,
        filters: Sequence[Mapping[str, Any]],
        created_by: str,
        deadline: float,
        resource_type: str | None = None,
    ) -> str:
        """Arm a new prefix for one handshake until ``deadline`` (epoch seconds); returns the prefix."""
        prefix = secrets.token_urlsafe(PREFIX_BYTES)
        now = int(self._clock())
        expires_at = int(deadline) + PENDING_RETENTION_SECONDS
        record: dict[str, Any] = {
            **record_key(prefix),
            "prefix": prefix,
            "org_id": org_id,
            "state": WebhookState.PENDING.value,
            "kind": kind.value,
            "filters": [dict(f) for f in filters],
            "created_by": created_by,
            "created_at": now,
            "handshake_deadline": int(deadline),
            "expires_at": expires_at,
        }
        if resource is not None:
            record["resource_gid"] = resource
        if resource_type is not None:
            record["resource_type"] = resource_type
        index = {**index_key(org_id, prefix), "prefix": prefix, "expires_at": expires_at}
        self._transact(
            [
                # 192 random bits never collide in practice; the condition makes sure of it.
                {
                    "Put": {
                        "TableName": self._table.name,
                        "Item": record,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {"Put": {"TableName": self._table.name, "Item": index}},
            ]
        )
        return prefix

    def accept_handshake(self, prefix: str, secret: str, now: float) -> bool:
        """Store ``secret`` if the webhook is pending, has no secret yet and its window is open; else store nothing.

        A webhook made by hand in Asana and a test webhook become active with it (see models/webhooks.py).
        """
        record = self.get(prefix)
        if record is None or not record.awaits_handshake(now):
            return False  # decided before KMS is called: an unarmed prefix costs one read, nothing more
        ciphertext = self._cipher.encrypt(secret, org_id=record.org_id, prefix=prefix)
        at = int(now)
        update = "SET secret = :secret, handshake_at = :now"
        values: dict[str, Any] = {
            ":secret": ciphertext,
            ":now": at,
            ":pending": WebhookState.PENDING.value,
            ":org": record.org_id,
            ":deadline": now,
        }
        activates = record.kind.active_on_handshake
        if activates:
            update += ", #state = :active, activated_at = :now"
            values[":active"] = WebhookState.ACTIVE.value
        if record.kind is WebhookKind.EXPECTED_MANUAL:
            update += " REMOVE expires_at"  # a lasting webhook now; a test one expires as armed
        condition = (
            "#state = :pending AND attribute_not_exists(secret) AND handshake_deadline > :deadline AND org_id = :org"
        )
        actions: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._table.name,
                    "Key": record_key(prefix),
                    "UpdateExpression": update,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {"#state": "state"},
                    "ExpressionAttributeValues": _numbers(values),
                }
            }
        ]
        if record.kind is WebhookKind.EXPECTED_MANUAL:
            actions.append(self._keep_index(record.org_id, prefix))
        if not self._transact_if(actions):
            return False
        self._remember(prefix, ciphertext, secret)
        return True

    def activate(self, prefix: str, asana_gid: str) -> bool:
        """A created webhook whose secret Asana's 201 confirmed: deliveries are accepted from now on."""
        record = self.get(prefix)
        if record is None:
            return False
        now = int(self._clock())
        return self._transact_if(
            [
                {
                    "Update": {
                        "TableName": self._table.name,
                        "Key": record_key(prefix),
                        "UpdateExpression": (
                            "SET #state = :active, asana_gid = :gid, activated_at = :now REMOVE expires_at"
                        ),
                        "ConditionExpression": "#state = :pending AND attribute_exists(secret) AND kind = :created",
                        "ExpressionAttributeNames": {"#state": "state"},
                        "ExpressionAttributeValues": {
                            ":active": WebhookState.ACTIVE.value,
                            ":pending": WebhookState.PENDING.value,
                            ":created": WebhookKind.CREATED.value,
                            ":gid": asana_gid,
                            ":now": now,
                        },
                    }
                },
                self._keep_index(record.org_id, prefix),
            ]
        )

    def mark_deleted(self, prefix: str) -> bool:
        """Refuse the prefix from now on and forget its secret; False when absent or already deleted."""
        record = self.get(prefix)
        if record is None or record.state is WebhookState.DELETED:
            return False
        now = int(self._clock())
        expires_at = now + DELETED_RETENTION_SECONDS
        deleted = self._transact_if(
            [
                {
                    "Update": {
                        "TableName": self._table.name,
                        "Key": record_key(prefix),
                        "UpdateExpression": (
                            "SET #state = :deleted, deleted_at = :now, expires_at = :expires REMOVE secret"
                        ),
                        "ConditionExpression": "attribute_exists(pk) AND #state <> :deleted",
                        "ExpressionAttributeNames": {"#state": "state"},
                        "ExpressionAttributeValues": {
                            ":deleted": WebhookState.DELETED.value,
                            ":now": now,
                            ":expires": expires_at,
                        },
                    }
                },
                {
                    "Update": {
                        "TableName": self._table.name,
                        "Key": index_key(record.org_id, prefix),
                        "UpdateExpression": "SET expires_at = :expires",
                        "ExpressionAttributeValues": {":expires": expires_at},
                    }
                },
            ]
        )
        self._secrets.pop(prefix, None)
        return deleted

    # --- Reading ----------------------------------------------------------------------------------------------------

    def get(self, prefix: str) -> WebhookRecord | None:
        if not is_prefix(prefix):
            return None
        item = self._table.get_item(Key=record_key(prefix), ConsistentRead=True).get("Item")
        return _record(item) if item else None

    def delivery_target(self, prefix: str) -> DeliveryTarget | None:
        """What a delivery to ``prefix`` is checked against: a consistent read of those attributes only (each
        delivery reads it, so a deleted webhook is refused at once)."""
        if not is_prefix(prefix):
            return None
        item = self._table.get_item(
            Key=record_key(prefix),
            ConsistentRead=True,
            ProjectionExpression="prefix, org_id, #state, kind, last_delivery_at, secret",
            ExpressionAttributeNames={"#state": "state"},
        ).get("Item")
        if not item:
            return None
        return DeliveryTarget(
            prefix=str(item["prefix"]),
            org_id=str(item["org_id"]),
            state=_STATES[str(item["state"])],
            kind=_KINDS[str(item["kind"])],
            last_delivery_at=_int(item.get("last_delivery_at")),
            secret_ciphertext=_bytes(item.get("secret")),
        )

    def for_org(self, org_id: str) -> list[WebhookRecord]:
        """The organization's webhooks in any state, oldest first (a record already gone by TTL is skipped)."""
        # Imported here: only listing needs it, and the webhook function's cold start does not (make bench).
        from boto3.dynamodb.conditions import Key  # noqa: PLC0415 - see above

        index = query_items(
            self._table,
            KeyConditionExpression=Key("pk").eq(f"ORG#{org_id}") & Key("sk").begins_with(INDEX_SK_PREFIX),
            ProjectionExpression="prefix",
        )
        records = [r for r in self._batch_get(str(item["prefix"]) for item in index) if r.org_id == org_id]
        return sorted(records, key=lambda r: (r.created_at, r.prefix))

    def secret_for(self, prefix: str) -> str | None:
        """The webhook's secret in plain text, or None when it has none (unknown, pending, deleted)."""
        record = self.get(prefix)
        return self.secret_of(record) if record is not None and record.has_secret else None

    def secret_of(self, record: WebhookRecord | DeliveryTarget) -> str:
        """The secret of a record just read, decrypted at most once every few minutes per webhook."""
        ciphertext = record.secret_ciphertext
        if ciphertext is None:
            raise LookupError(f"webhook {record.prefix} has no secret")
        cached = self._secrets.get(record.prefix)
        if cached is not None and cached.ciphertext == ciphertext and cached.until > self._monotonic():
            self._secrets.move_to_end(record.prefix)
            return cached.plaintext
        plaintext = self._cipher.decrypt(ciphertext, org_id=record.org_id, prefix=record.prefix)
        self._remember(record.prefix, ciphertext, plaintext)
        return plaintext

    # --- What a request tells about a webhook ----------------------------------------------------------------------

    def record_heartbeat(self, prefix: str, now: float) -> bool:
        return self._touch(prefix, "last_heartbeat_at", now)

    def record_delivery(self, prefix: str, now: float) -> bool:
        return self._touch(prefix, "last_delivery_at", now)

    # --- Internals --------------------------------------------------------------------------------------------------

    def _touch(self, prefix: str, attribute: str, now: float) -> bool:
        try:
            self._table.update_item(
                Key=record_key(prefix),
                UpdateExpression=f"SET {attribute} = :now",
                ConditionExpression="attribute_exists(pk)",  # never re-creates a record that is gone
                ExpressionAttributeValues={":now": int(now)},
            )
        except ClientError as error:
            if is_condition_failed(error):
                return False
            raise
        return True

    def _keep_index(self, org_id: str, prefix: str) -> dict[str, Any]:
        """The index entry of a webhook that became lasting: its TTL goes with the record's."""
        return {
            "Update": {
                "TableName": self._table.name,
                "Key": index_key(org_id, prefix),
                "UpdateExpression": "REMOVE expires_at",
                "ConditionExpression": "attribute_exists(pk)",
            }
        }

    def _remember(self, prefix: str, ciphertext: bytes, plaintext: str) -> None:
        self._secrets[prefix] = _CachedSecret(ciphertext, plaintext, self._monotonic() + SECRET_CACHE_SECONDS)
        self._secrets.move_to_end(prefix)
        while len(self._secrets) > SECRET_CACHE_MAX_ENTRIES:
            self._secrets.popitem(last=False)

    def _transact(self, actions: list[dict[str, Any]]) -> None:
        # The resource's client: plain Python values in and out, as with the table.
        self._table.meta.client.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]

    def _transact_if(self, actions: list[dict[str, Any]]) -> bool:
        """Run the transaction; False when a condition did not hold (nothing was written)."""
        try:
            self._transact(actions)
        except ClientError as error:
            reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]
            if error.response.get("Error", {}).get("Code") == "TransactionCanceledException" and (
                "ConditionalCheckFailed" in reasons
            ):
                return False
            raise
        return True

    def _batch_get(self, prefixes: Iterable[str]) -> list[WebhookRecord]:
        keys = [record_key(prefix) for prefix in dict.fromkeys(prefixes)]
        client = self._table.meta.client
        records: list[WebhookRecord] = []
        for start in range(0, len(keys), BATCH_GET_MAX_KEYS):
            pending: Any = {self._table.name: {"Keys": keys[start : start + BATCH_GET_MAX_KEYS]}}
            for attempt in range(MAX_BATCH_GET_ATTEMPTS):
                if attempt:
                    # DynamoDB returns (not raises) what it throttled; AWS asks for exponential backoff before
                    # resending it (between attempts only: none after the last, which gives up).
                    self._sleep(BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
                response = client.batch_get_item(RequestItems=pending)
                records += [_record(item) for item in response.get("Responses", {}).get(self._table.name, [])]
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
            else:
                raise RuntimeError(f"DynamoDB left webhook reads unprocessed after {MAX_BATCH_GET_ATTEMPTS} attempts")
        return records


# The enums by value, looked up once per delivery (a dict is several times faster than calling the enum).
_STATES = {state.value: state for state in WebhookState}
_KINDS = {kind.value: kind for kind in WebhookKind}


def _numbers(values: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB's resource takes no float: a handshake's ``now`` is compared to the deadline at full precision."""
    return {name: Decimal(str(value)) if isinstance(value, float) else value for name, value in values.items()}


def _record(item: Mapping[str, Any]) -> WebhookRecord:
    return WebhookRecord(
        prefix=str(item["prefix"]),
        org_id=str(item["org_id"]),
        state=WebhookState(str(item["state"])),
        kind=WebhookKind(str(item["kind"])),
        created_by=str(item["created_by"]),
        created_at=int(item["created_at"]),
        handshake_deadline=int(item["handshake_deadline"]),
        resource_gid=_text(item.get("resource_gid")),
        resource_type=_text(item.get("resource_type")),
        filters=tuple(plain_values(f) for f in item.get("filters", [])),
        asana_gid=_text(item.get("asana_gid")),
        handshake_at=_int(item.get("handshake_at")),
        activated_at=_int(item.get("activated_at")),
        last_delivery_at=_int(item.get("last_delivery_at")),
        last_heartbeat_at=_int(item.get("last_heartbeat_at")),
        deleted_at=_int(item.get("deleted_at")),
        secret_ciphertext=_bytes(item.get("secret")),
    )


def _bytes(value: Any) -> bytes | None:
    # The resource API hands binary attributes back as boto3.dynamodb.types.Binary, which bytes() unwraps.
    if value is None:
        return None
    return bytes(value)


def _text(value: object) -> str | None:
    return str(value) if value is not None else None


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | Decimal) else None
