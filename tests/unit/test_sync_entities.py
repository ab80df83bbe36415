"""What is kept of each Asana record: the same entity (and hash) however Asana spells an absent value."""

from __future__ import annotations

import pytest

from asana_integration.sync import entities


@pytest.mark.parametrize("email", [{}, {"email": None}, {"email": ""}])
def test_a_hidden_email_is_none_however_asana_leaves_it_out(email):
    record = {"gid": "1", "name": "Ada", "workspaces": [{"gid": "20"}, {"gid": "10"}], **email}

    user = entities.user(record)

    assert user.data == {"name": "Ada", "email": None, "workspace_gids": ["10", "20"]}
    assert user.hash == entities.user({"gid": "1", "name": "Ada", "workspaces": [{"gid": "10"}, {"gid": "20"}]}).hash


def test_a_task_keeps_its_section_in_the_imported_project_not_in_another():
    record = {
        "gid": "7",
        "name": "Patch",
        "completed": False,
        "assignee": {"gid": "3", "resource_type": "user"},
        "memberships": [
            {"project": {"gid": "other"}, "section": {"gid": "s1", "name": "Elsewhere"}},
            {"project": {"gid": "p"}, "section": {"gid": "s2", "name": "Doing"}},
        ],
    }

    task = entities.task(record, "p")

    assert (task.data["section_gid"], task.data["section_name"], task.data["assignee_gid"]) == ("s2", "Doing", "3")
    assert (task.data["due_on"], task.data["modified_at"]) == (None, None)


def test_a_membership_is_keyed_by_team_and_user():
    membership = entities.membership({"gid": "999", "user": {"gid": "5"}, "is_admin": True}, "40")

    assert (membership.gid, membership.data) == (
        "40#5",
        {"team_gid": "40", "user_gid": "5", "is_admin": True, "is_guest": False},
    )


def test_a_project_of_a_plain_workspace_has_no_team():
    project = entities.project({"gid": "1", "name": "Home", "archived": True, "workspace": {"gid": "2"}})

    assert (project.data["team_gid"], project.data["archived"], project.data["workspace_gid"]) == (None, True, "2")


def test_records_without_a_gid_are_refused():
    with pytest.raises(ValueError, match="without a gid"):
        entities.workspace({"name": "No id"})
    with pytest.raises(ValueError, match="names no user"):
        entities.membership({"gid": "1", "user": None}, "40")
