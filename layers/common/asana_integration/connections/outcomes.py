"""What the OAuth redirect ended in: a code, the message and the fix shown for it, and the purpose it was for.

The code alone is enough to show the message again (``outcome_for_code``), so the settings page is reached with
``?outcome=<code>`` and no free text in the URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asana_integration.asana.errors import (
    FIX_EXCHANGE_FAILED,
    ForbiddenScopes,
    NoScopesRegistered,
    OAuthClientRejected,
    RedirectUriMismatch,
)
from asana_integration.errors import FIX_PROXY, IntegrationError
from asana_integration.models.connections import Purpose
from asana_integration.tenant_urls import TenantUrls


def _texts(error: IntegrationError) -> tuple[str, str]:
    return error.message, error.fix


_OUTCOMES: dict[str, tuple[str, str]] = {
    "connected": ("Your Asana account is connected.", ""),
    "access_denied": (
        "Authorization was cancelled in Asana, so nothing was connected.",
        "Click Connect again and choose Allow on Asana's consent screen.",
    ),
    # "redirect_uri_mismatch" is built per tenant (its fix names the tenant's exact URIs): see outcome_for_code.
    "no_scopes": _texts(NoScopesRegistered()),
    "forbidden_scopes": _texts(ForbiddenScopes()),
    "client_rejected": _texts(OAuthClientRejected()),
    "invalid_state": (
        "This authorization link is not valid or was already used, so nothing was connected.",
        "Start again with Connect on the Asana settings page. Each link works once, for the person who opened it.",
    ),
    "state_expired": (
        "This authorization took too long and expired, so nothing was connected.",
        "Click Connect again and approve in Asana within a few minutes.",
    ),
    "invalid_request": (
        "Asana's redirect was incomplete, so nothing was connected.",
        "Click Connect again. If it keeps happening, check that nothing between Asana and SecureDB strips query "
        "parameters from the redirect.",
    ),
    "not_configured": (
        "Your organization's Asana app credentials are not saved, so the authorization could not be completed.",
        "An administrator must save the Client ID and Client Secret in the Asana settings, then run Connect again.",
    ),
    "exchange_failed": (
        "Asana did not accept the authorization, so nothing was connected.",
        FIX_EXCHANGE_FAILED,
    ),
    "asana_unreachable": ("SecureDB could not reach Asana to finish connecting, so nothing was connected.", FIX_PROXY),
    "asana_unavailable": (
        "Asana did not give a usable answer while finishing the connection, so nothing was connected.",
        "Click Connect again in a minute. If it keeps happening, check https://status.asana.com.",
    ),
    "internal_error": (
        "Something went wrong on SecureDB's side while finishing the connection, so nothing was connected.",
        "Click Connect again. If it keeps failing, contact support with the time of the attempt.",
    ),
    "authorization_failed": (
        "Asana reported an error during authorization, so nothing was connected.",
        "Click Connect again. If it keeps failing, check the app's settings in the Asana Developer Console "
        "(redirect URLs, scopes and Manage distribution).",
    ),
}
OUTCOME_CODES = frozenset({*_OUTCOMES, "redirect_uri_mismatch"})


ORGANIZATION_CONNECTED = "The organization is connected to Asana."


def outcome_for_code(code: str, urls: TenantUrls, purpose: Purpose | None = None) -> tuple[str, str]:
    """The message and fix for an outcome code, e.g. to show ``?outcome=<code>`` on the settings page.

    ``urls`` makes the redirect-URI fix name the tenant's exact URIs. Raises ``KeyError`` for an unknown code.
    """
    if code == "redirect_uri_mismatch":
        mismatch = RedirectUriMismatch(urls)
        return mismatch.message, mismatch.fix
    if code == "connected" and purpose is Purpose.ORGANIZATION:
        return ORGANIZATION_CONNECTED, ""
    return _OUTCOMES[code]


@dataclass(frozen=True, slots=True)
class CallbackOutcome:
    code: str
    message: str
    fix: str
    purpose: Purpose | None

    @property
    def ok(self) -> bool:
        return self.code == "connected"

    @classmethod
    def of(cls, code: str, purpose: Purpose | None, urls: TenantUrls) -> CallbackOutcome:
        message, fix = outcome_for_code(code, urls, purpose)
        return cls(code=code, message=message, fix=fix, purpose=purpose)

    def to_public(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "fix": self.fix,
            "purpose": self.purpose.value if self.purpose else None,
        }
