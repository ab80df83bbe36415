"""All sandbox state for one instance: resources, OAuth apps, codes and tokens, PATs and OAuth switches.

One lock guards everything: the server is threaded (webhook handshakes will need concurrent requests), and the
operations are tiny, so coarse locking is simpler and safe.
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
    Team,
    User,
    Workspace,
)

DEFAULT_ACCESS_TOKEN_TTL_SECONDS = 3600
# Asana does not document the code lifetime; ten minutes is the usual OAuth choice (RFC 6749 §4.1.2).
AUTHORIZATION_CODE_TTL_SECONDS = 600


class SandboxStore:
    def __init__(self, clock: SandboxClock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        data = demo.build_demo_data()
        self.workspaces: dict[str, Workspace] = {w.gid: w for w in data.workspaces}
        self.users: dict[str, User] = {u.gid: u for u in data.users}
        self.teams: dict[str, Team] = {t.gid: t for t in data.teams}
        self.projects: dict[str, Project] = {p.gid: p for p in data.projects}
        self.apps: dict[str, OAuthApp] = {a.client_id: a for a in data.apps}
        self.pats: dict[str, str] = dict(data.pats)
        self.codes: dict[str, AuthorizationCode] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.reset_switches()

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

    def team_members(self, team_gid: str) -> list[User]:
        team = self.teams.get(team_gid)
        return [self.users[gid] for gid in team.member_gids if gid in self.users] if team else []

    def find_user(self, ref: str) -> User | None:
        """Asana's user path parameter: a gid or an email ("me" is resolved by the caller)."""
        if ref in self.users:
            return self.users[ref]
        return next((u for u in self.users.values() if u.email.lower() == ref.lower()), None)

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
            return Principal(access.user_gid, access.scopes)
