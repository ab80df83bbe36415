"""local/moto_costs.py changes what moto's calls cost, never what they answer: every kind of Query the stores make,
and an index's, answers the same with ``partition_scoped_queries`` as without it, and a transaction, written or
cancelled, leaves the same items with ``item_level_transaction_backups`` as without it."""

from __future__ import annotations

import contextlib
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError
from moto import mock_aws

from local.moto_costs import item_level_transaction_backups, partition_scoped_queries

QUERIES: list[dict[str, Any]] = [
    {"KeyConditionExpression": Key("pk").eq("ORG#a#TASK#1")},
    {"KeyConditionExpression": Key("pk").eq("ORG#a#MEMBERSHIP") & Key("sk").begins_with("2#")},
    {"KeyConditionExpression": Key("pk").eq("ORG#a#TASK#1"), "Limit": 7},
    {
        "KeyConditionExpression": Key("pk").eq("ORG#a#TASK#1"),
        "Limit": 7,
        "ExclusiveStartKey": {"pk": "ORG#a#TASK#1", "sk": "0013"},
    },
    {"KeyConditionExpression": Key("pk").eq("ORG#a#TASK#1"), "FilterExpression": Attr("deleted_at").not_exists()},
    {"KeyConditionExpression": Key("pk").eq("ORG#a#TASK#1"), "ScanIndexForward": False, "Limit": 5},
    {"KeyConditionExpression": Key("pk").eq("ORG#a#TASK#1") & Key("sk").between("0005", "0011")},
    {"KeyConditionExpression": Key("pk").eq("ORG#nobody#TASK#1")},
    {"KeyConditionExpression": Key("kind").eq("task"), "IndexName": "by-kind"},
]


def _table() -> Any:
    return boto3.resource("dynamodb", region_name="us-east-1").create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "kind")],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-kind",
                "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def test_queries_answer_the_same_with_partition_scoped_queries():
    with mock_aws():
        table = _table()
        with table.batch_writer() as batch:
            for number in range(30):
                item = {"pk": f"ORG#a#TASK#{number % 3}", "sk": f"{number:04d}", "kind": "task"}
                batch.put_item(Item={**item, "deleted_at": "2026-01-01"} if number % 4 == 0 else item)
                batch.put_item(Item={"pk": "ORG#a#MEMBERSHIP", "sk": f"{number % 5}#{number:04d}", "kind": "m"})

        plain = [table.query(**query) for query in QUERIES]
        with partition_scoped_queries():
            scoped = [table.query(**query) for query in QUERIES]

    for query, without, with_patch in zip(QUERIES, plain, scoped, strict=True):
        for field in ("Items", "Count", "ScannedCount", "LastEvaluatedKey"):
            assert with_patch.get(field) == without.get(field), (query, field)
    assert all(answer["Items"] for answer in plain[:-2])  # every query but the empty partition's finds something


def _transactions(patched: bool) -> list[list[dict[str, Any]]]:
    """The table's items after a transaction DynamoDB writes, then after one it cancels (a failed condition)."""
    with mock_aws():
        table = _table()
        table.put_item(Item={"pk": "A", "sk": "1", "n": 1})
        client = table.meta.client

        def transact(condition: str) -> None:
            client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": "t", "Item": {"pk": "B", "sk": "1", "n": 2}}},
                    {
                        "Update": {
                            "TableName": "t",
                            "Key": {"pk": "A", "sk": "1"},
                            "UpdateExpression": "SET n = n + :one",
                            "ConditionExpression": condition,
                            "ExpressionAttributeValues": {":one": 1},
                        }
                    },
                ]
            )

        def items() -> list[dict[str, Any]]:
            return sorted(table.scan()["Items"], key=lambda item: (item["pk"], item["sk"]))

        snapshots = []
        with item_level_transaction_backups() if patched else contextlib.nullcontext():
            transact("attribute_exists(pk)")
            snapshots.append(items())
            table.delete_item(Key={"pk": "B", "sk": "1"})
            with pytest.raises(ClientError, match="TransactionCanceledException"):
                transact("attribute_not_exists(pk)")
            snapshots.append(items())
        return snapshots


def test_transactions_leave_the_same_items_with_item_level_backups():
    written, cancelled = _transactions(patched=True)

    assert [written, cancelled] == _transactions(patched=False)
    assert [item["n"] for item in written] == [2, 2]  # the write took effect
    assert [(item["pk"], item["n"]) for item in cancelled] == [("A", 2)]  # the cancelled one left nothing behind
