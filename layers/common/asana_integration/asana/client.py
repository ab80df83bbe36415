"""The Asana REST client every function uses: bearer auth, pagination, bounded retries and typed errors.

One ``request`` loop carries all the policy, so every call behaves the same way:

* 401 → ask the token source for a fresh token once, retry once, else the seed's "Authentication failed" error.
* 429 → wait ``Retry-After`` and retry (any method: Asana rejected the call before acting), up to
  ``ASANA_MAX_RETRIES`` times and never past the Lambda's remaining time.
* 5xx, read timeouts and connection failures → exponential backoff with jitter, only for idempotent methods.
* Every other failure → the typed errors of ``asana/errors.py``, with Asana's own message and a fix.

A ``CallObserver`` (optional) sees every attempt: the sync uses it to take each call from its organization's shared
rate budget and to count calls, 429s and retries for its run record.

Tokens never leave the ``Authorization`` header: they are not logged, not kept on the client, and scrubbed from any
message Asana sends back before it is put into an error.
"""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import batched
from typing import Any, Protocol

import requests
from aws_lambda_powertools.metrics import MetricUnit

from asana_integration.asana.errors import SyncTokenExpired, describe_call, error_for_status, rate_limited
from asana_integration.asana.token_source import AccessTokenSource
from asana_integration.asana.transport import build_session, send
from asana_integration.config import Config
from asana_integration.errors import (
    AsanaAuthenticationFailed,
    AsanaError,
    AsanaUnavailable,
    AsanaUnreachable,
    InvalidInput,
)
from asana_integration.observability import logger, metrics

PAGE_LIMIT = 100  # Asana's maximum; next_page is only returned when a limit is sent.
MAX_BATCH_ACTIONS = 10  # Asana's Batch API takes at most ten actions a request
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})

# Time kept free after the last request so the function can still answer (and flush logs/metrics) before Lambda
# kills it. The request's own timeout is added on top, since a retried request may take all of it.
SAFETY_MARGIN_SECONDS = 3.0
DEFAULT_RETRY_AFTER_SECONDS = 30  # when a 429 carries no usable Retry-After
# Outside Lambda (no remaining-time callback) a wait longer than this fails fast instead of blocking a worker.
MAX_RATE_LIMIT_WAIT_SECONDS = 120
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0

# Connectivity failures worth another try; proxy and TLS errors are configuration problems a retry cannot fix.
RETRYABLE_FAILURE_CODES = frozenset({"asana_timeout", "asana_connect_timeout", "asana_connection_error"})

MAX_ASANA_MESSAGE_CHARS = 500

DEFAULT_ME_FIELDS = ("name", "email", "workspaces.name")
DEFAULT_WORKSPACE_FIELDS = ("name", "is_organization")
DEFAULT_PROJECT_FIELDS = ("name", "archived", "team.name", "permalink_url")
DEFAULT_TEAM_FIELDS = ("name", "permalink_url")

_GID = re.compile(r"^\d{1,32}$")

Params = Mapping[str, str | int | bool | None]
OptFields = str | Sequence[str] | None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing; ``next_offset`` is ``None`` on the last page."""

    data: list[dict[str, Any]]
    next_offset: str | None


@dataclass(frozen=True, slots=True)
class EventsPage:
    """One read of a resource's event stream: at most 100 events, the token to read on from, whether more wait."""

    data: list[dict[str, Any]]
    sync: str
    has_more: bool


@dataclass(frozen=True, slots=True)
class BatchResult:
    """One action's answer inside a Batch API response: the status and JSON body the endpoint returned."""

    status_code: int
    body: dict[str, Any]


class CallObserver(Protocol):
    """Sees every HTTP attempt the client makes (a retried call is several attempts)."""

    def before_request(self, cost: int = 1) -> None:
        """Called before each attempt, with what it costs of Asana's rate limit (a batch: one per action); may
        wait (a rate budget) or raise to stop the call."""
        ...

    def after_response(self, status: int | str) -> None:
        """The attempt's HTTP status, or the transport failure's code."""
        ...

    def rate_limited(self, retry_after: int) -> None:
        """Asana answered 429 with this Retry-After (seconds)."""
        ...

    def retried(self) -> None:
        """The client is about to send the call again (after a 429, a 5xx or a timeout)."""
        ...


class AsanaClient:
    def __init__(
        self,
        token_source: AccessTokenSource,
        config: Config,
        *,
        session: requests.Session | None = None,
        remaining_time_ms: Callable[[], int] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        observer: CallObserver | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tokens = token_source
        self._config = config
        self._session = session if session is not None else build_session(config)
        self._remaining_time_ms = remaining_time_ms
        self._sleep = sleep
        self._observer = observer
        self._monotonic = monotonic

    def __repr__(self) -> str:
        return f"AsanaClient(base_url={self._config.asana_api_base_url!r})"

    @property
    def session(self) -> requests.Session:
        """The HTTP session (proxy and CA bundle applied); exposed for diagnostics and tests."""
        return self._session

    # --- Generic calls ----------------------------------------------------------------------------------------------

    def get(self, path: str, params: Params | None = None, *, opt_fields: OptFields = None) -> dict[str, Any]:
        """``GET path`` and return the envelope's ``data`` object."""
        return _data_object(self.request("GET", path, params=_with_fields(params, opt_fields)))

    def get_page(
        self,
        path: str,
        params: Params | None = None,
        *,
        offset: str | None = None,
        limit: int = PAGE_LIMIT,
        opt_fields: OptFields = None,
    ) -> Page:
        """One page of a paginated listing, starting at ``offset`` (an offset Asana returned, or ``None``)."""
        if not 1 <= limit <= PAGE_LIMIT:
            raise ValueError(f"limit must be between 1 and {PAGE_LIMIT}, not {limit}")
        query = {**_with_fields(params, opt_fields), "limit": limit}
        if offset:
            query["offset"] = offset
        body = self.request("GET", path, params=query)
        return Page(data=_data_list(body), next_offset=_next_offset(body))

    def iterate(
        self, path: str, params: Params | None = None, *, opt_fields: OptFields = None
    ) -> Iterator[dict[str, Any]]:
        """Every object of a listing, fetched 100 at a time. An expired offset raises ``asana_offset_expired``."""
        offset: str | None = None
        while True:
            page = self.get_page(path, params, offset=offset, opt_fields=opt_fields)
            yield from page.data
            if page.next_offset is None:
                return
            offset = page.next_offset

    def post(
        self, path: str, data: Mapping[str, Any], *, params: Params | None = None, opt_fields: OptFields = None
    ) -> dict[str, Any]:
        """``POST path`` with ``{"data": data}``. Never retried except on 429: Asana may have acted already."""
        body = self.request("POST", path, params=_with_fields(params, opt_fields), json={"data": dict(data)})
        return _data_object(body)

    def put(
        self, path: str, data: Mapping[str, Any], *, params: Params | None = None, opt_fields: OptFields = None
    ) -> dict[str, Any]:
        body = self.request("PUT", path, params=_with_fields(params, opt_fields), json={"data": dict(data)})
        return _data_object(body)

    def delete(self, path: str) -> dict[str, Any]:
        return _data_object(self.request("DELETE", path))

    # --- Convenience calls ------------------------------------------------------------------------------------------

    def me(self, *, opt_fields: OptFields = DEFAULT_ME_FIELDS) -> dict[str, Any]:
        return self.get("/users/me", opt_fields=opt_fields)

    def workspaces_page(self, offset: str | None = None, *, opt_fields: OptFields = DEFAULT_WORKSPACE_FIELDS) -> Page:
        return self.get_page("/workspaces", offset=offset, opt_fields=opt_fields)

    def projects_page(
        self,
        workspace_gid: str,
        offset: str | None = None,
        *,
        opt_fields: OptFields = DEFAULT_PROJECT_FIELDS,
        archived: bool | None = None,
    ) -> Page:
        """A workspace's projects; ``archived=None`` lists archived and active ones alike."""
        params = {"workspace": _checked_gid(workspace_gid), "archived": archived}
        return self.get_page("/projects", params, offset=offset, opt_fields=opt_fields)

    def teams_page(
        self, workspace_gid: str, offset: str | None = None, *, opt_fields: OptFields = DEFAULT_TEAM_FIELDS
    ) -> Page:
        path = f"/workspaces/{_checked_gid(workspace_gid)}/teams"
        return self.get_page(path, offset=offset, opt_fields=opt_fields)

    def users_page(self, workspace_gid: str, offset: str | None = None, *, opt_fields: OptFields = None) -> Page:
        """A workspace's active users (``/users?workspace=``: paginated, sorted by gid, with no 2,000 cap)."""
        params = {"workspace": _checked_gid(workspace_gid)}
        return self.get_page("/users", params, offset=offset, opt_fields=opt_fields)

    def team_memberships_page(self, team_gid: str, offset: str | None = None, *, opt_fields: OptFields = None) -> Page:
        params = {"team": _checked_gid(team_gid, "team")}
        return self.get_page("/team_memberships", params, offset=offset, opt_fields=opt_fields)

    def project_tasks_page(
        self,
        project_gid: str,
        offset: str | None = None,
        *,
        opt_fields: OptFields = None,
        modified_since: str | None = None,
    ) -> Page:
        """A project's tasks (``/tasks?project=``, which, unlike ``/projects/{gid}/tasks``, takes ``modified_since``:
        only tasks changed since then, an ISO 8601 time)."""
        params = {"project": _checked_gid(project_gid, "project"), "modified_since": modified_since}
        return self.get_page("/tasks", params, offset=offset, opt_fields=opt_fields)

    def events(self, resource_gid: str, sync_token: str | None) -> EventsPage:
        """The events of a task or project since ``sync_token``. Without a token, or with one Asana no longer
        accepts, Asana answers 412 with a fresh token: raised as ``SyncTokenExpired`` carrying it."""
        params = {"resource": _checked_gid(resource_gid, "resource"), "sync": sync_token}
        body = self.request("GET", "/events", params=params)
        sync = body.get("sync")
        if not isinstance(sync, str) or not sync:
            raise AsanaError(
                "Asana's answer to reading recent changes (events) carried no sync token.",
                "A proxy may be answering instead of Asana: check ASANA_PROXY and ASANA_API_BASE_URL.",
                code="asana_bad_response",
            )
        return EventsPage(data=_data_list(body), sync=sync, has_more=body.get("has_more") is True)

    def batch(self, actions: Sequence[Mapping[str, Any]]) -> list[BatchResult]:
        """Up to ten actions (``{"relative_path", "method", "data"?, "options"?}``) in one HTTP request to Asana's
        Batch API, answered in order. Each action still counts against Asana's rate limit as a call of its own, and
        fails or succeeds alone: its status is in its result, not raised."""
        if not 0 < len(actions) <= MAX_BATCH_ACTIONS:
            raise ValueError(f"a batch holds 1 to {MAX_BATCH_ACTIONS} actions, not {len(actions)}")
        body = self.request("POST", "/batch", json={"data": {"actions": list(actions)}}, cost=len(actions))
        results = [
            BatchResult(int(item["status_code"]), item["body"] if isinstance(item.get("body"), dict) else {})
            for item in _data_list(body)
            if isinstance(item.get("status_code"), int)
        ]
        if len(results) != len(actions):
            raise AsanaError(
                f"Asana answered {len(results)} results to a batch of {len(actions)} requests.",
                "A proxy may be answering instead of Asana: check ASANA_PROXY and ASANA_API_BASE_URL.",
                code="asana_bad_response",
            )
        return results

    def event_tokens(self, resource_gids: Sequence[str]) -> dict[str, str]:
        """An Events API sync token positioned now for each resource, ten resources per HTTP request (the Batch
        API; each read without a token answers 412 with a fresh one). A resource whose read gave no token (deleted,
        no access, rate limited inside the batch) is left out: whoever reads its events takes one alone."""
        tokens: dict[str, str] = {}
        for chunk in batched(resource_gids, MAX_BATCH_ACTIONS, strict=False):
            actions = [
                {"relative_path": "/events", "method": "get", "data": {"resource": _checked_gid(gid, "resource")}}
                for gid in chunk
            ]
            for gid, result in zip(chunk, self.batch(actions), strict=True):
                sync = result.body.get("sync") if result.status_code in (200, 412) else None
                if isinstance(sync, str) and sync:
                    tokens[gid] = sync
        return tokens

    # --- The request loop -------------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Mapping[str, Any] | None = None,
        cost: int = 1,
    ) -> dict[str, Any]:
        """Send one API call with the retry policy of this module and return Asana's whole JSON envelope. ``cost``:
        what one attempt counts against Asana's rate limit (a batch: its number of actions)."""
        method = method.upper()
        path = _clean_path(path)
        started = self._monotonic()
        token = self._tokens.access_token()
        renewed = False
        retries = 0
        while True:
            if self._observer is not None:
                self._observer.before_request(cost)
            outcome = self._attempt(method, path, token, params, json, attempt=retries + 1 + int(renewed))
            if self._observer is not None:
                self._observer.after_response(
                    outcome.status_code if isinstance(outcome, requests.Response) else outcome.code
                )
            if isinstance(outcome, requests.Response) and outcome.status_code == 401:
                if renewed:
                    raise AsanaAuthenticationFailed()
                token = self._renewed_token(token, outcome)
                renewed = True
                continue
            delay = self._retry_delay(method, outcome, retries)
            if delay is None:
                elapsed = self._monotonic() - started
                return self._result(method, path, _with_elapsed(outcome, elapsed, retries + 1), token)
            if self._observer is not None:
                self._observer.retried()
            self._sleep(delay)
            retries += 1

    def _attempt(
        self,
        method: str,
        path: str,
        token: str,
        params: Params | None,
        json: Mapping[str, Any] | None,
        *,
        attempt: int,
    ) -> requests.Response | AsanaError:
        """One HTTP exchange: the response, or the transport's connectivity error (returned so it can be retried)."""
        started = time.perf_counter()
        try:
            response = send(
                self._session,
                method,
                self._config.asana_api_base_url + path,
                timeout=self._config.asana_timeout_seconds,
                params=_encode_params(params),
                json=json,
                headers={"Authorization": f"Bearer {token}"},
            )
        except (AsanaUnavailable, AsanaUnreachable) as exc:
            _log_call(method, path, exc.code, attempt, started)
            return exc
        _log_call(method, path, response.status_code, attempt, started)
        return response

    def _renewed_token(self, rejected: str, response: requests.Response) -> str:
        """A fresh token after a 401, or the seed's "Authentication failed" error when the source has none."""
        logger.info(
            "Asana rejected the token",
            extra={"asana_message": _scrub(_asana_message(response), rejected)},
        )
        fresh = self._tokens.renew_after_rejection(rejected)
        if not fresh or fresh == rejected:
            raise AsanaAuthenticationFailed()
        return fresh

    def _retry_delay(self, method: str, outcome: requests.Response | AsanaError, retries: int) -> float | None:
        """Seconds to wait before retrying ``outcome``, or ``None`` when it is final. Raises when a 429 cannot wait."""
        if isinstance(outcome, requests.Response) and outcome.status_code == 429:
            return self._rate_limit_delay(outcome, retries)
        if method not in IDEMPOTENT_METHODS or retries >= self._config.asana_max_retries:
            return None
        if isinstance(outcome, requests.Response):
            if outcome.status_code < 500:
                return None
        elif outcome.code not in RETRYABLE_FAILURE_CODES:
            return None
        delay = _backoff(retries)
        if not self._fits(delay):
            return None
        _count("AsanaRetried")
        logger.warning("Retrying Asana call", extra={"method": method, "retry": retries + 1, "wait_s": delay})
        return delay

    def _rate_limit_delay(self, response: requests.Response, retries: int) -> float:
        wait = _retry_after(response)
        _count("AsanaRateLimited")
        if self._observer is not None:
            self._observer.rate_limited(wait)
        if retries >= self._config.asana_max_retries or not self._fits(wait):
            raise rate_limited(wait)
        logger.warning("Asana rate limit hit; waiting", extra={"retry": retries + 1, "wait_s": wait})
        return float(wait)

    def _fits(self, wait: float) -> bool:
        """Whether waiting ``wait`` seconds still leaves time for one more request and the safety margin."""
        if self._remaining_time_ms is None:
            return wait <= MAX_RATE_LIMIT_WAIT_SECONDS
        needed = wait + self._config.asana_timeout_seconds + SAFETY_MARGIN_SECONDS
        return needed * 1000 <= self._remaining_time_ms()

    def _result(self, method: str, path: str, outcome: requests.Response | AsanaError, token: str) -> dict[str, Any]:
        """The JSON envelope of a successful response; otherwise the typed error for it."""
        if isinstance(outcome, AsanaError):
            raise outcome
        if not 200 <= outcome.status_code < 300:
            message = _scrub(_asana_message(outcome), token)
            fresh_sync = _sync_token(outcome) if outcome.status_code == 412 else None
            if fresh_sync is not None:
                raise SyncTokenExpired(fresh_sync, describe_call(method, path), message)
            raise error_for_status(method, path, outcome.status_code, message)
        return _json_envelope(method, path, outcome)


# --- Request building -----------------------------------------------------------------------------------------------


def _clean_path(path: str) -> str:
    """The API path without a query string (parameters go in ``params`` so they are encoded, and not logged)."""
    path = path.split("?", 1)[0]
    return path if path.startswith("/") else f"/{path}"


def _checked_gid(gid: str, kind: str = "workspace") -> str:
    # The gid is put into a URL path or query: only Asana's numeric gids are accepted, so no input can change either.
    if not _GID.fullmatch(gid):
        raise InvalidInput(
            f"'{gid[:40]}' is not an Asana {kind} id.",
            f"Pick the {kind} from the list the integration shows; Asana ids are numeric.",
        )
    return gid


def _with_fields(params: Params | None, opt_fields: OptFields) -> dict[str, str | int | bool | None]:
    query = dict(params or {})
    if opt_fields:
        query["opt_fields"] = opt_fields if isinstance(opt_fields, str) else ",".join(opt_fields)
    return query


def _encode_params(params: Params | None) -> dict[str, str | int] | None:
    """Drop unset values and spell booleans as Asana expects (``true``/``false``, not Python's ``True``)."""
    if not params:
        return None
    encoded: dict[str, str | int] = {}
    for key, value in params.items():
        if value is None:
            continue
        encoded[key] = ("true" if value else "false") if isinstance(value, bool) else value
    return encoded


def _backoff(retries: int) -> float:
    """0.5 s, 1 s, 2 s … capped, plus up to 50 % jitter so parallel invocations do not retry in lockstep."""
    delay = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0**retries)
    return delay + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not cryptography


def _with_elapsed(
    outcome: requests.Response | AsanaError, elapsed: float, attempts: int
) -> requests.Response | AsanaError:
    """A final timeout restated with the real wait: every attempt's and every pause's, not one request's timeout."""
    if not isinstance(outcome, AsanaUnavailable) or outcome.code != "asana_timeout" or attempts < 2:
        return outcome
    return AsanaUnavailable(
        f"Asana did not answer in time: {attempts} attempts over {elapsed:.1f} s, the last one cut off or unanswered.",
        outcome.fix,
        code=outcome.code,
    )


# --- Response handling ----------------------------------------------------------------------------------------------


def _json_envelope(method: str, path: str, response: requests.Response) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise AsanaError(
            f"The answer to {describe_call(method, path)} did not come from Asana: it is not Asana's JSON "
            f"(content type {response.headers.get('Content-Type', 'unknown')!r}).",
            "A proxy or captive portal may be answering instead of Asana: check ASANA_PROXY and ASANA_API_BASE_URL.",
            code="asana_bad_response",
        )
    return body


def _data_object(body: dict[str, Any]) -> dict[str, Any]:
    data = body.get("data", {})
    return data if isinstance(data, dict) else {}


def _data_list(body: dict[str, Any]) -> list[dict[str, Any]]:
    data = body.get("data", [])
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def _next_offset(body: dict[str, Any]) -> str | None:
    next_page = body.get("next_page")
    if isinstance(next_page, dict) and isinstance(next_page.get("offset"), str) and next_page["offset"]:
        return str(next_page["offset"])
    return None


def _sync_token(response: requests.Response) -> str | None:
    """The fresh ``sync`` token of an Events API 412 (``{"errors": [...], "sync": "..."}``), if there is one."""
    try:
        body = response.json()
    except ValueError:
        return None
    sync = body.get("sync") if isinstance(body, dict) else None
    return sync if isinstance(sync, str) and sync else None


def _retry_after(response: requests.Response) -> int:
    """Seconds from the ``Retry-After`` header (rounded up), or 30 when it is missing or not a number."""
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return DEFAULT_RETRY_AFTER_SECONDS
    if not math.isfinite(seconds) or seconds < 0:
        return DEFAULT_RETRY_AFTER_SECONDS
    return math.ceil(seconds)


def _asana_message(response: requests.Response) -> str:
    """Asana's ``errors[].message`` (and ``help``) joined, or the HTTP reason when the body is not Asana's."""
    try:
        body = response.json()
    except ValueError:
        body = None
    errors = body.get("errors") if isinstance(body, dict) else None
    parts: list[str] = []
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict):
            parts.extend(str(error[key]) for key in ("message", "help") if error.get(key))
    text = " ".join(parts) or response.reason or f"HTTP {response.status_code}"
    return text[:MAX_ASANA_MESSAGE_CHARS]


def _scrub(text: str, token: str) -> str:
    # Asana does not echo tokens, but an error message is shown to users: make sure it never could.
    return text.replace(token, "****") if token else text


# --- Observability --------------------------------------------------------------------------------------------------


def _log_call(method: str, path: str, outcome: int | str, attempt: int, started: float) -> None:
    # Path, outcome and timing only: never headers (the token), query values or bodies.
    elapsed_ms = round((time.perf_counter() - started) * 1000)
    logger.debug(
        "Asana call",
        extra={"method": method, "path": path, "status": outcome, "attempt": attempt, "elapsed_ms": elapsed_ms},
    )


def _count(name: str) -> None:
    """Add a count metric. Outside a ``log_metrics`` handler (no namespace) Powertools raises at its 100-value
    auto-flush; a metric must never fail an Asana call, so that is logged and ignored."""
    try:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    except Exception:  # metrics are best effort
        logger.debug("Metric not recorded", extra={"metric": name})


__all__ = ["AsanaClient", "CallObserver", "EventsPage", "Page"]
