"""The refresh lifecycle's edges: the guard against a refresh loop, the lease always released, a disconnect or a
reconnect racing a refresh, and waiting bounded by the Lambda's remaining time.

The connection lives in DynamoDB (moto, the template's table) with KMS-encrypted tokens, as in production. Asana's
token endpoint is the one thing replaced: a stand-in that mints a new access token per refresh, fails when told to,
and can run what "another Lambda" or "an admin" does at the moment the refresh is in flight. Time is a fake clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from asana_integration.asana.errors import RefreshTokenInvalid
from asana_integration.asana.oauth import TokenGrant
from asana_integration.connections import token_refresh
from asana_integration.connections.token_refresh import ConnectionTokenSource
from asana_integration.errors import SEED_AUTH_FAILED, AsanaAuthenticationFailed, AsanaUnavailable
from asana_integration.models.asana import AsanaUser
from asana_integration.models.connections import ConnectionKey, Status
from asana_integration.models.credentials import OrgCredentials
from asana_integration.observability import metrics
from asana_integration.stores.connections import ConnectionRecord, ConnectionStore, NewTokens
from asana_integration.stores.field_crypto import TokenCipher
from local.template import table_definition

KEY = ConnectionKey.organization("org-a")
CREDENTIALS = OrgCredentials(client_id="client-1", client_secret="client-secret-1")
START = 1_800_000_000.0  # a whole second: lease expiries are whole seconds too


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class TokenEndpoint:
    """Asana's token endpoint as a refresh sees it."""

    calls: int = 0
    refresh_tokens_seen: list[str] = field(default_factory=list)
    failure: Exception | None = None
    rotate: bool = False
    # What happens elsewhere while this refresh is in flight (runs once).
    meanwhile: Callable[[], None] | None = None

    def refresh(self, credentials: OrgCredentials, refresh_token: str) -> TokenGrant:
        assert credentials == CREDENTIALS
        self.calls += 1
        self.refresh_tokens_seen.append(refresh_token)
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            meanwhile()
        if self.failure is not None:
            raise self.failure
        return TokenGrant(
            access_token=f"access-{self.calls}",
            expires_in=3600,
            refresh_token=f"refresh-{self.calls}" if self.rotate else None,
        )


@dataclass
class World:
    store: ConnectionStore
    clock: Clock
    asana: TokenEndpoint
    sleeps: list[float] = field(default_factory=list)
    # What each use costs: DynamoDB reads of the connection, KMS decryptions of a token.
    calls: list[str] = field(default_factory=list)

    def connect(self, *, access: str = "access-0", refresh: str = "refresh-0", expires_in: int = 3600) -> None:
        tokens = NewTokens(access_token=access, refresh_token=refresh, access_expires_at=int(self.clock()) + expires_in)
        self.store.put_connection(
            KEY, tokens, asana_user=AsanaUser(gid="1201"), connected_by="admin-a", client_id=CREDENTIALS.client_id
        )

    def source(self, *, remaining_time_ms: Callable[[], int] | None = None, **kwargs) -> ConnectionTokenSource:
        def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)
            self.clock.advance(seconds)

        return ConnectionTokenSource(
            self.store,
            self.asana,  # type: ignore[arg-type]
            CREDENTIALS,
            KEY,
            clock=self.clock,
            sleep=sleep,
            remaining_time_ms=remaining_time_ms,
            **kwargs,
        )

    def record(self) -> ConnectionRecord:
        record = self.store.get(KEY)
        assert record is not None
        return record

    def stored_access_token(self) -> str:
        return self.store.access_token(self.record())


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
        table = dynamodb.create_table(TableName="connections", **table_definition("IntegrationTable"))
        kms = boto3.client("kms", region_name="us-east-1")
        key_arn = kms.create_key(Description="tokens")["KeyMetadata"]["Arn"]
        clock = Clock()
        world = World(ConnectionStore(table, TokenCipher(kms, key_arn), clock=clock), clock, TokenEndpoint())
        for client in (kms, table.meta.client):
            client.meta.events.register("provide-client-params.*.*", lambda model, **_: world.calls.append(model.name))
        yield world


# --- renewing after Asana rejected a token ---------------------------------------------------------------------------


def test_asana_refusing_a_token_minted_moments_ago_stops_instead_of_refreshing_again(world):
    world.connect(expires_in=-10)
    source = world.source()
    minted = source.access_token()
    assert (minted, world.asana.calls) == ("access-1", 1)

    with pytest.raises(AsanaAuthenticationFailed) as failed:
        source.renew_after_rejection(minted)

    assert failed.value.message == SEED_AUTH_FAILED
    assert world.asana.calls == 1, "a token refused right after its refresh must not start a refresh loop"


def test_a_rejected_stored_token_is_refreshed_once_then_the_guard_holds(world):
    world.connect()
    source = world.source()
    assert source.access_token() == "access-0"

    assert source.renew_after_rejection("access-0") == "access-1"
    assert world.stored_access_token() == "access-1"
    assert world.record().lease_owner is None
    with pytest.raises(AsanaAuthenticationFailed):
        source.renew_after_rejection("access-1")
    assert world.asana.calls == 1


def test_a_rejection_of_a_token_another_lambda_already_replaced_uses_the_replacement(world):
    world.connect()
    ours, other = world.source(), world.source()
    assert ours.access_token() == other.access_token() == "access-0"
    assert other.renew_after_rejection("access-0") == "access-1"

    assert ours.renew_after_rejection("access-0") == "access-1"
    assert world.asana.calls == 1


def test_a_source_that_handed_out_nothing_renews_only_the_stored_token(world):
    world.connect()
    world.source().renew_after_rejection("access-0")  # another Lambda renewed: access-1 is stored

    stale = world.source()
    world.calls.clear()
    assert stale.renew_after_rejection("access-0") == "access-1"  # a rejection of an older token: use the new one
    assert world.asana.calls == 1
    assert world.calls == ["GetItem", "Decrypt"], "one read and one decryption, not a second one"
    assert world.source().renew_after_rejection("access-1") == "access-2"  # the stored token itself was rejected
    assert world.asana.calls == 2


def test_a_short_lived_token_is_reused_without_reading_or_decrypting_it_again(world):
    world.connect(expires_in=120)  # shorter than the 5-minute margin: half its lifetime counts instead
    source = world.source()

    assert {source.access_token() for _ in range(3)} == {"access-0"}
    assert world.calls.count("GetItem") == 1
    assert world.calls.count("Decrypt") == 1
    world.clock.advance(61)
    assert source.access_token() == "access-1"


def test_a_refreshed_token_is_used_until_close_to_its_expiry(world):
    world.connect(expires_in=-10)
    source = world.source()
    assert source.access_token() == "access-1"
    world.clock.advance(3600 - 301)
    assert source.access_token() == "access-1"
    world.clock.advance(2)  # inside the 5-minute margin
    assert source.access_token() == "access-2"
    assert world.asana.calls == 2


def test_the_refresh_sends_the_stored_refresh_token_and_keeps_it_when_asana_sends_none(world):
    world.connect(expires_in=-10)
    world.source().access_token()
    world.clock.advance(3600)
    world.source().access_token()

    assert world.asana.refresh_tokens_seen == ["refresh-0", "refresh-0"]
    assert world.store.refresh_token(world.record()) == "refresh-0"


# --- the lease is always released -----------------------------------------------------------------------------------


def test_a_transient_failure_releases_the_lease_with_a_cooldown(world):
    world.connect(expires_in=-10)
    world.asana.failure = AsanaUnavailable("Asana is down", "Try again", code="asana_unavailable")

    with pytest.raises(AsanaUnavailable):
        world.source().access_token()

    record = world.record()
    assert record.lease_owner is None
    assert record.status is Status.ACTIVE
    assert record.refresh_retry_after == START + 30
    world.clock.advance(10)
    with pytest.raises(AsanaUnavailable) as cooling:
        world.source().access_token()
    assert (cooling.value.status, cooling.value.code, cooling.value.retry_after) == (
        503,
        "token_refresh_cooling_down",
        21,
    )
    assert "Asana token" in cooling.value.message
    assert "status.asana.com" in cooling.value.fix
    assert world.asana.calls == 1

    world.asana.failure = None
    world.clock.advance(21)
    assert world.source().access_token() == "access-2"


def test_an_unexpected_failure_releases_the_lease_without_a_cooldown(world):
    world.connect(expires_in=-10)
    world.asana.failure = RuntimeError("bug")

    with pytest.raises(RuntimeError):
        world.source().access_token()

    record = world.record()
    assert (record.lease_owner, record.refresh_retry_after) == (None, 0)
    world.asana.failure = None
    assert world.source().access_token() == "access-2"


def test_a_failed_read_under_the_lease_releases_it(world, monkeypatch):
    world.connect(expires_in=-10)
    source = world.source()
    get = ConnectionStore.get
    reads = []

    def get_failing_under_the_lease(store, key):
        reads.append(key)
        if len(reads) == 2:  # the re-read right after taking the lease
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, "GetItem")
        return get(store, key)

    monkeypatch.setattr(ConnectionStore, "get", get_failing_under_the_lease)
    with pytest.raises(ClientError):
        source.access_token()
    monkeypatch.setattr(ConnectionStore, "get", get)

    assert world.record().lease_owner is None
    assert world.asana.calls == 0


def test_a_refresh_found_done_under_the_lease_releases_it_and_is_reused(world, monkeypatch):
    world.connect(expires_in=-10)
    late = world.source()
    acquire = ConnectionStore.acquire_lease

    def acquire_after_another_lambda_refreshed(store, key, owner, lease_seconds):
        monkeypatch.setattr(ConnectionStore, "acquire_lease", acquire)
        world.source().access_token()
        return acquire(store, key, owner, lease_seconds)

    monkeypatch.setattr(ConnectionStore, "acquire_lease", acquire_after_another_lambda_refreshed)

    assert late.access_token() == "access-1"
    assert world.asana.calls == 1
    assert world.record().lease_owner is None


# --- a disconnect racing a refresh ----------------------------------------------------------------------------------


def test_a_disconnected_connection_fails_at_once_without_calling_asana(world):
    world.connect(expires_in=-10)
    world.store.delete(KEY)

    with pytest.raises(AsanaAuthenticationFailed):
        world.source().access_token()
    assert world.asana.calls == 0


def test_a_disconnect_between_the_lease_and_the_reread_fails_cleanly_without_calling_asana(world, monkeypatch):
    world.connect(expires_in=-10)
    acquire = ConnectionStore.acquire_lease

    def acquire_then_disconnect(store, key, owner, lease_seconds):
        taken = acquire(store, key, owner, lease_seconds)
        store.delete(key)
        return taken

    monkeypatch.setattr(ConnectionStore, "acquire_lease", acquire_then_disconnect)

    with pytest.raises(AsanaAuthenticationFailed):
        world.source().access_token()
    assert world.asana.calls == 0
    assert world.store.get(KEY) is None


def test_a_connection_marked_dead_between_the_lease_and_the_reread_is_not_refreshed(world, monkeypatch):
    world.connect(expires_in=-10)
    acquire = ConnectionStore.acquire_lease

    def acquire_then_marked(store, key, owner, lease_seconds):
        taken = acquire(store, key, owner, lease_seconds)
        record = store.get(key)
        store.mark_needs_reconnect(key, refresh_token_ct=record.refresh_token_ct, reason="invalid_grant")
        return taken

    monkeypatch.setattr(ConnectionStore, "acquire_lease", acquire_then_marked)

    with pytest.raises(AsanaAuthenticationFailed):
        world.source().access_token()
    assert world.asana.calls == 0


def test_a_disconnect_during_the_refresh_is_not_undone_by_it(world):
    world.connect(expires_in=-10)
    world.asana.meanwhile = lambda: world.store.delete(KEY)

    assert world.source().access_token() == "access-1"  # valid for this call; the disconnect revokes its grant

    assert world.store.get(KEY) is None


def test_a_dead_refresh_token_during_a_disconnect_does_not_resurrect_the_connection(world):
    world.connect(expires_in=-10)
    world.asana.meanwhile = lambda: world.store.delete(KEY)
    world.asana.failure = RefreshTokenInvalid("invalid_grant", "refused", "reconnect")

    with pytest.raises(AsanaAuthenticationFailed):
        world.source().access_token()

    assert world.store.get(KEY) is None


def test_a_token_refreshed_after_losing_the_lease_serves_the_call_but_never_the_guard(world):
    world.connect(expires_in=-10)

    def another_lambda_takes_over_the_expired_lease():
        world.clock.advance(31)
        assert world.store.acquire_lease(KEY, "another-lambda", lease_seconds=30)

    world.asana.meanwhile = another_lambda_takes_over_the_expired_lease
    source = world.source()

    assert source.access_token() == "access-1"
    record = world.record()
    assert record.lease_owner == "another-lambda", "the item is left to the lease's new owner"
    assert world.store.access_token(record) == "access-0"
    with pytest.raises(AsanaAuthenticationFailed):
        source.renew_after_rejection("access-1")  # minted here: still no loop
    assert world.asana.calls == 1


# --- a dead refresh token, and a reconnect racing the mark ----------------------------------------------------------


def test_a_dead_refresh_token_marks_the_connection_and_later_calls_fail_fast(world):
    world.connect(expires_in=-10)
    world.asana.failure = RefreshTokenInvalid("invalid_grant", "refused", "reconnect")

    with pytest.raises(AsanaAuthenticationFailed) as failed:
        world.source().access_token()

    assert failed.value.message == SEED_AUTH_FAILED
    record = world.record()
    assert (record.status, record.needs_reconnect_reason, record.lease_owner) == (
        Status.NEEDS_RECONNECT,
        "invalid_grant",
        None,
    )
    for _ in range(2):
        with pytest.raises(AsanaAuthenticationFailed):
            world.source().access_token()
    assert world.asana.calls == 1


def test_a_reconnect_during_the_failing_refresh_is_not_marked_for_its_predecessors_death(world):
    world.connect(expires_in=-10)
    world.asana.meanwhile = lambda: world.connect(access="access-new", refresh="refresh-new")
    world.asana.failure = RefreshTokenInvalid("invalid_grant", "refused", "reconnect")

    with pytest.raises(AsanaAuthenticationFailed):
        world.source().access_token()

    record = world.record()
    assert record.status is Status.ACTIVE
    assert record.lease_owner is None
    assert world.store.refresh_token(record) == "refresh-new"
    world.asana.failure = None
    assert world.source().access_token() == "access-new"
    assert world.asana.calls == 1


# --- waiting for another Lambda's refresh ---------------------------------------------------------------------------


def hold_lease(world: World, seconds: int = 30) -> None:
    assert world.store.acquire_lease(KEY, "another-lambda", lease_seconds=seconds)


def test_a_waiter_gives_up_keeping_the_lambdas_reserve(world):
    world.connect(expires_in=-10)
    hold_lease(world)
    deadline_ms = START * 1000 + 6000

    def remaining_time_ms() -> int:
        return int(deadline_ms - world.clock() * 1000)

    with pytest.raises(AsanaUnavailable) as gave_up:
        world.source(remaining_time_ms=remaining_time_ms).access_token()

    assert (gave_up.value.code, gave_up.value.retry_after) == ("token_refresh_in_progress", 5)
    assert remaining_time_ms() == token_refresh.REMAINING_TIME_RESERVE_MS, "it waits until only the reserve is left"
    assert sum(world.sleeps) == pytest.approx(3.0)
    assert world.asana.calls == 0


@pytest.mark.parametrize(("draw", "factor"), [("low", 0.5), ("high", 1.5)])
def test_a_waiter_polls_every_half_to_one_and_a_half_poll_intervals(world, monkeypatch, draw, factor):
    world.connect(expires_in=-10)
    hold_lease(world)
    # The jitter's extremes: random.uniform(a, b) returning a, or b.
    monkeypatch.setattr(token_refresh.random, "uniform", lambda a, b: a if draw == "low" else b)

    with pytest.raises(AsanaUnavailable):
        world.source(remaining_time_ms=lambda: 4000).access_token()  # 1 s to wait: several polls

    polls = world.sleeps[:-1]  # the last one is cut short by the deadline
    assert len(polls) >= 2
    assert polls == [pytest.approx(factor * token_refresh.POLL_INTERVAL_SECONDS)] * len(polls)


def test_a_waiter_with_less_time_left_than_the_reserve_does_not_wait(world):
    world.connect(expires_in=-10)
    hold_lease(world)

    with pytest.raises(AsanaUnavailable):
        world.source(remaining_time_ms=lambda: 2500).access_token()
    assert world.sleeps == []


def test_a_waiter_adopts_the_token_another_lambda_refreshed(world):
    world.connect(expires_in=-10)
    hold_lease(world)
    source = world.source(remaining_time_ms=lambda: 60_000)
    sleep = source._sleep

    def sleep_while_the_holder_finishes(seconds: float) -> None:
        sleep(seconds)
        if len(world.sleeps) == 3:
            expires = int(START) + 3600
            world.store.save_refreshed(
                KEY, "another-lambda", access_token="access-other", refresh_token=None, access_expires_at=expires
            )

    source._sleep = sleep_while_the_holder_finishes

    assert source.access_token() == "access-other"
    assert world.asana.calls == 0
    assert len(world.sleeps) == 3


def test_without_a_lambda_deadline_a_waiter_gives_up_after_its_own_lease_length(world):
    world.connect(expires_in=-10)
    hold_lease(world, seconds=60)  # a holder with a longer lease than ours: never free while we wait

    with pytest.raises(AsanaUnavailable):
        world.source().access_token()

    waited = world.clock() - START
    # Its own lease length and two polls: long enough to see a holder that dies at once lose its lease.
    assert waited == pytest.approx(token_refresh.LEASE_SECONDS + 2 * token_refresh.POLL_INTERVAL_SECONDS)


def test_without_a_lambda_deadline_a_waiter_outlasts_an_abandoned_lease_and_takes_it_over(world):
    world.connect(expires_in=-10)
    hold_lease(world)  # expires at START + 30; taken over from START + 31 (leases count whole seconds)
    world.clock.advance(0.9)

    assert world.source().access_token() == "access-1"
    assert world.asana.calls == 1


# --- what operators see ---------------------------------------------------------------------------------------------


@pytest.fixture
def counted() -> Iterator[Callable[[], dict[str, tuple[str, list[float]]]]]:
    """The metrics (CloudWatch EMF, as flushed at the end of an invocation) emitted since the test began."""
    metrics.clear_metrics()

    def emitted() -> dict[str, tuple[str, list[float]]]:
        if not metrics.metric_set:
            return {}
        document = metrics.serialize_metric_set()
        units = {m["Name"]: m["Unit"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
        return {
            name: (unit, document[name] if isinstance(document[name], list) else [document[name]])
            for name, unit in units.items()
        }

    yield emitted
    metrics.clear_metrics()


def test_refreshes_and_their_failures_are_counted(world, counted):
    world.connect(expires_in=-10)
    world.source().access_token()
    assert counted() == {"TokenRefreshed": ("Count", [1.0])}

    world.clock.advance(3600)
    world.asana.failure = AsanaUnavailable("Asana is down", "Try again", code="asana_unavailable")
    with pytest.raises(AsanaUnavailable):
        world.source().access_token()
    assert counted()["TokenRefreshFailed"] == ("Count", [1.0])

    world.clock.advance(31)
    world.asana.failure = RefreshTokenInvalid("invalid_grant", "refused", "reconnect")
    with pytest.raises(AsanaAuthenticationFailed):
        world.source().access_token()
    assert counted()["ConnectionNeedsReconnect"] == ("Count", [1.0])


def test_a_waiter_giving_up_is_counted(world, counted):
    world.connect(expires_in=-10)
    hold_lease(world)

    with pytest.raises(AsanaUnavailable):
        world.source(remaining_time_ms=lambda: 2500).access_token()

    assert counted() == {"TokenRefreshWaitTimedOut": ("Count", [1.0])}
