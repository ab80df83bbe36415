"""The IAM audit's parts on known inputs: IAM matching and conditions, intrinsic resolution, the call-to-permission
rules, the verdicts, and the recorder's attribution through a real botocore client under moto."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from tests.iam import audit, recorder
from tests.iam.actions import Permission, SecretKeys, UnknownOperation, required_permissions, secret_keys
from tests.iam.cloudformation import FunctionRole, Grant, Resolver, TemplateError
from tests.iam.policy import Decision, UnsupportedCondition, decide, expand_actions, wildcard_match
from tests.iam.recorder import AwsCall

KEY = "arn:aws:kms:us-east-1:123456789012:key/k-1"
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/deployed-table"
SM_VIA = ("kms:ViaService", ("secretsmanager.us-east-1.amazonaws.com",))


def allow(actions, resources, **conditions) -> Grant:
    return Grant("Allow", tuple(actions), tuple(resources), source="test", conditions=conditions)


# ------------------------------------------------------------------------------------------------ matching


@pytest.mark.parametrize(
    ("glob", "value", "matches"),
    [
        ("arn:aws:secretsmanager:*:*:secret:prefix/*", "arn:aws:secretsmanager:r:1:secret:prefix/org-a-AbCdEf", True),
        ("arn:aws:secretsmanager:*:*:secret:prefix/*", "arn:aws:secretsmanager:r:1:secret:prefix-other/x", False),
        ("arn:aws:dynamodb:*:*:table/t", "arn:aws:dynamodb:r:1:table/t/index/i", False),
        ("key/k-?", "key/k-1", True),
        ("key/k-?", "key/k-12", False),
        ("Table/T", "table/t", False),  # resources are case-sensitive
    ],
)
def test_resource_wildcards_follow_iam(glob, value, matches):
    assert wildcard_match(glob, value) is matches


def test_actions_match_case_insensitively_and_an_explicit_deny_wins():
    permission = Permission("dynamodb:GetItem", TABLE)
    assert decide([allow(["DynamoDB:getitem"], [TABLE])], permission) is Decision.ALLOWED
    deny = Grant("Deny", ("dynamodb:*",), ("*",), source="deny")
    assert decide([allow(["dynamodb:GetItem"], [TABLE]), deny], permission) is Decision.EXPLICIT_DENY
    assert decide([allow(["dynamodb:PutItem"], [TABLE])], permission) is Decision.IMPLICIT_DENY


def test_not_action_and_an_action_without_resource_types():
    everything_but_delete = Grant("Allow", (), ("*",), source="t", not_actions=("dynamodb:Delete*",))
    assert decide([everything_but_delete], Permission("dynamodb:GetItem", TABLE)) is Decision.ALLOWED
    assert decide([everything_but_delete], Permission("dynamodb:DeleteItem", TABLE)) is Decision.IMPLICIT_DENY
    # An action with no resource types needs Resource "*": a statement scoped to an ARN does not grant it.
    assert decide([allow(["sts:GetCallerIdentity"], [TABLE])], Permission("sts:GetCallerIdentity", "*")) is (
        Decision.IMPLICIT_DENY
    )


def test_conditions_on_the_request_context():
    via_sm = allow(["kms:Decrypt"], [KEY], StringEquals={"kms:ViaService": ("secretsmanager.us-east-1.amazonaws.com",)})
    assert decide([via_sm], Permission("kms:Decrypt", KEY, (SM_VIA,))) is Decision.ALLOWED
    assert decide([via_sm], Permission("kms:Decrypt", KEY)) is Decision.IMPLICIT_DENY  # direct use

    context_keys = {"kms:EncryptionContextKeys": ("org_id", "user_id", "field")}
    only_ours = allow(["kms:Encrypt"], [KEY], **{"ForAllValues:StringEquals": context_keys})
    required = allow(["kms:Encrypt"], [KEY], **{"ForAllValues:StringEquals": context_keys}, Null={"kms:Ec": ("false",)})
    ours = Permission("kms:Encrypt", KEY, (("kms:EncryptionContextKeys", ("org_id", "field")), ("kms:Ec", ("x",))))
    foreign = Permission("kms:Encrypt", KEY, (("kms:EncryptionContextKeys", ("SecretARN",)),))
    empty = Permission("kms:Encrypt", KEY)
    assert decide([only_ours], ours) is Decision.ALLOWED
    assert decide([only_ours], foreign) is Decision.IMPLICIT_DENY
    assert decide([only_ours], empty) is Decision.ALLOWED, "ForAllValues holds for a missing key (AWS's pitfall)"
    assert decide([required], empty) is Decision.IMPLICIT_DENY, "which Null: false closes"
    not_via = allow(["kms:Decrypt"], [KEY], StringNotEquals={"kms:ViaService": ("dynamodb.us-east-1.amazonaws.com",)})
    assert decide([not_via], Permission("kms:Decrypt", KEY)) is Decision.ALLOWED, "a negated operator, no key: true"
    with pytest.raises(UnsupportedCondition):
        decide([allow(["kms:Decrypt"], [KEY], NumericLessThan={"kms:X": ("1",)})], Permission("kms:Decrypt", KEY))


def test_wildcard_actions_expand_with_the_service_authorization_reference():
    expanded = expand_actions(["kms:GenerateDataKey*", "dynamodb:GetItem"])
    assert {"kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "dynamodb:GetItem"} <= set(expanded)
    assert "kms:Decrypt" not in expanded


# ------------------------------------------------------------------------------------------------ intrinsics

TEMPLATE = {
    "Parameters": {
        "Prefix": {"Type": "String", "Default": ""},
        "Hosts": {"Type": "CommaDelimitedList", "Default": "a,b"},
    },
    "Conditions": {"HasPrefix": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Prefix"}, ""]}]}},
    "Resources": {"Table": {"Type": "AWS::DynamoDB::Table"}, "Key": {"Type": "AWS::KMS::Key"}},
}


def test_the_resolver_evaluates_intrinsics_for_one_deployment():
    resolver = Resolver(TEMPLATE)
    prefix = {"Fn::If": ["HasPrefix", {"Ref": "Prefix"}, {"Ref": "AWS::StackName"}]}
    sub = {
        "Fn::Sub": [
            "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${P}/*",
            {"P": prefix},
        ]
    }
    assert resolver.resolve(sub) == "arn:aws:secretsmanager:us-east-1:123456789012:secret:securedb-asana-integration/*"
    assert Resolver(TEMPLATE, parameters={"Prefix": "x"}).resolve(prefix) == "x"
    table_arn = resolver.resolve({"Fn::GetAtt": ["Table", "Arn"]})
    assert table_arn.endswith(f":table/{resolver.resolve({'Ref': 'Table'})}"), "Ref and Arn name the same table"
    assert resolver.resolve({"Fn::Sub": "${Key.Arn}"}) == resolver.resolve({"Fn::GetAtt": ["Key", "Arn"]})
    assert resolver.resolve({"Fn::Join": ["|", {"Ref": "Hosts"}]}) == "a|b"
    assert resolver.resolve([1, {"Ref": "AWS::NoValue"}, {"Fn::Select": [1, {"Ref": "Hosts"}]}]) == [1, "b"]
    with pytest.raises(TemplateError):
        resolver.resolve({"Fn::ImportValue": "elsewhere"})
    with pytest.raises(TemplateError):
        resolver.resolve({"Ref": "NoSuchThing"})


def test_the_resolver_refuses_parameters_cloudformation_refuses_and_reads_mappings():
    template = {
        "Parameters": {"Mode": {"Type": "String", "Default": "a", "AllowedValues": ["a", "b"]}},
        "Mappings": {"Sizes": {"a": {"Memory": 128}}},
    }
    with pytest.raises(TemplateError, match="Mode"):
        Resolver(template, parameters={"Mode": "c"})
    with pytest.raises(TemplateError, match="NoSuchParameter"):
        Resolver(template, parameters={"NoSuchParameter": "x"})
    memory = {"Fn::FindInMap": ["Sizes", {"Ref": "Mode"}, "Memory"]}
    assert Resolver(template).resolve(memory) == 128
    with pytest.raises(TemplateError, match=r"Mappings\.Sizes\.b\.Memory"):
        Resolver(template, parameters={"Mode": "b"}).resolve(memory)
    stack_id = Resolver(template).resolve({"Ref": "AWS::StackId"})
    assert stack_id.startswith("arn:aws:cloudformation:us-east-1:123456789012:stack/securedb-asana-integration/")


# ------------------------------------------------------------------------------------------------ rules

ROLE = FunctionRole(
    logical_id="SettingsFunction",
    code_dir="settings",
    environment={"TABLE_NAME": "deployed-table", "KMS_KEY_ID": KEY, "SECRET_NAME_PREFIX": "stack"},
    grants=(),
    managed_policies=(),
    runtime_needs=(),
)
TEST_ENV = (("KMS_KEY_ID", "arn:aws:kms:us-east-1:123456789012:key/test-key"), ("SECRET_NAME_PREFIX", "test"),
            ("TABLE_NAME", "test-table"))  # fmt: skip


def call(service, operation, parameters=(), env=TEST_ENV, context=(), **identifiers) -> AwsCall:
    return AwsCall(
        code_dir="settings",
        service=service,
        operation=operation,
        parameters=frozenset(parameters) | frozenset(identifiers),
        identifiers=tuple(sorted(identifiers.items())),
        encryption_context=tuple(context),
        environment=env,
    )


def actions_of(permissions):
    return sorted((permission.action, permission.resource) for permission in permissions)


def test_resource_names_map_back_through_the_environment_they_came_from():
    (get,) = required_permissions(call("dynamodb", "GetItem", TableName="test-table"), ROLE, SecretKeys({}))
    assert (get.action, get.resource) == ("dynamodb:GetItem", TABLE)
    (query,) = required_permissions(
        call("dynamodb", "Query", TableName="test-table", IndexName="by-state"), ROLE, SecretKeys({})
    )
    assert query.resource == f"{TABLE}/index/by-state"
    (stray,) = required_permissions(call("dynamodb", "GetItem", TableName="hard-coded"), ROLE, SecretKeys({}))
    assert stray.resource.endswith(":table/unmapped:hard-coded"), "a name the environment does not explain"


def test_create_secret_with_tags_needs_tag_resource_and_a_customer_key_needs_kms_through_secrets_manager():
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:stack/org-a-AbCdEf"
    tagged = call(
        "secretsmanager",
        "CreateSecret",
        ("SecretString", "Tags"),
        Name="test/org-a",
        KmsKeyId="arn:aws:kms:us-east-1:123456789012:key/test-key",
    )
    permissions = required_permissions(tagged, ROLE, SecretKeys({}))
    assert actions_of(permissions) == [
        ("kms:Decrypt", KEY),
        ("kms:GenerateDataKey", KEY),
        ("secretsmanager:CreateSecret", secret),
        ("secretsmanager:TagResource", secret),
    ]
    assert all(SM_VIA in p.context for p in permissions if p.action.startswith("kms:"))
    untagged = call("secretsmanager", "CreateSecret", ("SecretString",), Name="test/org-a")
    assert actions_of(required_permissions(untagged, ROLE, SecretKeys({}))) == [("secretsmanager:CreateSecret", secret)]

    keys = secret_keys([(ROLE, tagged)])
    read = call("secretsmanager", "GetSecretValue", SecretId="test/org-b")
    assert actions_of(required_permissions(read, ROLE, keys)) == [
        ("kms:Decrypt", KEY),
        ("secretsmanager:GetSecretValue", secret.replace("org-a", "org-b")),
    ]
    write = call("secretsmanager", "PutSecretValue", ("SecretString",), SecretId="test/org-b")
    assert ("kms:GenerateDataKey", KEY) in actions_of(required_permissions(write, ROLE, keys))
    aws_managed = secret_keys([(ROLE, untagged)])
    assert actions_of(required_permissions(read, ROLE, aws_managed)) == [
        ("secretsmanager:GetSecretValue", secret.replace("org-a", "org-b"))
    ], "aws/secretsmanager needs nothing from the caller"


def test_direct_kms_use_carries_its_encryption_context():
    encrypt = call(
        "kms",
        "Encrypt",
        context=(("field", "access_token"), ("org_id", "o"), ("user_id", "u")),
        KeyId="arn:aws:kms:us-east-1:123456789012:key/test-key",
    )
    (permission,) = required_permissions(encrypt, ROLE, SecretKeys({}))
    assert permission.resource == KEY
    assert permission.context_map["kms:EncryptionContext:org_id"] == ("o",)
    assert permission.context_map["kms:EncryptionContextKeys"] == ("field", "org_id", "user_id")
    assert "kms:ViaService" not in permission.context_map


def test_transactions_need_each_items_action_and_unknown_operations_are_refused():
    transaction = call("dynamodb", "TransactWriteItems", **{"TransactItems.Put": "test-table"})
    assert actions_of(required_permissions(transaction, ROLE, SecretKeys({}))) == [("dynamodb:PutItem", TABLE)]
    with pytest.raises(UnknownOperation):
        required_permissions(call("dynamodb", "NoSuchOperation", TableName="test-table"), ROLE, SecretKeys({}))


# ------------------------------------------------------------------------------------------------ verdicts


def test_the_verdicts_name_missing_and_unused_grants():
    role = FunctionRole(
        **{**ROLE.__dict__, "grants": (allow(["dynamodb:GetItem", "dynamodb:Scan"], [TABLE, f"{TABLE}/index/*"]),)}
    )
    found = audit.FunctionAudit(role)
    found.required = {Permission("dynamodb:GetItem", TABLE): "GetItem", Permission("dynamodb:PutItem", TABLE): "Put"}
    assert audit.missing(found) == [f"dynamodb:PutItem on {TABLE} is not allowed by any statement (needed by Put)"]
    assert audit.unused(found) == [
        f"test: dynamodb:Scan on {TABLE}, {TABLE}/index/*",
        f"test: resource {TABLE}/index/* (no call needed any of its actions there)",
    ]
    assert audit.missing(found, audit.without_action(role.grants, "dynamodb:GetItem"))[0].startswith(
        "dynamodb:GetItem on "
    )


def test_the_key_policy_must_allow_kms_calls_for_this_role_too():
    role = FunctionRole(
        **{
            **ROLE.__dict__,
            "role_arn": "arn:aws:iam::123456789012:role/stack-SettingsRole",
            "role_tags": {"stack": "mine"},
        }
    )
    tagged = {"StringEquals": {"aws:PrincipalTag/stack": ("mine",)}}
    account = Grant(
        "Allow", ("kms:Decrypt",), ("*",), "key", principals=("arn:aws:iam::123456789012:root",), conditions=tagged
    )
    other_role = Grant("Allow", ("kms:Decrypt",), ("*",), "key", principals=("arn:aws:iam::123456789012:role/other",))
    decrypt = Permission("kms:Decrypt", KEY)
    assert audit.key_policy_decision(role, [account], decrypt) is Decision.ALLOWED
    assert audit.key_policy_decision(role, [other_role], decrypt) is Decision.IMPLICIT_DENY
    untagged = FunctionRole(**{**role.__dict__, "role_tags": {"stack": "theirs"}})
    assert audit.key_policy_decision(untagged, [account], decrypt) is Decision.IMPLICIT_DENY
    found = audit.FunctionAudit(FunctionRole(**{**role.__dict__, "grants": (allow(["kms:Decrypt"], [KEY]),)}))
    found.required = {decrypt: "Decrypt"}
    assert audit.missing(found, key_policies={KEY: [other_role]}) == [
        f"kms:Decrypt on {KEY} is not allowed by any statement in the key policy (needed by Decrypt)"
    ]


# ------------------------------------------------------------------------------------------------ recorder


def test_the_recorder_attributes_a_call_to_the_function_whose_code_is_on_the_stack():
    before = dict(recorder.RECORDING.calls)
    try:
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            client.list_tables()  # test set-up: no function on the stack
            unattributed = recorder.RECORDING.unattributed
            code = compile("client.list_tables(Limit=5)", str(recorder.FUNCTIONS_DIR / "webhook" / "app.py"), "exec")
            exec(code, {"client": client})  # noqa: S102 - code attributed to functions/webhook/, as a handler would be
        new = [found for found in recorder.RECORDING.calls if found not in before]
        assert [(c.code_dir, c.service, c.operation, c.parameters) for c in new] == [
            ("webhook", "dynamodb", "ListTables", frozenset({"Limit"}))
        ]
        assert recorder.RECORDING.unattributed == unattributed, "the attributed call is not counted as set-up"
    finally:
        for found in [found for found in recorder.RECORDING.calls if found not in before]:
            del recorder.RECORDING.calls[found]  # the webhook makes no such call: keep it out of the real audit
