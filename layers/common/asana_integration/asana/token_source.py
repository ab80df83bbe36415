"""Where the REST client gets its bearer token: a PAT, or an OAuth connection that refreshes itself.

The client asks ``access_token()`` before a call and, when Asana answers 401, ``renew_after_rejection(rejected)`` once.
A source that cannot renew returns ``None`` and the client raises the seed's "Authentication failed" error: one retry,
never a loop.
"""

from __future__ import annotations

from typing import Protocol


class AccessTokenSource(Protocol):
    def access_token(self) -> str:
        """A token to send now (an OAuth source refreshes ahead of expiry)."""
        ...

    def renew_after_rejection(self, rejected: str) -> str | None:
        """Asana rejected ``rejected`` with 401: a fresh token to retry with once, or ``None`` if there is none."""
        ...


class StaticToken:
    """A Personal Access Token: it cannot be renewed, so a 401 is final."""

    def __init__(self, token: str) -> None:
        self._token = token

    def access_token(self) -> str:
        return self._token

    def renew_after_rejection(self, rejected: str) -> str | None:
        return None

    def __repr__(self) -> str:  # never show the token, even in a debugger or a traceback's locals
        return "StaticToken(****)"
