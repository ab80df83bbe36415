"""No message shown to an admin contains an HTTP method followed by a path ("GET /projects"): admins read these.

Every text a person can be shown is produced here, each way it can arise, and scanned: the Asana client's error for
every status and every call it makes, the transport's failures, the OAuth endpoints' answers, Connect's outcomes,
the disconnect notices, and every error class of the layer that needs no arguments.
"""

from __future__ import annotations

import ast
import inspect
import pkgutil
import re
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

import asana_integration
from asana_integration.asana.client import AsanaClient
from asana_integration.asana.errors import describe_call, error_for_status
from asana_integration.asana.oauth import OAuthEndpoints
from asana_integration.asana.token_source import StaticToken
from asana_integration.config import Config
from asana_integration.connections.outcomes import OUTCOME_CODES, REVOCATION_TEXTS, outcome_for_code
from asana_integration.errors import IntegrationError
from asana_integration.models.credentials import OrgCredentials
from asana_integration.tenant_urls import TenantUrls

METHOD_AND_PATH = re.compile(r"\b(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)\s+/")
API = "https://app.asana.com/api/1.0"
OAUTH = "https://app.asana.com/-"
URLS = TenantUrls(base_url="https://acme.expand.securedb.io")
CREDENTIALS = OrgCredentials(client_id="1", client_secret="secret")

# Every call the integration makes to Asana's REST API (asana/client.py and the sync), by method and path.
CALLS = [
    ("GET", "/users/me"),
    ("GET", "/workspaces"),
    ("GET", "/workspaces/1201000000000001"),
    ("GET", "/workspaces/1201000000000001/teams"),
    ("GET", "/projects"),
    ("GET", "/users"),
    ("GET", "/team_memberships"),
    ("GET", "/tasks"),
    ("GET", "/events"),
    ("GET", "/webhooks"),
    ("POST", "/webhooks"),
    ("PUT", "/webhooks/1"),
    ("DELETE", "/webhooks/1"),
    ("POST", "/tasks"),
    ("PUT", "/tasks/1"),
    ("POST", "/tasks/1/addProject"),
    ("GET", "/something/new"),
]
STATUSES = [302, 400, 402, 403, 404, 409, 412, 418, 451, 500, 502, 503]


def config() -> Config:
    return Config.model_validate(
        {"TABLE_NAME": "t", "KMS_KEY_ID": "k", "PUBLIC_BASE_URL": "https://expand.securedb.io", "ASANA_MAX_RETRIES": 0}
    )


def assert_readable(*texts: str | None) -> None:
    for text in texts:
        assert not METHOD_AND_PATH.search(text or ""), text


def raised(call: Any) -> IntegrationError:
    with pytest.raises(IntegrationError) as caught:
        call()
    return caught.value


@pytest.mark.parametrize(("method", "path"), CALLS)
@pytest.mark.parametrize("status", STATUSES)
def test_asanas_refusals_name_what_was_being_done_in_words(method, path, status):
    error = error_for_status(method, path, status, "Asana's own explanation.")

    assert_readable(error.message, error.fix)
    assert describe_call(method, path) in error.message


@pytest.mark.parametrize(("method", "path"), CALLS)
def test_describing_a_call_never_spells_the_call(method, path):
    description = describe_call(method, path)

    assert_readable(description)
    assert path not in description


def transport_failures() -> Iterator[Exception]:
    yield requests.exceptions.ConnectTimeout("connect timed out")
    yield requests.exceptions.ReadTimeout("read timed out")
    yield requests.exceptions.ConnectionError("refused")
    yield requests.exceptions.ProxyError("407")
    yield requests.exceptions.SSLError("CERTIFICATE_VERIFY_FAILED")
    yield requests.exceptions.ChunkedEncodingError("cut")


@pytest.mark.parametrize("failure", list(transport_failures()), ids=lambda failure: type(failure).__name__)
def test_the_client_and_oauth_failures_before_an_answer_are_readable(failure):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as asana:
        asana.get(re.compile(f"{API}/.*"), body=failure)
        asana.post(re.compile(f"{OAUTH}/.*"), body=failure)
        client = AsanaClient(StaticToken("t"), config(), sleep=lambda _: None)
        endpoints = OAuthEndpoints(config())
        errors = [
            raised(lambda: client.get_page("/projects", {"workspace": "1"})),
            raised(lambda: endpoints.refresh(CREDENTIALS, "r")),
            raised(lambda: endpoints.revoke(CREDENTIALS, "r")),
        ]
        check = endpoints.check_client(CREDENTIALS, redirect_uri=URLS.redirect_uri)
    for error in errors:
        assert_readable(error.message, error.fix)
    assert_readable(check.reason)


@pytest.mark.parametrize("status", [200, 400, 401, 404, 429, 500, 503])
def test_the_oauth_endpoints_answers_are_readable(status):
    body = {"error": "invalid_request", "error_description": "Something odd."} if status != 200 else {"x": 1}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as asana:
        asana.post(re.compile(f"{OAUTH}/.*"), status=status, json=body)
        asana.get(re.compile(f"{API}/.*"), status=status, json={"errors": [{"message": "No."}]})
        endpoints = OAuthEndpoints(config())
        texts: list[str | None] = [endpoints.check_client(CREDENTIALS, redirect_uri=URLS.redirect_uri).reason]
        for call in (
            lambda: endpoints.exchange_code(CREDENTIALS, code="c", redirect_uri="u", code_verifier="v", urls=URLS),
            lambda: endpoints.refresh(CREDENTIALS, "r"),
            lambda: endpoints.revoke(CREDENTIALS, "r"),
            lambda: endpoints.authorizing_user("t"),
        ):
            try:
                call()
            except IntegrationError as error:
                texts += [error.message, error.fix]
    assert_readable(*texts)


def test_an_answer_that_is_not_asanas_json_and_events_without_a_token_are_readable():
    with responses.RequestsMock() as asana:
        asana.get(f"{API}/projects", body="<html>captive portal</html>", content_type="text/html")
        asana.get(f"{API}/events", json={"data": []})
        client = AsanaClient(StaticToken("t"), config(), sleep=lambda _: None)
        errors = [raised(lambda: client.get("/projects")), raised(lambda: client.events("1", "token"))]
    for error in errors:
        assert_readable(error.message, error.fix)


@pytest.mark.parametrize("code", sorted(OUTCOME_CODES))
def test_every_connect_outcome_is_readable(code):
    assert_readable(*outcome_for_code(code, URLS))


@pytest.mark.parametrize("revocation", sorted(REVOCATION_TEXTS))
def test_every_disconnect_notice_is_readable(revocation):
    assert_readable(*REVOCATION_TEXTS[revocation])


def layer_error_classes() -> Iterator[type[IntegrationError]]:
    for module_info in pkgutil.walk_packages(asana_integration.__path__, "asana_integration."):
        module = import_module(module_info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, IntegrationError) and value.__module__ == module.__name__:
                yield value


def test_every_error_of_the_layer_that_needs_no_arguments_is_readable():
    checked = 0
    for error_class in layer_error_classes():
        parameters = inspect.signature(error_class.__init__).parameters
        required = [p for name, p in parameters.items() if name != "self" and p.default is p.empty]
        keyword_only = {
            name: False for name, p in parameters.items() if p.kind is p.KEYWORD_ONLY and p.default is p.empty
        }
        if len(required) - len(keyword_only) == 1 and "urls" in parameters:
            error = error_class(URLS)  # type: ignore[call-arg]
        elif len(required) == len(keyword_only):
            error = error_class(**keyword_only)  # type: ignore[arg-type]
        else:
            continue
        assert_readable(error.message, error.fix)
        checked += 1
    assert checked >= 10, "the layer's argument-free errors were found"


def test_no_message_template_of_the_layer_spells_a_method_and_a_path():
    """Catches what the runtime checks above cannot reach: a new message built from the request line, or written
    with one. Docstrings may name routes: they are for developers."""
    root = Path(asana_integration.__path__[0])
    offenders = []
    for source in root.rglob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree) if _has_docstring(node)}  # type: ignore[attr-defined]
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                names = [ast.unparse(part.value) for part in node.values if isinstance(part, ast.FormattedValue)]
                if "method" in names and any(name in names for name in ("path", "target", "where", "url")):
                    offenders.append(f"{source.relative_to(root)}:{node.lineno}: {ast.unparse(node)}")
            elif _is_text(node) and id(node) not in docstrings and METHOD_AND_PATH.search(node.value):
                offenders.append(f"{source.relative_to(root)}:{node.lineno}: {node.value[:80]}")
    assert offenders == []


def _has_docstring(node: ast.AST) -> bool:
    if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) or not node.body:
        return False
    first = node.body[0]
    return isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)
