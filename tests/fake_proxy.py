"""A forward HTTP proxy on loopback that records what passes through it, for tests of the outbound proxy setting.

A client configured with an ``http://`` proxy sends it each request for an ``http://`` URL with the absolute URL as
the request target, and the proxy's credentials (from the proxy URL's user-info) in ``Proxy-Authorization``. This
proxy checks those credentials as a real one would (407 without them), forwards the request to its target (the Asana
sandbox on loopback in these tests) and relays the answer, so a test can assert that a call went through the proxy,
with the credentials, and still worked.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

import requests

# Hop-by-hop headers (RFC 9110 §7.6.1) are the proxy's own, never forwarded.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding"}
)


@dataclass(frozen=True)
class Passed:
    method: str
    url: str  # the absolute URL the client asked the proxy for
    authorized: bool


class FakeProxy:
    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password
        self.passed: list[Passed] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-proxy", daemon=True)

    @property
    def url(self) -> str:
        """The proxy URL a deployment would store, credentials included."""
        return f"http://{self.username}:{self.password}@127.0.0.1:{self._server.server_address[1]}"

    def paths(self) -> list[str]:
        with self._lock:
            return [urlsplit(passed.url).path for passed in self.passed if passed.authorized]

    def __enter__(self) -> FakeProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self
        expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()

        class Handler(BaseHTTPRequestHandler):
            def _relay(self) -> None:
                authorized = self.headers.get("Proxy-Authorization") == expected
                with proxy._lock:
                    proxy.passed.append(Passed(self.command, self.path, authorized))
                if not authorized:
                    self.send_response(407)
                    self.send_header("Proxy-Authenticate", 'Basic realm="fake"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                length = int(self.headers.get("Content-Length") or 0)
                headers = {name: value for name, value in self.headers.items() if name.lower() not in _HOP_BY_HOP}
                answer = requests.request(
                    self.command,
                    self.path,
                    headers=headers,
                    data=self.rfile.read(length) if length else None,
                    allow_redirects=False,
                    timeout=10,
                    proxies={"http": "", "https": ""},
                )
                body = answer.content
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in _HOP_BY_HOP | {"content-length", "content-encoding"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _relay

            def log_message(self, format: str, *args: object) -> None:
                return  # the test asserts on ``passed``; stderr stays quiet

        return Handler
