"""Deploy ``template.yaml`` itself into moto's server: the local stack cannot drift from ``sam deploy``.

The SAM template is translated to CloudFormation by ``aws-sam-translator`` (the library ``sam`` uses), local
``CodeUri``/``ContentUri`` paths are zipped into a moto bucket, and moto's CloudFormation ``create_stack``
creates the table with its stream, the buckets, queues, roles, layer and functions under stack-style names.

What moto cannot or should not create is left out and reported in ``StackInfo.skipped``:

* resource types moto's CloudFormation does not know (Redshift Serverless, Scheduler schedules, queue and
  bucket policies, ...). References to them are replaced by stand-ins: a ``Ref`` becomes the resource's
  name property when it has one (``WorkgroupName``), otherwise its logical id; a ``Fn::GetAtt`` becomes a
  placeholder ARN.
* event source mappings. moto would invoke the function itself on every stream record or queue message
  (which needs Docker) and consume the records; the local poller invokes handlers in-process instead, so the
  mappings are returned, fully resolved, in ``StackInfo.event_source_mappings``.

Some properties moto's CloudFormation accepts but ignores (S3 notifications, versioning, lifecycle, public
access block; DynamoDB TTL and point-in-time recovery) are applied through the service APIs after the stack
is created, with the values moto resolved for them.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import io
import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from thermocline import aws
from thermocline.observability import logger

HOME_ENV = "THERMOCLINE_HOME"
# Where translated templates and moto's list of resource types are cached (a directory, or "off"). They
# are pure functions of the template and the library versions, and cost about 1.5 s per start-up.
CACHE_ENV = "THERMOCLINE_CACHE"
# Outputs this module adds to carry values moto resolves; hidden from StackInfo.outputs.
_HIDDEN = "ThermoclineLocal"
_CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
# Name properties whose value stands in for a ``Ref`` to a resource moto does not create.
_NAME_PROPERTIES = ("WorkgroupName", "NamespaceName", "Name", "ScheduleName", "QueueName", "BucketName")
_ZIP_EXCLUDE = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


class StackDeployError(RuntimeError):
    """The template could not be translated or deployed into moto."""


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    timeout: int
    memory_size: int


@dataclass(frozen=True)
class EventSourceMapping:
    function: str
    source_arn: str
    kind: str
    batch_size: int
    maximum_batching_window_seconds: int
    starting_position: str | None
    report_batch_item_failures: bool


@dataclass(frozen=True)
class StackInfo:
    endpoint: str
    region: str
    stack_name: str
    resources: dict[str, str]
    outputs: dict[str, str]
    functions: dict[str, FunctionSpec]
    event_source_mappings: list[EventSourceMapping]
    # Logical ids in the translated template that moto does not hold: types it lacks, and the event source
    # mappings (returned in event_source_mappings instead).
    skipped: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- locating


def repo_root() -> Path:
    """The directory holding ``template.yaml``: ``$THERMOCLINE_HOME``, else the nearest one above us."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser().resolve()
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        for candidate in (start, *start.parents):
            if (candidate / "template.yaml").is_file():
                return candidate
    raise StackDeployError(
        f"template.yaml not found above {Path(__file__).parent} or the working directory; set {HOME_ENV}"
    )


def default_template() -> Path:
    return repo_root() / "template.yaml"


# --------------------------------------------------------------------------------------------- template


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
        raise StackDeployError(f"template does not translate: {problems}") from exc
    finally:
        ArnGenerator.BOTO_SESSION_REGION_NAME = previous
    return undo_mark_unicode_str_in_template(translated)


# --------------------------------------------------------------------------------------------- deploy


def deploy(
    endpoint: str,
    *,
    template: Path | None = None,
    stack_name: str = "thermocline",
    region: str = "us-east-1",
    parameters: dict[str, str] | None = None,
) -> StackInfo:
    """Create the stack from ``template`` in moto's server at ``endpoint`` (or describe it if it exists)."""
    template = (template or default_template()).resolve()
    cfn = aws.client("cloudformation", endpoint_url=endpoint, region_name=region)
    sam_template = load_template(template)
    code_dirs = _code_dirs(sam_template, template.parent)

    existing = _existing_stack(cfn, stack_name)
    if existing is None:
        _create(endpoint, region, stack_name, sam_template, template.parent, parameters or {})
    return _describe(endpoint, region, stack_name, code_dirs)


def warm(endpoint: str, region: str = "us-east-1") -> None:
    """Have moto's server load its CloudFormation engine now (one harmless request), so that the
    deployment that follows does not wait for it."""
    cfn = aws.client("cloudformation", endpoint_url=endpoint, region_name=region)
    try:
        cfn.list_stacks()
    except (ClientError, ResponseParserError) as exc:
        logger.debug("warming moto's CloudFormation: %s", exc)


def _existing_stack(cfn: Any, stack_name: str) -> dict[str, Any] | None:
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    live = [s for s in stacks if not s["StackStatus"].startswith("DELETE")]
    if not live:
        return None
    if live[0]["StackStatus"] not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        raise StackDeployError(
            f"stack {stack_name} is {live[0]['StackStatus']}: {live[0].get('StackStatusReason', '')}"
        )
    return live[0]


def _code_dirs(sam_template: dict[str, Any], base: Path) -> dict[str, Path]:
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


def _create(
    endpoint: str,
    region: str,
    stack_name: str,
    sam_template: dict[str, Any],
    base: Path,
    parameters: dict[str, str],
) -> None:
    sam_template = copy.deepcopy(sam_template)
    _upload_code(endpoint, region, stack_name, sam_template, base)
    cfn_template = _cached(
        "cfn",
        [sam_template, region, parameters, importlib.metadata.version("aws-sam-translator")],
        lambda: translate(sam_template, region, parameters),
    )
    supported = set(
        _cached("moto-types", [importlib.metadata.version("moto")], lambda: sorted(_moto_resource_types()))
    )

    resources: dict[str, Any] = cfn_template["Resources"]
    removed: dict[str, dict[str, Any]] = {}
    outputs = cfn_template.setdefault("Outputs", {})
    for logical_id, resource in list(resources.items()):
        rtype = resource["Type"]
        if rtype == "AWS::Lambda::EventSourceMapping":
            removed[logical_id] = resources.pop(logical_id)
            outputs[f"{_HIDDEN}Esm{logical_id}"] = {"Value": {"Fn::ToJsonString": _esm_fields(resource)}}
        elif rtype not in supported:
            removed[logical_id] = resources.pop(logical_id)
    not_supported = sorted(k for k, v in removed.items() if v["Type"] != "AWS::Lambda::EventSourceMapping")
    if not_supported:
        logger.warning(
            "moto cannot create these resources; the local stack goes without them: %s",
            ", ".join(f"{k} ({removed[k]['Type']})" for k in not_supported),
        )
    esms = sorted(set(removed) - set(not_supported))
    if esms:
        logger.info("event source mappings left to the local poller: %s", ", ".join(esms))

    outputs[f"{_HIDDEN}Skipped"] = {"Value": ",".join(sorted(removed)) or "-"}
    cfn_template["Resources"] = _scrub(resources, removed)
    cfn_template["Outputs"] = _scrub(outputs, removed)
    _add_fixup_outputs(cfn_template)

    cfn = aws.client("cloudformation", endpoint_url=endpoint, region_name=region)
    try:
        cfn.create_stack(
            StackName=stack_name,
            TemplateBody=json.dumps(cfn_template),
            Parameters=[{"ParameterKey": k, "ParameterValue": str(v)} for k, v in parameters.items()],
            Capabilities=_CAPABILITIES,
        )
    except (ClientError, ResponseParserError) as exc:
        # moto answers an exception inside create_stack with a bare HTTP 500; its log has the traceback.
        raise StackDeployError(f"moto could not create stack {stack_name} at {endpoint}: {exc}") from exc
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise StackDeployError(
            f"stack {stack_name} is {stack['StackStatus']}: {stack.get('StackStatusReason', '')}"
        )
    _apply_fixups(endpoint, region, stack_name, _outputs(stack, hidden=True))


def _cache_dir() -> Path | None:
    value = os.environ.get(CACHE_ENV)
    if value == "off":
        return None
    if value:
        return Path(value)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "thermocline"


def _cache_path(kind: str, key: Any) -> Path | None:
    directory = _cache_dir()
    if directory is None:
        return None
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return directory / f"{kind}-{digest}.json"


def cache_load(kind: str, key: Any) -> Any:
    """The value stored under ``kind`` and a digest of ``key``; None when absent or caching is off."""
    path = _cache_path(kind, key)
    if path is None:
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def cache_store(kind: str, key: Any, value: Any) -> None:
    path = _cache_path(kind, key)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        partial.write_text(json.dumps(value))
        os.replace(partial, path)
    except OSError as exc:
        logger.debug("cache not written: %s", exc)


def _cached(kind: str, key: Any, compute: Any) -> Any:
    """``compute()``, remembered as JSON on disk under a digest of ``key``."""
    value = cache_load(kind, key)
    if value is None:
        value = compute()
        cache_store(kind, key, value)
    return value


def _moto_resource_types() -> set[str]:
    """Resource types moto's CloudFormation can create (the server runs the same moto as this process)."""
    from moto.cloudformation.parsing import get_model_map

    return set(get_model_map())


def _upload_code(
    endpoint: str, region: str, stack_name: str, sam_template: dict[str, Any], base: Path
) -> None:
    """Replace local ``CodeUri``/``ContentUri`` paths by zips in a moto bucket, as ``sam package`` does."""
    s3 = aws.client("s3", endpoint_url=endpoint, region_name=region)
    bucket = re.sub(r"[^a-z0-9-]", "-", f"{stack_name.lower()}-local-artifacts")[:63]
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    for logical_id, code_dir in _code_dirs(sam_template, base).items():
        if not code_dir.is_dir():
            raise StackDeployError(f"{logical_id}: code directory {code_dir} does not exist")
        key = f"{logical_id}.zip"
        s3.put_object(Bucket=bucket, Key=key, Body=_zip_dir(code_dir))
        props = sam_template["Resources"][logical_id]["Properties"]
        props["ContentUri" if "ContentUri" in props else "CodeUri"] = f"s3://{bucket}/{key}"


def _zip_dir(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            parts = set(path.relative_to(directory).parts)
            if (
                path.is_file()
                and not parts & _ZIP_EXCLUDE
                and not any(p.endswith(".egg-info") for p in parts)
            ):
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


def _esm_fields(resource: dict[str, Any]) -> dict[str, Any]:
    props = resource["Properties"]
    function = props["FunctionName"]
    return {
        "Function": function["Ref"] if isinstance(function, dict) and "Ref" in function else function,
        "EventSourceArn": props["EventSourceArn"],
        "BatchSize": props.get("BatchSize", 0),
        "MaximumBatchingWindowInSeconds": props.get("MaximumBatchingWindowInSeconds", 0),
        "StartingPosition": props.get("StartingPosition", ""),
        "FunctionResponseTypes": props.get("FunctionResponseTypes", []),
    }


# Properties moto's CloudFormation ignores, applied afterwards through the service APIs.
_S3_FIXUPS = ("NotificationConfiguration", "VersioningConfiguration", "PublicAccessBlockConfiguration")
_DDB_FIXUPS = ("TimeToLiveSpecification", "PointInTimeRecoverySpecification")


def _add_fixup_outputs(cfn_template: dict[str, Any]) -> None:
    for logical_id, resource in cfn_template["Resources"].items():
        props = resource.get("Properties") or {}
        wanted = {"AWS::S3::Bucket": _S3_FIXUPS, "AWS::DynamoDB::Table": _DDB_FIXUPS}.get(
            resource["Type"], ()
        )
        fixups = {name: props[name] for name in wanted if name in props}
        if fixups:
            fixups["Resource"] = {"Ref": logical_id}
            fixups["Type"] = resource["Type"]
            cfn_template["Outputs"][f"{_HIDDEN}Fixup{logical_id}"] = {"Value": {"Fn::ToJsonString": fixups}}


def _apply_fixups(endpoint: str, region: str, stack_name: str, outputs: dict[str, str]) -> None:
    s3 = aws.client("s3", endpoint_url=endpoint, region_name=region)
    ddb = aws.client("dynamodb", endpoint_url=endpoint, region_name=region)
    for key, value in outputs.items():
        if not key.startswith(f"{_HIDDEN}Fixup"):
            continue
        fixup = json.loads(value)
        name = fixup["Resource"]
        if fixup["Type"] == "AWS::S3::Bucket":
            if "VersioningConfiguration" in fixup:
                s3.put_bucket_versioning(
                    Bucket=name,
                    VersioningConfiguration={"Status": fixup["VersioningConfiguration"]["Status"]},
                )
            if "PublicAccessBlockConfiguration" in fixup:
                s3.put_public_access_block(
                    Bucket=name, PublicAccessBlockConfiguration=fixup["PublicAccessBlockConfiguration"]
                )
            if "NotificationConfiguration" in fixup:
                s3.put_bucket_notification_configuration(
                    Bucket=name,
                    NotificationConfiguration=_notification_api_shape(fixup["NotificationConfiguration"]),
                )
        else:
            ttl = fixup.get("TimeToLiveSpecification")
            if ttl and _truthy(ttl.get("Enabled")):
                ddb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
                )
            pitr = fixup.get("PointInTimeRecoverySpecification")
            if pitr and _truthy(pitr.get("PointInTimeRecoveryEnabled")):
                ddb.update_continuous_backups(
                    TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
                )


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _notification_api_shape(config: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's ``NotificationConfiguration`` -> the S3 API's (the two spell it differently)."""
    kinds = {
        "QueueConfigurations": ("Queue", "QueueArn"),
        "TopicConfigurations": ("Topic", "TopicArn"),
        "LambdaConfigurations": ("Function", "LambdaFunctionArn"),
    }
    api: dict[str, Any] = {}
    for kind, (cfn_key, api_key) in kinds.items():
        for item in config.get(kind, []):
            entry: dict[str, Any] = {api_key: item[cfn_key], "Events": [item["Event"]]}
            rules = item.get("Filter", {}).get("S3Key", {}).get("Rules")
            if rules:
                entry["Filter"] = {"Key": {"FilterRules": rules}}
            api.setdefault(kind, []).append(entry)
    if config.get("EventBridgeConfiguration") is not None:
        api["EventBridgeConfiguration"] = {}
    return api


# --------------------------------------------------------------------------------------------- scrubbing

_SUB_VAR = re.compile(r"\$\{([A-Za-z0-9_:]+)(?:\.([A-Za-z0-9_.]+))?\}")


def _stand_in_ref(logical_id: str, removed: dict[str, dict[str, Any]]) -> Any:
    props = removed[logical_id].get("Properties") or {}
    for name in _NAME_PROPERTIES:
        if name in props:
            return _scrub(copy.deepcopy(props[name]), removed)
    return logical_id


def _stand_in_att(logical_id: str, attribute: str) -> dict[str, Any]:
    return {
        "Fn::Sub": f"arn:${{AWS::Partition}}:cloudformation:${{AWS::Region}}:${{AWS::AccountId}}:not-deployed/{logical_id}/{attribute}"
    }


def _scrub(node: Any, removed: dict[str, dict[str, Any]]) -> Any:
    """Replace references to ``removed`` resources by stand-ins; drop them from ``DependsOn``."""
    if isinstance(node, list):
        return [_scrub(item, removed) for item in node]
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
        result[key] = _scrub(value, removed)
    return result


def _scrub_sub(value: Any, removed: dict[str, dict[str, Any]]) -> dict[str, Any]:
    text, variables = (value, {}) if isinstance(value, str) else (value[0], dict(value[1]))
    variables = {k: _scrub(v, removed) for k, v in variables.items()}

    def replace(match: re.Match[str]) -> str:
        name, attribute = match.group(1), match.group(2)
        if name in variables or name not in removed:
            return match.group(0)
        var = f"{name}{attribute or ''}".replace(".", "")
        variables[var] = _stand_in_att(name, attribute) if attribute else _stand_in_ref(name, removed)
        return f"${{{var}}}"

    text = _SUB_VAR.sub(replace, text)
    return {"Fn::Sub": [text, variables] if variables else text}


# --------------------------------------------------------------------------------------------- describe


def _outputs(stack: dict[str, Any], *, hidden: bool) -> dict[str, str]:
    return {
        o["OutputKey"]: o["OutputValue"]
        for o in stack.get("Outputs", [])
        if o["OutputKey"].startswith(_HIDDEN) == hidden
    }


def _describe(endpoint: str, region: str, stack_name: str, code_dirs: dict[str, Path]) -> StackInfo:
    cfn = aws.client("cloudformation", endpoint_url=endpoint, region_name=region)
    lam = aws.client("lambda", endpoint_url=endpoint, region_name=region)
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    hidden = _outputs(stack, hidden=True)
    # moto lists the resources whose Condition is false too, without a logical id: they do not exist.
    described = [
        r
        for r in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
        if "LogicalResourceId" in r
    ]
    resources = {r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in described}
    types = {r["LogicalResourceId"]: r["ResourceType"] for r in described}
    for logical_id, rtype in types.items():
        # moto reports no physical id for layer versions; the stack's layer is the one named after it.
        if rtype == "AWS::Lambda::LayerVersion" and not resources[logical_id]:
            layers = [
                layer["LatestMatchingVersion"]["LayerVersionArn"]
                for layer in lam.list_layers()["Layers"]
                if layer["LayerName"].startswith(stack_name)
            ]
            resources[logical_id] = layers[0] if len(layers) == 1 else ""
    # SAM renames a layer with a content hash (ThermoclineLayer -> ThermoclineLayer1a2b3c...); keep both names.
    for logical_id in code_dirs:
        if logical_id not in resources:
            hashed = [
                k for k, t in types.items() if t == "AWS::Lambda::LayerVersion" and k.startswith(logical_id)
            ]
            if len(hashed) == 1:
                resources[logical_id] = resources[hashed[0]]
    functions = {}
    for logical_id, rtype in types.items():
        if rtype != "AWS::Lambda::Function":
            continue
        config = lam.get_function_configuration(FunctionName=resources[logical_id])
        functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_dir=code_dirs.get(logical_id, Path()),
            handler=config["Handler"],
            # Lambda hands every variable to the function as text, whatever type the template gave it.
            environment={k: str(v) for k, v in config.get("Environment", {}).get("Variables", {}).items()},
            timeout=int(config.get("Timeout", 3)),
            memory_size=int(config.get("MemorySize", 128)),
        )
    mappings = []
    for key in sorted(hidden):
        if not key.startswith(f"{_HIDDEN}Esm"):
            continue
        esm = json.loads(hidden[key])
        arn = esm["EventSourceArn"]
        mappings.append(
            EventSourceMapping(
                function=esm["Function"],
                source_arn=arn,
                kind="sqs" if arn.split(":")[2] == "sqs" else "dynamodb",
                batch_size=int(esm["BatchSize"] or (10 if ":sqs:" in arn else 100)),
                maximum_batching_window_seconds=int(esm["MaximumBatchingWindowInSeconds"] or 0),
                starting_position=esm["StartingPosition"] or None,
                report_batch_item_failures="ReportBatchItemFailures" in esm["FunctionResponseTypes"],
            )
        )
    skipped = [s for s in hidden.get(f"{_HIDDEN}Skipped", "-").split(",") if s and s != "-"]
    return StackInfo(
        endpoint=endpoint,
        region=region,
        stack_name=stack_name,
        resources=resources,
        outputs=_outputs(stack, hidden=False),
        functions=functions,
        event_source_mappings=mappings,
        skipped=skipped,
    )
