"""The caller comes from the JWT authorizer's verified claims only, and a claim that cannot safely name an organization
or a user is a 401: identifiers end up in Secrets Manager names and DynamoDB keys."""

from __future__ import annotations

from typing import Any

import pytest

from asana_integration.config import Config
from asana_integration.errors import NotAdmin, NotAuthenticated
from asana_integration.identity import Caller, caller_from_claims, display_name, parse_roles

CONFIG = Config.model_validate(
    {"TABLE_NAME": "table", "KMS_KEY_ID": "key", "PUBLIC_BASE_URL": "https://expand.securedb.io"}
)
# An identity provider with claim names of its own (the template's ClaimOrgId, ClaimUserId, ClaimRoles, AdminRole).
RENAMED = CONFIG.model_copy(
    update={"claim_org": "tenant", "claim_user": "uid", "claim_roles": "groups", "admin_role": "asana-admin"}
)
VALID = {"org_id": "org-a", "sub": "admin-a", "roles": "[admin]"}


def test_the_caller_is_taken_from_the_configured_claims():
    assert caller_from_claims(VALID, CONFIG) == Caller(org_id="org-a", user_id="admin-a", is_admin=True)
    renamed = {"tenant": "org-b", "uid": "user-b", "groups": ["asana-admin"], **VALID}
    assert caller_from_claims(renamed, RENAMED) == Caller(org_id="org-b", user_id="user-b", is_admin=True)


def test_identifiers_of_the_whole_accepted_alphabet_and_length_are_kept_verbatim():
    claims = {"org_id": "Org.9_a:b@c|d-" + "x" * 114, "sub": "auth0|5f1e@example.com", "roles": ""}
    assert len(claims["org_id"]) == 128

    caller = caller_from_claims(claims, CONFIG)

    assert (caller.org_id, caller.user_id, caller.is_admin) == (claims["org_id"], claims["sub"], False)


def test_a_numeric_claim_is_an_identifier_too():
    assert caller_from_claims({"org_id": 42, "sub": 7}, CONFIG) == Caller(org_id="42", user_id="7", is_admin=False)


MALFORMED: list[Any] = [
    "../other-org",
    "a/b#c",
    "org a",
    "org-a\n",
    "",
    "-org",
    ".org",
    "x" * 129,
    True,
    ["org-a"],
    {"id": "org-a"},
    1.5,
]


@pytest.mark.parametrize("value", [*MALFORMED, None], ids=lambda value: ascii(value).replace("\\", "/"))
@pytest.mark.parametrize("claim", ["org_id", "sub"])
def test_a_malformed_or_missing_identity_claim_is_a_401_naming_the_claim(claim, value):
    claims = {key: val for key, val in VALID.items() if key != claim}
    if value is not None:  # None: the claim is missing
        claims[claim] = value

    with pytest.raises(NotAuthenticated) as refused:
        caller_from_claims(claims, CONFIG)

    assert refused.value.status == 401
    assert f"'{claim}'" in refused.value.message


@pytest.mark.parametrize("claims", [None, {}], ids=["no claims", "empty claims"])
def test_no_claims_at_all_is_a_401(claims):
    with pytest.raises(NotAuthenticated):
        caller_from_claims(claims, CONFIG)


def test_the_refusal_names_a_renamed_claim():
    with pytest.raises(NotAuthenticated) as refused:
        caller_from_claims({"tenant": "org-b"}, RENAMED)  # no "uid"
    assert "'uid'" in refused.value.message
    assert "'uid'" in refused.value.fix


# --- roles -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "roles"),
    [
        pytest.param(["auditor", "admin"], {"auditor", "admin"}, id="JSON list"),
        pytest.param((" admin ", "", "  "), {"admin"}, id="tuple with blanks"),
        pytest.param({"admin"}, {"admin"}, id="set"),
        pytest.param(frozenset({"admin", "auditor"}), {"admin", "auditor"}, id="frozenset"),
        # API Gateway's flattening of a JSON array claim
        pytest.param("[admin auditor]", {"admin", "auditor"}, id="flattened list"),
        pytest.param("[auditor admin]", {"auditor", "admin"}, id="flattened list, admin last"),
        pytest.param("[admin]", {"admin"}, id="flattened single"),
        pytest.param("[Xadmin adminX]", {"Xadmin", "adminX"}, id="only the brackets are stripped"),
        pytest.param("admin,auditor", {"admin", "auditor"}, id="commas"),
        pytest.param("admin, auditor", {"admin", "auditor"}, id="commas and spaces"),
        pytest.param("admin auditor", {"admin", "auditor"}, id="spaces"),
        pytest.param("  admin\tauditor  ", {"admin", "auditor"}, id="tab and padding"),
        pytest.param("admin", {"admin"}, id="one role"),
        pytest.param("[]", set(), id="flattened empty list"),
        pytest.param("", set(), id="empty string"),
        pytest.param(None, set(), id="missing"),
        pytest.param(1, set(), id="a number"),
    ],
)
def test_roles_are_read_from_every_shape_an_identity_provider_sends(value, roles):
    assert parse_roles(value) == roles


@pytest.mark.parametrize("roles", [["auditor", "admin"], "[admin auditor]", "[auditor admin]", "auditor,admin"])
def test_an_admin_among_several_roles_is_an_admin(roles):
    assert caller_from_claims({**VALID, "roles": roles}, CONFIG).is_admin


@pytest.mark.parametrize("roles", [["administrator"], "[admins auditor]", "[auditor]", "member", None, ["Admin"]])
def test_only_the_exact_admin_role_makes_an_admin(roles):
    claims = {**VALID, "roles": roles}
    assert not caller_from_claims(claims, CONFIG).is_admin


def test_the_admin_role_is_read_from_the_configured_claim():
    claims = {"tenant": "org-b", "uid": "user-b", "roles": "[asana-admin]", "groups": "[auditor]"}
    assert not caller_from_claims(claims, RENAMED).is_admin


def test_only_an_admin_passes_require_admin():
    admin = Caller(org_id="org-a", user_id="admin-a", is_admin=True)
    assert admin.require_admin() is admin
    with pytest.raises(NotAdmin) as refused:
        Caller(org_id="org-a", user_id="member-a", is_admin=False).require_admin()
    assert refused.value.status == 403


def test_a_name_claim_loses_its_control_characters_and_nothing_takes_their_place():
    assert display_name("Ada\x00 Love\x1blace\x7f\x9f") == "Ada Lovelace"
    assert display_name("\n\t\x00") is None
