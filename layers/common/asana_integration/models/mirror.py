"""The mirror of an organization's Asana data: what kinds it holds, one mirrored entity, and what applying a list did.

An entity is an Asana object reduced to the fields the integration keeps (``data``), with a content hash of exactly
those fields: the sync compares hashes and writes only what changed, so an unchanged organization costs no write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any


class MirrorKind(StrEnum):
    """The kinds of mirrored entity; the value is the kind's segment in the partition key."""

    WORKSPACE = "WORKSPACE"
    TEAM = "TEAM"
    MEMBERSHIP = "MEMBERSHIP"
    USER = "USER"
    PROJECT = "PROJECT"
    TASK = "TASK"

    @property
    def parent_in_partition(self) -> bool:
        """Tasks live in one partition per project (``ORG#<org>#TASK#<project gid>``): an import is removed whole."""
        return self is MirrorKind.TASK

    @property
    def parent_in_sort_key(self) -> bool:
        """Team memberships are keyed ``<team gid>#<user gid>``: one team's memberships are one key range."""
        return self is MirrorKind.MEMBERSHIP

    @property
    def needs_parent(self) -> bool:
        return self.parent_in_partition or self.parent_in_sort_key

    @property
    def label(self) -> str:
        """The plural the API and the run counts use: ``workspaces``, ``teams`` … ``tasks``."""
        return f"{self.value.lower()}s"


def content_hash(data: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``data`` (sorted keys, no spaces): equal data, equal hash, on any machine."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class MirrorEntity:
    """One Asana object as mirrored: its id within its kind (a gid; ``<team>#<user>`` for memberships) and data."""

    gid: str
    data: Mapping[str, Any]

    @cached_property
    def hash(self) -> str:
        return content_hash(self.data)


@dataclass(frozen=True, slots=True)
class Existing:
    """What the mirror already holds for a gid: enough to decide whether a write is needed."""

    hash: str
    deleted: bool = False


@dataclass(slots=True)
class MirrorCounts:
    """What applying entities did: created (new or back from a tombstone), updated, unchanged, deleted (tombstoned)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    @property
    def written(self) -> int:
        return self.created + self.updated + self.deleted

    def add(self, other: MirrorCounts) -> MirrorCounts:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.deleted += other.deleted
        return self

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged, "deleted": self.deleted}


@dataclass(frozen=True)
class MirroredItem:
    """An entity as read back from the mirror (the API's mirror read)."""

    gid: str
    data: Mapping[str, Any]
    synced_at: str
    deleted_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"gid": self.gid, **self.data, "synced_at": self.synced_at}
        if self.deleted_at is not None:
            body["deleted_at"] = self.deleted_at
        return body


@dataclass(frozen=True)
class MirrorPage:
    items: list[MirroredItem] = field(default_factory=list)
    next_offset: str | None = None
