"""Each function's role as AWS will see it: ``template.yaml`` after the SAM transform, intrinsics resolved.

The transform runs in the aws-sam-cli virtualenv (samtranslator pins a pydantic the layer cannot share), once per test
session. Intrinsics are resolved for one imaginary deployment (:data:`DEPLOYMENT`) with the parameters' defaults,
so a policy's ``!Sub arn:${AWS::Partition}:dynamodb:...:table/${IntegrationTable}`` and the function's
``TABLE_NAME: !Ref IntegrationTable`` name the same table, as they will once deployed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from local.template import ROOT, TEMPLATE_PATH, functions, load_template

SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
TRANSFORM_SCRIPT = ROOT / "tests" / "iam" / "sam_transform.py"


class TemplateError(Exception):
    """The template uses something this resolver cannot evaluate: teach it rather than guess."""


@dataclass(frozen=True)
class Deployment:
    stack_name: str = "securedb-asana-integration"  # samconfig.toml's stack_name
    region: str = "us-east-1"
    account_id: str = "123456789012"
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"


DEPLOYMENT = Deployment()


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


class _NoValue:
    """``!Ref AWS::NoValue``: the property is removed."""


NO_VALUE = _NoValue()


class Resolver:
    """Evaluates CloudFormation intrinsics for :data:`DEPLOYMENT`, parameters at their defaults (or ``parameters``)."""

    def __init__(
        self,
        template: Mapping[str, Any],
        deployment: Deployment = DEPLOYMENT,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        self._template = template
        self._deployment = deployment
        self._parameters = {**_parameter_defaults(template), **(parameters or {})}
        self._conditions: dict[str, bool] = {}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (name, argument), *_ = value.items()
            if name == "Ref":
                return self.ref(argument)
            if name.startswith("Fn::") or name == "Condition":
                return self._function(name, argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def ref(self, name: str) -> Any:
        deployment = self._deployment
        pseudo = {
            "AWS::Region": deployment.region,
            "AWS::AccountId": deployment.account_id,
            "AWS::Partition": deployment.partition,
            "AWS::StackName": deployment.stack_name,
            "AWS::URLSuffix": deployment.url_suffix,
            "AWS::StackId": (
                f"arn:{deployment.partition}:cloudformation:{deployment.region}:{deployment.account_id}:"
                f"stack/{deployment.stack_name}/00000000-0000-4000-8000-000000000000"
            ),
        }
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in self._parameters:
            return self._parameters[name]
        return self._physical(name, None)

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            definition = self._template.get("Conditions", {}).get(name)
            if definition is None:
                raise TemplateError(f"unknown condition {name!r}")
            self._conditions[name] = bool(self.resolve(definition))
        return self._conditions[name]

    def _function(self, name: str, argument: Any) -> Any:  # noqa: PLR0911 - one branch per intrinsic
        if name == "Condition":
            return self.condition(argument)
        if name == "Fn::If":
            condition, if_true, if_false = argument
            return self.resolve(if_true if self.condition(condition) else if_false)
        if name == "Fn::Equals":
            left, right = (self.resolve(item) for item in argument)
            return left == right
        if name == "Fn::Not":
            return not self.resolve(argument[0])
        if name == "Fn::And":
            return all(self.resolve(item) for item in argument)
        if name == "Fn::Or":
            return any(self.resolve(item) for item in argument)
        if name == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self._physical(logical_id, attribute)
        if name == "Fn::Sub":
            return self._sub(argument)
        if name == "Fn::Join":
            delimiter, items = argument
            return str(delimiter).join(str(item) for item in self.resolve(items))
        if name == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(self.resolve(index))]
        if name == "Fn::Split":
            delimiter, text = argument
            return str(self.resolve(text)).split(delimiter)
        if name == "Fn::FindInMap":
            map_name, first, second = (self.resolve(item) for item in argument)
            return self._template["Mappings"][map_name][first][second]
        raise TemplateError(f"the IAM audit cannot resolve {name}; teach tests/iam/cloudformation.py")

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        local = {key: self.resolve(value) for key, value in variables.items()}

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):  # ${!Literal} stays ${Literal}
                return "${" + expression[1:] + "}"
            if expression in local:
                return str(local[expression])
            if "." in expression and not expression.startswith("AWS::"):
                logical_id, attribute = expression.split(".", 1)
                return str(self._physical(logical_id, attribute))
            return str(self.ref(expression))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def _physical(self, logical_id: str, attribute: str | None) -> str:
        """What a resource's ``Ref`` or ``GetAtt`` gives in the imaginary deployment: stable, distinct, and shaped like
        the real thing (a table name in a table ARN, a key id in a key ARN), so IAM patterns match as on AWS."""
        resources = self._template.get("Resources", {})
        if logical_id not in resources:
            raise TemplateError(f"!Ref/!GetAtt of {logical_id!r}, which is neither a parameter nor a resource")
        kind = resources[logical_id]["Type"]
        d = self._deployment
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
            raise TemplateError(f"the IAM audit does not know what a {kind} resolves to; teach Resolver._physical")
        ref_value, attributes = shapes[kind]
        if attribute is None:
            return ref_value
        if attribute not in attributes:
            raise TemplateError(f"the IAM audit does not know {logical_id}.{attribute} ({kind})")
        return attributes[attribute]


def _parameter_defaults(template: Mapping[str, Any]) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for name, parameter in template.get("Parameters", {}).items():
        default = parameter.get("Default", "")
        if parameter.get("Type") == "CommaDelimitedList" and isinstance(default, str):
            default = default.split(",")
        defaults[name] = default
    return defaults


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
