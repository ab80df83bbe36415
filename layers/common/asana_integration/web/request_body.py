"""What a request body must be before any route reads it: one JSON object, declared as JSON, in UTF-8, not too deep.

The shared resolver applies these rules to every function, so a route that takes a body gets them without asking:

* ``refuse_unreadable_body`` runs on the raw event, before routing: a body must come with ``Content-Type:
  application/json`` (415 otherwise: a browser's ``fetch`` labels a string body ``text/plain``, and Powertools would
  parse a form or multipart body into something else entirely) and, when API Gateway hands it over base64-encoded,
  decode to UTF-8 (400). A gateway that decodes a text body itself puts U+FFFD where bytes were not UTF-8; the
  request models refuse that character in every field (``models/text.py``).
* ``parse_json_object`` is the resolver's JSON deserializer, used when a route's body is validated: it accepts one
  JSON object and nothing else (Powertools reads a JSON array as its first element, the way it reads a repeated query
  parameter), no duplicate key (which value would count?), no ``NaN``/``Infinity`` (not JSON), and no nesting deeper
  than ``MAX_JSON_DEPTH`` (the json module raises ``RecursionError`` on deep nesting, and code after it recurses too).

Each refusal is an ``IntegrationError`` with a fix (``bad_request``, 400, or ``unsupported_media_type``, 415); nothing
of the body is quoted back.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any, NoReturn

from asana_integration.errors import BadRequest, IntegrationError

# Asana's deepest payloads (webhook events: events → resource / parent / change → new_value) nest about 5 levels.
MAX_JSON_DEPTH = 32

JSON_MEDIA_TYPE = "application/json"

FIX_SEND_JSON = (
    "Send the body as one JSON object in UTF-8 with the header Content-Type: application/json, "
    'for example {"client_id": "…"}. Nothing was changed.'
)


class UnsupportedMediaType(IntegrationError):
    status = 415
    code = "unsupported_media_type"


def invalid_body(message: str) -> BadRequest:
    return BadRequest(message, FIX_SEND_JSON)


def refuse_unreadable_body(event: Mapping[str, Any]) -> IntegrationError | None:
    """Why this HTTP API (payload 2.0) event's body cannot be read as JSON text; ``None`` when it can, or is empty."""
    body = event.get("body")
    if not body:
        return None
    headers = event.get("headers") or {}
    content_type = str(headers.get("content-type", ""))
    if media_type(content_type) != JSON_MEDIA_TYPE:
        return UnsupportedMediaType(
            f"This API accepts JSON bodies only, not {describe_media_type(content_type)}.",
            "Send the body with the header Content-Type: application/json. Nothing was changed.",
        )
    if event.get("isBase64Encoded"):
        try:
            base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return invalid_body("The request body is not UTF-8 text.")
    return None


def media_type(content_type: str) -> str:
    """``type/subtype`` of a Content-Type header, lower-cased, without parameters (``; charset=utf-8``)."""
    return content_type.split(";", 1)[0].strip().lower()


def describe_media_type(content_type: str) -> str:
    kind = media_type(content_type)
    # Named back only when it is a plausible media type: the header is the caller's text.
    if kind and len(kind) <= 100 and all(char.isascii() and (char.isalnum() or char in "/.+-") for char in kind):
        return kind
    return "a body without a usable Content-Type"


def parse_json_object(text: str) -> dict[str, Any]:
    """The body as a dict, or a 400 ``invalid_body`` saying why not."""
    try:
        document = json.loads(text, object_pairs_hook=_object_without_duplicate_keys, parse_constant=_not_json)
    except RecursionError:
        raise _too_deep() from None
    except ValueError:  # malformed JSON, or a number with more digits than Python converts
        raise invalid_body("The request body is not valid JSON.") from None
    if not isinstance(document, dict):
        raise invalid_body("The request body must be a JSON object ({…}), not an array, a string, a number or null.")
    if _deeper_than(document, MAX_JSON_DEPTH):
        raise _too_deep()
    return document


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise invalid_body("The request body names the same field twice.")
    return document


def _not_json(constant: str) -> NoReturn:
    raise invalid_body(f"The request body is not valid JSON: {constant} is not a JSON number.")


def _too_deep() -> BadRequest:
    return invalid_body(f"The request body is nested more than {MAX_JSON_DEPTH} levels deep.")


def _deeper_than(document: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels (without recursion: the input decides the depth)."""
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False
