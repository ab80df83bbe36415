"""AWS resources for tests, created in moto from ``template.yaml``'s own definitions (they cannot drift)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3

from local.template import load_template, table_definition, ttl_attribute


@dataclass(frozen=True)
class AwsResources:
    table_name: str
    kms_key_arn: str
    mirror_table_name: str
    sync_queue_url: str
    sync_dead_letter_url: str
    webhook_events_queue_url: str
    webhook_events_dead_letter_url: str
    idempotency_table_name: str


def create_resources(table_name: str = "asana-integration-test") -> AwsResources:
    dynamodb = boto3.client("dynamodb")
    tables = {
        "IntegrationTable": table_name,
        "MirrorTable": f"{table_name}-mirror",
        "IdempotencyTable": f"{table_name}-idempotency",
    }
    for logical_id, name in tables.items():
        dynamodb.create_table(TableName=name, **table_definition(logical_id))
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": ttl_attribute(logical_id), "Enabled": True},
        )
    key = boto3.client("kms").create_key(Description="asana integration test key")
    dead_letter_url = _create_queue("SyncQueueDeadLetter", f"{table_name}-sync-dlq", {})
    sync_queue_url = _create_queue("SyncQueue", f"{table_name}-sync", {"SyncQueueDeadLetter": dead_letter_url})
    webhook_dead_letter_url = _create_queue("WebhookEventsDeadLetter", f"{table_name}-webhook-events-dlq", {})
    webhook_queue_url = _create_queue(
        "WebhookEventsQueue", f"{table_name}-webhook-events", {"WebhookEventsDeadLetter": webhook_dead_letter_url}
    )
    return AwsResources(
        table_name=table_name,
        kms_key_arn=key["KeyMetadata"]["Arn"],
        mirror_table_name=tables["MirrorTable"],
        sync_queue_url=sync_queue_url,
        sync_dead_letter_url=dead_letter_url,
        webhook_events_queue_url=webhook_queue_url,
        webhook_events_dead_letter_url=webhook_dead_letter_url,
        idempotency_table_name=tables["IdempotencyTable"],
    )


def _create_queue(logical_id: str, name: str, created: dict[str, str]) -> str:
    """The queue with the template's visibility timeout, retention and redrive policy (its DLQ created before)."""
    sqs = boto3.client("sqs")
    props: dict[str, Any] = load_template()["Resources"][logical_id]["Properties"]
    attributes = {key: str(props[key]) for key in ("VisibilityTimeout", "MessageRetentionPeriod") if key in props}
    if "RedrivePolicy" in props:
        target = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        arn = sqs.get_queue_attributes(QueueUrl=created[target], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = {"deadLetterTargetArn": arn, "maxReceiveCount": int(props["RedrivePolicy"]["maxReceiveCount"])}
        attributes["RedrivePolicy"] = json.dumps(redrive)
    return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
