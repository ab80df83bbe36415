"""The local SQS event source mapping behaves as Lambda's: batches, concurrency, the event, what is deleted, and what
the queue itself does in moto (visibility timeout, delay, redrive to the dead-letter queue)."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from local.aws import LocalAws
from local.gateway import AuthorizerConfig, Gateway, JwtAuthorizer, RouteTable, schedules, sqs_mappings
from local.gateway.sqs_mappings import DEFAULT_CONCURRENCY, SqsMapping
from local.gateway.sqs_poller import SYNC_PAYLOAD_LIMIT_BYTES, DrainReport
from local.template import TemplateError
from tests.local import toys
from tests.local.queue_rig import WORKER, QueueRig, eventually, md5, redrive_to_dead_letter, rig_template, running_rig

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:securedb-asana-local-WorkQueue"
REFERENCES = {"WorkQueue": "http://q", "WorkQueue.Arn": QUEUE_ARN}
REPORT = {"FunctionResponseTypes": ["ReportBatchItemFailures"]}


Rig = Callable[..., AbstractContextManager[QueueRig]]


@pytest.fixture
def rig_in(local_aws: LocalAws, tmp_path: Path) -> Rig:
    """``with rig_in(queue=..., mapping=...) as rig:`` a rig of :func:`rig_template` with those properties."""

    def build(**template: Any) -> AbstractContextManager[QueueRig]:
        return running_rig(local_aws, rig_template(tmp_path, **template), tmp_path)

    return build


def _mapping(tmp_path: Path, **properties: Any) -> SqsMapping:
    (mapping,) = sqs_mappings(REFERENCES, rig_template(tmp_path, mapping=properties))
    return mapping


def _received_batches() -> list[list[dict[str, Any]]]:
    return [event["Records"] for event in toys.calls(WORKER)]


# ------------------------------------------------------------------------------------------------ the mapping
def test_a_mapping_takes_lambdas_defaults(tmp_path: Path) -> None:
    mapping = _mapping(tmp_path)
    assert (mapping.function, mapping.queue, mapping.queue_arn) == (WORKER, "WorkQueue", QUEUE_ARN)
    assert (mapping.batch_size, mapping.batching_window_seconds) == (10, 0)
    assert mapping.maximum_concurrency == DEFAULT_CONCURRENCY
    assert not mapping.report_batch_item_failures


def test_a_mapping_reads_its_properties(tmp_path: Path) -> None:
    mapping = _mapping(
        tmp_path, BatchSize=50, MaximumBatchingWindowInSeconds=2, ScalingConfig={"MaximumConcurrency": 7}, **REPORT
    )
    assert (mapping.batch_size, mapping.batching_window_seconds, mapping.maximum_concurrency) == (50, 2, 7)
    assert mapping.report_batch_item_failures


def test_a_disabled_mapping_is_not_polled(tmp_path: Path) -> None:
    assert sqs_mappings(REFERENCES, rig_template(tmp_path, mapping={"Enabled": False})) == []


@pytest.mark.parametrize(
    "properties",
    [
        {"BatchSize": 0},
        {"BatchSize": 10_001, "MaximumBatchingWindowInSeconds": 1},
        {"BatchSize": 11},  # above 10 only with a batching window
        {"MaximumBatchingWindowInSeconds": 301},
        {"ScalingConfig": {"MaximumConcurrency": 1}},
        {"ScalingConfig": {"MaximumConcurrency": 1001}},
        {"FunctionResponseTypes": ["ReportBatchItemFailures", "Other"]},
        {"FilterCriteria": {"Filters": [{"Pattern": '{"body": {"a": ["b"]}}'}]}},
    ],
)
def test_a_mapping_lambda_would_refuse_is_refused(tmp_path: Path, properties: dict[str, Any]) -> None:
    with pytest.raises(TemplateError, match=r"WorkerFunction\.Events\.Work"):
        _mapping(tmp_path, **properties)


# ------------------------------------------------------------------------------------------------ the event
def test_each_record_has_the_shape_lambda_sends(rig_in: Rig) -> None:
    with rig_in() as rig:
        sent = rig.sqs.send_message(
            QueueUrl=rig.references["WorkQueue"],
            MessageBody='{"unit": 1}',
            MessageAttributes={
                "kind": {"DataType": "String", "StringValue": "unit"},
                "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
            },
        )
        report = rig.poller.poll_once()
        assert report is not None
        assert report.outcome == "ok"
        ((record,),) = _received_batches()
        assert record == {
            "messageId": sent["MessageId"],
            "receiptHandle": record["receiptHandle"],
            "body": '{"unit": 1}',
            "attributes": record["attributes"],
            "messageAttributes": {
                "kind": {"stringValue": "unit", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
                "blob": {
                    "binaryValue": base64.b64encode(b"\x00\x01").decode(),
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": "Binary",
                },
            },
            "md5OfBody": md5('{"unit": 1}'),
            "md5OfMessageAttributes": sent["MD5OfMessageAttributes"],
            "eventSource": "aws:sqs",
            "eventSourceARN": rig.arn("WorkQueue"),
            "awsRegion": "us-east-1",
        }
        assert record["receiptHandle"]
        assert set(record["attributes"]) == {
            "ApproximateReceiveCount",
            "SentTimestamp",
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
        }
        assert record["attributes"]["ApproximateReceiveCount"] == "1"


# ------------------------------------------------------------------------------------------------ batching
def test_batch_size_is_honoured(rig_in: Rig) -> None:
    with rig_in(mapping={"BatchSize": 3}) as rig:
        sent = {rig.send(f"m{index}") for index in range(7)}
        drained = rig.poller.drain()
        assert drained.settled
        assert sorted(len(batch) for batch in _received_batches()) == [1, 3, 3]
        assert {record["messageId"] for batch in _received_batches() for record in batch} == sent
        assert rig.poller.counts().in_flight == 0  # every message deleted


def test_a_batching_window_gathers_a_batch_larger_than_one_receive(rig_in: Rig) -> None:
    with rig_in(mapping={"BatchSize": 20, "MaximumBatchingWindowInSeconds": 5}) as rig:
        for index in range(25):
            rig.send(f"m{index}")
        report = rig.poller.poll_once()  # full before the window ends: no waiting for it
        assert report is not None
        assert len(report.message_ids) == 20


@pytest.mark.parametrize(("queue_visibility", "received_with"), [(4, 35), (60, None)])
def test_a_batching_window_stretches_a_visibility_timeout_too_short_for_it(
    rig_in: Rig, monkeypatch: pytest.MonkeyPatch, queue_visibility: int, received_with: int | None
) -> None:
    """Window 2 s + timeout 3 s exceed a 4 s visibility timeout: Lambda receives with 2 + 3 + 30 s instead."""
    mapping = {"BatchSize": 20, "MaximumBatchingWindowInSeconds": 2}
    with rig_in(queue={"VisibilityTimeout": queue_visibility}, mapping=mapping, worker_timeout=3) as rig:
        requests: list[dict[str, Any]] = []
        receive = rig.sqs.receive_message
        monkeypatch.setattr(
            rig.sqs, "receive_message", lambda **request: requests.append(request) or receive(**request)
        )
        rig.poller.poll_once()
        assert requests
        assert {request.get("VisibilityTimeout") for request in requests} == {received_with}


def test_a_batch_stops_short_of_the_synchronous_payload_limit(rig_in: Rig) -> None:
    body = "x" * 250_000
    with rig_in(mapping={"BatchSize": 40, "MaximumBatchingWindowInSeconds": 1}) as rig:
        sent = {rig.send(body) for _ in range(30)}
        rig.poller.drain()
        batches = _received_batches()
        assert len(batches) > 1
        assert all(len(json.dumps({"Records": batch})) <= SYNC_PAYLOAD_LIMIT_BYTES for batch in batches)
        assert {record["messageId"] for batch in batches for record in batch} == sent  # what did not fit came next


def test_maximum_concurrency_bounds_the_batches_running_at_once(rig_in: Rig) -> None:
    gate = threading.Event()  # every batch holds its slot until the test opens the gate
    lock = threading.Lock()
    running = [0]
    most = [0]

    def behaviour(event: dict[str, Any], context: Any) -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        gate.wait(10)
        with lock:
            running[0] -= 1

    with rig_in(mapping={"BatchSize": 1, "ScalingConfig": {"MaximumConcurrency": 2}}) as rig:
        toys.behave(WORKER, behaviour)
        for index in range(6):
            rig.send(f"m{index}")
        drained: list[DrainReport] = []
        drainer = threading.Thread(target=lambda: drained.append(rig.poller.drain(timeout=30)))
        drainer.start()
        eventually(lambda: True if running[0] == 2 else None)
        time.sleep(0.5)  # room for a third batch to start, were the bound not kept
        counts = rig.poller.counts()
        assert (most[0], counts.in_flight, counts.visible) == (2, 2, 4)  # no message received without a free slot
        gate.set()
        drainer.join(30)
        assert [batch.outcome for batch in drained[0].batches] == ["ok"] * 6
        assert most[0] == 2


# ------------------------------------------------------------------------------------------------ what is deleted
def test_a_partial_batch_failure_returns_only_the_failed_message_after_the_visibility_timeout(rig_in: Rig) -> None:
    with rig_in(queue={"VisibilityTimeout": 2}, mapping=REPORT) as rig:
        toys.behave(WORKER, toys.failing_bodies("bad"))
        ids = {body: rig.send(body) for body in ("good-1", "bad", "good-2")}
        report = rig.poller.poll_once()
        assert report is not None
        assert report.returned == (ids["bad"],)
        assert set(report.deleted) == {ids["good-1"], ids["good-2"]}
        assert rig.poller.poll_once() is None  # hidden until the queue's visibility timeout ends

        again = eventually(rig.poller.poll_once)
        ((record,),) = _received_batches()[1:]
        assert (record["messageId"], record["body"]) == (ids["bad"], "bad")
        assert record["attributes"]["ApproximateReceiveCount"] == "2"
        assert again.returned == (ids["bad"],)  # it failed again: back to the queue once more
        assert rig.poller.counts().in_flight == 1  # the deleted ones never return


def test_a_raising_handler_returns_the_whole_batch(rig_in: Rig) -> None:
    with rig_in(queue={"VisibilityTimeout": 0}, mapping=REPORT) as rig:
        toys.behave(WORKER, toys.raising())
        ids = {rig.send(body) for body in ("a", "b", "c")}
        report = rig.poller.poll_once()
        assert report is not None
        assert report.outcome == "error"
        assert (set(report.returned), report.deleted) == (ids, ())
        toys.behave(WORKER, lambda event, context: None)
        rig.poller.poll_once()
        redelivered = _received_batches()[1]
        assert {record["messageId"] for record in redelivered} == ids
        assert {record["attributes"]["ApproximateReceiveCount"] for record in redelivered} == {"2"}


def test_a_timed_out_handler_returns_the_whole_batch(rig_in: Rig) -> None:
    with rig_in(worker_timeout=1, mapping=REPORT) as rig:
        toys.behave(WORKER, lambda event, context: threading.Event().wait(1.5))
        ids = {rig.send(body) for body in ("a", "b")}
        report = rig.poller.poll_once()
        assert report is not None
        assert report.outcome == "timeout"
        assert set(report.returned) == ids
        assert report.deleted == ()
        assert rig.poller.counts().in_flight == 2


@pytest.mark.parametrize(
    "response",
    [
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"messageId": "<first>"}]},  # a bad key name
        {"batchItemFailures": [{"itemIdentifier": "not-a-message-of-this-batch"}]},
        {"batchItemFailures": [{"itemIdentifier": "<first>"}, {"itemIdentifier": "nope"}]},
        {"batchItemFailures": "<first>"},
        {"batchItemFailures": ["<first>"]},
        ["<first>"],
        "<first>",
    ],
)
def test_an_invalid_batch_response_returns_the_whole_batch(rig_in: Rig, response: Any) -> None:
    def behaviour(event: dict[str, Any], context: Any) -> Any:
        return json.loads(json.dumps(response).replace("<first>", event["Records"][0]["messageId"]))

    with rig_in(queue={"VisibilityTimeout": 0}, mapping=REPORT) as rig:
        toys.behave(WORKER, behaviour)
        ids = {rig.send(body) for body in ("a", "b")}
        report = rig.poller.poll_once()
        assert report is not None
        assert (set(report.returned), report.deleted) == (ids, ())
        assert report.reason is not None
        assert report.reason.startswith("invalid response")


def test_a_response_the_runtime_cannot_serialize_returns_the_whole_batch(rig_in: Rig) -> None:
    with rig_in(mapping=REPORT) as rig:
        toys.behave(WORKER, lambda event, context: {"batchItemFailures": [{"itemIdentifier": object()}]})
        ids = {rig.send(body) for body in ("a", "b")}
        report = rig.poller.poll_once()
        assert report is not None
        assert report.outcome == "ok"
        assert (set(report.returned), report.reason) == (ids, "function error (Runtime.MarshalError)")


@pytest.mark.parametrize("response", [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}, {"x": 1}])
def test_an_empty_batch_response_is_a_complete_success(rig_in: Rig, response: Any) -> None:
    with rig_in(mapping=REPORT) as rig:
        toys.behave(WORKER, lambda event, context: response)
        ids = {rig.send(body) for body in ("a", "b")}
        report = rig.poller.poll_once()
        assert report is not None
        assert set(report.deleted) == ids
        assert report.returned == ()
        counts = rig.poller.counts()
        assert (counts.visible, counts.in_flight) == (0, 0)


def test_without_report_batch_item_failures_a_reported_failure_is_ignored(rig_in: Rig) -> None:
    with rig_in() as rig:
        toys.behave(WORKER, toys.failing_bodies("bad"))
        ids = {rig.send(body) for body in ("good", "bad")}
        report = rig.poller.poll_once()
        assert report is not None
        assert set(report.deleted) == ids
        assert rig.poller.counts().in_flight == 0


# ------------------------------------------------------------------------------------------------ the queue (moto)
def test_a_message_failing_max_receive_count_times_moves_to_the_dead_letter_queue(rig_in: Rig) -> None:
    with rig_in(queue={"VisibilityTimeout": 0, **redrive_to_dead_letter(2)}, mapping=REPORT) as rig:
        toys.behave(WORKER, toys.raising())
        message_id = rig.send("poison")
        for receive in ("1", "2"):
            report = rig.poller.poll_once()
            assert report is not None
            assert report.returned == (message_id,)
            assert _received_batches()[-1][0]["attributes"]["ApproximateReceiveCount"] == receive
        assert rig.poller.poll_once() is None  # the third receive finds it received twice: SQS moves it
        (dead,) = rig.receive_all("WorkDeadLetter")
        assert (dead["MessageId"], dead["Body"]) == (message_id, "poison")
        assert len(toys.calls(WORKER)) == 2


@pytest.mark.parametrize("where", ["message", "queue"])
def test_delay_seconds_holds_a_message_back(rig_in: Rig, where: str) -> None:
    queue = {"DelaySeconds": 1} if where == "queue" else {}
    with rig_in(queue=queue) as rig:
        message_id = rig.send("later", **({"DelaySeconds": 1} if where == "message" else {}))
        assert rig.poller.poll_once() is None
        assert rig.poller.counts().delayed == 1
        drained = rig.poller.drain(wait_for_invisible=True, timeout=10)
        assert drained.settled
        assert [batch.message_ids for batch in drained.batches] == [(message_id,)]


def test_a_drain_runs_what_the_function_queued_meanwhile(rig_in: Rig) -> None:
    with rig_in() as rig:

        def behaviour(event: dict[str, Any], context: Any) -> None:
            for record in event["Records"]:
                if record["body"] == "first":
                    rig.send("follow-up")  # a worker re-queuing the rest of its unit

        toys.behave(WORKER, behaviour)
        rig.send("first")
        drained = rig.poller.drain()
        assert [record["body"] for batch in _received_batches() for record in batch] == ["first", "follow-up"]
        assert drained.settled
        assert len(drained.batches) == 2


# ------------------------------------------------------------------------------------------------ running it
def test_the_background_poller_processes_messages_and_stops(rig_in: Rig) -> None:
    seen = threading.Event()
    with rig_in() as rig:
        toys.behave(WORKER, lambda event, context: seen.set())
        rig.sources.start()
        rig.send("hello")
        assert seen.wait(10)
        rig.sources.stop()
        assert not rig.poller._thread or not rig.poller._thread.is_alive()
        eventually(lambda: True if rig.poller.counts().in_flight == 0 else None)


def test_the_drain_control_endpoint(rig_in: Rig, mini_gateway_for: Any) -> None:
    with rig_in(mapping=REPORT) as rig:
        toys.behave(WORKER, toys.failing_bodies("bad"))
        client = mini_gateway_for(rig)
        rig.send("good")
        bad = rig.send("bad")
        answer = client.post("/_local/queues/WorkQueue/drain")
        assert answer.status_code == 200
        (mapping,) = answer.get_json()["mappings"]
        assert (mapping["queue"], mapping["messages"], mapping["deleted"], mapping["returned"]) == (
            "WorkQueue",
            2,
            1,
            1,
        )
        assert mapping["batches"][0]["returned"] == [bad]
        assert mapping["remaining"] == {"visible": 0, "inFlight": 1, "delayed": 0}

        listed = client.get("/_local/queues").get_json()["mappings"]
        assert [(m["queue"], m["function"], m["messages"]["inFlight"]) for m in listed] == [("WorkQueue", WORKER, 1)]
        assert client.post("/_local/queues/NoSuchQueue/drain").status_code == 404
        assert client.post("/_local/queues/WorkQueue/drain?wait_for_invisible=maybe").status_code == 400
        assert client.post("/_local/queues/WorkQueue/drain?timeout=-1").status_code == 400


@pytest.fixture
def mini_gateway_for() -> Any:
    def build(rig: QueueRig) -> Client:
        no_keys = JwtAuthorizer(AuthorizerConfig("http://127.0.0.1:9/", ("aud",), "Authorization"), lambda kid: None)
        gateway = Gateway(
            RouteTable([]), rig.host, no_keys, schedules(rig.template), invoker=rig.invoker, event_sources=rig.sources
        )
        return Client(gateway, use_cookies=False)

    return build
