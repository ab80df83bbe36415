"""Two stacks of this template fit in one account: every name that is account-wide differs between them.

Checked on what CloudFormation receives, ``template.yaml`` after the SAM transform (SAM fills in names of its own:
a ``ScheduleV2`` without ``Name`` is called after its logical id, a layer without ``LayerName`` too). The transform
runs in the aws-sam-cli virtualenv, whose samtranslator pins a pydantic the project's own virtualenv cannot share.

A name CloudFormation generates (the property left out) embeds the stack name and a random suffix: unique already.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

import pytest

from local.template import ROOT, TEMPLATE_PATH, Deployment, Intrinsics

SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
TRANSFORM = ROOT / "tests" / "iam" / "sam_transform.py"
STACKS = ("securedb-asana-staging", "securedb-asana-production")

# The properties that name a resource in a namespace shared by the whole account (and region).
ACCOUNT_WIDE_NAMES = {
    "AWS::Scheduler::Schedule": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::IAM::Role": "RoleName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::KMS::Alias": "AliasName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::SSM::Parameter": "Name",
    "AWS::ApiGatewayV2::DomainName": "DomainName",
}
# Environment variables that name account-wide things the functions create at run time.
ACCOUNT_WIDE_VARIABLES = {"SECRET_NAME_PREFIX": "the organizations' secrets are <prefix>/<org id>"}


@cache
def transformed(template_text: str) -> dict[str, Any]:
    if not SAM_PYTHON.exists():
        pytest.fail(f"{SAM_PYTHON} is missing: `make sam-venv` installs aws-sam-cli (samtranslator)")
    result = subprocess.run(  # noqa: S603 - the project's own script and interpreter
        [str(SAM_PYTHON), str(TRANSFORM), "/dev/stdin"],
        input=template_text,
        capture_output=True,
        text=True,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"the SAM transform failed:\n{result.stderr[-4000:]}"
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


class _GeneratedNames(Mapping[str, str]):
    """What a resource's ``Ref``/``GetAtt`` gives: CloudFormation generates it from the stack name."""

    def __init__(self, template: Mapping[str, Any], stack: str) -> None:
        self._resources, self._stack = template["Resources"], stack

    def __getitem__(self, reference: str) -> str:
        if reference.split(".", 1)[0] not in self._resources:
            raise KeyError(reference)
        return f"{self._stack}-{reference.replace('.', '-')}-GENERATED"

    def __contains__(self, reference: object) -> bool:
        return isinstance(reference, str) and reference.split(".", 1)[0] in self._resources

    def __iter__(self) -> Iterator[str]:
        return iter(self._resources)

    def __len__(self) -> int:
        return len(self._resources)


def account_wide_names(template_text: str, stack: str) -> dict[str, str]:
    """``{"<logical id>.<property>": name}`` for every account-wide name the deployed stack would use."""
    template = transformed(template_text)
    intrinsics = Intrinsics(template, Deployment(stack_name=stack), resources=_GeneratedNames(template, stack))
    names = {}
    for logical_id, resource in template["Resources"].items():
        prop = ACCOUNT_WIDE_NAMES.get(resource["Type"])
        value = resource.get("Properties", {}).get(prop) if prop else None
        if value is not None:
            names[f"{logical_id}.{prop}"] = str(intrinsics.resolve(value))
        if resource["Type"] == "AWS::Lambda::Function":
            variables = resource["Properties"].get("Environment", {}).get("Variables", {})
            for variable in ACCOUNT_WIDE_VARIABLES.keys() & variables.keys():
                names[f"{logical_id}.{variable}"] = str(intrinsics.resolve(variables[variable]))
    return names


def clashes(template_text: str) -> dict[str, str]:
    first, second = (account_wide_names(template_text, stack) for stack in STACKS)
    assert first.keys() == second.keys()
    return {key: first[key] for key in first if first[key] == second[key]}


def test_two_stacks_share_no_account_wide_name() -> None:
    names = account_wide_names(TEMPLATE_PATH.read_text(encoding="utf-8"), STACKS[0])
    # The names that used to clash are all checked: the schedule, the layer, the secrets' prefix, the log groups.
    assert {"SyncFunctionHourly.Name", "SettingsFunction.SECRET_NAME_PREFIX", "SyncLogGroup.LogGroupName"} <= set(names)
    assert any(key.endswith(".LayerName") for key in names)

    assert clashes(TEMPLATE_PATH.read_text(encoding="utf-8")) == {}


def test_a_fixed_name_is_caught() -> None:
    """The check itself: a schedule and a layer named as SAM names them by default, and a literal secret prefix."""
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    fixed = re.sub(r"(?m)^ *(Name: !Sub \$\{AWS::StackName\}-sync-hourly|LayerName: .*)\n", "", text)
    fixed = re.sub(r"(?m)^( *SECRET_NAME_PREFIX:) .*$", r"\1 securedb-asana", fixed)
    assert fixed.count("\n") == text.count("\n") - 2

    found = clashes(fixed)

    assert found["SyncFunctionHourly.Name"] == "SyncFunctionHourly"
    assert found["SettingsFunction.SECRET_NAME_PREFIX"] == "securedb-asana"
    assert [value for key, value in found.items() if key.endswith(".LayerName")] == ["CommonLayer"]
