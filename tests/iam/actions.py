"""What AWS authorizes for a recorded call: its own IAM action, the dependent actions AWS documents, on which resource
ARN, with which condition keys in the request context.

Sources, in this order:

1. ``policy_sentry``'s offline copy of AWS's Service Authorization Reference: that the action exists, which resource
   types it can be scoped to (an action with none needs ``Resource: "*"``), and its listed dependent actions.
2. Explicit rules below for what the reference lists only per API operation or only in a service's guide, each with
   its source. ``policy_sentry``'s table has no dependent actions for ``secretsmanager:CreateSecret``, for instance,
   although AWS documents that Tags need ``TagResource``.

Resource names are mapped from the test run to the template: a call's table, key or secret name is expressed through
the environment variable it came from (``TABLE_NAME`` held ``asana-integration-test``), then rebuilt from that
variable's value in the transformed template (``!Ref IntegrationTable``). A name no variable accounts for stays as the
test saw it, and will not match any policy: the audit reports it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache

import botocore.session
from policy_sentry.querying.actions import get_action_data

from tests.iam.cloudformation import DEPLOYMENT, FunctionRole
from tests.iam.recorder import AwsCall

# Secrets Manager appends "-" and six random characters to a secret's name in its ARN, so policies scope secrets with
# "<name>*" or "<prefix>/*"; a policy naming the bare name would not match, as on AWS.
SECRET_ARN_SUFFIX = "-AbCdEf"
UNMAPPED = "unmapped:"


Rule = Callable[["AwsCall", "FunctionRole", "SecretKeys"], list["Permission"]]


class UnknownOperation(Exception):
    """A recorded call this module cannot map yet: teach it (an explicit rule, with its source) rather than guess."""


@dataclass(frozen=True)
class Permission:
    action: str  # "secretsmanager:TagResource"
    resource: str  # an ARN in the imaginary deployment, or "*"
    context: tuple[tuple[str, tuple[str, ...]], ...] = ()  # condition keys AWS puts in the request context
    because: str = ""  # the call (and rule) that needs it, for messages

    @property
    def context_map(self) -> dict[str, tuple[str, ...]]:
        return dict(self.context)

    def without_reason(self) -> Permission:
        return Permission(self.action, self.resource, self.context)


@dataclass(frozen=True)
class SecretKeys:
    """The KMS key secrets are encrypted with, learned from the recorded ``CreateSecret`` calls: for each environment
    variable secret names are built from, the (canonical) ``KmsKeyId`` values they were created with (None for AWS's
    managed ``aws/secretsmanager`` key, which needs no permission from the caller)."""

    by_prefix_variable: Mapping[str, frozenset[str | None]]

    def keys_for(self, variable: str | None) -> frozenset[str | None]:
        return self.by_prefix_variable.get(variable or "", frozenset())


def secret_keys(calls_by_role: Iterable[tuple[FunctionRole, AwsCall]]) -> SecretKeys:
    learned: dict[str, set[str | None]] = {}
    for role, call in calls_by_role:
        if (call.service, call.operation) != ("secretsmanager", "CreateSecret"):
            continue
        variable, _ = canonical(call, call.identifier("Name") or "", role)
        key = call.identifier("KmsKeyId")
        learned.setdefault(variable or "", set()).add(kms_key_arn(canonical(call, key, role)[1]) if key else None)
    return SecretKeys({variable: frozenset(keys) for variable, keys in learned.items()})


def required_permissions(call: AwsCall, role: FunctionRole, keys: SecretKeys) -> list[Permission]:
    """Every permission AWS checks for ``call`` made by ``role``'s function."""
    handler = _RULES.get((call.service, call.operation))
    permissions = handler(call, role, keys) if handler else _default(call, role)
    return permissions + [dependent for permission in permissions for dependent in _dependent_actions(permission)]


# ---------------------------------------------------------------------------------------------------- resources


def canonical(call: AwsCall, value: str, role: FunctionRole) -> tuple[str | None, str]:
    """``value`` as the deployed function would have it: (the variable it came from, the rebuilt value)."""
    recorded = call.env
    best: tuple[str | None, str] = (None, f"{UNMAPPED}{value}")
    best_length = 0
    for variable, deployed in role.environment.items():
        seen = recorded.get(variable, "")
        if not seen or len(seen) <= best_length:
            continue
        if value == seen:
            best, best_length = (variable, deployed), len(seen)
        elif value.startswith(seen + "/"):
            best, best_length = (variable, deployed + value[len(seen) :]), len(seen)
    return best


def table_arn(name: str, index: str | None = None) -> str:
    d = DEPLOYMENT
    arn = name if name.startswith("arn:") else f"arn:{d.partition}:dynamodb:{d.region}:{d.account_id}:table/{name}"
    return f"{arn}/index/{index}" if index else arn


def kms_key_arn(key: str) -> str:
    if key.startswith(("arn:", UNMAPPED)):
        return key
    if key.startswith("alias/"):
        raise UnknownOperation(f"KMS key alias {key}: IAM authorizes the key it points to; resolve aliases first")
    d = DEPLOYMENT
    return f"arn:{d.partition}:kms:{d.region}:{d.account_id}:key/{key}"


def queue_arn(url: str) -> str:
    """A queue's ARN from its URL (``https://sqs.<region>.<suffix>/<account>/<name>``), which is what calls name."""
    if url.startswith(UNMAPPED):
        return url
    parts = url.rstrip("/").split("/")
    region = parts[2].split(".")[1]
    return f"arn:{DEPLOYMENT.partition}:sqs:{region}:{parts[-2]}:{parts[-1]}"


def secret_arn(name: str) -> str:
    if name.startswith(("arn:", UNMAPPED)):
        return name
    d = DEPLOYMENT
    return f"arn:{d.partition}:secretsmanager:{d.region}:{d.account_id}:secret:{name}{SECRET_ARN_SUFFIX}"


# ---------------------------------------------------------------------------------------------------- rules


def _default(call: AwsCall, role: FunctionRole) -> list[Permission]:
    """The action named like the operation, on the resource the call names (DynamoDB, KMS, Secrets Manager)."""
    action = f"{iam_prefix(call.service)}:{call.operation}"
    if not action_exists(action):
        raise UnknownOperation(f"{call.describe()}: {action} is not an IAM action; add a rule to tests/iam/actions.py")
    resource = _resource(call, role)
    return [Permission(action, resource if resource_scoped(action) else "*", because=call.describe())]


def _resource(call: AwsCall, role: FunctionRole) -> str:
    if call.service == "dynamodb":
        name = call.identifier("TableName")
        if name is None:
            raise UnknownOperation(f"{call.describe()}: no TableName; add a rule to tests/iam/actions.py")
        return table_arn(canonical(call, name, role)[1], call.identifier("IndexName"))
    if call.service == "kms":
        key = call.identifier("KeyId")
        if key is None:
            # Decrypt without KeyId: KMS takes the key from the ciphertext's metadata; the policy must still allow it.
            raise UnknownOperation(f"{call.describe()}: no KeyId; the audit cannot tell which key it uses")
        return kms_key_arn(canonical(call, key, role)[1])
    if call.service == "secretsmanager":
        name = call.identifier("SecretId") or call.identifier("Name")
        if name is None:
            raise UnknownOperation(f"{call.describe()}: names no secret; add a rule to tests/iam/actions.py")
        return secret_arn(canonical(call, name, role)[1])
    if call.service == "sqs":
        url = call.identifier("QueueUrl")
        if url is None:
            raise UnknownOperation(f"{call.describe()}: names no queue; add a rule to tests/iam/actions.py")
        return queue_arn(canonical(call, url, role)[1])
    raise UnknownOperation(f"{call.describe()}: no resource rule for {call.service}; add one to tests/iam/actions.py")


def _kms_direct(call: AwsCall, role: FunctionRole, keys: SecretKeys) -> list[Permission]:
    """Direct KMS use: the request context carries the encryption context, which key policies may require
    (kms:EncryptionContext:<key>, kms:EncryptionContextKeys), and no kms:ViaService."""
    (permission,) = _default(call, role)
    pairs = call.encryption_context
    context = (
        *((f"kms:EncryptionContext:{key}", (value,)) for key, value in pairs),
        ("kms:EncryptionContextKeys", tuple(key for key, _ in pairs)),
        ("kms:CallerAccount", (DEPLOYMENT.account_id,)),
    )
    return [Permission(permission.action, permission.resource, context, permission.because)]


def _via_secrets_manager(secret: str, key: str, actions: Iterable[str], because: str) -> list[Permission]:
    """KMS operations Secrets Manager makes on the caller's behalf, authorized as the caller, with kms:ViaService and
    the secret's encryption context (https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html
    "Permissions for the KMS key", "Secrets Manager encryption context")."""
    context = (
        ("kms:ViaService", (f"secretsmanager.{DEPLOYMENT.region}.{DEPLOYMENT.url_suffix}",)),
        ("kms:EncryptionContext:SecretARN", (secret,)),
        ("kms:EncryptionContextKeys", ("SecretARN", "SecretVersionId")),
        ("kms:CallerAccount", (DEPLOYMENT.account_id,)),
    )
    return [Permission(action, key, context, because) for action in actions]


def _create_secret(call: AwsCall, role: FunctionRole, keys: SecretKeys) -> list[Permission]:
    (create,) = _default(call, role)
    permissions = [create]
    # The Service Authorization Reference's "API operations" table maps CreateSecret to CreateSecret,
    # ReplicateSecretToRegions and TagResource; the API reference says when: "If you include tags in the secret, you
    # also need secretsmanager:TagResource", and replica regions need ReplicateSecretToRegions
    # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecretsmanager.html,
    # https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html).
    if "Tags" in call.parameters:
        permissions.append(Permission("secretsmanager:TagResource", create.resource, because=f"{create.because} Tags"))
    if "AddReplicaRegions" in call.parameters:
        permissions.append(
            Permission("secretsmanager:ReplicateSecretToRegions", create.resource, because=f"{create.because} replica")
        )
    # "To encrypt the secret with a KMS key other than aws/secretsmanager, you need kms:GenerateDataKey and
    # kms:Decrypt permission to the key" (API_CreateSecret), when the call stores a value.
    key = call.identifier("KmsKeyId")
    if key and {"SecretString", "SecretBinary"} & call.parameters:
        arn = kms_key_arn(canonical(call, key, role)[1])
        permissions += _via_secrets_manager(
            create.resource, arn, ("kms:GenerateDataKey", "kms:Decrypt"), create.because
        )
    return permissions


def _secret_value(kms_actions: tuple[str, ...]) -> Rule:
    """Reading or writing a value of a secret under a customer managed key: Secrets Manager calls KMS Decrypt
    (GetSecretValue) or GenerateDataKey (PutSecretValue, UpdateSecret with a value) as the caller ("How Secrets
    Manager uses your KMS key", security-encryption.html above). The key is the one the secret was created with."""

    def rule(call: AwsCall, role: FunctionRole, keys: SecretKeys) -> list[Permission]:
        (permission,) = _default(call, role)
        variable, _ = canonical(call, call.identifier("SecretId") or "", role)
        extra = [
            needed
            for key in sorted(key for key in keys.keys_for(variable) if key is not None)
            for needed in _via_secrets_manager(permission.resource, key, kms_actions, permission.because)
        ]
        return [permission, *extra]

    return rule


def _batch_write(call: AwsCall, role: FunctionRole, keys: SecretKeys) -> list[Permission]:
    return [
        Permission("dynamodb:BatchWriteItem", table_arn(canonical(call, table, role)[1]), because=call.describe())
        for name, table in call.identifiers
        if name == "RequestItems"
    ]


def _batch_get(call: AwsCall, role: FunctionRole, keys: SecretKeys) -> list[Permission]:
    return [
        Permission("dynamodb:BatchGetItem", table_arn(canonical(call, table, role)[1]), because=call.describe())
        for name, table in call.identifiers
        if name == "RequestItems"
    ]


def _transact_write(call: AwsCall, role: FunctionRole, keys: SecretKeys) -> list[Permission]:
    """TransactWriteItems is not an IAM action: each item needs the action of its kind
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html)."""
    kinds = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
    return [
        Permission(
            f"dynamodb:{kinds[name.split('.', 1)[1]]}",
            table_arn(canonical(call, table, role)[1]),
            because=call.describe(),
        )
        for name, table in call.identifiers
        if name.startswith("TransactItems.")
    ]


def _send_message_batch(call: AwsCall, role: FunctionRole, keys: SecretKeys) -> list[Permission]:
    """SendMessageBatch is authorized as sqs:SendMessage, per message (Amazon SQS Developer Guide, "Amazon SQS API
    permissions: Actions and resource reference": "SendMessageBatch: sqs:SendMessage")."""
    return [Permission("sqs:SendMessage", _resource(call, role), because=call.describe())]


# DynamoDB tables encrypted with a customer managed key need no KMS permission from the caller: DynamoDB uses the key
# through a grant it creates with the table, and caches the table key
# (https://docs.aws.amazon.com/kms/latest/developerguide/services-dynamodb.html). So no DynamoDB rule adds KMS actions.
_RULES: dict[tuple[str, str], Rule] = {
    ("kms", "Encrypt"): _kms_direct,
    ("kms", "Decrypt"): _kms_direct,
    ("kms", "GenerateDataKey"): _kms_direct,
    ("secretsmanager", "CreateSecret"): _create_secret,
    ("secretsmanager", "GetSecretValue"): _secret_value(("kms:Decrypt",)),
    ("secretsmanager", "PutSecretValue"): _secret_value(("kms:GenerateDataKey",)),
    ("dynamodb", "BatchWriteItem"): _batch_write,
    ("dynamodb", "BatchGetItem"): _batch_get,
    ("dynamodb", "TransactWriteItems"): _transact_write,
    ("sqs", "SendMessageBatch"): _send_message_batch,
}


# ---------------------------------------------------------------------------------------------------- policy_sentry


@cache
def iam_prefix(service: str) -> str:
    """IAM's service prefix for a botocore service: its signing name (dynamodb, kms, secretsmanager…)."""
    signing: str = botocore.session.get_session().get_service_model(service).signing_name
    return signing


@cache
def _action_entries(action: str) -> tuple[dict[str, object], ...]:
    service, name = action.split(":", 1)
    return tuple(get_action_data(service, name).get(service, ()))


def action_exists(action: str) -> bool:
    return bool(_action_entries(action))


def resource_scoped(action: str) -> bool:
    """False for actions the Service Authorization Reference lists with no resource type (they need "*")."""
    return any(entry["resource_arn_format"] != "*" for entry in _action_entries(action))


def _dependent_actions(permission: Permission) -> list[Permission]:
    dependents = sorted(
        {
            str(dependent)
            for entry in _action_entries(permission.action)
            for dependent in entry.get("dependent_actions", []) or []  # type: ignore[attr-defined]
        }
    )
    found = []
    for dependent in dependents:
        if dependent.split(":")[0] != permission.action.split(":")[0]:
            raise UnknownOperation(
                f"{permission.action} depends on {dependent} (Service Authorization Reference); say on which resource "
                "in tests/iam/actions.py"
            )
        found.append(Permission(dependent, permission.resource, because=f"{permission.because} (depends)"))
    return found
