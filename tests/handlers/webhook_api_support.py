"""What the webhook management tests share: the tenant's public webhook URL played on loopback (API Gateway in front of
the real webhook function, with switches for what a hostile or broken network path does), and the management
function called with real-shaped events against moto and the Asana sandbox."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import pytest

from asana_integration.config import get_config
from asana_integration.web.dependencies import Services, get_services
from local.asana_sandbox import AsanaSandbox, demo
from tests.aws import AwsResources
from tests.events import LambdaContext, http_event
from tests.handlers.conftest import ApiCall, function_module, make_caller
from tests.handlers.webhook_support import HOOK_ROUTE, WebhookResources, connect, webhook_resources

# What the path between Asana and the webhook function does with a handshake:
# forward: hand it to the function unchanged (the healthy path);
# tamper: hand the function another secret, and echo Asana's own back (someone else keyed the webhook);
# impostor: echo the secret without reaching the function (another server answers for the URL);
# status: answer ``status`` without reaching the function.
Mode = Literal["forward", "tamper", "impostor", "status"]
TAMPERED_SECRET = "f" * 64

ORG = "org-a"
OTHER_ORG = "org-b"
PROJECT = demo.DEMO_TASK_PROJECT_GID


class PublicWebhookUrl:
    """A loopback HTTP server playing API Gateway for ``POST /asana/webhook/{prefix}``: each request becomes the HTTP
    API event the webhook function gets on AWS, and the function's answer goes back as it would."""

    def __init__(self) -> None:
        self.mode: Mode = "forward"
        self.status = 500
        self.event_status: int | None = None  # answer deliveries with this instead of forwarding them
        self.delay_seconds = 0.0  # before answering anything
        self.handshakes = 0
        self.forwarded = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> PublicWebhookUrl:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {name.lower(): value for name, value in self.headers.items()}
                time.sleep(endpoint.delay_seconds)
                secret = headers.get("x-hook-secret")
                if secret is None and endpoint.event_status is not None:
                    return self._answer(endpoint.event_status, {}, b"")
                if secret is not None:
                    endpoint.handshakes += 1
                    if endpoint.mode == "impostor":
                        return self._answer(200, {"X-Hook-Secret": secret}, b"")
                    if endpoint.mode == "status":
                        return self._answer(endpoint.status, {}, b"")
                    if endpoint.mode == "tamper":
                        headers["x-hook-secret"] = TAMPERED_SECRET
                result = endpoint.forward(self.path, headers, body)
                answer_headers = dict(result.get("headers") or {})
                if secret is not None and endpoint.mode == "tamper" and "X-Hook-Secret" in answer_headers:
                    answer_headers["X-Hook-Secret"] = secret  # Asana is shown its own secret
                return self._answer(result["statusCode"], answer_headers, result.get("body", "").encode())

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def forward(self, path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        self.forwarded += 1
        prefix = path.rsplit("/", 1)[1] if path.startswith("/asana/webhook/") else None
        event = http_event(
            "POST",
            path,
            route_path=HOOK_ROUTE if prefix else path,
            headers=headers,
            path_parameters={"prefix": prefix} if prefix else None,
        )
        if body:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
        result: dict[str, Any] = function_module("webhook").lambda_handler(event, LambdaContext(timeout_seconds=10))
        return result


@dataclass
class WebhookApiWorld:
    """An organization connected with the demo PAT; the management function's routes; the sandbox; the public URL."""

    api: ApiCall
    services: Services
    resources: WebhookResources
    sandbox: AsanaSandbox
    public: PublicWebhookUrl
    monkeypatch: pytest.MonkeyPatch

    @property
    def webhook_url(self) -> str:
        return f"{self.public.base_url}/asana/webhook"

    def store(self) -> Any:
        return self.resources.store()

    def set_environment(self, **variables: str) -> None:
        """Change the functions' environment (as a new deployment would) and let this execution environment see it."""
        for name, value in variables.items():
            self.monkeypatch.setenv(name, value)
        get_config.cache_clear()
        for cached in list(vars(self.services)):
            del vars(self.services)[cached]  # every cached service, the configuration first among them

    def point_webhook_url_at(self, base_url: str) -> str:
        """Make ``base_url`` the tenant's public base URL; returns the webhook URL it gives."""
        self.set_environment(PUBLIC_BASE_URL=base_url, ALLOWED_TENANT_HOSTS="tenant.invalid")
        return f"{base_url}/asana/webhook"

    def asana_webhooks(self, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = self.sandbox.webhooks.list(include_deleted=include_deleted)
        return listed

    def create(self, resource: str = PROJECT, filters: list[dict[str, Any]] | None = None, **kwargs: Any) -> Any:
        return self.api("POST", "/asana/api/webhooks", body={"resource": resource, "filters": filters or []}, **kwargs)


def api_call(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    return make_caller(function_module("webhook", "management"))(method, path, **kwargs)


@pytest.fixture(name="webhook_api")
def webhook_api_fixture(
    monkeypatch: pytest.MonkeyPatch, aws_with_sandbox: AwsResources, sandbox: AsanaSandbox
) -> Iterator[WebhookApiWorld]:
    """The management function and the settings function on one fresh ``Services``; the tenant's webhook URL is a
    loopback server in front of the webhook function (the events' own host is not an allowed tenant host here)."""
    with PublicWebhookUrl() as public:
        monkeypatch.setenv("PUBLIC_BASE_URL", public.base_url)
        monkeypatch.setenv("ALLOWED_TENANT_HOSTS", public.host)
        get_config.cache_clear()
        services = Services()
        apps = [function_module("webhook", "management").app, function_module("settings").app]
        for app in apps:
            app.dependency_overrides[get_services] = lambda: services
        connect(services, ORG)
        try:
            yield WebhookApiWorld(api_call, services, webhook_resources(aws_with_sandbox), sandbox, public, monkeypatch)
        finally:
            for app in apps:
                app.dependency_overrides.pop(get_services, None)


def error_of(body: Any) -> dict[str, Any]:
    error: dict[str, Any] = body["error"]
    return error


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
