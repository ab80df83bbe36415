"""Call a function's real ``lambda_handler`` with real-shaped HTTP API events, against moto and the Asana sandbox."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from tests.events import LambdaContext, claims_for, http_event

ApiCall = Callable[..., tuple[int, Any]]


# The HTTP functions whose routes get their services through ``Depends`` (template.yaml's Handler modules); the
# webhook function wires its own few clients (a lean cold start: functions/webhook/app.py), the scheduled and queue
# functions are loaded where they are tested.
API_FUNCTIONS = ("settings", "oauth_callback")


def function_module(name: str, handler_module: str = "app") -> ModuleType:
    return importlib.import_module(f"functions.{name}.{handler_module}")


@pytest.fixture
def services(aws_with_sandbox: Any) -> Iterator[Any]:
    """This test's execution environment: every API function gets its services from one fresh ``Services``.

    Each test runs in a new moto account, as a new execution environment would; the services are still built on first
    use, so a test may change the environment (and clear ``get_config``) before its first request.
    """
    from asana_integration.web.dependencies import Services, get_services

    fresh = Services()
    apps = [function_module(name).app for name in API_FUNCTIONS]
    for app in apps:
        app.dependency_overrides[get_services] = lambda: fresh
    yield fresh
    for app in apps:
        app.dependency_overrides.pop(get_services, None)


def invoke(
    module: ModuleType,
    method: str,
    path: str,
    *,
    org: str = "org-a",
    user: str = "admin-a",
    admin: bool = True,
    body: Any = None,
    query: dict[str, str] | None = None,
    host: str | None = None,
    route_path: str | None = None,
    anonymous: bool = False,
) -> dict[str, Any]:
    """The function's raw API Gateway response to a real-shaped event (``anonymous``: a public route, no JWT)."""
    event = http_event(
        method,
        path,
        route_path=route_path,
        claims=None if anonymous else claims_for(org, user, admin=admin),
        body=body,
        query=query,
        headers={"host": host} if host else None,
    )
    response: dict[str, Any] = module.lambda_handler(event, LambdaContext())
    return response


def make_caller(module: ModuleType) -> ApiCall:
    """Call the function like an API client: (status, parsed JSON body or the raw body for other content types)."""

    def call(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        response = invoke(module, method, path, **kwargs)
        content_type = response.get("headers", {}).get("Content-Type", "")
        payload = json.loads(response["body"]) if "json" in content_type else response.get("body")
        return response["statusCode"], payload

    return call


@pytest.fixture
def settings_api(services: Any) -> ApiCall:
    return make_caller(function_module("settings"))


@pytest.fixture
def webhook_aws(aws_with_sandbox: Any) -> Any:
    """moto and the sandbox, seen from the webhook functions: the webhook records' table and key, the events queue
    (and its dead-letter queue) and the idempotency table."""
    from tests.handlers.webhook_support import webhook_resources

    return webhook_resources(aws_with_sandbox)
