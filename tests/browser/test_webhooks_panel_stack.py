"""The webhooks panel in Chromium against the whole local stack: the admin creates a webhook for the demo project
(Asana, the sandbox, handshakes through the local gateway), runs the test handshake on the stack's public URL, arms a
window for a webhook made by hand in Asana and sees its handshake arrive, and deletes the webhooks again."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from local.asana_sandbox import demo
from tests.browser.test_local_stack import ADMIN_BUTTON, TIMEOUT_MS, reset_organization, save_credentials
from tests.browser.test_local_stack import sign_in as sign_in_as

pytestmark = pytest.mark.browser

PROJECT_NAME = f"{demo.PROJECT_TOPICS[0]} 001"  # the demo project with tasks (gid DEMO_TASK_PROJECT_GID)


def test_create_test_arm_and_delete_webhooks_through_the_panel(page: Page, stack: Any, console_errors):
    sign_in_as(page, stack, ADMIN_BUTTON)
    reset_organization(page)
    save_credentials(page, pat=demo.DEMO_PAT)
    expect(page.locator("#connection-state")).to_have_text("Connected", timeout=TIMEOUT_MS)
    try:
        # Create: Asana handshakes with the stack's webhook URL while its create is open; the 201 is cross-checked.
        page.get_by_label("Asana project").fill(demo.DEMO_TASK_PROJECT_GID)
        page.get_by_role("button", name="Create webhook").click()
        expect(page.locator("#webhook-create-notice")).to_contain_text(
            f"Webhook created for {PROJECT_NAME}.", timeout=TIMEOUT_MS
        )
        row = page.locator("#webhooks-body tr").filter(has_text=PROJECT_NAME)
        expect(row).to_contain_text("Healthy")
        expect(page.locator("#webhooks-state")).to_have_text("1 healthy")

        # The built-in test handshake against the stack's own public URL.
        page.get_by_role("button", name="Test webhook handshake").click()
        expect(page.locator("#webhook-test-verdict")).to_contain_text("Passed.", timeout=TIMEOUT_MS)
        steps = page.get_by_role("list", name="Test handshake steps").get_by_role("listitem")
        expect(steps.nth(2)).to_contain_text("secret echoed")

        # A webhook made by hand in Asana, with the armed window's URL.
        page.get_by_role("button", name="Arm a handshake window").click()
        target = page.locator("#webhook-window-url")
        expect(target).to_contain_text(f"{stack.urls.webhook}/", timeout=TIMEOUT_MS)
        made = requests.post(
            f"{stack.urls.asana_api}/webhooks",
            headers={"Authorization": f"Bearer {demo.DEMO_PAT}"},
            json={"data": {"resource": demo.DEMO_TASK_PROJECT_GID, "target": target.inner_text()}},
            timeout=30,
        )
        assert made.status_code == 201, made.text
        expect(page.locator("#webhook-window-status")).to_contain_text("Handshake arrived at", timeout=TIMEOUT_MS)
        expect(page.locator("#webhooks-body tr")).to_have_count(2)

        # Delete both, each after its confirmation.
        for left in (1, 0):
            page.locator("#webhooks-body tr").first.get_by_role("button", name="Delete").click()
            page.get_by_role("dialog").get_by_role("button", name="Delete webhook").click()
            expect(page.locator("#webhooks-body tr")).to_have_count(left, timeout=TIMEOUT_MS)
            expect(page.locator("#webhooks-notice")).to_contain_text("It was deleted in Asana too.")
        expect(page.get_by_text("This organization has no webhook yet.")).to_be_visible()
        assert [w for w in stack.sandbox.webhooks.list() if w["resource"]["gid"] == demo.DEMO_TASK_PROJECT_GID] == []
        assert console_errors == []
    finally:
        reset_organization(page)
