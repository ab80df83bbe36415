"""What the settings page shows after Asana's redirect, rebuilt from ``?outcome=<code>&purpose=`` alone."""

from __future__ import annotations

import pytest

from asana_integration.errors import SEED_NO_SCOPES, SEED_REDIRECT_URI_MISMATCH
from asana_integration.tenant_urls import TenantUrls
from functions.oauth_callback.settings_page import outcome_from_query

ACME = TenantUrls(base_url="https://acme.expand.securedb.io")


@pytest.mark.parametrize(
    ("purpose", "message"),
    [
        ("organization", "The organization is connected to Asana."),
        ("personal", "Your Asana account is connected."),
        ("someone-elses", "Your Asana account is connected."),
    ],
)
def test_a_connection_is_announced_for_what_was_connected(purpose, message):
    outcome = outcome_from_query({"outcome": "connected", "purpose": purpose}, ACME)

    assert outcome is not None
    assert outcome["message"] == message
    assert outcome["purpose"] == (purpose if purpose != "someone-elses" else None)


def test_the_redirect_uri_fix_names_the_tenants_exact_uris():
    outcome = outcome_from_query({"outcome": "redirect_uri_mismatch"}, ACME)

    assert outcome is not None
    assert outcome["message"] == SEED_REDIRECT_URI_MISMATCH
    assert "https://acme.expand.securedb.io/asana/settings" in outcome["fix"]
    assert "https://acme.expand.securedb.io/asana/settings/" in outcome["fix"]


def test_seed_scope_message_and_unknown_codes_are_never_echoed():
    assert outcome_from_query({"outcome": "no_scopes"}, ACME)["message"] == SEED_NO_SCOPES
    assert outcome_from_query({"outcome": "<script>alert(1)</script>"}, ACME) is None
