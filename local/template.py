"""``template.yaml`` as data: the HTTP routes, each function's environment, and the AWS resources to create locally.

The local gateway, the local AWS set-up and the tests all read the template through this module, so routes, table keys
and environment variables cannot drift from what ``sam deploy`` creates. :class:`Intrinsics` evaluates the template's
``!Ref``/``!Sub``/``!If``... for one deployment (a stack name, a region, an account) the way CloudFormation does; the
IAM audit (``tests/iam``) evaluates the transformed template with it too, naming resources its own way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form intrinsics (``!Ref X``) as their long form (``{"Ref": "X"}``)."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@cache
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        loaded: dict[str, Any] = yaml.load(stream, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    return loaded


@dataclass(frozen=True)
class HttpRoute:
    method: str
    path: str  # as declared, e.g. "/asana/webhook/{prefix}"
    function: str  # logical id, e.g. "WebhookFunction"
    code_uri: str  # e.g. "functions/webhook/"
    handler: str  # e.g. "app.lambda_handler"
    authorized: bool  # False when the route opts out of the JWT authorizer

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: str
    handler: str
    timeout: int
    environment: Mapping[str, Any] = field(default_factory=dict)  # values may still be intrinsics
    logging: Mapping[str, Any] = field(default_factory=dict)  # LoggingConfig, Globals merged (values may be intrinsics)


def functions(template: Mapping[str, Any] | None = None) -> list[FunctionSpec]:
    template = template or load_template()
    globals_ = template.get("Globals", {}).get("Function", {})
    specs = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        environment = {
            **globals_.get("Environment", {}).get("Variables", {}),
            **props.get("Environment", {}).get("Variables", {}),
        }
        specs.append(
            FunctionSpec(
                logical_id=logical_id,
                code_uri=props["CodeUri"],
                handler=props["Handler"],
                timeout=int(props.get("Timeout", globals_.get("Timeout", 3))),
                environment=environment,
                # SAM merges a map property of Globals into the function's, the function's keys winning.
                logging={**globals_.get("LoggingConfig", {}), **props.get("LoggingConfig", {})},
            )
        )
    return specs


def http_routes(template: Mapping[str, Any] | None = None) -> list[HttpRoute]:
    template = template or load_template()
    routes = []
    for spec in functions(template):
        events = template["Resources"][spec.logical_id]["Properties"].get("Events", {})
        for event in events.values():
            if event["Type"] != "HttpApi":
                continue
            props = event["Properties"]
            authorizer = props.get("Auth", {}).get("Authorizer")
            routes.append(
                HttpRoute(
                    method=props["Method"].upper(),
                    path=props["Path"],
                    function=spec.logical_id,
                    code_uri=spec.code_uri,
                    handler=spec.handler,
                    authorized=authorizer != "NONE",
                )
            )
    return routes


def parameter_defaults(template: Mapping[str, Any] | None = None) -> dict[str, str]:
    template = template or load_template()
    return {
        name: ",".join(p["Default"]) if isinstance(p.get("Default"), list) else str(p.get("Default", ""))
        for name, p in template.get("Parameters", {}).items()
    }


def resolve_environment(
    environment: Mapping[str, Any],
    references: Mapping[str, str],
    template: Mapping[str, Any] | None = None,
    *,
    deployment: Deployment | None = None,
) -> dict[str, str]:
    """Environment values with their intrinsics evaluated: ``references`` maps a logical id (or ``Id.Attr``) or a
    parameter name to its local value; parameters not given there take their template defaults. A variable that
    resolves to ``AWS::NoValue`` is left out, as CloudFormation leaves it out."""
    intrinsics = local_intrinsics(references, template, deployment)
    resolved = {name: intrinsics.resolve(value) for name, value in environment.items()}
    return {name: _as_text(value) for name, value in resolved.items() if value is not NO_VALUE}


def local_intrinsics(
    references: Mapping[str, str], template: Mapping[str, Any] | None = None, deployment: Deployment | None = None
) -> Intrinsics:
    """An evaluator fed the local stack's way: one mapping in which a parameter's name gives its value and anything
    else (``"IntegrationTable"``, ``"IntegrationKey.Arn"``) what a resource resolves to."""
    template = template or load_template()
    parameter_names = template.get("Parameters", {}).keys()
    return Intrinsics(
        template,
        deployment,
        parameters={name: value for name, value in references.items() if name in parameter_names},
        resources={name: value for name, value in references.items() if name not in parameter_names},
    )


def _as_text(value: Any) -> str:
    # A CommaDelimitedList parameter resolves to a list; as a string CloudFormation joins it with commas.
    return ",".join(str(item) for item in value) if isinstance(value, list) else str(value)


# ---------------------------------------------------------------------------------------------------- intrinsics


@dataclass(frozen=True)
class Deployment:
    """The pseudo parameters of one deployment of the template."""

    stack_name: str
    region: str = "us-east-1"
    account_id: str = "123456789012"
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"

    def pseudo_parameters(self) -> dict[str, str]:
        return {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": self.url_suffix,
            # CloudFormation ends a stack's id with a UUID it generates; a fixed one keeps the evaluation repeatable.
            "AWS::StackId": (
                f"arn:{self.partition}:cloudformation:{self.region}:{self.account_id}:"
                f"stack/{self.stack_name}/00000000-0000-4000-8000-000000000000"
            ),
        }


class TemplateError(ValueError):
    """The template cannot be evaluated as CloudFormation would: an unknown name, a parameter value CloudFormation
    refuses, or an intrinsic this module does not evaluate."""


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()  # what ``!Ref AWS::NoValue`` resolves to: the property or list item is removed

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class Intrinsics:
    """Evaluates the template's intrinsic functions and conditions for one deployment.

    ``parameters`` overrides parameter defaults; each value is checked against the parameter's ``AllowedValues`` and
    ``AllowedPattern`` as CloudFormation checks it. ``resources`` gives what a resource's ``!Ref`` (its logical id)
    or ``!GetAtt`` (``"Id.Attribute"``) stands for; anything else is an error, never a guess. A caller that names
    resources by a rule instead of a table (the IAM audit's example ARNs) overrides :meth:`physical`.
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        deployment: Deployment | None = None,
        *,
        parameters: Mapping[str, Any] | None = None,
        resources: Mapping[str, str] | None = None,
    ) -> None:
        self._template = template
        self._deployment = deployment
        self._parameters = _parameter_values(template, parameters or {})
        self._resources = dict(resources or {})
        self._conditions: dict[str, bool] = {}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((name, argument),) = value.items()
            if name == "Ref":
                return self.ref(argument)
            if name.startswith("Fn::") or name == "Condition":
                return self._function(name, argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name.startswith("AWS::"):
            if self._deployment is None:
                raise TemplateError(f"!Ref {name} needs a deployment (stack name, region, account)")
            pseudo = self._deployment.pseudo_parameters()
            if name not in pseudo:
                raise TemplateError(f"unsupported pseudo parameter {name}")
            return pseudo[name]
        if name in self._parameters:
            return self._parameters[name]
        return self.physical(name)

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            definition = self._template.get("Conditions", {}).get(name)
            if definition is None:
                raise TemplateError(f"unknown condition {name!r}")
            self._conditions[name] = bool(self.resolve(definition))
        return self._conditions[name]

    def physical(self, logical_id: str, attribute: str | None = None) -> str:
        """What ``!Ref logical_id`` (no ``attribute``) or ``!GetAtt logical_id.attribute`` stands for in this
        deployment: the value ``resources`` gives for ``"logical_id"`` or ``"logical_id.attribute"``."""
        reference = logical_id if attribute is None else f"{logical_id}.{attribute}"
        if reference in self._resources:
            return self._resources[reference]
        self.resource_type(logical_id)  # a name the template does not declare is reported as such
        raise TemplateError(f"no value given for {reference!r} (a resource of the template)")

    def resource_type(self, logical_id: str) -> str:
        resource = self._template.get("Resources", {}).get(logical_id)
        if resource is None:
            raise TemplateError(f"{logical_id!r} is neither a parameter nor a resource of the template")
        return str(resource["Type"])

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
            logical_id, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
            return self.physical(logical_id, attribute)
        if name == "Fn::Sub":
            return self._sub(argument)
        if name == "Fn::Join":
            delimiter, items = argument
            return str(delimiter).join(_as_text(item) for item in self.resolve(items))
        if name == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(self.resolve(index))]
        if name == "Fn::Split":
            delimiter, text = argument
            return str(self.resolve(text)).split(delimiter)
        if name == "Fn::FindInMap":
            return self._find_in_map(*(self.resolve(item) for item in argument))
        raise TemplateError(f"{name} is not evaluated here; teach local/template.py's Intrinsics")

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        local = {key: self.resolve(value) for key, value in variables.items()}

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):  # ${!Literal} is the literal text ${Literal}
                return "${" + expression[1:] + "}"
            if expression in local:
                return _as_text(local[expression])
            if "." in expression and not expression.startswith("AWS::"):
                logical_id, attribute = expression.split(".", 1)
                return self.physical(logical_id, attribute)
            return _as_text(self.ref(expression))

        return _SUB_VARIABLE.sub(replace, text)

    def _find_in_map(self, map_name: str, top_level_key: str, second_level_key: str) -> Any:
        try:
            return self._template["Mappings"][map_name][top_level_key][second_level_key]
        except KeyError:
            where = f"Mappings.{map_name}.{top_level_key}.{second_level_key}"
            raise TemplateError(f"!FindInMap names {where}, which the template does not declare") from None


def _parameter_values(template: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    declared = template.get("Parameters", {})
    unknown = set(overrides) - set(declared)
    if unknown:
        raise TemplateError(f"the template declares no parameter {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, parameter in declared.items():
        value = overrides.get(name, parameter.get("Default"))
        if value is None:
            raise TemplateError(f"parameter {name} has no default and no value was given")
        if parameter.get("Type") == "CommaDelimitedList":
            value = value if isinstance(value, list) else [item.strip() for item in str(value).split(",")]
        else:
            value = str(value)
            allowed = parameter.get("AllowedValues")
            if allowed is not None and value not in [str(item) for item in allowed]:
                raise TemplateError(f"parameter {name}: {value!r} is not one of {allowed}")
            pattern = parameter.get("AllowedPattern")
            if pattern is not None and re.fullmatch(pattern, value) is None:
                raise TemplateError(f"parameter {name}: {value!r} does not match {pattern}")
        values[name] = value
    return values


def table_definition(logical_id: str = "IntegrationTable", template: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``create_table`` arguments for a table in the template (keys, billing; TTL is applied separately)."""
    template = template or load_template()
    props = template["Resources"][logical_id]["Properties"]
    return {
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props["BillingMode"],
        **({"GlobalSecondaryIndexes": props["GlobalSecondaryIndexes"]} if "GlobalSecondaryIndexes" in props else {}),
    }


def ttl_attribute(logical_id: str = "IntegrationTable", template: Mapping[str, Any] | None = None) -> str:
    template = template or load_template()
    name: str = template["Resources"][logical_id]["Properties"]["TimeToLiveSpecification"]["AttributeName"]
    return name
