"""Verified events, from the webhook function through the queue to the consumer, against the Asana sandbox: each
resource is re-fetched with the organization's identity and its current state applied to the mirror."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from asana_integration.asana import client as asana_client
from asana_integration.config import get_config
from asana_integration.models.mirror import MirrorEntity, MirrorKind
from local.asana_sandbox import demo
from tests import log_audit
from tests.fake_proxy import FakeProxy
from tests.handlers.test_oauth_callback import connect_flow, oauth
from tests.handlers.webhook_support import (
    ORG,
    WebhookWorld,
    active_webhook,
    dead_letters,
    webhook_world,
)
from tests.sync_harness import expected_mirror, live, tombstones

P = demo.DEMO_TASK_PROJECT_GID  # imported
Q = demo.numbered_gid(demo.PROJECT_PREFIX, 2)  # not imported
ADMIN = demo.DEMO_ADMIN_USER_GID
PROXY_PASSWORD = "webhook-consumer-proxy-password-77"
log_audit.remember(PROXY_PASSWORD, demo.DEMO_PAT)

__all__ = ["oauth"]  # the fixture, shared with the oauth_callback tests


@pytest.fixture
def world(webhook_aws, sandbox, monkeypatch) -> Iterator[WebhookWorld]:
    found = webhook_world(monkeypatch, webhook_aws, sandbox, imported=(P,))
    seed_mirror(found)
    yield found
    found.services.asana_session.close()  # the sandbox stops only once no client holds a connection open


def seed_mirror(world: WebhookWorld) -> None:
    """The mirror as a full sync leaves it: what the admin's token sees, and the imported project's tasks."""
    for list_key, entities in expected_mirror(world.sandbox.state, ADMIN, [P]).items():
        kind, _, project_gid = list_key.partition("#")
        by_parent: dict[str | None, list[MirrorEntity]] = {}
        for gid, data in entities.items():
            parent = project_gid or (gid.split("#")[0] if kind == "MEMBERSHIP" else None)
            by_parent.setdefault(parent, []).append(MirrorEntity(gid, data))
        for parent, listed in by_parent.items():
            world.services.mirror.apply(ORG, MirrorKind(kind), parent, listed, seen_complete=True)


def expected_tasks(world: WebhookWorld, project_gid: str = P) -> dict[str, dict[str, Any]]:
    return expected_mirror(world.sandbox.state, ADMIN, [project_gid])[f"TASK#{project_gid}"]


def task_reads(world: WebhookWorld) -> int:
    return sum(1 for r in world.sandbox.requests() if r.method == "GET" and r.path.startswith("/api/1.0/tasks/"))


def test_a_changed_task_is_refetched_and_its_current_state_mirrored(world):
    task = world.store.tasks[demo.numbered_gid(demo.TASK_PREFIX, 1)]
    mark = len(world.events_of(P))
    world.changes.update_task(ADMIN, task, {"name": "Rotate the signing keys", "completed": True})
    events = world.events_of(P, mark)
    assert [e["action"] for e in events] == ["changed", "changed"]  # compact: no values, only which field

    world.deliver(events)
    world.consume()

    mirrored = live(world.contents(), f"TASK#{P}")
    assert mirrored == expected_tasks(world)
    assert mirrored[task.gid]["name"] == "Rotate the signing keys"
    assert task_reads(world) == 1  # two events about one task in one batch: one read


def test_a_new_task_is_mirrored_and_a_deleted_one_becomes_a_tombstone(world):
    mark = len(world.events_of(P))
    created = world.changes.create_task(
        ADMIN, workspace_gid=demo.ORG_WORKSPACE_GID, projects=[world.store.projects[P]], fields={"name": "New"}
    )
    world.deliver(world.events_of(P, mark))
    world.consume()
    assert live(world.contents(), f"TASK#{P}")[created.gid] == expected_tasks(world)[created.gid]

    mark = len(world.events_of(P))
    world.changes.delete_task(ADMIN, created)
    world.deliver(world.events_of(P, mark))
    world.consume()

    contents = world.contents()
    assert created.gid not in live(contents, f"TASK#{P}")
    assert tombstones(contents, f"TASK#{P}") == {created.gid}


def test_a_task_removed_from_the_imported_project_leaves_it_as_a_tombstone(world):
    task = world.store.tasks[demo.numbered_gid(demo.TASK_PREFIX, 2)]
    world.changes.add_task_to_project(ADMIN, task, world.store.projects[Q])
    mark = len(world.events_of(P))
    world.changes.remove_task_from_project(ADMIN, task, world.store.projects[P])
    events = world.events_of(P, mark)
    assert events[-1]["action"] == "removed"
    assert events[-1]["parent"]["gid"] == P

    world.deliver(events)
    world.consume()

    assert tombstones(world.contents(), f"TASK#{P}") == {task.gid}


def test_an_event_for_a_task_gone_from_asana_tombstones_it(world):
    task = world.store.tasks[demo.numbered_gid(demo.TASK_PREFIX, 3)]
    mark = len(world.events_of(P))
    world.changes.update_task(ADMIN, task, {"name": "Soon gone"})
    stale = world.events_of(P, mark)
    world.deliver(stale)
    world.consume()
    world.changes.delete_task(ADMIN, task)  # deleted before a late redelivery of the old event is processed

    world.deliver([{**stale[0], "created_at": "2026-12-02T11:00:00.000Z"}])
    world.consume()

    assert tombstones(world.contents(), f"TASK#{P}") == {task.gid}


def test_events_of_a_project_not_imported_update_its_project_but_write_and_read_no_task(world):
    q_hook = active_webhook(world.resources, resource=Q)
    project = world.store.projects[Q]
    mark = len(world.events_of(Q))
    task = world.changes.create_task(
        ADMIN, workspace_gid=demo.ORG_WORKSPACE_GID, projects=[project], fields={"name": "x"}
    )
    world.changes.update_task(ADMIN, task, {"completed": True})
    world.changes.update_project(ADMIN, project, {"name": "Renamed in Asana"})

    world.deliver(world.events_of(Q, mark), prefix=q_hook)
    world.consume()

    contents = world.contents()
    assert f"TASK#{Q}" not in contents
    assert not any(task.gid in items for items in contents.values())  # read to find its projects, never written
    assert live(contents, "PROJECT")[Q] == expected_mirror(world.sandbox.state, ADMIN, [])["PROJECT"][Q]
    assert live(contents, "PROJECT")[Q]["name"] == "Renamed in Asana"


def test_a_team_membership_event_relists_the_team_s_memberships(world):
    team = demo.TEAM_PLATFORM_GID
    members = set(world.sandbox.state.store.memberships_by_team[team])
    newcomer = next(gid for gid in demo.org_member_gids() if gid not in members)
    leaver = next(gid for gid in members if gid != ADMIN)
    mark = len(world.events_of(team))
    world.changes.add_team_member(ADMIN, team, newcomer)
    world.changes.remove_team_member(ADMIN, team, leaver)

    world.deliver(world.events_of(team, mark))
    world.consume()

    expected = {
        key: value
        for key, value in expected_mirror(world.sandbox.state, ADMIN, [])["MEMBERSHIP"].items()
        if key.startswith(f"{team}#")
    }
    mirrored = {key: value for key, value in live(world.contents(), "MEMBERSHIP").items() if key.startswith(f"{team}#")}
    assert mirrored == expected
    assert f"{team}#{newcomer}" in expected
    assert f"{team}#{leaver}" not in expected


def test_a_user_who_left_every_workspace_becomes_a_tombstone(world):
    user = demo.numbered_gid(demo.USER_PREFIX, 9)
    assert world.store.users[user].workspace_gids == [demo.ORG_WORKSPACE_GID]
    mark = len(world.events_of(demo.ORG_WORKSPACE_GID))
    world.changes.remove_user(ADMIN, user, demo.ORG_WORKSPACE_GID)
    user_events = [e for e in world.events_of(demo.ORG_WORKSPACE_GID, mark) if e["resource"]["resource_type"] == "user"]

    world.deliver(user_events)
    world.consume()

    assert tombstones(world.contents(), "USER") == {user}


def test_an_organization_without_an_asana_identity_skips_its_events_without_retrying(world):
    unconnected = active_webhook(world.resources, org="org-b")
    task = world.store.tasks[demo.numbered_gid(demo.TASK_PREFIX, 4)]
    mark = len(world.events_of(P))
    world.changes.update_task(ADMIN, task, {"name": "Not ours"})

    world.deliver(world.events_of(P, mark), prefix=unconnected)
    stats = world.consume()

    assert stats.failed_records == 0
    assert mirror_keys(world, "org-b") == []
    assert dead_letters(world.resources) == []


def mirror_keys(world: WebhookWorld, org_id: str) -> list[str]:
    items = boto3.client("dynamodb").scan(TableName=world.services.config.mirror_table_name)["Items"]
    return [item["pk"]["S"] for item in items if item["pk"]["S"].startswith(f"ORG#{org_id}#")]


def test_an_event_delivered_twice_is_applied_once(world):
    task = world.store.tasks[demo.numbered_gid(demo.TASK_PREFIX, 5)]
    mark = len(world.events_of(P))
    world.changes.update_task(ADMIN, task, {"name": "Once"})
    event = world.events_of(P, mark)[0]

    world.deliver([event])
    world.consume()
    world.deliver([event])  # Asana resends, or a second webhook on the workspace sees the same event
    world.consume()

    assert task_reads(world) == 1
    records = boto3.client("dynamodb").scan(TableName=world.resources.idempotency_table_name)["Items"]
    assert len(records) == 1
    assert records[0]["status"]["S"] == "COMPLETED"


def test_asana_failing_for_a_moment_retries_the_message_until_applied(world, monkeypatch):
    monkeypatch.setattr(asana_client, "_backoff", lambda retries: 0.0)  # the client's own retries, not waited
    task = world.store.tasks[demo.numbered_gid(demo.TASK_PREFIX, 6)]
    mark = len(world.events_of(P))
    world.changes.update_task(ADMIN, task, {"name": "After the outage"})
    world.sandbox.inject_errors(count=8, status=503, path_prefix="/api/1.0/tasks/")

    world.deliver(world.events_of(P, mark))
    stats = world.consume()

    assert stats.failed_records >= 1
    assert live(world.contents(), f"TASK#{P}")[task.gid]["name"] == "After the outage"
    assert dead_letters(world.resources) == []


def test_a_message_that_can_never_be_processed_ends_in_the_dead_letter_queue(world):
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=world.resources.queue_url, MessageBody="not what the webhook function writes")

    for _ in range(6):  # maxReceiveCount is 5: the sixth receive finds it moved
        world.consume()

    messages = sqs.receive_message(QueueUrl=world.resources.dead_letter_url).get("Messages", [])
    assert [m["Body"] for m in messages] == ["not what the webhook function writes"]


# --- The organization's identity, as every function that calls Asana uses it ----------------------------------


def test_an_expired_organization_oauth_token_is_renewed_by_the_consumer(
    oauth, services, sandbox, webhook_aws, monkeypatch
):
    connect_flow(oauth, sandbox, purpose="organization")  # no PAT saved: the admin's OAuth connection acts
    sandbox.expire_access_tokens()
    world = webhook_world(monkeypatch, webhook_aws, sandbox, imported=(P,), services=services)
    task = world.store.tasks[demo.numbered_gid(demo.TASK_PREFIX, 7)]
    mark = len(world.events_of(P))
    world.changes.update_task(ADMIN, task, {"name": "Renewed"})

    world.deliver(world.events_of(P, mark))
    world.consume()

    assert sandbox.grant_count("refresh_token") == 1  # renewed, and stored for the other functions
    assert live(world.contents(), f"TASK#{P}")[task.gid]["name"] == "Renewed"


def test_the_consumer_reads_asana_through_the_proxy_the_secret_names(webhook_aws, sandbox, monkeypatch):
    with FakeProxy("svc-asana", PROXY_PASSWORD) as proxy:
        arn = boto3.client("secretsmanager").create_secret(Name="corp/asana-proxy", SecretString=proxy.url)["ARN"]
        monkeypatch.setenv("ASANA_PROXY_SECRET_ARN", arn)
        get_config.cache_clear()
        parameters.clear_caches()  # the consumer runs in its own execution environment: it reads the secret itself
        world = webhook_world(monkeypatch, webhook_aws, sandbox, imported=(P,))
        task = world.store.tasks[demo.numbered_gid(demo.TASK_PREFIX, 1)]
        mark = len(world.events_of(P))
        world.changes.update_task(ADMIN, task, {"name": "Proxied"})

        world.deliver(world.events_of(P, mark))
        world.consume()
        world.services.asana_session.close()

        assert f"/api/1.0/tasks/{task.gid}" in proxy.paths()
    assert live(world.contents(), f"TASK#{P}")[task.gid]["name"] == "Proxied"
