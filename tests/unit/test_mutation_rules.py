"""The rules `make mutation` excludes surviving mutants by (tests/mutation): an exclusion that matched too much would
hide a real survivor, so each rule is checked on what it must and must not match."""

from __future__ import annotations

import pytest

from tests.mutation.__main__ import Change, only_keyword_case_changes
from tests.mutation.fastest_first import module_words


@pytest.mark.parametrize(
    ("original", "mutant"),
    [
        ('UpdateExpression="SET used_at = :now",', 'UpdateExpression="set used_at = :now",'),
        (
            '"ConditionExpression": "attribute_exists(pk) AND #state <> :deleted",',
            '"ConditionExpression": "attribute_exists(pk) and #state <> :deleted",',
        ),
        ('"SET #state = :active REMOVE expires_at"', '"set #state = :active remove expires_at"'),
    ],
)
def test_lower_cased_expression_keywords_are_equivalent(original, mutant):
    assert only_keyword_case_changes(Change("f", original, mutant))


@pytest.mark.parametrize(
    ("original", "mutant"),
    [
        # an attribute name changes too: DynamoDB's names are case-sensitive
        ('UpdateExpression="SET usedAt = :now",', 'UpdateExpression="set usedat = :now",'),
        # a placeholder changes
        ('UpdateExpression="SET a = :Now",', 'UpdateExpression="set a = :now",'),
        # no expression on the line: an HTTP method, an enum value, a message
        ('method="DELETE",', 'method="delete",'),
        # not a case change
        ('UpdateExpression="SET a = :now",', 'UpdateExpression="XXSET a = :nowXX",'),
        ('UpdateExpression="SET a = :now",', 'UpdateExpression="SET A = :NOW",'),
        # several lines: judged one by one by a listed exclusion instead
        ('x = "SET a = :a"\ny = "AND"', 'x = "set a = :a"\ny = "and"'),
    ],
)
def test_anything_else_is_not_excluded_by_the_keyword_rule(original, mutant):
    assert not only_keyword_case_changes(Change("f", original, mutant))


@pytest.mark.parametrize(
    ("mutant", "words"),
    [
        ("asana_integration.asana.transport.x_send__mutmut_3", ("transport",)),
        ("asana_integration.stores.webhooks.xǁWebhookStoreǁget__mutmut_1", ("webhooks", "webhook")),
        ("asana_integration.identity.x__identifier__mutmut_2", ("identity",)),
        ("stats", ()),  # mutmut's own runs (statistics, clean tests): no module comes first
        ("", ()),
    ],
)
def test_a_mutants_own_test_files_are_found_by_its_module_name(mutant, words):
    assert module_words(mutant) == words
