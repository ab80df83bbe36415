"""Records every request the sandbox answered, so tests can assert e.g. "exactly one refresh request".

Only method, path (never the query string), OAuth grant type and status are kept: no token or secret is recorded.
A Batch API action is recorded too, marked ``via_batch``: ``count`` counts the HTTP requests the sandbox received
unless asked to count the actions as well (as Asana's rate limit does).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    status: int
    grant_type: str | None = None
    via_batch: bool = False  # an action of a POST /batch, not an HTTP request of its own


@dataclass(frozen=True)
class Revocation:
    client_id: str
    user_gid: str
    # "oauth_revoke" (the client called /-/oauth_revoke) or "switch" (a test revoked it through the control API).
    via: str


class RequestRecorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._revocations: list[Revocation] = []

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def record_revocation(self, revocation: Revocation) -> None:
        with self._lock:
            self._revocations.append(revocation)

    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def revocations(self) -> list[Revocation]:
        with self._lock:
            return list(self._revocations)

    def count(self, method: str | None = None, path: str | None = None, *, with_batch_actions: bool = False) -> int:
        """HTTP requests matching method and/or exact path (e.g. count("GET", "/api/1.0/users/me")); with
        ``with_batch_actions``, the actions of batches too."""
        return sum(
            1
            for r in self.requests()
            if (method is None or r.method == method.upper())
            and (path is None or r.path == path)
            and (with_batch_actions or not r.via_batch)
        )

    def grant_count(self, grant_type: str) -> int:
        """Token-endpoint requests with that grant type ("authorization_code" or "refresh_token")."""
        return sum(1 for r in self.requests() if r.grant_type == grant_type)

    def summary(self) -> dict[str, Any]:
        requests = self.requests()
        return {
            "total": len(requests),
            "by_route": dict(Counter(f"{r.method} {r.path}" for r in requests)),
            "by_grant_type": dict(Counter(r.grant_type for r in requests if r.grant_type)),
            "requests": [asdict(r) for r in requests],
            "revocations": [asdict(r) for r in self.revocations()],
        }

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._revocations.clear()
