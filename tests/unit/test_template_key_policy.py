"""The integration key's policy agrees with the code that uses the key: what moto never checks, since it evaluates no
key policy. A context key the code adds, a prefix the functions write under, or a tag the roles lose would each make
KMS refuse every call on AWS.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import pytest

from asana_integration.stores.field_crypto import encryption_context, webhook_secret_context
from local.template import Deployment, Intrinsics, load_template

DEPLOYMENT = Deployment(stack_name="securedb-asana-production", region="eu-west-1", account_id="111122223333")
CRYPTOGRAPHIC = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey")


def key_policy(secret_name_prefix: str = "") -> dict[str, dict[str, Any]]:
    """The key policy's statements by Sid, resolved for :data:`DEPLOYMENT`."""
    template = load_template()
    intrinsics = Intrinsics(template, DEPLOYMENT, parameters={"SecretNamePrefix": secret_name_prefix})
    policy = intrinsics.resolve(template["Resources"]["IntegrationKey"]["Properties"]["KeyPolicy"])
    return {statement["Sid"]: statement for statement in policy["Statement"]}


def functions_secret_prefix(secret_name_prefix: str = "") -> str:
    template = load_template()
    intrinsics = Intrinsics(template, DEPLOYMENT, parameters={"SecretNamePrefix": secret_name_prefix})
    return str(intrinsics.resolve(template["Globals"]["Function"]["Environment"]["Variables"]["SECRET_NAME_PREFIX"]))


def actions(statement: dict[str, Any]) -> list[str]:
    granted = statement["Action"]
    return granted if isinstance(granted, list) else [granted]


def grants(statement: dict[str, Any], action: str) -> bool:
    return any(fnmatchcase(action, pattern) for pattern in actions(statement))


def test_the_account_administers_the_key_but_cannot_use_it() -> None:
    admin = key_policy()["AccountAdministersTheKeyThroughIam"]
    assert admin["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert "Condition" not in admin
    assert grants(admin, "kms:PutKeyPolicy")  # the account can always repair the policy (no lock-out)
    assert grants(admin, "kms:ScheduleKeyDeletion")
    assert not [action for action in CRYPTOGRAPHIC if grants(admin, action)]


def test_every_use_of_the_key_is_conditioned() -> None:
    for sid, statement in key_policy().items():
        if any(grants(statement, action) for action in CRYPTOGRAPHIC):
            assert statement["Effect"] == "Allow"
            assert statement.get("Condition"), f"{sid} grants use of the key without a condition"


def test_direct_use_requires_exactly_the_token_fields_encryption_context() -> None:
    conditions = key_policy()["FunctionsEncryptTokenFieldsWithTheirContext"]["Condition"]
    context_keys = sorted(encryption_context("org", "user", "access_token"))

    assert sorted(conditions["ForAllValues:StringEquals"]["kms:EncryptionContextKeys"]) == context_keys
    assert conditions["Null"] == {f"kms:EncryptionContext:{key}": "false" for key in context_keys}
    assert "kms:ViaService" not in conditions.get("StringEquals", {})


@pytest.mark.parametrize("parameter", ["", "acme/asana"])
def test_secrets_manager_use_is_limited_to_the_prefix_the_functions_write_under(parameter: str) -> None:
    statement = key_policy(parameter)["FunctionsUseTheKeyThroughSecretsManager"]
    prefix = functions_secret_prefix(parameter)

    assert prefix == (parameter or DEPLOYMENT.stack_name)
    assert statement["Condition"]["StringEquals"]["kms:ViaService"] == "secretsmanager.eu-west-1.amazonaws.com"
    assert statement["Condition"]["StringLike"]["kms:EncryptionContext:SecretARN"] == (
        f"arn:aws:secretsmanager:eu-west-1:111122223333:secret:{prefix}/*"
    )
    # Secrets Manager asks KMS for a data key to write a secret and to decrypt it to read one.
    assert sorted(actions(statement)) == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_dynamodb_use_stays_in_the_account_and_in_dynamodb() -> None:
    conditions = key_policy()["AccountUsesTheKeyThroughDynamoDb"]["Condition"]["StringEquals"]
    assert conditions == {"kms:ViaService": "dynamodb.eu-west-1.amazonaws.com", "kms:CallerAccount": "111122223333"}


def test_the_function_roles_carry_the_tag_the_key_policy_names() -> None:
    template = load_template()
    tags = Intrinsics(template, DEPLOYMENT).resolve(template["Globals"]["Function"]["Tags"])
    for sid in (
        "FunctionsEncryptTokenFieldsWithTheirContext",
        "FunctionsEncryptWebhookSecretsWithTheirContext",
        "FunctionsUseTheKeyThroughSecretsManager",
    ):
        required = {
            key.removeprefix("aws:PrincipalTag/"): value
            for key, value in key_policy()[sid]["Condition"]["StringEquals"].items()
            if key.startswith("aws:PrincipalTag/")
        }
        assert required, f"{sid} does not name the function roles"
        assert required.items() <= tags.items()


def test_direct_use_for_webhook_secrets_requires_exactly_their_encryption_context() -> None:
    statement = key_policy()["FunctionsEncryptWebhookSecretsWithTheirContext"]
    conditions = statement["Condition"]
    context = webhook_secret_context("org", "prefix")

    assert sorted(actions(statement)) == ["kms:Decrypt", "kms:Encrypt"]
    assert sorted(conditions["ForAllValues:StringEquals"]["kms:EncryptionContextKeys"]) == sorted(context)
    assert conditions["Null"] == {f"kms:EncryptionContext:{key}": "false" for key in context}
    # Only the webhook-secret field: this statement cannot be used to decrypt a token.
    assert conditions["StringEquals"]["kms:EncryptionContext:field"] == context["field"]
    assert "kms:ViaService" not in conditions["StringEquals"]
