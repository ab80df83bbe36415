"""One way to build an API resolver, so every function answers errors with the same JSON shape.

``{"error": {"code", "message", "fix"}}`` with a fitting status, for domain errors, validation failures, unknown routes
and unexpected exceptions alike. Validation errors list the failing fields but never echo the submitted values,
which may be secrets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from asana_integration.config import get_config
from asana_integration.errors import IntegrationError
from asana_integration.identity import Caller, caller_from_claims
from asana_integration.observability import logger
from asana_integration.tenant_urls import TenantUrls, tenant_urls


def create_resolver() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)

    @app.exception_handler(IntegrationError)
    def _integration_error(error: IntegrationError) -> Response[str]:
        log = logger.warning if error.status < 500 else logger.error
        log("request failed", extra={"error_code": error.code, "status": error.status})
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    def _validation_error(error: RequestValidationError) -> Response[str]:
        details = [_field_error(item) for item in error.errors()]
        logger.info("invalid input", extra={"fields": [d["field"] for d in details]})
        return json_response(
            422,
            {
                "error": {
                    "code": "invalid_input",
                    "message": "Some fields are missing or invalid: "
                    + "; ".join(f"{d['field']}: {d['message']}" for d in details),
                    "fix": "Correct the listed fields and submit again. Nothing was changed.",
                    "details": details,
                }
            },
        )

    @app.not_found
    def _not_found(_: Exception) -> Response[str]:
        return json_response(
            404,
            {"error": {"code": "not_found", "message": "No such route.", "fix": "Check the method and the path."}},
        )

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[str]:
        # The exception's text stays in the log (our code never puts secrets in exception messages); the caller
        # gets a correlation id to quote instead.
        logger.exception("unhandled error")
        return json_response(
            500,
            {
                "error": {
                    "code": "internal_error",
                    "message": "Something went wrong on our side.",
                    "fix": f"Try again. If it persists, contact support with request id {_request_id(app)}.",
                }
            },
        )

    return app


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


def refuse_unless_admin(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The 401/403 answer for a caller who may not use an admin-only function, or ``None`` for an admin.

    Powertools validates the body and query before any middleware runs, so without this check a member sending a
    malformed request would learn about validation (422) instead of being refused (403). Checked before resolving.
    """
    claims = event.get("requestContext", {}).get("authorizer", {}).get("jwt", {}).get("claims")
    try:
        caller_from_claims(claims, get_config()).require_admin()
    except IntegrationError as error:
        logger.warning("request refused", extra={"error_code": error.code, "status": error.status})
        return {
            "statusCode": error.status,
            "headers": {"Content-Type": content_types.APPLICATION_JSON, "Cache-Control": "no-store"},
            "body": json.dumps(error.to_body(), separators=(",", ":")),
            "isBase64Encoded": False,
        }
    return None


def current_caller(app: APIGatewayHttpResolver) -> Caller:
    return caller_from_claims(app.current_event.request_context.authorizer.jwt_claim, get_config())


def current_tenant_urls(app: APIGatewayHttpResolver) -> TenantUrls:
    """The tenant's URLs for the domain the request arrived on, as API Gateway saw it (``requestContext.domainName``).

    Not the ``Host`` header, which the client (or anything between it and API Gateway) writes: API Gateway fills
    ``domainName`` from the custom domain the request was actually received on. Only an allow-listed domain is used
    (``tenant_urls``), so the API's own ``execute-api`` domain falls back to ``PUBLIC_BASE_URL``.
    """
    return tenant_urls(get_config(), app.current_event.request_context.domain_name)


def _field_error(item: dict[str, Any]) -> dict[str, str]:
    location = [str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path")]
    return {"field": ".".join(location) or "body", "message": str(item.get("msg", "is invalid"))}


def _request_id(app: APIGatewayHttpResolver) -> str:
    try:
        return app.current_event.request_context.request_id
    except (AttributeError, KeyError):
        return "unknown"
