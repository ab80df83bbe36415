"""Every failure a caller can see, each with a message, a fix and an HTTP status.

The functions turn these into ``{"error": {"code", "message", "fix"}}`` responses. Messages never carry a secret or a
token: they are built from fixed text and identifiers only. Where the seed's troubleshooting list names an error, its
exact message is used (see ``SEED_*`` below).
"""

from __future__ import annotations

from typing import Any

# The seed's troubleshooting messages, verbatim.
SEED_REDIRECT_URI_MISMATCH = "The 'redirect_uri' parameter does not match a valid url for the application."
SEED_NO_SCOPES = "Your app does not have any scopes registered."
SEED_AUTH_FAILED = "Authentication failed. Your token may have expired."

FIX_AUTH_FAILED = (
    "Reconnect the Asana account (or disconnect and reconnect), or configure a company Personal Access Token so the "
    "integration can operate without per-user OAuth."
)
FIX_NO_SCOPES = (
    "In the Asana Developer Console open your app → OAuth → Scopes and either enable Full permissions (default) or "
    "add the recommended scopes: {scopes}. After saving the scopes, run Connect again."
)
FIX_PROXY = (
    "Confirm this deployment can make outbound TLS connections to Asana. If egress goes through a corporate proxy, "
    "store its URL (for example http://proxy.example.com:8080) in a Secrets Manager secret and deploy with that "
    "secret's ARN as AsanaProxySecretArn (ASANA_PROXY_SECRET_ARN; ASANA_PROXY in local development); if the proxy "
    "inspects TLS, set ASANA_CA_BUNDLE to its CA certificate bundle."
)
SEED_WEBHOOK_UNREACHABLE = "Webhook unreachable / handshake failure"
# The seed's cause and fix (its curly apostrophe included), with the tenant's exact webhook URL in place of its example.
FIX_WEBHOOK_UNREACHABLE = (
    "Asana cannot reach {webhook_url}. Ensure firewall and DNS allow public access and test the webhook handshake "
    "endpoint. The app excludes the webhook URL from CSRF so Asana\u2019s handshake will succeed if reachable."
)


class IntegrationError(Exception):
    """Base of every error shown to a caller. Subclasses set the default status and code."""

    status: int = 500
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        fix: str,
        *,
        code: str | None = None,
        status: int | None = None,
        connect_url: str | None = None,
        retry_after: int | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.connect_url = connect_url
        self.retry_after = retry_after
        self.details = details

    def to_body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "fix": self.fix}
        if self.connect_url:
            error["connect_url"] = self.connect_url
        if self.retry_after is not None:
            error["retry_after"] = self.retry_after
        if self.details:
            error["details"] = self.details
        return {"error": error}


class InvalidInput(IntegrationError):
    status = 422
    code = "invalid_input"


class BadRequest(IntegrationError):
    status = 400
    code = "bad_request"


class NotAuthenticated(IntegrationError):
    status = 401
    code = "not_authenticated"


class NotAdmin(IntegrationError):
    status = 403
    code = "admin_required"

    def __init__(self) -> None:
        super().__init__(
            "Only an organization administrator can manage the Asana integration.",
            "Ask an administrator of your organization to do this, or to grant you the admin role in SecureDB.",
        )


class NotFound(IntegrationError):
    status = 404
    code = "not_found"


class ConnectionRequired(IntegrationError):
    """No usable Asana credential: the admin must save a PAT or complete the Connect flow."""

    status = 409
    code = "requires_connection"


class DisconnectInProgress(IntegrationError):
    """The organization's secret is still being deleted by a disconnect moments ago; AWS completes that shortly.

    409, not 5xx: nothing is broken, the request only conflicts with a deletion that has not finished yet.
    """

    status = 409
    code = "disconnect_in_progress"

    def __init__(self) -> None:
        super().__init__(
            "A disconnect is still being completed; try again in a minute.",
            "Wait a minute, then try again. Nothing was changed.",
            retry_after=60,
        )


class SaveInProgress(IntegrationError):
    """Another administrator's save of the same organization's credentials is being written right now."""

    status = 409
    code = "save_in_progress"

    def __init__(self) -> None:
        super().__init__(
            "Another administrator is saving this organization's Asana settings right now, so yours were not saved.",
            "Reload the page to see what they saved, then save again if yours should replace it.",
            retry_after=5,
        )


class CredentialsChanging(IntegrationError):
    """The saved credentials changed moments ago and this function could not read the new ones yet.

    503: transient, and nothing acted on the old credentials in the meantime.
    """

    status = 503
    code = "settings_changing"

    def __init__(self) -> None:
        super().__init__(
            "The Asana settings were changed a moment ago and are still being applied, so nothing was done.",
            "Try again in a few seconds.",
            retry_after=2,
        )


class OAuthFlowError(IntegrationError):
    """A failed OAuth redirect or code exchange; shown on the settings page, never stores anything."""

    status = 400
    code = "oauth_failed"


# --- Errors that come from talking to Asana ---------------------------------------------------------------------


class AsanaError(IntegrationError):
    """Base of failures reported by, or on the way to, Asana."""

    status = 502
    code = "asana_error"


class AsanaAuthenticationFailed(AsanaError):
    """Asana rejected the token (401) and it could not be refreshed. 409: the caller's own session is fine."""

    status = 409
    code = "asana_authentication_failed"

    def __init__(self, *, connect_url: str | None = None) -> None:
        super().__init__(SEED_AUTH_FAILED, FIX_AUTH_FAILED, connect_url=connect_url)


class AsanaForbidden(AsanaError):
    status = 403
    code = "asana_forbidden"


class AsanaNotFound(AsanaError):
    status = 404
    code = "asana_not_found"


class AsanaRequestRejected(AsanaError):
    """Asana answered 400 (or another 4xx) to a request; its own message is passed on."""

    status = 400
    code = "asana_rejected_request"


class AsanaRateLimited(AsanaError):
    status = 429
    code = "asana_rate_limited"


class AsanaUnavailable(AsanaError):
    """Asana kept failing (5xx or timeouts) after bounded retries, or the Lambda ran out of time to wait."""

    status = 503
    code = "asana_unavailable"


class AsanaUnreachable(AsanaError):
    """No HTTP answer at all: proxy, TLS or connection failure. The message is the diagnostic the seed asks for."""

    status = 502
    code = "asana_unreachable"

    def __init__(self, message: str, *, code: str = "asana_unreachable") -> None:
        super().__init__(message, FIX_PROXY, code=code)
