"""Each function's environment from ``template.yaml``, and the one process environment they must share locally.

On AWS every function has its own environment. Here all handlers run in one process with one ``os.environ``, so the
stack sets the union of the functions' variables once, before any handler module is imported. That is only faithful
if no two functions give a variable different values, so :func:`merged_environment` refuses the union when they do
(today they cannot: every variable comes from ``Globals``). A function that needs a value of its own would need its
own process; the error says so instead of letting one function silently read another's value.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from local.template import functions, load_template, resolve_environment


class EnvironmentConflict(ValueError):
    pass


def function_environments(
    references: Mapping[str, str], template: Mapping[str, Any] | None = None
) -> dict[str, dict[str, str]]:
    """Each function's variables (Globals + its own), ``!Ref``/``!GetAtt`` resolved through ``references``."""
    template = template or load_template()
    return {
        spec.logical_id: resolve_environment(spec.environment, references, template) for spec in functions(template)
    }


def merged_environment(environments: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for function, variables in environments.items():
        for name, value in variables.items():
            if name in merged and merged[name] != value:
                raise EnvironmentConflict(
                    f"{owner[name]} and {function} set {name} to different values; the local gateway runs every "
                    "function in one process with one environment, so it cannot give each its own value."
                )
            merged[name] = value
            owner.setdefault(name, function)
    return merged


@contextmanager
def process_environment(values: Mapping[str, str], *, remove: tuple[str, ...] = ()) -> Iterator[None]:
    """Set ``values`` (and delete ``remove``) in ``os.environ``, restoring the previous state on exit."""
    touched = set(values) | set(remove)
    saved = {name: os.environ.get(name) for name in touched}
    try:
        for name in remove:
            os.environ.pop(name, None)
        os.environ.update(values)
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = previous
