"""Matching mirrored Asana users to SecureDB users: manual beats connection beats email, and nothing is guessed."""

from __future__ import annotations

from asana_integration.mapping.matching import ConnectedAccount, Match, UserMatcher
from asana_integration.stores.signed_in_users import SignedInUser
from asana_integration.stores.user_mappings import ManualMapping

SEEN_AT = "2026-03-09T10:00:00+00:00"


def signed_in(user_id: str, email: str) -> SignedInUser:
    return SignedInUser(user_id=user_id, email=email, name=None, last_seen_at=SEEN_AT)


def test_an_email_matches_ignoring_case_on_either_side():
    matcher = UserMatcher({}, [], [signed_in("u-dana", "dana@acme.example")])

    assert matcher.match("1", "Dana@ACME.example ") == Match("u-dana", "email")
    assert matcher.match("2", "blake@acme.example") is None
    assert matcher.match("3", None) is None


def test_an_email_two_securedb_users_signed_in_with_matches_neither():
    matcher = UserMatcher({}, [], [signed_in("u-1", "shared@acme.example"), signed_in("u-2", "SHARED@acme.example")])

    assert matcher.match("1", "shared@acme.example") is None


def test_a_connection_beats_the_email_and_the_latest_connection_wins():
    matcher = UserMatcher(
        {},
        [ConnectedAccount("1", "u-old", connected_at=100), ConnectedAccount("1", "u-new", connected_at=200)],
        [signed_in("u-by-email", "dana@acme.example")],
    )

    assert matcher.match("1", "dana@acme.example") == Match("u-new", "connection")


def test_a_manual_mapping_beats_a_connection_and_says_who_set_it():
    manual = {"1": ManualMapping("1", "u-manual", set_by="admin-a", set_at=SEEN_AT)}
    matcher = UserMatcher(manual, [ConnectedAccount("1", "u-connected", connected_at=100)], [])

    assert matcher.match("1", None) == Match("u-manual", "manual", set_by="admin-a", set_at=SEEN_AT)
    assert matcher.match("2", None) is None
