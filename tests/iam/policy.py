"""IAM's evaluation of identity-policy statements, for the parts this project's policies use.

- ``Action``/``NotAction`` match case-insensitively, ``Resource``/``NotResource`` case-sensitively, both with ``*``
  (any run of characters, ``:`` and ``/`` included) and ``?`` (one character).
- An explicit ``Deny`` wins over any ``Allow``; with no ``Allow`` the request is implicitly denied.
- Conditions: the string, ARN, ``Bool`` and ``Null`` operators, with ``IfExists`` and the ``ForAllValues:`` /
  ``ForAnyValue:`` set qualifiers, against the context keys a :class:`~tests.iam.actions.Permission` carries. A key the
  request does not carry fails a positive operator and satisfies a negated one, as AWS documents
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
  An operator outside that list raises :class:`UnsupportedCondition` rather than guessing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from functools import cache

from policy_sentry.querying.actions import get_actions_for_service

from tests.iam.actions import Permission
from tests.iam.cloudformation import Grant


class UnsupportedCondition(Exception):
    pass


class Decision(Enum):
    ALLOWED = "allowed"
    IMPLICIT_DENY = "not allowed by any statement"
    EXPLICIT_DENY = "explicitly denied"


@cache
def _pattern(glob: str, *, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in glob)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def wildcard_match(glob: str, value: str, *, ignore_case: bool = False) -> bool:
    return _pattern(glob, ignore_case=ignore_case).match(value) is not None


def action_matches(patterns: Iterable[str], action: str) -> bool:
    return any(wildcard_match(pattern, action, ignore_case=True) for pattern in patterns)


def resource_matches(patterns: Iterable[str], resource: str) -> bool:
    # A required "*" (an action with no resource types) is only granted by a statement whose Resource is "*".
    if resource == "*":
        return "*" in patterns
    return any(wildcard_match(pattern, resource) for pattern in patterns)


def applies(grant: Grant, permission: Permission) -> bool:
    """Whether ``grant`` (Allow or Deny) covers ``permission``: action, resource and conditions."""
    if grant.not_actions:
        action_ok = not action_matches(grant.not_actions, permission.action)
    else:
        action_ok = action_matches(grant.actions, permission.action)
    if grant.not_resources:
        resource_ok = not resource_matches(grant.not_resources, permission.resource)
    else:
        resource_ok = resource_matches(grant.resources, permission.resource)
    return action_ok and resource_ok and conditions_hold(grant.conditions, permission.context_map)


def decide(grants: Iterable[Grant], permission: Permission) -> Decision:
    matching = [grant for grant in grants if applies(grant, permission)]
    if any(grant.effect == "Deny" for grant in matching):
        return Decision.EXPLICIT_DENY
    if any(grant.effect == "Allow" for grant in matching):
        return Decision.ALLOWED
    return Decision.IMPLICIT_DENY


# ---------------------------------------------------------------------------------------------------- conditions


def _equals(expected: str, actual: str) -> bool:
    return expected == actual


def _equals_ignore_case(expected: str, actual: str) -> bool:
    return expected.lower() == actual.lower()


# operator → (how one expected value compares with one actual value, whether the operator is negated)
_STRING_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (_equals, False),
    "StringNotEquals": (_equals, True),
    "StringEqualsIgnoreCase": (_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_equals_ignore_case, True),
    "StringLike": (wildcard_match, False),
    "StringNotLike": (wildcard_match, True),
    "ArnEquals": (_equals, False),
    "ArnNotEquals": (_equals, True),
    "ArnLike": (wildcard_match, False),
    "ArnNotLike": (wildcard_match, True),
    "Bool": (_equals_ignore_case, False),
}


def conditions_hold(
    conditions: Mapping[str, Mapping[str, tuple[str, ...]]], context: Mapping[str, tuple[str, ...]]
) -> bool:
    return all(
        _condition_holds(operator, key, expected, context)
        for operator, clauses in conditions.items()
        for key, expected in clauses.items()
    )


def _condition_holds(
    operator: str, key: str, expected: tuple[str, ...], context: Mapping[str, tuple[str, ...]]
) -> bool:
    # Condition keys are case-insensitive; their values are not (unless the operator says so).
    actual = next((values for name, values in context.items() if name.lower() == key.lower()), None)
    if operator == "Null":
        return (actual is None) == (expected[0].lower() == "true")
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base not in _STRING_OPERATORS or qualifier not in ("", "ForAllValues", "ForAnyValue"):
        raise UnsupportedCondition(f"{operator}: teach tests/iam/policy.py this condition operator")
    compare, negated = _STRING_OPERATORS[base]

    def matches(value: str) -> bool:
        return any(compare(pattern, value) for pattern in expected)

    if actual is None:
        if if_exists or qualifier == "ForAllValues":
            return True  # ForAllValues over an empty set, or IfExists with no key: satisfied
        return negated and qualifier != "ForAnyValue"
    if qualifier == "ForAllValues":
        return all(matches(value) != negated for value in actual)
    if qualifier == "ForAnyValue":
        return any(matches(value) != negated for value in actual)
    # A single-valued key: a plain operator compares its one value.
    return all(matches(value) != negated for value in actual)


# ---------------------------------------------------------------------------------------------------- expansion


def expand_actions(patterns: Iterable[str]) -> list[str]:
    """Every IAM action a statement's ``Action`` list names, wildcards expanded with the Service Authorization
    Reference; a pattern matching no known action is kept as written (so it shows up as granted and unused)."""
    actions: list[str] = []
    for pattern in patterns:
        service = pattern.split(":", 1)[0]
        if "*" not in pattern and "?" not in pattern:
            actions.append(pattern)
            continue
        known = [
            action for action in get_actions_for_service(service) if wildcard_match(pattern, action, ignore_case=True)
        ]
        actions += known or [pattern]
    return sorted(set(actions), key=actions.index)
