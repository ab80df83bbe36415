"""Route selection from the real template.yaml, with API Gateway's matching rules (trailing slashes included)."""

from __future__ import annotations

import pytest

from local.gateway.routes import RouteTable
from local.template import HttpRoute, http_routes


@pytest.fixture(scope="module")
def table() -> RouteTable:
    return RouteTable.from_template()


def test_every_declared_route_matches_itself(table: RouteTable) -> None:
    for route in http_routes():
        path = route.path.replace("{prefix}", "abc")
        match = table.match(route.method, path)
        assert match is not None, route.route_key
        assert match.route == route


@pytest.mark.parametrize(
    ("method", "path", "function", "authorized"),
    [
        ("GET", "/asana/settings", "OAuthCallbackFunction", False),
        ("GET", "/asana/settings/", "OAuthCallbackFunction", False),
        ("GET", "/asana/api/settings", "SettingsFunction", True),
        ("POST", "/asana/webhook", "WebhookFunction", False),
    ],
)
def test_template_routes(table: RouteTable, method: str, path: str, function: str, authorized: bool) -> None:
    match = table.match(method, path)
    assert match is not None
    assert (match.route.function, match.route.authorized) == (function, authorized)


def test_path_variable_matches_one_segment(table: RouteTable) -> None:
    match = table.match("POST", "/asana/webhook/tenant-7")
    assert match is not None
    assert match.route.path == "/asana/webhook/{prefix}"
    assert match.path_parameters == {"prefix": "tenant-7"}
    assert table.match("POST", "/asana/webhook/a/b") is None
    assert table.match("POST", "/asana/webhook//") is None  # an empty segment is not a value


def test_a_trailing_slash_is_matched_as_the_path_without_it(table: RouteTable) -> None:
    for method, path, declared in [
        ("GET", "/asana/settings/", "/asana/settings"),
        ("GET", "/asana/api/settings/", "/asana/api/settings"),
        ("POST", "/asana/webhook/", "/asana/webhook"),  # not {prefix} with an empty value
        ("POST", "/asana/webhook/tenant-7/", "/asana/webhook/{prefix}"),
    ]:
        match = table.match(method, path)
        assert match is not None, path
        assert match.route.path == declared
    assert table.match("POST", "/asana/webhook/tenant-7/").path_parameters == {"prefix": "tenant-7"}  # type: ignore[union-attr]


def test_the_settings_page_is_declared_once() -> None:
    assert [r.path for r in http_routes() if r.method == "GET" and r.path.startswith("/asana/settings")] == [
        "/asana/settings"
    ]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/asana/webhook"),  # declared for POST only: API Gateway answers 404, not 405
        ("GET", "/asana/settings//"),  # one trailing slash is dropped, not two
        ("HEAD", "/asana/settings"),
        ("GET", "/asana/API/settings"),  # paths are case-sensitive
        ("GET", "/"),
    ],
)
def test_undeclared_is_not_found(table: RouteTable, method: str, path: str) -> None:
    assert table.match(method, path) is None


def _route(method: str, path: str) -> HttpRoute:
    return HttpRoute(method, path, "F", "f/", "app.h", authorized=True)


def test_most_specific_route_wins() -> None:
    table = RouteTable(
        [_route("GET", "/a/{p+}"), _route("GET", "/a/{x}"), _route("ANY", "/a/b"), _route("GET", "/a/b")]
    )
    assert table.match("GET", "/a/b").route.path == "/a/b"  # type: ignore[union-attr]
    assert table.match("GET", "/a/b").route.method == "GET"  # type: ignore[union-attr]
    assert table.match("POST", "/a/b").route.method == "ANY"  # type: ignore[union-attr]
    assert table.match("GET", "/a/c").route.path == "/a/{x}"  # type: ignore[union-attr]
    greedy = table.match("GET", "/a/c/d")
    assert greedy is not None
    assert (greedy.route.path, greedy.path_parameters) == ("/a/{p+}", {"p": "c/d"})


def test_duplicate_route_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        RouteTable([_route("GET", "/a"), _route("GET", "/a")])


def test_a_route_ending_in_a_slash_is_refused_as_aws_creates_none() -> None:
    with pytest.raises(ValueError, match="ends with '/'"):
        RouteTable([_route("GET", "/a/")])
    assert RouteTable([_route("GET", "/")]).match("GET", "/") is not None  # the root route is "/" itself
