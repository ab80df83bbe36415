"""The tenant's host comes from ``requestContext.domainName`` (the domain API Gateway received the request on), never
from the ``Host`` header a client can write: a forged Host cannot choose the redirect URI, the Connect link or the
URL an OAuth redirect is checked against.

Events are real-shaped HTTP API events whose ``Host`` and ``domainName`` disagree, as a forged request's would.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from local.asana_sandbox import demo
from tests import log_audit
from tests.events import LambdaContext, claims_for, http_event
from tests.handlers.conftest import function_module

ACME = "acme.expand.securedb.io"
OTHER_TENANT = "globex.expand.securedb.io"
DEFAULT_DOMAIN = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"  # the API's own endpoint: not a tenant
CREDENTIALS = {"client_id": demo.DEMO_APP_CLIENT_ID, "client_secret": demo.DEMO_APP_CLIENT_SECRET}
log_audit.remember(demo.DEMO_APP_CLIENT_SECRET)


def call(
    function: str,
    method: str,
    path: str,
    *,
    host: str,
    domain_name: str,
    body: Any = None,
    query: dict[str, str] | None = None,
    anonymous: bool = False,
) -> dict[str, Any]:
    event = http_event(
        method,
        path,
        route_path="/asana/settings" if path.startswith("/asana/settings") else None,
        claims=None if anonymous else claims_for("org-a", "admin-a", admin=True),
        body=body,
        query=query,
        headers={"host": host},
    )
    event["requestContext"]["domainName"] = domain_name
    event["requestContext"]["domainPrefix"] = domain_name.split(".", 1)[0]
    response: dict[str, Any] = function_module(function).lambda_handler(event, LambdaContext())
    return response


def redirect_uri_of(connect_url: str) -> str:
    return parse_qs(urlsplit(connect_url).query)["redirect_uri"][0]


@pytest.fixture
def tenant_redirects(sandbox) -> None:
    """The Asana app lists every tenant's redirect URIs, as the admin set-up asks (Asana has no wildcards)."""
    for host in (ACME, OTHER_TENANT, "expand.securedb.io"):
        for suffix in ("", "/"):
            sandbox.add_redirect_uri(demo.DEMO_APP_CLIENT_ID, f"https://{host}/asana/settings{suffix}")


@pytest.mark.parametrize(
    ("forged_host", "domain_name", "expected_base"),
    [
        (OTHER_TENANT, ACME, f"https://{ACME}"),  # another tenant's host
        (ACME, DEFAULT_DOMAIN, "https://expand.securedb.io"),  # a tenant's host on the API's own endpoint
        ("evil.example.com", ACME, f"https://{ACME}"),  # a host of the attacker's
    ],
)
def test_the_settings_urls_follow_the_domain_the_request_arrived_on(services, forged_host, domain_name, expected_base):
    response = call(
        "settings", "PUT", "/asana/api/settings", host=forged_host, domain_name=domain_name, body=CREDENTIALS
    )

    body = json.loads(response["body"])
    assert response["statusCode"] == 200
    assert body["redirect_uris"] == [f"{expected_base}/asana/settings", f"{expected_base}/asana/settings/"]
    assert body["webhook_url"] == f"{expected_base}/asana/webhook"
    assert redirect_uri_of(body["connection"]["connect_url"]) == f"{expected_base}/asana/settings"


def test_a_forged_host_cannot_choose_the_connect_links_redirect_uri(services, tenant_redirects):
    call("settings", "PUT", "/asana/api/settings", host=ACME, domain_name=ACME, body=CREDENTIALS)

    response = call(
        "oauth_callback",
        "POST",
        "/asana/api/connect",
        host=OTHER_TENANT,
        domain_name=ACME,
        body={"purpose": "organization"},
    )

    assert response["statusCode"] == 200, response["body"]
    assert redirect_uri_of(json.loads(response["body"])["connect_url"]) == f"https://{ACME}/asana/settings"


def approve(sandbox, connect_url: str) -> dict[str, str]:
    """Approve on the sandbox's consent page; the query of Asana's redirect back (not followed)."""
    params = {key: values[0] for key, values in parse_qs(urlsplit(connect_url).query).items()}
    answer = requests.post(
        f"{sandbox.oauth_base_url}/oauth_authorize",
        data={**params, "decision": "approve", "user_gid": demo.DEMO_ADMIN_USER_GID},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 302, answer.text
    query = {key: values[0] for key, values in parse_qs(urlsplit(answer.headers["Location"]).query).items()}
    log_audit.remember(query.get("code"), query.get("state"))
    return query


def start_connect_on(domain: str) -> str:
    response = call("oauth_callback", "POST", "/asana/api/connect", host=domain, domain_name=domain, body={})
    assert response["statusCode"] == 200, response["body"]
    return str(json.loads(response["body"])["connect_url"])


def test_the_oauth_redirect_is_checked_against_the_domain_it_arrived_on_not_the_host_header(
    services, sandbox, tenant_redirects
):
    call("settings", "PUT", "/asana/api/settings", host=ACME, domain_name=ACME, body=CREDENTIALS)
    query = approve(sandbox, start_connect_on(ACME))

    # Asana's redirect reaches ACME's domain; a proxy (or an attacker) rewrote Host on the way.
    response = call(
        "oauth_callback", "GET", "/asana/settings", host=OTHER_TENANT, domain_name=ACME, query=query, anonymous=True
    )

    assert response["statusCode"] == 302
    location = urlsplit(response["headers"]["Location"])
    assert (location.netloc, location.path) == (ACME, "/asana/settings")
    assert parse_qs(location.query)["outcome"] == ["awaiting_completion"]


def test_a_forged_host_cannot_complete_a_link_issued_for_another_tenant(services, sandbox, tenant_redirects):
    call("settings", "PUT", "/asana/api/settings", host=ACME, domain_name=ACME, body=CREDENTIALS)
    query = approve(sandbox, start_connect_on(ACME))

    # The code and state of ACME's link, replayed on another tenant's domain with ACME's name in Host.
    response = call(
        "oauth_callback", "GET", "/asana/settings", host=ACME, domain_name=OTHER_TENANT, query=query, anonymous=True
    )

    assert response["statusCode"] == 302
    assert parse_qs(urlsplit(response["headers"]["Location"]).query)["outcome"] != ["connected"]
    status = call(
        "oauth_callback", "GET", "/asana/api/connection", host=ACME, domain_name=ACME, query={"purpose": "personal"}
    )
    assert json.loads(status["body"])["status"] == "not_connected"
