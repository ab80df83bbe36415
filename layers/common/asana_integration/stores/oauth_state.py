"""The OAuth ``state``: a random, single-use, short-lived ticket tying Asana's redirect back to who started Connect.

The browser carries the raw state through Asana; the table only ever holds its SHA-256, so someone who can read the
table cannot finish another user's authorization. With it we keep what finishing needs and must not take from the
URL: the organization, the user, the purpose, the exact redirect URI sent to Asana, the PKCE code verifier and, for a
Connect started by a browser session, the SHA-256 of that session's completion key (never sent to Asana).

Two steps use it (``connections/service.py``). Asana's redirect only *reads* it (``peek``): that request carries no
SecureDB session, so it must not spend the state. Finishing the connection *claims* it (``claim``): one conditional
``UpdateItem`` that succeeds only for a state that exists, is unused, and belongs to the claiming user (and session),
and marks it used. Of two claims racing with the same state exactly one wins; a replay finds it used and is told so
(the used item stays until its TTL, so "already used" can be told from "never issued"). A redirect that ends in an
error ``burn``s the state the same way. DynamoDB's TTL deletion is lazy (it can lag by days), so expiry is checked on
every read; the TTL only keeps the table tidy.
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
    """The state is unknown or malformed: forged, mistyped, or so old its item is gone.

    ``pending`` is what the state was issued for, when it was found (used, expired, someone else's).
    """

    reason = "invalid_state"

    def __init__(self, pending: PendingAuthorization | None = None) -> None:
        super().__init__(self.reason)
        self.pending = pending


class StateExpired(StateRejected):
    reason = "state_expired"


class StateAlreadyUsed(StateRejected):
    """The state was claimed (or burnt by an error redirect) before: a replayed redirect or link."""

    reason = "already_used"


class StateNotYours(StateRejected):
    """The state belongs to another SecureDB user (or organization): a Connect link someone else started."""

    reason = "not_yours"


class StateOtherSession(StateRejected):
    """The state's Connect was started in another browser session, which holds its completion key."""

    reason = "other_session"


@dataclass(frozen=True, slots=True)
class PendingAuthorization:
    org_id: str
    user_id: str
    purpose: Purpose
    redirect_uri: str
    code_verifier: str = field(repr=False)
    expires_at: int
    used: bool = False
    session_bound: bool = False  # started with a completion key, which finishing must present


class OAuthStateStore:
    def __init__(self, table: Table, *, ttl_seconds: int, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._ttl = ttl_seconds
        self._clock = clock

    @staticmethod
    def new_state() -> str:
        return secrets.token_urlsafe(STATE_BYTES)

    def save(
        self,
        state: str,
        *,
        org_id: str,
        user_id: str,
        purpose: Purpose,
        redirect_uri: str,
        code_verifier: str,
        completion_key: str | None = None,
    ) -> None:
        """Remember a pending authorization under the hash of ``state`` (from ``new_state``) until the TTL.

        With a ``completion_key`` (from ``new_state`` too) only a claim presenting the same key finishes it.
        """
        now = int(self._clock())
        item: dict[str, Any] = {
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
        }
        if completion_key is not None:
            item["completion_key_hash"] = _digest(completion_key)
        # A 256-bit collision is not a real risk; the condition just makes "never overwrite" explicit.
        self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")

    def peek(self, state: str) -> PendingAuthorization:
        """The pending authorization for ``state``, unchanged. Raises ``StateRejected``, ``StateAlreadyUsed`` or
        ``StateExpired``."""
        pending = self._read(state)
        if pending.used:
            raise StateAlreadyUsed(pending)
        if self._clock() >= pending.expires_at:
            raise StateExpired(pending)
        return pending

    def claim(self, state: str, *, org_id: str, user_id: str, completion_key: str | None) -> PendingAuthorization:
        """Take the pending authorization for ``state``, exactly once, for the user (and session) that started it.

        Raises a ``StateRejected`` whose ``reason`` says why not; a refused claim changes nothing.
        """
        _check_format(state)
        values: dict[str, Any] = {":now": int(self._clock()), ":org": org_id, ":user": user_id}
        condition = "attribute_exists(pk) AND attribute_not_exists(used_at) AND org_id = :org AND user_id = :user"
        condition += " AND (attribute_not_exists(completion_key_hash) OR completion_key_hash = :key)"
        values[":key"] = _digest(completion_key) if completion_key else "-"
        try:
            response = self._table.update_item(
                Key={"pk": _pk(state), "sk": STATE_SK},
                UpdateExpression="SET used_at = :now",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if is_condition_failed(error):
                raise self._refusal(state, org_id, user_id) from None
            raise
        pending = _pending(dict(response.get("Attributes") or {}))
        if self._clock() >= pending.expires_at:
            raise StateExpired(pending)  # spent anyway: an expired state is never worth keeping
        return pending

    def burn(self, state: str) -> PendingAuthorization | None:
        """Mark ``state`` used without finishing it (Asana redirected with an error); the authorization it was for,
        or None when it was unknown or already used."""
        try:
            _check_format(state)
            response = self._table.update_item(
                Key={"pk": _pk(state), "sk": STATE_SK},
                UpdateExpression="SET used_at = :now",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(used_at)",
                ExpressionAttributeValues={":now": int(self._clock())},
                ReturnValues="ALL_NEW",
            )
        except StateRejected:
            return None
        except ClientError as error:
            if is_condition_failed(error):
                return None
            raise
        return _pending(dict(response.get("Attributes") or {}))

    def _read(self, state: str) -> PendingAuthorization:
        _check_format(state)
        item = self._table.get_item(Key={"pk": _pk(state), "sk": STATE_SK}, ConsistentRead=True).get("Item")
        if not item:
            raise StateRejected()
        return _pending(dict(item))

    def _refusal(self, state: str, org_id: str, user_id: str) -> StateRejected:
        """Why a claim's condition failed, read back: gone, used, someone else's, or another session's."""
        try:
            pending = self._read(state)
        except StateRejected as rejected:
            return rejected
        # Only what a claim may learn: whether it was used. Someone else's state reveals nothing of its purpose.
        if pending.used:
            return StateAlreadyUsed()
        if (pending.org_id, pending.user_id) != (org_id, user_id):
            return StateNotYours()
        return StateOtherSession()


def _check_format(state: str) -> None:
    if not state or len(state) > MAX_STATE_LENGTH:
        raise StateRejected()


def _pending(item: dict[str, Any]) -> PendingAuthorization:
    return PendingAuthorization(
        org_id=str(item["org_id"]),
        user_id=str(item["user_id"]),
        purpose=Purpose(str(item["purpose"])),
        redirect_uri=str(item["redirect_uri"]),
        code_verifier=str(item["code_verifier"]),
        expires_at=int(item["expires_at"]),
        used="used_at" in item,
        session_bound="completion_key_hash" in item,
    )


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", errors="replace")).hexdigest()


def _pk(state: str) -> str:
    return STATE_PK_PREFIX + _digest(state)
