"""All sandbox state for one instance: resources, OAuth apps, codes and tokens, PATs and OAuth switches.

One lock guards everything: the server is threaded (webhook handshakes will need concurrent requests), and the
operations are tiny, so coarse locking is simpler and safe. Listings copy what they read under the lock, so a write
landing mid-request never changes a dict being iterated.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable

from local.asana_sandbox import demo
from local.asana_sandbox.clock import SandboxClock
from local.asana_sandbox.errors import EXPIRED_BEARER_TOKEN, NOT_AUTHORIZED, AsanaError
from local.asana_sandbox.models import (
    AccessToken,
    AuthorizationCode,
    OAuthApp,
    Principal,
    Project,
    RefreshToken,
    Section,
    Task,
    Team,
    TeamMembership,
    User,
    Workspace,
)

DEFAULT_ACCESS_TOKEN_TTL_SECONDS = 3600
# Asana does not document the code lifetime; ten minutes is the usual OAuth choice (RFC 6749 §4.1.2).
AUTHORIZATION_CODE_TTL_SECONDS = 600
# Resources created while the sandbox runs get gids from here up (demo and generated gids all start with 12xx).
NEW_GID_BASE = 1300000000000000


class SandboxStore:
    def __init__(self, clock: SandboxClock, data: demo.DemoData | None = None) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        data = data or demo.build_demo_data()
        self.apps: dict[str, OAuthApp] = {a.client_id: a for a in data.apps}
        self.pats: dict[str, str] = dict(data.pats)
        self.codes: dict[str, AuthorizationCode] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.load(data)
        self.reset_switches()

    def load(self, data: demo.DemoData) -> None:
        """Replace every Asana resource with `data`'s; apps, PATs and issued tokens stay (their users must too)."""
        with self.lock:
            self.workspaces: dict[str, Workspace] = {w.gid: w for w in data.workspaces}
            self.users: dict[str, User] = {u.gid: u for u in data.users}
            self.teams: dict[str, Team] = {t.gid: t for t in data.teams}
            self.team_memberships: dict[str, TeamMembership] = {}
            self.memberships_by_team: dict[str, dict[str, TeamMembership]] = {gid: {} for gid in self.teams}
            for membership in data.team_memberships:
                self.add_team_membership(membership)
            self.projects: dict[str, Project] = {p.gid: p for p in data.projects}
            self.sections: dict[str, Section] = {s.gid: s for s in data.sections}
            self.tasks: dict[str, Task] = {t.gid: t for t in data.tasks}
            # Deleted tasks and projects, restorable as from Asana's trash (see changes.py).
            self.trashed_tasks: dict[str, Task] = {}
            self.trashed_projects: dict[str, Project] = {}
            # Gids for resources created at run time: above every generated one, so they never collide.
            self._next_gid = NEW_GID_BASE

    def new_gid(self) -> str:
        with self.lock:
            self._next_gid += 1
            return str(self._next_gid)

    def add_team_membership(self, membership: TeamMembership) -> None:
        with self.lock:
            self.team_memberships[membership.gid] = membership
            self.memberships_by_team.setdefault(membership.team_gid, {})[membership.user_gid] = membership

    def remove_team_membership(self, membership: TeamMembership) -> None:
        with self.lock:
            self.team_memberships.pop(membership.gid, None)
            self.memberships_by_team.get(membership.team_gid, {}).pop(membership.user_gid, None)

    def reset_switches(self) -> None:
        with self.lock:
            self.access_token_ttl_seconds: float = DEFAULT_ACCESS_TOKEN_TTL_SECONDS
            self.rotate_refresh_tokens = False
            self.fail_all_refreshes = False
            self.failing_refresh_tokens: set[str] = set()

    def fail_refreshes(self, enabled: bool = True, refresh_token: str | None = None) -> None:
        """Make refresh grants answer 400 invalid_grant: all of them (or none again), or only for one refresh token."""
        with self.lock:
            if refresh_token is not None:
                self.failing_refresh_tokens.add(refresh_token)
            else:
                self.fail_all_refreshes = enabled

    # --- Lookups (the render.Lookup protocol) ---------------------------------------------------------------------
    def workspace(self, gid: str) -> Workspace | None:
        return self.workspaces.get(gid)

    def user(self, gid: str) -> User | None:
        return self.users.get(gid)

    def team(self, gid: str) -> Team | None:
        return self.teams.get(gid)

    def project(self, gid: str) -> Project | None:
        return self.projects.get(gid)

    def section(self, gid: str) -> Section | None:
        return self.sections.get(gid)

    def is_team_member(self, team_gid: str, user_gid: str) -> bool:
        return user_gid in self.memberships_by_team.get(team_gid, {})

    def team_members(self, team_gid: str) -> list[User]:
        with self.lock:
            members = list(self.memberships_by_team.get(team_gid, {}))
        return [self.users[gid] for gid in members if gid in self.users]

    def project_tasks(self, project: Project) -> list[Task]:
        """A project's tasks in Asana's order: section by section, top to bottom."""
        with self.lock:
            return [self.tasks[gid] for s in project.section_gids for gid in self.sections[s].task_gids]

    def find_user(self, ref: str) -> User | None:
        """Asana's user path parameter: a gid or an email ("me" is resolved by the caller)."""
        if ref in self.users:
            return self.users[ref]
        wanted = ref.lower()
        return next((u for u in self.users.values() if u.email is not None and u.email.lower() == wanted), None)

    # --- PATs -----------------------------------------------------------------------------------------------------
    def issue_pat(self, user_gid: str) -> str:
        if user_gid not in self.users:
            raise KeyError(f"unknown user {user_gid}")
        token = f"2/{user_gid}/{secrets.randbelow(10**15) + 10**15}:{secrets.token_hex(16)}"
        with self.lock:
            self.pats[token] = user_gid
        return token

    def revoke_pat(self, token: str) -> bool:
        with self.lock:
            return self.pats.pop(token, None) is not None

    # --- OAuth apps -----------------------------------------------------------------------------------------------
    def register_app(
        self,
        name: str,
        redirect_uris: Iterable[str],
        *,
        full_permissions: bool = True,
        scopes: Iterable[str] = (),
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> OAuthApp:
        scope_set = frozenset(scopes)
        if full_permissions and scope_set:
            raise ValueError("Asana apps have either full permissions or granular scopes, not both")
        app = OAuthApp(
            client_id=client_id or str(1209100000000000 + secrets.randbelow(10**12)),
            client_secret=client_secret or secrets.token_hex(16),
            name=name,
            redirect_uris=list(redirect_uris),
            full_permissions=full_permissions,
            scopes=scope_set,
        )
        with self.lock:
            self.apps[app.client_id] = app
        return app

    def add_redirect_uri(self, client_id: str, redirect_uri: str) -> None:
        with self.lock:
            uris = self.apps[client_id].redirect_uris
            if redirect_uri not in uris:
                uris.append(redirect_uri)

    def check_client(self, client_id: str, client_secret: str) -> OAuthApp | None:
        app = self.apps.get(client_id)
        if app is None or not secrets.compare_digest(app.client_secret.encode(), client_secret.encode()):
            return None
        return app

    # --- Codes and tokens -----------------------------------------------------------------------------------------
    def issue_code(
        self, client_id: str, redirect_uri: str, user_gid: str, scopes: tuple[str, ...], challenge: str | None
    ) -> str:
        code = secrets.token_urlsafe(24)
        expires_at = self.clock.now() + AUTHORIZATION_CODE_TTL_SECONDS
        with self.lock:
            self.codes[code] = AuthorizationCode(client_id, redirect_uri, user_gid, scopes, challenge, expires_at)
        return code

    def issue_refresh_token(self, client_id: str, user_gid: str, scopes: tuple[str, ...]) -> RefreshToken:
        refresh = RefreshToken(secrets.token_urlsafe(32), client_id, user_gid, scopes)
        with self.lock:
            self.refresh_tokens[refresh.token] = refresh
        return refresh

    def issue_access_token(self, refresh: RefreshToken) -> AccessToken:
        access = AccessToken(
            token=secrets.token_urlsafe(32),
            client_id=refresh.client_id,
            user_gid=refresh.user_gid,
            scopes=refresh.scopes,
            expires_at=self.clock.now() + self.access_token_ttl_seconds,
            refresh_token=refresh.token,
        )
        with self.lock:
            self.access_tokens[access.token] = access
        return access

    def revoke_refresh_token(self, token: str) -> RefreshToken | None:
        """Revoke a refresh token and every access token minted from it."""
        with self.lock:
            refresh = self.refresh_tokens.get(token)
            if refresh is None or refresh.revoked:
                return None
            refresh.revoked = True
            for access_token in [t for t, a in self.access_tokens.items() if a.refresh_token == token]:
                del self.access_tokens[access_token]
            return refresh

    def live_refresh_tokens(self, user_gid: str | None = None, client_id: str | None = None) -> list[RefreshToken]:
        with self.lock:
            return [
                r
                for r in self.refresh_tokens.values()
                if not r.revoked
                and (user_gid is None or r.user_gid == user_gid)
                and (client_id is None or r.client_id == client_id)
            ]

    def expire_access_tokens(self) -> int:
        """Make every current access token expired now (they then answer the expired-token 401)."""
        now = self.clock.now()
        with self.lock:
            for access in self.access_tokens.values():
                access.expires_at = min(access.expires_at, now)
            return len(self.access_tokens)

    # --- Authentication -------------------------------------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> Principal:
        """Resolve `Authorization: Bearer …` to a principal, or raise Asana's 401."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise AsanaError(401, NOT_AUTHORIZED)
        token = authorization[7:].strip()
        with self.lock:
            if token in self.pats:
                return Principal(self.pats[token], None)
            access = self.access_tokens.get(token)
            if access is None:
                raise AsanaError(401, NOT_AUTHORIZED)
            if self.clock.now() >= access.expires_at:
                raise AsanaError(401, EXPIRED_BEARER_TOKEN)
            return Principal(access.user_gid, access.scopes, access.client_id)
