"""AWS resources for tests, created in moto from ``template.yaml``'s own definitions (they cannot drift)."""

from __future__ import annotations

from dataclasses import dataclass

import boto3

from local.template import table_definition, ttl_attribute


@dataclass(frozen=True)
class AwsResources:
    table_name: str
    kms_key_arn: str


def create_resources(table_name: str = "asana-integration-test") -> AwsResources:
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(TableName=table_name, **table_definition())
    dynamodb.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"AttributeName": ttl_attribute(), "Enabled": True}
    )
    key = boto3.client("kms").create_key(Description="asana integration test key")
    return AwsResources(table_name=table_name, kms_key_arn=key["KeyMetadata"]["Arn"])
