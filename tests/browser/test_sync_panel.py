"""The admin page's data sync panel in Chromium, against a mocked API under the function's strict CSP.

What the panel promises whatever the backend answers: Start now starts a run (or shows the live one) and follows its
progress until it ends; a project is imported from the synced projects and stopped after a confirmation; each Asana
user's mapping is shown with how it was made, and an admin maps an unmatched user by hand and clears it again. API
data is rendered as text. Members never see the panel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import SETTINGS_URL, Call, MockApi
from tests.browser.test_admin_page import PERSONAL_NOT_CONNECTED, STATUS, TOKEN, XSS

pytestmark = pytest.mark.browser

STARTED_AT = "2026-03-09T10:00:00Z"
COUNTS = {
    "users": {"created": 40, "updated": 2, "unchanged": 0, "deleted": 1},
    "projects": {"created": 230, "updated": 0, "unchanged": 0, "deleted": 0},
}


def run(status: str, *, done: int = 10, total: int = 10, **extra: Any) -> dict[str, Any]:
    return {
        "run_id": "2026-03-09T10:00:00Z-1",
        "status": status,
        "trigger": "manual",
        "mode": "full",
        "started_at": STARTED_AT,
        "ended_at": None if status == "running" else "2026-03-09T10:02:00Z",
        "pending": total - done,
        "total_units": total,
        "units_failed": 0,
        "counts": COUNTS,
        "asana_calls": 12,
        "rate_limited": 0,
        "retries": 0,
        "errors": [],
        **extra,
    }


def overview(current: dict[str, Any] | None = None, runs: list[dict[str, Any]] | None = None, imports=None):
    return {
        "current": current,
        "runs": runs if runs is not None else ([current] if current else []),
        "imports": imports or [],
    }


def open_admin_page(page: Page, api: MockApi) -> None:
    api.on("GET /settings", 200, STATUS)
    api.on("GET /connection", 200, PERSONAL_NOT_CONNECTED)
    page.goto(f"{SETTINGS_URL}#token={TOKEN}")
    expect(page.get_by_role("heading", name="Data sync")).to_be_visible()


# ------------------------------------------------------------------------------------------------------ runs --


def test_start_now_starts_a_run_and_follows_its_progress_until_it_ends(page: Page, mock_api: MockApi, console_errors):
    answers = [overview(), overview(run("running", done=3)), overview(runs=[run("succeeded")])]
    mock_api.on_call("GET /sync", lambda _call: (200, answers.pop(0) if len(answers) > 1 else answers[0]))
    mock_api.on("POST /sync", 202, {"run": run("running", done=0), "started": True})
    open_admin_page(page, mock_api)
    expect(page.locator("#sync-state")).to_have_text("Never run")
    expect(page.get_by_text("No sync has run yet.")).to_be_visible()

    page.get_by_role("button", name="Start now").click()

    expect(page.locator("#sync-notice")).to_contain_text("Sync started.")
    expect(page.locator("#sync-state")).to_have_text("Running")
    expect(page.get_by_label("Progress")).to_have_attribute("value", "3")
    expect(page.locator("#sync-progress-text")).to_have_text("3 of 10 steps done")
    # The panel polls while the run is live and stops once it has ended.
    expect(page.locator("#sync-state")).to_have_text("Succeeded", timeout=10_000)
    expect(page.locator("#sync-current")).to_be_hidden()
    cells = page.locator("#sync-runs-body tr").first.locator("td")
    expect(cells.nth(2)).to_have_text("Succeeded")
    expect(cells.nth(3)).to_have_text("270")  # created, summed over the kinds
    expect(cells.nth(6)).to_have_text("1")  # deleted
    assert mock_api.calls_to("POST /sync")[0].body == {"mode": "full"}
    polls = len(mock_api.calls_to("GET /sync"))
    page.wait_for_timeout(3500)
    assert len(mock_api.calls_to("GET /sync")) == polls
    assert console_errors == []


def test_start_now_during_a_run_shows_the_live_run_and_starts_no_other(page: Page, mock_api: MockApi, console_errors):
    live = run("running", done=1, total=4)
    mock_api.on("GET /sync", 200, overview(live))
    mock_api.on("POST /sync", 200, {"run": live, "started": False})
    open_admin_page(page, mock_api)

    page.get_by_role("button", name="Start now").click()

    expect(page.locator("#sync-notice")).to_contain_text("A sync is already running.")
    expect(page.locator("#sync-progress-text")).to_have_text("1 of 4 steps done")
    assert console_errors == []


def test_a_failed_start_and_a_failed_runs_errors_show_their_fix(page: Page, mock_api: MockApi, console_errors):
    error = {
        "kind": "users",
        "code": "asana_authentication_failed",
        "message": "Authentication failed. Your token may have expired.",
        "fix": "Reconnect the Asana account.",
    }
    mock_api.on("GET /sync", 200, overview(runs=[run("failed", errors=[error])]))
    mock_api.on(
        "POST /sync",
        409,
        {
            "error": {
                "code": "not_configured",
                "message": "Asana is not configured for this organization yet.",
                "fix": "Save the Asana settings first.",
            }
        },
    )
    open_admin_page(page, mock_api)
    expect(page.locator("#sync-state")).to_have_text("Failed")
    expect(page.locator("#sync-errors")).to_contain_text("Authentication failed. Your token may have expired.")
    expect(page.locator("#sync-errors")).to_contain_text("How to fix: Reconnect the Asana account.")

    page.get_by_role("button", name="Start now").click()

    notice = page.locator("#sync-notice")
    expect(notice).to_contain_text("The sync did not start.")
    expect(notice).to_contain_text("Asana is not configured for this organization yet.")
    expect(notice).to_contain_text("Save the Asana settings first.")
    assert console_errors == []


# --------------------------------------------------------------------------------------------------- imports --


PROJECTS = [
    {"gid": "1203000000000001", "name": "Roadmap", "archived": False},
    {"gid": "1203000000000002", "name": "Old launch", "archived": True},
]
ROADMAP_IMPORT = {"gid": "1203000000000001", "name": "Roadmap", "imported_by": "admin-a", "imported_at": STARTED_AT}


def test_an_admin_imports_a_synced_project_and_stops_importing_it(page: Page, mock_api: MockApi, console_errors):
    imported: list[dict[str, Any]] = []
    mock_api.on_call("GET /sync", lambda _call: (200, overview(runs=[run("succeeded")], imports=list(imported))))
    mock_api.on("GET /mirror/projects", 200, {"kind": "projects", "data": PROJECTS, "next_offset": None})

    def import_roadmap(_call: Call) -> tuple[int, Any]:
        imported.append(ROADMAP_IMPORT)
        return 202, {"import": ROADMAP_IMPORT, "run": run("running", trigger="import"), "started": True}

    def stop_roadmap(_call: Call) -> tuple[int, Any]:
        imported.clear()
        return 200, {"project_gid": "1203000000000001", "imported": False, "tasks_removed": 12}

    mock_api.on_call("POST /projects/1203000000000001/import", import_roadmap)
    mock_api.on_call("DELETE /projects/1203000000000001/import", stop_roadmap)
    open_admin_page(page, mock_api)
    expect(page.get_by_text("No project is imported yet.")).to_be_visible()

    page.get_by_role("button", name="Show synced projects").click()
    projects = page.get_by_role("list", name="Synced projects")
    expect(projects.get_by_role("listitem")).to_have_count(2)
    expect(projects.get_by_role("listitem").nth(1)).to_contain_text("Archived")
    page.get_by_label("Filter the projects shown").fill("road")
    expect(projects.get_by_role("listitem")).to_have_count(1)
    expect(page.locator("#import-summary")).to_have_text("1 of 2 loaded projects match.")

    page.get_by_role("button", name="Import Roadmap").click()

    expect(page.locator("#imports-notice")).to_contain_text("Importing Roadmap.")
    imports = page.get_by_role("list", name="Imported projects")
    expect(imports).to_contain_text("Roadmap")
    expect(projects.get_by_role("listitem").first).to_contain_text("Imported")
    expect(page.get_by_role("button", name="Import Roadmap")).to_have_count(0)
    assert mock_api.calls_to("GET /mirror/projects")[0].query == "limit=100"

    page.get_by_role("button", name="Stop importing Roadmap").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("deletes its mirrored tasks")
    dialog.get_by_role("button", name="Stop importing").click()

    expect(page.locator("#imports-notice")).to_contain_text("Stopped importing Roadmap.")
    expect(page.locator("#imports-notice")).to_contain_text("12 mirrored tasks were removed.")
    expect(page.get_by_text("No project is imported yet.")).to_be_visible()
    expect(page.get_by_role("button", name="Import Roadmap")).to_be_visible()
    assert len(mock_api.calls_to("DELETE /projects/1203000000000001/import")) == 1
    assert console_errors == []


def test_cancelling_the_stop_keeps_the_import(page: Page, mock_api: MockApi, console_errors):
    mock_api.on("GET /sync", 200, overview(imports=[ROADMAP_IMPORT]))
    open_admin_page(page, mock_api)

    page.get_by_role("button", name="Stop importing Roadmap").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()

    expect(page.get_by_role("button", name="Stop importing Roadmap")).to_be_focused()
    assert mock_api.calls_to("DELETE /projects/1203000000000001/import") == []
    assert console_errors == []


# ---------------------------------------------------------------------------------------------------- people --

BLAKE = {
    "gid": "1202000000000002",
    "name": "Blake Chen",
    "email": "blake@acme.example",
    "status": "unmatched",
    "deactivated_at": None,
    "mapping": None,
}
DANA = {
    "gid": "1202000000000001",
    "name": "Dana Admin",
    "email": "dana.admin@acme.example",
    "status": "mapped",
    "deactivated_at": None,
    "mapping": {"securedb_user_id": "u-dana", "method": "email", "set_by": None, "set_at": None},
}
GONE = {
    "gid": "1202000000000003",
    "name": "Former Employee",
    "email": None,
    "status": "deactivated",
    "deactivated_at": STARTED_AT,
    "mapping": None,
}
USERS_PAGE = {
    "data": [DANA, BLAKE, GONE],
    "next_offset": None,
    "counts": {"mapped": 1, "unmatched": 1, "deactivated": 1},
    "securedb_users": [
        {"id": "u-blake", "email": "blake.chen@acme.example", "name": "Blake", "last_seen_at": STARTED_AT}
    ],
}


def test_an_admin_maps_an_unmatched_user_by_hand_and_clears_it_again(page: Page, mock_api: MockApi, console_errors):
    mock_api.on("GET /sync", 200, overview())
    mock_api.on("GET /users", 200, USERS_PAGE)

    def put_mapping(call: Call) -> tuple[int, Any]:
        chosen = call.body["securedb_user_id"]
        mapping = {"securedb_user_id": chosen, "method": "manual", "set_by": "admin-a", "set_at": STARTED_AT}
        return 200, {**BLAKE, "status": "mapped" if chosen else "unmatched", "mapping": mapping if chosen else None}

    mock_api.on_call("PUT /users/1202000000000002/mapping", put_mapping)
    open_admin_page(page, mock_api)

    page.get_by_role("button", name="Show users").click()

    expect(page.locator("#people-summary")).to_have_text("1 mapped, 1 unmatched, 1 deactivated.")
    rows = page.locator("#people-body tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("u-dana")
    expect(rows.nth(0)).to_contain_text("Same email")
    expect(rows.nth(1)).to_contain_text("Unmatched")
    expect(rows.nth(2)).to_contain_text("Deactivated")
    expect(rows.nth(2)).to_contain_text("no email visible")

    page.get_by_role("button", name="Map Blake Chen").click()
    field = page.get_by_label("SecureDB user for Blake Chen")
    expect(field).to_be_focused()
    expect(field).to_have_attribute("list", "people-securedb-users")
    expect(page.locator("#people-securedb-users option")).to_have_attribute("value", "u-blake")
    field.fill("u-blake")
    page.get_by_role("form", name="Mapping of Blake Chen").get_by_role("button", name="Save").click()

    expect(page.locator("#people-notice")).to_contain_text("Blake Chen is mapped to u-blake.")
    blake = page.locator("#people-body tr[data-gid='1202000000000002']")
    expect(blake).to_contain_text("Set by an admin")
    expect(blake).to_contain_text("Mapped")
    assert mock_api.calls_to("PUT /users/1202000000000002/mapping")[0].body == {"securedb_user_id": "u-blake"}

    page.get_by_role("button", name="Change the mapping of Blake Chen").click()
    page.get_by_role("button", name="Clear manual mapping").click()

    expect(page.locator("#people-notice")).to_contain_text("The manual mapping of Blake Chen was cleared.")
    expect(blake).to_contain_text("Unmatched")
    assert mock_api.calls_to("PUT /users/1202000000000002/mapping")[1].body == {"securedb_user_id": None}
    assert console_errors == []


def test_the_status_filter_asks_the_api_and_an_empty_mapping_is_refused_in_the_page(
    page: Page, mock_api: MockApi, console_errors
):
    mock_api.on("GET /sync", 200, overview())
    mock_api.on("GET /users", 200, {**USERS_PAGE, "data": [BLAKE]})
    open_admin_page(page, mock_api)

    page.get_by_label("Show", exact=True).select_option("unmatched")

    expect(page.locator("#people-body tr")).to_have_count(1)
    assert mock_api.calls_to("GET /users")[-1].query == "limit=100&status=unmatched"
    page.get_by_role("button", name="Map Blake Chen").click()
    page.get_by_role("form", name="Mapping of Blake Chen").get_by_role("button", name="Save").click()
    expect(page.get_by_label("SecureDB user for Blake Chen")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#people-notice")).to_contain_text("Enter a SecureDB user id.")
    assert mock_api.calls_to("PUT /users/1202000000000002/mapping") == []
    assert console_errors == []


# ------------------------------------------------------------------------------------------- safety, access --


def test_api_data_in_the_panel_is_rendered_as_text(page: Page, mock_api: MockApi, console_errors):
    hostile = {**ROADMAP_IMPORT, "name": XSS}
    mock_api.on(
        "GET /sync",
        200,
        overview(
            runs=[run("failed", errors=[{"kind": "users", "code": "x", "message": XSS, "fix": XSS}])], imports=[hostile]
        ),
    )
    mock_api.on("GET /users", 200, {**USERS_PAGE, "data": [{**BLAKE, "name": XSS, "email": XSS}]})
    open_admin_page(page, mock_api)
    page.get_by_role("button", name="Show users").click()

    expect(page.locator("#imports-list")).to_contain_text(XSS)
    expect(page.locator("#sync-errors")).to_contain_text(XSS)
    expect(page.locator("#people-body")).to_contain_text(XSS)
    expect(page.locator("#injected")).to_have_count(0)
    assert console_errors == []


def test_a_member_never_sees_the_panel_nor_calls_its_routes(page: Page, mock_api: MockApi, console_errors):
    mock_api.on("GET /settings", 403, {"error": {"code": "admin_required", "message": "Only an admin.", "fix": "Ask."}})
    mock_api.on("GET /connection", 200, PERSONAL_NOT_CONNECTED)
    page.goto(f"{SETTINGS_URL}#token={TOKEN}")

    expect(page.get_by_role("heading", name="Organization settings need an admin")).to_be_visible()
    expect(page.get_by_role("heading", name="Data sync")).to_have_count(0)
    assert mock_api.calls_to("GET /sync") == []
    assert console_errors == []


def test_screenshot_of_the_panel(page: Page, mock_api: MockApi, screenshot_dir: Path, console_errors):
    mock_api.on(
        "GET /sync",
        200,
        overview(run("running", done=4), runs=[run("running", done=4), run("succeeded")], imports=[ROADMAP_IMPORT]),
    )
    mock_api.on("GET /users", 200, USERS_PAGE)
    open_admin_page(page, mock_api)
    page.get_by_role("button", name="Show users").click()
    expect(page.locator("#people-body tr")).to_have_count(3)

    page.locator("#sync-panel").screenshot(path=str(screenshot_dir / "mock-sync-panel.png"))
    assert console_errors == []
