"""Which OAuth connection: the organization's own (made by an admin) or one user's, and the states it can be in."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Purpose(StrEnum):
    ORGANIZATION = "organization"
    PERSONAL = "personal"


class Status(StrEnum):
    ACTIVE = "active"
    NEEDS_RECONNECT = "needs_reconnect"


@dataclass(frozen=True, slots=True)
class ConnectionKey:
    org_id: str
    user_id: str | None  # None for the organization connection

    @classmethod
    def organization(cls, org_id: str) -> ConnectionKey:
        return cls(org_id, None)

    @classmethod
    def personal(cls, org_id: str, user_id: str) -> ConnectionKey:
        return cls(org_id, user_id)

    @classmethod
    def for_purpose(cls, org_id: str, purpose: Purpose, user_id: str) -> ConnectionKey:
        return cls.organization(org_id) if purpose is Purpose.ORGANIZATION else cls.personal(org_id, user_id)

    @property
    def purpose(self) -> Purpose:
        return Purpose.ORGANIZATION if self.user_id is None else Purpose.PERSONAL
