"""HTTP API payload format 2.0, both ways: the event API Gateway sends a function, and how it reads the answer.

Reference: https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html.
Points that functions notice: header names are lower-cased and repeated headers comma-joined; the ``cookie`` header is
moved to ``cookies``; repeated query parameters are comma-joined; ``queryStringParameters``, ``pathParameters``,
``cookies`` and ``body`` are absent (not empty) when there are none; non-text bodies arrive base64-encoded.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.wrappers import Request

from local.gateway.routes import RouteMatch
from local.gateway.runtime import ACCOUNT_ID

API_ID = "localapi01"

# Bodies with these media types reach the function as text; API Gateway base64-encodes everything else (including
# form posts and requests without a Content-Type).
_TEXT_TYPES = ("application/json", "application/xml", "application/javascript", "application/ecmascript")


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    warnings: list[str] = field(default_factory=list)


class InvalidLambdaResponse(Exception):
    """The function's answer is not something API Gateway can turn into HTTP; the client gets a 500."""


def new_request_id() -> str:
    # Shaped like API Gateway's ids (e.g. "JKJaXmPLvHcESHA="): opaque, short, unique.
    return base64.b64encode(secrets.token_bytes(10)).decode()


def build_event(
    request: Request,
    match: RouteMatch,
    *,
    claims: Mapping[str, str] | None,
    request_id: str,
    now: float | None = None,
) -> dict[str, Any]:
    now = time.time() if now is None else now
    headers = _headers(request)
    host = headers.get("host", "")
    raw_path, _, raw_query = _raw_target(request).partition("?")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": match.route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    cookies = [c.strip() for c in headers.pop("cookie", "").split(";") if c.strip()]
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    query = _query_parameters(raw_query)
    if query:
        event["queryStringParameters"] = query
    if match.path_parameters:
        event["pathParameters"] = dict(match.path_parameters)
    context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": host,
        "domainPrefix": host.split(".", 1)[0],
        "http": {
            "method": request.method,
            "path": request.path,
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "sourceIp": request.remote_addr or "127.0.0.1",
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": match.route.route_key,
        "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "timeEpoch": int(now * 1000),
    }
    if claims is not None:
        # No scopes: the template's routes declare no AuthorizationScopes, and API Gateway then sends null.
        context["authorizer"] = {"jwt": {"claims": dict(claims), "scopes": None}}
    event["requestContext"] = context
    body = request.get_data(cache=True)
    if body:
        text = _is_text(request.headers.get("content-type", ""))
        event["body"] = body.decode("utf-8", errors="replace") if text else base64.b64encode(body).decode()
        event["isBase64Encoded"] = not text
    else:
        event["isBase64Encoded"] = False
    return event


def _headers(request: Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    # What API Gateway adds in front of every integration.
    source_ip = request.remote_addr or "127.0.0.1"
    headers["x-forwarded-for"] = (
        f"{headers['x-forwarded-for']}, {source_ip}" if "x-forwarded-for" in headers else source_ip
    )
    headers["x-forwarded-port"] = str(request.environ.get("SERVER_PORT", ""))
    headers["x-forwarded-proto"] = request.scheme
    headers.setdefault("x-amzn-trace-id", f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}")
    return headers


def _raw_target(request: Request) -> str:
    # werkzeug keeps the request target as sent (percent-encoding intact); PATH_INFO is already decoded.
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if isinstance(raw, str) and raw.startswith("/"):
        return raw
    query = request.environ.get("QUERY_STRING", "")
    return request.path + (f"?{query}" if query else "")


def _query_parameters(raw_query: str) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
    return parameters


def _is_text(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media in _TEXT_TYPES or media.endswith(("+json", "+xml"))


def http_result(result: Any) -> HttpResult:
    """How API Gateway turns a function's return value into the HTTP answer (payload 2.0).

    A dict with ``statusCode`` is a structured answer. Anything else that is valid JSON becomes the body of a 200
    ``application/json`` answer, as AWS assumes for functions that return data directly.
    """
    if not (isinstance(result, dict) and "statusCode" in result):
        try:
            document = json.dumps(result)
        except (TypeError, ValueError) as error:
            raise InvalidLambdaResponse("the function returned a value that is not JSON") from error
        return HttpResult(200, [("content-type", "application/json")], document.encode())
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise InvalidLambdaResponse(f"statusCode {status!r} is not an HTTP status")
    warnings: list[str] = []
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        if isinstance(value, dict | list):
            raise InvalidLambdaResponse(f"header {name!r} must be a string, number or boolean")
        headers.append((str(name), _header_value(value)))
    if result.get("multiValueHeaders"):
        # Payload 1.0 only: on AWS these headers would silently vanish. Say so here, where someone is looking.
        warnings.append("multiValueHeaders is ignored by HTTP API payload 2.0; use headers (comma-joined) or cookies")
    cookies = result.get("cookies") or []
    if not isinstance(cookies, list):
        raise InvalidLambdaResponse("cookies must be a list of Set-Cookie values")
    headers.extend(("set-cookie", str(cookie)) for cookie in cookies)
    body = result.get("body")
    if body is None:
        payload = b""
    elif not isinstance(body, str):
        raise InvalidLambdaResponse("body must be a string")
    elif result.get("isBase64Encoded"):
        try:
            payload = base64.b64decode(body, validate=True)
        except ValueError as error:
            raise InvalidLambdaResponse("isBase64Encoded is true but body is not base64") from error
    else:
        payload = body.encode()
    return HttpResult(status, headers, payload, warnings)


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def error_result(status: int, message: str, headers: list[tuple[str, str]] | None = None) -> HttpResult:
    """API Gateway's own answers (no function involved): ``{"message": "..."}``."""
    body = json.dumps({"message": message}).encode()
    return HttpResult(status, [("content-type", "application/json"), *(headers or [])], body)
