"""Asana's error envelope and the exact texts the sandbox answers with.

Texts marked "observed" come from the fact sheet (shared/reference/asana-platform.md); the others are the sandbox's
best Asana-style guess and are flagged where they are defined.
"""

from __future__ import annotations

import secrets
from typing import Any

HELP_TEXT = (
    "For more information on API status codes and how to handle them, read the docs on errors: "
    "https://developers.asana.com/docs/errors"
)

# Observed texts.
NOT_AUTHORIZED = "Not Authorized"
EXPIRED_BEARER_TOKEN = (
    "The bearer token has expired. If you have a refresh token, please use it to request a new bearer token, "
    "otherwise allow the user to re-authenticate."
)
RATE_LIMITED = "You've made too many requests and hit a rate limit. Please retry after the given amount of time."
OFFSET_EXPIRED = "offset: Your pagination token has expired."
MULTIPLE_WORKSPACES = "This request accesses data in multiple workspaces. Please specify a workspace or team."

# Sandbox guesses (no Asana source gives these verbatim).
OFFSET_INVALID = "offset: Your pagination token is invalid. Only pass offsets returned by a previous request."
LIMIT_OUT_OF_RANGE = "limit: The value must be between 1 and 100."
NOT_AN_ORGANIZATION = "workspace: Not an organization. Teams only exist in organizations."
SERVER_ERROR = "Server Error"
FORBIDDEN = "Forbidden"

_PHRASE_WORDS = ("sad", "happy", "sleepy", "brave", "squid", "otter", "snuggle", "dance", "softly", "loudly")


class AsanaError(Exception):
    """Raised by a route to answer with Asana's error envelope."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_body(status: int, message: str) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "help": HELP_TEXT}
    if status == 500:
        # Asana adds a support phrase only to 500s ("6 sad squid snuggle softly").
        words = [secrets.choice(_PHRASE_WORDS) for _ in range(4)]
        error["phrase"] = f"{secrets.randbelow(20) + 1} {' '.join(words)}"
    return {"errors": [error]}


def not_a_number(param: str, value: str) -> AsanaError:
    # Observed shape: "workspace: Not a Long: <value>" for a non-numeric gid.
    return AsanaError(400, f"{param}: Not a Long: {value}")


def unknown_object(param: str, value: str) -> AsanaError:
    # Observed shape: "task: Not a recognized ID: <gid>".
    return AsanaError(404, f"{param}: Not a recognized ID: {value}")
