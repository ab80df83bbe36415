"""What the admin sees is always true, clicked through in Chromium against the whole local stack.

Each scenario is one an admin met on the page as it was (issue 8): a status that stayed green after a disconnect, a
corrected secret or a new Client ID that took a minute to take effect, bad credentials stored as they were, a replayed
redirect shown as a failure, a Connect link that connected someone else's Asana, and the embedded page's pop-up.

The local stack runs every function in one process but gives each its own execution environment (services and
caches, ``local/gateway/runtime.py``), so a save in the settings function meets warm caches in the others, as on AWS.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, Playwright, expect

from local.asana_sandbox import demo
from local.asana_sandbox.demo import DEMO_ADMIN_NAME, DEMO_APP_CLIENT_ID, DEMO_APP_CLIENT_SECRET, DEMO_PAT
from tests import log_audit
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.test_local_stack import (
    ADMIN_BUTTON,
    MEMBER_BUTTON,
    TIMEOUT_MS,
    api_call,
    reset_organization,
    save_credentials,
    sign_in,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def admin_page(page: Page, stack: Any) -> Page:
    """Dana Admin, signed in, with nothing of the organization saved."""
    sign_in(page, stack, ADMIN_BUTTON)
    expect(page.get_by_role("heading", name="Organization-level Asana OAuth Settings")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    reset_organization(page)
    return page


@pytest.fixture
def demo_app(stack: Any) -> Iterator[Any]:
    """The demo app in the sandbox, its secret restored afterwards (a test may rotate it, as an admin would)."""
    app = stack.sandbox.state.store.apps[DEMO_APP_CLIENT_ID]
    secret = app.client_secret
    yield app
    app.client_secret = secret


def connect_and_allow(page: Page, stack: Any) -> None:
    """Connect / Authorize, Allow on the sandbox's consent page (as whoever it pre-selects), back on the page."""
    page.locator("#org-connect").click()
    page.wait_for_url(f"{stack.urls.asana_oauth}/**", timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{stack.urls.settings_page}**", timeout=TIMEOUT_MS)


def test_disconnecting_the_oauth_connection_shows_requires_connection_at_once_and_after_a_reload(
    admin_page: Page, stack: Any, console_errors: list[str]
):
    page = admin_page
    save_credentials(page, pat=None)
    expect(page.locator("#connection-state")).to_have_text("Requires connection", timeout=TIMEOUT_MS)
    page.locator("#org-connect").click()
    page.wait_for_url(f"{stack.urls.asana_oauth}/**", timeout=TIMEOUT_MS)
    # The dev sign-in signed this browser in to the sandbox as Dana too: the consent page pre-selects her.
    expect(page.get_by_label("Signed in to Asana as")).to_have_value(demo.DEMO_ADMIN_USER_GID)
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{stack.urls.settings_page}**", timeout=TIMEOUT_MS)
    expect(page.locator("#connection-state")).to_have_text("Connected", timeout=TIMEOUT_MS)

    page.get_by_role("button", name="Disconnect OAuth connection").click()
    page.get_by_role("dialog").get_by_role("button", name="Disconnect").click()

    expect(page.locator("#connection-state")).to_have_text("Requires connection", timeout=TIMEOUT_MS)
    expect(page.locator("#org-connect")).to_be_visible()
    page.reload()
    expect(page.locator("#connection-state")).to_have_text("Requires connection", timeout=TIMEOUT_MS)
    expect(page.locator("#org-connect")).to_be_visible()
    assert console_errors == []


def test_the_page_says_who_is_signed_in_and_who_connected_by_name(
    admin_page: Page, stack: Any, console_errors: list[str]
):
    page = admin_page
    expect(page.locator("#session-user")).to_have_text(f"Signed in to SecureDB as {DEMO_ADMIN_NAME} (administrator)")
    save_credentials(page, pat=None)
    expect(page.locator("#connection-state")).to_have_text("Requires connection", timeout=TIMEOUT_MS)

    connect_and_allow(page, stack)

    expect(page.locator("#connection-state")).to_have_text("Connected", timeout=TIMEOUT_MS)
    expect(page.locator("#connection-by")).to_have_text(DEMO_ADMIN_NAME)  # the name from Dana's session, not her id
    assert console_errors == []


def test_a_corrected_client_secret_connects_at_once(
    admin_page: Page, stack: Any, demo_app: Any, console_errors: list[str]
):
    page = admin_page
    save_credentials(page, pat=None)
    expect(page.locator("#connection-state")).to_have_text("Requires connection", timeout=TIMEOUT_MS)
    # Someone regenerates the secret in the Asana Developer Console: the saved one stops working, and Connect fails.
    demo_app.client_secret = "regenerated-client-secret-0123456789abcdef"
    log_audit.remember(demo_app.client_secret)
    connect_and_allow(page, stack)  # the function that finishes Connect has now read (and cached) the old secret
    expect(page.locator("#page-notice")).to_contain_text(
        "Asana rejected the saved Client ID or Client Secret.", timeout=TIMEOUT_MS
    )

    # The admin pastes the new secret, saves, and connects again straight away.
    page.get_by_label("Asana Client Secret").fill(demo_app.client_secret)
    page.get_by_role("button", name="Save Asana Settings").click()
    expect(page.locator("#form-notice")).to_contain_text("Saved.", timeout=TIMEOUT_MS)
    connect_and_allow(page, stack)

    expect(page.locator("#page-notice .notice--success")).to_contain_text(
        "The organization is connected to Asana.", timeout=TIMEOUT_MS
    )
    expect(page.locator("#connection-state")).to_have_text("Connected")
    assert console_errors == []


def test_a_new_client_id_opens_the_new_apps_consent_page_on_the_next_connect(
    admin_page: Page, stack: Any, console_errors: list[str]
):
    page = admin_page
    new_app = stack.sandbox.register_app("SecureDB Integration (replacement)", stack.urls.redirect_uris)
    log_audit.remember(new_app.client_secret)
    save_credentials(page, pat=None)
    page.locator("#org-connect").click()  # the Connect function reads (and caches) the first app's credentials
    page.wait_for_url(f"{stack.urls.asana_oauth}/**", timeout=TIMEOUT_MS)
    expect(page.get_by_role("heading", name=f"{demo.DEMO_APP_NAME} wants to access your Asana account")).to_be_visible()
    page.go_back()
    expect(page.locator("#connection-state")).to_have_text("Requires connection", timeout=TIMEOUT_MS)

    page.get_by_label("Asana Client ID").fill(new_app.client_id)
    page.get_by_label("Asana Client Secret").fill(new_app.client_secret)
    page.get_by_role("button", name="Save Asana Settings").click()
    expect(page.locator("#form-notice")).to_contain_text("Saved.", timeout=TIMEOUT_MS)
    page.locator("#org-connect").click()

    page.wait_for_url(f"{stack.urls.asana_oauth}/**", timeout=TIMEOUT_MS)
    expect(page.get_by_role("heading", name=f"{new_app.name} wants to access your Asana account")).to_be_visible()
    assert f"client_id={new_app.client_id}" in page.url
    assert console_errors == []


def test_a_malformed_pat_is_refused_with_its_cause_and_the_working_pat_is_kept(
    admin_page: Page, console_errors: list[str]
):
    page = admin_page
    save_credentials(page, pat=DEMO_PAT)
    expect(page.locator("#connection-state")).to_have_text("Connected", timeout=TIMEOUT_MS)

    page.locator("#pat").fill("abc")
    page.get_by_role("button", name="Save Asana Settings").click()

    expect(page.locator("#form-notice")).to_contain_text(
        "Asana rejected this Personal Access Token, so the settings were not saved.", timeout=TIMEOUT_MS
    )
    expect(page.locator("#form-notice")).to_contain_text("The saved PAT is unchanged and still in use.")
    expect(page.locator("#pat-error")).to_have_text("Asana rejected this token")
    page.reload()
    expect(page.locator("#pat-state")).to_contain_text(f"•••• {DEMO_PAT[-4:]}", timeout=TIMEOUT_MS)
    expect(page.locator("#pat-state")).not_to_contain_text("abc")
    expect(page.locator("#connection-state")).to_have_text("Connected")
    page.get_by_role("button", name="View Workspaces").click()
    expect(page.locator("#result-workspaces-list")).to_contain_text(demo.ORG_WORKSPACE_NAME, timeout=TIMEOUT_MS)
    assert console_errors == []


def test_a_wrong_client_secret_is_caught_on_save_and_the_saved_one_stays(admin_page: Page, console_errors: list[str]):
    page = admin_page
    save_credentials(page, pat=None)
    expect(page.locator("#connection-state")).to_have_text("Requires connection", timeout=TIMEOUT_MS)

    page.get_by_label("Asana Client Secret").fill("not-the-secret-of-this-app-0123456789")
    page.get_by_role("button", name="Save Asana Settings").click()

    notice = page.locator("#form-notice")
    expect(notice).to_contain_text(
        "Asana rejected this Client ID and Client Secret, so the settings were not saved. The saved settings are "
        "unchanged.",
        timeout=TIMEOUT_MS,
    )
    expect(page.locator("#client_secret-error")).to_have_text("Asana rejected this Client ID and Client Secret")
    expect(page.locator("#connection-state")).to_have_text("Requires connection")
    assert api_call(page, "GET", "/settings")["body"]["client_secret_set"] is True
    assert console_errors == []


def test_a_replayed_redirect_says_it_was_used_and_leaves_the_connection_as_it_is(
    admin_page: Page, stack: Any, console_errors: list[str]
):
    page = admin_page
    redirects: list[str] = []
    page.on("request", lambda request: redirects.append(request.url) if "code=" in request.url else None)
    save_credentials(page, pat=None)
    expect(page.locator("#connection-state")).to_have_text("Requires connection", timeout=TIMEOUT_MS)
    connect_and_allow(page, stack)
    expect(page.locator("#connection-state")).to_have_text("Connected", timeout=TIMEOUT_MS)
    (redirect,) = [url for url in redirects if url.startswith(stack.urls.settings_page)]
    log_audit.remember(*re.findall(r"(?:code|state)=([^&]+)", redirect))

    page.goto(redirect)  # the Back button, or a bookmark

    notice = page.locator("#page-notice")
    expect(notice).to_contain_text("This authorization link was already used, so nothing changed.", timeout=TIMEOUT_MS)
    expect(notice.locator(".notice--error")).to_have_count(0)
    expect(page.locator("#connection-state")).to_have_text("Connected", timeout=TIMEOUT_MS)
    assert console_errors == []


def test_a_connect_link_opened_by_another_user_stores_nothing_and_says_how_to_connect(
    admin_page: Page, browser: Browser, stack: Any, console_errors: list[str]
):
    page = admin_page
    save_credentials(page, pat=None)
    expect(page.locator("#connection-state")).to_have_text("Requires connection", timeout=TIMEOUT_MS)
    page.locator("#org-connect").click()
    page.wait_for_url(f"{stack.urls.asana_oauth}/**", timeout=TIMEOUT_MS)
    link = page.url  # Dana sends this to Blake instead of approving it herself
    grants = stack.sandbox.grant_count("authorization_code")

    colleague = browser.new_context().new_page()
    try:
        sign_in(colleague, stack, MEMBER_BUTTON)
        colleague.goto(link)
        # Blake's browser is signed in to Asana as Blake: he approves as himself.
        expect(colleague.get_by_label("Signed in to Asana as")).to_have_value(demo.ORG_MEMBER_USER_GID)
        colleague.get_by_role("button", name="Allow").click()
        colleague.wait_for_url(f"{stack.urls.settings_page}**", timeout=TIMEOUT_MS)

        notice = colleague.locator("#page-notice")
        expect(notice).to_contain_text(
            "This authorization was started by another SecureDB user, so nothing was connected.", timeout=TIMEOUT_MS
        )
        expect(notice).to_contain_text("click Connect on the Asana settings page yourself")
    finally:
        colleague.context.close()

    page.goto(stack.urls.settings_page)
    expect(page.locator("#connection-state")).to_have_text("Requires connection", timeout=TIMEOUT_MS)
    assert api_call(page, "GET", "/connection?purpose=organization")["body"]["status"] == "not_connected"
    assert stack.sandbox.grant_count("authorization_code") == grants, "Blake's code was never exchanged"
    assert console_errors == []


@pytest.fixture
def ui_page(playwright_instance: Playwright) -> Iterator[Page]:
    """A page for SecureDB's UI, which this test serves itself (a route fulfils it). Chromium counts such a page as
    on the public internet and would refuse it the frame from loopback (Local Network Access); on AWS both are
    public. This browser skips that check, and only this test uses it."""
    home = tempfile.mkdtemp(prefix="chromium-home-")
    browser = playwright_instance.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[*CHROMIUM_ARGS, "--disable-features=LocalNetworkAccessChecks"],
        env={**os.environ, "HOME": home},
    )
    try:
        yield browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
    finally:
        browser.close()
        shutil.rmtree(home, ignore_errors=True)


def test_embedded_connect_finishes_through_a_pop_up_that_posts_back_to_its_opener(ui_page: Page, stack: Any):
    page = ui_page
    errors: list[str] = []
    page.context.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    # SecureDB's UI on another origin the template allows to frame the page (localhost beside 127.0.0.1).
    ui_origin = stack.urls.gateway.replace("127.0.0.1", "localhost")
    token = stack.token_for("admin")
    parent = (
        f'<!doctype html><iframe id="settings" src="{stack.urls.settings_page}" width="1000" height="800"></iframe>'
        "<script>addEventListener('message', e => { if (e.data && e.data.type === 'securedb:asana:ready') "
        f"document.getElementById('settings').contentWindow.postMessage({{type: 'securedb:asana:token', token: "
        f"'{token}'}}, '{stack.urls.gateway}'); }});</script>"
    )
    page.route(f"{ui_origin}/securedb-ui", lambda route: route.fulfill(body=parent, content_type="text/html"))
    assert api_call_as(stack, "DELETE", "/settings")[0] in (200, 404)
    assert (
        api_call_as(
            stack, "PUT", "/settings", {"client_id": DEMO_APP_CLIENT_ID, "client_secret": DEMO_APP_CLIENT_SECRET}
        )[0]
        == 200
    )
    page.goto(f"{ui_origin}/securedb-ui")
    frame = page.frame_locator("#settings")
    expect(frame.locator("#connection-state")).to_have_text("Requires connection", timeout=TIMEOUT_MS)

    with page.context.expect_page() as opened:
        frame.locator("#org-connect").click()
    popup = opened.value
    popup.wait_for_url(f"{stack.urls.asana_oauth}/**", timeout=TIMEOUT_MS)
    # Listening before the click: the pop-up may be back, hand the redirect over and close before the click returns.
    with popup.expect_event("close", timeout=TIMEOUT_MS):
        popup.get_by_role("button", name="Allow").click()

    expect(frame.locator("#page-notice .notice--success")).to_contain_text(
        "The organization is connected to Asana.", timeout=TIMEOUT_MS
    )
    expect(frame.locator("#connection-state")).to_have_text("Connected")
    assert page.url == f"{ui_origin}/securedb-ui"  # SecureDB's UI stayed where it was
    assert [error for error in errors if "Failed to load resource" not in error] == []


def api_call_as(stack: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """The settings API as Dana, from outside the browser (what SecureDB's UI would have done before embedding)."""
    response = requests.request(
        method,
        f"{stack.urls.gateway}/asana/api{path}",
        json=body,
        headers={"Authorization": f"Bearer {stack.token_for('admin')}"},
        timeout=30,
    )
    return response.status_code, response.json() if response.content else None
