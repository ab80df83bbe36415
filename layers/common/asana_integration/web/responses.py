"""The error envelope every API function answers with, as a model (for the OpenAPI document) and as a response.

``{"error": {"code", "message", "fix"}}``, plus ``details`` (the invalid fields), ``connect_url`` (where to
reconnect) or ``retry_after`` (seconds) when they apply. ``ERROR_RESPONSES`` declares it for each error status; the
shared resolver adds those to every route's document, so a new route is documented with its errors by being one.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, Field

from asana_integration.errors import IntegrationError


class FieldError(BaseModel):
    field: str = Field(description="The field, dotted for nested ones; 'body' for the body as a whole")
    message: str = Field(description="What is wrong with it (the submitted value is never repeated)")


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, machine-readable: e.g. invalid_input, requires_connection")
    message: str = Field(description="What went wrong, for a person")
    fix: str = Field(description="What to do about it")
    details: list[FieldError] | None = Field(default=None, description="Invalid fields (400/422)")
    connect_url: str | None = Field(default=None, description="Asana's authorize URL, to reconnect (409)")
    retry_after: int | None = Field(default=None, description="Seconds to wait before trying again (429/503)")


class ErrorEnvelope(BaseModel):
    """Every error a function answers."""

    error: ErrorDetail


class GatewayMessage(BaseModel):
    """What API Gateway answers itself, before any function runs (the JWT authorizer's 401)."""

    message: str


def _envelope(description: str) -> OpenAPIResponse:
    return {"description": description, "content": {content_types.APPLICATION_JSON: {"model": ErrorEnvelope}}}


ERROR_RESPONSES: dict[int, OpenAPIResponse] = {
    400: _envelope("The body is not one JSON object in UTF-8, or is nested too deeply"),
    401: {
        "description": "No valid SecureDB JWT (answered by API Gateway's JWT authorizer)",
        "content": {content_types.APPLICATION_JSON: {"model": GatewayMessage}},
    },
    403: _envelope("The caller is not an administrator of the organization, or Asana refused the request"),
    404: _envelope("No such route, or Asana has no such object"),
    409: _envelope("No usable Asana credential (with a connect_url when Connect / Authorize can fix it)"),
    415: _envelope("The body is not declared as application/json"),
    422: _envelope("A field is missing or invalid (listed in details); nothing was changed"),
    429: _envelope("Asana's rate limit; retry after retry_after seconds"),
    500: _envelope("An unexpected failure; the message carries a request id for support"),
    502: _envelope("Asana could not be reached (proxy, TLS or network diagnostics in the message)"),
    503: _envelope("Asana is unavailable or too slow; retry later"),
}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, separators=(",", ":")),
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def error_response(error: IntegrationError) -> Response[str]:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
    return json_response(error.status, error.to_body(), headers)


def error_result(error: IntegrationError) -> dict[str, Any]:
    """``error`` as the function's return value to API Gateway (payload 2.0), for answers given before resolving."""
    headers = {"Content-Type": content_types.APPLICATION_JSON, "Cache-Control": "no-store"}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return {
        "statusCode": error.status,
        "headers": headers,
        "body": json.dumps(error.to_body(), separators=(",", ":")),
        "isBase64Encoded": False,
    }


def uncached[Model: BaseModel](body: Model, status: int = 200) -> Response[Model]:
    """A JSON answer no cache keeps: runs, mappings, the mirror and webhooks' health change all the time."""
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers={"Cache-Control": "no-store"},
    )
