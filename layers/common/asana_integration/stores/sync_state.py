"""The sync's bookkeeping in MirrorTable, beside the mirror it keeps (all keyed by organization):

| item | pk | sk |
|---|---|---|
| run | ``ORG#<org>#RUN`` | ``<run id>`` (starts with the UTC start time, so runs sort by start) |
| current-run lease | ``ORG#<org>#RUN`` | ``CURRENT`` |
| unit done marker | ``ORG#<org>#UNIT`` | ``<run id>#<unit id>`` (7-day TTL) |
| checkpoint | ``ORG#<org>#CHECKPOINT`` | ``<run id>#<unit id>`` (+ ``#chunk<n>`` items when large) |
| sync cursor | ``ORG#<org>#SYNCTOKEN`` | ``<project gid>`` |
| imported project | ``ORG#<org>#IMPORT`` | ``<project gid>`` |

A run counts its units: ``pending`` starts at 1 (the plan) and each unit's completion subtracts itself and adds the
units it spawned, in one transaction with the unit's done marker. A unit delivered twice (SQS delivers at least once)
finds its marker and changes nothing, so no count is ever doubled. When ``pending`` reaches 0 the run is finished and
its lease released.
"""

from __future__ import annotations

import base64
import json
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Key
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from asana_integration.models.mirror import MirrorCounts, MirrorKind
from asana_integration.models.sync import ImportedProject, RunError, SyncMode, SyncRun, SyncTrigger
from asana_integration.stores.dynamo import is_condition_failed, plain_values, query_items

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

# A run that has not finished after this long is abandoned: the next start marks it failed and takes over. Far above
# a full pass of a large organization on a free plan (150 calls a minute), far below a day of missed syncs.
RUN_LEASE_SECONDS = 2 * 3600
RUN_RETENTION_SECONDS = 90 * 86400
# Incremental runs come every few minutes and mostly find nothing: a week of them is history enough.
INCREMENTAL_RUN_RETENTION_SECONDS = 7 * 86400
MARKER_TTL_SECONDS = 7 * 86400
CHECKPOINT_TTL_SECONDS = 7 * 86400
# DynamoDB items hold at most 400 KB; the seen gids of a checkpoint are split in chunks well below it.
CHECKPOINT_CHUNK_CHARS = 300_000
RECENT_RUNS = 20
LEASE_SK = "CURRENT"

ABANDONED = RunError(
    kind="run",
    code="run_abandoned",
    message=f"The run did not finish within {RUN_LEASE_SECONDS // 3600} hours and was replaced by a new run.",
    fix=(
        "Nothing to do if the next run succeeds. If runs keep being abandoned, check the sync queue's dead-letter "
        "queue (alarm SyncQueueDeadLetterAlarm) and the worker's logs."
    ),
)


class Completion(Enum):
    DONE = "done"  # the unit's results were added to the run
    DUPLICATE = "duplicate"  # the unit had completed before (a redelivered message): nothing changed
    RUN_GONE = "run_gone"  # the run is no longer running (abandoned): nothing changed


@dataclass
class UnitReport:
    """What one unit did, added to its run when it completes."""

    counts: dict[MirrorKind, MirrorCounts] = field(default_factory=dict)
    asana_calls: int = 0
    rate_limited: int = 0
    retries: int = 0
    error: RunError | None = None
    # The units this one planned (message payloads), run after it: kept on its done marker so a redelivery can send
    # them again if the first delivery stopped between completing and sending.
    spawned: list[dict[str, Any]] = field(default_factory=list)

    def count(self, kind: MirrorKind, counts: MirrorCounts) -> None:
        self.counts.setdefault(kind, MirrorCounts()).add(counts)


@dataclass(frozen=True)
class Checkpoint:
    state: dict[str, Any]
    seen: set[str]
    chunks: int


@dataclass(frozen=True)
class SyncCursor:
    """Where the next incremental pass of an imported project starts: an Events API sync token (Full permissions),
    or the start time of the last complete listing (granular scopes read ``modified_since`` from it)."""

    sync_token: str | None = None
    synced_since: str | None = None


def iso_time(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class SyncStateStore:
    def __init__(self, table: Table, *, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    # --- Runs and the lease ---------------------------------------------------------------------------------------

    def start_run(self, org_id: str, run_id: str, mode: SyncMode, trigger: SyncTrigger) -> tuple[SyncRun, bool]:
        """Take the organization's run lease for ``run_id`` and record the run; ``(run, True)``.

        A live run (lease held by another run id, not expired) is returned instead: ``(live run, False)``. Starting
        the same ``run_id`` again (a redelivered start) succeeds and records nothing twice; once that run has finished,
        it is ``(the finished run, False)``. An expired lease is taken over and its run marked failed (abandoned).
        """
        now = self._clock()
        started_at = iso_time(now)
        lease: dict[str, Any] = {
            **_run_key(org_id, LEASE_SK),
            "run_id": run_id,
            "mode": mode,
            "trigger": trigger,
            "started_at": started_at,
            "lease_expires_at": int(now + RUN_LEASE_SECONDS),
        }
        try:
            replaced = self._table.put_item(
                Item=lease,
                ConditionExpression="attribute_not_exists(pk) OR lease_expires_at < :now OR run_id = :run",
                ExpressionAttributeValues={":now": int(now), ":run": run_id},
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            ).get("Attributes")
        except ClientError as error:
            if not is_condition_failed(error):
                raise
            return self._run_or_lease(org_id, _old_item(error)), False
        if replaced and replaced.get("run_id") != run_id:
            self._abandon(org_id, str(replaced["run_id"]))
        item: dict[str, Any] = {
            **_run_key(org_id, run_id),
            "run_id": run_id,
            "status": "running",
            "trigger": trigger,
            "mode": mode,
            "started_at": started_at,
            "pending": 1,  # the plan
            "total_units": 1,
            "units_failed": 0,
            "counts": {kind.label: MirrorCounts().as_dict() for kind in MirrorKind},
            "asana_calls": 0,
            "rate_limited": 0,
            "retries": 0,
            "errors": {},
            "error_counts": {},
            "expires_at": int(now + (RUN_RETENTION_SECONDS if mode == "full" else INCREMENTAL_RUN_RETENTION_SECONDS)),
        }
        try:
            self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as error:
            if not is_condition_failed(error):
                raise
            # The same start again (SQS delivers at least once): still running, it goes on; finished, the lease just
            # taken for it must not keep the next run waiting.
            existing = self.get_run(org_id, run_id) or _run(item)
            if existing.status != "running":
                self._release(org_id, run_id)
                return existing, False
            return existing, True
        return _run(item), True

    def get_run(self, org_id: str, run_id: str) -> SyncRun | None:
        item = self._table.get_item(Key=_run_key(org_id, run_id), ConsistentRead=True).get("Item")
        return _run(item) if item else None

    def current_run(self, org_id: str) -> SyncRun | None:
        """The run holding the lease, if it has not expired."""
        lease = self._table.get_item(Key=_run_key(org_id, LEASE_SK), ConsistentRead=True).get("Item")
        if not lease or int(lease["lease_expires_at"]) < self._clock():  # type: ignore[arg-type]
            return None
        return self._run_or_lease(org_id, plain_values(lease))

    def recent_runs(self, org_id: str, limit: int = RECENT_RUNS) -> list[SyncRun]:
        """The latest runs, newest first."""
        response = self._table.query(
            KeyConditionExpression=Key("pk").eq(_run_pk(org_id)),
            ScanIndexForward=False,
            Limit=limit + 1,  # the lease shares the partition
        )
        return [_run(item) for item in response.get("Items", []) if item["sk"] != LEASE_SK][:limit]

    def add_units(self, org_id: str, run_id: str, count: int) -> bool:
        """Add units to a live run (an import joining it). False when the run is finished or finishing."""
        try:
            self._table.update_item(
                Key=_run_key(org_id, run_id),
                UpdateExpression="SET pending = pending + :n, total_units = total_units + :n",
                ConditionExpression="#status = :running AND pending > :zero",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":n": count, ":running": "running", ":zero": 0},
            )
        except ClientError as error:
            if is_condition_failed(error):
                return False
            raise
        return True

    def complete_unit(
        self, org_id: str, run_id: str, unit_id: str, report: UnitReport, *, checkpoint_chunks: int = 0
    ) -> Completion:
        """Record the unit done and add its report to the run, atomically; drop its checkpoint."""
        marker_key = {"pk": f"ORG#{org_id}#UNIT", "sk": f"{run_id}#{unit_id}"}
        expression, names, values = _report_update(report)
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": {
                        **marker_key,
                        "children": report.spawned,
                        "expires_at": int(self._clock() + MARKER_TTL_SECONDS),
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": self._table.name,
                    "Key": _run_key(org_id, run_id),
                    "UpdateExpression": expression,
                    "ConditionExpression": "#status = :running",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            },
        ]
        actions += [
            {"Delete": {"TableName": self._table.name, "Key": key}}
            for key in _checkpoint_keys(org_id, run_id, unit_id, checkpoint_chunks)
        ]
        try:
            self._table.meta.client.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]
            if reasons[:1] == ["ConditionalCheckFailed"]:
                return Completion.DUPLICATE
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                return Completion.RUN_GONE
            raise
        return Completion.DONE

    def unit_children(self, org_id: str, run_id: str, unit_id: str) -> list[dict[str, Any]] | None:
        """The units a completed unit spawned (kept on its done marker); None when the unit has not completed."""
        key = {"pk": f"ORG#{org_id}#UNIT", "sk": f"{run_id}#{unit_id}"}
        item = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
        if item is None:
            return None
        return [plain_values(child) for child in item.get("children", [])]  # type: ignore[union-attr]

    def finish_if_done(self, org_id: str, run_id: str) -> SyncRun | None:
        """Finish the run when no unit is pending: its final status, end time, and the lease released."""
        run = self.get_run(org_id, run_id)
        if run is None or run.status != "running" or run.pending > 0:
            return None
        if run.units_failed == 0:
            status = "succeeded"
        elif run.units_failed >= run.total_units:
            status = "failed"
        else:
            status = "partial"
        ended_at = iso_time(self._clock())
        try:
            self._table.update_item(
                Key=_run_key(org_id, run_id),
                UpdateExpression="SET #status = :status, ended_at = :ended",
                ConditionExpression="#status = :running AND pending = :zero",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":status": status, ":ended": ended_at, ":running": "running", ":zero": 0},
            )
        except ClientError as error:
            if is_condition_failed(error):
                return None  # another worker finished it
            raise
        self._release(org_id, run_id)
        return run.model_copy(update={"status": status, "ended_at": ended_at})

    def _release(self, org_id: str, run_id: str) -> None:
        try:
            self._table.delete_item(
                Key=_run_key(org_id, LEASE_SK),
                ConditionExpression="run_id = :run",
                ExpressionAttributeValues={":run": run_id},
            )
        except ClientError as error:
            if not is_condition_failed(error):  # a newer run holds it already
                raise

    def _abandon(self, org_id: str, run_id: str) -> None:
        expression, names, values = _report_update(UnitReport(error=ABANDONED), counts_unit=False)
        try:
            self._table.update_item(
                Key=_run_key(org_id, run_id),
                UpdateExpression=f"{expression}, ended_at = :ended",
                ConditionExpression="#status = :running",
                ExpressionAttributeNames={**names, "#status": "status"},
                ExpressionAttributeValues={**values, ":ended": iso_time(self._clock()), ":failed_status": "failed"},
            )
        except ClientError as error:
            if not is_condition_failed(error):
                raise

    def _run_or_lease(self, org_id: str, lease: Mapping[str, Any]) -> SyncRun:
        """The run a lease names; while its run item is still being written, what the lease itself knows."""
        run_id = str(lease["run_id"])
        return self.get_run(org_id, run_id) or SyncRun(
            run_id=run_id,
            status="running",
            trigger=lease["trigger"],
            mode=lease["mode"],
            started_at=str(lease["started_at"]),
            pending=1,
            total_units=1,
        )

    # --- Checkpoints ------------------------------------------------------------------------------------------------

    def save_checkpoint(
        self, org_id: str, run_id: str, unit_id: str, state: Mapping[str, Any], seen: Iterable[str]
    ) -> int:
        """Keep a unit's progress (its own ``state`` and the gids seen so far); returns the number of chunks."""
        # Never empty: zlib's stream of no data still has its header and checksum.
        encoded = base64.b64encode(zlib.compress("\n".join(sorted(seen)).encode(), 9)).decode()
        chunks = [encoded[i : i + CHECKPOINT_CHUNK_CHARS] for i in range(0, len(encoded), CHECKPOINT_CHUNK_CHARS)]
        expires_at = int(self._clock() + CHECKPOINT_TTL_SECONDS)
        head, *rest = _checkpoint_keys(org_id, run_id, unit_id, len(chunks))
        for key, chunk in zip(rest, chunks[1:], strict=True):
            self._table.put_item(Item={**key, "seen": chunk, "expires_at": expires_at})
        # The head last: a reader never finds a head naming chunks that are not written yet.
        self._table.put_item(
            Item={
                **head,
                "state": json.dumps(dict(state)),
                "seen": chunks[0],
                "chunks": len(chunks),
                "expires_at": expires_at,
            }
        )
        return len(chunks)

    def load_checkpoint(self, org_id: str, run_id: str, unit_id: str) -> Checkpoint | None:
        """The unit's saved progress; None when there is none, or when part of it is gone (the unit starts over)."""
        [head_key] = _checkpoint_keys(org_id, run_id, unit_id, 1)
        head = self._table.get_item(Key=head_key, ConsistentRead=True).get("Item")
        if not head:
            return None
        chunks = int(head["chunks"])  # type: ignore[arg-type]
        parts = [str(head["seen"])]
        for key in _checkpoint_keys(org_id, run_id, unit_id, chunks)[1:]:
            item = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
            if not item:
                # TTL deletes items in no particular order, so an old head may outlive a chunk: starting over is
                # correct (a unit's writes are idempotent), a checkpoint missing gids would hide deletions.
                return None
            parts.append(str(item["seen"]))
        raw = zlib.decompress(base64.b64decode("".join(parts))).decode()
        return Checkpoint(json.loads(str(head["state"])), set(filter(None, raw.split("\n"))), chunks)

    # --- Incremental cursors ----------------------------------------------------------------------------------------

    def sync_cursor(self, org_id: str, project_gid: str) -> SyncCursor | None:
        item = self._table.get_item(Key=_cursor_key(org_id, project_gid), ConsistentRead=True).get("Item")
        if not item:
            return None
        return SyncCursor(_optional(item.get("sync_token")), _optional(item.get("synced_since")))

    def save_sync_cursor(self, org_id: str, project_gid: str, cursor: SyncCursor) -> None:
        self._table.put_item(
            Item={
                **_cursor_key(org_id, project_gid),
                "sync_token": cursor.sync_token,
                "synced_since": cursor.synced_since,
                "updated_at": iso_time(self._clock()),
            }
        )

    # --- Imported projects ------------------------------------------------------------------------------------------

    def is_imported(self, org_id: str, project_gid: str) -> bool:
        key = {"pk": _import_pk(org_id), "sk": project_gid}
        return "Item" in self._table.get_item(Key=key, ConsistentRead=True, ProjectionExpression="sk")

    def imports(self, org_id: str) -> list[ImportedProject]:
        items = query_items(self._table, KeyConditionExpression=Key("pk").eq(_import_pk(org_id)))
        return [_imported(item) for item in items]

    def add_import(
        self, org_id: str, project_gid: str, *, imported_by: str, name: str | None = None
    ) -> tuple[ImportedProject, bool]:
        """Import a project's tasks from now on: ``(project, True)``, or ``(the existing import, False)``."""
        project = ImportedProject(
            gid=project_gid, name=name, imported_by=imported_by, imported_at=iso_time(self._clock())
        )
        try:
            self._table.put_item(
                Item={"pk": _import_pk(org_id), "sk": project_gid, **project.model_dump(exclude={"gid"})},
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not is_condition_failed(error):
                raise
            return _imported(_old_item(error)), False
        return project, True

    def remove_import(self, org_id: str, project_gid: str) -> bool:
        """Stop importing a project: its import and its incremental cursor go (its mirrored tasks: the caller)."""
        removed = self._table.delete_item(
            Key={"pk": _import_pk(org_id), "sk": project_gid}, ReturnValues="ALL_OLD"
        ).get("Attributes")
        self._table.delete_item(Key=_cursor_key(org_id, project_gid))
        return bool(removed)


# --- Keys -------------------------------------------------------------------------------------------------------------


def _run_pk(org_id: str) -> str:
    return f"ORG#{org_id}#RUN"


def _run_key(org_id: str, sk: str) -> dict[str, str]:
    return {"pk": _run_pk(org_id), "sk": sk}


def _import_pk(org_id: str) -> str:
    return f"ORG#{org_id}#IMPORT"


def _cursor_key(org_id: str, project_gid: str) -> dict[str, str]:
    return {"pk": f"ORG#{org_id}#SYNCTOKEN", "sk": project_gid}


def _checkpoint_keys(org_id: str, run_id: str, unit_id: str, chunks: int) -> list[dict[str, str]]:
    """The head's key, then one per further chunk."""
    pk, sk = f"ORG#{org_id}#CHECKPOINT", f"{run_id}#{unit_id}"
    return [{"pk": pk, "sk": sk}] + [{"pk": pk, "sk": f"{sk}#chunk{n}"} for n in range(1, chunks)]


# --- The run update of a unit's report --------------------------------------------------------------------------------


def _report_update(report: UnitReport, *, counts_unit: bool = True) -> tuple[str, dict[str, str], dict[str, Any]]:
    """``UpdateExpression`` (SET …), names and values adding a unit's report to its run."""
    names: dict[str, str] = {"#status": "status"}
    values: dict[str, Any] = {
        ":running": "running",
        ":calls": report.asana_calls,
        ":limited": report.rate_limited,
        ":retries": report.retries,
    }
    parts = [
        "asana_calls = asana_calls + :calls",
        "rate_limited = rate_limited + :limited",
        "retries = retries + :retries",
    ]
    if counts_unit:
        values[":done"] = 1 - len(report.spawned)
        values[":spawned"] = len(report.spawned)
        values[":failed"] = 1 if report.error else 0
        parts += [
            "pending = pending - :done",
            "total_units = total_units + :spawned",
            "units_failed = units_failed + :failed",
        ]
    else:
        parts.append("#status = :failed_status")
    for index, (kind, counts) in enumerate(sorted(report.counts.items())):
        for name, value in counts.as_dict().items():
            if value:
                names[f"#k{index}"] = kind.label
                values[f":k{index}{name}"] = value
                parts.append(f"counts.#k{index}.{name} = counts.#k{index}.{name} + :k{index}{name}")
    if report.error is not None:
        names["#error"] = f"{report.error.kind}:{report.error.code}"
        values[":error"] = report.error.model_dump(exclude={"count"})
        values[":zero_errors"] = 0
        values[":one"] = 1
        parts += [
            "errors.#error = :error",
            "error_counts.#error = if_not_exists(error_counts.#error, :zero_errors) + :one",
        ]
    return "SET " + ", ".join(parts), names, values


# --- Items as models ----------------------------------------------------------------------------------------------


def _run(item: Mapping[str, Any]) -> SyncRun:
    data = plain_values(item)
    counts = data.get("error_counts", {})
    errors = [
        RunError(**{**error, "count": counts.get(key, 1)}) for key, error in sorted(data.get("errors", {}).items())
    ]
    fields = {name: value for name, value in data.items() if name in SyncRun.model_fields and name != "errors"}
    return SyncRun(**fields, errors=errors)


def _old_item(error: ClientError) -> dict[str, Any]:
    """The item a failed condition found (``ReturnValuesOnConditionCheckFailure``), in DynamoDB's wire format."""
    wire: Mapping[str, Any] = error.response.get("Item") or {}  # type: ignore[assignment]
    deserializer = TypeDeserializer()
    return {name: plain_values(deserializer.deserialize(value)) for name, value in wire.items()}


def _imported(item: Mapping[str, Any]) -> ImportedProject:
    return ImportedProject(
        gid=str(item["sk"]),
        name=_optional(item.get("name")),
        imported_by=str(item["imported_by"]),
        imported_at=str(item["imported_at"]),
    )


def _optional(value: object) -> str | None:
    return str(value) if value is not None else None
