"""AWS resources for tests, created in moto from ``template.yaml``'s own definitions (they cannot drift)."""

from __future__ import annotations

from dataclasses import dataclass

import boto3

from local.template import table_definition, ttl_attribute


@dataclass(frozen=True)
class AwsResources:
    table_name: str
    kms_key_arn: str
    mirror_table_name: str


def create_resources(table_name: str = "asana-integration-test") -> AwsResources:
    dynamodb = boto3.client("dynamodb")
    tables = {"IntegrationTable": table_name, "MirrorTable": f"{table_name}-mirror"}
    for logical_id, name in tables.items():
        dynamodb.create_table(TableName=name, **table_definition(logical_id))
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": ttl_attribute(logical_id), "Enabled": True},
        )
    key = boto3.client("kms").create_key(Description="asana integration test key")
    return AwsResources(
        table_name=table_name, kms_key_arn=key["KeyMetadata"]["Arn"], mirror_table_name=tables["MirrorTable"]
    )
