"""Runs after every other test: each function's recorded AWS calls against its role after the SAM transform.

A missing permission is judged on any run. A grant no call needed is judged only when the whole suite ran (a subset
records a subset of the calls). The meta-tests prove the audit has teeth on this very recording: take out any one
needed action and it fails; add one nobody needs and it fails.
"""

from __future__ import annotations

import pytest
from policy_sentry.querying.actions import get_actions_for_service

from tests.iam import audit, cloudformation, recorder, suite
from tests.iam.actions import Permission
from tests.iam.policy import action_matches

FIX_UNUSED = (
    "Remove each from the function's Policies in template.yaml (replace SAM policy templates with explicit statements "
    "of the actions used), or, if production needs it on a path no test drives, add that test."
)


@pytest.fixture(scope="module")
def audited() -> tuple[list[audit.FunctionAudit], list[str]]:
    return audit.audit_functions(recorder.RECORDING, cloudformation.function_roles())


@pytest.fixture(scope="module")
def exercised(audited: tuple[list[audit.FunctionAudit], list[str]]) -> list[audit.FunctionAudit]:
    functions = [found for found in audited[0] if found.calls]
    if not functions:
        pytest.skip("no function made an AWS call in this run (run the whole suite)")
    return functions


def _report(findings: dict[str, list[str]], shown: int = 15) -> str:
    def lines(found: list[str]) -> str:
        more = f"\n  … and {len(found) - shown} more" if len(found) > shown else ""
        return "\n".join(f"  - {line}" for line in found[:shown]) + more

    return "\n".join(f"{name}:\n{lines(found)}" for name, found in findings.items())


def test_the_recorder_is_live() -> None:
    assert not recorder.RECORDING.errors, f"the recorder failed: {recorder.RECORDING.errors[:3]}"
    if suite.SUITE.incomplete_because() is None:
        # The whole suite makes AWS calls from the functions; none recorded means the hook was never installed.
        assert recorder.RECORDING.calls, "the whole suite ran but no function's AWS call was recorded"


def test_every_recorded_call_is_allowed_by_its_function_s_role(audited) -> None:
    audits, problems = audited
    assert not problems, "\n".join(problems)
    findings = {found.name: missing for found in audits if (missing := audit.missing(found))}
    assert not findings, "calls AWS would refuse:\n" + _report(findings)


def test_every_granted_action_is_needed_by_a_recorded_call(audited) -> None:
    incomplete = suite.SUITE.incomplete_because()
    if incomplete:
        pytest.skip(f"unused grants are judged only when the whole suite ran: {incomplete}")
    findings = {found.name: unused for found in audited[0] if (unused := audit.unused(found))}
    skipped = suite.SUITE.skipped
    note = f"\n({len(skipped)} skipped tests recorded nothing, e.g. {skipped[:3]})" if skipped else ""
    assert not findings, f"grants no recorded call needed:\n{_report(findings)}\n{FIX_UNUSED}{note}"


# -------------------------------------------------------------------------------------------------------- teeth


def test_taking_out_any_needed_action_fails_the_audit(exercised: list[audit.FunctionAudit]) -> None:
    for found in exercised:
        for action in sorted({permission.action for permission in found.required}):
            reduced = audit.without_action(found.role.grants, action)
            findings = audit.missing(found, reduced)
            assert any(finding.startswith(f"{action} on ") for finding in findings), (
                f"{found.name} without {action}: the audit did not notice"
            )


def test_taking_an_action_out_of_the_key_policy_fails_the_audit(exercised: list[audit.FunctionAudit]) -> None:
    checked = 0
    for found in exercised:
        for permission in found.required:
            key_policy = found.role.key_policies.get(permission.resource)
            if key_policy is None:
                continue
            reduced = {permission.resource: audit.without_action(key_policy, permission.action)}
            findings = audit.missing(found, key_policies=reduced)
            assert any(
                f"{permission.action} on {permission.resource} is" in f and "key policy" in f for f in findings
            ), f"{found.name}: the key policy without {permission.action}, and the audit did not notice"
            checked += 1
    if not checked:
        incomplete = suite.SUITE.incomplete_because()
        assert incomplete, "the whole suite ran, yet no recorded call used a KMS key of the template"
        pytest.skip(f"no recorded call used a KMS key of the template: {incomplete}")


def test_adding_an_action_no_call_needs_fails_the_audit(exercised: list[audit.FunctionAudit]) -> None:
    for found in exercised:
        needed = {permission.action for permission in found.required}
        for permission in _one_per_service(found.required):
            service = permission.action.split(":")[0]
            extra = next(action for action in get_actions_for_service(service) if not action_matches(needed, action))
            widened = audit.with_extra(found.role.grants, extra, permission.resource)
            assert f"injected-by-meta-test: {extra} on {permission.resource}" in audit.unused(found, widened), (
                f"{found.name} with an extra {extra}: the audit did not notice"
            )


def test_granting_a_needed_action_on_another_resource_fails_the_audit(exercised: list[audit.FunctionAudit]) -> None:
    for found in exercised:
        for permission in _one_per_service(found.required):
            if permission.resource == "*":
                continue
            sibling = f"{permission.resource}-other"  # another table, key or secret
            widened = audit.with_extra(found.role.grants, permission.action, sibling)
            assert f"injected-by-meta-test: resource {sibling} (no call needed any of its actions there)" in (
                audit.unused(found, widened)
            ), f"{found.name} granting {permission.action} on {sibling}: the audit did not notice"


def _one_per_service(required: dict[Permission, str]) -> list[Permission]:
    chosen: dict[str, Permission] = {}
    for permission in sorted(required, key=lambda p: (p.action, p.resource)):
        chosen.setdefault(permission.action.split(":")[0], permission)
    return list(chosen.values())
