"""REST API behaviour: records, visibility, opt_fields and Asana-style pagination, over real HTTP."""

from __future__ import annotations

import requests

from local.asana_sandbox import AsanaSandbox, demo
from local.asana_sandbox.errors import (
    FORBIDDEN,
    MULTIPLE_WORKSPACES,
    NOT_AN_ORGANIZATION,
    OFFSET_EXPIRED,
    OFFSET_INVALID,
)


def get(sandbox: AsanaSandbox, path: str, headers: dict[str, str], **params: str | int) -> requests.Response:
    return requests.get(f"{sandbox.api_base_url}{path}", headers=headers, params=params, timeout=5)


def message(response: requests.Response) -> str:
    text: str = response.json()["errors"][0]["message"]
    return text


def test_users_me_is_the_full_record_of_the_token_owner(sandbox, pat_headers):
    response = get(sandbox, "/users/me", pat_headers)

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["gid"] == demo.DEMO_ADMIN_USER_GID
    assert data["resource_type"] == "user"
    assert data["email"] == demo.DEMO_ADMIN_EMAIL
    assert [w["gid"] for w in data["workspaces"]] == [demo.ORG_WORKSPACE_GID, demo.PLAIN_WORKSPACE_GID]


def test_user_can_be_fetched_by_gid_or_email(sandbox, pat_headers):
    by_gid = get(sandbox, f"/users/{demo.ORG_MEMBER_USER_GID}", pat_headers).json()["data"]
    by_email = get(sandbox, f"/users/{by_gid['email']}", pat_headers).json()["data"]

    assert by_email == by_gid


def test_unknown_user_is_404(sandbox, pat_headers):
    response = get(sandbox, "/users/1202999999999999", pat_headers)

    assert response.status_code == 404
    assert "Not a recognized ID" in message(response)


def test_workspaces_lists_both_workspaces_compact(sandbox, pat_headers):
    response = get(sandbox, "/workspaces", pat_headers)

    assert response.json() == {
        "data": [
            {"gid": demo.ORG_WORKSPACE_GID, "resource_type": "workspace", "name": demo.ORG_WORKSPACE_NAME},
            {"gid": demo.PLAIN_WORKSPACE_GID, "resource_type": "workspace", "name": demo.PLAIN_WORKSPACE_NAME},
        ]
    }


def test_single_workspace_is_the_full_record(sandbox, pat_headers):
    data = get(sandbox, f"/workspaces/{demo.ORG_WORKSPACE_GID}", pat_headers).json()["data"]

    assert data["is_organization"] is True
    assert data["email_domains"] == [demo.ORG_EMAIL_DOMAIN]
    plain = get(sandbox, f"/workspaces/{demo.PLAIN_WORKSPACE_GID}", pat_headers).json()["data"]
    assert plain["is_organization"] is False


def test_token_sees_only_its_users_workspaces(sandbox):
    outsider = {"Authorization": f"Bearer {sandbox.issue_pat(demo.OUTSIDER_USER_GID)}"}

    workspaces = get(sandbox, "/workspaces", outsider).json()["data"]
    forbidden = get(sandbox, f"/workspaces/{demo.ORG_WORKSPACE_GID}/projects", outsider)

    assert [w["gid"] for w in workspaces] == [demo.PLAIN_WORKSPACE_GID]
    assert forbidden.status_code == 403
    assert message(forbidden) == FORBIDDEN


def test_malformed_gid_is_400_not_a_long(sandbox, pat_headers):
    response = get(sandbox, "/workspaces/abc/teams", pat_headers)

    assert response.status_code == 400
    assert message(response) == "workspace: Not a Long: abc"


def test_teams_of_the_organization_hide_secret_teams_from_non_members(sandbox, pat_headers):
    admin_teams = get(sandbox, f"/workspaces/{demo.ORG_WORKSPACE_GID}/teams", pat_headers).json()["data"]
    member = {"Authorization": f"Bearer {sandbox.issue_pat(demo.ORG_MEMBER_USER_GID)}"}
    member_teams = get(sandbox, f"/workspaces/{demo.ORG_WORKSPACE_GID}/teams", member).json()["data"]

    assert {t["gid"] for t in admin_teams} == set(demo.TEAM_GIDS)
    assert demo.TEAM_LEADERSHIP_GID not in {t["gid"] for t in member_teams}
    assert set(admin_teams[0]) == {"gid", "resource_type", "name"}


def test_teams_of_a_plain_workspace_is_a_400(sandbox, pat_headers):
    response = get(sandbox, f"/workspaces/{demo.PLAIN_WORKSPACE_GID}/teams", pat_headers)

    assert response.status_code == 400
    assert message(response) == NOT_AN_ORGANIZATION


def test_member_listings_are_alphabetical_and_unpaginated(sandbox, pat_headers):
    workspace_users = get(sandbox, f"/workspaces/{demo.ORG_WORKSPACE_GID}/users", pat_headers, limit=2).json()
    team_users = get(sandbox, f"/teams/{demo.TEAM_SECURITY_GID}/users", pat_headers).json()

    names = [u["name"] for u in workspace_users["data"]]
    assert names == sorted(names)
    assert len(names) == 11
    assert "next_page" not in workspace_users
    assert demo.DEMO_ADMIN_USER_GID in {u["gid"] for u in team_users["data"]}


def test_users_listing_filters_by_workspace_and_team_sorted_by_gid(sandbox, pat_headers):
    plain = get(sandbox, "/users", pat_headers, workspace=demo.PLAIN_WORKSPACE_GID).json()["data"]
    team = get(sandbox, "/users", pat_headers, workspace=demo.ORG_WORKSPACE_GID, team=demo.TEAM_PLATFORM_GID)

    gids = [u["gid"] for u in plain]
    assert gids == sorted(gids, key=int)
    assert demo.OUTSIDER_USER_GID in gids
    assert len(gids) == 3
    assert len(team.json()["data"]) == 3


def test_projects_take_three_pages_of_100(sandbox, pat_headers):
    seen: list[str] = []
    page = get(sandbox, "/projects", pat_headers, workspace=demo.ORG_WORKSPACE_GID, limit=100).json()
    sizes = [len(page["data"])]
    seen += [p["gid"] for p in page["data"]]
    while page["next_page"] is not None:
        next_page = page["next_page"]
        assert next_page["path"].startswith("/projects?")
        assert next_page["uri"] == f"{sandbox.api_base_url}{next_page['path']}"
        page = requests.get(next_page["uri"], headers=pat_headers, timeout=5).json()
        sizes.append(len(page["data"]))
        seen += [p["gid"] for p in page["data"]]

    assert sizes == [100, 100, 30]
    assert len(set(seen)) == demo.ORG_PROJECT_COUNT
    assert "next_page" in page  # present as null on the last page, because limit was sent


def test_offset_param_continues_where_the_token_says(sandbox, pat_headers):
    first = get(sandbox, f"/workspaces/{demo.ORG_WORKSPACE_GID}/projects", pat_headers, limit=10).json()
    second = get(
        sandbox,
        f"/workspaces/{demo.ORG_WORKSPACE_GID}/projects",
        pat_headers,
        limit=10,
        offset=first["next_page"]["offset"],
    ).json()

    assert int(second["data"][0]["gid"]) == int(first["data"][-1]["gid"]) + 1


def test_without_limit_there_is_no_next_page(sandbox, pat_headers):
    body = get(sandbox, f"/workspaces/{demo.ORG_WORKSPACE_GID}/projects", pat_headers).json()

    assert "next_page" not in body
    assert len(body["data"]) == demo.ORG_PROJECT_COUNT


def test_limit_out_of_range_is_400(sandbox, pat_headers):
    for bad in ("0", "101", "ten"):
        response = get(sandbox, "/workspaces", pat_headers, limit=bad)
        assert response.status_code == 400
        assert message(response).startswith("limit:")


def test_offset_expires_after_its_ttl(sandbox, pat_headers):
    sandbox.set_offset_ttl(30)
    page = get(sandbox, "/projects", pat_headers, workspace=demo.ORG_WORKSPACE_GID, limit=100).json()
    sandbox.advance_clock(31)

    response = requests.get(page["next_page"]["uri"], headers=pat_headers, timeout=5)

    assert response.status_code == 400
    assert message(response) == OFFSET_EXPIRED


def test_offset_default_ttl_is_900_seconds(sandbox, pat_headers):
    page = get(sandbox, "/projects", pat_headers, workspace=demo.ORG_WORKSPACE_GID, limit=100).json()
    sandbox.advance_clock(899)
    assert requests.get(page["next_page"]["uri"], headers=pat_headers, timeout=5).status_code == 200
    sandbox.advance_clock(2)
    assert requests.get(page["next_page"]["uri"], headers=pat_headers, timeout=5).status_code == 400


def test_forged_or_foreign_offsets_are_invalid(sandbox, pat_headers):
    page = get(sandbox, "/projects", pat_headers, workspace=demo.ORG_WORKSPACE_GID, limit=100).json()
    token = page["next_page"]["offset"]
    other = AsanaSandbox().start()
    try:
        foreign = requests.get(
            f"{other.api_base_url}/projects",
            headers=pat_headers,
            params={"workspace": demo.ORG_WORKSPACE_GID, "limit": 100, "offset": token},
            timeout=5,
        )
    finally:
        other.stop()
    forged = get(sandbox, "/projects", pat_headers, workspace=demo.ORG_WORKSPACE_GID, limit=100, offset="eyJhbGci")
    tampered = get(sandbox, "/projects", pat_headers, workspace=demo.ORG_WORKSPACE_GID, offset=token[:-2] + "xx")
    wrong_listing = get(sandbox, "/workspaces", pat_headers, limit=1, offset=token)

    for response in (foreign, forged, tampered, wrong_listing):
        assert response.status_code == 400
        assert message(response) == OFFSET_INVALID


def test_archived_filter(sandbox, pat_headers):
    path = f"/workspaces/{demo.ORG_WORKSPACE_GID}/projects"
    archived = get(sandbox, path, pat_headers, archived="true", opt_fields="archived").json()["data"]
    active = get(sandbox, path, pat_headers, archived="false").json()["data"]

    assert len(archived) == demo.ORG_ARCHIVED_PROJECT_COUNT
    assert all(p["archived"] is True for p in archived)
    assert len(active) == demo.ORG_PROJECT_COUNT - demo.ORG_ARCHIVED_PROJECT_COUNT


def test_team_projects_and_deprecated_team_filter_agree(sandbox, pat_headers):
    by_path = get(sandbox, f"/teams/{demo.TEAM_COMPLIANCE_GID}/projects", pat_headers).json()["data"]
    by_filter = get(sandbox, "/projects", pat_headers, team=demo.TEAM_COMPLIANCE_GID).json()["data"]

    assert by_path == by_filter
    assert len(by_path) == demo.ORG_PROJECT_COUNT // len(demo.TEAM_GIDS)


def test_projects_without_workspace_for_a_multi_workspace_user_is_400(sandbox, pat_headers):
    response = get(sandbox, "/projects", pat_headers)

    assert response.status_code == 400
    assert message(response) == MULTIPLE_WORKSPACES


def test_plain_workspace_has_a_handful_of_projects(sandbox, pat_headers):
    data = get(sandbox, "/projects", pat_headers, workspace=demo.PLAIN_WORKSPACE_GID, opt_fields="team,owner").json()

    assert len(data["data"]) == demo.PLAIN_PROJECT_COUNT
    # No team outside organizations; the spec does not allow team: null, so the field is left out.
    assert all("team" not in p and "owner" in p for p in data["data"])


def test_opt_fields_select_fields_and_dotted_paths(sandbox, pat_headers):
    data = get(
        sandbox,
        "/projects",
        pat_headers,
        workspace=demo.ORG_WORKSPACE_GID,
        limit=1,
        opt_fields="name,archived,owner.name,owner.email,team,workspace.name",
    ).json()["data"][0]

    assert set(data) == {"gid", "name", "archived", "owner", "team", "workspace"}
    assert set(data["owner"]) == {"gid", "name", "email"}
    assert data["team"] == {"gid": demo.TEAM_SECURITY_GID, "resource_type": "team"}
    assert data["workspace"] == {"gid": demo.ORG_WORKSPACE_GID, "name": demo.ORG_WORKSPACE_NAME}


def test_opt_fields_on_a_single_record_replace_the_full_default(sandbox, pat_headers):
    data = get(sandbox, "/users/me", pat_headers, opt_fields="email").json()["data"]

    assert data == {"gid": demo.DEMO_ADMIN_USER_GID, "email": demo.DEMO_ADMIN_EMAIL}


def test_unknown_route_answers_the_json_envelope(sandbox, pat_headers):
    response = get(sandbox, "/nonexistent", pat_headers)

    assert response.status_code == 404
    assert response.json()["errors"][0]["help"]


def test_demo_data_is_deterministic():
    first, second = demo.build_demo_data(), demo.build_demo_data()

    assert first == second
    assert len(first.users) == 12
    assert {p.gid for p in first.projects} == {p.gid for p in second.projects}
