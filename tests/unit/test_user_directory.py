"""The users' mapping against moto: who signed in (cheaply), manual mappings, and the directory the routes show."""

from __future__ import annotations

import boto3
import pytest

from asana_integration.errors import NotFound
from asana_integration.mapping.service import UserDirectory
from asana_integration.models.asana import AsanaUser
from asana_integration.models.connections import ConnectionKey
from asana_integration.models.mirror import MirrorEntity, MirrorKind
from asana_integration.stores.connections import ConnectionStore, NewTokens
from asana_integration.stores.field_crypto import TokenCipher
from asana_integration.stores.mirror import MirrorStore
from asana_integration.stores.mirror_lookup import MirrorLookup
from asana_integration.stores.signed_in_users import RECORD_INTERVAL_SECONDS, SignedInUserStore
from asana_integration.stores.user_mappings import ManualMappingStore
from tests import log_audit

ORG, OTHER_ORG = "org-a", "org-b"
DAY = RECORD_INTERVAL_SECONDS


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingTable:
    """The mirror table, counting the writes a store sends (attempted, conditional or not)."""

    def __init__(self, table) -> None:
        self._table = table
        self.puts = 0

    def put_item(self, **kwargs):
        self.puts += 1
        return self._table.put_item(**kwargs)

    def __getattr__(self, name):
        return getattr(self._table, name)


@pytest.fixture
def mirror_table(aws):
    return boto3.resource("dynamodb").Table(aws.mirror_table_name)


@pytest.fixture
def clock() -> Clock:
    return Clock()


# ----------------------------------------------------------------------------------------------- signed in users --


def test_a_sign_in_is_written_once_a_day_and_a_warm_environment_does_not_even_try(mirror_table, clock):
    counted = CountingTable(mirror_table)
    first_lambda = SignedInUserStore(counted, clock=clock)  # type: ignore[arg-type]
    second_lambda = SignedInUserStore(counted, clock=clock)  # type: ignore[arg-type]

    assert first_lambda.record(ORG, "u-dana", "Dana@Acme.Example", "Dana") is True
    assert first_lambda.record(ORG, "u-dana", "dana@acme.example") is False
    assert counted.puts == 1  # the warm environment remembered: no request at all
    assert second_lambda.record(ORG, "u-dana", "dana@acme.example") is False  # refused by the condition
    assert counted.puts == 2

    clock.now += DAY + 1
    assert first_lambda.record(ORG, "u-dana", "dana@acme.example") is True
    assert [(u.user_id, u.email, u.name) for u in first_lambda.users(ORG)] == [("u-dana", "dana@acme.example", None)]


def test_a_changed_email_is_written_at_once(mirror_table, clock):
    store = SignedInUserStore(mirror_table, clock=clock)
    store.record(ORG, "u-dana", "dana@old.example")

    assert SignedInUserStore(mirror_table, clock=clock).record(ORG, "u-dana", "dana@new.example") is True
    assert [u.email for u in store.users(ORG)] == ["dana@new.example"]
    assert list(store.users(OTHER_ORG)) == []


# ------------------------------------------------------------------------------------------------- the directory --


USERS = [
    MirrorEntity("1001", {"name": "Dana Admin", "email": "DANA@acme.example", "workspace_gids": ["1"]}),
    MirrorEntity("1002", {"name": "Blake Chen", "email": "blake@acme.example", "workspace_gids": ["1"]}),
    MirrorEntity("1003", {"name": "Casey Guest", "workspace_gids": ["1"]}),  # Asana hid the email
    MirrorEntity("1004", {"name": "Former Employee", "email": "former@acme.example", "workspace_gids": ["1"]}),
]


@pytest.fixture
def directory(aws, mirror_table, clock):
    mirror = MirrorStore(mirror_table, clock=clock, sleep=lambda _: None)
    mirror.apply(ORG, MirrorKind.USER, None, USERS)
    mirror.apply(ORG, MirrorKind.USER, None, USERS[:3], seen_complete=True)  # 1004 left every workspace
    mirror.apply(OTHER_ORG, MirrorKind.USER, None, [MirrorEntity("2001", {"name": "Olu", "email": "olu@x.example"})])
    signed_in = SignedInUserStore(mirror_table, clock=clock)
    signed_in.record(ORG, "u-dana", "dana@acme.example", "Dana")
    signed_in.record(OTHER_ORG, "u-blake-elsewhere", "blake@acme.example")  # another organization's user
    integration_table = boto3.resource("dynamodb").Table(aws.table_name)
    connections = ConnectionStore(integration_table, TokenCipher(boto3.client("kms"), aws.kms_key_arn), clock=clock)
    tokens = NewTokens(access_token="access-casey", refresh_token="refresh-casey", access_expires_at=1)
    log_audit.remember(tokens.access_token, tokens.refresh_token)
    connections.put_connection(
        ConnectionKey.personal(ORG, "u-casey"),
        tokens,
        asana_user=AsanaUser(gid="1003", name="Casey Guest"),
        connected_by="u-casey",
        client_id="1209",
    )
    return UserDirectory(
        mirror, MirrorLookup(mirror_table), ManualMappingStore(mirror_table, clock=clock), signed_in, connections
    )


def test_each_user_shows_how_it_maps_and_deactivated_users_are_marked(directory):
    page = directory.page(ORG, status=None, offset=None, limit=100)

    shown = {
        user.gid: (user.status, user.mapping and (user.mapping.securedb_user_id, user.mapping.method))
        for user in page.data
    }
    assert shown == {
        "1001": ("mapped", ("u-dana", "email")),
        "1002": ("unmatched", None),  # the same email signed in to another organization only
        "1003": ("mapped", ("u-casey", "connection")),
        "1004": ("deactivated", None),
    }
    assert page.data[3].deactivated_at is not None
    assert page.counts.model_dump() == {"mapped": 2, "unmatched": 1, "deactivated": 1}
    assert [(u.id, u.email, u.name) for u in page.securedb_users or []] == [("u-dana", "dana@acme.example", "Dana")]
    assert page.next_offset is None


def test_pages_follow_the_offset_and_a_filter_keeps_the_counts_of_all(directory):
    first = directory.page(ORG, status=None, offset=None, limit=2)
    second = directory.page(ORG, status=None, offset=first.next_offset, limit=2)
    unmatched = directory.page(ORG, status="unmatched", offset=None, limit=100)

    assert ([u.gid for u in first.data], first.next_offset) == (["1001", "1002"], "1002")
    assert ([u.gid for u in second.data], second.next_offset, second.securedb_users) == (["1003", "1004"], None, None)
    assert [u.gid for u in unmatched.data] == ["1002"]
    assert unmatched.counts.mapped == 2


def test_a_manual_mapping_wins_and_clearing_it_brings_back_the_match(directory):
    manual = directory.set_mapping(ORG, "1001", "u-other", admin_id="admin-a")
    cleared = directory.set_mapping(ORG, "1001", None, admin_id="admin-a")

    assert manual.mapping is not None
    assert (manual.mapping.securedb_user_id, manual.mapping.method, manual.mapping.set_by) == (
        "u-other",
        "manual",
        "admin-a",
    )
    assert cleared.mapping is not None
    assert (cleared.mapping.securedb_user_id, cleared.mapping.method) == ("u-dana", "email")


def test_a_deactivated_user_can_be_mapped_and_stays_deactivated(directory):
    mapped = directory.set_mapping(ORG, "1004", "u-former", admin_id="admin-a")

    assert (mapped.status, mapped.mapping and mapped.mapping.method) == ("deactivated", "manual")


def test_only_the_organizations_own_synced_users_can_be_mapped(directory):
    with pytest.raises(NotFound):
        directory.set_mapping(ORG, "2001", "u-x", admin_id="admin-a")  # org-b's user
    with pytest.raises(NotFound):
        directory.set_mapping(ORG, "9999", "u-x", admin_id="admin-a")

    assert [u.gid for u in directory.page(OTHER_ORG, status=None, offset=None, limit=100).data] == ["2001"]
