"""The organization's mirrored Asana users, each with the SecureDB user it maps to, and admins' manual mappings.

Everything is read per request (the mirrored users, the manual mappings, the organization's connections, the users
who signed in): four queries of the caller's own partitions, so a new connection, sign-in or sync shows at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from asana_integration.errors import NotFound
from asana_integration.mapping.matching import ConnectedAccount, UserMatcher
from asana_integration.mapping.models import (
    AsanaUserView,
    SecureDbUserView,
    StatusCounts,
    UserMappingView,
    UsersPage,
    UserStatus,
)
from asana_integration.models.mirror import MirroredItem, MirrorKind
from asana_integration.stores.connections import ConnectionStore
from asana_integration.stores.mirror import MAX_PAGE_LIMIT, MirrorStore
from asana_integration.stores.mirror_lookup import MirrorLookup
from asana_integration.stores.signed_in_users import SignedInUserStore
from asana_integration.stores.user_mappings import ManualMappingStore


class UserDirectory:
    def __init__(
        self,
        mirror: MirrorStore,
        lookup: MirrorLookup,
        manual: ManualMappingStore,
        signed_in: SignedInUserStore,
        connections: ConnectionStore,
    ) -> None:
        self._mirror = mirror
        self._lookup = lookup
        self._manual = manual
        self._signed_in = signed_in
        self._connections = connections

    def page(self, org_id: str, *, status: UserStatus | None, offset: str | None, limit: int) -> UsersPage:
        """Users in gid order after ``offset`` (the last gid of the previous page), optionally of one status."""
        matcher = self._matcher(org_id)
        users = [self._view(user, matcher) for user in self._all_users(org_id)]
        counts: Counter[str] = Counter(user.status for user in users)
        selected = [
            user
            for user in users
            if (status is None or user.status == status) and (offset is None or user.gid > offset)
        ]
        shown = selected[:limit]
        return UsersPage(
            data=shown,
            next_offset=shown[-1].gid if len(selected) > limit else None,
            counts=StatusCounts(**counts),
            securedb_users=None if offset else self._securedb_users(org_id),
        )

    def set_mapping(
        self, org_id: str, asana_user_gid: str, securedb_user_id: str | None, *, admin_id: str
    ) -> AsanaUserView:
        """Map the Asana user by hand, or with ``None`` drop the manual mapping so matching applies again."""
        user = self._lookup.get(org_id, MirrorKind.USER, asana_user_gid)
        if user is None:
            raise NotFound(
                f"No Asana user {asana_user_gid} has been synced for your organization.",
                "Run a sync (Start now) and pick the user from the list of synced Asana users.",
            )
        if securedb_user_id is None:
            self._manual.delete(org_id, asana_user_gid)
        else:
            self._manual.put(org_id, asana_user_gid, securedb_user_id, set_by=admin_id)
        return self._view(user, self._matcher(org_id))

    # --- Reading -----------------------------------------------------------------------------------------------------

    def _all_users(self, org_id: str) -> Iterator[MirroredItem]:
        offset: str | None = None
        while True:
            page = self._mirror.page(org_id, MirrorKind.USER, offset=offset, limit=MAX_PAGE_LIMIT, include_deleted=True)
            yield from page.items
            if page.next_offset is None:
                return
            offset = page.next_offset

    def _matcher(self, org_id: str) -> UserMatcher:
        connected = [
            ConnectedAccount(record.asana_user.gid, record.connected_by, record.connected_at)
            for record in self._connections.list_organization(org_id)
        ]
        return UserMatcher(self._manual.all(org_id), connected, self._signed_in.users(org_id))

    def _securedb_users(self, org_id: str) -> list[SecureDbUserView]:
        users = sorted(self._signed_in.users(org_id), key=lambda user: (user.email, user.user_id))
        return [
            SecureDbUserView(id=user.user_id, email=user.email, name=user.name, last_seen_at=user.last_seen_at)
            for user in users
        ]

    @staticmethod
    def _view(user: MirroredItem, matcher: UserMatcher) -> AsanaUserView:
        email, name = (value if isinstance(value := user.data.get(field), str) else None for field in ("email", "name"))
        match = matcher.match(user.gid, email)
        status: UserStatus = "deactivated" if user.deleted_at else "mapped" if match else "unmatched"
        return AsanaUserView(
            gid=user.gid,
            name=name,
            email=email,
            status=status,
            deactivated_at=user.deleted_at,
            mapping=UserMappingView(
                securedb_user_id=match.securedb_user_id, method=match.method, set_by=match.set_by, set_at=match.set_at
            )
            if match
            else None,
        )
