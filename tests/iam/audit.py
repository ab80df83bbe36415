"""The audit: for each function, the permissions its recorded calls need against the grants of its role.

Two verdicts, each a list of readable findings (empty when all is well):

- :func:`missing`: a needed permission no statement allows (or one denies): the call fails on AWS.
- :func:`unused`: a granted action, or a statement's resource, that no recorded call of that function needed. SAM's
  policy templates are the usual source (``DynamoDBCrudPolicy`` grants ``Scan``, ``BatchWriteItem`` and every index);
  the fix is an explicit statement of exactly the actions used. When a grant is needed by a path the suite does not
  drive, the fix is the missing test, not keeping the grant on faith.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from tests.iam.actions import Permission, SecretKeys, UnknownOperation, required_permissions, secret_keys
from tests.iam.cloudformation import FunctionRole, Grant
from tests.iam.policy import Decision, applies, decide, expand_actions
from tests.iam.recorder import AwsCall, Recording


@dataclass
class FunctionAudit:
    role: FunctionRole
    calls: list[AwsCall] = field(default_factory=list)
    required: dict[Permission, str] = field(default_factory=dict)  # each permission (no reason) → why it is needed
    errors: list[str] = field(default_factory=list)  # calls the mapping could not translate

    @property
    def name(self) -> str:
        return self.role.logical_id


def audit_functions(recording: Recording, roles: Sequence[FunctionRole]) -> tuple[list[FunctionAudit], list[str]]:
    """One audit per function in the template, and the problems that belong to no function (calls from a code
    directory the template does not deploy, failures inside the recorder)."""
    by_function = {role.function: role for role in roles}
    audits = {role.function: FunctionAudit(role) for role in roles}
    problems = [f"the recorder failed: {error}" for error in recording.errors]
    for function, calls in recording.by_function().items():
        if function not in audits:
            code_dir, module = function
            problems.append(
                f"functions/{code_dir}/{module}.py made AWS calls but no function in the template has that CodeUri "
                "and Handler module"
            )
            continue
        audits[function].calls = sorted(calls, key=lambda call: (call.service, call.operation, call.identifiers))
    keys = secret_keys((by_function[call.function], call) for audit in audits.values() for call in audit.calls)
    for audit in audits.values():
        _require(audit, keys)
    return list(audits.values()), problems


def _require(audit: FunctionAudit, keys: SecretKeys) -> None:
    for call in audit.calls:
        try:
            needed = required_permissions(call, audit.role, keys)
        except UnknownOperation as error:
            audit.errors.append(str(error))
            continue
        for permission in needed:
            audit.required.setdefault(permission.without_reason(), permission.because)
    for need in audit.role.runtime_needs:
        audit.required.setdefault(Permission(need.action, need.resource), need.reason)


def missing(
    audit: FunctionAudit,
    grants: Iterable[Grant] | None = None,
    key_policies: Mapping[str, Sequence[Grant]] | None = None,
) -> list[str]:
    """Needed permissions the role's policies do not allow, and KMS calls the key's own policy does not allow."""
    grants = list(audit.role.grants if grants is None else grants)
    key_policies = audit.role.key_policies if key_policies is None else key_policies
    findings = list(audit.errors)
    for permission, because in audit.required.items():
        decision = decide(grants, permission)
        if decision is not Decision.ALLOWED:
            findings.append(f"{permission.action} on {permission.resource} is {decision.value} (needed by {because})")
        if permission.resource in key_policies:
            key_decision = key_policy_decision(audit.role, key_policies[permission.resource], permission)
            if key_decision is not Decision.ALLOWED:
                findings.append(
                    f"{permission.action} on {permission.resource} is {key_decision.value} in the key policy "
                    f"(needed by {because})"
                )
    return sorted(findings)


def key_policy_decision(role: FunctionRole, key_policy: Sequence[Grant], permission: Permission) -> Decision:
    """KMS allows a call only if the key policy does: for the role itself, for ``*``, or for the account's root
    (which delegates to IAM, checked by :func:`missing` anyway). The role's tags are its aws:PrincipalTag keys
    (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html)."""
    partition, account = (role.role_arn.split(":")[index] for index in (1, 4)) if role.role_arn else ("", "")
    account_root = f"arn:{partition}:iam::{account}:root"
    ours = {"*", role.role_arn, account_root}
    statements = [replace(grant, resources=("*",)) for grant in key_policy if ours & set(grant.principals)]
    context = dict(permission.context)
    context.update({f"aws:PrincipalTag/{key}": (value,) for key, value in role.role_tags.items()})
    context["aws:PrincipalArn"] = (role.role_arn,)
    # A key policy's Resource is "*" (the key itself); match the permission on the key with that.
    keyed = Permission(permission.action, "*", tuple(sorted(context.items())))
    return decide(statements, keyed)


def unused(audit: FunctionAudit, grants: Iterable[Grant] | None = None) -> list[str]:
    grants = list(audit.role.grants if grants is None else grants)
    required = list(audit.required)
    findings = []
    for grant in grants:
        if grant.effect != "Allow":
            continue
        if grant.not_actions or grant.not_resources:
            findings.append(f"{grant.source}: NotAction/NotResource grants more than any recorded call can show used")
            continue
        for action in expand_actions(grant.actions):
            if not any(applies(replace(grant, actions=(action,)), permission) for permission in required):
                findings.append(f"{grant.source}: {action} on {', '.join(grant.resources)}")
        for resource in grant.resources:
            if not any(applies(replace(grant, resources=(resource,)), permission) for permission in required):
                findings.append(f"{grant.source}: resource {resource} (no call needed any of its actions there)")
    return findings


# ---------------------------------------------------------------------------------------------------- for meta-tests


def without_action(grants: Iterable[Grant], action: str) -> list[Grant]:
    """The grants with ``action`` taken out of every Allow statement that grants it (wildcards expanded first)."""
    stripped = []
    for grant in grants:
        actions = expand_actions(grant.actions)
        if grant.effect == "Allow" and any(candidate.lower() == action.lower() for candidate in actions):
            remaining = tuple(candidate for candidate in actions if candidate.lower() != action.lower())
            if remaining:
                stripped.append(replace(grant, actions=remaining))
            continue
        stripped.append(grant)
    return stripped


def with_extra(grants: Iterable[Grant], action: str, resource: str) -> list[Grant]:
    return [*grants, Grant("Allow", (action,), (resource,), source="injected-by-meta-test")]
