"""The DynamoDB patterns every store repeats: reading all pages of a query, a condition that did not hold, and
items back as plain JSON values."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
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


def plain_values(value: Any) -> Any:
    """An item's values as JSON's: DynamoDB gives every number back as a ``Decimal``."""
    if isinstance(value, Mapping):
        return {str(k): plain_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_values(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == int(value) else float(value)
    return value
