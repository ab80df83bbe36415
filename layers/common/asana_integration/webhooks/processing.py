"""The consumer's work for one Asana event: re-fetch the resource it names, and apply what Asana has now to the mirror.

Asana's events are compact (a gid, an action, at most a field name) and may repeat or arrive out of order, so an
event is only a hint of *what* to look at: the resource is fetched with the organization's identity, with the same
fields the sync mirrors (``sync/entities.py``), and written through ``MirrorStore`` (hash-compared: the same state
written twice is one write). Gone (deleted, or 403/404 for this identity) becomes a tombstone, as in the sync.

What the mirror keeps, by resource type:

* ``task``: only in the partitions of *imported* projects. A task event when the organization imports no project the
  task is (or was) in writes nothing, and calls Asana for nothing.
* ``project``: every project of the organization (its fields; its tasks only when imported).
* ``team`` and ``team_membership`` (the team's memberships are re-listed), ``user``, ``workspace``.
* Anything else (stories, sections, tags…) is not mirrored and is ignored; a renamed section's tasks are corrected by
  the next incremental sync, which follows section changes.

An organization whose Asana identity is missing or dead cannot be read: its events are skipped, not retried (the sync
records that failure for the admin, and reconciles once the connection is back). Asana being unavailable or rate
limiting raises, so the message is retried later, and ends in the dead-letter queue if that never succeeds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit

from asana_integration.asana.client import AsanaClient
from asana_integration.errors import AsanaAuthenticationFailed, AsanaForbidden, AsanaNotFound, ConnectionRequired
from asana_integration.models.mirror import MirrorEntity, MirrorKind
from asana_integration.observability import logger, metrics
from asana_integration.stores.mirror import MirrorStore
from asana_integration.sync import entities

Effect = Literal["applied", "ignored", "skipped"]
ClientFactory = Callable[[str], AsanaClient]
ImportedProjects = Callable[[str], Iterable[str]]

_GONE = object()  # a fetched resource Asana no longer shows this identity


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one event did; stored by the idempotency record, so a redelivered event is answered from it."""

    resource_type: str
    gid: str
    effect: Effect
    written: int = 0  # mirror items created, changed or tombstoned
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "resource_type": self.resource_type,
            "gid": self.gid,
            "effect": self.effect,
            "written": self.written,
            "reason": self.reason,
        }


class EventApplier:
    """Applies the events of one consumer invocation.

    Clients, imports and fetched resources are remembered for that invocation only: several events about one task in
    a batch cost one read, and nothing outlives the batch (a new PAT or a new import is seen by the next one).
    """

    def __init__(self, mirror: MirrorStore, imported_projects: ImportedProjects, client_for: ClientFactory) -> None:
        self._mirror = mirror
        self._imported_projects = imported_projects
        self._client_for = client_for
        self._clients: dict[str, AsanaClient] = {}
        self._imports: dict[str, frozenset[str]] = {}
        self._fetched: dict[tuple[str, str], Any] = {}

    def apply(self, org_id: str, event: Mapping[str, Any]) -> Outcome:
        resource = event.get("resource")
        resource_type = resource.get("resource_type") if isinstance(resource, Mapping) else None
        gid = resource.get("gid") if isinstance(resource, Mapping) else None
        if not isinstance(resource_type, str) or not _is_gid(gid):
            return Outcome(str(resource_type), str(gid), "ignored", reason="malformed_event")
        handler = self._HANDLERS.get(resource_type)
        if handler is None:
            return Outcome(resource_type, str(gid), "ignored", reason="not_mirrored")
        try:
            return handler(self, org_id, str(gid), event)
        except (ConnectionRequired, AsanaAuthenticationFailed) as error:
            # Retrying cannot help until an admin reconnects; the sync reports it and reconciles afterwards.
            logger.warning(
                "webhook event skipped: no usable Asana identity", extra={"org_id": org_id, "code": error.code}
            )
            metrics.add_metric(name="WebhookEventsSkipped", unit=MetricUnit.Count, value=1)
            return Outcome(resource_type, str(gid), "skipped", reason=error.code)

    # --- Per resource type ------------------------------------------------------------------------------------------

    def _task(self, org_id: str, gid: str, event: Mapping[str, Any]) -> Outcome:
        imported = self._imported(org_id)
        if not imported:
            return Outcome("task", gid, "ignored", reason="no_imported_project")
        record = self._fetch(org_id, f"/tasks/{gid}", entities.TASK_FIELDS)
        written = 0
        if record is _GONE:
            for project_gid in sorted(imported):
                written += self._mirror.tombstone_one(org_id, MirrorKind.TASK, project_gid, gid)
            return Outcome("task", gid, "applied", written)
        in_projects = {
            member_of
            for membership in record.get("memberships") or []
            if isinstance(membership, Mapping) and (member_of := _ref(membership.get("project")))
        }
        for project_gid in sorted(in_projects & imported):
            written += self._upsert(org_id, MirrorKind.TASK, project_gid, entities.task(record, project_gid))
        parent = event.get("parent")
        left = _ref(parent) if isinstance(parent, Mapping) and parent.get("resource_type") == "project" else None
        if event.get("action") == "removed" and left in imported and left not in in_projects:
            written += self._mirror.tombstone_one(org_id, MirrorKind.TASK, left, gid)
        return Outcome("task", gid, "applied", written)

    def _project(self, org_id: str, gid: str, event: Mapping[str, Any]) -> Outcome:
        record = self._fetch(org_id, f"/projects/{gid}", entities.PROJECT_FIELDS)
        if record is not _GONE:
            return Outcome(
                "project", gid, "applied", self._upsert(org_id, MirrorKind.PROJECT, None, entities.project(record))
            )
        written = int(self._mirror.tombstone_one(org_id, MirrorKind.PROJECT, None, gid))
        if gid in self._imported(org_id):  # its mirrored tasks go with it, as in the sync
            written += self._mirror.apply(org_id, MirrorKind.TASK, gid, [], seen_complete=True).deleted
        return Outcome("project", gid, "applied", written)

    def _team(self, org_id: str, gid: str, event: Mapping[str, Any]) -> Outcome:
        record = self._fetch(org_id, f"/teams/{gid}", entities.TEAM_FIELDS)
        if record is not _GONE:
            return Outcome("team", gid, "applied", self._upsert(org_id, MirrorKind.TEAM, None, entities.team(record)))
        written = int(self._mirror.tombstone_one(org_id, MirrorKind.TEAM, None, gid))
        written += self._mirror.apply(org_id, MirrorKind.MEMBERSHIP, gid, [], seen_complete=True).deleted
        return Outcome("team", gid, "applied", written)

    def _team_membership(self, org_id: str, gid: str, event: Mapping[str, Any]) -> Outcome:
        """A member joined or left a team: the team's memberships are listed again (a removed membership can no
        longer be read, and the mirror keys memberships by team and user, not by Asana's membership gid)."""
        parent = event.get("parent")
        team_gid = _ref(parent) if isinstance(parent, Mapping) and parent.get("resource_type") == "team" else None
        if team_gid is None:
            membership = self._fetch(org_id, f"/team_memberships/{gid}", ("team",))
            team_gid = _ref(membership.get("team")) if membership is not _GONE else None
        if team_gid is None:
            return Outcome("team_membership", gid, "ignored", reason="team_unknown")
        client = self._client(org_id)
        try:
            members = [
                entities.membership(record, team_gid)
                for record in client.iterate(
                    "/team_memberships", {"team": team_gid}, opt_fields=entities.MEMBERSHIP_FIELDS
                )
            ]
        except (AsanaNotFound, AsanaForbidden):
            members = []  # the team is gone for this identity: so are its memberships
        counts = self._mirror.apply(org_id, MirrorKind.MEMBERSHIP, team_gid, members, seen_complete=True)
        return Outcome("team_membership", gid, "applied", counts.written)

    def _user(self, org_id: str, gid: str, event: Mapping[str, Any]) -> Outcome:
        record = self._fetch(org_id, f"/users/{gid}", entities.USER_FIELDS)
        if record is _GONE or not record.get("workspaces"):
            # Deactivated or removed from every workspace this identity sees: the sync's rule for a user.
            return Outcome("user", gid, "applied", int(self._mirror.tombstone_one(org_id, MirrorKind.USER, None, gid)))
        return Outcome("user", gid, "applied", self._upsert(org_id, MirrorKind.USER, None, entities.user(record)))

    def _workspace(self, org_id: str, gid: str, event: Mapping[str, Any]) -> Outcome:
        record = self._fetch(org_id, f"/workspaces/{gid}", entities.WORKSPACE_FIELDS)
        if record is _GONE:
            return Outcome(
                "workspace", gid, "applied", int(self._mirror.tombstone_one(org_id, MirrorKind.WORKSPACE, None, gid))
            )
        return Outcome(
            "workspace", gid, "applied", self._upsert(org_id, MirrorKind.WORKSPACE, None, entities.workspace(record))
        )

    _HANDLERS: Mapping[str, Callable[[EventApplier, str, str, Mapping[str, Any]], Outcome]] = {
        "task": _task,
        "project": _project,
        "team": _team,
        "team_membership": _team_membership,
        "user": _user,
        "workspace": _workspace,
    }

    # --- Reads and writes, remembered for the invocation ---------------------------------------------------------

    def _client(self, org_id: str) -> AsanaClient:
        if org_id not in self._clients:
            self._clients[org_id] = self._client_for(org_id)
        return self._clients[org_id]

    def _imported(self, org_id: str) -> frozenset[str]:
        if org_id not in self._imports:
            self._imports[org_id] = frozenset(self._imported_projects(org_id))
        return self._imports[org_id]

    def _fetch(self, org_id: str, path: str, fields: Iterable[str]) -> Any:
        """The resource's current state, or ``_GONE`` when Asana shows it no longer (404, or 403 for this identity)."""
        key = (org_id, path)
        if key not in self._fetched:
            try:
                self._fetched[key] = self._client(org_id).get(path, opt_fields=list(fields))
            except (AsanaNotFound, AsanaForbidden):
                self._fetched[key] = _GONE
        return self._fetched[key]

    def _upsert(self, org_id: str, kind: MirrorKind, parent: str | None, entity: MirrorEntity) -> int:
        return int(self._mirror.upsert_one(org_id, kind, parent, entity) != "unchanged")


def _is_gid(value: object) -> bool:
    # Asana gids are digits; anything else never reaches a URL path.
    return isinstance(value, str) and 0 < len(value) <= 32 and value.isascii() and value.isdigit()


def _ref(value: object) -> str | None:
    if isinstance(value, Mapping) and _is_gid(value.get("gid")):
        return str(value["gid"])
    return None
