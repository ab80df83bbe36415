"""What Connect ended in: a code, the message and the fix shown for it, its kind, and the purpose it was for.

Connect ends in two steps (``service.py``): Asana's redirect, whose outcome reaches the settings page as
``?outcome=<code>``, and the page finishing the connection with the user's session. The code alone is enough to show
the message again (``outcome_for_code``), so no free text travels in a URL. Each outcome has a kind, so that the page
never shows a replayed link's "nothing changed" in the red of a failure above a connection that works:

* ``success``: the connection was stored;
* ``info``: nothing happened and nothing needed to (a link used twice, a connection still being finished);
* ``error``: nothing was stored, and the fix says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

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
        "This authorization link is not valid, so nothing was connected.",
        "Start again with Connect on the Asana settings page. Each link works once, for the person who opened it.",
    ),
    "already_used": (
        "This authorization link was already used, so nothing changed.",
        "Nothing to do: the connection is as shown on this page. To connect again, click Connect.",
    ),
    "not_yours": (
        "This authorization was started by another SecureDB user, so nothing was connected.",
        "A Connect link works only for the person who clicked Connect. To connect your own Asana account, or the "
        "organization's if you are an administrator, click Connect on the Asana settings page yourself.",
    ),
    "other_session": (
        "This authorization was started in another browser window, so nothing was connected.",
        "Click Connect on the Asana settings page in this window and approve in Asana from there.",
    ),
    "sign_in_required": (
        "Sign in to SecureDB to finish connecting Asana. Nothing is connected until you do.",
        "Sign in as the SecureDB user who clicked Connect. If that was someone else, click Connect yourself instead.",
    ),
    "awaiting_completion": (
        "Asana approved the connection; SecureDB is finishing it.",
        "",
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
# Outcomes where nothing went wrong although nothing was stored.
INFO_OUTCOMES = frozenset({"already_used", "awaiting_completion"})

OutcomeKind = Literal["success", "info", "error"]


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

    @property
    def kind(self) -> OutcomeKind:
        return "success" if self.ok else "info" if self.code in INFO_OUTCOMES else "error"

    @classmethod
    def of(cls, code: str, purpose: Purpose | None, urls: TenantUrls) -> CallbackOutcome:
        message, fix = outcome_for_code(code, urls, purpose)
        return cls(code=code, message=message, fix=fix, purpose=purpose)

    def to_public(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "kind": self.kind,
            "message": self.message,
            "fix": self.fix,
            "purpose": self.purpose.value if self.purpose else None,
        }


# What a disconnect tells the user about the revocation at Asana, by its cause (the tokens are deleted in every case).
REVOCATION_TEXTS: dict[str, tuple[str, str]] = {
    "unknown_token": (
        "Asana no longer knew the token (it was already revoked or had lapsed), so there was nothing to revoke. It "
        "was deleted from SecureDB.",
        "",
    ),
    "client_rejected": (
        "Asana refused to revoke the token because it does not accept the saved Client ID and Client Secret. The "
        "token was deleted from SecureDB only.",
        "Remove SecureDB under My Settings → Apps in Asana (https://app.asana.com) to revoke it there, and save the "
        "app's current Client Secret in the Asana settings.",
    ),
    "unreachable": (
        "SecureDB could not reach Asana to revoke the token, so it was deleted from SecureDB only.",
        "To be sure, remove SecureDB under My Settings → Apps in Asana (https://app.asana.com).",
    ),
    "unavailable": (
        "Asana had a problem on its side and did not confirm the revocation, so the token was deleted from SecureDB "
        "only.",
        "To be sure, remove SecureDB under My Settings → Apps in Asana (https://app.asana.com).",
    ),
    "no_credentials": (
        "The organization's Asana app credentials are no longer saved, so the token could not be revoked at Asana. "
        "It was deleted from SecureDB.",
        "To be sure, remove SecureDB under My Settings → Apps in Asana (https://app.asana.com).",
    ),
}
