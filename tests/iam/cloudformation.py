"""Each function's role as AWS will see it: ``template.yaml`` after the SAM transform, intrinsics resolved.

The transform runs in the aws-sam-cli virtualenv (samtranslator pins a pydantic the layer cannot share), once per test
session. Intrinsics are resolved by the local stack's evaluator (:class:`local.template.Intrinsics`) for one imaginary
deployment (:data:`DEPLOYMENT`) with the parameters' defaults, so a policy's
``!Sub arn:${AWS::Partition}:dynamodb:...:table/${IntegrationTable}`` and the function's
``TABLE_NAME: !Ref IntegrationTable`` name the same table, as they will once deployed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from local.template import ROOT, TEMPLATE_PATH, Deployment, Intrinsics, TemplateError, functions, load_template

__all__ = [  # TemplateError is the evaluator's, and the audit raises it for what it cannot read too
    "AUDITED_PARAMETERS",
    "DEPLOYMENT",
    "RUNTIME_MANAGED_POLICIES",
    "FunctionRole",
    "Grant",
    "Resolver",
    "RuntimeNeed",
    "TemplateError",
    "function_roles",
    "transformed_template",
]

SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
TRANSFORM_SCRIPT = ROOT / "tests" / "iam" / "sam_transform.py"

DEPLOYMENT = Deployment(stack_name="securedb-asana-integration")  # samconfig.toml's stack_name


@cache
def transformed_template(template_text: str | None = None) -> dict[str, Any]:
    """``template.yaml`` (or the given text) after the SAM transform."""
    if not SAM_PYTHON.exists():
        raise TemplateError(f"{SAM_PYTHON} is missing: `make sam-venv` installs aws-sam-cli and samtranslator")
    text = TEMPLATE_PATH.read_text(encoding="utf-8") if template_text is None else template_text
    environment = {**os.environ, "AWS_DEFAULT_REGION": DEPLOYMENT.region}
    result = subprocess.run(  # noqa: S603 - our own script, run by the project's own interpreter
        [str(SAM_PYTHON), str(TRANSFORM_SCRIPT), "/dev/stdin"],
        input=text,
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise TemplateError(f"the SAM transform failed:\n{result.stderr[-4000:]}")
    transformed: dict[str, Any] = json.loads(result.stdout)
    return transformed


# ---------------------------------------------------------------------------------------------------- intrinsics


class Resolver(Intrinsics):
    """Evaluates CloudFormation intrinsics for :data:`DEPLOYMENT`, parameters at their defaults (or ``parameters``),
    each resource standing for an example of the name or ARN CloudFormation would give it."""

    def __init__(
        self,
        template: Mapping[str, Any],
        deployment: Deployment = DEPLOYMENT,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(template, deployment, parameters=parameters)
        self._example = deployment  # never None here, unlike the base class's optional deployment

    def physical(self, logical_id: str, attribute: str | None = None) -> str:
        """What a resource's ``Ref`` or ``GetAtt`` gives in the imaginary deployment: stable, distinct, and shaped like
        the real thing (a table name in a table ARN, a key id in a key ARN), so IAM patterns match as on AWS."""
        kind = self.resource_type(logical_id)
        d = self._example
        name = f"{d.stack_name}-{logical_id}-EXAMPLE0001"
        key_id = f"{logical_id.lower()}-0000-4000-8000-000000000001"

        def arn(service: str, resource: str) -> str:
            return f"arn:{d.partition}:{service}:{d.region}:{d.account_id}:{resource}"

        queue_url = f"https://sqs.{d.region}.{d.url_suffix}/{d.account_id}/{name}"
        shapes: dict[str, tuple[str, dict[str, str]]] = {
            "AWS::DynamoDB::Table": (name, {"Arn": arn("dynamodb", f"table/{name}")}),
            "AWS::KMS::Key": (key_id, {"Arn": arn("kms", f"key/{key_id}"), "KeyId": key_id}),
            "AWS::SQS::Queue": (queue_url, {"Arn": arn("sqs", name), "QueueName": name, "QueueUrl": queue_url}),
            "AWS::SNS::Topic": (arn("sns", name), {"TopicName": name}),
            "AWS::Lambda::Function": (name, {"Arn": arn("lambda", f"function:{name}")}),
            "AWS::IAM::Role": (name, {"Arn": f"arn:{d.partition}:iam::{d.account_id}:role/{name}"}),
            "AWS::Logs::LogGroup": (name, {"Arn": arn("logs", f"log-group:{name}:*")}),
            "AWS::Lambda::LayerVersion": (arn("lambda", f"layer:{name}:1"), {}),
        }
        if kind not in shapes:
            raise TemplateError(f"the IAM audit does not know what a {kind} resolves to; teach Resolver.physical")
        ref_value, attributes = shapes[kind]
        if attribute is None:
            return ref_value
        if attribute not in attributes:
            raise TemplateError(f"the IAM audit does not know {logical_id}.{attribute} ({kind})")
        return attributes[attribute]


# ---------------------------------------------------------------------------------------------------- functions

# AWS managed policies SAM attaches to every function role. They serve the Lambda service, not the function's code:
# logs for the runtime's log delivery, X-Ray for the tracing daemon (Tracing: Active). No botocore call of the code
# needs them, so they are listed here with that reason instead of being judged as the code's grants.
RUNTIME_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": "the Lambda runtime delivers logs with it",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": "the X-Ray daemon sends traces with it (Tracing: Active)",
}


@dataclass(frozen=True)
class Grant:
    """One policy statement, resolved. ``source`` says where it came from (policy name and Sid) for messages."""

    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    source: str
    not_actions: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    conditions: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    principals: tuple[str, ...] = ()  # a resource policy's AWS principals ("*", an account root or a role ARN)


@dataclass(frozen=True)
class RuntimeNeed:
    """A permission the Lambda service uses with the function's role on the code's behalf (a failure destination)."""

    action: str
    resource: str
    reason: str


@dataclass(frozen=True)
class FunctionRole:
    logical_id: str
    code_dir: str  # the directory under functions/ (from CodeUri)
    environment: Mapping[str, str]  # resolved
    grants: tuple[Grant, ...]
    managed_policies: tuple[str, ...]
    runtime_needs: tuple[RuntimeNeed, ...]
    role_arn: str = ""
    role_tags: Mapping[str, str] = field(default_factory=dict)  # aws:PrincipalTag/<key> in the request context
    # The KMS keys of this template by ARN, with their key policies: KMS needs the key policy to allow a call too.
    key_policies: Mapping[str, tuple[Grant, ...]] = field(default_factory=dict)
    handler_module: str = "app"  # the module of the Handler ("consumer" for consumer.lambda_handler)

    @property
    def function(self) -> tuple[str, str]:
        """What the recorder attributes calls to: the code directory and the handler module."""
        return self.code_dir, self.handler_module


# The deployment the audit judges: parameter defaults, except where a default switches a feature (and its grant) off
# that the suite exercises. With no proxy secret the template grants no read of one, yet the proxy tests read it; the
# audit therefore judges the stack as deployed with a proxy secret, the configuration that needs the most.
AUDITED_PARAMETERS: Mapping[str, str] = {
    "AsanaProxySecretArn": f"arn:{DEPLOYMENT.partition}:secretsmanager:{DEPLOYMENT.region}:{DEPLOYMENT.account_id}"
    ":secret:corp/asana-proxy-AbCdEf",
}


def function_roles(template: Mapping[str, Any] | None = None, resolver: Resolver | None = None) -> list[FunctionRole]:
    """Every function in the transformed template with the grants of its role."""
    template = template if template is not None else transformed_template()
    resolver = resolver or Resolver(template, parameters=AUDITED_PARAMETERS)
    specs = {spec.logical_id: spec for spec in functions(load_template())}
    code_dirs = {logical_id: _code_dir(spec.code_uri) for logical_id, spec in specs.items()}
    resources = template["Resources"]
    key_policies = {
        resolver.resolve({"Fn::GetAtt": [key_id, "Arn"]}): tuple(
            _grants(resolver.resolve(key["Properties"]["KeyPolicy"]), source=f"{key_id} key policy")
        )
        for key_id, key in resources.items()
        if key["Type"] == "AWS::KMS::Key"
    }
    roles = []
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function" or logical_id not in code_dirs:
            continue  # functions SAM generates for itself (none today) have no code of ours to record
        props = resource["Properties"]
        role_id = _role_logical_id(props.get("Role"), logical_id)
        role = resources[role_id]["Properties"]
        documents = [(policy["PolicyName"], policy["PolicyDocument"]) for policy in role.get("Policies", [])]
        documents += _attached_policies(resources, role_id)
        grants = tuple(
            grant for name, document in documents for grant in _grants(resolver.resolve(document), source=name)
        )
        variables = resolver.resolve(props.get("Environment", {}).get("Variables", {}))
        roles.append(
            FunctionRole(
                logical_id=logical_id,
                code_dir=code_dirs[logical_id],
                environment={name: str(value) for name, value in variables.items()},
                grants=grants,
                managed_policies=tuple(resolver.resolve(role.get("ManagedPolicyArns", []))),
                runtime_needs=tuple(_runtime_needs(resources, logical_id, props, resolver)),
                role_arn=resolver.resolve({"Fn::GetAtt": [role_id, "Arn"]}),
                role_tags={tag["Key"]: str(tag["Value"]) for tag in resolver.resolve(role.get("Tags", []))},
                key_policies=key_policies,
                handler_module=specs[logical_id].handler.split(".")[0],
            )
        )
    return roles


def _code_dir(code_uri: str) -> str:
    parts = [part for part in code_uri.strip("/").split("/") if part]
    if len(parts) != 2 or parts[0] != "functions":
        raise TemplateError(f"CodeUri {code_uri!r} is not functions/<dir>/; the recorder attributes calls by it")
    return parts[1]


def _role_logical_id(role: Any, function: str) -> str:
    if isinstance(role, dict) and "Fn::GetAtt" in role:
        target = role["Fn::GetAtt"]
        logical_id, attribute = target if isinstance(target, list) else target.split(".", 1)
        if attribute == "Arn":
            return str(logical_id)
    raise TemplateError(f"{function}'s Role is not !GetAtt <role in this template>.Arn; the audit cannot read it")


def _attached_policies(resources: Mapping[str, Any], role_id: str) -> list[tuple[str, Any]]:
    attached = []
    for logical_id, resource in resources.items():
        if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            continue
        props = resource["Properties"]
        roles = props.get("Roles", []) + ([props["RoleName"]] if "RoleName" in props else [])
        if {"Ref": role_id} in roles:
            attached.append((logical_id, props["PolicyDocument"]))
    return attached


def _grants(document: Mapping[str, Any], *, source: str) -> list[Grant]:
    statements = document.get("Statement", [])
    grants = []
    for index, statement in enumerate(statements if isinstance(statements, list) else [statements]):
        grants.append(
            Grant(
                effect=statement["Effect"],
                actions=_strings(statement.get("Action")),
                not_actions=_strings(statement.get("NotAction")),
                resources=_strings(statement.get("Resource")),
                not_resources=_strings(statement.get("NotResource")),
                conditions={
                    operator: {key: _strings(values) for key, values in clauses.items()}
                    for operator, clauses in statement.get("Condition", {}).items()
                },
                source=f"{source}/{statement.get('Sid', f'statement {index + 1}')}",
                principals=_principals(statement.get("Principal")),
            )
        )
    return grants


def _principals(principal: Any) -> tuple[str, ...]:
    if principal is None:
        return ()
    if principal == "*":
        return ("*",)
    return _strings(principal.get("AWS")) if isinstance(principal, dict) else ()


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(item) for item in value) if isinstance(value, list) else (str(value),)


_DESTINATION_ACTIONS = {"sqs": "sqs:SendMessage", "sns": "sns:Publish", "lambda": "lambda:InvokeFunction"}


def _runtime_needs(
    resources: Mapping[str, Any], function_id: str, props: Mapping[str, Any], resolver: Resolver
) -> list[RuntimeNeed]:
    """Lambda sends failed asynchronous events to a DeadLetterConfig target or an EventInvokeConfig destination with
    the function's own role (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html)."""
    targets: list[tuple[str, str]] = []
    if "DeadLetterConfig" in props:
        targets.append((resolver.resolve(props["DeadLetterConfig"]["TargetArn"]), "its dead-letter queue"))
    for resource in resources.values():
        if resource["Type"] != "AWS::Lambda::EventInvokeConfig":
            continue
        config = resource["Properties"]
        if config.get("FunctionName") != {"Ref": function_id}:
            continue
        for outcome, destination in config.get("DestinationConfig", {}).items():
            targets.append((resolver.resolve(destination["Destination"]), f"its {outcome} destination"))
    needs = []
    for arn, reason in targets:
        service = str(arn).split(":")[2]
        if service not in _DESTINATION_ACTIONS:
            raise TemplateError(f"{function_id}: no known permission for a {service} destination ({arn})")
        needs.append(RuntimeNeed(_DESTINATION_ACTIONS[service], str(arn), f"Lambda delivers to {reason}"))
    return needs


if __name__ == "__main__":  # a look at what the audit sees: python -m tests.iam.cloudformation
    for found in function_roles():
        print(found.logical_id, json.dumps([grant.__dict__ for grant in found.grants], indent=1, default=str))
    sys.exit(0)
