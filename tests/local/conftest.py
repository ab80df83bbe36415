"""A miniature template with echo functions, so the gateway is tested through HTTP without the real functions.

The echo handler answers with the event and context it received; ``?mode=`` makes it raise, sleep, call a URL (back
into the gateway) while its request is open, or return the request body as its Lambda response (to test how the
gateway maps responses).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from local.aws import LocalAws
from local.dev_identity import DevIdentityProvider
from local.gateway import FunctionHost, Gateway, JwtAuthorizer, RouteTable, authorizer_config, schedules

ISSUER = "http://127.0.0.1:9/"  # never fetched: unit tests hand the authorizer its keys directly
AUDIENCE = "securedb-asana-integration"

ECHO = """
import json, time, urllib.request

def lambda_handler(event, context):
    query = event.get("queryStringParameters") or {}
    mode = query.get("mode", "echo")
    if mode == "raise":
        raise RuntimeError("boom")
    if mode == "sleep":
        time.sleep(float(query["seconds"]))
    if mode == "call":  # a request back into the gateway while this one is open (a webhook handshake does that)
        with urllib.request.urlopen(query["url"], timeout=5) as answer:
            return {"statusCode": 200, "body": answer.read().decode()}
    if mode == "return":
        return json.loads(event["body"])
    body = {"event": event, "function": context.function_name, "remaining_ms": context.get_remaining_time_in_millis(),
            "memory": context.memory_limit_in_mb, "arn": context.invoked_function_arn}
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}
"""

NAMED = """
NAME = "{name}"

def lambda_handler(event, context):
    return {{"name": NAME, "module": __name__}}
"""


def _http(method: str, path: str, *, public: bool) -> dict[str, Any]:
    props: dict[str, Any] = {"ApiId": {"Ref": "HttpApi"}, "Method": method, "Path": path}
    if public:
        props["Auth"] = {"Authorizer": "NONE"}
    return {"Type": "HttpApi", "Properties": props}


def mini_template(root: Path) -> dict[str, Any]:
    for name, code in {
        "echo": ECHO,
        "first": NAMED.format(name="first"),
        "second": NAMED.format(name="second"),
    }.items():
        (root / "functions" / name).mkdir(parents=True)
        (root / "functions" / name / "app.py").write_text(code)
    return {
        "Parameters": {
            "JwtIssuer": {"Type": "String", "Default": ISSUER},
            "JwtAudience": {"Type": "CommaDelimitedList", "Default": [AUDIENCE, "other-audience"]},
        },
        "Globals": {"Function": {"Timeout": 29, "MemorySize": 512, "Environment": {"Variables": {"SHARED": "1"}}}},
        "Resources": {
            "HttpApi": {
                "Type": "AWS::Serverless::HttpApi",
                "Properties": {
                    "Auth": {
                        "DefaultAuthorizer": "Jwt",
                        "Authorizers": {
                            "Jwt": {
                                "IdentitySource": "$request.header.Authorization",
                                "JwtConfiguration": {
                                    "issuer": {"Ref": "JwtIssuer"},
                                    "audience": {"Ref": "JwtAudience"},
                                },
                            }
                        },
                    }
                },
            },
            "EchoFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "functions/echo/",
                    "Handler": "app.lambda_handler",
                    "Timeout": 2,
                    "Events": {
                        "Public": _http("GET", "/public", public=True),
                        "PublicPost": _http("POST", "/public", public=True),
                        "Private": _http("GET", "/private", public=False),
                        "Item": _http("GET", "/items/{id}", public=True),
                        "Nightly": {"Type": "ScheduleV2", "Properties": {"ScheduleExpression": "rate(1 day)"}},
                    },
                },
            },
            "FirstFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "functions/first/",
                    "Handler": "app.lambda_handler",
                    "Events": {"Get": _http("GET", "/first", public=True)},
                },
            },
            "SecondFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "functions/second/",
                    "Handler": "app.lambda_handler",
                    "ReservedConcurrentExecutions": 1,
                    "Events": {"Get": _http("GET", "/second", public=True)},
                },
            },
        },
    }


@dataclass
class MiniGateway:
    gateway: Gateway
    client: Client
    identity: DevIdentityProvider
    template: dict[str, Any]

    def token(self, identity: str = "admin", **overrides: Any) -> str:
        return self.identity.token_for(identity, **overrides)


@pytest.fixture
def identity() -> DevIdentityProvider:
    return DevIdentityProvider(issuer=ISSUER, audience=AUDIENCE, signed_in_url="http://127.0.0.1:3000/asana/settings")


@pytest.fixture
def mini(tmp_path: Path, identity: DevIdentityProvider) -> MiniGateway:
    template = mini_template(tmp_path)
    config = authorizer_config({}, template)
    keys = {identity.kid: _pyjwk(identity)}
    gateway = Gateway(
        RouteTable.from_template(template),
        FunctionHost(template, root=tmp_path),
        JwtAuthorizer(config, keys.get),
        schedules(template),
    )
    return MiniGateway(gateway, Client(gateway, use_cookies=False), identity, template)


def _pyjwk(identity: DevIdentityProvider) -> Any:
    import jwt

    return jwt.PyJWK(identity.jwks["keys"][0])


@pytest.fixture(scope="module")
def local_aws() -> Iterator[LocalAws]:
    """moto in server mode, as the local stack runs it, for one test module; tests reset it before use. Only modules
    of the first test group use it: moto's backends are per process, and the e2e stack starts after them."""
    aws = LocalAws().start()
    yield aws
    aws.stop()
