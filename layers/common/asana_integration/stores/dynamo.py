"""The two DynamoDB patterns every store repeats: reading all pages of a query, and a condition that did not hold."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


def query_items(table: Table, **query: Any) -> Iterator[dict[str, Any]]:
    """Every item a ``Query`` matches, following ``LastEvaluatedKey`` page by page (each page holds at most 1 MB)."""
    while True:
        page = table.query(**query)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        query = {**query, "ExclusiveStartKey": page["LastEvaluatedKey"]}


def is_condition_failed(error: ClientError) -> bool:
    """Whether a conditional write was refused because its ``ConditionExpression`` did not hold (not a fault)."""
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
