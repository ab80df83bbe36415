"""The access token of a stored connection, kept fresh without refresh storms or reconnect loops.

``ConnectionTokenSource`` is the ``AccessTokenSource`` the REST client asks for a bearer token:

* **Ahead of expiry.** A token with less than ``REFRESH_MARGIN_SECONDS`` (or half its lifetime, if that is shorter)
  left is refreshed before use, so callers rarely see Asana's "bearer token has expired" 401 at all.
* **After a 401.** ``renew_after_rejection`` refreshes even a token that looks fresh (revoked early, clock skew), unless
  another Lambda already replaced it — then that replacement is used.
* **Single flight across Lambdas.** Refreshing takes a lease on the item with a conditional write; whoever gets it
  re-reads the item (a refresh may have landed between our read and the lease) and refreshes only if still needed.
  Everyone else polls the item until a new token appears, bounded by the lease and the Lambda's remaining time.
* **Permanent failure.** ``invalid_grant`` marks the connection ``needs_reconnect`` and raises the seed's
  "Authentication failed". A connection in that state is never refreshed again until reconnected: later calls fail
  at once, without contacting Asana. No reconnect link is made here: only the service acting for a caller knows
  whether that caller may start Connect, so it attaches the link when it catches the error.
* **Transient failure.** The lease is released with a short cooldown (so an Asana outage costs one refresh attempt per
  connection per cooldown, not one per request) and the error surfaces; the connection is not marked.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from aws_lambda_powertools.metrics import MetricUnit

from asana_integration.asana.errors import RefreshTokenInvalid
from asana_integration.asana.oauth import OAuthEndpoints
from asana_integration.errors import AsanaAuthenticationFailed, AsanaUnavailable, IntegrationError
from asana_integration.models.connections import ConnectionKey, Status
from asana_integration.models.credentials import OrgCredentials
from asana_integration.observability import logger, metrics
from asana_integration.stores.connections import ConnectionRecord, ConnectionStore

REFRESH_MARGIN_SECONDS = 300
# Longer than one refresh can take (the token request's timeout plus a KMS call or two), so a live holder never
# loses it; short enough that a Lambda killed mid-refresh blocks the others only briefly.
LEASE_SECONDS = 30
POLL_INTERVAL_SECONDS = 0.2
FAILURE_COOLDOWN_SECONDS = 30
# Time kept free for the function to answer after giving up waiting for another Lambda's refresh.
REMAINING_TIME_RESERVE_MS = 3000


@dataclass(frozen=True, slots=True)
class _Current:
    access_token: str = field(repr=False)
    token_id: str
    access_expires_at: int
    lifetime: int


class ConnectionTokenSource:
    def __init__(
        self,
        store: ConnectionStore,
        endpoints: OAuthEndpoints,
        credentials: OrgCredentials,
        key: ConnectionKey,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        remaining_time_ms: Callable[[], int] | None = None,
        record: ConnectionRecord | None = None,
        lease_seconds: int = LEASE_SECONDS,
        poll_interval: float = POLL_INTERVAL_SECONDS,
    ) -> None:
        self._store = store
        self._endpoints = endpoints
        self._credentials = credentials
        self._key = key
        self._clock = clock
        self._sleep = sleep
        self._remaining_time_ms = remaining_time_ms
        self._lease_seconds = lease_seconds
        self._poll_interval = poll_interval
        # Unique per source: a lease is held by one invocation, not by one Lambda container.
        self._owner = uuid.uuid4().hex
        self._current: _Current | None = None
        self._refreshed_here: set[str] = set()
        # The item as the caller has just read it (for the connection's status): the first read uses it instead of
        # reading again. Every later read, and the re-read under the lease, goes to the table.
        self._prefetched = record

    def __repr__(self) -> str:
        return f"ConnectionTokenSource(org_id={self._key.org_id!r}, purpose={self._key.purpose.value!r})"

    # --- AccessTokenSource ---------------------------------------------------------------------------------------

    def access_token(self) -> str:
        current = self._current
        if current is not None and self._fresh(current.access_expires_at, current.lifetime):
            return current.access_token
        return self._obtain(rejected_token_id=None)

    def renew_after_rejection(self, rejected: str) -> str | None:
        current = self._current
        if current is not None and current.access_token == rejected:
            if current.token_id in self._refreshed_here:
                # We minted this token ourselves moments ago and Asana still refuses it: the authorization itself is
                # broken (app removed, user deactivated). Another refresh would only repeat that, so stop here.
                raise AsanaAuthenticationFailed()
            return self._obtain(rejected_token_id=current.token_id)
        # Not the token we hold now (another call on this source renewed it meanwhile, or none was handed out yet): the
        # stored one counts as rejected only if it is that token.
        record = self._read_active()
        stored = self._store.access_token(record)
        if stored != rejected:
            return self._adopt(record, stored)
        return self._obtain(rejected_token_id=record.token_id)

    # --- single flight -------------------------------------------------------------------------------------------

    def _obtain(self, rejected_token_id: str | None) -> str:
        deadline = self._wait_deadline()
        while True:
            record = self._read_active()
            now = self._clock()
            if self._usable(record, rejected_token_id, now):
                return self._adopt(record)
            if record.lease_free(now):
                if record.refresh_retry_after > now:
                    raise _cooling_down(int(record.refresh_retry_after - now) + 1)
                if self._store.acquire_lease(self._key, self._owner, self._lease_seconds):
                    return self._refresh_holding_lease(rejected_token_id)
            left = deadline - self._clock()
            if left <= 0:
                metrics.add_metric(name="TokenRefreshWaitTimedOut", unit=MetricUnit.Count, value=1)
                raise AsanaUnavailable(
                    "Another request is renewing the Asana token and did not finish in time.",
                    "Try again in a few seconds.",
                    code="token_refresh_in_progress",
                    retry_after=5,
                )
            # Jitter spreads the waiters' reads (it protects nothing secret); never past the deadline, whose reserve
            # is the function's time to answer.
            self._sleep(min(self._poll_interval * random.uniform(0.5, 1.5), left))  # noqa: S311

    def _refresh_holding_lease(self, rejected_token_id: str | None) -> str:
        try:
            # Re-read under the lease: another Lambda may have refreshed between our read and our lease.
            record = self._store.get(self._key)
        except BaseException:
            self._store.release_lease(self._key, self._owner)
            raise
        if record is None or record.status is not Status.ACTIVE:
            self._store.release_lease(self._key, self._owner)
            raise AsanaAuthenticationFailed()
        if self._usable(record, rejected_token_id, self._clock()):
            self._store.release_lease(self._key, self._owner)
            return self._adopt(record)
        try:
            grant = self._endpoints.refresh(self._credentials, self._store.refresh_token(record))
        except RefreshTokenInvalid as error:
            self._mark_needs_reconnect(record, error.oauth_error)
            raise AsanaAuthenticationFailed() from None
        except IntegrationError as error:
            self._store.release_lease(self._key, self._owner, retry_after=int(self._clock()) + FAILURE_COOLDOWN_SECONDS)
            metrics.add_metric(name="TokenRefreshFailed", unit=MetricUnit.Count, value=1)
            logger.warning(
                "asana token refresh failed; retrying after a cooldown",
                extra={**self._log_context(), "error_code": error.code},
            )
            raise
        except BaseException:
            self._store.release_lease(self._key, self._owner)
            raise

        now = int(self._clock())
        expires_at = now + grant.expires_in
        token_id = self._store.save_refreshed(
            self._key,
            self._owner,
            access_token=grant.access_token,
            refresh_token=grant.refresh_token,
            access_expires_at=expires_at,
        )
        if token_id is None:
            # The lease expired under us or the connection was replaced or removed meanwhile. The new token is
            # valid, so this invocation uses it, but the item is left to whoever owns it now.
            logger.warning("refreshed asana token not stored: the lease was lost", extra=self._log_context())
            token_id = f"unsaved-{uuid.uuid4().hex}"
        metrics.add_metric(name="TokenRefreshed", unit=MetricUnit.Count, value=1)
        logger.info(
            "asana token refreshed",
            extra={**self._log_context(), "rotated_refresh_token": grant.refresh_token is not None},
        )
        self._refreshed_here.add(token_id)
        self._current = _Current(grant.access_token, token_id, expires_at, grant.expires_in)
        return grant.access_token

    # --- helpers -------------------------------------------------------------------------------------------------

    def _read_active(self) -> ConnectionRecord:
        record = self._prefetched if self._prefetched is not None else self._store.get(self._key)
        self._prefetched = None
        if record is None or record.status is not Status.ACTIVE:
            # Disconnected, or already known dead: fail fast, never call Asana for it again.
            raise AsanaAuthenticationFailed()
        return record

    def _usable(self, record: ConnectionRecord, rejected_token_id: str | None, now: float) -> bool:
        if record.token_id == rejected_token_id:
            return False
        return self._fresh(record.access_expires_at, record.access_expires_at - record.updated_at, now)

    def _fresh(self, expires_at: int, lifetime: int, now: float | None = None) -> bool:
        # Half the lifetime when that is shorter than the margin: a token issued for less than 10 minutes would
        # otherwise count as expiring the moment it is issued, and every call would refresh it.
        margin = min(REFRESH_MARGIN_SECONDS, max(lifetime, 0) // 2)
        return expires_at - margin > (self._clock() if now is None else now)

    def _adopt(self, record: ConnectionRecord, token: str | None = None) -> str:
        """Use ``record``'s access token from now on (``token``: already decrypted, saves a KMS call)."""
        token = token if token is not None else self._store.access_token(record)
        self._current = _Current(
            token, record.token_id, record.access_expires_at, record.access_expires_at - record.updated_at
        )
        return token

    def _mark_needs_reconnect(self, record: ConnectionRecord, reason: str) -> None:
        # Marking also frees our lease. When it does not mark, the item was reconnected or removed while we refreshed
        # (a reconnect writes a new item without a lease) and the new connection is not ours to flag: either way no
        # lease of ours is left to release.
        marked = self._store.mark_needs_reconnect(self._key, refresh_token_ct=record.refresh_token_ct, reason=reason)
        metrics.add_metric(name="ConnectionNeedsReconnect", unit=MetricUnit.Count, value=1)
        logger.warning(
            "asana refresh token rejected; connection needs a reconnect",
            extra={**self._log_context(), "oauth_error": reason, "marked": marked},
        )

    def _wait_deadline(self) -> float:
        budget = self._lease_seconds + 2 * self._poll_interval
        if self._remaining_time_ms is not None:
            budget = min(budget, (self._remaining_time_ms() - REMAINING_TIME_RESERVE_MS) / 1000)
        return self._clock() + max(budget, 0.0)

    def _log_context(self) -> dict[str, str]:
        context = {"org_id": self._key.org_id, "purpose": self._key.purpose.value}
        if self._key.user_id is not None:
            context["user_id"] = self._key.user_id
        return context


def _cooling_down(retry_after: int) -> AsanaUnavailable:
    return AsanaUnavailable(
        "Renewing the Asana token failed moments ago; it will be retried shortly.",
        "Try again in a minute. If it keeps failing, check https://status.asana.com and the proxy settings.",
        code="token_refresh_cooling_down",
        retry_after=retry_after,
    )
