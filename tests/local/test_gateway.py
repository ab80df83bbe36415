"""The gateway over HTTP (werkzeug's test client): routing, authorization, the payload 2.0 event, response mapping,
errors and timeouts as API Gateway answers them, and the access log."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import re
import urllib.request
from typing import Any

import pytest

from local.gateway import BackgroundServer
from tests.local.conftest import MiniGateway


def _event(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    event: dict[str, Any] = json.loads(response.get_data())["event"]
    return event


def _returning(mini: MiniGateway, lambda_response: Any) -> Any:
    """POST the Lambda response the echo function should return; get the HTTP answer the gateway makes of it."""
    return mini.client.post("/public?mode=return", data=json.dumps(lambda_response), content_type="application/json")


# ------------------------------------------------------------------------------------------------ routing and auth
def test_unknown_route_is_api_gateways_404(mini: MiniGateway) -> None:
    for method, path in [("GET", "/nowhere"), ("DELETE", "/public"), ("GET", "/public//"), ("GET", "/items/")]:
        response = mini.client.open(path, method=method)
        assert response.status_code == 404
        assert response.get_json() == {"message": "Not Found"}


def test_trailing_slash_reaches_the_route_without_it_with_the_path_as_sent(mini: MiniGateway) -> None:
    event = _event(mini.client.get("/public/?a=1"))
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "GET /public"
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == "/public/"
    assert event["rawQueryString"] == "a=1"


def test_public_route_needs_no_token(mini: MiniGateway) -> None:
    event = _event(mini.client.get("/public"))
    assert "authorizer" not in event["requestContext"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
def test_protected_route_without_valid_token_is_401_and_never_invoked(
    mini: MiniGateway, monkeypatch: pytest.MonkeyPatch, headers: dict[str, str]
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(mini.gateway.host, "invoke", lambda fid, *a, **k: calls.append(fid))
    response = mini.client.get("/private", headers=headers)
    assert response.status_code == 401
    assert response.get_json() == {"message": "Unauthorized"}
    # API Gateway's challenge: Bearer scope="" error="invalid_token" error_description="<why>".
    assert re.fullmatch(
        r'Bearer scope="" error="invalid_token" error_description="[^"]+"', response.headers["www-authenticate"]
    )
    assert calls == []


@pytest.mark.parametrize(
    "overrides", [{"iss": "https://evil.example/"}, {"aud": "another-api"}, {"exp": 1_000_000_000}]
)
def test_wrong_issuer_audience_or_expiry_is_401(mini: MiniGateway, overrides: dict[str, Any]) -> None:
    response = mini.client.get("/private", headers={"Authorization": f"Bearer {mini.token(**overrides)}"})
    assert response.status_code == 401


def test_verified_claims_reach_the_function_flattened(mini: MiniGateway) -> None:
    event = _event(mini.client.get("/private", headers={"Authorization": f"Bearer {mini.token('admin')}"}))
    jwt_context = event["requestContext"]["authorizer"]["jwt"]
    claims = jwt_context["claims"]
    assert claims["roles"] == "[admin]"
    assert (claims["sub"], claims["org_id"]) == ("user-dana-admin", "org-acme")
    assert isinstance(claims["exp"], str)
    assert jwt_context["scopes"] is None


# ------------------------------------------------------------------------------------------------ the event
def test_event_has_the_payload_2_0_shape(mini: MiniGateway) -> None:
    response = mini.client.get(
        "/items/i-42?b=2&a=1&a=x%20y&empty=",
        headers=[("X-Custom", "one"), ("Cookie", "s=1; theme=dark"), ("User-Agent", "ua/1")],
    )
    event = _event(response)
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{id}"
    assert event["rawPath"] == "/items/i-42"
    assert event["rawQueryString"] == "b=2&a=1&a=x%20y&empty="
    assert event["queryStringParameters"] == {"b": "2", "a": "1,x y", "empty": ""}
    assert event["pathParameters"] == {"id": "i-42"}
    assert event["cookies"] == ["s=1", "theme=dark"]
    headers = event["headers"]
    assert all(name == name.lower() for name in headers)
    assert headers["x-custom"] == "one"
    assert "cookie" not in headers
    assert headers["x-forwarded-proto"] == "http"
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    context = event["requestContext"]
    assert context["http"] == {
        "method": "GET",
        "path": "/items/i-42",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "ua/1",
    }
    assert (context["routeKey"], context["stage"], context["accountId"]) == (
        "GET /items/{id}",
        "$default",
        "123456789012",
    )
    assert context["domainName"] == headers["host"]
    assert {"apiId", "domainPrefix", "requestId", "time", "timeEpoch"} <= context.keys()
    assert context["requestId"] == response.headers["apigw-requestid"]


def test_repeated_headers_are_comma_joined_over_http(mini: MiniGateway) -> None:
    # Over a real socket: werkzeug's test client joins repeated headers differently from its server.
    server = BackgroundServer("127.0.0.1", 0, "gateway")
    server.serve(mini.gateway)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.putrequest("GET", "/public")
        connection.putheader("X-Custom", "one")
        connection.putheader("X-Custom", "two")
        connection.endheaders()
        body = json.loads(connection.getresponse().read())
        connection.close()
    finally:
        server.stop()
    assert body["event"]["headers"]["x-custom"] == "one,two"


def test_requests_are_served_concurrently(mini: MiniGateway) -> None:
    server = BackgroundServer("127.0.0.1", 0, "gateway")
    server.serve(mini.gateway)
    try:
        url = f"{server.url}/public?mode=call&url={server.url}/first"
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - a loopback http URL
            assert json.loads(response.read()) == {"name": "first", "module": "lambda_FirstFunction"}
    finally:
        server.stop()


def test_optional_fields_are_absent_not_empty(mini: MiniGateway) -> None:
    event = _event(mini.client.get("/public"))
    for absent in ("queryStringParameters", "pathParameters", "cookies", "body"):
        assert absent not in event
    assert event["rawQueryString"] == ""


def test_text_body_is_passed_as_is(mini: MiniGateway) -> None:
    event = _event(mini.client.post("/public", data='{"a": 1}', content_type="application/json"))
    assert (event["body"], event["isBase64Encoded"]) == ('{"a": 1}', False)


@pytest.mark.parametrize("content_type", ["application/octet-stream", "application/x-www-form-urlencoded", None])
def test_non_text_body_is_base64(mini: MiniGateway, content_type: str | None) -> None:
    raw = b"\x00\x01a=b"
    event = _event(mini.client.post("/public", data=raw, content_type=content_type))
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


# ------------------------------------------------------------------------------------------------ the context
def test_lambda_context_follows_the_template(mini: MiniGateway) -> None:
    body = json.loads(mini.client.get("/public").get_data())
    assert body["function"] == "securedb-asana-local-EchoFunction"
    assert body["arn"].endswith(":function:securedb-asana-local-EchoFunction")
    assert body["memory"] == 512
    assert 1000 < body["remaining_ms"] <= 2000  # Timeout: 2 in the mini template


def test_functions_with_the_same_module_name_are_isolated(mini: MiniGateway) -> None:
    first, second = mini.client.get("/first").get_json(), mini.client.get("/second").get_json()
    assert (first["name"], second["name"]) == ("first", "second")
    assert first["module"] != second["module"]


# ------------------------------------------------------------------------------------------------ the response
def test_structured_response_is_mapped(mini: MiniGateway) -> None:
    response = _returning(
        mini,
        {
            "statusCode": 201,
            "headers": {"Content-Type": "text/plain", "X-Count": 3, "X-Flag": True},
            "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
            "body": "created",
        },
    )
    assert response.status_code == 201
    assert response.get_data() == b"created"
    assert response.headers["Content-Type"] == "text/plain"
    assert (response.headers["X-Count"], response.headers["X-Flag"]) == ("3", "true")
    assert response.headers.getlist("Set-Cookie") == ["a=1; Path=/", "b=2; HttpOnly"]


def test_base64_response_body_is_decoded(mini: MiniGateway) -> None:
    payload = bytes(range(256))
    response = _returning(
        mini, {"statusCode": 200, "isBase64Encoded": True, "body": base64.b64encode(payload).decode()}
    )
    assert response.get_data() == payload


def test_plain_return_value_becomes_a_json_200(mini: MiniGateway) -> None:
    response = _returning(mini, {"hello": "world"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.get_json() == {"hello": "world"}


def test_multi_value_headers_are_ignored_as_in_payload_2_0(mini: MiniGateway, caplog: pytest.LogCaptureFixture) -> None:
    response = _returning(mini, {"statusCode": 200, "multiValueHeaders": {"X-A": ["1", "2"]}, "body": ""})
    assert "X-A" not in response.headers
    assert "multiValueHeaders is ignored" in caplog.text


@pytest.mark.parametrize("bad", [{"statusCode": "200"}, {"statusCode": 999}, {"statusCode": 200, "body": {"a": 1}}])
def test_malformed_response_is_500(mini: MiniGateway, bad: dict[str, Any]) -> None:
    response = _returning(mini, bad)
    assert response.status_code == 500
    assert response.get_json() == {"message": "Internal Server Error"}


def test_handler_exception_is_500(mini: MiniGateway) -> None:
    response = mini.client.get("/public?mode=raise")
    assert response.status_code == 500
    assert response.get_json() == {"message": "Internal Server Error"}


def test_handler_past_its_timeout_is_500(mini: MiniGateway) -> None:
    # Lambda ends the invocation with "Task timed out" and API Gateway reports an integration failure.
    response = mini.client.get("/public?mode=sleep&seconds=2.5")
    assert response.status_code == 500
    assert response.get_json() == {"message": "Internal Server Error"}


def test_integration_timeout_is_503(mini: MiniGateway) -> None:
    mini.gateway._integration_timeout = 0.2  # HTTP API gives up after 30 s; shortened here
    response = mini.client.get("/public?mode=sleep&seconds=0.6")
    assert response.status_code == 503
    assert response.get_json() == {"message": "Service Unavailable"}


def test_environment_drift_fails_the_invocation_loudly(mini: MiniGateway, caplog: pytest.LogCaptureFixture) -> None:
    mini.gateway.host._expected_environment = {"EchoFunction": {"LOCAL_TEST_ONLY_VARIABLE": "expected"}}
    response = mini.client.get("/public")
    assert response.status_code == 500
    assert "LOCAL_TEST_ONLY_VARIABLE" in caplog.text


# ------------------------------------------------------------------------------------------------ logging and control
def test_access_log_has_neither_query_string_nor_token(mini: MiniGateway, caplog: pytest.LogCaptureFixture) -> None:
    token = mini.token()
    with caplog.at_level(logging.INFO, logger="local.gateway.access"):
        mini.client.get("/private?code=SECRET-CODE&state=s", headers={"Authorization": f"Bearer {token}"})
    lines = [r.getMessage() for r in caplog.records if r.name == "local.gateway.access"]
    assert len(lines) == 1
    assert lines[0].startswith("GET /private 200 ")
    assert "SECRET-CODE" not in caplog.text
    assert token not in caplog.text


def test_schedule_trigger_delivers_the_scheduled_event(mini: MiniGateway) -> None:
    response = mini.client.post("/_local/schedules/EchoFunction")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["function"], body["schedule"], body["outcome"]) == ("EchoFunction", "EchoFunctionNightly", "ok")
    event = json.loads(body["result"]["body"])["event"]
    assert (event["source"], event["detail-type"], event["detail"]) == ("aws.scheduler", "Scheduled Event", "{}")


def test_unknown_schedule_is_404(mini: MiniGateway) -> None:
    assert mini.client.post("/_local/schedules/FirstFunction").status_code == 404


def test_routes_endpoint_lists_the_template_routes(mini: MiniGateway) -> None:
    routes = mini.client.get("/_local/routes").get_json()["routes"]
    assert {"routeKey": "GET /private", "function": "EchoFunction", "authorizer": "jwt"} in routes
    assert {"routeKey": "GET /public", "function": "EchoFunction", "authorizer": None} in routes
