"""A request whose verified token carries a malformed or missing identity claim is a 401 at every authenticated
function, before anything is read or written for the organization it might name."""

from __future__ import annotations

import boto3
import pytest

from asana_integration.config import get_config
from tests.events import LambdaContext, claims_for, http_event, json_body
from tests.handlers.conftest import function_module

GOOD = claims_for("org-a", "admin-a", admin=True)
BAD_CLAIMS = [
    pytest.param({**GOOD, "org_id": "../other-org"}, id="org id with a path"),
    pytest.param({**GOOD, "org_id": "a/b#c"}, id="org id with a slash and a hash"),
    pytest.param({k: v for k, v in GOOD.items() if k != "org_id"}, id="no org id"),
    pytest.param({**GOOD, "sub": "admin a"}, id="user id with a space"),
    pytest.param({k: v for k, v in GOOD.items() if k != "sub"}, id="no user id"),
]
# One route of each authenticated function, an admin's (the claims' roles say admin).
ROUTES = [("settings", "GET", "/asana/api/settings"), ("oauth_callback", "POST", "/asana/api/connect")]


@pytest.mark.parametrize(("function", "method", "path"), ROUTES, ids=[f"{m} {p}" for _, m, p in ROUTES])
@pytest.mark.parametrize("claims", BAD_CLAIMS)
def test_a_malformed_or_missing_identity_claim_is_a_401_that_touches_nothing(services, function, method, path, claims):
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(Name="securedb-asana/org-a", SecretString='{"client_id": "c", "client_secret": "s"}')
    event = http_event(method, path, claims=claims, body={"purpose": "organization"} if method == "POST" else None)

    response = function_module(function).lambda_handler(event, LambdaContext())

    assert response["statusCode"] == 401
    error = json_body(response)["error"]
    assert error["code"] == "not_authenticated"
    assert error["fix"]
    table = boto3.resource("dynamodb").Table(get_config().table_name)
    assert table.scan()["Items"] == [], "nothing may be stored for a caller without a usable identity"
    assert [s["Name"] for s in secrets.list_secrets()["SecretList"]] == ["securedb-asana/org-a"]
