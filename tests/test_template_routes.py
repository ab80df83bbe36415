"""The routes ``template.yaml`` declares and the routes the handlers serve are the same set.

Both directions matter: a declared route the handler does not serve is a 404 in production, and a served route API
Gateway never delivers to that function is dead code. "Delivers" is decided by the local gateway's route table, which
matches as HTTP APIs do: ``/asana/settings/`` is served through the one ``GET /asana/settings`` route.
"""

from __future__ import annotations

import pytest

from local.gateway.routes import RouteTable
from local.openapi import WITHOUT_RESOLVER, function_tag
from local.template import HttpRoute, http_routes
from tests.handlers.conftest import function_module, make_caller

HTTP_METHODS = ("get", "put", "post", "delete", "patch")


def handler_of(route: HttpRoute) -> tuple[str, str]:
    """The function's directory under functions/ and its handler module (several functions share functions/sync/)."""
    return route.code_uri.strip("/").split("/")[-1], route.handler.split(".")[0]


FUNCTIONS = sorted({handler_of(route) for route in http_routes()})
# Functions that route nothing themselves (the webhook target answers every POST API Gateway hands it, its prefix in
# pathParameters: no resolver, for its cold start) serve exactly their declared routes; the test below that calls
# every declared route covers them.
ROUTED = [function for function in FUNCTIONS if function_tag(*function) not in WITHOUT_RESOLVER]


def served_routes(function_dir: str, handler_module: str = "app") -> set[tuple[str, str]]:
    schema = function_module(function_dir, handler_module).app.get_openapi_schema()
    return {
        (method.upper(), path)
        for path, item in (schema.paths or {}).items()
        for method in HTTP_METHODS
        if getattr(item, method, None) is not None
    }


@pytest.mark.parametrize(("function_dir", "handler_module"), ROUTED, ids=lambda name: name)
def test_api_gateway_delivers_every_served_route_to_its_function(function_dir, handler_module):
    table = RouteTable.from_template()
    served = served_routes(function_dir, handler_module)
    assert served

    for method, path in sorted(served):
        match = table.match(method, path.replace("{prefix}", "abc123"))
        assert match is not None, f"{method} {path} is served but the template declares no route for it"
        assert handler_of(match.route) == (function_dir, handler_module), (
            f"{method} {path} goes to {match.route.function}"
        )


def test_the_settings_page_is_one_route_serving_both_redirect_uris():
    declared = {
        route.path for route in http_routes() if route.method == "GET" and route.path.startswith("/asana/settings")
    }
    served = {path for method, path in served_routes("oauth_callback") if method == "GET"}

    assert declared == {"/asana/settings"}
    assert {"/asana/settings", "/asana/settings/"} <= served


@pytest.mark.parametrize("route", http_routes(), ids=lambda route: route.route_key)
def test_every_declared_route_reaches_a_handler(aws_with_sandbox, route):
    module = function_module(*handler_of(route))
    path = route.path.replace("{prefix}", "abc123")

    status, body = make_caller(module)(route.method, path, route_path=route.path, anonymous=not route.authorized)

    not_routed = isinstance(body, dict) and body.get("error", {}).get("message") == "No such route."
    assert not not_routed, f"{route.route_key} is declared but no handler serves it (status {status})"


def test_a_function_without_a_resolver_really_has_none():
    unrouted = [function for function in FUNCTIONS if function not in ROUTED]

    assert unrouted, "nothing to exempt: drop the exemption"
    assert not [function for function in unrouted if hasattr(function_module(*function), "app")]
