"""Reading Asana's write bodies, `{"data": {...}}`, with Asana-style 400s that name the offending field.

The sandbox accepts JSON bodies only (Asana also takes form-encoded ones). Each write operation declares the fields
the spec lets a client write (the non-readOnly properties of its request schema; tests/contract checks the lists
against the spec) and the subset the sandbox models. A field outside the spec's list answers 400, and so does a spec
field the sandbox does not model, with a message that says so, rather than silently dropping it.

Every message here is the sandbox's wording: Asana documents none of them. Asana's own messages follow the pattern
"<field>: <problem>", which these copy.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from flask import request

from local.asana_sandbox import errors
from local.asana_sandbox.errors import AsanaError
from local.asana_sandbox.timestamps import parse_date


def missing(field: str) -> AsanaError:
    return AsanaError(400, f"{field}: Missing input")


class Body:
    """The `data` object of one write request, checked against the operation's field lists."""

    def __init__(self, writable: Collection[str], modelled: Collection[str]) -> None:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise AsanaError(400, "Could not parse request data: the body must be a JSON object.")
        data = body.get("data")
        if not isinstance(data, dict):
            raise missing("data")
        for name in data:
            if name not in writable:
                raise AsanaError(400, f"{name}: Unknown property. Only the spec's writable fields are accepted.")
            if name not in modelled:
                raise AsanaError(400, f"{name}: Valid in Asana, but the sandbox does not model this field.")
        self.data: dict[str, Any] = data

    def __contains__(self, name: str) -> bool:
        return name in self.data

    def string(self, name: str) -> str:
        value = self.data[name]
        if not isinstance(value, str):
            raise AsanaError(400, f"{name}: Not a string: {value!r}")
        return value

    def boolean(self, name: str) -> bool:
        value = self.data[name]
        if not isinstance(value, bool):
            raise AsanaError(400, f"{name}: Not a boolean: {value!r}")
        return value

    def choice(self, name: str, allowed: Collection[str | None]) -> str | None:
        value = self.data[name]
        if value not in allowed:
            raise AsanaError(400, f"{name}: Not one of the allowed values: {value!r}")
        return value  # type: ignore[no-any-return]

    def gid(self, name: str) -> str:
        value = self.data[name]
        if not isinstance(value, str):
            raise AsanaError(400, f"{name}: Not a string: {value!r}")
        if not value.isdigit():
            raise errors.not_a_number(name, value)
        return value

    def gid_list(self, name: str) -> list[str]:
        value = self.data[name]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise AsanaError(400, f"{name}: Not an array of gids: {value!r}")
        for item in value:
            if not item.isdigit():
                raise errors.not_a_number(name, item)
        return list(dict.fromkeys(value))

    def optional_date(self, name: str) -> str | None:
        value = self.data[name]
        if value is None:
            return None
        if not isinstance(value, str):
            raise AsanaError(400, f"{name}: Not a valid date: {value!r}")
        return parse_date(name, value)
