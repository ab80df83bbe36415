"""Browser tests: Debian's chromium driven by Playwright (never a browser downloaded by ``playwright install``).

Two kinds of tests live here:
- ``test_admin_page.py`` drives the page against a mocked API (Playwright request routing), served with the same
  strict CSP the function sends, so the page's own behaviour is checked quickly and without the stack;
- ``test_local_stack.py`` drives the real local stack (gateway, functions, moto, sandbox, dev sign-in).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Route, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    home = tempfile.mkdtemp(prefix="chromium-home-")
    try:
        instance = playwright_instance.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, env={**os.environ, "HOME": home}
        )
        try:
            yield instance
        finally:
            instance.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)


_screenshot_dirs: list[Path] = []


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """Screenshots of the main states, kept for a person to look at (the path is printed at the end of the run).
    ``BROWSER_SCREENSHOT_DIR`` chooses the directory; by default it is a new temporary one."""
    path = Path(os.environ.get("BROWSER_SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="asana-page-shots-"))
    path.mkdir(parents=True, exist_ok=True)
    _screenshot_dirs.append(path)
    return path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for path in _screenshot_dirs:
        terminalreporter.write_line(f"admin page screenshots: {path}")


@pytest.fixture
def console_errors() -> list[str]:
    return []


@pytest.fixture
def page(browser: Browser, console_errors: list[str]) -> Iterator[Page]:
    """A fresh context per test (own sessionStorage); console errors (CSP violations, JS exceptions) are collected."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        # A 4xx/5xx answer that the page expects (401, 403, 422…) is logged by Chromium as a resource error.
        if message.type == "error" and "Failed to load resource" not in message.text:
            console_errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: console_errors.append(f"page error: {error}"))
    yield page
    context.close()


# ------------------------------------------------------------------------------------------- mocked page + API --

MOCK_ORIGIN = "https://acme.expand.securedb.test"
SETTINGS_URL = f"{MOCK_ORIGIN}/asana/settings"


def content_security_policy(nonce: str, frame_ancestors: str = "'self'") -> str:
    """The policy the page must live with: nothing inline without the nonce, nothing from elsewhere."""
    return (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
        f"img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors {frame_ancestors}"
    )


def render_page(bootstrap: dict[str, Any], nonce: str) -> str:
    """The page exactly as functions/oauth_callback/settings_page.py fills it (panels included)."""
    from functions.oauth_callback.settings_page import page_html

    return page_html(nonce, bootstrap)


@dataclass
class Call:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any


Handler = Callable[[Call], tuple[int, Any]]


@dataclass
class MockApi:
    """Routes ``/asana/api/*`` to handlers keyed by "METHOD /path"; records every call."""

    handlers: dict[str, Handler] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    bootstrap: dict[str, Any] = field(
        default_factory=lambda: {"api_base": "/asana/api", "outcome": None, "dev_signin_url": None}
    )
    frame_ancestors: str = "'self'"

    def on(self, route: str, status: int, payload: Any) -> None:
        self.handlers[route] = lambda _call: (status, payload)

    def on_call(self, route: str, handler: Handler) -> None:
        self.handlers[route] = handler

    def calls_to(self, route: str) -> list[Call]:
        method, path = route.split(" ", 1)
        return [c for c in self.calls if c.method == method and c.path == path]

    def install(self, page: Page) -> None:
        page.route(f"{MOCK_ORIGIN}/asana/settings*", self._serve_page)
        page.route(f"{MOCK_ORIGIN}/asana/api/**", self._serve_api)

    def _serve_page(self, route: Route) -> None:
        nonce = secrets.token_urlsafe(16)
        route.fulfill(
            status=200,
            headers={
                "Content-Type": "text/html; charset=utf-8",
                "Content-Security-Policy": content_security_policy(nonce, self.frame_ancestors),
                "Cache-Control": "no-store",
            },
            body=render_page(self.bootstrap, nonce),
        )

    def _serve_api(self, route: Route) -> None:
        request = route.request
        url = request.url.removeprefix(MOCK_ORIGIN + "/asana/api")
        path, _, query = url.partition("?")
        body = json.loads(request.post_data) if request.post_data else None
        call = Call(request.method, path, query, dict(request.headers), body)
        self.calls.append(call)
        handler = self.handlers.get(f"{request.method} {path}")
        status, payload = handler(call) if handler else (404, _error("not_found", "No such route.", "Check the URL."))
        route.fulfill(status=status, headers={"Content-Type": "application/json"}, body=json.dumps(payload))


def _error(code: str, message: str, fix: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fix": fix, **extra}}


@pytest.fixture
def mock_api(page: Page) -> MockApi:
    api = MockApi()
    api.install(page)
    return api


# ------------------------------------------------------------------------------------------------- local stack --


@pytest.fixture
def stack(request: pytest.FixtureRequest) -> Any:
    """The running ``LocalStack`` (urls, sandbox, token_for) behind the end-to-end tests' ``local_stack`` fixture."""
    return request.getfixturevalue("local_stack").stack
