"""``template.yaml`` as data: the HTTP routes, each function's environment, and the AWS resources to create locally.

The local gateway, the local AWS set-up and the tests all read the template through this module, so routes, table keys
and environment variables cannot drift from what ``sam deploy`` creates.
"""

from __future__ import annotations

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
    environment: Mapping[str, Any], references: Mapping[str, str], template: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Environment values with ``!Ref``/``!GetAtt`` resolved: ``references`` maps a logical id (or ``Id.Attr``) or a
    parameter name to its local value; parameters not given there take their template defaults."""
    values = {**parameter_defaults(template), **references}
    resolved = {}
    for name, value in environment.items():
        if isinstance(value, dict) and "Ref" in value:
            resolved[name] = values[value["Ref"]]
        elif isinstance(value, dict) and "Fn::GetAtt" in value:
            resolved[name] = values[".".join(value["Fn::GetAtt"])]
        else:
            resolved[name] = str(value)
    return resolved


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
