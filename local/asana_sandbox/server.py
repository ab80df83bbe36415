"""`AsanaSandbox`: runs one sandbox on loopback in a background thread and exposes its switches as a Python API."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from local.asana_sandbox import large_org
from local.asana_sandbox.app import shared_app
from local.asana_sandbox.changes import Changes
from local.asana_sandbox.control import reset, revoke_refresh_tokens
from local.asana_sandbox.demo import DemoData
from local.asana_sandbox.large_org import OrgSize
from local.asana_sandbox.models import OAuthApp
from local.asana_sandbox.recorder import RecordedRequest, Revocation
from local.asana_sandbox.state import ENVIRON_KEY, SandboxState
from local.asana_sandbox.webhooks import Webhooks

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

_log = logging.getLogger("local.asana_sandbox")


class _QuietRequestHandler(WSGIRequestHandler):
    """Logs method, path and status only: query strings can carry OAuth codes, so they never reach the log."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self.path.split("?", 1)[0]
        _log.debug("%s %s %s", self.command, path, code)


class AsanaSandbox:
    """An in-memory Asana on loopback.

    >>> sandbox = AsanaSandbox(port=0); sandbox.start()   # doctest: +SKIP
    >>> sandbox.api_base_url                              # doctest: +SKIP
    'http://127.0.0.1:54321/api/1.0'

    All state lives in the instance, so tests may run several side by side. `dataset` is the Asana data to serve:
    the small demo organization by default, or a generated one (`large_org.LARGE`, any `OrgSize`, or data built with
    `large_org.build_large_org(...)`). `changes` makes changes as a user or admin would in Asana's web app (see
    changes.py); they record events like writes through the API do.

    `webhooks` is the webhook registry (webhooks.py documents its Python API). `allow_loopback_targets` lets webhooks
    target loopback and private addresses, as local mode needs; False applies Asana's 403 for localhost-type targets.
    `webhook_dispatcher` runs a background thread that delivers webhooks as they fall due; tests that want to say
    when deliveries happen pass False and call `webhooks.deliver_due()`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        dataset: DemoData | OrgSize | None = None,
        *,
        allow_loopback_targets: bool = True,
        webhook_dispatcher: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.state = SandboxState(
            _built(dataset) if dataset is not None else None, allow_loopback_targets=allow_loopback_targets
        )
        self.app = shared_app()
        self.changes: Changes = self.state.changes
        self.webhooks: Webhooks = self.state.webhooks
        self._webhook_dispatcher = webhook_dispatcher
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # --- Lifecycle ------------------------------------------------------------------------------------------------
    def start(self) -> AsanaSandbox:
        """Bind and serve in a daemon thread; returns once the socket is listening."""
        if self._server is not None:
            raise RuntimeError("sandbox already started")
        # threaded=True: a webhook's target may call the sandbox while the create (and its handshake) is in flight.
        self._server = make_server(
            self.host, self.port, self._wsgi, threaded=True, request_handler=_QuietRequestHandler
        )
        self.port = self._server.server_port
        # A short poll interval keeps stop() fast (tests start and stop one sandbox per test).
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"asana-sandbox:{self.port}",
            daemon=True,
        )
        self._thread.start()
        if self._webhook_dispatcher:
            self.webhooks.start_dispatcher()
        return self

    def _wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """The shared app, acting on this sandbox's state (see state.current_state)."""
        environ[ENVIRON_KEY] = self.state
        return self.app(environ, start_response)

    def stop(self) -> None:
        if self._server is None:
            return
        self.webhooks.stop_dispatcher()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> AsanaSandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base_url(self) -> str:
        return f"{self.base_url}/api/1.0"

    @property
    def oauth_base_url(self) -> str:
        return f"{self.base_url}/-"

    # --- Credentials ----------------------------------------------------------------------------------------------
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
        """Register an OAuth app. Pass `scopes` (and full_permissions=False) for a granular-scope app."""
        return self.state.store.register_app(
            name,
            redirect_uris,
            full_permissions=full_permissions,
            scopes=scopes,
            client_id=client_id,
            client_secret=client_secret,
        )

    def add_redirect_uri(self, client_id: str, redirect_uri: str) -> None:
        self.state.store.add_redirect_uri(client_id, redirect_uri)

    def issue_pat(self, user_gid: str) -> str:
        return self.state.store.issue_pat(user_gid)

    def revoke_pat(self, token: str) -> bool:
        return self.state.store.revoke_pat(token)

    # --- OAuth switches -------------------------------------------------------------------------------------------
    def set_access_token_ttl(self, seconds: float) -> None:
        """Lifetime of access tokens issued from now on (default 3600; 0 makes them expire at once)."""
        self.state.store.access_token_ttl_seconds = seconds

    def set_refresh_token_rotation(self, enabled: bool) -> None:
        """When on, the refresh grant returns a new refresh_token and retires the old one (Asana: unconfirmed)."""
        self.state.store.rotate_refresh_tokens = enabled

    def fail_refreshes(self, enabled: bool = True, refresh_token: str | None = None) -> None:
        """Make refresh grants answer 400 invalid_grant: all of them, or only for one refresh token."""
        self.state.store.fail_refreshes(enabled, refresh_token)

    def revoke_refresh_tokens(
        self, *, refresh_token: str | None = None, user_gid: str | None = None, client_id: str | None = None
    ) -> int:
        """Revoke as the user would in Asana; with no argument, every live refresh token."""
        return revoke_refresh_tokens(self.state, refresh_token=refresh_token, user_gid=user_gid, client_id=client_id)

    def expire_access_tokens(self) -> int:
        return self.state.store.expire_access_tokens()

    # --- Other switches -------------------------------------------------------------------------------------------
    def set_rate_limit(self, requests_per_minute: int) -> None:
        self.state.limiter.per_minute = requests_per_minute

    def set_offset_ttl(self, seconds: float) -> None:
        self.state.offsets.ttl_seconds = seconds

    def advance_clock(self, seconds: float) -> None:
        """Move the sandbox's clock forward (token, code, offset and rate-window expiry, webhook timing), without
        sleeping."""
        self.state.clock.advance(seconds)

    def set_clock_speed(self, factor: float) -> None:
        """Make sandbox time run `factor` times faster than real time (e.g. 3600: 8-hourly heartbeats every 8 s)."""
        self.state.clock.set_speed(factor)

    def inject_errors(self, count: int = 1, status: int = 500, path_prefix: str = "") -> None:
        self.state.faults.inject_errors(count, status, path_prefix)

    def inject_delay(self, seconds: float, count: int = 1, path_prefix: str = "") -> None:
        self.state.faults.inject_delay(seconds, count, path_prefix)

    def force_rate_limit(self, count: int = 1, retry_after: int = 1, path_prefix: str = "") -> None:
        self.state.faults.force_rate_limit(count, retry_after, path_prefix)

    def reset(self) -> None:
        """Clear faults, switches, counters and the clock's skew and speed; keeps apps, PATs, issued tokens and
        webhooks."""
        reset(self.state)

    # --- Data -----------------------------------------------------------------------------------------------------
    def load_dataset(self, dataset: DemoData | OrgSize) -> None:
        """Replace every resource and clear the events; apps, PATs and issued tokens stay."""
        self.state.load(_built(dataset))

    def set_sync_token_ttl(self, seconds: float) -> None:
        """Lifetime of Events API sync tokens issued from now on (Asana: 24 h)."""
        self.state.events.token_ttl_seconds = seconds

    def set_event_retention(self, seconds: float) -> None:
        """How long events stay readable (Asana: 24 h); a token older than the oldest kept event answers 412."""
        self.state.events.retention_seconds = seconds

    def events(self, resource_gid: str) -> list[dict[str, Any]]:
        """Every kept event of one resource's stream, rendered as GET /events renders them."""
        return [event.render() for event in self.state.events.events_for(resource_gid)]

    # --- Observation ----------------------------------------------------------------------------------------------
    def requests(self) -> list[RecordedRequest]:
        return self.state.recorder.requests()

    def request_count(
        self, method: str | None = None, path: str | None = None, *, with_batch_actions: bool = False
    ) -> int:
        """HTTP requests received (a batch is one); with ``with_batch_actions``, its actions too."""
        return self.state.recorder.count(method, path, with_batch_actions=with_batch_actions)

    def grant_count(self, grant_type: str) -> int:
        return self.state.recorder.grant_count(grant_type)

    def revocations(self) -> list[Revocation]:
        return self.state.recorder.revocations()

    def request_summary(self) -> dict[str, Any]:
        return self.state.recorder.summary()


def _built(dataset: DemoData | OrgSize) -> DemoData:
    return large_org.build(dataset) if isinstance(dataset, OrgSize) else dataset
