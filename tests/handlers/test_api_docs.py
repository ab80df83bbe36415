"""The settings function's two public routes: the OpenAPI document and its Swagger UI page."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from functions.settings.api_docs import DOCUMENT_PATH
from tests.events import LambdaContext, claims_for, http_event
from tests.handlers.conftest import function_module

DOCS = "/asana/api/docs"
DOCUMENT = "/asana/api/openapi.json"


def get(path: str, *, claims: dict | None = None, route: str | None = None) -> dict:
    event = http_event("GET", path, route_path=route, claims=claims)
    return function_module("settings").lambda_handler(event, LambdaContext())


@pytest.mark.parametrize("claims", [None, claims_for("org-a", "member-a", admin=False)], ids=["anonymous", "member"])
def test_the_document_is_served_to_anyone_as_committed(aws, claims):
    response = get(DOCUMENT, claims=claims)

    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    assert response["body"] == DOCUMENT_PATH.read_text(encoding="utf-8")
    assert json.loads(response["body"])["openapi"].startswith("3.")


@pytest.mark.parametrize("claims", [None, claims_for("org-a", "member-a", admin=False)], ids=["anonymous", "member"])
def test_the_docs_page_is_served_to_anyone_with_the_document_in_it(aws, claims):
    response = get(DOCS, claims=claims)

    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "text/html; charset=utf-8"
    html = response["body"]
    assert "SwaggerUIBundle" in html
    assert '"/asana/api/settings"' in html, "the document is embedded"


def test_the_docs_page_runs_only_its_own_inline_script_and_style_and_loads_nothing(aws):
    response = get(DOCS)
    html, policy = response["body"], response["headers"]["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))

    scripts = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    styles = re.findall(r"<style>(.*?)</style>", html, re.DOTALL)
    assert len(scripts) == 2  # Swagger UI's bundle, then the call that starts it with the document
    assert len(styles) == 1
    assert directives["script-src"].split() == [f"'sha256-{sha256(script)}'" for script in scripts]
    assert directives["style-src-elem"].split() == [f"'sha256-{sha256(style)}'" for style in styles]
    assert directives["default-src"] == "'none'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-eval" not in policy
    assert not re.search(r"<(script|link)[^>]+(src|href)=", html), "nothing is loaded from elsewhere"
    assert response["headers"]["X-Content-Type-Options"] == "nosniff"


def sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def test_a_public_route_key_opens_no_admin_route(aws):
    # API Gateway names the route it matched; if an event ever paired a public route's key with an admin path, the
    # admin route still checks the caller itself.
    response = get("/asana/api/settings", route=DOCS)

    assert response["statusCode"] == 401
    assert json.loads(response["body"])["error"]["code"] == "not_authenticated"
