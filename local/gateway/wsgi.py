"""A threaded loopback WSGI server that binds at construction and serves in a daemon thread.

Binding first and serving later lets the stack learn every ephemeral port before anything is wired: the gateway's URL
is configuration for the functions and the sign-in page, and the sign-in page's URL is the gateway's token issuer.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from werkzeug.serving import WSGIRequestHandler, make_server

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_log = logging.getLogger("local.http")


class QuietRequestHandler(WSGIRequestHandler):
    """werkzeug's handler without its request log: that line carries the query string, and the OAuth redirect puts the
    authorization code there. Each app logs its own access line (path only)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return

    def log_error(self, format: str, *args: object) -> None:
        # The base class quotes the raw request line (query string included) in some errors; keep only the client.
        _log.warning("malformed HTTP request from %s", self.address_string())


class BackgroundServer:
    """``make_server(..., threaded=True)``: one thread per request, so a slow function never blocks another request
    (API Gateway serves concurrently; a webhook handshake arrives while the request creating the webhook is open)."""

    def __init__(self, host: str, port: int, name: str) -> None:
        self._name = name
        self._app: WSGIApplication | None = None
        self._server = make_server(host, port, self._dispatch, threaded=True, request_handler=QuietRequestHandler)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def serve(self, app: WSGIApplication) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self._name} is already serving")
        self._app = app
        # A short poll interval keeps stop() quick; tests start and stop whole stacks.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"{self._name}:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def _dispatch(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self._app is None:  # bound but not yet wired: only possible if a client races start-up
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"starting\n"]
        return self._app(environ, start_response)
