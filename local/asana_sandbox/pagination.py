"""Asana-style pagination: `limit` 1-100, opaque expiring `offset` tokens, `next_page` only when `limit` was sent.

Offset tokens are HMAC-signed like the JWTs Asana hands out (one observed token had exp - iat = 900 s), keyed per
sandbox instance. That lets the sandbox tell an expired token (valid signature, past `exp`) from a forged or foreign one
without remembering every token it issued.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from local.asana_sandbox.errors import LIMIT_OUT_OF_RANGE, OFFSET_EXPIRED, OFFSET_INVALID, AsanaError

DEFAULT_OFFSET_TTL_SECONDS = 900.0
MAX_LIMIT = 100
# Asana's "grandfathered" unpaginated listings stop at about 1,000 objects.
UNPAGINATED_CAP = 1000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class PageRequest:
    limit: int | None
    position: int


class OffsetCodec:
    """Issues and checks offset tokens bound to one listing path."""

    def __init__(self, clock: Callable[[], float], ttl_seconds: float = DEFAULT_OFFSET_TTL_SECONDS) -> None:
        self._key = secrets.token_bytes(32)
        self._clock = clock
        self.ttl_seconds = ttl_seconds

    def issue(self, path: str, position: int) -> str:
        now = self._clock()
        header = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}, separators=(",", ":")).encode())
        claims = {"path": path, "pos": position, "iat": int(now), "exp": now + self.ttl_seconds}
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = _b64(hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        return f"{header}.{payload}.{signature}"

    def decode(self, token: str, path: str) -> int:
        """Return the list position the token points at, or raise Asana's 400."""
        try:
            header, payload, signature = token.split(".")
            expected = _b64(hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
            if not hmac.compare_digest(signature, expected):
                raise AsanaError(400, OFFSET_INVALID)
            claims: dict[str, Any] = json.loads(_unb64(payload))
        except (ValueError, binascii.Error) as exc:
            raise AsanaError(400, OFFSET_INVALID) from exc
        if claims.get("path") != path or not isinstance(claims.get("pos"), int):
            raise AsanaError(400, OFFSET_INVALID)
        if self._clock() >= float(claims["exp"]):
            raise AsanaError(400, OFFSET_EXPIRED)
        return int(claims["pos"])


def parse_page_request(args: Mapping[str, str], codec: OffsetCodec, path: str) -> PageRequest:
    raw_limit = args.get("limit")
    limit: int | None = None
    if raw_limit is not None:
        try:
            limit = int(raw_limit)
        except ValueError as exc:
            raise AsanaError(400, LIMIT_OUT_OF_RANGE) from exc
        if not 1 <= limit <= MAX_LIMIT:
            raise AsanaError(400, LIMIT_OUT_OF_RANGE)
    raw_offset = args.get("offset")
    position = codec.decode(raw_offset, path) if raw_offset else 0
    return PageRequest(limit, position)


def paginate[T](
    items: Sequence[T],
    page: PageRequest,
    *,
    codec: OffsetCodec,
    path: str,
    query: Sequence[tuple[str, str]],
    base_url: str,
) -> tuple[list[T], dict[str, str] | None, bool]:
    """Slice one page; return (items, next_page, include_next_page_key).

    `query` is the request's query without `offset`; next_page.path repeats it so a client can follow `uri` as is.
    """
    if page.limit is None:
        # No limit: Asana answers without next_page at all (and truncates large listings).
        return list(items[page.position : page.position + UNPAGINATED_CAP]), None, False
    end = page.position + page.limit
    chunk = list(items[page.position : end])
    if end >= len(items):
        return chunk, None, True
    offset = codec.issue(path, end)
    next_path = f"{path}?{urlencode([*query, ('offset', offset)])}"
    return chunk, {"offset": offset, "path": next_path, "uri": f"{base_url}{next_path}"}, True
