"""The sync's two handlers on their own: the scheduled dispatcher and the SQS worker (its batch contract, the
organization's OAuth identity renewed mid-sync, the outbound proxy). The whole sync: test_sync_end_to_end.py."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from asana_integration.config import get_config
from asana_integration.web.dependencies import Services
from local.asana_sandbox import demo
from tests import log_audit
from tests.events import LambdaContext
from tests.fake_proxy import FakeProxy
from tests.handlers.conftest import function_module
from tests.handlers.test_oauth_callback import api, connect_flow, oauth
from tests.handlers.test_sync_end_to_end import connect
from tests.sync_harness import SqsLoop, expected_mirror, live, mirror_contents

__all__ = ["oauth"]  # the fixture, shared with the oauth_callback tests

PROXY_PASSWORD = "sync-proxy-password-77c1"
log_audit.remember(PROXY_PASSWORD)


def handler(name: str, services: Services, monkeypatch: pytest.MonkeyPatch):
    module = function_module("sync", name)
    monkeypatch.setattr(module, "get_services", lambda: services)
    return module


def queued(queue_url: str) -> list[dict]:
    sqs, bodies = boto3.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [json.loads(message["Body"]) for message in messages]
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def sqs_record(message_id: str, body: str) -> dict:
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:sync",
        "awsRegion": "us-east-1",
    }


@pytest.fixture
def fresh_services(aws_with_sandbox) -> Iterator[Services]:
    services = Services()
    yield services
    services.asana_session.close()


def test_the_dispatcher_starts_every_connected_organization_ten_to_a_request(fresh_services, aws, monkeypatch):
    for n in range(25):
        fresh_services.organizations.register(f"org-{n:02d}", "connected")
    fresh_services.organizations.register("org-not-connected", "requires_connection")
    fresh_services.organizations.register("org-broken", "error")
    dispatcher = handler("dispatcher", fresh_services, monkeypatch)

    result = dispatcher.lambda_handler({"mode": "incremental"}, LambdaContext())

    assert result == {"mode": "incremental", "organizations": 25, "sqs_requests": 3}
    starts = queued(aws.sync_queue_url)
    assert sorted(start["org_id"] for start in starts) == [f"org-{n:02d}" for n in range(25)]
    assert {(start["type"], start["mode"], start["trigger"]) for start in starts} == {
        ("start", "incremental", "schedule")
    }
    assert len({start["run_id"] for start in starts}) == 25


def test_the_dispatcher_refuses_a_schedule_input_without_a_mode(fresh_services, aws, monkeypatch):
    dispatcher = handler("dispatcher", fresh_services, monkeypatch)

    with pytest.raises(ValueError, match="mode"):
        dispatcher.lambda_handler({"mode": "everything"}, LambdaContext())

    assert queued(aws.sync_queue_url) == []


def test_a_malformed_record_fails_alone_and_the_rest_of_the_batch_runs(settings_api, fresh_services, aws, monkeypatch):
    # Saved as an admin saves them: the settings function creates the secret under the stack's key, which the worker
    # then reads through Secrets Manager (kms:Decrypt for the IAM audit).
    credentials = {"client_id": demo.DEMO_APP_CLIENT_ID, "client_secret": demo.DEMO_APP_CLIENT_SECRET}
    assert settings_api("PUT", "/asana/api/settings", body={**credentials, "pat": demo.DEMO_PAT})[0] == 200
    worker = handler("worker", fresh_services, monkeypatch)
    good = {
        "type": "start",
        "org_id": "org-a",
        "run_id": "20261202T000000000000Z-00000001",
        "mode": "full",
        "trigger": "manual",
    }
    records = [sqs_record("bad", '{"type": "start", "org_id": 7}'), sqs_record("good", json.dumps(good))]

    response = worker.lambda_handler({"Records": records}, LambdaContext(timeout_seconds=120))

    assert response == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    run = fresh_services.sync_state.get_run("org-a", good["run_id"])
    assert (run.status, run.total_units) == ("running", 4)  # planned: users, projects, teams
    assert {message["unit"]["kind"] for message in queued(aws.sync_queue_url)} == {"users", "projects", "teams"}


@pytest.mark.parametrize(("receive_count", "status"), [(4, "running"), (5, "failed")])
def test_a_unit_failing_unexpectedly_is_recorded_as_failed_on_its_last_receive_before_the_dead_letter_queue(
    settings_api, fresh_services, monkeypatch, receive_count, status
):
    from asana_integration.sync import engine

    credentials = {"client_id": demo.DEMO_APP_CLIENT_ID, "client_secret": demo.DEMO_APP_CLIENT_SECRET}
    assert settings_api("PUT", "/asana/api/settings", body={**credentials, "pat": demo.DEMO_PAT})[0] == 200

    def a_bug(run: object) -> None:
        raise RuntimeError("a bug in the plan")

    monkeypatch.setitem(engine.RUNNERS, "plan", a_bug)
    worker = handler("worker", fresh_services, monkeypatch)
    start = {"type": "start", "org_id": "org-a", "run_id": "20261202T000000000000Z-00000002", "mode": "full"}
    record = sqs_record("start", json.dumps({**start, "trigger": "manual"}))
    record["attributes"]["ApproximateReceiveCount"] = str(receive_count)  # the SyncQueue's maxReceiveCount is 5

    # The whole batch failed: Lambda returns it to SQS, which redrives it to the dead-letter queue as before.
    with pytest.raises(BatchProcessingError):
        worker.lambda_handler({"Records": [record]}, LambdaContext(timeout_seconds=120))

    run = fresh_services.sync_state.get_run("org-a", start["run_id"])
    assert run.status == status
    assert [(error.kind, error.code) for error in run.errors] == (
        [] if status == "running" else [("plan", "sync_failed")]
    )


def test_the_worker_is_told_the_sync_queue_s_max_receive_count():
    from local.template import load_template

    resources = load_template()["Resources"]
    variables = resources["SyncWorkerFunction"]["Properties"]["Environment"]["Variables"]

    assert (
        variables["SYNC_MAX_RECEIVE_COUNT"] == resources["SyncQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
    )


def test_the_worker_renews_the_organization_s_expired_oauth_token_and_syncs(oauth, services, sandbox, aws, monkeypatch):
    assert connect_flow(oauth, sandbox, purpose="organization").completed_status == 200
    services.sync_state.add_import("org-a", demo.DEMO_TASK_PROJECT_GID, imported_by="admin-a")
    sandbox.expire_access_tokens()
    started, created = services.sync_starter.start("org-a", "full", "manual")
    assert created

    SqsLoop(aws.sync_queue_url, handler("worker", services, monkeypatch)).drain()

    run = services.sync_state.get_run("org-a", started.run_id)
    assert (run.status, run.errors) == ("succeeded", [])
    assert sandbox.grant_count("refresh_token") == 1  # renewed once, stored, and reused by every later unit
    expected = expected_mirror(sandbox.state, demo.DEMO_ADMIN_USER_GID, [demo.DEMO_TASK_PROJECT_GID])
    assert live(mirror_contents(services.mirror_table, "org-a"), "PROJECT") == expected["PROJECT"]
    status, read = api(function_module("settings"), "GET", "/asana/api/settings")
    assert (status, read["connection"]["mode"]) == (200, "oauth")


def test_the_worker_calls_asana_through_the_proxy(fresh_services, sandbox, aws, monkeypatch):
    with FakeProxy("svc-asana", PROXY_PASSWORD) as proxy:
        arn = boto3.client("secretsmanager").create_secret(Name="corp/asana-proxy", SecretString=proxy.url)["ARN"]
        monkeypatch.setenv("ASANA_PROXY_SECRET_ARN", arn)
        get_config.cache_clear()
        parameters.clear_caches()  # the worker runs in its own execution environment: it reads the secret itself
        services = Services()
        connect(services)
        services.sync_starter.start("org-a", "full", "manual")

        SqsLoop(aws.sync_queue_url, handler("worker", services, monkeypatch)).drain()
        services.asana_session.close()

    run = services.sync_state.recent_runs("org-a")[0]
    assert run.status == "succeeded"
    assert {"/api/1.0/workspaces", "/api/1.0/users", "/api/1.0/projects"} <= set(proxy.paths())
