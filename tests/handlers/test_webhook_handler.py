"""Until webhooks are registered from the settings (later work), the target refuses everything and stores nothing."""

from __future__ import annotations

import boto3
import pytest

from tests.handlers.conftest import function_module, make_caller


@pytest.mark.parametrize("path", ["/asana/webhook", "/asana/webhook/abc123"])
def test_an_unexpected_handshake_is_refused_and_its_secret_not_stored(aws_with_sandbox, path):
    call = make_caller(function_module("webhook"))
    planted = "f" * 64

    status, body = call(
        "POST",
        path,
        route_path="/asana/webhook/{prefix}" if path.endswith("abc123") else path,
        anonymous=True,
        body="",
    )

    assert status == 404
    assert body["error"]["code"] == "unknown_webhook"
    items = boto3.client("dynamodb").scan(TableName=aws_with_sandbox.table_name)["Items"]
    assert planted not in str(items)
    assert items == []
