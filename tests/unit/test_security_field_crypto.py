"""OAuth tokens are encrypted per field with the stack's KMS key, bound to organization, user and field: a ciphertext
from another key, or moved to another organization, user or field, does not decrypt."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from asana_integration.stores.field_crypto import TokenCipher
from local.template import load_template

TOKEN = "2/1208000000000001/1209000000000001:f1e2d3c4b5a6"


@pytest.fixture
def kms() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("kms", region_name="us-east-1")


def new_key(kms: Any) -> str:
    return str(kms.create_key(Description="test")["KeyMetadata"]["Arn"])


def test_a_token_decrypts_for_its_own_organization_user_and_field(kms):
    cipher = TokenCipher(kms, new_key(kms))
    blob = cipher.encrypt(TOKEN, org_id="org-a", user_id="admin-a", field="access_token")

    assert TOKEN.encode() not in blob
    assert cipher.decrypt(blob, org_id="org-a", user_id="admin-a", field="access_token") == TOKEN


def test_a_ciphertext_from_another_key_is_refused(kms):
    """Someone who can write the table plants a token encrypted under a key they control: it must not be used."""
    planted = TokenCipher(kms, new_key(kms)).encrypt(TOKEN, org_id="org-a", user_id="admin-a", field="access_token")
    ours = TokenCipher(kms, new_key(kms))

    with pytest.raises(ClientError):
        ours.decrypt(planted, org_id="org-a", user_id="admin-a", field="access_token")


@pytest.mark.parametrize(
    "elsewhere",
    [
        {"org_id": "org-b", "user_id": "admin-a", "field": "access_token"},
        {"org_id": "org-a", "user_id": "member-a", "field": "access_token"},
        {"org_id": "org-a", "user_id": "admin-a", "field": "refresh_token"},
    ],
    ids=["another organization", "another user", "the other field"],
)
def test_a_ciphertext_moved_to_another_organization_user_or_field_is_refused(kms, elsewhere):
    cipher = TokenCipher(kms, new_key(kms))
    blob = cipher.encrypt(TOKEN, org_id="org-a", user_id="admin-a", field="access_token")

    with pytest.raises(ClientError):
        cipher.decrypt(blob, **elsewhere)


def test_every_kms_call_carries_an_encryption_context_the_key_policy_admits(kms):
    """The key policy lets the functions use the key only with a context of exactly the listed keys (template.yaml)."""
    statements = load_template()["Resources"]["IntegrationKey"]["Properties"]["KeyPolicy"]["Statement"]
    conditions = [statement.get("Condition", {}).get("ForAllValues:StringEquals", {}) for statement in statements]
    admitted = [set(c["kms:EncryptionContextKeys"]) for c in conditions if "kms:EncryptionContextKeys" in c]
    cipher = TokenCipher(kms, new_key(kms))
    sent: list[dict[str, str]] = []
    kms.meta.events.register(
        "provide-client-params.kms.*", lambda params, **_: sent.append(dict(params.get("EncryptionContext", {})))
    )

    blob = cipher.encrypt(TOKEN, org_id="org-a", user_id="admin-a", field="refresh_token")
    cipher.decrypt(blob, org_id="org-a", user_id="admin-a", field="refresh_token")

    assert sent == [{"org_id": "org-a", "user_id": "admin-a", "field": "refresh_token"}] * 2
    assert all(set(context) in admitted for context in sent), admitted
