"""Route selection as API Gateway HTTP APIs do it, over the routes ``template.yaml`` declares and nothing else.

HTTP API rules that matter here: paths match case-sensitively, ``{name}`` matches one whole, non-empty path segment,
``{name+}`` matches the rest of the path, the most specific route wins (literal segments beat variables, variables
beat greedy variables), ``ANY`` matches every method, and a path that exists only for other methods is a 404 like any
unknown path (HTTP APIs never answer 405).

Trailing slashes: a route is declared without one, and a request with one is matched as the path without it. The
function still receives the path as sent (``rawPath``, ``requestContext.http.path``), so a handler that serves both
spellings answers both. Sources, since API Gateway's documentation says nothing about it:

- A route path ending in ``/`` is not a route: SAM creates no route for such an ``HttpApi`` event and reports nothing
  (aws/serverless-application-model#1949), and API Gateway refuses the route key when asked directly
  (storacha/w3infra#166). So :class:`RouteTable` refuses it too, instead of serving a route AWS would not have.
- A request for ``/hello/`` reaches the function of the ``/hello`` route on an HTTP API as on a REST API, as observed
  by Powertools' maintainers (aws-powertools/powertools-lambda-python#1552). SAM's translator relies on API Gateway
  dropping the slash (``samtranslator/model/eventsources/push.py``, "APIGW doesn't like trailing slashes ... and
  removes as a part of their behaviour, but this isn't documented") and ``sam local start-api`` serves ``/foo/``
  with the ``/foo`` route (aws/aws-sam-cli#1495).

Being undocumented, this is the one routing rule a real deployment must confirm (``GET /asana/settings/`` answering
the settings page).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from local.template import HttpRoute, http_routes

_VARIABLE = re.compile(r"^\{([A-Za-z0-9._-]+)(\+?)\}$")


@dataclass(frozen=True)
class RouteMatch:
    route: HttpRoute
    path_parameters: Mapping[str, str]


@dataclass(frozen=True)
class _Compiled:
    route: HttpRoute
    pattern: re.Pattern[str]
    names: tuple[str, ...]
    # Sort key: per segment 0 = literal, 1 = {var}, 2 = {var+}; lexicographic order puts the most specific first.
    specificity: tuple[int, ...]


class RouteTable:
    def __init__(self, routes: Iterable[HttpRoute]) -> None:
        compiled = [_compile(route) for route in routes]
        seen: set[str] = set()
        for item in compiled:
            if item.route.route_key in seen:
                raise ValueError(f"route {item.route.route_key!r} is declared twice in the template")
            seen.add(item.route.route_key)
        # ANY after explicit methods at equal path specificity, as API Gateway prefers the explicit method.
        self._routes = sorted(compiled, key=lambda c: (c.specificity, c.route.method == "ANY"))

    @classmethod
    def from_template(cls, template: Mapping[str, Any] | None = None) -> RouteTable:
        return cls(http_routes(template))

    @property
    def routes(self) -> list[HttpRoute]:
        return [item.route for item in self._routes]

    def match(self, method: str, path: str) -> RouteMatch | None:
        method = method.upper()
        if path != "/" and path.endswith("/"):
            path = path[:-1]  # one trailing slash: "/a//" stays unmatched, as its last segment would be empty
        for item in self._routes:
            if item.route.method not in (method, "ANY"):
                continue
            found = item.pattern.fullmatch(path)
            if found:
                return RouteMatch(item.route, dict(zip(item.names, found.groups(), strict=True)))
        return None


def _compile(route: HttpRoute) -> _Compiled:
    if not route.path.startswith("/"):
        raise ValueError(f"route path {route.path!r} must start with '/'")
    if route.path != "/" and route.path.endswith("/"):
        raise ValueError(
            f"route path {route.path!r} ends with '/': an HTTP API has no such route (SAM silently creates none); "
            "declare it without the slash, which also answers the trailing-slash request"
        )
    parts: list[str] = []
    names: list[str] = []
    specificity: list[int] = []
    for segment in route.path.split("/")[1:]:
        variable = _VARIABLE.match(segment)
        if variable is None:
            parts.append(re.escape(segment))
            specificity.append(0)
        elif variable.group(2):  # greedy: the rest of the path, at least one character
            parts.append("(.+)")
            names.append(variable.group(1))
            specificity.append(2)
        else:
            parts.append("([^/]+)")
            names.append(variable.group(1))
            specificity.append(1)
    return _Compiled(route, re.compile("/" + "/".join(parts)), tuple(names), tuple(specificity))
