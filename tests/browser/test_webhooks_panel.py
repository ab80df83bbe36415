"""The admin page's webhooks panel in Chromium, against a mocked API under the function's strict CSP.

What the panel promises whatever the backend answers: the list shows each webhook's health in words (and what Asana
reports); a webhook is created for a project (a malformed gid is refused in the page) and a refusal shows its fix; a
handshake window is armed and the page follows it until the handshake arrives; a webhook is deleted after a
confirmation; the test handshake's steps and verdict are shown, with the seed's fix when it fails. API data is
rendered as text. Members never see the panel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import SETTINGS_URL, Call, MockApi
from tests.browser.test_admin_page import PERSONAL_NOT_CONNECTED, STATUS, TOKEN, XSS

pytestmark = pytest.mark.browser

AT = "2026-03-09T10:00:00+00:00"
WEBHOOK_URL = "https://acme.expand.securedb.test/asana/webhook"
PREFIX = "AbCdEfGhIjKlMnOpQrStUvWxYz012345"
SEED_MESSAGE = "Webhook unreachable / handshake failure"
SEED_FIX = (
    f"Asana cannot reach {WEBHOOK_URL}. Ensure firewall and DNS allow public access and test the webhook handshake "
    "endpoint. The app excludes the webhook URL from CSRF so Asana\u2019s handshake will succeed if reachable."
)


def webhook(health: str = "healthy", **extra: Any) -> dict[str, Any]:
    return {
        "id": PREFIX,
        "gid": "1211000000000001",
        "kind": "created",
        "state": "active",
        "resource": {"gid": "1204000000000001", "resource_type": "project", "name": "Roadmap"},
        "filters": [],
        "target_url": f"{WEBHOOK_URL}/{PREFIX}",
        "created_at": AT,
        "created_by": "admin-a",
        "handshake_deadline": None,
        "handshake_at": AT,
        "last_heartbeat_at": AT,
        "last_delivery_at": None,
        "asana": {"active": True, "last_success_at": AT, "last_failure_at": None, "delivery_retry_count": 0},
        "asana_status": "ok",
        "health": health,
        "health_message": "Active. Asana was last heard from at 2026-03-09T10:00:00+00:00.",
        "last_check": None,
        "replaces": None,
        **extra,
    }


FAILING = webhook(
    "failing",
    id="Z" * 32,
    gid="1211000000000002",
    resource={"gid": "1204000000000002", "resource_type": "project", "name": "Launch"},
    asana={
        "active": True,
        "last_success_at": AT,
        "last_failure_at": "2026-03-09T11:00:00+00:00",
        "last_failure_content": "502 Bad Gateway",
        "delivery_retry_count": 3,
        "failure_deletion_timestamp": "2026-03-10T11:00:00+00:00",
    },
    health_message="Asana's deliveries have been failing since 2026-03-09T11:00:00+00:00 (3 retries).",
)


def listing(*webhooks: dict[str, Any], asana_error: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"data": list(webhooks), "webhook_url": WEBHOOK_URL, "asana_error": asana_error}


def check(name: str, status: str, summary: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "status": status,
        "summary": summary,
        "latency_ms": 12,
        "http_status": None,
        "secret_echoed": None,
        **extra,
    }


def open_admin_page(page: Page, api: MockApi) -> None:
    api.on("GET /settings", 200, STATUS)
    api.on("GET /connection", 200, PERSONAL_NOT_CONNECTED)
    api.on("GET /sync", 200, {"current": None, "runs": [], "imports": []})
    page.goto(f"{SETTINGS_URL}#token={TOKEN}")
    expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()


def test_the_list_shows_each_webhook_s_health_in_words_and_what_asana_reports(
    page: Page, mock_api: MockApi, console_errors
):
    mock_api.on("GET /webhooks", 200, listing(webhook(), FAILING))
    open_admin_page(page, mock_api)

    rows = page.locator("#webhooks-body tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Roadmap")
    expect(rows.nth(0)).to_contain_text("Healthy")
    expect(rows.nth(1)).to_contain_text("Failing")
    expect(rows.nth(1)).to_contain_text("Asana's last failure: 502 Bad Gateway")
    expect(rows.nth(1)).to_contain_text("3 retries")
    expect(page.locator("#webhooks-state")).to_have_text("1 needs attention")
    assert console_errors == []


def test_when_asana_cannot_be_read_the_list_says_so_and_still_shows_the_webhooks(
    page: Page, mock_api: MockApi, console_errors
):
    error = {"code": "asana_server_error", "message": "Asana is having trouble.", "fix": "Try again later."}
    mock_api.on(
        "GET /webhooks", 200, listing(webhook("unknown", asana=None, asana_status="unavailable"), asana_error=error)
    )
    open_admin_page(page, mock_api)

    expect(page.locator("#webhooks-notice")).to_contain_text("Asana's view of the webhooks could not be read.")
    expect(page.locator("#webhooks-notice")).to_contain_text("Try again later.")
    expect(page.locator("#webhooks-body tr")).to_contain_text("Could not be read")
    assert console_errors == []


def test_an_admin_creates_a_webhook_for_a_project(page: Page, mock_api: MockApi, console_errors):
    created: list[dict[str, Any]] = []
    mock_api.on_call("GET /webhooks", lambda _call: (200, listing(*created)))
    mock_api.on(
        "GET /mirror/projects",
        200,
        {"kind": "projects", "data": [{"gid": "1204000000000001", "name": "Roadmap"}], "next_offset": None},
    )

    def create(call: Call) -> tuple[int, Any]:
        created.append(webhook())
        return 201, webhook()

    mock_api.on_call("POST /webhooks", create)
    open_admin_page(page, mock_api)
    expect(page.get_by_text("This organization has no webhook yet.")).to_be_visible()
    expect(page.locator("#webhook-projects option")).to_have_attribute("value", "1204000000000001")

    field = page.get_by_label("Asana project")
    field.fill("roadmap")
    page.get_by_role("button", name="Create webhook").click()
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#webhook-resource-error")).to_have_text(
        "Enter the project's gid: digits only, as in its Asana link."
    )
    assert mock_api.calls_to("POST /webhooks") == []

    field.fill("1204000000000001")
    page.get_by_label("Deliver").select_option("task")
    page.get_by_role("button", name="Create webhook").click()

    expect(page.locator("#webhook-create-notice")).to_contain_text("Webhook created for Roadmap.")
    expect(page.locator("#webhooks-body tr")).to_have_count(1)
    expect(page.locator("#webhooks-state")).to_have_text("1 healthy")
    assert mock_api.calls_to("POST /webhooks")[0].body == {
        "resource": "1204000000000001",
        "filters": [{"resource_type": "task"}],
    }
    assert console_errors == []


def test_a_failed_create_shows_the_seed_s_message_and_fix(page: Page, mock_api: MockApi, console_errors):
    mock_api.on("GET /webhooks", 200, listing())
    mock_api.on(
        "POST /webhooks",
        502,
        {
            "error": {
                "code": "webhook_handshake_failed",
                "message": f"{SEED_MESSAGE}: Asana could not complete the handshake.",
                "fix": SEED_FIX,
            }
        },
    )
    open_admin_page(page, mock_api)

    page.get_by_label("Asana project").fill("1204000000000001")
    page.get_by_role("button", name="Create webhook").click()

    notice = page.locator("#webhook-create-notice")
    expect(notice).to_contain_text("The webhook was not created.")
    expect(notice).to_contain_text(SEED_MESSAGE)
    expect(notice).to_contain_text(SEED_FIX)
    assert console_errors == []


def test_an_armed_window_shows_its_url_and_when_the_handshake_arrived(page: Page, mock_api: MockApi, console_errors):
    pending = webhook(
        "awaiting_handshake",
        kind="expected-manual",
        state="pending",
        resource=None,
        gid=None,
        handshake_at=None,
        last_heartbeat_at=None,
        asana=None,
        asana_status="not_asked",
        handshake_deadline="2999-01-01T00:00:00+00:00",
    )
    arrived = {**pending, "state": "active", "health": "healthy", "handshake_at": "2026-03-09T10:01:00+00:00"}
    answers = [listing(), listing(pending), listing(arrived)]
    mock_api.on_call("GET /webhooks", lambda _call: (200, answers.pop(0) if len(answers) > 1 else answers[0]))
    mock_api.on(
        "POST /webhooks/expect",
        201,
        {
            "id": PREFIX,
            "target_url": f"{WEBHOOK_URL}/{PREFIX}",
            "expires_at": "2999-01-01T00:00:00+00:00",
            "expires_in_seconds": 300,
        },
    )
    open_admin_page(page, mock_api)

    page.get_by_role("button", name="Arm a handshake window").click()

    expect(page.locator("#webhook-window-url")).to_have_text(f"{WEBHOOK_URL}/{PREFIX}")
    expect(page.get_by_role("button", name="Copy the target URL for Asana")).to_be_visible()
    expect(page.locator("#webhook-window-status")).to_contain_text("Waiting for Asana's handshake")
    expect(page.locator("#webhooks-body tr")).to_contain_text("Waiting for the handshake")
    # The page re-reads the list until the handshake has arrived, then stops.
    expect(page.locator("#webhook-window-status")).to_contain_text("Handshake arrived at", timeout=10_000)
    expect(page.locator("#webhooks-body tr")).to_contain_text("Made in Asana")
    polls = len(mock_api.calls_to("GET /webhooks"))
    page.wait_for_timeout(3500)
    assert len(mock_api.calls_to("GET /webhooks")) == polls
    assert console_errors == []


def test_a_webhook_is_deleted_after_a_confirmation_and_kept_on_cancel(page: Page, mock_api: MockApi, console_errors):
    current = [webhook()]
    mock_api.on_call("GET /webhooks", lambda _call: (200, listing(*current)))

    def delete(_call: Call) -> tuple[int, Any]:
        current.clear()
        return 200, {"id": PREFIX, "gid": "1211000000000001", "deleted": True, "deleted_at_asana": True, "note": None}

    mock_api.on_call("DELETE /webhooks/1211000000000001", delete)
    open_admin_page(page, mock_api)

    page.get_by_role("button", name="Delete the webhook for Roadmap").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("button", name="Delete the webhook for Roadmap")).to_be_focused()
    assert mock_api.calls_to("DELETE /webhooks/1211000000000001") == []

    page.get_by_role("button", name="Delete the webhook for Roadmap").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("deletes it in Asana")
    dialog.get_by_role("button", name="Delete webhook").click()

    expect(page.locator("#webhooks-notice")).to_contain_text("The webhook for Roadmap was deleted.")
    expect(page.locator("#webhooks-notice")).to_contain_text("It was deleted in Asana too.")
    expect(page.get_by_text("This organization has no webhook yet.")).to_be_visible()
    expect(page.locator("#webhooks-title")).to_be_focused()
    assert console_errors == []


def test_the_test_handshake_shows_each_step_and_on_failure_the_seed_s_fix(
    page: Page, mock_api: MockApi, console_errors
):
    mock_api.on("GET /webhooks", 200, listing())
    passed = {
        "ok": True,
        "verdict": f"The webhook URL works: {WEBHOOK_URL} answered a handshake and a signed test event.",
        "webhook_url": WEBHOOK_URL,
        "checks": [
            check("dns", "passed", "acme.expand.securedb.test resolves to 203.0.113.5."),
            check("tls", "passed", "TLSv1.3 with acme.expand.securedb.test; the certificate is trusted."),
            check(
                "handshake",
                "passed",
                "HTTP 200 in 80 ms; the X-Hook-Secret was echoed, and SecureDB stored it.",
                http_status=200,
                secret_echoed=True,
            ),
            check("test_event", "passed", "A signed test event was accepted: HTTP 200 in 40 ms.", http_status=200),
        ],
        "total_ms": 160,
        "notes": [],
        "message": None,
        "fix": None,
    }
    failed = {
        **passed,
        "ok": False,
        "verdict": "The webhook URL does not work: DNS failed. acme.expand.securedb.test does not resolve.",
        "checks": [
            check("dns", "failed", "acme.expand.securedb.test does not resolve (Name or service not known)."),
            check("tls", "skipped", "Not tried: an earlier step failed.", latency_ms=None),
            check("handshake", "skipped", "Not tried: an earlier step failed.", latency_ms=None),
            check("test_event", "skipped", "Not tried: an earlier step failed.", latency_ms=None),
        ],
        "message": SEED_MESSAGE,
        "fix": SEED_FIX,
    }
    answers = [passed, failed]
    mock_api.on_call("POST /webhooks/test", lambda _call: (200, answers.pop(0)))
    open_admin_page(page, mock_api)

    page.get_by_role("button", name="Test webhook handshake").click()

    steps = page.get_by_role("list", name="Test handshake steps").get_by_role("listitem")
    expect(steps).to_have_count(4)
    expect(page.locator("#webhook-test-verdict")).to_contain_text("Passed. The webhook URL works")
    expect(steps.nth(2)).to_contain_text("Passed")
    expect(steps.nth(2)).to_contain_text("HTTP 200, secret echoed, 12 ms")
    expect(page.locator("#webhook-test-fix")).to_be_hidden()
    expect(page.locator("#webhook-test-title")).to_be_focused()

    page.get_by_role("button", name="Test webhook handshake").click()

    expect(page.locator("#webhook-test-verdict")).to_contain_text("Failed. The webhook URL does not work: DNS failed.")
    expect(steps.nth(0)).to_contain_text("Failed")
    expect(steps.nth(1)).to_contain_text("Skipped")
    expect(page.locator("#webhook-test-fix")).to_contain_text(SEED_MESSAGE)
    expect(page.locator("#webhook-test-fix")).to_contain_text(f"How to fix: {SEED_FIX}")
    assert console_errors == []


def test_api_data_in_the_panel_is_rendered_as_text(page: Page, mock_api: MockApi, console_errors):
    hostile = webhook(
        "failing",
        resource={"gid": "1", "resource_type": XSS, "name": XSS},
        health_message=XSS,
        asana={"active": True, "last_failure_at": AT, "last_failure_content": XSS},
    )
    mock_api.on("GET /webhooks", 200, listing(hostile))
    mock_api.on(
        "POST /webhooks/test",
        200,
        {
            "ok": False,
            "verdict": XSS,
            "webhook_url": XSS,
            "total_ms": 1,
            "checks": [check("dns", "failed", XSS)],
            "notes": [XSS],
            "message": XSS,
            "fix": XSS,
        },
    )
    open_admin_page(page, mock_api)
    page.get_by_role("button", name="Test webhook handshake").click()

    expect(page.locator("#webhooks-body")).to_contain_text(XSS)
    expect(page.locator("#webhook-test")).to_contain_text(XSS)
    expect(page.locator("#injected")).to_have_count(0)
    assert console_errors == []


def test_a_member_never_sees_the_panel_nor_calls_its_routes(page: Page, mock_api: MockApi, console_errors):
    mock_api.on("GET /settings", 403, {"error": {"code": "admin_required", "message": "Only an admin.", "fix": "Ask."}})
    mock_api.on("GET /connection", 200, PERSONAL_NOT_CONNECTED)
    page.goto(f"{SETTINGS_URL}#token={TOKEN}")

    expect(page.get_by_role("heading", name="Organization settings need an admin")).to_be_visible()
    expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_have_count(0)
    assert mock_api.calls_to("GET /webhooks") == []
    assert console_errors == []


def test_screenshot_of_the_panel(page: Page, mock_api: MockApi, screenshot_dir: Path, console_errors):
    mock_api.on("GET /webhooks", 200, listing(webhook(), FAILING))
    open_admin_page(page, mock_api)
    expect(page.locator("#webhooks-body tr")).to_have_count(2)

    page.locator("#webhooks-panel").screenshot(path=str(screenshot_dir / "mock-webhooks-panel.png"))
    assert console_errors == []
