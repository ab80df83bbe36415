"""Running the data sync in-process as Lambda would, and what it should have mirrored.

- :class:`SqsLoop` plays Lambda's SQS event source over moto's queue: it receives up to ``batch_size`` messages,
  invokes the real worker ``lambda_handler`` with a real-shaped SQS event, deletes what succeeded and lets the
  reported failures come back (at once: the visibility timeout is not waited out). A worker *killed* mid-batch
  (:class:`WorkerKilled`, which the batch processor cannot catch) returns nothing: every message of its batch comes
  back, those it had finished included, as on AWS.
- :class:`MirrorWrites` records every write to a mirrored entity (not the bookkeeping beside it).
- :func:`expected_mirror` is the sandbox's own data, read from its store (not through the API the sync reads), as
  the mirror should hold it.
- ``local/moto_costs.py`` makes moto's ``TransactWriteItems`` and ``Query`` cost what they cost on AWS, not a copy
  or a sort of the whole table.

The benchmarks use these too (``bench/sync.py``).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import boto3
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from local.asana_sandbox.models import User
from local.asana_sandbox.render import task_permalink
from local.asana_sandbox.state import SandboxState
from local.asana_sandbox.timestamps import iso
from tests.events import LambdaContext

ENTITY_PARTITION = re.compile(r"^ORG#.+#(WORKSPACE|TEAM|MEMBERSHIP|USER|PROJECT|TASK)(#\d+)?$")


class WorkerKilled(BaseException):
    """Lambda killed the worker (out of memory, timeout): the batch gets no answer at all."""


@dataclass
class LoopStats:
    invocations: int = 0
    records: int = 0
    failed_records: int = 0
    killed_batches: int = 0


class SqsLoop:
    def __init__(
        self,
        queue_url: str,
        worker: ModuleType,
        *,
        batch_size: int = 5,
        timeout_seconds: float = 120.0,
        queue_arn: str = "arn:aws:sqs:us-east-1:123456789012:sync",
    ) -> None:
        self._sqs = boto3.client("sqs")
        self._url = queue_url
        self._worker = worker
        self._batch_size = batch_size
        self._timeout = timeout_seconds
        self._arn = queue_arn
        self.stats = LoopStats()

    def drain(self, *, max_invocations: int = 5000, idle_wait_seconds: float = 30.0) -> LoopStats:
        """Run the worker until the queue is empty (delayed messages waited for, up to ``idle_wait_seconds``)."""
        idle_since: float | None = None
        while self.stats.invocations < max_invocations:
            messages = self._sqs.receive_message(
                QueueUrl=self._url,
                MaxNumberOfMessages=self._batch_size,
                AttributeNames=["All"],
                VisibilityTimeout=600,
            ).get("Messages", [])
            if not messages:
                if not self._waiting():
                    return self.stats
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > idle_wait_seconds:
                    raise AssertionError("messages stayed delayed or in flight longer than the loop waits")
                time.sleep(0.05)
                continue
            idle_since = None
            self._invoke(messages)
        raise AssertionError(f"the queue did not drain in {max_invocations} invocations")

    def _waiting(self) -> bool:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self._url,
            AttributeNames=["ApproximateNumberOfMessagesDelayed", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return any(int(value) for value in attributes.values())

    def _invoke(self, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [self._record(message) for message in messages]}
        self.stats.invocations += 1
        self.stats.records += len(messages)
        try:
            response = self._worker.lambda_handler(event, LambdaContext(timeout_seconds=self._timeout))
        except WorkerKilled:
            self.stats.killed_batches += 1
            self._return(messages)
            return
        failed = {failure["itemIdentifier"] for failure in response.get("batchItemFailures", [])}
        self.stats.failed_records += len(failed)
        self._return([message for message in messages if message["MessageId"] in failed])
        for message in messages:
            if message["MessageId"] not in failed:
                self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])

    def _return(self, messages: list[dict[str, Any]]) -> None:
        # Visible again now: the visibility timeout, fast-forwarded.
        for message in messages:
            self._sqs.change_message_visibility(
                QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": hashlib.md5(message["Body"].encode(), usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self._arn,
            "awsRegion": "us-east-1",
        }


@dataclass
class MirrorWrites:
    """Every write to a mirrored entity, by (partition, sort key); bookkeeping items are counted apart."""

    entities: Counter[tuple[str, str]] = field(default_factory=Counter)
    bookkeeping: int = 0

    def install(self, table: Any) -> MirrorWrites:
        table.meta.client.meta.events.register("provide-client-params.dynamodb.*", self._seen)
        return self

    def total(self) -> int:
        return sum(self.entities.values())

    def twice(self) -> list[tuple[str, str]]:
        return [key for key, count in self.entities.items() if count > 1]

    def clear(self) -> None:
        self.entities.clear()
        self.bookkeeping = 0

    def _seen(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        operation = model.name
        keys: list[dict[str, Any]] = []
        if operation in ("PutItem",):
            keys = [params["Item"]]
        elif operation in ("UpdateItem", "DeleteItem"):
            keys = [params["Key"]]
        elif operation == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                keys += [r.get("PutRequest", {}).get("Item") or r["DeleteRequest"]["Key"] for r in requests]
        elif operation == "TransactWriteItems":
            for action in params["TransactItems"]:
                body = next(iter(action.values()))
                keys.append(body.get("Item") or body["Key"])
        for key in keys:
            if ENTITY_PARTITION.match(str(key["pk"])):
                self.entities[(str(key["pk"]), str(key["sk"]))] += 1
            else:
                self.bookkeeping += 1


def mirror_contents(table: Any, org_id: str) -> dict[str, dict[str, Any]]:
    """Everything mirrored for the organization: ``{"PROJECT": {gid: item}, "TASK#<project>": {...}}``.

    Read from moto's in-process store directly: a ``Scan`` through boto3 spends seconds in moto's serializer for a
    few thousand items, and what is read here is the same stored data."""
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][table.meta.client.meta.region_name]
    contents: dict[str, dict[str, Any]] = {}
    for stored in backend.get_table(table.name).all_items():
        item = stored.to_regular_json()
        if ENTITY_PARTITION.match(str(item["pk"])) and item["pk"].startswith(f"ORG#{org_id}#"):
            list_key = item["pk"].removeprefix(f"ORG#{org_id}#")
            contents.setdefault(list_key, {})[str(item["sk"])] = item
    return contents


def live(contents: dict[str, dict[str, Any]], list_key: str) -> dict[str, dict[str, Any]]:
    return {gid: dict(item["data"]) for gid, item in contents.get(list_key, {}).items() if "deleted_at" not in item}


def tombstones(contents: dict[str, dict[str, Any]], list_key: str) -> set[str]:
    return {gid for gid, item in contents.get(list_key, {}).items() if "deleted_at" in item}


def expected_mirror(state: SandboxState, user_gid: str, imported: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """What the mirror must hold for a token of ``user_gid``: the objects that user can see, from the store."""
    store = state.store
    with store.lock:
        me = store.users[user_gid]
        mine = set(me.workspace_gids)
        expected: dict[str, dict[str, dict[str, Any]]] = {"WORKSPACE": {}, "USER": {}, "TEAM": {}, "PROJECT": {}}
        for workspace in store.workspaces.values():
            if workspace.gid in mine:
                expected["WORKSPACE"][workspace.gid] = {
                    "name": workspace.name,
                    "is_organization": workspace.is_organization,
                }
        for user in store.users.values():
            if mine & set(user.workspace_gids):
                expected["USER"][user.gid] = _user(user)
        teams = [
            team
            for team in store.teams.values()
            if team.organization_gid in mine and (team.visibility != "secret" or store.is_team_member(team.gid, me.gid))
        ]
        expected["MEMBERSHIP"] = {}
        for team in teams:
            expected["TEAM"][team.gid] = {
                "name": team.name,
                "description": team.description or None,
                "permalink_url": f"https://app.asana.com/0/team/{team.gid}",
                "workspace_gid": team.organization_gid,
            }
            for membership in store.memberships_by_team.get(team.gid, {}).values():
                expected["MEMBERSHIP"][f"{team.gid}#{membership.user_gid}"] = {
                    "team_gid": team.gid,
                    "user_gid": membership.user_gid,
                    "is_admin": membership.is_admin,
                    "is_guest": membership.is_guest,
                }
        for project in store.projects.values():
            visible = project.workspace_gid in mine and (
                project.privacy_setting == "public_to_workspace"
                or not project.team_gid
                or store.is_team_member(project.team_gid, me.gid)
            )
            if visible:
                expected["PROJECT"][project.gid] = {
                    "name": project.name,
                    "archived": project.archived,
                    "team_gid": project.team_gid,
                    "workspace_gid": project.workspace_gid,
                    "owner_gid": project.owner_gid,
                    "created_at": iso(project.created_at),
                    "modified_at": iso(project.modified_at),
                    "permalink_url": f"https://app.asana.com/0/{project.gid}/list",
                    "color": project.color,
                }
        for project_gid in imported:
            tasks = expected.setdefault(f"TASK#{project_gid}", {})
            project = store.projects.get(project_gid)
            for task in store.project_tasks(project) if project else []:
                section_gid = next(m.section_gid for m in task.memberships if m.project_gid == project_gid)
                tasks[task.gid] = {
                    "name": task.name,
                    "completed": task.completed,
                    "assignee_gid": task.assignee_gid,
                    "due_on": task.due_on,
                    "section_gid": section_gid,
                    "section_name": store.sections[section_gid].name,
                    "modified_at": iso(task.modified_at),
                    "permalink_url": task_permalink(task.gid),
                }
    return expected


def _user(user: User) -> dict[str, Any]:
    return {"name": user.name, "email": user.email or None, "workspace_gids": sorted(user.workspace_gids)}
