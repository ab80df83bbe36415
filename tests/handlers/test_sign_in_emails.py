"""Users' sign-in emails are remembered from verified claims on the routes every user calls (Connect, their own
connection's status), at most once a day, and remembering never fails a request."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from asana_integration.config import get_config
from asana_integration.stores.signed_in_users import SignedInUserStore
from tests.events import LambdaContext, claims_for, http_event
from tests.handlers.conftest import function_module


def connection_status(*, org: str = "org-a", user: str = "member-a", **extra_claims: Any) -> int:
    claims = {**claims_for(org, user, admin=False), **extra_claims}
    event = http_event("GET", "/asana/api/connection", claims=claims, query={"purpose": "personal"})
    response = function_module("oauth_callback").lambda_handler(event, LambdaContext())
    assert json.loads(response["body"])
    return int(response["statusCode"])


def remembered(org: str = "org-a") -> list[tuple[str, str, str | None]]:
    table = boto3.resource("dynamodb").Table(get_config().mirror_table_name)
    return [(user.user_id, user.email, user.name) for user in SignedInUserStore(table).users(org)]


def test_a_members_sign_in_email_is_remembered_from_the_claims(services):
    assert connection_status(email="Blake.Chen@Acme.example", name="Blake Chen") == 200

    assert remembered() == [("member-a", "blake.chen@acme.example", "Blake Chen")]
    assert remembered("org-b") == []


@pytest.mark.parametrize("email", [None, "not-an-email", "x" * 250 + "@a.example", 42])
def test_a_missing_or_unusable_email_claim_remembers_nothing(services, email):
    claims = {} if email is None else {"email": email}

    assert connection_status(**claims) == 200
    assert remembered() == []


def test_the_email_claims_name_is_configurable(services, monkeypatch):
    monkeypatch.setenv("CLAIM_EMAIL", "https://securedb.io/email")
    get_config.cache_clear()

    connection_status(**{"email": "ignored@acme.example", "https://securedb.io/email": "blake@acme.example"})

    assert [email for _, email, _ in remembered()] == ["blake@acme.example"]


def test_the_name_remembered_is_the_configured_name_claim_cleaned_for_showing(services, monkeypatch):
    monkeypatch.setenv("CLAIM_NAME", "display_name")
    get_config.cache_clear()

    connection_status(email="blake@acme.example", name="Not this one", display_name="  Blake\u0007 Chen ")

    assert remembered() == [("member-a", "blake@acme.example", "Blake Chen")]


def test_when_remembering_fails_the_request_still_succeeds(services, monkeypatch):
    monkeypatch.setenv("MIRROR_TABLE_NAME", "no-such-table")
    get_config.cache_clear()

    assert connection_status(email="blake@acme.example") == 200
