"""Real-shaped API Gateway HTTP API (payload 2.0) events, JWT authorizer claims included, and a Lambda context."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

DEFAULT_HOST = "expand.securedb.io"


def http_event(
    method: str,
    path: str,
    *,
    route_path: str | None = None,
    claims: dict[str, Any] | None = None,
    body: Any = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """An event as API Gateway delivers it. ``claims=None`` means a public route (no authorizer)."""
    raw_body: str | None
    if body is None:
        raw_body = None
    elif isinstance(body, bytes | str):
        raw_body = body.decode() if isinstance(body, bytes) else body
    else:
        raw_body = json.dumps(body)
    if raw_body is not None and base64_body:
        raw_body = base64.b64encode(raw_body.encode()).decode()
    all_headers = {"host": DEFAULT_HOST, "user-agent": "pytest", "content-type": "application/json"}
    all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {route_path or path}",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api1234567",
            "domainName": all_headers["host"],
            "domainPrefix": all_headers["host"].split(".")[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "pytest",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {route_path or path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": base64_body,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if raw_body is not None:
        event["body"] = raw_body
    if claims is not None:
        # API Gateway hands array claims to Lambda flattened into a string: ["admin", "x"] -> "[admin x]".
        flattened = {k: f"[{' '.join(v)}]" if isinstance(v, list) else v for k, v in claims.items()}
        event["requestContext"]["authorizer"] = {"jwt": {"claims": flattened, "scopes": None}}
    return event


def claims_for(org_id: str, user_id: str, *, admin: bool) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": "https://auth.securedb.io/",
        "aud": "securedb-asana-integration",
        "sub": user_id,
        "org_id": org_id,
        "roles": ["admin"] if admin else ["member"],
        "iat": now,
        "exp": now + 3600,
    }


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_seconds: float = 29.0
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


def json_body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])
