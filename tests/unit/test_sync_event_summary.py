"""Reading a project's events: which tasks to read again (since when), which are gone, when to list in full."""

from __future__ import annotations

from asana_integration.sync.tasks import EventSummary

PROJECT = "100"


def event(action: str, kind: str, gid: str, *, parent: str | None = None, at: str = "2026-12-02T10:00:00.000Z"):
    return {
        "action": action,
        "resource": {"gid": gid, "resource_type": kind},
        "parent": {"gid": parent, "resource_type": "project"} if parent else None,
        "created_at": at,
    }


def test_nothing_happened_means_nothing_to_read():
    summary = EventSummary.of([], PROJECT)

    assert (summary.touched, summary.since, summary.removed, summary.section_changed) == (False, None, set(), False)


def test_changed_tasks_are_read_from_the_earliest_event_less_a_minute():
    summary = EventSummary.of(
        [
            event("changed", "task", "1", at="2026-12-02T10:05:00.000Z"),
            event("added", "task", "2", parent=PROJECT, at="2026-12-02T10:01:30.500Z"),
        ],
        PROJECT,
    )

    assert (summary.touched, summary.since, summary.removed) == (True, "2026-12-02T10:00:30Z", set())


def test_deleted_tasks_and_tasks_removed_from_this_project_are_gone_but_not_those_removed_elsewhere():
    summary = EventSummary.of(
        [
            event("deleted", "task", "1"),
            event("removed", "task", "2", parent=PROJECT),
            event("removed", "task", "3", parent="999"),
        ],
        PROJECT,
    )

    assert summary.removed == {"1", "2"}


def test_a_section_change_asks_for_a_full_listing_and_comments_change_nothing():
    assert EventSummary.of([event("changed", "section", "s1")], PROJECT).section_changed
    assert not EventSummary.of([event("added", "story", "st1")], PROJECT).touched
