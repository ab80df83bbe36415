"""The webhook store under moto: a handshake is accepted once, inside its window, for the record's own organization;
secrets are KMS ciphertext bound to their webhook; states move only forward; the index lists an organization's own."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from asana_integration.models.webhooks import DeliveryTarget, WebhookKind, WebhookState
from asana_integration.stores.field_crypto import WebhookSecretCipher
from asana_integration.stores.webhooks import (
    BACKOFF_BASE_SECONDS,
    BATCH_GET_MAX_KEYS,
    DELETED_RETENTION_SECONDS,
    MAX_BATCH_GET_ATTEMPTS,
    PENDING_RETENTION_SECONDS,
    SECRET_CACHE_MAX_ENTRIES,
    SECRET_CACHE_SECONDS,
    WebhookStore,
    index_key,
    is_prefix,
    record_key,
)
from tests import log_audit

SECRET = "5f4dcc3b5aa765d61d8327deb882cf99" * 2
OTHER = "e99a18c428cb38d5f260853678922e03" * 2
log_audit.remember(SECRET, OTHER)


class CountingCipher(WebhookSecretCipher):
    """The real cipher, counting KMS calls, with a hook that runs once just before the first encryption."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.encryptions = 0
        self.decryptions = 0
        self.before_encrypt: Any = None

    def encrypt(self, secret: str, *, org_id: str, prefix: str) -> bytes:
        self.encryptions += 1
        hook, self.before_encrypt = self.before_encrypt, None
        if hook is not None:
            hook()
        return super().encrypt(secret, org_id=org_id, prefix=prefix)

    def decrypt(self, ciphertext: bytes, *, org_id: str, prefix: str) -> str:
        self.decryptions += 1
        return super().decrypt(ciphertext, org_id=org_id, prefix=prefix)


class Clocks:
    def __init__(self) -> None:
        self.now = time.time()
        self.mono = 1000.0


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def cipher(aws: Any) -> CountingCipher:
    return CountingCipher(boto3.client("kms"), aws.kms_key_arn)


@pytest.fixture
def store(aws: Any, cipher: CountingCipher, clocks: Clocks) -> WebhookStore:
    table = boto3.resource("dynamodb").Table(aws.table_name)
    return WebhookStore(table, cipher, clock=lambda: clocks.now, monotonic=lambda: clocks.mono)


def raw_item(aws: Any, key: dict[str, str]) -> dict[str, Any] | None:
    return boto3.resource("dynamodb").Table(aws.table_name).get_item(Key=key).get("Item")


def arm(store: WebhookStore, clocks: Clocks, kind: WebhookKind = WebhookKind.CREATED, org: str = "org-a") -> str:
    return store.create_pending(
        org,
        kind,
        resource="1201",
        filters=[{"resource_type": "task", "action": "changed", "fields": ["name"]}],
        created_by="admin-a",
        deadline=clocks.now + 60,
        resource_type="project",
    )


def test_a_new_webhook_is_pending_under_an_unguessable_prefix_and_listed_for_its_organization(store, clocks, aws):
    prefix = arm(store, clocks)

    record = store.get(prefix)
    assert is_prefix(prefix)
    assert len({arm(store, clocks) for _ in range(20)}) == 20
    assert record is not None
    assert (record.org_id, record.state, record.kind) == ("org-a", WebhookState.PENDING, WebhookKind.CREATED)
    assert (record.resource_gid, record.resource_type, record.created_by) == ("1201", "project", "admin-a")
    assert record.filters == ({"resource_type": "task", "action": "changed", "fields": ["name"]},)
    assert record.has_secret is False
    assert prefix in [r.prefix for r in store.for_org("org-a")]
    # An abandoned window disappears, record and index entry alike.
    expires = int(clocks.now + 60) + PENDING_RETENTION_SECONDS
    assert raw_item(aws, record_key(prefix))["expires_at"] == expires  # type: ignore[index]
    assert raw_item(aws, index_key("org-a", prefix))["expires_at"] == expires  # type: ignore[index]


def test_the_handshake_stores_the_secret_encrypted_and_only_once(store, clocks, aws):
    prefix = arm(store, clocks)

    assert store.accept_handshake(prefix, SECRET, clocks.now) is True
    assert store.accept_handshake(prefix, OTHER, clocks.now) is False

    item = raw_item(aws, record_key(prefix))
    assert SECRET.encode() not in bytes(item["secret"].value)  # type: ignore[index]
    assert store.secret_for(prefix) == SECRET
    assert store.get(prefix).handshake_at == int(clocks.now)  # type: ignore[union-attr]


def test_no_handshake_after_the_window_nor_for_an_unknown_or_malformed_prefix(store, clocks, cipher):
    prefix = arm(store, clocks)

    assert store.accept_handshake(prefix, SECRET, clocks.now + 60) is False  # the deadline itself is too late
    assert store.accept_handshake("D" * 32, SECRET, clocks.now) is False
    assert store.accept_handshake("../WEBHOOK", SECRET, clocks.now) is False
    assert store.get(prefix).has_secret is False  # type: ignore[union-attr]
    assert cipher.encryptions == 0  # refused before KMS was ever asked


def test_of_two_concurrent_handshakes_exactly_one_stores_its_secret(store, clocks, cipher):
    prefix = arm(store, clocks)
    results: list[bool] = []
    # The second handshake lands between the first one's read and its conditional write.
    cipher.before_encrypt = lambda: results.append(store.accept_handshake(prefix, OTHER, clocks.now))

    results.append(store.accept_handshake(prefix, SECRET, clocks.now))

    assert results == [True, False]
    assert store.secret_for(prefix) == OTHER


def test_a_created_webhook_becomes_active_only_through_activate_after_its_handshake(store, clocks, aws):
    prefix = arm(store, clocks)
    assert store.activate(prefix, "9901") is False  # no handshake yet: nothing to confirm
    assert store.accept_handshake(prefix, SECRET, clocks.now)

    assert store.get(prefix).state is WebhookState.PENDING  # type: ignore[union-attr]
    assert store.activate(prefix, "9901") is True
    assert store.activate(prefix, "9902") is False

    record = store.get(prefix)
    assert (record.state, record.asana_gid) == (WebhookState.ACTIVE, "9901")  # type: ignore[union-attr]
    assert record.activated_at == int(clocks.now)  # type: ignore[union-attr]  # health is judged from it
    assert record.accepts_deliveries  # type: ignore[union-attr]
    assert "expires_at" not in raw_item(aws, record_key(prefix))  # type: ignore[operator]
    assert "expires_at" not in raw_item(aws, index_key("org-a", prefix))  # type: ignore[operator]


def test_a_webhook_made_by_hand_is_active_and_lasting_after_its_handshake(store, clocks, aws):
    prefix = arm(store, clocks, WebhookKind.EXPECTED_MANUAL)

    assert store.accept_handshake(prefix, SECRET, clocks.now)

    assert store.get(prefix).state is WebhookState.ACTIVE  # type: ignore[union-attr]
    assert store.activate(prefix, "9901") is False  # no 201 will come: nothing to activate
    assert "expires_at" not in raw_item(aws, record_key(prefix))  # type: ignore[operator]
    assert "expires_at" not in raw_item(aws, index_key("org-a", prefix))  # type: ignore[operator]


def test_a_test_webhook_is_active_after_its_handshake_but_expires_as_armed(store, clocks, aws):
    prefix = arm(store, clocks, WebhookKind.TEST)

    assert store.accept_handshake(prefix, SECRET, clocks.now)

    assert store.get(prefix).state is WebhookState.ACTIVE  # type: ignore[union-attr]
    assert "expires_at" in raw_item(aws, record_key(prefix))  # type: ignore[operator]


def test_a_deleted_webhook_forgets_its_secret_and_is_kept_only_for_a_while(store, clocks, aws):
    prefix = arm(store, clocks)
    assert store.accept_handshake(prefix, SECRET, clocks.now)
    assert store.activate(prefix, "9901")
    assert store.secret_for(prefix) == SECRET  # cached now

    assert store.mark_deleted(prefix) is True
    assert store.mark_deleted(prefix) is False

    record = store.get(prefix)
    assert record.state is WebhookState.DELETED  # type: ignore[union-attr]
    assert record.deleted_at == int(clocks.now)  # type: ignore[union-attr]
    assert record.has_secret is False  # type: ignore[union-attr]
    assert not record.accepts_deliveries  # type: ignore[union-attr]
    assert store.secret_for(prefix) is None
    expires = int(clocks.now) + DELETED_RETENTION_SECONDS
    assert raw_item(aws, record_key(prefix))["expires_at"] == expires  # type: ignore[index]
    assert raw_item(aws, index_key("org-a", prefix))["expires_at"] == expires  # type: ignore[index]
    assert store.mark_deleted("E" * 32) is False


def test_a_secret_is_decrypted_once_per_few_minutes(store, clocks, cipher):
    prefix = arm(store, clocks, WebhookKind.EXPECTED_MANUAL)
    assert store.accept_handshake(prefix, SECRET, clocks.now)
    fresh = WebhookStore(store._table, cipher, monotonic=lambda: clocks.mono)  # another execution environment

    assert [fresh.secret_for(prefix) for _ in range(3)] == [SECRET] * 3
    assert cipher.decryptions == 1
    clocks.mono += SECRET_CACHE_SECONDS + 1
    assert fresh.secret_for(prefix) == SECRET
    assert cipher.decryptions == 2


def test_a_secret_moved_to_another_webhook_does_not_decrypt(store, clocks, aws):
    source = arm(store, clocks, WebhookKind.EXPECTED_MANUAL)
    target = arm(store, clocks, WebhookKind.EXPECTED_MANUAL)
    assert store.accept_handshake(source, SECRET, clocks.now)
    assert store.accept_handshake(target, OTHER, clocks.now)
    table = boto3.resource("dynamodb").Table(aws.table_name)
    stolen = raw_item(aws, record_key(source))["secret"]  # type: ignore[index]
    table.update_item(
        Key=record_key(target), UpdateExpression="SET secret = :s", ExpressionAttributeValues={":s": stolen}
    )
    cold = WebhookStore(table, WebhookSecretCipher(boto3.client("kms"), aws.kms_key_arn))

    with pytest.raises(ClientError):
        cold.secret_for(target)


def test_heartbeats_and_deliveries_are_recorded_on_existing_webhooks_only(store, clocks, aws):
    prefix = arm(store, clocks)

    assert store.record_heartbeat(prefix, clocks.now + 5) is True
    assert store.record_delivery(prefix, clocks.now + 7) is True
    assert store.record_heartbeat("F" * 32, clocks.now) is False

    record = store.get(prefix)
    assert (record.last_heartbeat_at, record.last_delivery_at) == (int(clocks.now + 5), int(clocks.now + 7))  # type: ignore[union-attr]
    assert raw_item(aws, record_key("F" * 32)) is None


def test_an_organization_lists_only_its_own_webhooks(store, clocks):
    ours = {arm(store, clocks, org="org-a") for _ in range(3)}
    theirs = arm(store, clocks, org="org-b")

    assert {r.prefix for r in store.for_org("org-a")} == ours
    assert [r.prefix for r in store.for_org("org-b")] == [theirs]
    assert store.for_org("org-c") == []


def test_an_organization_with_more_webhooks_than_one_batch_read_lists_them_all_oldest_first(store, clocks):
    ours = []
    for _ in range(BATCH_GET_MAX_KEYS + 1):
        ours.append(arm(store, clocks))
        clocks.now += 1

    assert [r.prefix for r in store.for_org("org-a")] == ours


class ThrottledBatchReads:
    """DynamoDB's BatchGetItem answering its first ``times`` calls with every key unprocessed, as under throttling."""

    def __init__(self, real: Any, times: int) -> None:
        self.real, self.times, self.calls = real, times, 0

    def __call__(self, *, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.times:
            return {"Responses": {}, "UnprocessedKeys": RequestItems}
        return self.real(RequestItems=RequestItems)


def throttled_store(aws: Any, cipher: CountingCipher, times: int, sleeps: list[float]) -> tuple[WebhookStore, Any]:
    table = boto3.resource("dynamodb").Table(aws.table_name)
    reads = ThrottledBatchReads(table.meta.client.batch_get_item, times)
    table.meta.client.batch_get_item = reads  # type: ignore[method-assign]
    return WebhookStore(table, cipher, sleep=sleeps.append), reads


def test_reads_dynamodb_left_unprocessed_are_sent_again_after_a_growing_backoff(store, clocks, aws, cipher):
    ours = {arm(store, clocks) for _ in range(3)}
    sleeps: list[float] = []
    throttled, reads = throttled_store(aws, cipher, 2, sleeps)

    assert {r.prefix for r in throttled.for_org("org-a")} == ours
    assert reads.calls == 3
    assert sleeps == [BACKOFF_BASE_SECONDS, 2 * BACKOFF_BASE_SECONDS]


def test_reads_left_unprocessed_at_every_attempt_fail_without_waiting_after_the_last(store, clocks, aws, cipher):
    arm(store, clocks)
    sleeps: list[float] = []
    throttled, reads = throttled_store(aws, cipher, MAX_BATCH_GET_ATTEMPTS, sleeps)

    with pytest.raises(RuntimeError, match="unprocessed"):
        throttled.for_org("org-a")
    assert reads.calls == MAX_BATCH_GET_ATTEMPTS
    assert sleeps == [BACKOFF_BASE_SECONDS * 2**n for n in range(MAX_BATCH_GET_ATTEMPTS - 1)]


# --- The secret cache ------------------------------------------------------------------------------------------------


class PlainCipher:
    """A cipher whose ciphertext is the secret reversed, counting decryptions per webhook (no KMS: cache tests only)."""

    def __init__(self) -> None:
        self.decrypted: list[str] = []

    def encrypt(self, secret: str, *, org_id: str, prefix: str) -> bytes:
        return secret[::-1].encode()

    def decrypt(self, ciphertext: bytes, *, org_id: str, prefix: str) -> str:
        self.decrypted.append(prefix)
        return ciphertext.decode()[::-1]


def target(n: int, secret: str = SECRET) -> DeliveryTarget:
    return DeliveryTarget(
        prefix=f"{n:032d}",
        org_id="org-a",
        state=WebhookState.ACTIVE,
        kind=WebhookKind.CREATED,
        secret_ciphertext=secret[::-1].encode(),
    )


def cache_store(cipher: PlainCipher, clocks: Clocks) -> WebhookStore:
    return WebhookStore(None, cipher, monotonic=lambda: clocks.mono)  # type: ignore[arg-type]


def test_the_handshake_s_store_answers_the_first_delivery_without_decrypting(store, clocks, cipher):
    prefix = arm(store, clocks, WebhookKind.EXPECTED_MANUAL)
    assert store.accept_handshake(prefix, SECRET, clocks.now)

    assert store.secret_for(prefix) == SECRET
    assert cipher.decryptions == 0


def test_a_cached_secret_lasts_until_its_time_and_not_a_moment_longer(clocks):
    cipher = PlainCipher()
    secrets_ = cache_store(cipher, clocks)
    assert secrets_.secret_of(target(1)) == SECRET

    clocks.mono += SECRET_CACHE_SECONDS - 0.001
    assert secrets_.secret_of(target(1)) == SECRET
    clocks.mono += 0.001  # exactly the cache's lifetime after the decryption
    assert secrets_.secret_of(target(1)) == SECRET

    assert cipher.decrypted == [target(1).prefix] * 2


def test_a_record_with_another_ciphertext_is_decrypted_not_answered_from_the_cache(clocks):
    cipher = PlainCipher()
    secrets_ = cache_store(cipher, clocks)
    assert secrets_.secret_of(target(1)) == SECRET

    assert secrets_.secret_of(target(1, OTHER)) == OTHER  # what the table holds now, not what it held
    assert secrets_.secret_of(target(1, OTHER)) == OTHER
    assert cipher.decrypted == [target(1).prefix] * 2


def test_the_cache_keeps_the_most_recently_used_secrets_up_to_its_limit(clocks):
    cipher = PlainCipher()
    secrets_ = cache_store(cipher, clocks)
    for n in range(SECRET_CACHE_MAX_ENTRIES):
        secrets_.secret_of(target(n))
    cipher.decrypted.clear()

    for n in range(SECRET_CACHE_MAX_ENTRIES):  # the full cache answers every one of them
        secrets_.secret_of(target(n))
    assert cipher.decrypted == []

    secrets_.secret_of(target(0))  # used again: the most recent now, 1 the least recent
    secrets_.secret_of(target(SECRET_CACHE_MAX_ENTRIES))  # one more: the least recently used one goes
    secrets_.secret_of(target(0))
    assert cipher.decrypted == [target(SECRET_CACHE_MAX_ENTRIES).prefix]
    secrets_.secret_of(target(1))
    assert cipher.decrypted == [target(SECRET_CACHE_MAX_ENTRIES).prefix, target(1).prefix]


def test_a_record_without_a_secret_has_none_to_give():
    with pytest.raises(LookupError):
        cache_store(PlainCipher(), Clocks()).secret_of(
            DeliveryTarget(prefix="p" * 32, org_id="org-a", state=WebhookState.PENDING, kind=WebhookKind.CREATED)
        )


def test_deleting_a_webhook_drops_its_decrypted_secret_from_memory_at_once(store, clocks, cipher):
    prefix = arm(store, clocks, WebhookKind.EXPECTED_MANUAL)
    assert store.accept_handshake(prefix, SECRET, clocks.now)  # the plain secret is now kept for a few minutes
    raced = store.delivery_target(prefix)  # a delivery read its target just before the deletion

    assert store.mark_deleted(prefix) is True

    assert raced is not None
    assert store.secret_of(raced) == SECRET  # still answerable, but only by KMS again: nothing stayed in memory
    assert cipher.decryptions == 1


def test_a_delivery_target_carries_when_the_last_delivery_was_recorded(store, clocks):
    """The receiver writes a delivery's arrival at most once a minute, judged by this value."""
    prefix = arm(store, clocks, WebhookKind.EXPECTED_MANUAL)
    assert store.delivery_target(prefix).last_delivery_at is None  # type: ignore[union-attr]

    assert store.record_delivery(prefix, clocks.now + 3.9)

    assert store.delivery_target(prefix).last_delivery_at == int(clocks.now + 3.9)  # type: ignore[union-attr]


def test_activating_a_webhook_that_is_gone_says_so_and_writes_nothing(store, clocks, aws):
    unknown = "G" * 32

    assert store.activate(unknown, "1209") is False
    assert raw_item(aws, record_key(unknown)) is None


@pytest.mark.parametrize(
    "refusal",
    [
        {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}},  # no CancellationReasons at all
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}],
        },
    ],
    ids=["access-denied", "transaction-conflict"],
)
def test_an_aws_error_other_than_a_failed_condition_is_raised_not_taken_for_a_lost_race(
    store, clocks, monkeypatch, refusal
):
    prefix = arm(store, clocks, WebhookKind.EXPECTED_MANUAL)

    def refuse(**kwargs: Any) -> None:
        raise ClientError(refusal, "TransactWriteItems")  # type: ignore[arg-type]

    monkeypatch.setattr(store._table.meta.client, "transact_write_items", refuse)

    with pytest.raises(ClientError) as raised:
        store.mark_deleted(prefix)  # a False here would tell the admin "already deleted"
    assert raised.value.response["Error"]["Code"] == refusal["Error"]["Code"]
