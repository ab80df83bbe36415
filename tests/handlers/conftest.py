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


def function_module(name: str) -> ModuleType:
    return importlib.import_module(f"functions.{name}.app")


def _reset(module: ModuleType) -> None:
    # Each function caches its services per execution environment; a test's moto account is a new environment.
    for attribute in ("settings_service", "services", "connection_service"):
        cached = getattr(module, attribute, None)
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()


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
def settings_api(aws_with_sandbox: Any) -> Iterator[ApiCall]:
    module = function_module("settings")
    _reset(module)
    yield make_caller(module)
    _reset(module)
