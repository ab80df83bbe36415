"""Hostile and malformed request bodies: each gets a 4xx error envelope, stores nothing and logs nothing secret.

Every case runs against both routes that take a body (``PUT /asana/api/settings`` in the settings function and
``POST /asana/api/connect`` in the oauth_callback function): the checks live in the shared resolver and the request
models, so a route that takes a body later (the webhook, the sync) gets them too.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest

from asana_integration.config import get_config
from asana_integration.models.credentials import OrgCredentials
from asana_integration.stores.credentials import CredentialStore
from local.asana_sandbox import demo
from tests import log_audit
from tests.events import LambdaContext, claims_for, http_event
from tests.handlers.conftest import function_module

SETTINGS = "/asana/api/settings"
CONNECT = "/asana/api/connect"
SETTINGS_URL = "https://expand.securedb.io/asana/settings"
CREDENTIALS = {"client_id": demo.DEMO_APP_CLIENT_ID, "client_secret": demo.DEMO_APP_CLIENT_SECRET}
log_audit.remember(demo.DEMO_PAT, demo.DEMO_APP_CLIENT_SECRET)


@dataclass(frozen=True)
class BodyRoute:
    function: str
    method: str
    path: str
    valid_body: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


SAVE_SETTINGS = BodyRoute("settings", "PUT", SETTINGS, {**CREDENTIALS, "pat": demo.DEMO_PAT})
START_CONNECT = BodyRoute("oauth_callback", "POST", CONNECT, {"purpose": "personal"})
BODY_ROUTES = [SAVE_SETTINGS, START_CONNECT]


@pytest.fixture
def org_a(services: Any, sandbox: Any) -> None:
    """org-a with the demo app's credentials saved and its redirect URIs registered: a valid save or Connect would
    succeed (and change what is stored), so a refused one is seen to change nothing."""
    for suffix in ("", "/"):
        sandbox.add_redirect_uri(demo.DEMO_APP_CLIENT_ID, SETTINGS_URL + suffix)
    CredentialStore(get_config()).save("org-a", OrgCredentials(**CREDENTIALS))


def send(
    route: BodyRoute,
    body: str | bytes | None,
    *,
    content_type: str | None = "application/json",
    base64_body: bool = False,
) -> tuple[int, dict[str, Any]]:
    """The route's answer to an admin's request with exactly this body and Content-Type (``None``: no header)."""
    raw = base64.b64encode(body if isinstance(body, bytes) else (body or "").encode()).decode() if base64_body else body
    event = http_event(route.method, route.path, claims=claims_for("org-a", "admin-a", admin=True))
    event["headers"].pop("content-type")
    if content_type is not None:
        event["headers"]["content-type"] = content_type
    if raw is not None:
        event["body"] = raw
    event["isBase64Encoded"] = base64_body
    module: ModuleType = function_module(route.function)
    response = module.lambda_handler(event, LambdaContext())
    assert response["headers"]["Content-Type"] == "application/json", response
    return response["statusCode"], json.loads(response["body"])


def assert_error_envelope(body: dict[str, Any], code: str) -> None:
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["error"]["fix"]


def stored() -> tuple[str | None, list[dict[str, Any]]]:
    """Everything the functions keep: org-a's credentials secret and every item of the table."""
    credentials = CredentialStore(get_config()).get("org-a")
    items = boto3.client("dynamodb").scan(TableName=get_config().table_name)["Items"]
    return (credentials.to_secret_string() if credentials else None), items


def send_refused(route: BodyRoute, body: str | bytes | None, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """``send``, asserting that the request changed nothing that is stored."""
    before = stored()
    answer = send(route, body, **kwargs)
    assert stored() == before, "a refused request changed what is stored"
    return answer


def lines_since(start: int) -> list[str]:
    """The log lines (as the audit captures them: message, extra fields and exception) written since ``start``."""
    return log_audit.CAPTURED[start:]


# --- CR/LF and control characters in credentials ------------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"], ids=["crlf", "lf", "cr"])
def test_a_pat_with_a_line_break_is_refused_stored_nowhere_and_never_logged(org_a, newline):
    # The old code sent it to Asana as an Authorization header: requests refused it with InvalidHeader, whose message
    # quotes the header, the 500 handler logged that message, and the PAT had been saved before the verification.
    pat = f"2/1202000000000001/1208000000000777:{newline.encode().hex()}0c5d8e1f2a3b4c5d6e7f8091a2b3{newline}X-Evil: 1"
    log_audit.remember(pat)
    start = len(log_audit.CAPTURED)

    status, body = send_refused(SAVE_SETTINGS, json.dumps({**CREDENTIALS, "pat": pat}))

    assert status == 422
    assert_error_envelope(body, "invalid_input")
    assert [detail["field"] for detail in body["error"]["details"]] == ["pat"]
    assert pat.split(newline, maxsplit=1)[0] not in json.dumps(body)
    leaked = [line for line in lines_since(start) if any(secret in line for secret in log_audit.variants(pat))]
    assert not leaked, leaked


def test_a_pat_is_trimmed_of_the_line_break_a_paste_adds(org_a):
    # Surrounding whitespace is never part of an Asana token; trimming it is not the same as accepting one inside.
    status, body = send(SAVE_SETTINGS, json.dumps({**CREDENTIALS, "pat": f"  {demo.DEMO_PAT}\r\n"}))

    assert status == 200, body
    assert body["pat_last4"] == demo.DEMO_PAT[-4:]
    stored = CredentialStore(get_config()).get("org-a")
    assert stored is not None
    assert stored.pat is not None
    assert stored.pat.get_secret_value() == demo.DEMO_PAT


CONTROL_CHARACTERS = {"NUL": "\x00", "BEL": "\x07", "ESC": "\x1b", "TAB": "\t", "DEL": "\x7f", "NEL": "\x85"}
# What a gateway that decodes a body as UTF-8 puts in place of bytes that are not UTF-8 (the local one does).
REPLACEMENT_CHARACTER = "\ufffd"


@pytest.mark.parametrize("field", ["client_id", "client_secret", "pat"])
@pytest.mark.parametrize(
    "character",
    [*CONTROL_CHARACTERS.values(), REPLACEMENT_CHARACTER, "\u00e9", "\u200b"],
    ids=[*CONTROL_CHARACTERS, "U+FFFD", "e-acute", "zero-width-space"],
)
def test_a_credential_with_a_control_or_non_ascii_character_is_refused_and_not_echoed(org_a, field, character):
    value = f"{CREDENTIALS.get(field, demo.DEMO_PAT)[:6]}{character}tail-0123456789"

    status, body = send_refused(SAVE_SETTINGS, json.dumps({**SAVE_SETTINGS.valid_body, field: value}))

    assert status == 422
    assert_error_envelope(body, "invalid_input")
    assert [detail["field"] for detail in body["error"]["details"]] == [field]
    assert value not in json.dumps(body)
    assert "tail-0123456789" not in json.dumps(body)


# --- bodies that are not one JSON object -----------------------------------------------------------------------------


@pytest.mark.parametrize("route", BODY_ROUTES, ids=str)
def test_a_json_array_is_refused_not_read_as_its_first_element(org_a, route):
    status, body = send_refused(route, json.dumps([route.valid_body]))

    assert status == 400
    assert_error_envelope(body, "bad_request")
    assert "JSON object" in body["error"]["message"]


@pytest.mark.parametrize("route", BODY_ROUTES, ids=str)
@pytest.mark.parametrize("depth", [100_000, 65], ids=["past-the-recursion-limit", "past-our-limit"])
def test_deeply_nested_json_is_refused(org_a, route, depth):
    nested = "[" * depth + "]" * depth
    status, body = send_refused(route, json.dumps(route.valid_body)[:-1] + f', "x": {nested}}}')

    assert status == 400
    assert_error_envelope(body, "bad_request")
    assert "nested" in body["error"]["message"]


@pytest.mark.parametrize("route", BODY_ROUTES, ids=str)
@pytest.mark.parametrize(
    "text",
    [
        "[1, 2",
        '"a string"',
        "null",
        "NaN",
        "1" * 5000,  # more digits than Python converts to an int
        '{"purpose": "personal", "purpose": "organization", "client_id": "1"}',  # which one would count?
    ],
    ids=["truncated", "string", "null", "nan", "huge-number", "duplicate-key"],
)
def test_a_body_that_is_not_one_plain_json_object_is_refused(org_a, route, text):
    status, body = send_refused(route, text)

    assert status == 400
    assert_error_envelope(body, "bad_request")


# --- media types and encodings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", BODY_ROUTES, ids=str)
@pytest.mark.parametrize(
    ("content_type", "base64_body"),
    [
        ("text/plain;charset=UTF-8", False),  # what a browser's fetch sends for a string body
        ("application/octet-stream", True),  # API Gateway hands non-text bodies over base64-encoded
        ("application/x-www-form-urlencoded", True),
        ("multipart/form-data; boundary=x", True),
    ],
    ids=["text-plain", "octet-stream", "form", "multipart"],
)
def test_a_body_that_is_not_declared_json_is_refused_with_415(org_a, route, content_type, base64_body):
    status, body = send_refused(route, json.dumps(route.valid_body), content_type=content_type, base64_body=base64_body)

    assert status == 415
    assert_error_envelope(body, "unsupported_media_type")
    assert "application/json" in body["error"]["fix"]


@pytest.mark.parametrize("route", BODY_ROUTES, ids=str)
def test_a_route_that_takes_a_body_refuses_another_media_type_even_without_a_body(org_a, route):
    status, body = send_refused(route, None, content_type="text/plain")

    assert status == 415
    assert_error_envelope(body, "unsupported_media_type")


@pytest.mark.parametrize("route", BODY_ROUTES, ids=str)
def test_a_body_that_is_not_utf8_is_refused(org_a, route):
    raw = json.dumps(route.valid_body).encode()
    not_utf8 = raw.replace(b'"personal"', b'"pers\xffnal"').replace(b'"client_id": "', b'"client_id": "\xc3(')

    status, body = send_refused(route, not_utf8, base64_body=True)

    assert status == 400
    assert_error_envelope(body, "bad_request")
    assert "UTF-8" in body["error"]["message"]


@pytest.mark.parametrize("route", BODY_ROUTES, ids=str)
def test_json_with_a_charset_parameter_is_accepted(org_a, route):
    status, _ = send(route, json.dumps(route.valid_body), content_type="application/json; charset=utf-8")

    assert status == 200


# --- exception text never reaches a log line -------------------------------------------------------------------------


def test_an_unexpected_exceptions_message_is_not_logged_but_its_type_and_frames_are(org_a, services, monkeypatch):
    secret = "s3cr3t-in-an-exception-message-0001"
    log_audit.remember(secret)

    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError(f"upstream said no to Authorization: Bearer {secret}")

    monkeypatch.setattr(services.credentials, "save", fail)
    start = len(log_audit.CAPTURED)

    status, body = send(SAVE_SETTINGS, json.dumps(SAVE_SETTINGS.valid_body))

    assert status == 500
    assert_error_envelope(body, "internal_error")
    assert secret not in json.dumps(body)
    lines = lines_since(start)
    assert not [line for line in lines if secret in line]
    unhandled = [json.loads(line) for line in lines if '"unhandled error"' in line]
    assert len(unhandled) == 1
    assert unhandled[0]["exception_name"] == "RuntimeError"
    assert "in fail" in unhandled[0]["exception"], "the frames stay in the log: they are what an operator needs"


def test_a_pat_stored_before_validation_existed_never_reaches_the_log_through_requests(org_a, services):
    # Saved by the old code, which accepted line breaks: using it makes requests raise InvalidHeader, and that
    # exception's message quotes the whole Authorization header.
    pat = "2/1202000000000001/1208000000000888:9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b\r\nX-Evil: 1"
    log_audit.remember(pat)
    CredentialStore(get_config()).save(
        "org-a", OrgCredentials(client_id=demo.DEMO_APP_CLIENT_ID, client_secret=demo.DEMO_APP_CLIENT_SECRET, pat=pat)
    )
    start = len(log_audit.CAPTURED)

    status, body = send(BodyRoute("settings", "POST", f"{SETTINGS}/verify", {}), None)

    assert 400 <= status < 600
    assert "error" in body or "connection" in body
    assert pat.split("\r\n", maxsplit=1)[0] not in json.dumps(body)
    leaked = [line for line in lines_since(start) if any(secret in line for secret in log_audit.variants(pat))]
    assert not leaked, leaked
