"""Asana's answers as typed errors: the REST API's HTTP statuses, and the OAuth endpoints' rejections.

Each error carries a message a person can act on and a fix. Asana's free text is passed on only where Asana documents it
as a message for the caller (``errors[].message`` of the REST API), after the client scrubbed the token from it; OAuth
error descriptions are only matched, never echoed. A message names what was being done in words (``describe_call``:
"listing projects"), never an HTTP method or an API path: admins read these, developers have the logs.
"""

from __future__ import annotations

import re

from asana_integration.config import RECOMMENDED_SCOPES
from asana_integration.errors import (
    FIX_NO_SCOPES,
    SEED_NO_SCOPES,
    SEED_REDIRECT_URI_MISMATCH,
    AsanaError,
    AsanaForbidden,
    AsanaNotFound,
    AsanaRateLimited,
    AsanaRequestRejected,
    AsanaUnavailable,
    OAuthFlowError,
)
from asana_integration.tenant_urls import TenantUrls

EXPIRED_OFFSET_MARKER = "pagination token has expired"
_OAUTH_ERROR_CODE = re.compile(r"^[a-z_]{1,64}$")
SCOPED_RESOURCES = frozenset({"workspaces", "teams", "users", "projects", "webhooks", "tasks"})

FIX_EXCHANGE_FAILED = (
    "Click Connect again: authorization codes are single-use and expire after a few minutes. If it keeps failing, "
    "check that the Client ID and Client Secret saved in SecureDB belong to the same Asana app."
)

# --- REST API: HTTP statuses -------------------------------------------------------------------------------------


def rate_limited(wait: int) -> AsanaRateLimited:
    return AsanaRateLimited(
        f"Asana's rate limit for this token is exhausted; retry after {wait} s.",
        f"Wait {wait} seconds and try again. Asana allows 150 requests per minute per token on free domains and "
        "1,500 on paid ones; other integrations using the same token share that budget.",
        retry_after=wait,
    )


class SyncTokenExpired(AsanaRequestRejected):
    """The Events API refused a sync token (412): none was sent, it expired, or Asana dropped it under load. The
    fresh token Asana sent with the 412 reads events from now on; what happened before it needs a full listing."""

    code = "asana_sync_token_expired"

    def __init__(self, new_token: str, action: str, message: str) -> None:
        super().__init__(
            f"Asana no longer accepts the sync token used for {action}: {message}",
            "Nothing to do: the integration lists the resource again in full and continues with the new token.",
        )
        self.new_token = new_token


# status → (error class, code or None for the class's own, message template, fix). 401 and 429 never get here.
# {action} is what was being done, in words (describe_call); {message} is Asana's own explanation.
_STATUS_ERRORS: dict[int, tuple[type[AsanaError], str | None, str, str]] = {
    400: (
        AsanaRequestRejected,
        None,
        "Asana did not accept the request for {action}: {message}",
        "Asana's explanation above names what it did not accept. Check that choice (the workspace or project picked) "
        "and try again.",
    ),
    402: (
        AsanaForbidden,
        "asana_premium_required",
        "Asana refused {action} because it needs a paid Asana plan: {message}",
        "Upgrade the Asana workspace to a plan that includes this feature, or do not use it with this workspace.",
    ),
    404: (
        AsanaNotFound,
        None,
        "Asana found nothing for {action} that this connection can see: {message}",
        "The object may have been deleted, or the connected Asana user is not a member of it. Refresh the list, or "
        "connect with an Asana user who can see it.",
    ),
    412: (
        AsanaRequestRejected,
        "asana_precondition_failed",
        "Asana refused {action} because a precondition failed: {message}",
        "Fetch the data again from the start; the sync token or state the request relied on is no longer valid.",
    ),
    451: (
        AsanaForbidden,
        "asana_unavailable_for_legal_reasons",
        "Asana cannot serve {action} for legal reasons: {message}",
        "Asana blocks this content for legal reasons; contact Asana support if you believe it should not.",
    ),
}
_SERVER_ERROR = (
    AsanaUnavailable,
    "asana_server_error",
    "Asana had a problem on its side while {action}: {message}",
    "Try again in a few minutes. If it keeps happening, check https://status.asana.com.",
)
_OTHER_CLIENT_ERROR = (
    AsanaRequestRejected,
    None,
    "Asana refused {action}: {message}",
    "Asana's explanation above says what it did not accept. If it is unclear, contact support with the time of the "
    "attempt.",
)
_UNEXPECTED_STATUS = (
    AsanaError,
    "asana_bad_response",
    "Asana's answer to {action} was not one Asana gives.",
    "A proxy may be answering instead of Asana: check ASANA_PROXY and ASANA_API_BASE_URL.",
)

# How each API collection reads in a sentence: the plural for listings, the singular for one object.
_RESOURCES: dict[str, tuple[str, str]] = {
    "workspaces": ("workspaces", "a workspace"),
    "teams": ("teams", "a team"),
    "users": ("users", "a user"),
    "projects": ("projects", "a project"),
    "tasks": ("tasks", "a task"),
    "webhooks": ("webhooks", "a webhook"),
    "team_memberships": ("team memberships", "a team membership"),
    "memberships": ("memberships", "a membership"),
    "workspace_memberships": ("workspace memberships", "a workspace membership"),
    "sections": ("sections", "a section"),
    "stories": ("comments and history", "a comment"),
    "tags": ("tags", "a tag"),
    "custom_fields": ("custom fields", "a custom field"),
}
_VERBS = {"POST": "creating", "PUT": "updating", "PATCH": "updating", "DELETE": "deleting"}


def describe_call(method: str, path: str) -> str:
    """What an Asana API call does, in words for a sentence ("listing projects", "reading the connected Asana
    user"), so no message shown to an admin carries an HTTP method or a path."""
    segments = [segment for segment in path.split("?", 1)[0].split("/") if segment]
    method = method.upper()
    if segments[-2:] == ["users", "me"] and method in ("GET", "HEAD"):
        return "reading the connected Asana user"
    if segments and segments[-1] == "events":
        return "reading recent changes (events)"
    if segments and segments[-1] == "addProject":
        return "adding a task to a project"
    known = [(index, segment) for index, segment in enumerate(segments) if segment in _RESOURCES]
    if not known:
        return "a request to Asana"
    index, resource = known[-1]
    plural, singular = _RESOURCES[resource]
    one_object = index < len(segments) - 1  # a gid follows the collection
    if method in ("GET", "HEAD"):
        return f"reading {singular}" if one_object else f"listing {plural}"
    return f"{_VERBS.get(method, 'changing')} {singular}"


def error_for_status(method: str, path: str, status: int, message: str) -> AsanaError:
    """The typed error for a non-2xx answer that is not retried, carrying Asana's own (scrubbed) message."""
    action = describe_call(method, path)
    if status == 400 and EXPIRED_OFFSET_MARKER in message.lower():
        return AsanaRequestRejected(
            f"Asana's page marker for {action} expired before the next page was fetched ({message}).",
            "Start the listing again from the first page; Asana's page markers are valid for a few minutes only.",
            code="asana_offset_expired",
        )
    if status == 403:
        return AsanaForbidden(f"Asana refused {action}: {message}", _forbidden_fix(method, path))
    if status in _STATUS_ERRORS:
        error_class, code, template, fix = _STATUS_ERRORS[status]
    elif status >= 500:
        error_class, code, template, fix = _SERVER_ERROR
    elif status >= 400:
        error_class, code, template, fix = _OTHER_CLIENT_ERROR
    else:
        error_class, code, template, fix = _UNEXPECTED_STATUS
    # str.format does not re-interpret braces inside the substituted message.
    return error_class(template.format(action=action, message=message), fix, code=code)


def _forbidden_fix(method: str, path: str) -> str:
    fix = (
        "The connected Asana user lacks access to this object, or the Asana app lacks a permission. Reconnect with a "
        "user who has access, or ask an Asana admin to allow the app for the workspace."
    )
    scope = _required_scope(method, path)
    if scope:
        fix += (
            f" If the app uses granular scopes (OAUTH_SCOPES_MODE=granular), add '{scope}' to the app in the Asana "
            "Developer Console and to OAUTH_GRANULAR_SCOPES, then run Connect again."
        )
    return fix


def _required_scope(method: str, path: str) -> str | None:
    """The granular scope Asana needs for the endpoints this integration calls (from Asana's OpenAPI spec)."""
    # The resource is the last known collection in the path: /workspaces/{gid}/teams needs teams:read.
    resources = [segment for segment in path.split("/") if segment in SCOPED_RESOURCES]
    action = {"GET": "read", "HEAD": "read", "POST": "write", "PUT": "write", "DELETE": "delete"}.get(method)
    if resources and action:
        return f"{resources[-1]}:{action}"
    return None


# --- OAuth: Asana's answers to the authorize, token and revoke endpoints ---------------------------------------------


def redirect_uri_fix(urls: TenantUrls) -> str:
    return (
        "The redirect you registered in Asana does not match exactly the redirect used by the app. In the Asana "
        f"Developer Console open your app → OAuth → Redirect URLs, add {urls.redirect_uri} (and the trailing slash "
        f"variant {urls.redirect_uri_trailing_slash}) and save. Then run Connect again."
    )


class RedirectUriMismatch(OAuthFlowError):
    # A configuration conflict in the Asana app, not bad input from the caller.
    status = 409
    code = "redirect_uri_mismatch"

    def __init__(self, urls: TenantUrls) -> None:
        super().__init__(SEED_REDIRECT_URI_MISMATCH, redirect_uri_fix(urls))


class NoScopesRegistered(OAuthFlowError):
    # A configuration conflict in the Asana app, not bad input from the caller.
    status = 409
    code = "no_scopes"

    def __init__(self) -> None:
        super().__init__(SEED_NO_SCOPES, FIX_NO_SCOPES.format(scopes=RECOMMENDED_SCOPES))


class ForbiddenScopes(OAuthFlowError):
    # A configuration conflict in the Asana app, not bad input from the caller.
    status = 409
    code = "forbidden_scopes"

    def __init__(self) -> None:
        super().__init__(
            "Asana does not allow this app to request the configured scopes.",
            "The app's permissions in Asana and the deployment's OAuthScopesMode disagree. Either enable Full "
            "permissions (default) on the app in the Asana Developer Console, or deploy with OAuthScopesMode=granular "
            f"and register exactly these scopes on the app: {RECOMMENDED_SCOPES}.",
        )


class OAuthClientRejected(OAuthFlowError):
    """Asana does not accept the saved client id or secret. Reconnecting cannot help; re-saving them can."""

    status = 409
    code = "client_rejected"

    def __init__(self) -> None:
        super().__init__(
            "Asana rejected the saved Client ID or Client Secret.",
            "Copy the Client ID and Client Secret again from the Asana Developer Console (your app → OAuth) and save "
            "them in the SecureDB Asana settings.",
        )


class OAuthGrantRejected(OAuthFlowError):
    """Asana refused a code or a refresh token. ``oauth_error`` is Asana's error code (e.g. ``invalid_grant``)."""

    code = "exchange_failed"

    def __init__(self, oauth_error: str, message: str, fix: str) -> None:
        super().__init__(message, fix)
        self.oauth_error = oauth_error


class RefreshTokenInvalid(OAuthGrantRejected):
    """The refresh token is dead (revoked, or the user removed the app): permanent, only a reconnect helps."""

    code = "refresh_token_invalid"


def scope_error_for(error: str, description: str) -> OAuthFlowError | None:
    """The typed error for a scope-related authorize error, or None if it is not about scopes."""
    text = f"{error} {description}".lower()
    if "any scopes registered" in text:
        return NoScopesRegistered()
    if "forbidden_scopes" in text or "not allowed to request" in text or error == "invalid_scope":
        return ForbiddenScopes()
    return None


def exact_scope_error(error: str, description: str) -> OAuthFlowError | None:
    """The scope error for an authorize answer that is exactly one Asana documents, else None (never a guess).

    ``forbidden_scopes`` is Asana's error code for scopes the app may not request; "Your app does not have any scopes
    registered." is its text for an app without any (shared/reference/asana-platform.md).
    """
    if description.strip() == SEED_NO_SCOPES:
        return NoScopesRegistered()
    if error == "forbidden_scopes":
        return ForbiddenScopes()
    return None


def safe_oauth_error(error: object) -> str:
    """An OAuth error code fit for a log line or a message: Asana's code if it looks like one, else a placeholder."""
    return error if isinstance(error, str) and _OAUTH_ERROR_CODE.match(error) else "unknown_error"
