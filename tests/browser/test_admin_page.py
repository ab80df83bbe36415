"""The admin page's own behaviour in Chromium, against a mocked API served under the function's strict CSP.

These pin what the page promises whatever the backend answers: where the token comes from and where it goes, how
errors (with their fix) and per-field validation are shown, that secrets are never pre-filled and are cleared after a
save, that API data is rendered as text, and that the OAuth outcome is shown once.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import FrameLocator, Page, Route, expect

from tests.browser.conftest import MOCK_ORIGIN, SETTINGS_URL, Call, MockApi

pytestmark = pytest.mark.browser

TOKEN = "header.payload.signature"
XSS = '<img src=x id="injected">'

STATUS: dict[str, Any] = {
    "configured": True,
    "client_id": "1209000000000001",
    "client_secret_set": True,
    "pat_set": True,
    "pat_last4": "a6e5",
    "redirect_uris": [
        "https://acme.expand.securedb.test/asana/settings",
        "https://acme.expand.securedb.test/asana/settings/",
    ],
    "webhook_url": "https://acme.expand.securedb.test/asana/webhook",
    "recommended_scopes": "projects:read tasks:read tasks:write users:read teams:read webhooks:write workspaces:read",
    "scopes_mode": "default",
    "connection": {
        "mode": "pat",
        "state": "connected",
        "message": "Connected to Asana as Dana Admin.",
        "fix": None,
        "asana_user": {"gid": "1202000000000001", "name": "Dana Admin", "email": "dana.admin@acme.example"},
        "connected_by": None,
        "connect_url": None,
        "workspaces": [
            {"gid": "1201000000000001", "name": "Acme Security", "is_organization": True},
            {"gid": "1201000000000002", "name": "Personal Projects", "is_organization": False},
        ],
        "checked_at": "2026-03-09T10:00:00Z",
    },
}
NOT_CONFIGURED: dict[str, Any] = {
    **STATUS,
    "configured": False,
    "client_id": None,
    "client_secret_set": False,
    "pat_set": False,
    "pat_last4": None,
    "connection": {
        "mode": None,
        "state": "not_configured",
        "message": "Asana is not configured for this organization.",
        "fix": "Enter the Client ID and Client Secret of your Asana app, then click Save Asana Settings.",
        "asana_user": None,
        "connected_by": None,
        "connect_url": None,
        "workspaces": None,
        "checked_at": None,
    },
}
PERSONAL_NOT_CONNECTED = {"purpose": "personal", "status": "not_connected", "asana_user": None}


def open_page(page: Page, api: MockApi, *, token: str | None = TOKEN, query: str = "") -> None:
    page.goto(SETTINGS_URL + query + (f"#token={token}" if token else ""))


def admin_api(api: MockApi, status: dict[str, Any] | None = None) -> None:
    api.on("GET /settings", 200, status or STATUS)
    api.on("GET /connection", 200, PERSONAL_NOT_CONNECTED)


def test_without_a_token_the_page_asks_to_sign_in_with_the_dev_link(page: Page, mock_api: MockApi, console_errors):
    mock_api.bootstrap["dev_signin_url"] = "http://127.0.0.1:3001/signin"
    open_page(page, mock_api, token=None)

    expect(page.get_by_role("heading", name="Sign in to SecureDB")).to_be_visible()
    expect(page.get_by_role("link", name="Sign in with the local dev sign-in")).to_have_attribute(
        "href", "http://127.0.0.1:3001/signin"
    )
    expect(page.locator("#org")).to_be_hidden()
    assert mock_api.calls == []
    assert console_errors == []


def test_token_in_the_fragment_is_kept_in_session_storage_sent_as_bearer_and_removed_from_the_url(
    page: Page, mock_api: MockApi, console_errors
):
    admin_api(mock_api)
    open_page(page, mock_api, query="?foo=1")

    expect(page.locator("#connection-state")).to_have_text("Connected")
    assert page.url == SETTINGS_URL + "?foo=1"
    assert page.evaluate("sessionStorage.getItem('securedb.asana.token')") == TOKEN
    assert {c.headers["authorization"] for c in mock_api.calls} == {f"Bearer {TOKEN}"}

    # A reload uses the stored token; the fragment is not needed any more.
    page.reload()
    expect(page.locator("#connection-state")).to_have_text("Connected")
    assert mock_api.calls[-1].headers["authorization"] == f"Bearer {TOKEN}"
    assert console_errors == []


def test_admin_sees_status_identity_urls_and_scopes_and_secrets_are_never_prefilled(
    page: Page, mock_api: MockApi, console_errors
):
    admin_api(mock_api)
    open_page(page, mock_api)

    expect(page.locator("#connection-message")).to_have_text("Connected to Asana as Dana Admin.")
    expect(page.locator("#connection-identity")).to_have_text("Personal Access Token (PAT) •••• a6e5")
    expect(page.locator("#connection-user")).to_have_text("Dana Admin (dana.admin@acme.example)")
    expect(page.get_by_label("Asana Client ID")).to_have_value("1209000000000001")
    for label in ("Asana Client Secret", "Personal Access Token (PAT)"):
        field = page.get_by_label(label, exact=False).first
        expect(field).to_have_attribute("type", "password")
        # "new-password": browsers ignore "off" on password fields and would autofill a saved site password here,
        # which a save would then store as the client secret or PAT.
        expect(field).to_have_attribute("autocomplete", "new-password")
        expect(field).to_have_value("")
    expect(page.locator("#pat-state")).to_contain_text("•••• a6e5")
    expect(page.locator("#client_secret-state")).to_contain_text("A secret is saved")
    expect(page.locator("#redirect-uri")).to_have_text("https://acme.expand.securedb.test/asana/settings")
    expect(page.locator("#redirect-uri-slash")).to_have_text("https://acme.expand.securedb.test/asana/settings/")
    expect(page.locator("#webhook-url")).to_have_text("https://acme.expand.securedb.test/asana/webhook")
    expect(page.locator("#scopes")).to_have_text(STATUS["recommended_scopes"])
    expect(page.get_by_role("button", name="Connect / Authorize")).to_be_hidden()
    expect(page.get_by_role("heading", name="Your Asana account")).to_be_visible()
    assert console_errors == []


def test_copy_button_puts_the_exact_url_on_the_clipboard(page: Page, mock_api: MockApi, console_errors):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=MOCK_ORIGIN)
    admin_api(mock_api)
    open_page(page, mock_api)

    page.locator("[data-copy='redirect-uri-slash']").click()
    expect(page.locator("[data-copy='redirect-uri-slash']")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "https://acme.expand.securedb.test/asana/settings/"
    expect(page.locator("#copy-notice")).to_have_text("Redirect URI (trailing slash) copied to the clipboard.")
    assert console_errors == []


def test_save_sends_only_what_was_typed_clears_the_secrets_and_shows_the_verification(
    page: Page, mock_api: MockApi, console_errors
):
    admin_api(mock_api, NOT_CONFIGURED)
    saved = copy.deepcopy(STATUS)
    mock_api.on("PUT /settings", 200, saved)
    open_page(page, mock_api)

    expect(page.locator("#connection-state")).to_have_text("Not configured")
    expect(page.get_by_role("button", name="Disconnect organization…")).to_be_hidden()  # nothing saved yet
    page.get_by_label("Asana Client ID").fill("1209000000000001")
    page.get_by_label("Asana Client Secret").fill("s3cret")
    page.get_by_role("button", name="Save Asana Settings").click()

    expect(page.locator("#form-notice")).to_contain_text("Saved. Connected to Asana.")
    expect(page.locator("#connection-state")).to_have_text("Connected")
    assert mock_api.calls_to("PUT /settings")[0].body == {"client_id": "1209000000000001", "client_secret": "s3cret"}
    expect(page.get_by_label("Asana Client Secret")).to_have_value("")

    # With a secret stored, an empty secret field keeps it; removing the PAT sends "pat": null.
    page.get_by_label("Remove the saved PAT").check()
    page.get_by_role("button", name="Save Asana Settings").click()
    expect(page.get_by_label("Remove the saved PAT")).not_to_be_checked()
    assert mock_api.calls_to("PUT /settings")[1].body == {"client_id": "1209000000000001", "pat": None}

    # Disconnecting the organization asks first, then deletes everything and shows the result.
    mock_api.on("DELETE /settings", 200, {"disconnected": True})
    mock_api.on("GET /settings", 200, NOT_CONFIGURED)
    page.get_by_role("button", name="Disconnect organization…").click()
    expect(page.get_by_role("dialog")).to_contain_text("revokes every Asana authorization of the organization")
    expect(page.get_by_role("dialog").get_by_role("button", name="Cancel")).to_be_focused()
    page.get_by_role("dialog").get_by_role("button", name="Disconnect organization").click()
    expect(page.locator("#connection-notice")).to_contain_text("The organization was disconnected from Asana.")
    expect(page.locator("#connection-notice")).to_be_visible()
    expect(page.get_by_role("heading", name="Organization connection")).to_be_focused()
    expect(page.locator("#connection-state")).to_have_text("Not configured")
    assert len(mock_api.calls_to("DELETE /settings")) == 1
    assert console_errors == []


def test_validation_errors_are_shown_next_to_their_fields(page: Page, mock_api: MockApi, console_errors):
    admin_api(mock_api, NOT_CONFIGURED)
    details = [
        {"field": "client_id", "message": "The Client ID is a number of up to 32 digits."},
        {"field": "pat", "message": "This does not look like an Asana personal access token."},
    ]
    mock_api.on(
        "PUT /settings",
        422,
        {
            "error": {
                "code": "invalid_settings",
                "message": "Some settings are not valid.",
                "fix": "Correct the highlighted fields, then save again.",
                "details": details,
            }
        },
    )
    open_page(page, mock_api)

    # Client-side first: nothing typed at all.
    page.get_by_role("button", name="Save Asana Settings").click()
    expect(page.locator("#client_id-error")).to_contain_text("Enter the Client ID")
    expect(page.get_by_label("Asana Client ID")).to_be_focused()
    assert mock_api.calls_to("PUT /settings") == []

    page.get_by_label("Asana Client ID").fill("not-a-number")
    page.get_by_label("Asana Client Secret").fill("s3cret")
    page.locator("#pat").fill("nonsense")
    page.get_by_role("button", name="Save Asana Settings").click()

    expect(page.locator("#client_id-error")).to_have_text("The Client ID is a number of up to 32 digits.")
    expect(page.locator("#pat-error")).to_have_text("This does not look like an Asana personal access token.")
    expect(page.get_by_label("Asana Client ID")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#form-notice")).to_contain_text("Some settings are not valid.")
    expect(page.locator("#form-notice")).to_contain_text("Correct the highlighted fields, then save again.")
    expect(page.get_by_label("Asana Client ID")).to_be_focused()
    assert console_errors == []


def test_requires_connection_offers_connect_which_navigates_to_the_connect_url(
    page: Page, mock_api: MockApi, console_errors
):
    status = copy.deepcopy(STATUS)
    status.update(pat_set=False, pat_last4=None)
    status["connection"].update(
        mode=None,
        state="requires_connection",
        asana_user=None,
        workspaces=None,
        message="No PAT is set and no admin has connected an Asana account.",
        fix="Click Connect / Authorize and approve SecureDB in Asana.",
        connect_url="https://app.asana.com/-/oauth_authorize?stale=1",
    )
    admin_api(mock_api, status)
    consent = f"{MOCK_ORIGIN}/consent?client_id=1"
    mock_api.on("POST /connect", 200, {"connect_url": consent, "completion_key": "this-sessions-key"})
    page.route(
        f"{MOCK_ORIGIN}/consent*", lambda route: route.fulfill(status=200, body="consent", content_type="text/plain")
    )
    open_page(page, mock_api)

    expect(page.locator("#connection-state")).to_have_text("Requires connection")
    expect(page.locator("#connection-fix")).to_have_text("Click Connect / Authorize and approve SecureDB in Asana.")
    page.locator("#org-connect").click()
    page.wait_for_url(consent)
    assert mock_api.calls_to("POST /connect")[0].body == {"purpose": "organization"}
    # The key to finish stays in this tab; it never goes to Asana.
    started = json.loads(page.evaluate("sessionStorage.getItem('securedb.asana.connect')"))
    assert started == {"completion_key": "this-sessions-key", "purpose": "organization"}
    assert "this-sessions-key" not in consent
    assert console_errors == []


def test_quick_actions_list_pick_a_workspace_and_load_more(page: Page, mock_api: MockApi, console_errors):
    admin_api(mock_api)
    mock_api.on("GET /workspaces", 200, {"data": STATUS["connection"]["workspaces"], "next_offset": None})

    def projects(call: Call) -> tuple[int, Any]:
        assert "workspace=1201000000000001" in call.query
        if "offset=tok2" in call.query:
            return 200, {"data": [{"gid": "3", "name": "Pen test follow-up 003"}], "next_offset": None}
        return 200, {
            "data": [{"gid": "1", "name": "Vulnerability triage 001"}, {"gid": "2", "name": XSS}],
            "next_offset": "tok2",
        }

    mock_api.on_call("GET /projects", projects)
    mock_api.on("GET /teams", 200, {"data": [{"gid": "9", "name": "Security Engineering"}], "next_offset": None})
    open_page(page, mock_api)

    page.get_by_role("button", name="View Workspaces").click()
    expect(page.locator("#result-workspaces-list")).to_contain_text("Acme Security")
    expect(page.get_by_label("Workspace", exact=True)).to_have_value("1201000000000001")

    page.get_by_role("button", name="View Projects").click()
    expect(page.locator("#result-projects-summary")).to_have_text("2 projects shown; more are available.")
    page.get_by_role("button", name="Load more projects").click()
    expect(page.locator("#result-projects-list li")).to_have_count(3)
    expect(page.locator("#result-projects-summary")).to_have_text("3 projects shown.")
    expect(page.get_by_role("button", name="Load more projects")).to_be_hidden()
    # API data is text, never markup.
    expect(page.locator("#result-projects-list")).to_contain_text(XSS)
    assert page.locator("#injected").count() == 0

    page.get_by_role("button", name="Load Teams").click()
    expect(page.locator("#result-teams-title")).to_have_text("Teams in Acme Security")
    expect(page.locator("#result-teams-list")).to_contain_text("Security Engineering")
    assert console_errors == []


def test_quick_action_error_shows_message_fix_and_a_connect_button(page: Page, mock_api: MockApi, console_errors):
    admin_api(mock_api)
    mock_api.on(
        "GET /workspaces",
        409,
        {
            "error": {
                "code": "token_expired",
                "message": "Authentication failed. Your token may have expired.",
                "fix": "Reconnect the user (or disconnect & reconnect) or configure a company PAT.",
                "connect_url": "https://app.asana.com/-/oauth_authorize?x=1",
            }
        },
    )
    open_page(page, mock_api)

    page.get_by_role("button", name="View Workspaces").click()
    notice = page.locator("#quick-notice")
    expect(notice).to_contain_text("Authentication failed. Your token may have expired.")
    expect(notice).to_contain_text("configure a company PAT")
    expect(notice.get_by_role("button", name="Connect / Authorize")).to_be_visible()
    assert console_errors == []


def test_a_failed_personal_connect_offers_to_retry_the_personal_connection(
    page: Page, mock_api: MockApi, console_errors
):
    admin_api(mock_api)
    mock_api.on(
        "POST /connect",
        409,
        {
            "error": {
                "code": "redirect_uri_mismatch",
                "message": "The 'redirect_uri' parameter does not match a valid url for the application.",
                "fix": "Add the redirect URIs shown on this page to your Asana app.",
                "connect_url": "https://app.asana.com/-/oauth_authorize?x=1",
            }
        },
    )
    open_page(page, mock_api)

    page.get_by_role("button", name="Connect my Asana account").click()
    notice = page.locator("#personal-notice")
    expect(notice).to_contain_text("Could not start the Asana connection.")
    expect(notice).to_contain_text("Add the redirect URIs shown on this page")
    notice.get_by_role("button", name="Connect / Authorize").click()
    for _ in range(50):  # the retry's request is answered by the mock in this (Python) thread
        if len(mock_api.calls_to("POST /connect")) == 2:
            break
        page.wait_for_timeout(100)
    assert [c.body for c in mock_api.calls_to("POST /connect")] == [{"purpose": "personal"}] * 2
    assert console_errors == []


def test_member_sees_only_the_personal_section_and_the_admin_note(page: Page, mock_api: MockApi, console_errors):
    mock_api.on(
        "GET /settings",
        403,
        {
            "error": {
                "code": "admin_required",
                "message": "Only an organization admin can do this.",
                "fix": "Ask an admin of your SecureDB organization.",
            }
        },
    )
    mock_api.on(
        "GET /connection",
        200,
        {
            "purpose": "personal",
            "status": "connected",
            "asana_user": {"gid": "2", "name": "Blake Chen", "email": "blake.chen@acme.example"},
        },
    )
    mock_api.on("DELETE /connection", 200, {"disconnected": True, "revoked": True})
    open_page(page, mock_api)

    expect(page.get_by_role("heading", name="Organization settings need an admin")).to_be_visible()
    expect(page.locator("#member-note-detail")).to_contain_text("Only an organization admin can do this.")
    expect(page.locator("#org")).to_be_hidden()
    expect(page.locator("#danger")).to_be_hidden()
    expect(page.locator("#personal-message")).to_have_text("Connected as Blake Chen (blake.chen@acme.example).")

    # Disconnecting asks first (Cancel does nothing), then revokes.
    page.get_by_role("button", name="Disconnect my Asana account").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    assert mock_api.calls_to("DELETE /connection") == []
    mock_api.on("GET /connection", 200, PERSONAL_NOT_CONNECTED)
    page.get_by_role("button", name="Disconnect my Asana account").click()
    page.get_by_role("dialog").get_by_role("button", name="Disconnect").click()
    expect(page.locator("#personal-notice")).to_contain_text("The token was revoked at Asana")
    expect(page.locator("#personal-state")).to_have_text("Not connected")
    expect(page.get_by_role("heading", name="Your Asana account")).to_be_focused()
    assert mock_api.calls_to("DELETE /connection")[0].query == "purpose=personal"
    assert console_errors == []


def test_a_401_drops_the_token_and_asks_to_sign_in_again(page: Page, mock_api: MockApi, console_errors):
    expired = {
        "error": {"code": "unauthorized", "message": "Your SecureDB session has expired.", "fix": "Sign in again."}
    }
    mock_api.on("GET /settings", 401, expired)
    mock_api.on("GET /connection", 401, expired)
    open_page(page, mock_api)

    expect(page.get_by_role("heading", name="Sign in to SecureDB")).to_be_visible()
    expect(page.locator("#page-notice")).to_contain_text("Your SecureDB session has expired.")
    assert page.evaluate("sessionStorage.getItem('securedb.asana.token')") is None
    assert console_errors == []


def test_a_401_for_a_token_replaced_mid_flight_keeps_the_new_token(page: Page, mock_api: MockApi, console_errors):
    """The UI hands over a fresh token while requests made with the old one are still open; they then fail."""
    admin_api(mock_api)
    held: list[Route] = []

    def hold_old_token(route: Route) -> None:
        if route.request.headers.get("authorization") == "Bearer old.token.value":
            held.append(route)
        else:
            route.fallback()

    page.route(f"{MOCK_ORIGIN}/asana/api/**", hold_old_token)
    open_page(page, mock_api, token="old.token.value")
    page.wait_for_function("document.getElementById('loading').hidden === false")
    page.evaluate(f"window.postMessage({{type: 'securedb:asana:token', token: '{TOKEN}'}}, location.origin)")
    expect(page.locator("#connection-state")).to_have_text("Connected")

    assert len(held) == 3  # settings, the personal connection and who is signed in, all with the old token
    expired = {"error": {"code": "unauthorized", "message": "Your SecureDB session has expired.", "fix": "Sign in."}}
    for route in held:
        route.fulfill(status=401, content_type="application/json", body=json.dumps(expired))
    page.wait_for_timeout(300)

    assert page.evaluate("sessionStorage.getItem('securedb.asana.token')") == TOKEN
    expect(page.get_by_role("heading", name="Sign in to SecureDB")).to_be_hidden()
    expect(page.locator("#org")).to_be_visible()
    expect(page.locator("#page-notice")).to_be_empty()
    assert console_errors == []


def test_oauth_outcome_is_shown_once_and_dropped_from_the_url(page: Page, mock_api: MockApi, console_errors):
    admin_api(mock_api)
    mock_api.bootstrap["outcome"] = {
        "code": "redirect_uri_mismatch",
        "message": "The 'redirect_uri' parameter does not match a valid url for the application.",
        "fix": "Add https://acme.expand.securedb.test/asana/settings (and the trailing slash variant) to Asana.",
        "purpose": "organization",
    }
    open_page(page, mock_api, query="?outcome=redirect_uri_mismatch&purpose=organization")

    notice = page.locator("#page-notice")
    expect(notice).to_contain_text("The organization was not connected to Asana.")
    expect(notice).to_contain_text("The 'redirect_uri' parameter does not match a valid url for the application.")
    expect(notice).to_contain_text("trailing slash variant")
    expect(notice.locator(".notice--error")).to_be_visible()
    assert page.url == SETTINGS_URL
    assert console_errors == []


def test_successful_oauth_outcome_is_shown_as_success(page: Page, mock_api: MockApi, console_errors):
    admin_api(mock_api)
    mock_api.bootstrap["outcome"] = {
        "code": "connected",
        "message": "Your Asana account is connected.",
        "fix": "",
        "purpose": "personal",
    }
    open_page(page, mock_api, query="?outcome=connected&purpose=personal")

    success = page.locator("#page-notice .notice--success")
    expect(success).to_contain_text("Your Asana account is connected.")
    expect(success).not_to_contain_text("How to fix")
    assert page.url == SETTINGS_URL
    assert console_errors == []


UI_ORIGIN = "https://app.securedb.test"


def embed_in_securedb_ui(page: Page, api: MockApi, extra_html: str = "") -> FrameLocator:
    """SecureDB's UI (another origin, allowed by frame-ancestors) frames the page; it records the messages it gets."""
    api.frame_ancestors = f"'self' {UI_ORIGIN}"
    parent_html = (
        "<!doctype html><script>window.received = [];"
        " addEventListener('message', e => received.push([e.origin, e.data]));</script>"
        f'<iframe id="settings" src="{SETTINGS_URL}" width="900" height="600"></iframe>{extra_html}'
    )
    page.route(f"{UI_ORIGIN}/", lambda route: route.fulfill(status=200, body=parent_html, content_type="text/html"))
    page.goto(f"{UI_ORIGIN}/")
    return page.frame_locator("#settings")


def send_token_from_the_ui(page: Page, token: str) -> None:
    page.evaluate(
        "document.getElementById('settings').contentWindow.postMessage("
        f"{{type: 'securedb:asana:token', token: '{token}'}}, '{MOCK_ORIGIN}')"
    )


def test_token_from_the_embedding_parent_is_accepted_only_from_the_parent(
    page: Page, mock_api: MockApi, console_errors
):
    """Next to the page, the UI shows a frame from elsewhere: that frame cannot hand the page a token."""
    admin_api(mock_api)
    other_origin = "https://evil.example"
    page.route(
        f"{other_origin}/widget", lambda route: route.fulfill(status=200, body="<p>ad</p>", content_type="text/html")
    )
    frame = embed_in_securedb_ui(
        page, mock_api, f'<iframe id="other" src="{other_origin}/widget" width="10" height="10"></iframe>'
    )
    expect(frame.get_by_role("heading", name="Sign in to SecureDB")).to_be_visible()
    # The page tells its parent (and only its parent's origin) that it is ready for a token.
    page.wait_for_function("received.some(m => m[1] && m[1].type === 'securedb:asana:ready')")
    assert page.evaluate("received.map(m => m[0])")[0] == MOCK_ORIGIN

    # A frame from another origin cannot hand the page a token.
    other = next(f for f in page.frames if f.url.startswith(other_origin))
    other.evaluate("parent.frames[0].postMessage({type: 'securedb:asana:token', token: 'forged'}, '*')")
    page.wait_for_timeout(300)
    assert mock_api.calls == []

    # The embedding SecureDB UI can.
    send_token_from_the_ui(page, TOKEN)
    expect(frame.locator("#connection-state")).to_have_text("Connected")
    assert {c.headers["authorization"] for c in mock_api.calls} == {f"Bearer {TOKEN}"}
    assert console_errors == []


def test_embedded_connect_opens_a_pop_up_that_hands_asanas_redirect_back_and_the_frame_finishes(
    page: Page, mock_api: MockApi, console_errors
):
    """Asana's consent page cannot be framed: a pop-up shows it, comes back to this page, posts the redirect to its
    opener (the frame, same origin) and closes; the frame finishes with its own token and completion key."""
    status = copy.deepcopy(STATUS)
    status.update(pat_set=False, pat_last4=None)
    status["connection"].update(mode=None, state="requires_connection", asana_user=None, workspaces=None)
    admin_api(mock_api, status)
    consent = f"{MOCK_ORIGIN}/consent?client_id=1"
    mock_api.on("POST /connect", 200, {"connect_url": consent, "completion_key": "frame-key"})
    completed = {
        "code": "connected",
        "kind": "success",
        "message": "The organization is connected to Asana.",
        "purpose": "organization",
    }

    def finish(call: Call) -> tuple[int, Any]:
        mock_api.on("GET /settings", 200, STATUS)  # the connection is stored: the status says so from now on
        return 200, completed

    mock_api.on_call("POST /connect/complete", finish)
    back = f"{SETTINGS_URL}?outcome=awaiting_completion&purpose=organization#asana_state=the-state&asana_code=the-code"
    # Asana's consent, approved, and the callback's 302 with the state and code in the fragment (as the server sends).
    page.context.route(f"{MOCK_ORIGIN}/consent*", lambda route: route.fulfill(status=302, headers={"Location": back}))
    page.context.route(f"{MOCK_ORIGIN}/asana/settings*", mock_api._serve_page)
    frame = embed_in_securedb_ui(page, mock_api)
    send_token_from_the_ui(page, TOKEN)
    expect(frame.locator("#connection-state")).to_have_text("Requires connection")

    closed: list[Page] = []
    # Listening from the moment it opens: it may hand the redirect over and close at once.
    page.context.on("page", lambda popup: popup.on("close", lambda gone: closed.append(gone)))  # noqa: PLW0108 - Playwright cannot wrap a bound builtin
    with page.context.expect_page():
        frame.locator("#org-connect").click()

    expect(frame.locator("#page-notice .notice--success")).to_contain_text("The organization is connected to Asana.")
    assert len(closed) == 1, "the pop-up closed itself after handing the redirect over"
    expect(frame.locator("#connection-state")).to_have_text("Connected")
    (call,) = mock_api.calls_to("POST /connect/complete")
    assert call.body == {"state": "the-state", "code": "the-code", "completion_key": "frame-key"}
    assert call.headers["authorization"] == f"Bearer {TOKEN}"  # the frame's session, not the pop-up's
    assert page.url == f"{UI_ORIGIN}/"  # the embedding UI stays where it was
    assert console_errors == []


def test_a_redirect_arriving_without_a_session_is_kept_until_sign_in_and_stores_nothing_before(
    page: Page, mock_api: MockApi, console_errors
):
    admin_api(mock_api)
    mock_api.on(
        "POST /connect/complete",
        200,
        {"code": "connected", "kind": "success", "message": "Your Asana account is connected.", "purpose": "personal"},
    )
    open_page(page, mock_api, token=None, query="?outcome=awaiting_completion#asana_state=s1&asana_code=c1")

    expect(page.get_by_role("heading", name="Sign in to SecureDB")).to_be_visible()
    expect(page.locator("#page-notice")).to_contain_text("Sign in to finish connecting Asana.")
    assert "asana_code" not in page.url, "the code leaves the address bar at once"
    assert mock_api.calls_to("POST /connect/complete") == []

    page.goto(SETTINGS_URL + f"#token={TOKEN}")  # signing in brings the browser back with a token

    expect(page.locator("#page-notice .notice--success")).to_contain_text("Your Asana account is connected.")
    assert [call.body for call in mock_api.calls_to("POST /connect/complete")] == [{"state": "s1", "code": "c1"}]
    assert console_errors == []


def test_load_teams_is_offered_for_organizations_only(page: Page, mock_api: MockApi, console_errors):
    admin_api(mock_api)
    mock_api.on("GET /workspaces", 200, {"data": STATUS["connection"]["workspaces"], "next_offset": None})
    open_page(page, mock_api)
    page.get_by_role("button", name="View Workspaces").click()
    expect(page.locator("#result-workspaces-list li")).to_have_count(2)

    expect(page.get_by_role("button", name="Load Teams")).to_be_enabled()  # the organization is picked
    page.get_by_label("Workspace", exact=True).select_option("1201000000000002")  # Personal Projects
    expect(page.get_by_role("button", name="Load Teams")).to_be_disabled()
    assert console_errors == []


def test_an_error_clears_the_results_it_replaces_counts_down_retry_after_and_links_named_pages(
    page: Page, mock_api: MockApi, console_errors
):
    admin_api(mock_api)
    mock_api.on("GET /workspaces", 200, {"data": STATUS["connection"]["workspaces"], "next_offset": None})
    open_page(page, mock_api)
    page.get_by_role("button", name="View Workspaces").click()
    expect(page.locator("#result-workspaces-list li")).to_have_count(2)
    limited = {
        "code": "asana_rate_limited",
        "message": "Asana's rate limit for this token is exhausted.",
        "fix": "Wait, then try again. Asana's status: https://status.asana.com.",
        "retry_after": 3,
    }
    mock_api.on("GET /workspaces", 429, {"error": limited})

    page.get_by_role("button", name="View Workspaces").click()

    notice = page.locator("#quick-notice")
    expect(notice).to_contain_text("Asana's rate limit for this token is exhausted.")
    expect(page.locator("#result-workspaces")).to_be_hidden()
    expect(notice.get_by_role("link", name="https://status.asana.com")).to_have_attribute(
        "href", "https://status.asana.com"
    )
    expect(notice).to_contain_text("You can retry in 3 seconds.")
    expect(notice).to_contain_text("You can retry in 2 seconds.", timeout=2_500)
    expect(notice).to_contain_text("You can retry now.", timeout=5_000)
    assert console_errors == []


def test_screenshots_of_the_main_states(page: Page, mock_api: MockApi, screenshot_dir: Path, console_errors):
    admin_api(mock_api)
    mock_api.on("GET /workspaces", 200, {"data": STATUS["connection"]["workspaces"], "next_offset": None})
    mock_api.on(
        "GET /projects",
        200,
        {
            "data": [{"gid": f"1204{i:012d}", "name": f"Vulnerability triage {i:03d}"} for i in range(1, 9)],
            "next_offset": "more",
        },
    )
    open_page(page, mock_api)
    page.get_by_role("button", name="View Workspaces").click()
    page.get_by_role("button", name="View Projects").click()
    expect(page.locator("#result-projects-list li")).to_have_count(8)
    page.screenshot(path=str(screenshot_dir / "mock-admin-connected.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 800})
    page.screenshot(path=str(screenshot_dir / "mock-admin-narrow.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.set_viewport_size({"width": 1100, "height": 900})
    page.screenshot(path=str(screenshot_dir / "mock-admin-dark.png"), full_page=False)
    assert console_errors == []


def test_keyboard_only_skip_link_visible_focus_and_enter_submits(page: Page, mock_api: MockApi, console_errors):
    admin_api(mock_api)
    mock_api.on("PUT /settings", 200, STATUS)
    open_page(page, mock_api)
    expect(page.locator("#connection-state")).to_have_text("Connected")

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()

    # Tab reaches the form; the focused control has a visible focus ring.
    client_id = page.get_by_label("Asana Client ID")
    for _ in range(10):
        page.keyboard.press("Tab")
        if client_id.evaluate("el => el === document.activeElement"):
            break
    expect(client_id).to_be_focused()
    assert client_id.evaluate("el => getComputedStyle(el).outlineStyle") == "solid"
    page.keyboard.press("Enter")  # implicit submission
    expect(page.locator("#form-notice")).to_contain_text("Saved. Connected to Asana.")
    assert console_errors == []
