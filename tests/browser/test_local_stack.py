"""The admin page in Chromium against the whole local stack: dev sign-in, gateway, real handlers, moto, Asana sandbox.

What a person does by hand after ``make run`` (README, "Try it"), clicked through by the browser:
1. the demo admin saves the demo credentials with the PAT, sees "connected", and each Quick Action lists demo data;
2. a member is refused the organization settings (403) and sees the admin note;
3. without a PAT the organization requires a connection; Connect / Authorize goes through the sandbox's consent page
   and back, connected via OAuth, and the Quick Actions then run on the OAuth token;
4. a member connects their own Asana account the same way, then disconnects it (the token is revoked at Asana).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from local.asana_sandbox.demo import (
    DEMO_ADMIN_NAME,
    DEMO_ADMIN_USER_GID,
    DEMO_APP_CLIENT_ID,
    DEMO_APP_CLIENT_SECRET,
    DEMO_PAT,
    ORG_MEMBER_USER_GID,
    ORG_WORKSPACE_GID,
    ORG_WORKSPACE_NAME,
    PLAIN_WORKSPACE_NAME,
)

pytestmark = pytest.mark.browser

ADMIN_BUTTON = f"Sign in as {DEMO_ADMIN_NAME}"
MEMBER_BUTTON = "Sign in as Blake Chen"
TIMEOUT_MS = 20_000  # a save verifies against the sandbox through the gateway: allow for a slow CI machine


def sign_in(page: Page, stack: Any, button: str) -> None:
    """The dev sign-in page sends the browser to the settings page with the token in the URL fragment."""
    page.goto(stack.urls.signin)
    page.get_by_role("button", name=button).click()
    page.wait_for_url(f"{stack.urls.settings_page}**")
    # The page moves the token to sessionStorage and out of the address bar (and history) at once.
    expect(page).not_to_have_url(re.compile("token="))


def api_call(page: Page, method: str, path: str) -> dict[str, Any]:
    """Call the settings API from inside the page, with the page's own token (as the page does)."""
    return page.evaluate(
        """async ([method, path]) => {
            const token = sessionStorage.getItem('securedb.asana.token');
            const response = await fetch('/asana/api' + path, {method, headers: {Authorization: 'Bearer ' + token}});
            return {status: response.status, body: await response.json().catch(() => null)};
        }""",
        [method, path],
    )


def reset_organization(page: Page) -> None:
    """Start from an organization with nothing saved (the stack is shared by the session's tests)."""
    result = api_call(page, "DELETE", "/settings")
    assert result["status"] in (200, 204, 404), result
    page.reload()
    expect(page.locator("#connection-state")).to_have_attribute("data-state", "not_configured", timeout=TIMEOUT_MS)


def save_credentials(page: Page, *, pat: str | None) -> None:
    page.get_by_label("Asana Client ID").fill(DEMO_APP_CLIENT_ID)
    page.get_by_label("Asana Client Secret").fill(DEMO_APP_CLIENT_SECRET)
    if pat:
        page.locator("#pat").fill(pat)
    page.get_by_role("button", name="Save Asana Settings").click()


def check_quick_actions(page: Page) -> None:
    page.get_by_role("button", name="View Workspaces").click()
    workspaces = page.locator("#result-workspaces-list")
    expect(workspaces).to_contain_text(ORG_WORKSPACE_NAME, timeout=TIMEOUT_MS)
    expect(workspaces).to_contain_text(PLAIN_WORKSPACE_NAME)
    page.get_by_label("Workspace", exact=True).select_option(ORG_WORKSPACE_GID)

    page.get_by_role("button", name="View Projects").click()
    projects = page.locator("#result-projects-list")
    expect(projects).to_contain_text("Vulnerability triage 001", timeout=TIMEOUT_MS)
    expect(page.locator("#result-projects-title")).to_have_text(f"Projects in {ORG_WORKSPACE_NAME}")
    expect(page.get_by_role("button", name="Load more projects")).to_be_visible()
    count = projects.locator("li").count()
    page.get_by_role("button", name="Load more projects").click()
    expect(projects.locator("li")).not_to_have_count(count, timeout=TIMEOUT_MS)
    expect(projects).to_contain_text(f"{count + 1:03d}")  # the next page continues where the first stopped

    page.get_by_role("button", name="Load Teams").click()
    teams = page.locator("#result-teams-list")
    expect(teams).to_contain_text("Security Engineering", timeout=TIMEOUT_MS)
    for team in ("Platform", "Compliance", "IT Operations"):
        expect(teams).to_contain_text(team)
    expect(page.locator("#quick-notice")).to_be_empty()


def test_admin_saves_the_demo_credentials_with_the_pat_and_the_quick_actions_list_demo_data(
    page: Page, stack: Any, screenshot_dir: Path, console_errors: list[str]
):
    sign_in(page, stack, ADMIN_BUTTON)
    expect(page.get_by_role("heading", name="Organization-level Asana OAuth Settings")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    reset_organization(page)
    page.screenshot(path=str(screenshot_dir / "stack-1-not-configured.png"), full_page=True)

    # The URLs to register in Asana are this deployment's exact ones.
    expect(page.locator("#redirect-uri")).to_have_text(stack.urls.redirect_uris[0])
    expect(page.locator("#redirect-uri-slash")).to_have_text(stack.urls.redirect_uris[1])
    expect(page.locator("#webhook-url")).to_have_text(stack.urls.webhook)

    save_credentials(page, pat=DEMO_PAT)
    expect(page.locator("#connection-state")).to_have_text("Connected", timeout=TIMEOUT_MS)
    expect(page.locator("#connection-identity")).to_contain_text("Personal Access Token (PAT)")
    expect(page.locator("#connection-identity")).to_contain_text(DEMO_PAT[-4:])
    expect(page.locator("#connection-user")).to_contain_text(DEMO_ADMIN_NAME)
    # Saved secrets never come back into the form.
    expect(page.get_by_label("Asana Client Secret")).to_have_value("")
    expect(page.locator("#pat")).to_have_value("")
    expect(page.locator("#pat-state")).to_contain_text(f"•••• {DEMO_PAT[-4:]}")

    check_quick_actions(page)
    page.screenshot(path=str(screenshot_dir / "stack-2-connected-pat.png"), full_page=True)
    assert console_errors == []


def test_a_member_is_refused_by_the_settings_api_and_sees_the_admin_note(
    page: Page, stack: Any, screenshot_dir: Path, console_errors: list[str]
):
    sign_in(page, stack, MEMBER_BUTTON)

    expect(page.get_by_role("heading", name="Organization settings need an admin")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator("#org")).to_be_hidden()
    expect(page.get_by_role("heading", name="Your Asana account")).to_be_visible()
    refused = api_call(page, "GET", "/settings")
    assert refused["status"] == 403
    assert refused["body"]["error"]["code"] == "admin_required"
    expect(page.locator("#member-note-detail")).to_contain_text(refused["body"]["error"]["message"])
    for path in ("/workspaces", f"/projects?workspace={ORG_WORKSPACE_GID}"):
        assert api_call(page, "GET", path)["status"] == 403
    page.screenshot(path=str(screenshot_dir / "stack-3-member.png"), full_page=True)
    assert console_errors == []


def test_oauth_connect_through_the_consent_page_then_quick_actions_use_the_oauth_token(
    page: Page, stack: Any, screenshot_dir: Path, console_errors: list[str]
):
    sign_in(page, stack, ADMIN_BUTTON)
    expect(page.get_by_role("heading", name="Organization-level Asana OAuth Settings")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    reset_organization(page)
    # The admin registers the redirect URIs the page shows (Step 3) in the Asana app: here, the sandbox's.
    for uri_id in ("#redirect-uri", "#redirect-uri-slash"):
        stack.sandbox.add_redirect_uri(DEMO_APP_CLIENT_ID, page.locator(uri_id).inner_text())

    # 1. Save without a PAT: the organization requires a connection.
    save_credentials(page, pat=None)
    expect(page.locator("#connection-state")).to_have_attribute("data-state", "requires_connection", timeout=TIMEOUT_MS)
    expect(page.locator("#connection-state")).to_have_text("Requires connection")
    expect(page.locator("#connection-message")).not_to_be_empty()
    page.screenshot(path=str(screenshot_dir / "stack-4-requires-connection.png"), full_page=True)

    # 2. Connect / Authorize opens the sandbox's consent page; approve as the demo admin.
    page.locator("#org-connect").click()
    page.wait_for_url(f"{stack.urls.asana_oauth}/**", timeout=TIMEOUT_MS)
    expect(page.get_by_role("heading", name="wants to access your Asana account")).to_be_visible()
    page.get_by_label("Signed in to Asana as").select_option(DEMO_ADMIN_USER_GID)
    page.screenshot(path=str(screenshot_dir / "stack-5-consent.png"), full_page=True)
    page.get_by_role("button", name="Allow").click()

    # 3. Back on the settings page (the callback's 302 and the page drop ?code, ?state and ?outcome), connected.
    page.wait_for_url(f"{stack.urls.settings_page}**", timeout=TIMEOUT_MS)
    expect(page.locator("#page-notice")).to_contain_text("connected", timeout=TIMEOUT_MS)
    expect(page.locator("#page-notice .notice--success")).to_be_visible()
    expect(page.locator("#connection-state")).to_have_text("Connected", timeout=TIMEOUT_MS)
    expect(page.locator("#connection-identity")).to_contain_text("OAuth")
    expect(page.locator("#connection-user")).to_contain_text(DEMO_ADMIN_NAME)
    assert page.url.split("#")[0] == stack.urls.settings_page
    page.screenshot(path=str(screenshot_dir / "stack-6-connected-oauth.png"), full_page=True)

    # 4. The Quick Actions run on the OAuth token (no PAT is saved).
    expect(page.locator("#pat-state")).to_have_text("Not set.")
    check_quick_actions(page)
    assert console_errors == []


def test_a_member_connects_and_disconnects_their_own_asana_account(
    page: Page, stack: Any, screenshot_dir: Path, console_errors: list[str]
):
    # The organization's OAuth app is saved (by an admin, over the API) and its redirect URIs registered in Asana.
    for uri in stack.urls.redirect_uris:
        stack.sandbox.add_redirect_uri(DEMO_APP_CLIENT_ID, uri)
    saved = requests.put(
        f"{stack.urls.gateway}/asana/api/settings",
        json={"client_id": DEMO_APP_CLIENT_ID, "client_secret": DEMO_APP_CLIENT_SECRET},
        headers={"Authorization": f"Bearer {stack.token_for('admin')}"},
        timeout=30,
    )
    assert saved.status_code == 200, saved.text

    sign_in(page, stack, MEMBER_BUTTON)
    personal = page.locator("#personal")
    expect(page.locator("#personal-state")).to_have_text("Not connected", timeout=TIMEOUT_MS)
    personal.get_by_role("button", name="Connect my Asana account").click()
    page.wait_for_url(f"{stack.urls.asana_oauth}/**", timeout=TIMEOUT_MS)
    page.get_by_label("Signed in to Asana as").select_option(ORG_MEMBER_USER_GID)
    page.get_by_role("button", name="Allow").click()

    page.wait_for_url(f"{stack.urls.settings_page}**", timeout=TIMEOUT_MS)
    expect(page.locator("#page-notice .notice--success")).to_contain_text("Your Asana account is connected.")
    expect(page.locator("#personal-state")).to_have_text("Connected", timeout=TIMEOUT_MS)
    expect(page.locator("#personal-message")).to_contain_text("Connected as Blake Chen")
    # Still a member: the organization's settings stay an admin's business.
    expect(page.get_by_role("heading", name="Organization settings need an admin")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "stack-7-member-personal-connected.png"), full_page=True)

    revoked_before = len(stack.sandbox.revocations())
    personal.get_by_role("button", name="Disconnect my Asana account").click()
    page.get_by_role("dialog").get_by_role("button", name="Disconnect").click()
    expect(page.locator("#personal-notice")).to_contain_text("Your Asana account was disconnected.")
    expect(page.locator("#personal-state")).to_have_text("Not connected", timeout=TIMEOUT_MS)
    revocations = stack.sandbox.revocations()[revoked_before:]
    assert [(r.user_gid, r.via) for r in revocations] == [(ORG_MEMBER_USER_GID, "oauth_revoke")]
    assert console_errors == []
