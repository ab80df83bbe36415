"""The client's list calls the sync makes, against the Asana sandbox: users, team memberships, projects (archived too),
a project's tasks since a time, and the Events API with its 412; and the observer that sees every attempt."""

from __future__ import annotations

import pytest

from asana_integration.asana.client import AsanaClient
from asana_integration.asana.errors import SyncTokenExpired
from asana_integration.asana.token_source import StaticToken
from asana_integration.config import Config
from asana_integration.errors import AsanaRateLimited, InvalidInput
from local.asana_sandbox import AsanaSandbox, demo


class Observer:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def before_request(self, cost: int = 1) -> None:
        self.seen.append("before" if cost == 1 else f"before, costing {cost}")

    def after_response(self, status: int | str) -> None:
        self.seen.append(f"status {status}")

    def rate_limited(self, retry_after: int) -> None:
        self.seen.append(f"429 wait {retry_after}")

    def retried(self) -> None:
        self.seen.append("retry")


@pytest.fixture
def asana():
    with AsanaSandbox(port=0) as sandbox:
        yield sandbox


def client_for(sandbox: AsanaSandbox, *, observer: Observer | None = None, waits: list[float] | None = None):
    config = Config.model_validate(
        {
            "TABLE_NAME": "t",
            "KMS_KEY_ID": "k",
            "PUBLIC_BASE_URL": "https://expand.securedb.io",
            "ASANA_API_BASE_URL": sandbox.api_base_url,
        }
    )
    sleep = (waits if waits is not None else []).append
    return AsanaClient(StaticToken(demo.DEMO_PAT), config, observer=observer, sleep=sleep)


def every_page(fetch):
    items, offset, calls = [], None, 0
    while True:
        page = fetch(offset)
        calls += 1
        items += page.data
        if page.next_offset is None:
            return items, calls
        offset = page.next_offset


def test_users_of_a_workspace_come_sorted_by_gid_with_their_fields(asana):
    client = client_for(asana)

    users, calls = every_page(lambda offset: client.users_page(demo.ORG_WORKSPACE_GID, offset, opt_fields="name"))

    assert calls == 1
    assert [user["gid"] for user in users] == demo.org_member_gids()
    assert users[0] == {"gid": demo.DEMO_ADMIN_USER_GID, "name": demo.DEMO_ADMIN_NAME}


def test_projects_include_archived_ones_unless_filtered(asana):
    client = client_for(asana)

    everything, calls = every_page(lambda offset: client.projects_page(demo.ORG_WORKSPACE_GID, offset))
    archived, _ = every_page(lambda offset: client.projects_page(demo.ORG_WORKSPACE_GID, offset, archived=True))

    assert (len(everything), calls) == (demo.ORG_PROJECT_COUNT, 3)
    assert len(archived) == demo.ORG_ARCHIVED_PROJECT_COUNT


def test_team_memberships_of_a_team(asana):
    client = client_for(asana)

    page = client.team_memberships_page(demo.TEAM_SECURITY_GID, opt_fields="user,is_admin")

    assert [m["user"]["gid"] for m in page.data] == demo.build_demo_data().members_of(demo.TEAM_SECURITY_GID)
    assert page.data[0]["is_admin"] is True


def test_a_project_s_tasks_and_only_those_changed_since_a_time(asana):
    client = client_for(asana)
    all_tasks = client.project_tasks_page(demo.DEMO_TASK_PROJECT_GID, opt_fields="name,modified_at").data
    latest = max(task["modified_at"] for task in all_tasks)

    recent = client.project_tasks_page(demo.DEMO_TASK_PROJECT_GID, opt_fields="name", modified_since=latest).data

    assert len(all_tasks) == demo.DEMO_TASK_COUNT
    assert [task["gid"] for task in recent] == [t["gid"] for t in all_tasks if t["modified_at"] == latest]


def test_events_start_with_a_412_carrying_a_token_then_read_from_it(asana):
    client = client_for(asana)

    with pytest.raises(SyncTokenExpired) as expired:
        client.events(demo.DEMO_TASK_PROJECT_GID, None)
    quiet = client.events(demo.DEMO_TASK_PROJECT_GID, expired.value.new_token)
    task = asana.state.store.tasks[demo.numbered_gid(demo.TASK_PREFIX, 1)]
    asana.changes.update_task(None, task, {"name": "Renamed"})
    changed = client.events(demo.DEMO_TASK_PROJECT_GID, quiet.sync)

    assert expired.value.code == "asana_sync_token_expired"
    assert expired.value.new_token not in expired.value.message
    assert (quiet.data, quiet.has_more) == ([], False)
    assert [(e["action"], e["resource"]["gid"]) for e in changed.data] == [("changed", task.gid)]
    assert changed.sync != quiet.sync


def test_an_expired_sync_token_is_a_412_with_a_fresh_one(asana):
    client = client_for(asana)
    with pytest.raises(SyncTokenExpired) as first:
        client.events(demo.DEMO_TASK_PROJECT_GID, None)
    asana.set_sync_token_ttl(0)
    with pytest.raises(SyncTokenExpired) as fresh:
        client.events(demo.DEMO_TASK_PROJECT_GID, None)

    with pytest.raises(SyncTokenExpired) as again:
        client.events(demo.DEMO_TASK_PROJECT_GID, fresh.value.new_token)

    assert len({first.value.new_token, fresh.value.new_token, again.value.new_token}) == 3


def test_event_tokens_take_ten_projects_a_request_and_each_reads_on_from_that_moment(asana):
    observer = Observer()
    client = client_for(asana, observer=observer)
    projects = [demo.numbered_gid(demo.PROJECT_PREFIX, number) for number in range(1, 13)]

    tokens = client.event_tokens(projects)
    task = asana.state.store.tasks[demo.numbered_gid(demo.TASK_PREFIX, 1)]
    asana.changes.update_task(None, task, {"name": "Renamed after the token"})
    changed = client.events(demo.DEMO_TASK_PROJECT_GID, tokens[demo.DEMO_TASK_PROJECT_GID])
    quiet = client.events(projects[-1], tokens[projects[-1]])

    assert sorted(tokens) == sorted(projects)
    assert asana.request_count("POST", "/api/1.0/batch") == 2
    assert asana.request_count("GET", "/api/1.0/events") == 2
    assert asana.request_count("GET", "/api/1.0/events", with_batch_actions=True) == 12 + 2
    assert observer.seen[:4] == ["before, costing 10", "status 200", "before, costing 2", "status 200"]
    assert [(e["action"], e["resource"]["gid"]) for e in changed.data] == [("changed", task.gid)]
    assert quiet.data == []


def test_a_project_asana_gives_no_token_for_is_left_to_its_reader(asana):
    unknown = "1204999999999999"
    asana.set_rate_limit(3)
    client = client_for(asana)
    projects = [demo.numbered_gid(demo.PROJECT_PREFIX, number) for number in range(1, 5)]

    tokens = client.event_tokens([unknown, *projects])

    # The unknown project is a 404 inside the batch; the limit of 3 a minute answers the last two actions 429.
    assert sorted(tokens) == sorted(projects[:2])


@pytest.mark.parametrize("count", [0, 11])
def test_a_batch_holds_one_to_ten_actions(asana, count):
    with pytest.raises(ValueError, match="1 to 10 actions"):
        client_for(asana).batch([{"relative_path": "/users/me", "method": "get"}] * count)

    assert asana.request_count() == 0


def test_the_observer_sees_each_attempt_the_429_and_the_retry(asana):
    observer, waits = Observer(), []
    client = client_for(asana, observer=observer, waits=waits)
    asana.force_rate_limit(count=1, retry_after=2)

    client.users_page(demo.ORG_WORKSPACE_GID)

    assert observer.seen == ["before", "status 429", "429 wait 2", "retry", "before", "status 200"]
    assert waits == [2.0]


def test_an_observer_that_refuses_stops_the_call_before_it_is_sent(asana):
    class Exhausted(Observer):
        def before_request(self, cost: int = 1) -> None:
            raise AsanaRateLimited("budget spent", "wait", retry_after=5)

    with pytest.raises(AsanaRateLimited):
        client_for(asana, observer=Exhausted()).users_page(demo.ORG_WORKSPACE_GID)

    assert asana.request_count() == 0


@pytest.mark.parametrize("bad", ["12/../34", "me", ""])
def test_ids_that_are_not_gids_are_refused_before_any_call(asana, bad):
    client = client_for(asana)

    with pytest.raises(InvalidInput, match="not an Asana project id"):
        client.project_tasks_page(bad)
    with pytest.raises(InvalidInput, match="not an Asana resource id"):
        client.events(bad, None)
    assert asana.request_count() == 0
