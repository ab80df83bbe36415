"""The engine's harder paths through the real worker: a redelivered unit, a start while a run is live, a unit with no
time left, Asana failing for good, an imported project deleted in Asana, granular scopes, an expired sync token."""

from __future__ import annotations

import json

import boto3
import pytest

from asana_integration.models.mirror import MirrorKind
from asana_integration.sync import engine
from asana_integration.sync.units import Unit, UnitMessage
from local.asana_sandbox import demo
from tests.events import LambdaContext
from tests.handlers.test_sync_end_to_end import ORG, Sync, sync, sync_env
from tests.sync_harness import tombstones

__all__ = ["sync", "sync_env"]  # the fixtures, shared with the end-to-end tests

TASK_PROJECT = demo.DEMO_TASK_PROJECT_GID


def receive_all(sync: Sync) -> list[dict]:
    """Take every visible message off the queue (not run)."""
    sqs, taken = boto3.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=sync.resources.sync_queue_url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        taken += messages
        for message in messages:
            sqs.delete_message(QueueUrl=sync.resources.sync_queue_url, ReceiptHandle=message["ReceiptHandle"])
    return taken


def deliver(sync: Sync, *bodies: str, timeout_seconds: float = 120) -> dict:
    records = [
        {
            "messageId": str(index),
            "receiptHandle": f"handle-{index}",
            "body": body,
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:sync",
            "awsRegion": "us-east-1",
        }
        for index, body in enumerate(bodies)
    ]
    return sync.loop._worker.lambda_handler({"Records": records}, LambdaContext(timeout_seconds=timeout_seconds))


def test_a_redelivered_start_sends_its_units_again_and_nothing_is_counted_twice(sync):
    started, _ = sync.services.sync_starter.start(ORG, "full", "manual")
    (start,) = receive_all(sync)
    deliver(sync, start["Body"])
    first_units = sorted(json.loads(m["Body"])["unit"]["kind"] for m in receive_all(sync))

    deliver(sync, start["Body"])  # SQS delivers the start again: its plan is done already
    again = receive_all(sync)
    for message in again:  # both copies of every unit run
        deliver(sync, message["Body"])
        deliver(sync, message["Body"])
    sync.loop.drain()

    assert (
        sorted(json.loads(m["Body"])["unit"]["kind"] for m in again)
        == first_units
        == [
            "projects",
            "teams",
            "users",
        ]
    )
    run = sync.services.sync_state.get_run(ORG, started.run_id)
    assert run.status == "succeeded"
    assert run.counts["projects"].created == demo.ORG_PROJECT_COUNT + demo.PLAIN_PROJECT_COUNT
    assert run.total_units == 4 + len(demo.TEAM_GIDS)
    sync.assert_mirror_equals_sandbox()


def test_a_start_while_a_run_is_live_starts_nothing(sync):
    live, _ = sync.services.sync_starter.start(ORG, "full", "manual")
    (live_start,) = receive_all(sync)  # recorded and leased, its start message not run yet

    sync.dispatcher.lambda_handler({"mode": "full"}, LambdaContext())
    sync.loop.drain()
    skipped = sync.sandbox.request_count()
    deliver(sync, live_start["Body"])
    sync.loop.drain()

    runs = sync.services.sync_state.recent_runs(ORG)
    assert [(run.run_id, run.status) for run in runs] == [(live.run_id, "succeeded")]
    assert skipped == 0


def test_a_unit_delivered_with_too_little_time_left_goes_back_untouched(sync):
    run, _ = sync.services.sync_starter.start(ORG, "full", "manual")
    receive_all(sync)
    calls_before = sync.sandbox.request_count()
    unit = UnitMessage(org_id=ORG, run_id=run.run_id, mode="full", unit=Unit(kind="projects", workspaces=("1",)))

    response = deliver(sync, unit.model_dump_json(), timeout_seconds=15)

    assert response == {"batchItemFailures": []}
    assert [json.loads(m["Body"]) for m in receive_all(sync)] == [json.loads(unit.model_dump_json())]
    assert sync.sandbox.request_count() == calls_before


@pytest.mark.parametrize("sync_env", [{"ASANA_MAX_RETRIES": "0"}])
def test_a_list_asana_keeps_failing_completes_with_its_error_after_five_tries(sync):
    sync.sandbox.inject_errors(count=1000, status=503, path_prefix="/api/1.0/projects")

    run = sync.run("full")

    assert run.status == "partial"
    assert [(e.kind, e.code, e.count) for e in run.errors] == [("projects", "asana_server_error", 1)]
    assert "status.asana.com" in run.errors[0].fix
    assert sync.sandbox.request_count("GET", "/api/1.0/projects") == engine.MAX_FAILURES + 1
    assert run.counts["users"].created == len(demo.USER_GIDS)  # the other lists were mirrored all the same


def test_an_imported_project_deleted_in_asana_leaves_tombstones_and_a_reason(sync):
    sync.import_projects(TASK_PROJECT)
    sync.run("full")
    store = sync.sandbox.state.store
    sync.sandbox.changes.delete_project(None, store.projects[TASK_PROJECT])

    run = sync.run("incremental")

    assert run.status == "partial"  # the plan went well; the project's unit did not
    assert [(e.kind, e.code) for e in run.errors] == [("task_events", "asana_not_found")]
    assert len(tombstones(sync.contents(), f"TASK#{TASK_PROJECT}")) == demo.DEMO_TASK_COUNT


@pytest.mark.parametrize("sync_env", [{"OAUTH_SCOPES_MODE": "granular"}])
def test_with_granular_scopes_incremental_syncs_read_tasks_modified_since_the_last_pass(sync):
    sync.import_projects(TASK_PROJECT)
    sync.run("full")
    store, changes = sync.sandbox.state.store, sync.sandbox.changes
    renamed = store.tasks[demo.numbered_gid(demo.TASK_PREFIX, 4)]
    deleted = store.tasks[demo.numbered_gid(demo.TASK_PREFIX, 5)]
    changes.update_task(None, renamed, {"name": "Patch the build agents (all of them)"})
    changes.delete_task(None, deleted)
    events_before = sync.sandbox.request_count("GET", "/api/1.0/events")

    incremental = sync.run("incremental")
    full = sync.run("full")

    assert sync.sandbox.request_count("GET", "/api/1.0/events") == events_before == 0  # granular: no /events
    assert (incremental.counts["tasks"].updated, incremental.counts["tasks"].deleted) == (1, 0)
    assert incremental.asana_calls == 1
    assert full.counts["tasks"].deleted == 1  # deletions wait for the full pass
    sync.assert_mirror_equals_sandbox()


def test_an_expired_sync_token_makes_the_project_listed_in_full_with_the_fresh_token(sync):
    sync.import_projects(TASK_PROJECT)
    sync.sandbox.set_sync_token_ttl(0)  # the token the full pass stores is expired at once
    sync.run("full")
    sync.sandbox.set_sync_token_ttl(24 * 3600)
    todo = sync.sandbox.state.store.tasks[demo.numbered_gid(demo.TASK_PREFIX, 1)]
    sync.sandbox.changes.update_task(None, todo, {"completed": True})

    first = sync.run("incremental")
    quiet = sync.run("incremental")

    assert first.asana_calls == 2  # the 412, then the full listing (7 tasks: one page)
    assert (first.counts["tasks"].updated, first.counts["tasks"].unchanged) == (1, demo.DEMO_TASK_COUNT - 1)
    assert quiet.asana_calls == 1  # the fresh token works
    sync.assert_mirror_equals_sandbox()


def test_a_scheduled_incremental_pass_of_an_organization_without_imports_records_no_run(sync):
    sync.dispatcher.lambda_handler({"mode": "incremental"}, LambdaContext())
    sync.loop.drain()

    assert sync.services.sync_state.recent_runs(ORG) == []
    assert sync.sandbox.request_count() == 0
    manual, _ = sync.services.sync_starter.start(ORG, "incremental", "manual")  # an admin's start always runs
    sync.loop.drain()
    assert sync.services.sync_state.get_run(ORG, manual.run_id).status == "succeeded"


def test_an_import_stopped_while_its_unit_runs_leaves_no_task_and_no_cursor(sync, monkeypatch):
    sync.import_projects(TASK_PROJECT)
    original = type(sync.services.asana_session).request

    def stop_importing_first(session, method, url, *args, **kwargs):
        if "/tasks" in url and sync.services.sync_state.remove_import(ORG, TASK_PROJECT):
            sync.services.mirror.delete_all(ORG, MirrorKind.TASK, TASK_PROJECT)  # what DELETE …/import does
        return original(session, method, url, *args, **kwargs)

    monkeypatch.setattr(type(sync.services.asana_session), "request", stop_importing_first)

    run = sync.run("full")

    assert run.status == "succeeded"
    assert f"TASK#{TASK_PROJECT}" not in sync.contents()
    assert sync.services.sync_state.sync_cursor(ORG, TASK_PROJECT) is None
    later = sync.run("full")  # the stopped import's project is not listed again
    assert later.total_units == 4 + len(demo.TEAM_GIDS)
