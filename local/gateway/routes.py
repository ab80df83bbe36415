"""Route selection as API Gateway HTTP APIs do it, over the routes ``template.yaml`` declares and nothing else.

HTTP API rules that matter here: paths match exactly (``/asana/settings`` and ``/asana/settings/`` are different
routes), ``{name}`` matches one whole path segment, ``{name+}`` matches the rest of the path, the most specific route
wins (literal segments beat variables, variables beat greedy variables), ``ANY`` matches every method, and a path that
exists only for other methods is a 404 like any unknown path (HTTP APIs never answer 405).
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
