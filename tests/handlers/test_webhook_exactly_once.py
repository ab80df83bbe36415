"""1,000 deliveries, duplicates and injected consumer faults included, produce each mirror effect exactly once.

Five rounds of changes in the Asana sandbox (tasks created, renamed, completed, deleted, moved between an imported
project and one that is not; projects renamed). Each round's events are delivered the way Asana may deliver them: in
deliveries of one to three events, some deliveries sent again whole, some events repeated inside other deliveries,
all shuffled. The real webhook function verifies and queues them; the real consumer drains the queue as Lambda does,
while faults are injected: an exception before a mirror write, one just after it (the write happened, the event's
processing did not finish), and the worker killed outright mid-batch. After each round:

* the mirror equals the sandbox (the imported project's tasks, both projects), and no task of the other is written;
* every mirrored entity that changed was written exactly once, and nothing else was written;
* every distinct Asana event was applied exactly once; nothing reached the dead-letter queue.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from asana_integration.config import get_config
from asana_integration.models.mirror import MirrorEntity, MirrorKind
from asana_integration.webhooks import processing
from local.asana_sandbox import demo
from tests.handlers.conftest import function_module
from tests.handlers.webhook_support import (
    ORG,
    WebhookWorld,
    active_webhook,
    dead_letters,
    webhook_world,
)
from tests.sync_harness import WorkerKilled, expected_mirror, live, tombstones

P = demo.DEMO_TASK_PROJECT_GID  # imported
Q = demo.numbered_gid(demo.PROJECT_PREFIX, 2)  # not imported
ADMIN = demo.DEMO_ADMIN_USER_GID
ROUNDS = 5
DELIVERIES_PER_ROUND = 200


class InjectedFault(Exception):
    """A failure the test injects into the consumer (not Asana's, not AWS's)."""


def event_key(org_id: str, event: dict[str, Any]) -> tuple[Any, ...]:
    """The consumer's idempotency key, field by field (functions/webhook/consumer.py, EVENT_KEY_JMESPATH)."""
    change = event.get("change") or {}
    return (
        org_id,
        event["resource"]["gid"],
        event["resource"]["resource_type"],
        event["action"],
        event["created_at"],
        change.get("field"),
        change.get("action"),
        (event.get("parent") or {}).get("gid"),
        (event.get("user") or {}).get("gid"),
    )


class Faults:
    """Seeded faults around every mirror write, and a record of the writes that changed something."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.injected: Counter[str] = Counter()
        self.effects: Counter[tuple[str, str]] = Counter()

    def around(self, write: Any, key: tuple[str, str], *args: Any) -> Any:
        roll = self.rng.random()
        if roll < 0.08:
            self.injected["before_write"] += 1
            raise InjectedFault("before the mirror write")
        result = write(*args)
        if result in ("created", "updated", True):
            self.effects[key] += 1
        if roll > 0.97:
            self.injected["killed"] += 1
            raise WorkerKilled
        if roll > 0.90:
            self.injected["after_write"] += 1
            raise InjectedFault("after the mirror write")
        return result


@pytest.fixture
def world(webhook_aws, sandbox, monkeypatch) -> Iterator[WebhookWorld]:
    # Neither Asana's rate limit nor the shared budget is under test here.
    sandbox.set_rate_limit(1_000_000)
    monkeypatch.setenv("ASANA_RATE_LIMIT_PER_MINUTE", "100000")
    get_config.cache_clear()
    found = webhook_world(monkeypatch, webhook_aws, sandbox, imported=(P,))
    yield found
    found.services.asana_session.close()


def install_faults(world: WebhookWorld, monkeypatch: pytest.MonkeyPatch, faults: Faults) -> Counter[tuple[Any, ...]]:
    mirror = world.services.mirror
    upsert, tombstone = mirror.upsert_one, mirror.tombstone_one

    def upsert_one(org_id: str, kind: MirrorKind, parent: str | None, entity: MirrorEntity) -> Any:
        return faults.around(upsert, _key(org_id, kind, parent, entity.gid), org_id, kind, parent, entity)

    def tombstone_one(org_id: str, kind: MirrorKind, parent: str | None, gid: str) -> Any:
        return faults.around(tombstone, _key(org_id, kind, parent, gid), org_id, kind, parent, gid)

    monkeypatch.setattr(mirror, "upsert_one", upsert_one)
    monkeypatch.setattr(mirror, "tombstone_one", tombstone_one)

    applied: Counter[tuple[Any, ...]] = Counter()
    original_apply = processing.EventApplier.apply

    def apply(self: processing.EventApplier, org_id: str, event: dict[str, Any]) -> processing.Outcome:
        outcome = original_apply(self, org_id, event)
        applied[event_key(org_id, event)] += 1  # only when the event's processing finished
        return outcome

    monkeypatch.setattr(processing.EventApplier, "apply", apply)
    return applied


def _key(org_id: str, kind: MirrorKind, parent: str | None, gid: str) -> tuple[str, str]:
    return (f"{kind.value}#{parent}" if parent else kind.value, gid)


class KillAwareConsumer:
    """The consumer module as Lambda runs it. When Lambda kills an invocation, its messages come back only after the
    visibility timeout (six times the function's timeout), by which time the killed invocation's in-progress
    idempotency records have expired: that wait is fast-forwarded here by expiring them."""

    def __init__(self, resources: Any, faults: Faults) -> None:
        self._consumer = function_module("webhook", "consumer")
        self._table = resources.idempotency_table_name
        self._faults = faults

    def lambda_handler(self, event: dict[str, Any], context: Any) -> Any:
        try:
            return self._consumer.lambda_handler(event, context)
        except WorkerKilled:
            dynamodb = boto3.client("dynamodb")
            for item in dynamodb.scan(TableName=self._table)["Items"]:
                if item["status"]["S"] == "INPROGRESS":
                    dynamodb.update_item(
                        TableName=self._table,
                        Key={"id": item["id"]},
                        UpdateExpression="SET in_progress_expiration = :past",
                        ExpressionAttributeValues={":past": {"N": "0"}},
                    )
            raise


def change_round(world: WebhookWorld, rng: random.Random, number: int) -> None:
    """A round of writes in the sandbox, each recording Asana's events."""
    store, changes = world.store, world.changes
    project_p, project_q = store.projects[P], store.projects[Q]
    in_p = sorted(t.gid for t in store.project_tasks(project_p))
    for gid in rng.sample(in_p, min(len(in_p), 25)):
        fields: dict[str, Any] = {"name": f"round {number}: {gid}"}
        if rng.random() < 0.5:
            fields["completed"] = not store.tasks[gid].completed
        changes.update_task(ADMIN, store.tasks[gid], fields)
    for n in range(12):
        changes.create_task(
            ADMIN, workspace_gid=demo.ORG_WORKSPACE_GID, projects=[project_p], fields={"name": f"new {number}.{n}"}
        )
    for n in range(6):
        changes.create_task(
            ADMIN, workspace_gid=demo.ORG_WORKSPACE_GID, projects=[project_q], fields={"name": f"q {number}.{n}"}
        )
    in_p = sorted(t.gid for t in store.project_tasks(project_p))
    doomed = rng.sample(in_p, 5)
    for gid in doomed:
        changes.delete_task(ADMIN, store.tasks[gid])
    movers = rng.sample([gid for gid in in_p if gid not in doomed], 4)
    for gid in movers:
        changes.add_task_to_project(ADMIN, store.tasks[gid], project_q)
        changes.remove_task_from_project(ADMIN, store.tasks[gid], project_p)
    in_q = sorted(t.gid for t in store.project_tasks(project_q) if P not in {m.project_gid for m in t.memberships})
    for gid in rng.sample(in_q, min(len(in_q), 6)):
        changes.update_task(ADMIN, store.tasks[gid], {"name": f"q round {number}: {gid}"})
    changes.update_project(ADMIN, project_q, {"name": f"Not imported, round {number}"})
    changes.update_project(ADMIN, project_p, {"name": f"Imported, round {number}"})


def deliveries_for(rng: random.Random, hooks: dict[str, list[dict[str, Any]]], count: int) -> list[tuple[str, list]]:
    """Each webhook's events in deliveries of one to three, then duplicates up to ``count`` deliveries, shuffled."""
    deliveries: list[tuple[str, list[dict[str, Any]]]] = []
    for prefix, events in hooks.items():
        at = 0
        while at < len(events):
            size = rng.randint(1, 3)
            deliveries.append((prefix, events[at : at + size]))
            at += size
    assert len(deliveries) < count, "the round's changes alone already take every delivery"
    originals = list(deliveries)
    while len(deliveries) < count:
        prefix, events = rng.choice(originals)
        if rng.random() < 0.5:
            deliveries.append((prefix, events))  # the same delivery again (Asana resends after a late 200)
        else:
            repeated = rng.choice(hooks[prefix])  # an event again, beside others
            deliveries.append((prefix, [*rng.sample(hooks[prefix], min(2, len(hooks[prefix]))), repeated]))
    rng.shuffle(deliveries)
    return deliveries


def snapshot(world: WebhookWorld) -> dict[tuple[str, str], Any]:
    """Every mirrored entity's state: its data, or that it is a tombstone."""
    state: dict[tuple[str, str], Any] = {}
    for list_key, items in world.contents().items():
        for gid, item in items.items():
            state[(list_key, gid)] = "tombstone" if "deleted_at" in item else item["data"]
    return state


def test_a_thousand_deliveries_with_duplicates_and_faults_apply_each_effect_once(world, monkeypatch):
    rng = random.Random(20261202)
    faults = Faults(random.Random(7))
    applied = install_faults(world, monkeypatch, faults)
    world.loop._worker = KillAwareConsumer(world.resources, faults)  # type: ignore[assignment]
    q_hook = active_webhook(world.resources, resource=Q)
    # The mirror as a full sync leaves it for the imported project and both projects.
    expected = expected_mirror(world.sandbox.state, ADMIN, [P])
    world.services.mirror.apply(
        ORG, MirrorKind.TASK, P, [MirrorEntity(g, d) for g, d in expected[f"TASK#{P}"].items()], seen_complete=True
    )
    world.services.mirror.apply(
        ORG, MirrorKind.PROJECT, None, [MirrorEntity(g, expected["PROJECT"][g]) for g in (P, Q)]
    )
    delivered = 0
    distinct: set[tuple[Any, ...]] = set()

    for number in range(1, ROUNDS + 1):
        marks = {P: len(world.events_of(P)), Q: len(world.events_of(Q))}
        change_round(world, rng, number)
        hooks = {world.prefix: world.events_of(P, marks[P]), q_hook: world.events_of(Q, marks[Q])}
        distinct |= {event_key(ORG, event) for events in hooks.values() for event in events}
        before = snapshot(world)
        faults.effects.clear()

        for prefix, events in deliveries_for(rng, hooks, DELIVERIES_PER_ROUND):
            world.deliver(events, prefix=prefix)
            delivered += 1
        world.consume()

        expected = expected_mirror(world.sandbox.state, ADMIN, [P])
        contents = world.contents()
        assert live(contents, f"TASK#{P}") == expected[f"TASK#{P}"], f"round {number}"
        assert {g: live(contents, "PROJECT")[g] for g in (P, Q)} == {g: expected["PROJECT"][g] for g in (P, Q)}
        assert f"TASK#{Q}" not in contents
        assert tombstones(contents, f"TASK#{P}").isdisjoint(expected[f"TASK#{P}"])
        after = snapshot(world)
        changed = {key for key in after if before.get(key) != after[key]}
        assert changed, f"round {number} changed nothing: the test would prove nothing"
        assert {key: faults.effects[key] for key in changed} == dict.fromkeys(changed, 1), f"round {number}"
        assert set(faults.effects) == changed, "a write changed an entity that did not end up changed"
        assert dead_letters(world.resources) == []

    assert delivered == ROUNDS * DELIVERIES_PER_ROUND == 1000
    assert set(applied) == distinct
    assert [key for key, times in applied.items() if times != 1] == []
    # The faults happened, each kind of them: otherwise this test would prove nothing about them.
    assert faults.injected["before_write"] > 0
    assert faults.injected["after_write"] > 0
    assert faults.injected["killed"] > 0
    assert world.loop.stats.failed_records > 0
    assert world.loop.stats.killed_batches > 0
