"""One API resolver for every function, so each answers bad input and errors the same way and documents them.

``{"error": {"code", "message", "fix"}}`` with a fitting status, for domain errors, validation failures, unreadable
bodies, unknown routes and unexpected exceptions alike. Validation errors list the failing fields but never echo the
submitted values, which may be secrets. What a body must be (JSON object, UTF-8, declared as JSON, not too deep) is
in ``request_body.py``; the envelope and the responses each route documents are in ``responses.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any, override

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.constants import (
    DEFAULT_OPENAPI_RESPONSE_DESCRIPTION,
    DEFAULT_STATUS_CODE,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.shared.types import AnyCallableT
from aws_lambda_powertools.utilities.typing import LambdaContext

from asana_integration.config import get_config
from asana_integration.errors import IntegrationError, InvalidInput, NotFound
from asana_integration.identity import Caller, caller_from_claims
from asana_integration.observability import logger
from asana_integration.tenant_urls import TenantUrls, tenant_urls
from asana_integration.web.request_body import (
    UnsupportedMediaType,
    describe_media_type,
    parse_json_object,
    refuse_unreadable_body,
)
from asana_integration.web.responses import ERROR_RESPONSES, error_response, error_result, json_response


class ApiResolver(APIGatewayHttpResolver):
    """Powertools' HTTP API resolver, validating requests, with two additions every function inherits:

    * a request whose body is not declared JSON, or not UTF-8, is refused before routing (``resolve``);
    * every route documents the error envelope for each error status beside its own answer (``route``), so the
      OpenAPI document describes what the route can really answer.
    """

    def __init__(self) -> None:
        super().__init__(enable_validation=True, json_body_deserializer=parse_json_object)

    @override
    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        refusal = refuse_unreadable_body(event)
        if refusal is not None:
            _log_refusal(refusal)
            return error_result(refusal)
        return super().resolve(event, context)

    @override
    def route(
        self,
        rule: str,
        method: str | list[str] | tuple[str],
        cors: bool | None = None,
        compress: bool = False,
        cache_control: str | None = None,
        summary: str | None = None,
        description: str | None = None,
        responses: dict[int, OpenAPIResponse] | None = None,
        response_description: str = DEFAULT_OPENAPI_RESPONSE_DESCRIPTION,
        tags: list[str] | None = None,
        operation_id: str | None = None,
        include_in_schema: bool = True,
        security: list[dict[str, list[str]]] | None = None,
        openapi_extensions: dict[str, Any] | None = None,
        deprecated: bool = False,
        enable_validation: bool | None = None,
        custom_response_validation_http_code: int | HTTPStatus | None = None,
        status_code: int = DEFAULT_STATUS_CODE,
        middlewares: list[Callable[..., Any]] | None = None,
    ) -> Callable[[AnyCallableT], AnyCallableT]:
        # Powertools documents only the declared responses once any is declared: the route's own answer (described
        # from its return type when it declares none) comes first, then the errors, then what the route declares.
        documented: dict[int, OpenAPIResponse] = {
            status_code: {"description": response_description},
            **ERROR_RESPONSES,
            **(responses or {}),
        }
        return super().route(
            rule,
            method,
            cors,
            compress,
            cache_control,
            summary,
            description,
            documented,
            response_description,
            tags,
            operation_id,
            include_in_schema,
            security,
            openapi_extensions,
            deprecated,
            enable_validation,
            custom_response_validation_http_code,
            status_code,
            middlewares,
        )


def create_resolver() -> ApiResolver:
    app = ApiResolver()

    @app.exception_handler(IntegrationError)
    def _integration_error(error: IntegrationError) -> Response[str]:
        _log_refusal(error)
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    def _validation_error(error: RequestValidationError) -> Response[str]:
        details = [_field_error(item) for item in error.errors()]
        logger.info("invalid input", extra={"fields": [d["field"] for d in details]})
        invalid = InvalidInput(
            "Some fields are missing or invalid: " + "; ".join(f"{d['field']}: {d['message']}" for d in details),
            "Correct the listed fields and submit again. Nothing was changed.",
            details=details,
        )
        return error_response(invalid)

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_content_type(_: RequestUnsupportedContentType) -> Response[str]:
        # Reached only by a body route called without a body but with a non-JSON Content-Type (a body is refused
        # before routing): still the caller's mistake, and still a 415.
        content_type = app.current_event.headers.get("content-type", "")
        error = UnsupportedMediaType(
            f"This API accepts JSON bodies only, not {describe_media_type(content_type)}.",
            "Send the body with the header Content-Type: application/json. Nothing was changed.",
        )
        _log_refusal(error)
        return error_response(error)

    @app.not_found
    def _not_found(_: Exception) -> Response[str]:
        return error_response(NotFound("No such route.", "Check the method and the path.", code="not_found"))

    @app.exception_handler(Exception)
    def _unexpected(_: Exception) -> Response[str]:
        return _internal_error(app)

    return app


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
        return error_result(error)
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


def _internal_error(app: APIGatewayHttpResolver) -> Response[str]:
    """The 500 for the exception being handled. The caller gets a request id to quote; the log gets the exception's
    type and frames but not its message, which may quote a header, a URL or a body (``observability.py``)."""
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


def _log_refusal(error: IntegrationError) -> None:
    log = logger.warning if error.status < 500 else logger.error
    log("request failed", extra={"error_code": error.code, "status": error.status})


def _field_error(item: dict[str, Any]) -> dict[str, str]:
    location = [str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path")]
    return {"field": ".".join(location) or "body", "message": str(item.get("msg", "is invalid"))}


def _request_id(app: APIGatewayHttpResolver) -> str:
    try:
        return app.current_event.request_context.request_id
    except (AttributeError, KeyError):
        return "unknown"
