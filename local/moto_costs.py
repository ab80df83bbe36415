"""moto's whole-table costs made DynamoDB's item-level ones: the same answers, at the cost DynamoDB has.

moto copies every table a ``TransactWriteItems`` names, and sorts a whole table for every ``Query``. With a large
organization mirrored, those two make moto, not the code under test, take most of the time and gigabytes of memory.
The local stack's moto server runs with both for its whole life (``local/aws.py``); the in-process sync tests and
benchmarks enter them around their runs. ``tests/unit/test_sync_harness_queries.py`` proves the Query answers equal.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import moto.dynamodb.models as moto_dynamodb
import moto.dynamodb.models.table as moto_table
from moto.dynamodb.exceptions import TransactionCanceledException
from moto.dynamodb.models.dynamo_type import DynamoType


@contextmanager
def item_level_transaction_backups() -> Iterator[None]:
    """moto backs up every table a ``TransactWriteItems`` names (a deep copy, once per item) to roll back a cancelled
    transaction: one unit's completion then copies the whole mirror, minutes for a large organization. Here the
    backup is the items the transaction names, restored the same way when it is cancelled: the same outcome. Like
    moto's own, it assumes one DynamoDB request at a time (in-process tests; the local stack serializes them)."""
    backend_class = moto_dynamodb.DynamoDBBackend
    original = backend_class.transact_write_items

    class _NoTableCopy:
        @staticmethod
        def deepcopy(value: Any) -> Any:
            return value  # moto's own "backup": the table itself, so its "restore" changes nothing

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for action in transact_items:
            _, op = next(iter(action.items()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            attributes = op.get("Key") or op["Item"]
            hash_key = DynamoType(attributes[table.hash_key_attr])
            range_key = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
            current = table.get_item(hash_key, range_key)
            saved.append((table, hash_key, range_key, copy.deepcopy(current)))
        try:
            with mock.patch.object(moto_dynamodb, "copy", _NoTableCopy):
                original(self, transact_items)
        except TransactionCanceledException:
            for table, hash_key, range_key, item in saved:
                table.delete_item(hash_key, range_key)
                if item is not None:
                    if range_key is not None:
                        table.items[hash_key][range_key] = item
                    else:
                        table.items[hash_key] = item
            raise

    with mock.patch.object(backend_class, "transact_write_items", transact_write_items):
        yield


@contextmanager
def partition_scoped_queries() -> Iterator[None]:
    """moto answers every ``Query`` by sorting the whole table (``Table.all_items``) and only then keeping the queried
    partition: with a large organization mirrored, each Query sorts tens of thousands of items, and a sync or a paged
    read of the mirror spends most of its time there. DynamoDB reads the partition only. Here a Query of a table (not
    of an index) starts from its partition's items alone; moto sorts, pages and filters them as before: the same
    answer. Per thread, so concurrent requests (the local stack's moto server) each see their own."""
    table_class = moto_table.Table
    original_query, original_all_items = table_class.query, table_class.all_items
    scoped = threading.local()

    def all_items(self: Any) -> list[Any]:
        partition = getattr(scoped, "partition", None)
        if partition is not None and partition[0] is self:
            return list(partition[1])
        return original_all_items(self)

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name is not None or hash_key is None or not self.range_key_attr:
            return original_query(self, hash_key, *args, **kwargs)
        scoped.partition = (self, list(self.items.get(hash_key, {}).values()))
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            scoped.partition = None

    with mock.patch.multiple(table_class, query=query, all_items=all_items):
        yield
