"""The data sync panel in Chromium against the whole local stack: the admin starts a sync, imports a project and maps
a user by hand, and the worker (the gateway's SQS event source, drained here) does the syncing against the sandbox."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from local.asana_sandbox import demo
from tests.browser.test_local_stack import ADMIN_BUTTON, TIMEOUT_MS, api_call, reset_organization, save_credentials
from tests.browser.test_local_stack import sign_in as sign_in_as

pytestmark = pytest.mark.browser

PROJECT_NAME = f"{demo.PROJECT_TOPICS[0]} 001"  # the demo project with tasks (gid DEMO_TASK_PROJECT_GID)


def drain(stack: Any) -> None:
    stack.drain_queues("SyncQueue", wait_for_invisible=True, timeout=120)


def test_start_now_import_and_a_manual_mapping_through_the_panel(page: Page, stack: Any, console_errors):
    sign_in_as(page, stack, ADMIN_BUTTON)
    reset_organization(page)
    save_credentials(page, pat=demo.DEMO_PAT)
    expect(page.locator("#connection-state")).to_have_text("Connected", timeout=TIMEOUT_MS)
    drain(stack)  # anything an earlier test left queued
    try:
        # Start now: the run shows while it is live, then its counts once the worker has run it.
        page.get_by_role("button", name="Start now").click()
        expect(page.locator("#sync-notice")).to_contain_text("Sync started.", timeout=TIMEOUT_MS)
        drain(stack)
        expect(page.locator("#sync-state")).to_have_text("Succeeded", timeout=TIMEOUT_MS)
        latest = page.locator("#sync-runs-body tr").first
        expect(latest).to_contain_text("Start now")
        cells = latest.locator("td")
        # Created, or unchanged when an earlier test of the session synced the organization already.
        assert sum(int(cells.nth(column).inner_text().replace(",", "")) for column in (3, 5)) > 0

        # Import the demo project from the synced projects; its tasks are mirrored once the worker ran.
        page.get_by_role("button", name="Show synced projects").click()
        page.get_by_label("Filter the projects shown").fill(PROJECT_NAME)
        page.get_by_role("button", name=f"Import {PROJECT_NAME}").click()
        expect(page.locator("#imports-notice")).to_contain_text(f"Importing {PROJECT_NAME}.", timeout=TIMEOUT_MS)
        drain(stack)
        expect(page.get_by_role("list", name="Imported projects")).to_contain_text(PROJECT_NAME)
        tasks = api_call(page, "GET", f"/mirror/tasks?project={demo.DEMO_TASK_PROJECT_GID}")
        assert len(tasks["body"]["data"]) == demo.DEMO_TASK_COUNT

        # Dana signed in with her Asana email: matched by email. Blake is mapped by hand, which wins.
        page.get_by_role("button", name="Show users").click()
        dana = page.locator(f"#people-body tr[data-gid='{demo.DEMO_ADMIN_USER_GID}']")
        expect(dana).to_contain_text("Same email", timeout=TIMEOUT_MS)
        expect(dana).to_contain_text("user-dana-admin")
        blake = page.locator(f"#people-body tr[data-gid='{demo.ORG_MEMBER_USER_GID}']")
        # "Map" when Blake never signed in; "Change" when an earlier test signed him in (matched by his email).
        blake.get_by_role("button", name="Blake Chen").click()
        page.get_by_label("SecureDB user for Blake Chen").fill("user-blake-chen")
        page.get_by_role("form", name="Mapping of Blake Chen").get_by_role("button", name="Save").click()
        expect(blake).to_contain_text("Set by an admin", timeout=TIMEOUT_MS)
        expect(blake).to_contain_text("user-blake-chen")

        # Stop importing: the mirrored tasks go.
        page.get_by_role("button", name=f"Stop importing {PROJECT_NAME}").click()
        page.get_by_role("dialog").get_by_role("button", name="Stop importing").click()
        expect(page.locator("#imports-notice")).to_contain_text(
            f"{demo.DEMO_TASK_COUNT} mirrored tasks were removed.", timeout=TIMEOUT_MS
        )
        assert console_errors == []
    finally:
        clear_manual_mapping(page, demo.ORG_MEMBER_USER_GID)
        reset_organization(page)


def clear_manual_mapping(page: Page, gid: str) -> None:
    """The stack is shared by the session's tests: leave no manual mapping behind."""
    page.evaluate(
        """async (gid) => {
            const token = sessionStorage.getItem('securedb.asana.token');
            await fetch('/asana/api/users/' + gid + '/mapping', {method: 'PUT', body: '{"securedb_user_id": null}',
                headers: {Authorization: 'Bearer ' + token, 'Content-Type': 'application/json'}});
        }""",
        gid,
    )
