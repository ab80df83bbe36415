"""The sync API function end to end: real HTTP API events into ``functions/sync/api.py``, moto from the template.

Every route: what it answers, what it changes (runs, messages on the sync queue, imports, the mirror, mappings) and
that nothing crosses organizations: org-b's admin reads none of org-a's data and changes none of it, and a member is
refused (403) before any input is looked at.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from asana_integration.config import get_config
from asana_integration.models.mirror import MirrorEntity, MirrorKind
from asana_integration.stores.mirror import MirrorStore
from asana_integration.stores.organizations import OrganizationRegistry
from asana_integration.stores.signed_in_users import SignedInUserStore
from asana_integration.stores.sync_state import SyncStateStore
from tests.events import LambdaContext, claims_for, http_event
from tests.handlers.conftest import function_module

ORG, OTHER_ORG = "org-a", "org-b"
ROADMAP, LAUNCH, GONE_PROJECT = "1204000000000001", "1204000000000002", "1204000000000003"
DANA, BLAKE = "1202000000000001", "1202000000000002"
SECURITY, PLATFORM = "1203000000000001", "1203000000000002"

# Every route of the function, with a request an admin could validly make.
ROUTES = [
    ("POST", "/asana/api/sync", "/asana/api/sync", None),
    ("GET", "/asana/api/sync", "/asana/api/sync", None),
    ("GET", "/asana/api/mirror/projects", "/asana/api/mirror/{kind}", {"kind": "projects"}),
    ("POST", f"/asana/api/projects/{ROADMAP}/import", "/asana/api/projects/{gid}/import", {"gid": ROADMAP}),
    ("DELETE", f"/asana/api/projects/{ROADMAP}/import", "/asana/api/projects/{gid}/import", {"gid": ROADMAP}),
    ("GET", "/asana/api/users", "/asana/api/users", None),
    ("PUT", f"/asana/api/users/{BLAKE}/mapping", "/asana/api/users/{gid}/mapping", {"gid": BLAKE}),
]


def call(
    method: str,
    path: str,
    *,
    route: str | None = None,
    path_parameters: dict[str, str] | None = None,
    org: str = ORG,
    user: str = "admin-a",
    admin: bool = True,
    body: Any = None,
    query: dict[str, str] | None = None,
    email: str | None = None,
) -> tuple[int, Any]:
    claims = claims_for(org, user, admin=admin)
    if email is not None:
        claims["email"] = email
    event = http_event(
        method, path, route_path=route, claims=claims, body=body, query=query, path_parameters=path_parameters
    )
    response = function_module("sync", "api").lambda_handler(event, LambdaContext())
    assert response["headers"]["Content-Type"] == "application/json", response
    assert response["headers"]["Cache-Control"] == "no-store"
    return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def api(services: Any) -> Iterator[Any]:
    """The sync API function in this test's execution environment, with a sync queue in moto."""
    from asana_integration.web.dependencies import get_services

    app = function_module("sync", "api").app
    app.dependency_overrides[get_services] = lambda: services
    yield services
    app.dependency_overrides.pop(get_services, None)


@pytest.fixture
def table(api: Any):
    return boto3.resource("dynamodb").Table(get_config().mirror_table_name)


@pytest.fixture
def configured(api: Any) -> None:
    """org-a and org-b have saved their Asana settings (the registry the upkeep and the sync read)."""
    registry = OrganizationRegistry(boto3.resource("dynamodb").Table(get_config().table_name))
    registry.register(ORG, "connected")
    registry.register(OTHER_ORG, "connected")


@pytest.fixture
def mirrored(table: Any) -> MirrorStore:
    """org-a's mirror after a sync: two live projects and a deleted one, Roadmap's tasks, three users (one gone)."""
    mirror = MirrorStore(table)
    projects = [
        MirrorEntity(ROADMAP, {"name": "Roadmap", "archived": False}),
        MirrorEntity(LAUNCH, {"name": "Launch", "archived": True}),
        MirrorEntity(GONE_PROJECT, {"name": "Deleted in Asana", "archived": False}),
    ]
    mirror.apply(ORG, MirrorKind.PROJECT, None, projects)
    mirror.apply(ORG, MirrorKind.PROJECT, None, projects[:2], seen_complete=True)
    tasks = [MirrorEntity(str(1205000000000000 + n), {"name": f"Task {n}", "completed": False}) for n in range(3)]
    mirror.apply(ORG, MirrorKind.TASK, ROADMAP, tasks)
    users = [
        MirrorEntity(DANA, {"name": "Dana Admin", "email": "dana@acme.example"}),
        MirrorEntity(BLAKE, {"name": "Blake Chen", "email": "blake@acme.example"}),
        MirrorEntity("1202000000000003", {"name": "Former Employee"}),
    ]
    mirror.apply(ORG, MirrorKind.USER, None, users)
    mirror.apply(ORG, MirrorKind.USER, None, users[:2], seen_complete=True)
    for team, members in ((SECURITY, [DANA, BLAKE]), (PLATFORM, [BLAKE])):
        entities = [MirrorEntity(f"{team}#{user}", {"team_gid": team, "user_gid": user}) for user in members]
        mirror.apply(ORG, MirrorKind.MEMBERSHIP, team, entities)
    mirror.apply(OTHER_ORG, MirrorKind.MEMBERSHIP, SECURITY, [MirrorEntity(f"{SECURITY}#1299", {"user_gid": "1299"})])
    mirror.apply(OTHER_ORG, MirrorKind.PROJECT, None, [MirrorEntity("1299000000000001", {"name": "Other's"})])
    mirror.apply(OTHER_ORG, MirrorKind.USER, None, [MirrorEntity("1299000000000002", {"name": "Olu"})])
    return mirror


def queued() -> list[dict[str, Any]]:
    """Every message on the sync queue (received and deleted: each test starts with an empty queue)."""
    sqs = boto3.client("sqs")
    url = get_config().sync_queue_url
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        messages += [json.loads(message["Body"]) for message in batch]
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return messages


# --------------------------------------------------------------------------------------------------------- runs --


def test_start_now_records_a_run_and_queues_its_start_once(configured):
    status, first = call("POST", "/asana/api/sync", body={"mode": "full"})
    again_status, again = call("POST", "/asana/api/sync")

    assert status == 202
    assert first["started"] is True
    run = first["run"]
    assert (run["status"], run["trigger"], run["mode"], run["pending"]) == ("running", "manual", "full", 1)
    assert (again_status, again["started"], again["run"]["run_id"]) == (200, False, run["run_id"])
    assert queued() == [
        {"type": "start", "org_id": ORG, "run_id": run["run_id"], "mode": "full", "trigger": "manual", "projects": None}
    ]


def test_the_overview_shows_the_live_run_and_the_latest_runs(configured):
    call("POST", "/asana/api/sync", body={"mode": "incremental"})

    status, overview = call("GET", "/asana/api/sync")

    assert status == 200
    assert overview["current"]["mode"] == "incremental"
    assert (overview["current"]["total_units"], overview["current"]["pending"]) == (1, 1)
    assert [run["run_id"] for run in overview["runs"]] == [overview["current"]["run_id"]]
    assert overview["imports"] == []


def test_a_sync_of_an_organization_without_settings_is_refused_and_records_nothing(api):
    status, body = call("POST", "/asana/api/sync")

    assert status == 409
    assert body["error"]["code"] == "not_configured"
    assert body["error"]["fix"]
    assert call("GET", "/asana/api/sync")[1] == {"current": None, "runs": [], "imports": []}
    assert queued() == []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"mode": "sometimes"}, 422, "invalid_input"),
        ({"mode": "full", "org_id": OTHER_ORG}, 422, "invalid_input"),  # the organization is never the body's
        (["full"], 400, "bad_request"),  # not a JSON object (the shared resolver)
    ],
)
def test_a_bad_start_body_is_refused_and_starts_nothing(configured, body, status, code):
    answer_status, answer = call("POST", "/asana/api/sync", body=body)

    assert (answer_status, answer["error"]["code"]) == (status, code)
    assert queued() == []
    assert call("GET", "/asana/api/sync")[1]["runs"] == []


# ------------------------------------------------------------------------------------------------------- mirror --


def test_the_mirror_pages_by_offset_and_adds_tombstones_on_request(mirrored):
    status, first = call("GET", "/asana/api/mirror/projects", query={"limit": "1"})
    _, second = call("GET", "/asana/api/mirror/projects", query={"limit": "1", "offset": first["next_offset"]})
    _, everything = call("GET", "/asana/api/mirror/projects", query={"include_deleted": "true"})

    assert status == 200
    assert [(p["gid"], p["name"]) for p in first["data"]] == [(ROADMAP, "Roadmap")]
    assert "synced_at" in first["data"][0]
    assert [p["gid"] for p in second["data"]] == [LAUNCH]
    # Only the deleted project is left: a page of live projects may then come back empty, and is the last.
    _, third = call("GET", "/asana/api/mirror/projects", query={"limit": "1", "offset": second["next_offset"]})
    assert (third["data"], third["next_offset"]) == ([], None)
    assert [(p["gid"], "deleted_at" in p) for p in everything["data"]] == [
        (ROADMAP, False),
        (LAUNCH, False),
        (GONE_PROJECT, True),
    ]


def test_tasks_are_read_per_project(mirrored):
    status, tasks = call("GET", "/asana/api/mirror/tasks", query={"project": ROADMAP})

    assert status == 200
    assert [task["name"] for task in tasks["data"]] == ["Task 0", "Task 1", "Task 2"]
    assert call("GET", "/asana/api/mirror/tasks", query={"project": LAUNCH})[1]["data"] == []


def test_memberships_are_read_for_the_whole_organization_or_one_team(mirrored):
    every_team = call("GET", "/asana/api/mirror/memberships")[1]
    one_team = call("GET", "/asana/api/mirror/memberships", query={"team": SECURITY})[1]
    first = call("GET", "/asana/api/mirror/memberships", query={"limit": "2"})[1]
    rest = call("GET", "/asana/api/mirror/memberships", query={"limit": "2", "offset": first["next_offset"]})[1]

    assert [m["gid"] for m in every_team["data"]] == [
        f"{SECURITY}#{DANA}",
        f"{SECURITY}#{BLAKE}",
        f"{PLATFORM}#{BLAKE}",
    ]
    assert [m["user_gid"] for m in one_team["data"]] == [DANA, BLAKE]
    assert [m["gid"] for m in first["data"] + rest["data"]] == [m["gid"] for m in every_team["data"]]
    assert rest["next_offset"] is None


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/asana/api/mirror/tasks", {}, "project"),
        ("/asana/api/mirror/projects", {"project": ROADMAP}, "project"),
        ("/asana/api/mirror/users", {"team": "1203000000000001"}, "team"),
        ("/asana/api/mirror/tasks", {"project": "../ORG#org-b"}, "project"),
        ("/asana/api/mirror/projects", {"limit": "1000"}, "limit"),
        ("/asana/api/mirror/secrets", {}, "kind"),
    ],
)
def test_a_bad_mirror_request_is_422_with_the_field(mirrored, path, query, field):
    kind = path.rsplit("/", 1)[1]
    status, body = call("GET", path, route="/asana/api/mirror/{kind}", path_parameters={"kind": kind}, query=query)

    assert status == 422
    assert field in [detail["field"] for detail in body["error"]["details"]]


def test_an_offset_from_elsewhere_is_refused(mirrored):
    status, body = call("GET", "/asana/api/mirror/projects", query={"offset": "not-an-offset!"})

    assert status == 422
    assert body["error"]["code"] == "invalid_input"


# ------------------------------------------------------------------------------------------------------ imports --


def test_importing_a_synced_project_records_it_and_queues_its_first_task_import(configured, mirrored):
    path = f"/asana/api/projects/{ROADMAP}/import"
    route, params = "/asana/api/projects/{gid}/import", {"gid": ROADMAP}

    status, started = call("POST", path, route=route, path_parameters=params)
    again_status, again = call("POST", path, route=route, path_parameters=params)

    assert status == 202
    assert (started["project"]["gid"], started["project"]["name"], started["project"]["imported_by"]) == (
        ROADMAP,
        "Roadmap",
        "admin-a",
    )
    assert (started["run"]["trigger"], started["started"]) == ("import", True)
    assert (again_status, again["started"], again["run"]) == (200, False, None)
    (message,) = queued()
    assert (message["type"], message["trigger"], message["projects"]) == ("start", "import", [ROADMAP])
    assert [project["gid"] for project in call("GET", "/asana/api/sync")[1]["imports"]] == [ROADMAP]


def test_an_import_joins_the_live_run_instead_of_starting_another(configured, mirrored):
    _, live = call("POST", "/asana/api/sync")

    status, started = call(
        "POST",
        f"/asana/api/projects/{ROADMAP}/import",
        route="/asana/api/projects/{gid}/import",
        path_parameters={"gid": ROADMAP},
    )

    assert status == 202
    assert started["run"]["run_id"] == live["run"]["run_id"]
    messages = queued()
    assert [m["type"] for m in messages] == ["start", "unit"]
    assert (messages[1]["unit"]["kind"], messages[1]["unit"]["parent"]) == ("tasks", ROADMAP)
    assert call("GET", "/asana/api/sync")[1]["current"]["total_units"] == 2


@pytest.mark.parametrize("gid", [GONE_PROJECT, "1204000000000099", "1299000000000001"])
def test_only_a_live_synced_project_of_the_organization_can_be_imported(configured, mirrored, gid):
    status, body = call(
        "POST",
        f"/asana/api/projects/{gid}/import",
        route="/asana/api/projects/{gid}/import",
        path_parameters={"gid": gid},
    )

    assert status == 404
    assert body["error"]["code"] == "not_found"
    assert queued() == []
    assert call("GET", "/asana/api/sync")[1]["imports"] == []


def test_stopping_an_import_removes_it_its_tasks_and_its_sync_cursor(configured, mirrored, table):
    route, params = "/asana/api/projects/{gid}/import", {"gid": ROADMAP}
    call("POST", f"/asana/api/projects/{ROADMAP}/import", route=route, path_parameters=params)
    state = SyncStateStore(table)
    from asana_integration.stores.sync_state import SyncCursor

    state.save_sync_cursor(ORG, ROADMAP, SyncCursor(sync_token="token-1"))

    status, stopped = call("DELETE", f"/asana/api/projects/{ROADMAP}/import", route=route, path_parameters=params)
    repeated = call("DELETE", f"/asana/api/projects/{ROADMAP}/import", route=route, path_parameters=params)

    assert status == 200
    assert stopped == {"project_gid": ROADMAP, "imported": False, "tasks_removed": 3}
    assert repeated == (200, {"project_gid": ROADMAP, "imported": False, "tasks_removed": 0})
    assert call("GET", "/asana/api/sync")[1]["imports"] == []
    assert (
        call("GET", "/asana/api/mirror/tasks", query={"project": ROADMAP, "include_deleted": "true"})[1]["data"] == []
    )
    assert state.sync_cursor(ORG, ROADMAP) is None


@pytest.mark.parametrize("gid", ["abc", "1" * 33, "12%2F34"])
def test_a_project_gid_that_is_not_a_gid_is_422(configured, gid):
    status, body = call(
        "POST",
        f"/asana/api/projects/{gid}/import",
        route="/asana/api/projects/{gid}/import",
        path_parameters={"gid": gid},
    )

    assert status == 422
    assert [detail["field"] for detail in body["error"]["details"]] == ["gid"]


# -------------------------------------------------------------------------------------------------------- users --


def test_users_show_their_mapping_and_an_admin_maps_one_by_hand(mirrored, table):
    SignedInUserStore(table).record(ORG, "u-dana", "Dana@Acme.example")
    route, params = "/asana/api/users/{gid}/mapping", {"gid": BLAKE}

    status, page = call("GET", "/asana/api/users")
    mapped_status, mapped = call(
        "PUT",
        f"/asana/api/users/{BLAKE}/mapping",
        route=route,
        path_parameters=params,
        body={"securedb_user_id": "u-blake"},
    )
    _, cleared = call(
        "PUT",
        f"/asana/api/users/{BLAKE}/mapping",
        route=route,
        path_parameters=params,
        body={"securedb_user_id": None},
    )

    assert status == 200
    assert [(u["gid"], u["status"], u["mapping"] and u["mapping"]["method"]) for u in page["data"]] == [
        (DANA, "mapped", "email"),
        (BLAKE, "unmatched", None),
        ("1202000000000003", "deactivated", None),
    ]
    assert page["counts"] == {"mapped": 1, "unmatched": 1, "deactivated": 1}
    assert mapped_status == 200
    assert mapped["mapping"] == {
        "securedb_user_id": "u-blake",
        "method": "manual",
        "set_by": "admin-a",
        "set_at": mapped["mapping"]["set_at"],
    }
    assert (cleared["status"], cleared["mapping"]) == ("unmatched", None)


def test_the_status_filter_and_the_offset_page_the_users(mirrored):
    status, unmatched = call("GET", "/asana/api/users", query={"status": "unmatched"})
    _, first = call("GET", "/asana/api/users", query={"limit": "1"})
    _, rest = call("GET", "/asana/api/users", query={"offset": first["next_offset"]})

    assert status == 200
    assert [u["gid"] for u in unmatched["data"]] == [DANA, BLAKE]  # nobody has signed in yet
    assert [u["gid"] for u in first["data"]] == [DANA]
    assert [u["gid"] for u in rest["data"]] == [BLAKE, "1202000000000003"]
    assert rest["securedb_users"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"securedb_user_id": "u blake"}, "securedb_user_id"),
        ({"securedb_user_id": "x" * 200}, "securedb_user_id"),
        ({}, "securedb_user_id"),
        ({"securedb_user_id": "u-blake", "method": "email"}, "method"),
    ],
)
def test_a_bad_mapping_is_422_and_changes_nothing(mirrored, body, field):
    status, answer = call(
        "PUT",
        f"/asana/api/users/{BLAKE}/mapping",
        route="/asana/api/users/{gid}/mapping",
        path_parameters={"gid": BLAKE},
        body=body,
    )

    assert status == 422
    assert field in [detail["field"] for detail in answer["error"]["details"]]
    assert call("GET", "/asana/api/users", query={"status": "unmatched"})[1]["counts"]["mapped"] == 0


def test_the_callers_sign_in_email_is_remembered_from_the_verified_claims(mirrored):
    call("GET", "/asana/api/sync", user="u-dana", email="DANA@acme.example")

    _, page = call("GET", "/asana/api/users")

    assert page["data"][0]["mapping"] == {
        "securedb_user_id": "u-dana",
        "method": "email",
        "set_by": None,
        "set_at": None,
    }
    assert page["securedb_users"] == [
        {
            "id": "u-dana",
            "email": "dana@acme.example",
            "name": None,
            "last_seen_at": page["securedb_users"][0]["last_seen_at"],
        }
    ]


# ------------------------------------------------------------------------------------------------------ tenancy --


def test_another_organizations_admin_sees_none_of_its_runs_imports_mirror_or_users(configured, mirrored):
    call("POST", "/asana/api/sync")
    call(
        "POST",
        f"/asana/api/projects/{ROADMAP}/import",
        route="/asana/api/projects/{gid}/import",
        path_parameters={"gid": ROADMAP},
    )
    queued()

    overview = call("GET", "/asana/api/sync", org=OTHER_ORG, user="admin-b")[1]
    projects = call(
        "GET", "/asana/api/mirror/projects", org=OTHER_ORG, user="admin-b", query={"include_deleted": "true"}
    )
    tasks = call("GET", "/asana/api/mirror/tasks", org=OTHER_ORG, user="admin-b", query={"project": ROADMAP})
    users = call("GET", "/asana/api/users", org=OTHER_ORG, user="admin-b")[1]

    assert (overview["current"], overview["runs"], overview["imports"]) == (None, [], [])
    assert [p["name"] for p in projects[1]["data"]] == ["Other's"]
    assert tasks[1]["data"] == []
    assert [u["name"] for u in users["data"]] == ["Olu"]


def test_another_organizations_admin_changes_nothing_of_it(configured, mirrored):
    route = "/asana/api/projects/{gid}/import"
    call("POST", f"/asana/api/projects/{ROADMAP}/import", route=route, path_parameters={"gid": ROADMAP})
    queued()
    own_run = call("GET", "/asana/api/sync")[1]["current"]

    imported = call(
        "POST",
        f"/asana/api/projects/{ROADMAP}/import",
        route=route,
        path_parameters={"gid": ROADMAP},
        org=OTHER_ORG,
        user="admin-b",
    )
    stopped = call(
        "DELETE",
        f"/asana/api/projects/{ROADMAP}/import",
        route=route,
        path_parameters={"gid": ROADMAP},
        org=OTHER_ORG,
        user="admin-b",
    )
    mapped = call(
        "PUT",
        f"/asana/api/users/{BLAKE}/mapping",
        route="/asana/api/users/{gid}/mapping",
        path_parameters={"gid": BLAKE},
        body={"securedb_user_id": "u-b"},
        org=OTHER_ORG,
        user="admin-b",
    )
    started = call("POST", "/asana/api/sync", org=OTHER_ORG, user="admin-b")

    assert imported[0] == 404
    assert stopped == (200, {"project_gid": ROADMAP, "imported": False, "tasks_removed": 0})
    assert mapped[0] == 404
    assert started[0] == 202
    assert {m["org_id"] for m in queued()} == {OTHER_ORG}  # org-b's own run, nothing for org-a
    assert [p["gid"] for p in call("GET", "/asana/api/sync")[1]["imports"]] == [ROADMAP]
    assert len(call("GET", "/asana/api/mirror/tasks", query={"project": ROADMAP})[1]["data"]) == 3
    assert call("GET", "/asana/api/users", query={"status": "unmatched"})[1]["data"][1]["mapping"] is None
    assert call("GET", "/asana/api/sync")[1]["current"] == own_run  # org-b's start is org-b's alone


@pytest.mark.parametrize("request_line", ROUTES, ids=[f"{method} {route}" for method, _, route, _ in ROUTES])
def test_a_member_is_refused_every_route_before_any_input_is_read(configured, mirrored, request_line):
    method, path, route, params = request_line
    status, body = call(
        method,
        path,
        route=route,
        path_parameters=params,
        admin=False,
        user="member-a",
        body={"not": "valid"} if method in {"POST", "PUT"} else None,
        query={"limit": "0"},
    )

    assert status == 403
    assert body["error"]["code"] == "admin_required"
    assert queued() == []
