"""The OAuth state: random, stored only as a hash, single-use, and checked for expiry despite DynamoDB's lazy TTL."""

from __future__ import annotations

import hashlib
import json

import boto3
import pytest
from botocore.exceptions import ClientError

from asana_integration.config import get_config
from asana_integration.models.connections import Purpose
from asana_integration.stores.oauth_state import (
    MAX_STATE_LENGTH,
    OAuthStateStore,
    StateAlreadyUsed,
    StateExpired,
    StateNotYours,
    StateOtherSession,
    StateRejected,
)
from local.template import ttl_attribute
from tests import log_audit


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def states(aws, clock) -> OAuthStateStore:
    table = boto3.resource("dynamodb").Table(get_config().table_name)
    return OAuthStateStore(table, ttl_seconds=600, clock=clock)


def issue(states: OAuthStateStore, **overrides: str | None) -> str:
    return issue_as(states, states.new_state(), **overrides)


def issue_as(states: OAuthStateStore, state: str, **overrides: str | None) -> str:
    log_audit.remember(state)
    fields = {
        "org_id": "org-a",
        "user_id": "admin-a",
        "purpose": "organization",
        "redirect_uri": "https://expand.securedb.io/asana/settings",
        "code_verifier": "v" * 86,
    }
    fields.update(overrides)
    states.save(state, **fields)
    return state


def scan() -> list[dict]:
    return boto3.client("dynamodb").scan(TableName=get_config().table_name)["Items"]


def test_a_state_is_random_and_long():
    first, second = OAuthStateStore.new_state(), OAuthStateStore.new_state()
    assert first != second
    assert len(first) >= 43  # 256 bits


def claim(states: OAuthStateStore, state: str, *, user: str = "admin-a", key: str | None = None):
    return states.claim(state, org_id="org-a", user_id=user, completion_key=key)


def test_claiming_returns_who_started_it_and_how(states):
    state = issue(states)

    pending = claim(states, state)

    assert (pending.org_id, pending.user_id, pending.purpose) == ("org-a", "admin-a", "organization")
    assert pending.purpose is Purpose.ORGANIZATION
    assert pending.redirect_uri == "https://expand.securedb.io/asana/settings"
    assert pending.code_verifier == "v" * 86
    assert "v" * 86 not in repr(pending)


def test_peeking_reads_without_spending_it(states):
    state = issue(states)

    assert states.peek(state).user_id == "admin-a"
    assert states.peek(state).user_id == "admin-a"
    assert claim(states, state).user_id == "admin-a"


def test_only_the_hash_of_the_state_is_stored_with_a_ttl(states, clock):
    state = issue(states)

    (item,) = scan()
    assert item["pk"]["S"] == "OAUTH_STATE#" + hashlib.sha256(state.encode()).hexdigest()
    assert state not in json.dumps(item)
    assert ttl_attribute() == "expires_at"
    assert int(item["expires_at"]["N"]) == int(clock.now) + 600


def test_a_state_can_be_claimed_once_and_a_replay_is_told_it_was_used(states):
    state = issue(states)
    claim(states, state)

    with pytest.raises(StateAlreadyUsed) as replay:
        claim(states, state)
    with pytest.raises(StateAlreadyUsed):
        states.peek(state)

    assert replay.value.reason == "already_used"
    assert len(scan()) == 1, "the used state stays (until its TTL) so a replay can be told from a forgery"


def test_another_user_cannot_claim_it_and_the_owner_still_can(states):
    state = issue(states)

    with pytest.raises(StateNotYours) as refused:
        claim(states, state, user="member-a")
    with pytest.raises(StateNotYours):
        states.claim(state, org_id="org-b", user_id="admin-a", completion_key=None)

    assert refused.value.reason == "not_yours"
    assert claim(states, state).user_id == "admin-a"


def test_a_session_bound_state_needs_the_sessions_completion_key(states):
    key = OAuthStateStore.new_state()
    state = issue(states, completion_key=key)

    for wrong in (None, "another-key"):
        with pytest.raises(StateOtherSession) as refused:
            claim(states, state, key=wrong)
        assert refused.value.reason == "other_session"

    assert claim(states, state, key=key).session_bound
    (item,) = scan()
    assert key not in json.dumps(item), "only the key's hash is stored"


def test_a_burnt_state_cannot_be_claimed_and_burning_twice_finds_nothing(states):
    state = issue(states)

    assert states.burn(state) is not None
    assert states.burn(state) is None
    assert states.burn("forged") is None
    with pytest.raises(StateAlreadyUsed):
        claim(states, state)


@pytest.mark.parametrize("forged", ["", "x", "a" * 43, "a" * 10_000])
def test_a_forged_state_is_rejected(states, forged):
    issue(states)

    with pytest.raises(StateRejected) as rejected:
        claim(states, forged)
    with pytest.raises(StateRejected):
        states.peek(forged)

    assert rejected.value.reason == "invalid_state"
    assert len(scan()) == 1, "a forged state must not disturb real ones"


def assert_refused_as_invalid(states: OAuthStateStore, state: str) -> None:
    """Peeking, claiming and burning ``state`` all refuse it as an invalid state."""
    for attempt in (states.peek, lambda s: claim(states, s)):
        with pytest.raises(StateRejected) as rejected:
            attempt(state)
        assert rejected.value.reason == "invalid_state"
    assert states.burn(state) is None


class UnreachableTable:
    """A table no call may reach: a refusal that happens before any read or write."""

    name = "unreachable"

    def __getattr__(self, operation: str):
        raise AssertionError(f"the table was called ({operation})")


@pytest.mark.parametrize("malformed", ["", "a" * (MAX_STATE_LENGTH + 1)])
def test_a_malformed_state_is_refused_before_any_read_or_write(malformed):
    assert_refused_as_invalid(OAuthStateStore(UnreachableTable(), ttl_seconds=600), malformed)  # type: ignore[arg-type]


def test_a_state_of_the_longest_accepted_length_is_looked_up(states):
    with pytest.raises(StateRejected) as rejected:
        states.peek("a" * MAX_STATE_LENGTH)  # well-formed, unknown: refused by the lookup, not by the format check

    assert rejected.value.reason == "invalid_state"
    with pytest.raises(AssertionError, match="the table was called"):
        OAuthStateStore(UnreachableTable(), ttl_seconds=600).peek("a" * MAX_STATE_LENGTH)  # type: ignore[arg-type]


def test_a_state_with_a_lone_surrogate_is_refused_not_a_crash(states):
    assert_refused_as_invalid(states, "\ud800" + "a" * 42)  # a JSON body may carry one ("\\ud800"): no UTF-8 form


def test_saving_a_state_never_overwrites_a_pending_one(states):
    state = issue(states)

    with pytest.raises(ClientError) as refused:
        issue_as(states, state, user_id="admin-b")

    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert states.peek(state).user_id == "admin-a"


def test_a_state_expires_at_the_exact_second_its_ttl_ends(states, clock):
    state, other = issue(states), issue(states)
    clock.now += 600

    with pytest.raises(StateExpired) as peeked:
        states.peek(state)
    with pytest.raises(StateExpired) as claimed:
        claim(states, other)

    # Expired, it still says what it was for, so the page can tell which Connect to start again.
    for expired in (peeked.value, claimed.value):
        assert expired.pending is not None
        assert (expired.pending.org_id, expired.pending.purpose) == ("org-a", Purpose.ORGANIZATION)


def test_a_state_is_valid_until_the_second_before_its_ttl_ends(states, clock):
    state = issue(states)
    clock.now += 599

    assert states.peek(state).org_id == "org-a"
    assert claim(states, state).user_id == "admin-a"


def test_an_expired_state_is_rejected_even_before_dynamodb_deletes_it(states, clock):
    state = issue(states)
    clock.now += 601  # the TTL has passed but the item is still there (TTL deletion is lazy)

    with pytest.raises(StateExpired):
        states.peek(state)
    with pytest.raises(StateExpired) as expired:
        claim(states, state)

    assert expired.value.reason == "state_expired"
    with pytest.raises(StateAlreadyUsed):
        claim(states, state)  # an expired state is spent by the attempt
