"""A tiny webhook receiver on loopback for the sandbox's webhook tests: it answers handshakes (echoing
`X-Hook-Secret`, unless told not to) and records every request it receives with its exact body bytes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def is_handshake(self) -> bool:
        return "X-Hook-Secret" in self.headers

    @property
    def events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = json.loads(self.body)["events"]
        return events


class WebhookTarget:
    """Switches: `echo` (answer the handshake with the secret), `handshake_status`, `delivery_status`, `delay_seconds`
    (before answering anything)."""

    def __init__(self) -> None:
        self.echo = True
        self.handshake_status = 200
        self.delivery_status = 200
        self.delay_seconds = 0.0
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with target._lock:
                    target._received.append(Received(self.path, dict(self.headers.items()), body))
                time.sleep(target.delay_seconds)
                secret = self.headers.get("X-Hook-Secret")
                self.send_response(target.handshake_status if secret is not None else target.delivery_status)
                if secret is not None and target.echo:
                    self.send_header("X-Hook-Secret", secret)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet test output

        return Handler

    def __enter__(self) -> WebhookTarget:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/hook"

    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def handshakes(self) -> list[Received]:
        return [r for r in self.received() if r.is_handshake]

    def deliveries(self) -> list[Received]:
        return [r for r in self.received() if not r.is_handshake]

    def events(self) -> list[dict[str, Any]]:
        return [event for delivery in self.deliveries() for event in delivery.events]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Poll until `condition()` holds (for the background dispatcher, whose timing the test does not control)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.02)
        return condition()
