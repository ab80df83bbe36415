"""The built-in test handshake (``POST /asana/api/webhooks/test``) against a tenant webhook URL that works, and one
that fails in each way Asana would meet: no DNS name, nothing listening, no TLS where https is promised, an answer
that drops the secret, another server answering, a refused event, an answer too slow. Each failure says which step
failed and why, with the seed's cause and fix; a test never leaves an armed prefix behind nor queues an event."""

from __future__ import annotations

import socket
from typing import Any

import boto3
import pytest

from asana_integration.errors import FIX_WEBHOOK_UNREACHABLE, SEED_WEBHOOK_UNREACHABLE
from asana_integration.models.webhooks import WebhookKind, WebhookState
from tests.handlers.webhook_api_support import (
    ORG,
    WebhookApiWorld,
    webhook_api_fixture,  # noqa: F401 - registers the webhook_api fixture
)

pytestmark = pytest.mark.usefixtures("webhook_api")


def run_test(world: WebhookApiWorld) -> dict[str, Any]:
    status, report = world.api("POST", "/asana/api/webhooks/test")
    assert status == 200, report
    return dict(report)


def checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in report["checks"]}


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {check["name"]: check["status"] for check in report["checks"]}


def assert_failed_with_the_seed_s_fix(report: dict[str, Any], webhook_url: str) -> None:
    assert report["ok"] is False
    assert report["message"] == SEED_WEBHOOK_UNREACHABLE
    assert report["fix"] == FIX_WEBHOOK_UNREACHABLE.format(webhook_url=webhook_url)
    assert report["webhook_url"] == webhook_url


def assert_nothing_left_behind(world: WebhookApiWorld) -> None:
    records = world.store().for_org(ORG)
    assert all(r.kind is WebhookKind.TEST and r.state is WebhookState.DELETED for r in records)
    assert not any(r.has_secret for r in records)
    sqs = boto3.client("sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=world.resources.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"  # test events never reach the queue, so never the mirror


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_working_url_passes_every_step_in_plain_language(webhook_api):
    world = webhook_api

    report = run_test(world)

    assert report["ok"] is True
    assert report["webhook_url"] == world.webhook_url
    assert report["verdict"].startswith(f"The webhook URL works: {world.webhook_url} answered")
    assert statuses(report) == {"dns": "passed", "tls": "skipped", "handshake": "passed", "test_event": "passed"}
    handshake = checks(report)["handshake"]
    assert handshake["http_status"] == 200
    assert handshake["secret_echoed"] is True
    assert handshake["summary"].startswith("HTTP 200 in ")
    assert "echoed, and SecureDB stored it" in handshake["summary"]
    assert isinstance(handshake["latency_ms"], int)
    assert checks(report)["test_event"]["http_status"] == 200
    assert report["message"] is None
    assert report["fix"] is None
    assert any("loopback" in note for note in report["notes"])  # Asana on the internet could not reach 127.0.0.1
    assert world.public.handshakes == 1
    assert world.public.forwarded == 2
    assert_nothing_left_behind(world)


def test_a_name_that_does_not_resolve_fails_at_dns(webhook_api):
    world = webhook_api
    webhook_url = world.point_webhook_url_at("https://webhooks.invalid")

    report = run_test(world)

    assert_failed_with_the_seed_s_fix(report, webhook_url)
    assert statuses(report) == {"dns": "failed", "tls": "skipped", "handshake": "skipped", "test_event": "skipped"}
    assert checks(report)["dns"]["summary"].startswith("webhooks.invalid does not resolve")
    assert report["verdict"].startswith("The webhook URL does not work: DNS failed.")
    assert_nothing_left_behind(world)


def test_nothing_listening_fails_the_handshake_with_connection_refused(webhook_api):
    world = webhook_api
    port = closed_port()
    webhook_url = world.point_webhook_url_at(f"http://127.0.0.1:{port}")

    report = run_test(world)

    assert_failed_with_the_seed_s_fix(report, webhook_url)
    assert statuses(report)["handshake"] == "failed"
    assert statuses(report)["test_event"] == "skipped"
    assert checks(report)["handshake"]["summary"].startswith(
        f"Could not connect to 127.0.0.1:{port} (connection refused)"
    )
    assert_nothing_left_behind(world)


def test_https_to_a_server_without_tls_fails_at_tls(webhook_api):
    world = webhook_api
    webhook_url = world.point_webhook_url_at(f"https://{world.public.host}")  # the port speaks plain http

    report = run_test(world)

    assert_failed_with_the_seed_s_fix(report, webhook_url)
    assert statuses(report) == {"dns": "passed", "tls": "failed", "handshake": "skipped", "test_event": "skipped"}
    assert checks(report)["tls"]["summary"].startswith(f"The TLS handshake with {world.public.host} failed")
    assert world.public.handshakes == 0


@pytest.mark.parametrize(("status", "expected"), [(404, "HTTP 404 in "), (500, "HTTP 500 in ")])
def test_an_error_status_fails_the_handshake(webhook_api, status, expected):
    world = webhook_api
    world.public.mode = "status"
    world.public.status = status

    report = run_test(world)

    assert_failed_with_the_seed_s_fix(report, world.webhook_url)
    handshake = checks(report)["handshake"]
    assert handshake["status"] == "failed"
    assert handshake["http_status"] == status
    assert handshake["summary"].startswith(expected)
    assert handshake["secret_echoed"] is False
    assert_nothing_left_behind(world)


def test_an_answer_that_drops_the_secret_fails_the_handshake(webhook_api):
    world = webhook_api
    world.public.mode = "status"
    world.public.status = 204  # a success status, but no X-Hook-Secret

    report = run_test(world)

    handshake = checks(report)["handshake"]
    assert handshake["status"] == "failed"
    assert handshake["http_status"] == 204
    assert handshake["secret_echoed"] is False
    assert "may be removing it" in handshake["summary"]
    assert report["ok"] is False


def test_an_echo_from_another_server_is_not_taken_for_this_deployment(webhook_api):
    world = webhook_api
    world.public.mode = "impostor"

    report = run_test(world)

    handshake = checks(report)["handshake"]
    assert handshake["status"] == "failed"
    assert handshake["secret_echoed"] is True
    assert "this SecureDB deployment never received it" in handshake["summary"]
    assert world.public.forwarded == 0
    assert report["ok"] is False


def test_a_refused_test_event_fails_the_last_step(webhook_api):
    world = webhook_api
    world.public.event_status = 401

    report = run_test(world)

    assert statuses(report) == {"dns": "passed", "tls": "skipped", "handshake": "passed", "test_event": "failed"}
    event = checks(report)["test_event"]
    assert event["http_status"] == 401
    assert event["summary"].startswith("A signed test event was refused: HTTP 401")
    assert_failed_with_the_seed_s_fix(report, world.webhook_url)


def test_an_answer_slower_than_the_time_left_fails_without_overrunning(webhook_api, monkeypatch):
    world = webhook_api
    world.public.delay_seconds = 3.0
    # A Lambda with little time left: the requests are bounded by it, not by Asana's 10 s.
    monkeypatch.setattr("functions.webhook.management.TEST_RESERVE_SECONDS", 27.0)

    report = run_test(world)

    handshake = checks(report)["handshake"]
    assert handshake["status"] == "failed"
    assert "sent no answer within" in handshake["summary"]
    assert statuses(report)["test_event"] == "skipped"
