"""The routes ``template.yaml`` declares and the routes the handlers serve are the same set.

Both directions matter: a declared route the handler does not serve is a 404 in production, and a served route the
template does not declare is dead code that API Gateway never delivers.
"""

from __future__ import annotations

import pytest

from local.template import http_routes
from tests.handlers.conftest import function_module, make_caller

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
FUNCTIONS = sorted({route.code_uri.strip("/").split("/")[-1] for route in http_routes()})


def declared_routes(function_dir: str) -> set[tuple[str, str]]:
    return {(r.method, r.path) for r in http_routes() if r.code_uri.strip("/").endswith(function_dir)}


@pytest.mark.parametrize("function_dir", FUNCTIONS)
def test_every_served_route_is_declared_in_the_template(function_dir):
    schema = function_module(function_dir).app.get_openapi_schema()
    served = {
        (method.upper(), path)
        for path, item in (schema.paths or {}).items()
        for method in HTTP_METHODS
        if getattr(item, method, None) is not None
    }

    assert served
    assert served <= declared_routes(function_dir)


@pytest.mark.parametrize("route", http_routes(), ids=lambda route: route.route_key)
def test_every_declared_route_reaches_a_handler(aws_with_sandbox, route):
    module = function_module(route.code_uri.strip("/").split("/")[-1])
    path = route.path.replace("{prefix}", "abc123")

    status, body = make_caller(module)(route.method, path, route_path=route.path, anonymous=not route.authorized)

    not_routed = isinstance(body, dict) and body.get("error", {}).get("message") == "No such route."
    assert not not_routed, f"{route.route_key} is declared but no handler serves it (status {status})"
