"""``make openapi``: the API's OpenAPI document, generated from every function's routes, for the settings function.

Each function deploys as its own code package, so no single one can describe the API at run time. This generator
imports the handler module of every function ``template.yaml`` gives an HTTP route (a function that gains routes
joins by itself), takes each one's document from Powertools (``get_openapi_schema``: routes, parameters, request
and response models, and the error envelope the shared resolver declares for each route; a function answering
without a resolver is described in ``WITHOUT_RESOLVER``), merges them with
Powertools' ``OpenAPIMerge`` and writes ``functions/settings/openapi.json``, which the settings function serves with
Swagger UI. ``tests/test_openapi_document.py`` checks that the committed file is what this generates.

What only the template knows is taken from it: the SecureDB JWT, which API Gateway's authorizer checks, is required
by every operation except those whose route opts out of the authorizer (``security: []``, and no 401); each operation
is tagged with its function.

    .venv/bin/python -m local.openapi           # write the document
    .venv/bin/python -m local.openapi --check   # exit 1 if the committed document is not current
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.openapi.compat import model_json
from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, OpenAPI

from local.gateway.routes import RouteTable
from local.template import ROOT, http_routes

DOCUMENT_PATH = ROOT / "functions" / "settings" / "openapi.json"
TITLE = "SecureDB ↔ Asana integration"
VERSION = "1.0.0"
DESCRIPTION = (
    "Organization settings, verification and Quick Actions (admins), each user's Asana connection, Asana's OAuth "
    "redirect and webhook target. Authenticate with SecureDB's JWT (Authorization: Bearer …). Every error answers "
    '{"error": {"code", "message", "fix"}} with a fitting status; a request that is refused changes nothing.'
)
SECURITY_SCHEME = "SecureDbJwt"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def api_functions() -> list[tuple[str, str]]:
    """(code directory, handler module) of each function with HTTP routes, in template order. Functions may share a
    directory (the webhook target and webhook management both deploy functions/webhook/), never a handler module."""
    return list(dict.fromkeys((Path(route.code_uri).name, _handler_module(route.handler)) for route in http_routes()))


def _handler_module(handler: str) -> str:
    return handler.rsplit(".", 1)[0]


def function_tag(directory: str, handler_module: str) -> str:
    """The tag grouping a function's operations: its directory, and the module when it is not the usual ``app``
    (``webhook`` is Asana's target, ``webhook-management`` its management API)."""
    return directory if handler_module == "app" else f"{directory}-{handler_module}"


def _envelope(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
    }


def _webhook_operation(path: str) -> dict[str, Any]:
    with_prefix = "{prefix}" in path
    header = {"in": "header", "required": False, "schema": {"type": "string"}}
    parameters = [
        {
            **header,
            "name": "X-Hook-Secret",
            "description": "Asana's handshake: the webhook's secret",
            "schema": {"type": "string", "pattern": "^[!-~]{16,512}$"},
        },
        {
            **header,
            "name": "X-Hook-Signature",
            "description": "A delivery's HMAC-SHA256 of the body, in hex",
            "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
        },
    ]
    if with_prefix:
        parameters.insert(0, {"in": "path", "name": "prefix", "required": True, "schema": {"type": "string"}})
    return {
        "summary": "Asana's webhook target: handshake, then signed deliveries"
        if with_prefix
        else "The bare webhook URL: no webhook is ever registered on it (404)",
        "operationId": "receive" + path.replace("/", "_").replace("{", "").replace("}", "") + "_post",
        "parameters": parameters,
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"events": {"type": "array", "items": {"type": "object"}}},
                    }
                }
            }
        },
        "responses": {
            "200": {
                "description": "Handshake accepted (its X-Hook-Secret echoed), or delivery accepted",
                "headers": {"X-Hook-Secret": {"description": "On a handshake", "schema": {"type": "string"}}},
            },
            "400": _envelope("A handshake secret or a delivery body that cannot be one"),
            "401": _envelope("A delivery without a valid signature"),
            "404": _envelope("No webhook is waiting for a handshake, or registered, at this URL"),
            "500": _envelope("An unexpected failure"),
        },
    }


# Functions that answer without an API resolver (the webhook target, lean for its cold start) have no routes for
# Powertools to describe: their contract is written here, from the module that implements it. Keyed by function_tag.
WITHOUT_RESOLVER: dict[str, Callable[[str], dict[str, Any]]] = {"webhook": _webhook_operation}


def _function_schema(directory: str, handler_module: str) -> dict[str, Any]:
    module = importlib.import_module(f"functions.{directory}.{handler_module}")
    if hasattr(module, "app"):
        schema: dict[str, Any] = module.app.get_openapi_schema(title=TITLE, version=VERSION).model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
        return schema
    describe = WITHOUT_RESOLVER.get(function_tag(directory, handler_module))
    if describe is None:
        raise LookupError(f"functions/{directory}/{handler_module}.py has no resolver to describe its routes")
    routes = [
        route
        for route in http_routes()
        if Path(route.code_uri).name == directory and _handler_module(route.handler) == handler_module
    ]
    return {"paths": {route.path: {route.method.lower(): describe(route.path)} for route in routes}}


def generate() -> str:
    """The merged document, as the JSON text written to ``DOCUMENT_PATH``."""
    # Importing a handler creates the Powertools logger and metrics, which read these (and nothing else) at import.
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "asana-integration")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "SecureDB/AsanaIntegration")
    merge = OpenAPIMerge(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        security_schemes={SECURITY_SCHEME: HTTPBearer(bearerFormat="JWT", description="SecureDB's JWT")},
        security=[{SECURITY_SCHEME: []}],
        on_conflict="error",
    )
    tags: dict[str, str] = {}
    for directory, handler_module in api_functions():
        schema = _function_schema(directory, handler_module)
        for _, _, operation in _operations(schema):
            tags[operation["operationId"]] = function_tag(directory, handler_module)
        merge.add_schema(schema)
    document = merge.get_openapi_schema()
    table = RouteTable.from_template()
    for path, method, operation in _operations(document):
        operation["tags"] = [tags[operation["operationId"]]]
        match = table.match(method.upper(), path.replace("{", "").replace("}", ""))
        if match is not None and not match.route.authorized:
            operation["security"] = []  # overrides the document's default: no JWT, so no 401 either
            operation["responses"].pop("401", None)
    _drop_unreferenced_schemas(document)
    text: str = model_json(OpenAPI(**document), by_alias=True, exclude_none=True, indent=2)
    return text + "\n"


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document.get("paths", {}).items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def _drop_unreferenced_schemas(document: dict[str, Any]) -> None:
    """Powertools adds its own validation-error schemas to every document; the routes answer the envelope instead."""
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    referenced: set[str] = set()
    pending = [json.dumps(document.get("paths", {}))]
    while pending:
        text = pending.pop()
        for name, schema in schemas.items():
            if name not in referenced and f'"#/components/schemas/{name}"' in text:
                referenced.add(name)
                pending.append(json.dumps(schema))
    for name in set(schemas) - referenced:
        del schemas[name]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that the committed document is current")
    arguments = parser.parse_args(argv)
    document = generate()
    relative = DOCUMENT_PATH.relative_to(ROOT)
    if arguments.check:
        current = DOCUMENT_PATH.exists() and DOCUMENT_PATH.read_text(encoding="utf-8") == document
        print(f"{relative} is {'current' if current else 'out of date: run make openapi'}")
        return 0 if current else 1
    DOCUMENT_PATH.write_text(document, encoding="utf-8")
    print(f"wrote {relative}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
