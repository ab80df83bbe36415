"""The mirror writer: only what changed is written, tombstones keep the last data, pages never cross organizations."""

from __future__ import annotations

import boto3
import pytest

from asana_integration.errors import InvalidInput
from asana_integration.models.mirror import MirrorEntity, MirrorKind
from asana_integration.stores.mirror import MirrorStore

ORG, OTHER_ORG = "org-a", "org-b"


@pytest.fixture
def table(aws):
    return boto3.resource("dynamodb").Table(aws.mirror_table_name)


@pytest.fixture
def writes(table, monkeypatch):
    """Every item the store sends to DynamoDB in a batch, by key."""
    sent: list[tuple[str, str]] = []
    client = table.meta.client
    original = client.batch_write_item

    def recording(**kwargs):
        for request in kwargs["RequestItems"][table.name]:
            item = request.get("PutRequest", {}).get("Item") or request["DeleteRequest"]["Key"]
            sent.append((item["pk"], item["sk"]))
        return original(**kwargs)

    monkeypatch.setattr(client, "batch_write_item", recording)
    return sent


@pytest.fixture
def mirror(table):
    return MirrorStore(table, clock=lambda: 1_750_000_000.0, sleep=lambda _: None)


def project(gid: str, name: str = "Threat model") -> MirrorEntity:
    return MirrorEntity(gid, {"name": name, "archived": False, "team_gid": "7"})


def test_a_second_identical_apply_writes_nothing(mirror, writes):
    entities = [project(str(gid)) for gid in range(1, 31)]

    first = mirror.apply(ORG, MirrorKind.PROJECT, None, entities, seen_complete=True)
    written_first = len(writes)
    second = mirror.apply(ORG, MirrorKind.PROJECT, None, entities, seen_complete=True)

    assert (first.created, first.unchanged, written_first) == (30, 0, 30)
    assert (second.created, second.updated, second.unchanged, second.deleted) == (0, 0, 30, 0)
    assert len(writes) == written_first


def test_only_the_changed_entity_is_written(mirror, writes):
    mirror.apply(ORG, MirrorKind.PROJECT, None, [project("1"), project("2")])
    writes.clear()

    counts = mirror.apply(ORG, MirrorKind.PROJECT, None, [project("1"), project("2", name="Renamed")])

    assert (counts.updated, counts.unchanged) == (1, 1)
    assert writes == [(f"ORG#{ORG}#PROJECT", "2")]
    assert mirror.page(ORG, MirrorKind.PROJECT).items[1].data["name"] == "Renamed"


def test_a_complete_list_tombstones_what_is_gone_and_keeps_its_data(mirror):
    mirror.apply(ORG, MirrorKind.PROJECT, None, [project("1"), project("2", name="Doomed")], seen_complete=True)

    counts = mirror.apply(ORG, MirrorKind.PROJECT, None, [project("1")], seen_complete=True)
    again = mirror.apply(ORG, MirrorKind.PROJECT, None, [project("1")], seen_complete=True)

    assert (counts.deleted, again.deleted) == (1, 0)
    live = mirror.page(ORG, MirrorKind.PROJECT)
    everything = mirror.page(ORG, MirrorKind.PROJECT, include_deleted=True)
    assert [item.gid for item in live.items] == ["1"]
    tombstone = everything.items[1]
    assert (tombstone.gid, tombstone.data["name"]) == ("2", "Doomed")
    assert tombstone.deleted_at == "2025-06-15T15:06:40Z"


def test_an_entity_back_from_a_tombstone_is_created_again(mirror):
    mirror.apply(ORG, MirrorKind.USER, None, [MirrorEntity("9", {"name": "Ada"})], seen_complete=True)
    mirror.apply(ORG, MirrorKind.USER, None, [], seen_complete=True)

    counts = mirror.apply(ORG, MirrorKind.USER, None, [MirrorEntity("9", {"name": "Ada"})])

    assert counts.created == 1
    assert mirror.page(ORG, MirrorKind.USER).items[0].deleted_at is None


def test_memberships_are_listed_and_tombstoned_per_team(mirror):
    mirror.apply(ORG, MirrorKind.MEMBERSHIP, "10", [MirrorEntity("10#1", {"is_admin": True})])
    mirror.apply(ORG, MirrorKind.MEMBERSHIP, "11", [MirrorEntity("11#1", {"is_admin": False})])

    counts = mirror.apply(ORG, MirrorKind.MEMBERSHIP, "10", [], seen_complete=True)

    assert counts.deleted == 1
    assert [item.gid for item in mirror.page(ORG, MirrorKind.MEMBERSHIP, "11").items] == ["11#1"]
    assert mirror.page(ORG, MirrorKind.MEMBERSHIP, "10").items == []
    with pytest.raises(ValueError, match="not an id of memberships"):
        mirror.apply(ORG, MirrorKind.MEMBERSHIP, "10", [MirrorEntity("11#2", {})])


def test_tasks_live_in_their_project_s_partition_and_an_import_can_be_removed_whole(mirror):
    mirror.apply(ORG, MirrorKind.TASK, "100", [MirrorEntity(str(gid), {"name": "t"}) for gid in range(40)])
    mirror.apply(ORG, MirrorKind.TASK, "200", [MirrorEntity("1", {"name": "other"})])

    assert mirror.delete_all(ORG, MirrorKind.TASK, "100") == 40

    assert mirror.page(ORG, MirrorKind.TASK, "100", include_deleted=True).items == []
    assert len(mirror.page(ORG, MirrorKind.TASK, "200").items) == 1
    with pytest.raises(ValueError, match="parent gid is required"):
        mirror.page(ORG, MirrorKind.TASK)


def test_pages_follow_offsets_skip_tombstones_and_stay_in_the_organization(mirror):
    mirror.apply(ORG, MirrorKind.PROJECT, None, [project(f"{gid:03d}") for gid in range(250)])
    mirror.apply(OTHER_ORG, MirrorKind.PROJECT, None, [project("999")])
    for gid in ("000", "001", "002"):
        mirror.tombstone_one(ORG, MirrorKind.PROJECT, None, gid)

    seen, offset = [], None
    while True:
        page = mirror.page(ORG, MirrorKind.PROJECT, offset=offset, limit=100)
        seen += [item.gid for item in page.items]
        if page.next_offset is None:
            break
        offset = page.next_offset

    assert seen == [f"{gid:03d}" for gid in range(3, 250)]
    assert [item.gid for item in mirror.page(OTHER_ORG, MirrorKind.PROJECT).items] == ["999"]


@pytest.mark.parametrize("offset", ["not base64 at all!", "", "MTEjMQ"])
def test_an_offset_the_list_did_not_return_is_refused(mirror, offset):
    # "MTEjMQ" is "11#1": a key of another team's range.
    with pytest.raises(InvalidInput, match="offset"):
        mirror.page(ORG, MirrorKind.MEMBERSHIP, "10", offset=offset or "!!")


def test_upsert_one_reports_what_it_did_and_writes_an_unchanged_entity_not_again(mirror, table):
    entity = project("5")

    outcomes = [
        mirror.upsert_one(ORG, MirrorKind.PROJECT, None, entity),
        mirror.upsert_one(ORG, MirrorKind.PROJECT, None, entity),
        mirror.upsert_one(ORG, MirrorKind.PROJECT, None, project("5", name="New")),
    ]
    mirror.tombstone_one(ORG, MirrorKind.PROJECT, None, "5")
    back = mirror.upsert_one(ORG, MirrorKind.PROJECT, None, project("5", name="New"))

    assert outcomes == ["created", "unchanged", "updated"]
    assert back == "created"
    assert mirror.tombstone_one(ORG, MirrorKind.PROJECT, None, "404") is False


def test_unprocessed_batch_items_are_sent_again_after_a_pause(mirror, table, monkeypatch):
    client = table.meta.client
    original = client.batch_write_item
    calls: list[int] = []

    def throttled_once(**kwargs):
        requests = kwargs["RequestItems"][table.name]
        calls.append(len(requests))
        if len(calls) == 1:  # DynamoDB throttles the last five items of the first batch
            original(RequestItems={table.name: requests[:-5]})
            return {"UnprocessedItems": {table.name: requests[-5:]}}
        return original(**kwargs)

    monkeypatch.setattr(client, "batch_write_item", throttled_once)
    pauses: list[float] = []
    store = MirrorStore(table, sleep=pauses.append)

    store.apply(ORG, MirrorKind.PROJECT, None, [project(str(gid)) for gid in range(25)])

    assert calls == [25, 5]
    assert len(pauses) == 1
    assert len(store.page(ORG, MirrorKind.PROJECT).items) == 25
