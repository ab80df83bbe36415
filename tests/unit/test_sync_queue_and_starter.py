"""Sending sync messages (ten to a request, SQS's per-entry failures sent again) and starting runs now (Start now,
an import: a run of its own, or a unit joining the live run)."""

from __future__ import annotations

import json

import boto3
import pytest

from asana_integration.stores.sync_state import SyncStateStore
from asana_integration.sync.queue import QueueSendFailed, UnitQueue
from asana_integration.sync.starter import SyncStarter
from asana_integration.sync.units import StartMessage, Unit, UnitMessage, parse_message

ORG = "org-a"


@pytest.fixture
def sqs(aws):
    return boto3.client("sqs")


def drain(sqs, url: str) -> list[dict]:
    bodies = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [json.loads(message["Body"]) for message in messages]
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def start(n: int) -> StartMessage:
    return StartMessage(org_id=f"org-{n}", run_id=f"run-{n}", mode="full", trigger="schedule")


def test_messages_go_ten_to_a_request(sqs, aws):
    queue = UnitQueue(sqs, aws.sync_queue_url)

    requests = queue.send([start(n) for n in range(23)])

    assert requests == 3
    assert sorted(body["org_id"] for body in drain(sqs, aws.sync_queue_url)) == sorted(f"org-{n}" for n in range(23))


def test_entries_sqs_failed_are_sent_again_and_a_lasting_failure_raises(sqs, aws, monkeypatch):
    original = sqs.send_message_batch
    sent: list[int] = []

    def flaky(**kwargs):
        sent.append(len(kwargs["Entries"]))
        if len(sent) == 1:  # SQS fails two entries of the first request (it answers 200 with "Failed")
            original(QueueUrl=kwargs["QueueUrl"], Entries=kwargs["Entries"][2:])
            failed = [
                {"Id": entry["Id"], "SenderFault": False, "Code": "InternalError"} for entry in kwargs["Entries"][:2]
            ]
            return {"Successful": [], "Failed": failed}
        return original(**kwargs)

    monkeypatch.setattr(sqs, "send_message_batch", flaky)
    UnitQueue(sqs, aws.sync_queue_url).send([start(n) for n in range(5)])

    assert sent == [5, 2]
    assert len(drain(sqs, aws.sync_queue_url)) == 5

    monkeypatch.setattr(sqs, "send_message_batch", lambda **kw: {"Failed": [{"Id": "0", "Code": "X"}]})
    with pytest.raises(QueueSendFailed, match="1 sync messages"):
        UnitQueue(sqs, aws.sync_queue_url).send([start(1)])


def test_a_delay_is_capped_at_sqs_s_fifteen_minutes(sqs, aws, monkeypatch):
    delays: list[int] = []
    monkeypatch.setattr(
        sqs, "send_message_batch", lambda **kw: delays.extend(e["DelaySeconds"] for e in kw["Entries"]) or {}
    )

    UnitQueue(sqs, aws.sync_queue_url).send([start(1)], delay_seconds=3600)
    UnitQueue(sqs, aws.sync_queue_url).send([start(2)], delay_seconds=2.4)

    assert delays == [900, 2]


@pytest.fixture
def starter(aws, sqs):
    state = SyncStateStore(boto3.resource("dynamodb").Table(aws.mirror_table_name))
    return SyncStarter(state, UnitQueue(sqs, aws.sync_queue_url)), state


def test_start_now_records_the_run_before_queuing_it_and_a_second_start_gets_it_back(starter, sqs, aws):
    sync_starter, state = starter

    run, created = sync_starter.start(ORG, "incremental", "manual")
    again, created_again = sync_starter.start(ORG, "full", "manual")

    assert (created, created_again, again.run_id) == (True, False, run.run_id)
    assert state.current_run(ORG).run_id == run.run_id
    assert [parse_message(json.dumps(body)) for body in drain(sqs, aws.sync_queue_url)] == [
        StartMessage(org_id=ORG, run_id=run.run_id, mode="incremental", trigger="manual")
    ]


def test_an_import_starts_a_run_of_its_own_or_joins_the_live_one(starter, sqs, aws):
    sync_starter, state = starter

    own = sync_starter.import_project(ORG, "42")
    joined = sync_starter.import_project(ORG, "43")

    assert joined.run_id == own.run_id
    first, second = (parse_message(json.dumps(body)) for body in drain(sqs, aws.sync_queue_url))
    assert first == StartMessage(org_id=ORG, run_id=own.run_id, mode="full", trigger="import", projects=("42",))
    assert isinstance(second, UnitMessage)
    assert (second.unit.kind, second.unit.parent) == ("tasks", "43")
    # Its own unit id: the run's plan may list the same project, and each unit completes once.
    assert second.unit.unit_id.startswith("tasks.43.import-")
    assert state.get_run(ORG, own.run_id).pending == 2


def test_unit_ids_are_unique_within_a_run():
    ids = {
        Unit(kind="plan").unit_id,
        Unit(kind="users", workspaces=("1", "2")).unit_id,
        Unit(kind="memberships", parent="7").unit_id,
        Unit(kind="tasks", parent="7").unit_id,
        Unit(kind="tasks", parent="7", tag="import-1").unit_id,
    }

    assert ids == {"plan", "users", "memberships.7", "tasks.7", "tasks.7.import-1"}
