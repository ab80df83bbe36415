"""Asana's webhook target: ``POST /asana/webhook`` and ``POST /asana/webhook/{prefix}``. Public, no JWT.

It fails closed: a handshake is accepted only by an armed prefix, once; a delivery only with its webhook's signature
(``asana_integration/webhooks/receiver.py`` has the rules). Verified events are queued for the consumer
(``consumer.py``) and answered at once: Asana gives a delivery 10 seconds.

Lean on purpose: no API resolver, no pydantic configuration. This function reads its three settings from the
environment itself, so a cold start costs little more than importing boto3 (``make bench`` measures the ratio).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3

from asana_integration.stores.field_crypto import WebhookSecretCipher
from asana_integration.stores.webhooks import WebhookStore
from asana_integration.webhooks.queue import WebhookEventQueue
from asana_integration.webhooks.receiver import WebhookReceiver

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


def receiver() -> WebhookReceiver:
    """This execution environment's receiver, with its clients and its cache of decrypted secrets.

    The variables are template.yaml's (``TABLE_NAME``, ``KMS_KEY_ID`` from Globals, ``WEBHOOK_EVENTS_QUEUE_URL`` on
    the function). On AWS they never change; the local gateway and the tests get a new receiver when they do.
    """
    return _receiver_for(os.environ["TABLE_NAME"], os.environ["KMS_KEY_ID"], os.environ["WEBHOOK_EVENTS_QUEUE_URL"])


@lru_cache(maxsize=1)
def _receiver_for(table_name: str, key_id: str, queue_url: str) -> WebhookReceiver:
    table = boto3.resource("dynamodb").Table(table_name)
    queue = WebhookEventQueue(boto3.client("sqs"), queue_url)
    return WebhookReceiver(WebhookStore(table, WebhookSecretCipher(boto3.client("kms"), key_id)), queue)


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Not Powertools' inject_lambda_context: it would cost more than the rest of a delivery's handling on every
    # invocation, for log lines written only on a refusal or a handshake; those carry the request ids themselves.
    return receiver().receive_http_event(event, context.aws_request_id)
