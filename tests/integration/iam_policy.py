"""The translated template's IAM policies, evaluated the way IAM evaluates them, for the template tests.

``translated()`` renders ``template.yaml`` as ``sam deploy`` does (code in S3, SAM translated to
CloudFormation). ``Stack`` resolves the intrinsics of one parameter set (``Ref``, ``Fn::Sub``,
``Fn::GetAtt ... Arn``, ``Fn::If`` with the template's own conditions) and answers whether a principal's
policies allow an action on a resource ARN: an explicit Deny wins, otherwise an Allow whose Action,
Resource and Condition all match (``*`` and ``?`` wildcards; StringEquals, StringLike, ArnLike, ArnEquals
and Bool; a condition key missing from the request context does not match):
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Mapping
from typing import Any

from thermocline.local.template import code_dirs, load_template, repo_root, translate

__all__ = ["ACCOUNT", "REGION", "Stack", "translated"]

ACCOUNT = "123456789012"
REGION = "us-east-1"
_NO_VALUE = object()
# The ARN of each resource type the policies name, from its physical name (the logical id, lower-cased).
_ARNS = {
    "AWS::S3::Bucket": "arn:aws:s3:::{name}",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "AWS::KMS::Key": "arn:aws:kms:{region}:{account}:key/{name}",
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
    "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{name}",
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
}


@functools.cache
def _translated(parameters: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    root = repo_root()
    sam = load_template(root / "template.yaml")
    packaged = copy.deepcopy(sam)
    for logical_id in code_dirs(sam, root):
        props = packaged["Resources"][logical_id]["Properties"]
        props["ContentUri" if "ContentUri" in props else "CodeUri"] = f"s3://artifacts/{logical_id}.zip"
    return translate(packaged, REGION, dict(parameters) or None)


def translated(parameters: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``template.yaml`` as CloudFormation, code as after ``sam package`` (cached per parameter set)."""
    return copy.deepcopy(_translated(tuple(sorted((parameters or {}).items()))))


class Stack:
    """One deployment of the translated template: its parameters' values and its policies."""

    def __init__(self, template: dict[str, Any], parameters: Mapping[str, str] | None = None) -> None:
        self.template = template
        self.parameters = {
            name: (parameters or {}).get(name, spec.get("Default", ""))
            for name, spec in template.get("Parameters", {}).items()
        }
        self._conditions: dict[str, bool] = {}

    # --- intrinsics ----------------------------------------------------------------------------------

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self._conditions[name]

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(n) for n in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            return {k: v for k, v in ((k, self.resolve(n)) for k, n in node.items()) if v is not _NO_VALUE}
        ((fn, arg),) = node.items()
        if fn == "Ref":
            return self._ref(arg)
        if fn == "Condition":
            return self.condition(arg)
        if fn == "Fn::If":
            name, yes, no = arg
            return self.resolve(yes if self.condition(name) else no)
        if fn == "Fn::Equals":
            left, right = (self.resolve(a) for a in arg)
            return str(left) == str(right)
        if fn == "Fn::Not":
            return not self.resolve(arg[0])
        if fn == "Fn::And":
            return all(self.resolve(a) for a in arg)
        if fn == "Fn::Or":
            return any(self.resolve(a) for a in arg)
        if fn == "Fn::Join":
            sep, values = arg
            return sep.join(str(v) for v in self.resolve(values))
        if fn == "Fn::GetAtt":
            logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return self._attribute(logical_id, attribute)
        if fn == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else arg
            values = {k: self.resolve(v) for k, v in variables.items()}
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(self._sub(m.group(1), values)), text)
        if fn in ("Fn::Select", "Fn::Split"):
            return "stack"  # only names are built this way; no policy depends on them
        return {fn: self.resolve(arg)}

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Partition": "aws",
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": "stack",
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/stack/0",
        }
        if name in pseudo:
            return pseudo[name]
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.parameters:
            value = self.parameters[name]
            spec = self.template["Parameters"][name]
            return [v for v in str(value).split(",") if v] if spec["Type"] == "CommaDelimitedList" else value
        resource = self.template["Resources"][name]
        if resource["Type"] in ("AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::IAM::ManagedPolicy"):
            return self._attribute(name, "Arn") if resource["Type"] != "AWS::SQS::Queue" else name
        return name.lower()

    def _attribute(self, logical_id: str, attribute: str) -> str:
        rtype = self.template["Resources"][logical_id]["Type"]
        if attribute.endswith("Arn") and rtype in _ARNS:
            return _ARNS[rtype].format(name=logical_id.lower(), region=REGION, account=ACCOUNT)
        return f"{logical_id}.{attribute}"

    def _sub(self, name: str, values: dict[str, Any]) -> Any:
        if name in values:
            return values[name]
        if "." in name:
            return self._attribute(*name.split(".", 1))
        return self._ref(name)

    # --- policies ------------------------------------------------------------------------------------

    def role_statements(self, role: str) -> list[dict[str, Any]]:
        """The statements of a role's inline policies and of the stack's managed policies it attaches."""
        props = self.resolve(self.template["Resources"][role]["Properties"])
        documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        for arn in props.get("ManagedPolicyArns", []):
            for logical_id, resource in self.template["Resources"].items():
                if (
                    resource["Type"] == "AWS::IAM::ManagedPolicy"
                    and self._attribute(logical_id, "Arn") == arn
                ):
                    documents.append(self.resolve(resource["Properties"]["PolicyDocument"]))
        return [s for d in documents for s in _as_list(d["Statement"])]

    def key_statements(self, key: str) -> list[dict[str, Any]]:
        return _as_list(self.resolve(self.template["Resources"][key]["Properties"]["KeyPolicy"])["Statement"])

    def role_allows(self, role: str, action: str, resource: str, **context: str) -> bool:
        return allows(self.role_statements(role), action, resource, context)


def allows(
    statements: list[dict[str, Any]],
    action: str,
    resource: str,
    context: Mapping[str, str] | None = None,
    principal: Mapping[str, str] | None = None,
) -> bool:
    """IAM's answer for one request: no explicit Deny matches, and at least one Allow does."""
    matching = [s for s in statements if _matches(s, action, resource, context or {}, principal)]
    return any(s["Effect"] == "Allow" for s in matching) and not any(s["Effect"] == "Deny" for s in matching)


def _matches(
    statement: dict[str, Any],
    action: str,
    resource: str,
    context: Mapping[str, str],
    principal: Mapping[str, str] | None,
) -> bool:
    if principal is not None:
        named = statement.get("Principal", {})
        if named != "*" and not any(v in _as_list(named.get(k, [])) for k, v in principal.items()):
            return False
    if not any(_glob(a, action, case=False) for a in _as_list(statement.get("Action", []))):
        return False
    if not any(_glob(r, resource) for r in _as_list(statement.get("Resource", []))):
        return False
    return all(_condition(op, tests, context) for op, tests in statement.get("Condition", {}).items())


def _condition(operator: str, tests: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    for key, wanted in tests.items():
        if key not in context:
            return False
        value = context[key]
        if operator in ("StringEquals", "ArnEquals"):
            ok = value in [str(w) for w in _as_list(wanted)]
        elif operator in ("StringLike", "ArnLike"):
            ok = any(_glob(str(w), value) for w in _as_list(wanted))
        elif operator == "Bool":
            ok = value.lower() in [str(w).lower() for w in _as_list(wanted)]
        else:
            raise AssertionError(f"condition operator {operator} is not evaluated here")
        if not ok:
            return False
    return True


def _glob(pattern: str, text: str, *, case: bool = True) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, 0 if case else re.IGNORECASE) is not None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
