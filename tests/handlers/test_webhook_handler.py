"""The webhook function against moto: every hijack attempt fails and changes nothing; only signed deliveries reach
the queue; heartbeats are recorded; no request, however malformed, gets a 5xx."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asana_integration.models.webhooks import WebhookKind, WebhookState
from tests import log_audit
from tests.events import LambdaContext, http_event
from tests.handlers.conftest import function_module
from tests.handlers.webhook_support import (
    HOOK_ROUTE,
    SECRET,
    WebhookResources,
    active_webhook,
    arm,
    deliver,
    error_code,
    handshake,
    post,
    sign,
)

OTHER_SECRET = "0123456789abcdef" * 4
log_audit.remember(SECRET, OTHER_SECRET)

EVENT = {
    "user": {"gid": "1101", "resource_type": "user"},
    "created_at": "2026-12-02T10:00:00.000Z",
    "action": "changed",
    "resource": {"gid": "1301", "resource_type": "task"},
    "parent": None,
    "change": {"field": "name", "action": "changed"},
}


def table_items(resources: WebhookResources) -> list[dict[str, Any]]:
    items = boto3.client("dynamodb").scan(TableName=resources.table_name)["Items"]
    return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


def assert_nothing_changed(resources: WebhookResources, before: list[dict[str, Any]]) -> None:
    assert table_items(resources) == before
    assert resources.take_queued() == []


# --- Handshakes ------------------------------------------------------------------------------------------------------


def test_an_armed_prefix_accepts_one_handshake_echoes_the_secret_and_stores_it_encrypted(webhook_aws):
    prefix = arm(webhook_aws)

    response = handshake(prefix)

    assert response["statusCode"] == 200
    assert response["headers"]["X-Hook-Secret"] == SECRET
    record = webhook_aws.store().get(prefix)
    assert record is not None
    assert record.state is WebhookState.PENDING  # a created webhook waits for Asana's 201 to be cross-checked
    assert record.handshake_at is not None
    assert SECRET not in str(table_items(webhook_aws))  # KMS ciphertext only
    assert webhook_aws.store().secret_for(prefix) == SECRET


@pytest.mark.parametrize("second_at", ["pending", "active"])
def test_a_second_handshake_is_refused_and_the_first_secret_kept(webhook_aws, second_at):
    prefix = arm(webhook_aws)
    assert handshake(prefix)["statusCode"] == 200
    if second_at == "active":
        assert webhook_aws.store().activate(prefix, "9901")
    before = table_items(webhook_aws)

    response = handshake(prefix, OTHER_SECRET)

    assert response["statusCode"] == 404
    assert error_code(response) == "unknown_webhook"
    assert "X-Hook-Secret" not in response["headers"]
    assert_nothing_changed(webhook_aws, before)
    assert webhook_aws.store().secret_for(prefix) == SECRET


def test_a_handshake_on_an_unknown_prefix_is_refused_and_stores_nothing(webhook_aws):
    arm(webhook_aws)  # another webhook is armed: a guess must still find nothing
    before = table_items(webhook_aws)

    response = handshake("A" * 32)

    assert response["statusCode"] == 404
    assert error_code(response) == "unknown_webhook"
    assert_nothing_changed(webhook_aws, before)


def test_a_handshake_after_the_window_closed_is_refused_and_stores_nothing(webhook_aws):
    prefix = arm(webhook_aws, window_seconds=-1)
    before = table_items(webhook_aws)

    response = handshake(prefix)

    assert response["statusCode"] == 404
    assert_nothing_changed(webhook_aws, before)
    assert webhook_aws.store().get(prefix).has_secret is False  # type: ignore[union-attr]


def test_a_handshake_on_the_bare_path_is_refused_and_stores_nothing(webhook_aws):
    arm(webhook_aws)
    before = table_items(webhook_aws)

    response = handshake(None)

    assert response["statusCode"] == 404
    assert_nothing_changed(webhook_aws, before)


def test_a_handshake_on_a_deleted_webhook_is_refused(webhook_aws):
    prefix = arm(webhook_aws)
    assert webhook_aws.store().mark_deleted(prefix)
    before = table_items(webhook_aws)

    assert handshake(prefix)["statusCode"] == 404
    assert_nothing_changed(webhook_aws, before)


@pytest.mark.parametrize("secret", ["", "short", "has space in it, sixteen+", "x" * 513, "é" * 20])
def test_an_unusable_secret_is_refused_with_400_and_stores_nothing(webhook_aws, secret):
    prefix = arm(webhook_aws)
    before = table_items(webhook_aws)

    response = handshake(prefix, secret)

    assert response["statusCode"] == 400
    assert error_code(response) == "invalid_hook_secret"
    assert_nothing_changed(webhook_aws, before)


def test_a_webhook_made_by_hand_in_asana_is_active_after_its_handshake(webhook_aws):
    prefix = arm(webhook_aws, kind=WebhookKind.EXPECTED_MANUAL, resource=None)

    assert handshake(prefix)["statusCode"] == 200
    assert webhook_aws.store().get(prefix).state is WebhookState.ACTIVE  # type: ignore[union-attr]
    assert deliver(prefix, [EVENT])["statusCode"] == 200
    assert len(webhook_aws.take_queued()) == 1


# --- Deliveries ------------------------------------------------------------------------------------------------------


def test_a_signed_delivery_is_queued_with_the_webhook_s_organization(webhook_aws):
    prefix = active_webhook(webhook_aws, org="org-b")

    response = deliver(prefix, [EVENT, {**EVENT, "action": "added"}])

    assert response["statusCode"] == 200
    assert webhook_aws.take_queued() == [
        {"org_id": "org-b", "prefix": prefix, "delivery": {"events": [EVENT, {**EVENT, "action": "added"}]}}
    ]
    assert webhook_aws.store().get(prefix).last_delivery_at is not None  # type: ignore[union-attr]


def body_of(events: list[dict[str, Any]]) -> bytes:
    return json.dumps({"events": events}).encode()


@pytest.mark.parametrize(
    ("signature", "code"),
    [
        (None, "missing_signature"),
        ("", "missing_signature"),
        (sign(body_of([EVENT]), OTHER_SECRET), "invalid_signature"),  # forged: another key
        (sign(body_of([EVENT]))[:-1] + ("0" if sign(body_of([EVENT]))[-1] != "0" else "1"), "invalid_signature"),
        (sign(body_of([EVENT]))[:40], "invalid_signature"),  # truncated
        ("sha256=" + sign(body_of([EVENT])), "invalid_signature"),
        ("ü" * 64, "invalid_signature"),
    ],
)
def test_a_missing_forged_or_altered_signature_gets_401_and_nothing_is_queued(webhook_aws, signature, code):
    prefix = active_webhook(webhook_aws)
    before = table_items(webhook_aws)
    headers = {"X-Hook-Signature": signature} if signature is not None else {}

    response = post(f"/asana/webhook/{prefix}", headers=headers, body=body_of([EVENT]), prefix=prefix)

    assert response["statusCode"] == 401
    assert error_code(response) == code
    assert_nothing_changed(webhook_aws, before)


def test_an_altered_body_with_the_original_signature_gets_401(webhook_aws):
    prefix = active_webhook(webhook_aws)
    original = body_of([EVENT])
    altered = original.replace(b'"1301"', b'"1302"')
    before = table_items(webhook_aws)

    response = post(
        f"/asana/webhook/{prefix}", headers={"X-Hook-Signature": sign(original)}, body=altered, prefix=prefix
    )

    assert response["statusCode"] == 401
    assert_nothing_changed(webhook_aws, before)


def test_the_signature_is_over_the_exact_bytes_whitespace_included(webhook_aws):
    prefix = active_webhook(webhook_aws)
    spaced = b'{ "events" : [ ' + json.dumps(EVENT, indent=2).encode() + b" ] }\n"

    accepted = post(f"/asana/webhook/{prefix}", headers={"X-Hook-Signature": sign(spaced)}, body=spaced, prefix=prefix)
    compacted = body_of([EVENT])  # the same JSON, re-serialized: other bytes, so not Asana's signature
    refused = post(
        f"/asana/webhook/{prefix}", headers={"X-Hook-Signature": sign(spaced)}, body=compacted, prefix=prefix
    )

    assert accepted["statusCode"] == 200
    assert refused["statusCode"] == 401


def test_a_base64_body_is_verified_over_its_decoded_bytes(webhook_aws):
    prefix = active_webhook(webhook_aws)
    body = body_of([EVENT])

    decoded_signed = post(
        f"/asana/webhook/{prefix}", headers={"X-Hook-Signature": sign(body)}, body=body, base64_body=True, prefix=prefix
    )
    encoded_signed = post(
        f"/asana/webhook/{prefix}",
        headers={"X-Hook-Signature": sign(base64.b64encode(body))},
        body=body,
        base64_body=True,
        prefix=prefix,
    )

    assert decoded_signed["statusCode"] == 200
    assert encoded_signed["statusCode"] == 401
    assert len(webhook_aws.take_queued()) == 1


def test_a_body_that_is_not_base64_although_flagged_gets_400(webhook_aws):
    prefix = active_webhook(webhook_aws)
    event = http_event("POST", f"/asana/webhook/{prefix}", route_path=HOOK_ROUTE, path_parameters={"prefix": prefix})
    event.update(isBase64Encoded=True, body="not base64!")

    response = function_module("webhook").lambda_handler(event, LambdaContext())

    assert response["statusCode"] == 400
    assert error_code(response) == "invalid_body"
    assert webhook_aws.take_queued() == []


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"events": {}}', b'{"events": [1]}', b"\xff\xfe{", b"[" * 5000])
def test_a_signed_body_that_is_not_a_delivery_gets_400(webhook_aws, body):
    prefix = active_webhook(webhook_aws)

    response = post(
        f"/asana/webhook/{prefix}", headers={"X-Hook-Signature": sign(body)}, body=body, base64_body=True, prefix=prefix
    )

    assert response["statusCode"] == 400
    assert error_code(response) == "invalid_delivery"
    assert webhook_aws.take_queued() == []


@pytest.mark.parametrize("state", ["unknown", "pending", "pending-with-secret", "deleted"])
def test_a_delivery_to_a_webhook_that_is_not_active_gets_404(webhook_aws, state):
    prefix = {
        "unknown": lambda: "B" * 32,
        "pending": lambda: arm(webhook_aws),
        "pending-with-secret": lambda: _handshaken(webhook_aws),
        "deleted": lambda: _deleted(webhook_aws),
    }[state]()
    before = table_items(webhook_aws)

    response = deliver(prefix, [EVENT])

    assert response["statusCode"] == 404
    assert error_code(response) == "unknown_webhook"
    assert_nothing_changed(webhook_aws, before)


def _handshaken(resources: WebhookResources) -> str:
    prefix = arm(resources)
    assert resources.store().accept_handshake(prefix, SECRET, time.time())
    return prefix


def _deleted(resources: WebhookResources) -> str:
    prefix = active_webhook(resources)
    assert resources.store().mark_deleted(prefix)
    return prefix


def test_a_heartbeat_records_when_the_webhook_was_last_seen_and_queues_nothing(webhook_aws):
    prefix = active_webhook(webhook_aws)
    assert webhook_aws.store().get(prefix).last_heartbeat_at is None  # type: ignore[union-attr]

    response = deliver(prefix, [])

    assert response["statusCode"] == 200
    assert webhook_aws.store().get(prefix).last_heartbeat_at is not None  # type: ignore[union-attr]
    assert webhook_aws.take_queued() == []


def test_an_unsigned_heartbeat_is_refused_like_any_delivery(webhook_aws):
    prefix = active_webhook(webhook_aws)

    response = post(f"/asana/webhook/{prefix}", body=b'{"events": []}', prefix=prefix)

    assert response["statusCode"] == 401
    assert webhook_aws.store().get(prefix).last_heartbeat_at is None  # type: ignore[union-attr]


def test_a_test_webhook_s_events_are_answered_but_never_queued(webhook_aws):
    prefix = arm(webhook_aws, kind=WebhookKind.TEST, window_seconds=30)
    assert handshake(prefix)["statusCode"] == 200

    assert deliver(prefix, [EVENT])["statusCode"] == 200
    assert deliver(prefix, [EVENT], secret=OTHER_SECRET)["statusCode"] == 401
    assert webhook_aws.take_queued() == []


def test_a_delivery_too_large_for_one_message_is_split_in_order(webhook_aws):
    prefix = active_webhook(webhook_aws)
    events = [
        {**EVENT, "resource": {"gid": str(10_000 + n), "resource_type": "task"}, "pad": "x" * 2000} for n in range(300)
    ]

    assert deliver(prefix, events)["statusCode"] == 200

    queued = webhook_aws.take_queued()
    assert len(queued) > 1
    assert all(len(json.dumps(body, separators=(",", ":"))) <= 256 * 1024 for body in queued)
    received = [event for body in queued for event in body["delivery"]["events"]]
    assert received == events


# --- Anything at all ---------------------------------------------------------------------------------------------


header_names = st.sampled_from(["x-hook-secret", "x-hook-signature", "content-type", "X-Hook-Signature", "x-other"])
header_values = st.text(max_size=80) | st.from_regex(r"[0-9a-f]{64}", fullmatch=True)


@pytest.fixture
def fuzz_target(webhook_aws: WebhookResources) -> tuple[WebhookResources, str, list[dict[str, Any]]]:
    """An active webhook and the table as it stands (a function-scoped fixture: hypothesis's examples share it)."""
    prefix = active_webhook(webhook_aws)
    return webhook_aws, prefix, table_items(webhook_aws)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    target=st.sampled_from(["active", "unknown", "bare", "odd"]),
    headers=st.dictionaries(header_names, header_values, max_size=4),
    body=st.binary(max_size=300) | st.text(max_size=300).map(str.encode),
    as_base64=st.booleans(),
)
def test_random_bodies_and_headers_never_get_a_5xx_nor_change_anything(fuzz_target, target, headers, body, as_base64):
    resources, active, before = fuzz_target
    prefix = {"active": active, "unknown": "C" * 32, "bare": None, "odd": "../%00é"}[target]
    path = "/asana/webhook" if prefix is None else f"/asana/webhook/{prefix}"
    if not as_base64:
        body = body.decode("utf-8", "replace").encode()  # a text body is text

    response = post(path, headers=headers, body=body, base64_body=as_base64, prefix=prefix)

    assert 200 <= response["statusCode"] < 500
    if response["statusCode"] >= 400:
        assert json.loads(response["body"])["error"]["code"]
    # Random input never carries the webhook's signature, and a handshake on an active prefix is refused.
    assert response["statusCode"] != 200
    assert resources.take_queued() == []
    assert table_items(resources) == before
