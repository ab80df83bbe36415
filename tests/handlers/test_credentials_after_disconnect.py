"""Disconnect, then save again, through the settings function: AWS's deletion window answers 200 or a clear 409.

On AWS a secret deleted without a recovery window disappears asynchronously; until it has, ``PutSecretValue`` and a
``CreateSecret`` of its name answer ``InvalidRequestException``. moto deletes at once, so the window is injected:
the function's own Secrets Manager client answers that error for the next few writes, then moto answers as usual.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from asana_integration.stores.credentials import CredentialStore
from local.asana_sandbox import demo
from tests import log_audit

SETTINGS = "/asana/api/settings"
CREDENTIALS = {"client_id": demo.DEMO_APP_CLIENT_ID, "client_secret": demo.DEMO_APP_CLIENT_SECRET, "pat": demo.DEMO_PAT}
log_audit.remember(demo.DEMO_PAT, demo.DEMO_APP_CLIENT_SECRET)

WRITES = frozenset({"PutSecretValue", "CreateSecret"})


class DeletionWindow:
    """Answers ``InvalidRequestException`` to the next ``writes`` secret writes, as AWS does while it deletes."""

    def __init__(self, writes: int) -> None:
        self.remaining = writes
        self.refused: list[str] = []

    def __call__(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if model.name not in WRITES or self.remaining <= 0:
            return None
        self.remaining -= 1
        self.refused.append(model.name)
        error = {"Code": "InvalidRequestException", "Message": "The secret is scheduled for deletion."}
        return AWSResponse(None, 400, {}, None), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def deletion_window(services, waits) -> Callable[[int], DeletionWindow]:
    """Open a deletion window of ``writes`` refused writes on the settings function's Secrets Manager client."""
    client = boto3.client("secretsmanager")
    services.credentials = CredentialStore(services.config, client, sleep=waits.append)

    def open_window(writes: int) -> DeletionWindow:
        window = DeletionWindow(writes)
        client.meta.events.register("before-call.secrets-manager", window)
        return window

    return open_window


def stored_client_id(org_id: str = "org-a") -> str | None:
    client = boto3.client("secretsmanager")
    try:
        value = client.get_secret_value(SecretId=f"securedb-asana/{org_id}")
    except client.exceptions.ResourceNotFoundException:
        return None
    return str(json.loads(value["SecretString"])["client_id"])


def test_saving_right_after_a_disconnect_waits_for_the_deletion_and_connects(settings_api, deletion_window, waits):
    settings_api("PUT", SETTINGS, body=CREDENTIALS)
    assert settings_api("DELETE", SETTINGS)[0] == 200
    window = deletion_window(3)

    status, body = settings_api("PUT", SETTINGS, body=CREDENTIALS)

    assert status == 200
    assert body["connection"]["state"] == "connected"
    assert window.refused == ["PutSecretValue"] * 3
    assert len(waits) == 3
    assert stored_client_id() == demo.DEMO_APP_CLIENT_ID


def test_a_deletion_that_does_not_complete_in_time_answers_409_and_stores_nothing(settings_api, deletion_window, waits):
    settings_api("PUT", SETTINGS, body=CREDENTIALS)
    settings_api("DELETE", SETTINGS)
    deletion_window(1000)

    status, body = settings_api("PUT", SETTINGS, body=CREDENTIALS)

    assert status == 409
    assert body["error"]["code"] == "disconnect_in_progress"
    assert body["error"]["message"] == "A disconnect is still being completed; try again in a minute."
    assert body["error"]["fix"]
    assert waits, "it waited before giving up"
    assert stored_client_id() is None
    assert settings_api("GET", SETTINGS)[1]["connection"]["state"] == "not_configured"
