"""``partition_scoped_queries`` (local/moto_costs.py) changes what moto's Query costs, never what it answers: every
kind of Query the stores make, and an index's, answers the same with it as without it."""

from __future__ import annotations

from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr, Key
from moto import mock_aws

from local.moto_costs import partition_scoped_queries

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


def test_queries_answer_the_same_with_partition_scoped_queries():
    with mock_aws():
        table = boto3.resource("dynamodb", region_name="us-east-1").create_table(
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
