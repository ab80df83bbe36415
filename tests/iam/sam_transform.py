"""Print ``template.yaml`` after the SAM transform, as CloudFormation JSON. Run with the aws-sam-cli virtualenv's Python
(``.venv-sam/bin/python tests/iam/sam_transform.py template.yaml``): samtranslator pins a pydantic the layer cannot use.

Local ``CodeUri``/``ContentUri`` folders become placeholder S3 locations first, as ``sam validate`` does; the transform
never reads the code. Nothing reaches AWS: the region comes from ``AWS_DEFAULT_REGION``, and a policy given by a
managed policy's name (which would need IAM to look up its ARN) fails the transform instead.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from samtranslator.parser.parser import Parser  # type: ignore[import-not-found, unused-ignore]
from samtranslator.translator.translator import Translator  # type: ignore[import-not-found, unused-ignore]
from samtranslator.yaml_helper import yaml_parse  # type: ignore[import-not-found, unused-ignore]

_CODE_LOCATIONS = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}


def _no_managed_policy_names() -> dict[str, str]:
    return {}


def transform(template_text: str) -> dict[str, Any]:
    template: dict[str, Any] = yaml_parse(template_text)
    for resource in template.get("Resources", {}).values():
        location = _CODE_LOCATIONS.get(resource.get("Type"))
        if location and isinstance(resource.get("Properties", {}).get(location), str):
            resource["Properties"][location] = "s3://sam-transform-placeholder/code.zip"
    translated: dict[str, Any] = Translator(None, Parser()).translate(
        template, parameter_values={}, get_managed_policy_map=_no_managed_policy_names
    )
    return translated


if __name__ == "__main__":
    json.dump(transform(Path(sys.argv[1]).read_text(encoding="utf-8")), sys.stdout, default=str)
