"""What the webhook tests share: the template's webhook resources in moto, signed deliveries as Asana sends them, and
the consumer driven the way Lambda drives it from the queue (batches, partial failures, redelivery, redrive)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from asana_integration.models.credentials import OrgCredentials
from asana_integration.models.webhooks import WebhookKind
from asana_integration.stores.field_crypto import WebhookSecretCipher
from asana_integration.stores.webhooks import WebhookStore
from asana_integration.web.dependencies import Services
from local.asana_sandbox import AsanaSandbox, demo
from tests.aws import AwsResources
from tests.events import LambdaContext, http_event
from tests.handlers.conftest import function_module
from tests.sync_harness import LoopStats, SqsLoop, mirror_contents

SECRET = "8f14e45fceea167a5a36dedd4bea2543" * 2  # 64 hex characters, like Asana's example
HOOK_ROUTE = "/asana/webhook/{prefix}"


@dataclass(frozen=True)
class WebhookResources:
    table_name: str
    kms_key_arn: str
    queue_url: str
    dead_letter_url: str
    idempotency_table_name: str

    def store(self, **kwargs: Any) -> WebhookStore:
        table = boto3.resource("dynamodb").Table(self.table_name)
        return WebhookStore(table, WebhookSecretCipher(boto3.client("kms"), self.kms_key_arn), **kwargs)

    def take_queued(self) -> list[dict[str, Any]]:
        """The message bodies in the events queue, taken off it (received and deleted)."""
        sqs = boto3.client("sqs")
        bodies = []
        while True:
            messages = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


def webhook_resources(resources: AwsResources) -> WebhookResources:
    return WebhookResources(
        resources.table_name,
        resources.kms_key_arn,
        resources.webhook_events_queue_url,
        resources.webhook_events_dead_letter_url,
        resources.idempotency_table_name,
    )


# --- Webhooks and deliveries ----------------------------------------------------------------------------------------


def arm(
    resources: WebhookResources,
    *,
    org: str = "org-a",
    kind: WebhookKind = WebhookKind.CREATED,
    window_seconds: float = 60,
    resource: str | None = "1201",
) -> str:
    return resources.store().create_pending(
        org,
        kind,
        resource=resource,
        filters=[],
        created_by="admin-a",
        deadline=time.time() + window_seconds,
        resource_type="project",
    )


def active_webhook(resources: WebhookResources, *, org: str = "org-a", secret: str = SECRET, **kwargs: Any) -> str:
    """A webhook created from SecureDB whose handshake and 201 cross-check are done."""
    store = resources.store()
    prefix = arm(resources, org=org, **kwargs)
    assert store.accept_handshake(prefix, secret, time.time())
    assert store.activate(prefix, asana_gid="9901")
    return prefix


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    base64_body: bool = False,
    prefix: str | None = None,
) -> dict[str, Any]:
    """The webhook function's raw API Gateway result for a POST of exactly ``body``, as API Gateway delivers it: as
    text, or base64-encoded (``base64_body``, what API Gateway does with a body it does not take for text)."""
    event = http_event(
        "POST",
        path,
        route_path=HOOK_ROUTE if prefix is not None else path,
        headers=headers,
        path_parameters={"prefix": prefix} if prefix is not None else None,
    )
    if body:
        event["body"] = base64.b64encode(body).decode() if base64_body else body.decode("utf-8")
        event["isBase64Encoded"] = base64_body
    response: dict[str, Any] = function_module("webhook").lambda_handler(event, LambdaContext(timeout_seconds=10))
    return response


def handshake(prefix: str | None, secret: str = SECRET) -> dict[str, Any]:
    path = f"/asana/webhook/{prefix}" if prefix is not None else "/asana/webhook"
    return post(path, headers={"X-Hook-Secret": secret}, prefix=prefix)


def deliver(prefix: str, events: list[dict[str, Any]], *, secret: str = SECRET, **kwargs: Any) -> dict[str, Any]:
    body = json.dumps({"events": events}).encode()
    return post(
        f"/asana/webhook/{prefix}", headers={"X-Hook-Signature": sign(body, secret)}, body=body, prefix=prefix, **kwargs
    )


def error_code(response: dict[str, Any]) -> str:
    return str(json.loads(response["body"])["error"]["code"])


# --- The consumer against the sandbox ----------------------------------------------------------------------------


ORG = "org-a"


@dataclass
class WebhookWorld:
    """An organization connected with the demo PAT, one imported project, an active webhook on it, and the
    consumer reading the events queue as Lambda's event source does (``SqsLoop``)."""

    services: Services
    resources: WebhookResources
    sandbox: AsanaSandbox
    loop: SqsLoop
    prefix: str

    @property
    def changes(self) -> Any:
        """The sandbox's writes, as its control API makes them (each records Asana's events)."""
        return self.sandbox.state.changes

    @property
    def store(self) -> Any:
        return self.sandbox.state.store

    def events_of(self, stream: str, since: int = 0) -> list[dict[str, Any]]:
        """The events Asana recorded for a resource (a project's include its tasks'), as a webhook delivers them."""
        return [event.render() for event in self.sandbox.state.events.events_for(stream)[since:]]

    def deliver(self, events: list[dict[str, Any]], prefix: str | None = None) -> None:
        response = deliver(prefix or self.prefix, events)
        assert response["statusCode"] == 200, response

    def consume(self) -> LoopStats:
        return self.loop.drain()

    def contents(self) -> dict[str, dict[str, Any]]:
        return mirror_contents(self.services.mirror_table, ORG)


def connect(services: Services, org_id: str = ORG) -> None:
    """The organization's saved settings with the demo PAT (what Save Asana Settings leaves)."""
    credentials = OrgCredentials(
        client_id=demo.DEMO_APP_CLIENT_ID, client_secret=demo.DEMO_APP_CLIENT_SECRET, pat=demo.DEMO_PAT
    )
    services.credentials.save(org_id, credentials)


def webhook_world(
    monkeypatch: pytest.MonkeyPatch,
    resources: WebhookResources,
    sandbox: AsanaSandbox,
    *,
    imported: tuple[str, ...],
    services: Services | None = None,
) -> WebhookWorld:
    """With ``services`` given, the organization is connected as they left it; else with the demo PAT."""
    if services is None:
        services = Services()
        connect(services)
    for project_gid in imported:
        services.sync_state.add_import(ORG, project_gid, imported_by="admin-a")
    consumer = function_module("webhook", "consumer")
    monkeypatch.setattr(consumer, "get_services", lambda: services)
    monkeypatch.setattr(consumer, "_current", consumer._Current())
    loop = SqsLoop(resources.queue_url, consumer, batch_size=10, timeout_seconds=60, queue_arn=QUEUE_ARN)
    return WebhookWorld(services, resources, sandbox, loop, active_webhook(resources))


QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:webhook-events"


def dead_letters(resources: WebhookResources) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=resources.dead_letter_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]
