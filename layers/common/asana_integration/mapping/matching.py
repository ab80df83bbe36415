"""Matching Asana users to SecureDB users, in order of certainty. Pure: the caller brings what is known.

1. ``manual``: an admin said so. It wins over everything, including a wrong automatic match it corrects.
2. ``connection``: the SecureDB user authorized SecureDB with this Asana account (a personal connection, or the
   organization connection they made), which Asana itself vouched for. When several did, the latest connection wins.
3. ``email``: the Asana user's email equals, ignoring case, the email claim a SecureDB user signed in with. Two
   SecureDB users with one email say nothing about which one it is, so that matches neither.

Asana users without a visible email (Asana hides it from some tokens) can still match through 1 and 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from asana_integration.stores.signed_in_users import SignedInUser
from asana_integration.stores.user_mappings import ManualMapping

Method = Literal["connection", "email", "manual"]


@dataclass(frozen=True, slots=True)
class Match:
    securedb_user_id: str
    method: Method
    set_by: str | None = None  # manual mappings only
    set_at: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectedAccount:
    """A SecureDB user who authorized SecureDB as an Asana user."""

    asana_user_gid: str
    securedb_user_id: str
    connected_at: int


class UserMatcher:
    def __init__(
        self,
        manual: Mapping[str, ManualMapping],
        connected: Iterable[ConnectedAccount],
        signed_in: Iterable[SignedInUser],
    ) -> None:
        self._manual = dict(manual)
        self._by_connection: dict[str, ConnectedAccount] = {}
        for account in connected:
            known = self._by_connection.get(account.asana_user_gid)
            if known is None or account.connected_at > known.connected_at:
                self._by_connection[account.asana_user_gid] = account
        by_email: dict[str, set[str]] = {}
        for user in signed_in:
            by_email.setdefault(user.email.lower(), set()).add(user.user_id)
        self._by_email = {email: next(iter(ids)) for email, ids in by_email.items() if len(ids) == 1}

    def match(self, asana_user_gid: str, email: str | None) -> Match | None:
        manual = self._manual.get(asana_user_gid)
        if manual is not None:
            return Match(manual.securedb_user_id, "manual", set_by=manual.set_by, set_at=manual.set_at)
        connected = self._by_connection.get(asana_user_gid)
        if connected is not None:
            return Match(connected.securedb_user_id, "connection")
        if email:
            user_id = self._by_email.get(email.strip().lower())
            if user_id is not None:
                return Match(user_id, "email")
        return None
