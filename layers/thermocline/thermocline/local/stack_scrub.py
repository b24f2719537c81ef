"""Stand-ins for resources the local stack leaves out of the template moto deploys.

A ``Ref`` to a left-out resource becomes the resource's name property when it has one (``WorkgroupName``),
otherwise its logical id; a ``Fn::GetAtt`` becomes a placeholder ARN (also inside ``Fn::Sub``); and the
resource is dropped from every ``DependsOn``.
"""

from __future__ import annotations

import copy
import re
from typing import Any

__all__ = ["scrub"]

# Name properties whose value stands in for a ``Ref`` to a resource moto does not create.
_NAME_PROPERTIES = ("WorkgroupName", "NamespaceName", "Name", "ScheduleName", "QueueName", "BucketName")
_SUB_VAR = re.compile(r"\$\{([A-Za-z0-9_:]+)(?:\.([A-Za-z0-9_.]+))?\}")


def _stand_in_ref(logical_id: str, removed: dict[str, dict[str, Any]]) -> Any:
    props = removed[logical_id].get("Properties") or {}
    for name in _NAME_PROPERTIES:
        if name in props:
            return scrub(copy.deepcopy(props[name]), removed)
    return logical_id


def _stand_in_att(logical_id: str, attribute: str) -> dict[str, Any]:
    return {
        "Fn::Sub": f"arn:${{AWS::Partition}}:cloudformation:${{AWS::Region}}:${{AWS::AccountId}}:not-deployed/{logical_id}/{attribute}"
    }


def scrub(node: Any, removed: dict[str, dict[str, Any]]) -> Any:
    """Replace references to ``removed`` resources by stand-ins; drop them from ``DependsOn``."""
    if isinstance(node, list):
        return [scrub(item, removed) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"} and node["Ref"] in removed:
        return _stand_in_ref(node["Ref"], removed)
    if set(node) == {"Fn::GetAtt"}:
        target, attribute = (
            node["Fn::GetAtt"] if isinstance(node["Fn::GetAtt"], list) else node["Fn::GetAtt"].split(".", 1)
        )
        if target in removed:
            return _stand_in_att(target, attribute)
    if set(node) == {"Fn::Sub"}:
        return _scrub_sub(node["Fn::Sub"], removed)
    result = {}
    for key, value in node.items():
        if key == "DependsOn":
            deps = [value] if isinstance(value, str) else value
            kept = [d for d in deps if d not in removed]
            if kept:
                result[key] = kept
            continue
        result[key] = scrub(value, removed)
    return result


def _scrub_sub(value: Any, removed: dict[str, dict[str, Any]]) -> dict[str, Any]:
    text, variables = (value, {}) if isinstance(value, str) else (value[0], dict(value[1]))
    variables = {k: scrub(v, removed) for k, v in variables.items()}

    def replace(match: re.Match[str]) -> str:
        name, attribute = match.group(1), match.group(2)
        if name in variables or name not in removed:
            return match.group(0)
        var = f"{name}{attribute or ''}".replace(".", "")
        variables[var] = _stand_in_att(name, attribute) if attribute else _stand_in_ref(name, removed)
        return f"${{{var}}}"

    text = _SUB_VAR.sub(replace, text)
    return {"Fn::Sub": [text, variables] if variables else text}
