"""The webhook receiver's own decisions, with an in-memory store: which handshake secrets it accepts (the exact
bounds), which signatures (any case of the same hex, spaces around it), when a delivery's arrival is written, what a
refusal looks like to Asana and to the operator (JSON with a message and a fix, one WebhookRequestsRefused count).

The moto-backed tests (tests/handlers/test_webhook_handler.py) cover the same paths end to end; these pin the edges.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from asana_integration.models.webhooks import DeliveryTarget, WebhookKind, WebhookState
from asana_integration.observability import metrics
from asana_integration.webhooks.receiver import DELIVERY_MARK_SECONDS, WebhookReceiver, WebhookRequest
from tests import log_audit

PREFIX = "P" * 32
SECRET = "c4ca4238a0b923820dcc509a6f75849b" * 2
log_audit.remember(SECRET)
NOW = 1_800_000_000.0
EVENTS = [{"action": "changed", "resource": {"gid": "1301", "resource_type": "task"}}]


@dataclass
class Records:
    """The store as the receiver sees it: one webhook, and what was asked of it."""

    target: DeliveryTarget | None = None
    accepts_handshake: bool = True
    handshakes: list[tuple[str, str, float]] = field(default_factory=list)
    heartbeats: list[tuple[str, float]] = field(default_factory=list)
    deliveries: list[tuple[str, float]] = field(default_factory=list)

    def delivery_target(self, prefix: str) -> DeliveryTarget | None:
        return self.target if self.target is not None and self.target.prefix == prefix else None

    def accept_handshake(self, prefix: str, secret: str, now: float) -> bool:
        self.handshakes.append((prefix, secret, now))
        return self.accepts_handshake

    def secret_of(self, record: DeliveryTarget) -> str:
        return SECRET

    def record_heartbeat(self, prefix: str, now: float) -> bool:
        self.heartbeats.append((prefix, now))
        return True

    def record_delivery(self, prefix: str, now: float) -> bool:
        self.deliveries.append((prefix, now))
        return True


@dataclass
class Sink:
    sent: list[tuple[str, str, list[dict[str, Any]], bytes | None]] = field(default_factory=list)

    def send(self, org_id: str, prefix: str, events: list[dict[str, Any]], raw_delivery: bytes | None = None) -> int:
        self.sent.append((org_id, prefix, events, raw_delivery))
        return 1


def active(kind: WebhookKind = WebhookKind.CREATED, last_delivery_at: int | None = None) -> DeliveryTarget:
    return DeliveryTarget(
        prefix=PREFIX,
        org_id="org-a",
        state=WebhookState.ACTIVE,
        kind=kind,
        last_delivery_at=last_delivery_at,
        secret_ciphertext=b"ciphertext",
    )


def receiver(records: Records, sink: Sink | None = None) -> WebhookReceiver:
    return WebhookReceiver(records, sink or Sink(), clock=lambda: NOW)


def sign(body: bytes) -> str:
    return hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def delivery(body: bytes, signature: str | None) -> WebhookRequest:
    headers = {"x-hook-signature": signature} if signature is not None else {}
    return WebhookRequest(PREFIX, headers, body)


def handshake(secret: str) -> WebhookRequest:
    return WebhookRequest(PREFIX, {"x-hook-secret": secret}, b"")


# --- Handshakes ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["a" * 16, "z" * 512, "!" * 16, "~" * 16, "!~" + "0" * 14])
def test_a_handshake_secret_of_16_to_512_visible_ascii_characters_is_accepted_and_echoed(secret):
    records = Records()

    response = receiver(records).receive(handshake(secret))

    assert (response.status, response.headers) == (200, {"X-Hook-Secret": secret})
    assert records.handshakes == [(PREFIX, secret, NOW)]


@pytest.mark.parametrize("secret", ["a" * 15, "z" * 513, " " + "a" * 15, "a" * 15 + "\x7f", "a" * 15 + "\t"])
def test_a_handshake_secret_outside_those_bounds_is_refused_before_the_store_is_asked(secret):
    records = Records()

    response = receiver(records).receive(handshake(secret))

    assert response.status == 400
    assert json.loads(response.body)["error"]["code"] == "invalid_hook_secret"
    assert records.handshakes == []


def test_a_handshake_the_store_does_not_accept_is_a_404_without_the_secret_echoed():
    response = receiver(Records(accepts_handshake=False)).receive(handshake(SECRET))

    assert response.status == 404
    assert "X-Hook-Secret" not in response.headers


# --- Signatures ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [str.upper, lambda s: f"  {s}\t", lambda s: s[:32].upper() + s[32:]])
def test_the_signature_is_accepted_in_any_case_and_with_spaces_around_it(shape):
    body = json.dumps({"events": EVENTS}).encode()
    sink = Sink()

    response = receiver(Records(target=active()), sink).receive(delivery(body, shape(sign(body))))

    assert response.status == 200
    assert sink.sent == [("org-a", PREFIX, EVENTS, body)]


@pytest.mark.parametrize("signature", ["", "   "])
def test_an_empty_signature_is_refused_as_missing_and_a_blank_one_as_wrong(signature):
    body = json.dumps({"events": EVENTS}).encode()

    response = receiver(Records(target=active())).receive(delivery(body, signature))

    assert response.status == 401
    expected = "missing_signature" if signature == "" else "invalid_signature"
    assert json.loads(response.body)["error"]["code"] == expected


# --- Heartbeats and deliveries ---------------------------------------------------------------------------------------


def test_a_heartbeat_is_recorded_for_its_webhook_at_the_current_time_and_is_not_a_delivery():
    body = b'{"events": []}'
    records, sink = Records(target=active()), Sink()

    response = receiver(records, sink).receive(delivery(body, sign(body)))

    assert response.status == 200
    assert records.heartbeats == [(PREFIX, NOW)]
    assert (records.deliveries, sink.sent) == ([], [])


@pytest.mark.parametrize(
    ("last_delivery_at", "written"),
    [
        (None, True),
        (int(NOW) - DELIVERY_MARK_SECONDS, True),  # a minute ago exactly: written again
        (int(NOW) - DELIVERY_MARK_SECONDS + 1, False),
        (int(NOW), False),
    ],
)
def test_a_delivery_s_arrival_is_written_at_most_once_a_minute(last_delivery_at, written):
    body = json.dumps({"events": EVENTS}).encode()
    records, sink = Records(target=active(last_delivery_at=last_delivery_at)), Sink()

    response = receiver(records, sink).receive(delivery(body, sign(body)))

    assert response.status == 200
    assert len(sink.sent) == 1
    assert records.deliveries == ([(PREFIX, NOW)] if written else [])
    assert records.heartbeats == []


def test_a_test_webhook_s_delivery_is_answered_and_its_arrival_written_but_nothing_is_sent():
    body = json.dumps({"events": EVENTS}).encode()
    records, sink = Records(target=active(WebhookKind.TEST)), Sink()

    response = receiver(records, sink).receive(delivery(body, sign(body)))

    assert response.status == 200
    assert sink.sent == []
    assert records.deliveries == [(PREFIX, NOW)]


# --- Refusals --------------------------------------------------------------------------------------------------------


def _emitted_metrics(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The CloudWatch embedded-metric documents Powertools printed."""
    documents = []
    for line in capsys.readouterr().out.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "_aws" in document:
            documents.append(document)
    return documents


@pytest.mark.parametrize(
    ("request_", "status", "code"),
    [
        (WebhookRequest("Q" * 32, {}, b"{}"), 404, "unknown_webhook"),
        (WebhookRequest(None, {"x-hook-secret": SECRET}, b""), 404, "unknown_webhook"),
        (WebhookRequest(PREFIX, {"x-hook-signature": sign(b"not json")}, b"not json"), 400, "invalid_delivery"),
        (WebhookRequest(PREFIX, {"x-hook-signature": sign(b"[]")}, b"[]"), 400, "invalid_delivery"),
        (WebhookRequest(PREFIX, {"x-hook-secret": "short"}, b""), 400, "invalid_hook_secret"),
        (WebhookRequest(PREFIX, {}, b'{"events": []}'), 401, "missing_signature"),
        (WebhookRequest(PREFIX, {"x-hook-signature": sign(b"{}")}, b'{"events": []}'), 401, "invalid_signature"),
    ],
)
def test_a_refusal_is_json_with_a_message_and_a_fix_and_counted_once_for_the_operator(capsys, request_, status, code):
    metrics.clear_metrics()
    capsys.readouterr()

    response = receiver(Records(target=active())).receive(request_)

    assert response.status == status
    assert {name.lower(): value for name, value in response.headers.items()} == {"content-type": "application/json"}
    error = json.loads(response.body)["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"].strip()
    assert isinstance(error["fix"], str)
    assert error["fix"].strip()
    [document] = _emitted_metrics(capsys)
    [directive] = document["_aws"]["CloudWatchMetrics"]
    assert directive["Metrics"] == [{"Name": "WebhookRequestsRefused", "Unit": "Count"}]
    assert document["WebhookRequestsRefused"] == [1.0]


def test_an_accepted_delivery_emits_no_refusal_count(capsys):
    body = json.dumps({"events": EVENTS}).encode()
    metrics.clear_metrics()
    capsys.readouterr()

    assert receiver(Records(target=active())).receive(delivery(body, sign(body))).status == 200

    assert _emitted_metrics(capsys) == []


@pytest.mark.parametrize("body", ["e30=!", "e3 0=", "e30=\n"])
def test_a_base64_body_with_any_character_outside_base64_is_refused_not_decoded_leniently(body):
    event = {"body": body, "isBase64Encoded": True, "pathParameters": {"prefix": PREFIX}}

    response = receiver(Records(target=active())).receive_http_event(event)

    assert response["statusCode"] == 400
    error = json.loads(response["body"])["error"]
    assert error["code"] == "invalid_body"
    assert isinstance(error["message"], str)
    assert error["message"].strip()
    assert isinstance(error["fix"], str)
    assert error["fix"].strip()


@pytest.mark.parametrize("base64_flagged", [False, True])
def test_an_event_without_a_body_is_verified_as_the_empty_body(base64_flagged):
    event = {
        "isBase64Encoded": base64_flagged,
        "pathParameters": {"prefix": PREFIX},
        "headers": {"X-Hook-Signature": sign(b"")},
    }

    response = receiver(Records(target=active())).receive_http_event(event)

    assert response["statusCode"] == 400  # the signature matched: refused only as no delivery
    assert json.loads(response["body"])["error"]["code"] == "invalid_delivery"


def test_a_text_body_with_a_lone_surrogate_is_read_byte_for_byte_and_refused_without_a_crash():
    event = {"body": '{"events": ["\ud800"]}', "pathParameters": {"prefix": PREFIX}, "headers": {}}

    response = receiver(Records(target=active())).receive_http_event(event)

    assert response["statusCode"] == 401
    assert json.loads(response["body"])["error"]["code"] == "missing_signature"


@pytest.mark.parametrize("path_parameters", [None, {}, {"prefix": ""}, {"prefix": None}])
def test_a_handshake_on_the_bare_path_is_refused_without_asking_the_store(path_parameters):
    records = Records()
    event = {"pathParameters": path_parameters, "headers": {"X-Hook-Secret": SECRET}}

    response = receiver(records).receive_http_event(event)

    assert response["statusCode"] == 404
    assert records.handshakes == []
