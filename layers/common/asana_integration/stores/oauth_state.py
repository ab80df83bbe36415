"""The OAuth ``state``: a random, single-use, short-lived ticket tying Asana's redirect back to who started Connect.

The browser carries the raw state through Asana; the table only ever holds its SHA-256, so someone who can read the
table cannot finish another user's authorization. With it we keep what the callback needs and must not take from the
URL: the organization, the user, the purpose, the exact redirect URI sent to Asana and the PKCE code verifier.

Consumption is one conditional ``DeleteItem`` returning the old item: of two callbacks racing with the same state,
exactly one gets it, and a replay finds nothing. DynamoDB's TTL deletion is lazy (it can lag by days), so expiry is
checked on read too; the TTL only keeps the table tidy.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from asana_integration.models.connections import Purpose
from asana_integration.stores.dynamo import is_condition_failed

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

STATE_PK_PREFIX = "OAUTH_STATE#"
STATE_SK = "OAUTH_STATE"
STATE_BYTES = 32
# Longer input cannot be a state we issued; it is rejected before any work is done with it.
MAX_STATE_LENGTH = 256


class StateRejected(Exception):
    """The state is unknown, already used, or malformed (forgery and replay look the same from here)."""

    reason = "invalid_state"


class StateExpired(StateRejected):
    reason = "state_expired"


@dataclass(frozen=True, slots=True)
class PendingAuthorization:
    org_id: str
    user_id: str
    purpose: Purpose
    redirect_uri: str
    code_verifier: str = field(repr=False)
    expires_at: int


class OAuthStateStore:
    def __init__(self, table: Table, *, ttl_seconds: int, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._ttl = ttl_seconds
        self._clock = clock

    @staticmethod
    def new_state() -> str:
        return secrets.token_urlsafe(STATE_BYTES)

    def save(
        self, state: str, *, org_id: str, user_id: str, purpose: Purpose, redirect_uri: str, code_verifier: str
    ) -> None:
        """Remember a pending authorization under the hash of ``state`` (from ``new_state``) until the TTL."""
        now = int(self._clock())
        self._table.put_item(
            Item={
                "pk": _pk(state),
                "sk": STATE_SK,
                "record_type": "oauth_state",
                "org_id": org_id,
                "user_id": user_id,
                "purpose": str(purpose),
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
                "created_at": now,
                "expires_at": now + self._ttl,
            },
            # A 256-bit collision is not a real risk; the condition just makes "never overwrite" explicit.
            ConditionExpression="attribute_not_exists(pk)",
        )

    def consume(self, state: str) -> PendingAuthorization:
        """Take the pending authorization for ``state``, exactly once. Raises ``StateRejected``/``StateExpired``."""
        if not state or len(state) > MAX_STATE_LENGTH:
            raise StateRejected()
        try:
            response = self._table.delete_item(
                Key={"pk": _pk(state), "sk": STATE_SK},
                ConditionExpression="attribute_exists(pk)",
                ReturnValues="ALL_OLD",
            )
        except ClientError as error:
            if is_condition_failed(error):
                raise StateRejected() from None
            raise
        item: dict[str, Any] = dict(response.get("Attributes") or {})
        pending = PendingAuthorization(
            org_id=str(item["org_id"]),
            user_id=str(item["user_id"]),
            purpose=Purpose(str(item["purpose"])),
            redirect_uri=str(item["redirect_uri"]),
            code_verifier=str(item["code_verifier"]),
            expires_at=int(item["expires_at"]),
        )
        if self._clock() >= pending.expires_at:
            raise StateExpired()
        return pending


def _pk(state: str) -> str:
    return STATE_PK_PREFIX + hashlib.sha256(state.encode("utf-8", errors="replace")).hexdigest()
