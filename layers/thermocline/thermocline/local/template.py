"""``template.yaml``: where it is, reading it (CloudFormation's short-form intrinsics), translating SAM to
CloudFormation as ``sam deploy`` does, and the local code directories its functions and layers name."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "HOME_ENV",
    "TemplateError",
    "code_dirs",
    "default_template",
    "load_template",
    "repo_root",
    "translate",
]

HOME_ENV = "THERMOCLINE_HOME"


class TemplateError(RuntimeError):
    """The template could not be found or translated."""


def repo_root() -> Path:
    """The directory holding ``template.yaml``: ``$THERMOCLINE_HOME``, else the nearest one above us."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser().resolve()
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        for candidate in (start, *start.parents):
            if (candidate / "template.yaml").is_file():
                return candidate
    raise TemplateError(
        f"template.yaml not found above {Path(__file__).parent} or the working directory; set {HOME_ENV}"
    )


def default_template() -> Path:
    return repo_root() / "template.yaml"


class _CfnLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML loader that reads CloudFormation's short-form intrinsics (``!Ref``, ``!Sub``, ``!GetAtt``...).

    libyaml's loader when PyYAML has it: ten times faster on the template, every start of the stack."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    if suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML (or JSON) template."""
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


def translate(
    sam_template: dict[str, Any], region: str, parameters: dict[str, str] | None = None
) -> dict[str, Any]:
    """SAM -> CloudFormation with ``aws-sam-translator``, as ``sam deploy`` would do it (server side)."""
    import boto3
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.arn_generator import ArnGenerator
    from samtranslator.translator.translator import Translator
    from samtranslator.utils.py27hash_fix import (
        to_py27_compatible_template,
        undo_mark_unicode_str_in_template,
    )

    template = copy.deepcopy(sam_template)
    values = dict(parameters or {})
    to_py27_compatible_template(template, values)
    # The translator takes the region (for ARNs and pseudo parameters) from a boto session.
    previous = ArnGenerator.BOTO_SESSION_REGION_NAME
    ArnGenerator.BOTO_SESSION_REGION_NAME = region
    try:
        translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
        # AWS managed policy names resolve from the translator's bundled list; we use no others.
        translated = translator.translate(template, parameter_values=values, get_managed_policy_map=dict)
    except InvalidDocumentException as exc:
        problems = "; ".join(str(cause) for cause in exc.causes)
        raise TemplateError(f"template does not translate: {problems}") from exc
    finally:
        ArnGenerator.BOTO_SESSION_REGION_NAME = previous
    return undo_mark_unicode_str_in_template(translated)


def code_dirs(sam_template: dict[str, Any], base: Path) -> dict[str, Path]:
    """Logical id -> local code directory of every function and layer with a local path."""
    found = {}
    for logical_id, resource in sam_template.get("Resources", {}).items():
        props = resource.get("Properties") or {}
        uri = props.get("CodeUri") if resource.get("Type") == "AWS::Serverless::Function" else None
        if resource.get("Type") == "AWS::Serverless::LayerVersion":
            uri = props.get("ContentUri")
        if isinstance(uri, str) and not uri.startswith("s3://"):
            found[logical_id] = (base / uri).resolve()
    return found
