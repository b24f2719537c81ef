"""Deploy ``template.yaml`` itself into moto's server: the local stack cannot drift from ``sam deploy``.

The SAM template is translated to CloudFormation by ``aws-sam-translator`` (the library ``sam`` uses), local
``CodeUri``/``ContentUri`` paths are zipped into a moto bucket, and moto's CloudFormation ``create_stack``
creates the table with its stream, the buckets, queues, roles, layer and functions under stack-style names.

What moto cannot or should not create is left out and reported in ``StackInfo.skipped``:

* resource types moto's CloudFormation does not know (Redshift Serverless, Scheduler schedules, queue and
  bucket policies, ...). References to them are replaced by stand-ins (``stack_scrub``).
* event source mappings. moto would invoke the function itself on every stream record or queue message
  (which needs Docker) and consume the records; the local poller invokes handlers in-process instead, so the
  mappings are returned, fully resolved, in ``StackInfo.event_source_mappings``.

Some properties moto's CloudFormation accepts but ignores (S3 notifications, versioning, lifecycle, public
access block; DynamoDB TTL and point-in-time recovery) are applied through the service APIs after the stack
is created, with the values moto resolved for them (``stack_fixups``). Reading and translating the template
is ``template``; translations are cached on disk (``cache``).
"""

from __future__ import annotations

import copy
import importlib.metadata
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from thermocline import aws
from thermocline.local.cache import cached
from thermocline.local.stack_fixups import HIDDEN, add_fixup_outputs, apply_fixups
from thermocline.local.stack_scrub import scrub
from thermocline.local.template import code_dirs, default_template, load_template, translate
from thermocline.observability import logger

_CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
_ZIP_EXCLUDE = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


class StackDeployError(RuntimeError):
    """The stack could not be deployed into moto."""


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
    local_code = code_dirs(sam_template, template.parent)

    existing = _existing_stack(cfn, stack_name)
    if existing is None:
        _create(endpoint, region, stack_name, sam_template, template.parent, parameters or {})
    return _describe(endpoint, region, stack_name, local_code)


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
    cfn_template = cached(
        "cfn",
        [sam_template, region, parameters, importlib.metadata.version("aws-sam-translator")],
        lambda: translate(sam_template, region, parameters),
    )
    supported = set(
        cached("moto-types", [importlib.metadata.version("moto")], lambda: sorted(_moto_resource_types()))
    )

    resources: dict[str, Any] = cfn_template["Resources"]
    removed: dict[str, dict[str, Any]] = {}
    outputs = cfn_template.setdefault("Outputs", {})
    for logical_id, resource in list(resources.items()):
        rtype = resource["Type"]
        if rtype == "AWS::Lambda::EventSourceMapping":
            removed[logical_id] = resources.pop(logical_id)
            outputs[f"{HIDDEN}Esm{logical_id}"] = {"Value": {"Fn::ToJsonString": _esm_fields(resource)}}
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

    outputs[f"{HIDDEN}Skipped"] = {"Value": ",".join(sorted(removed)) or "-"}
    cfn_template["Resources"] = scrub(resources, removed)
    cfn_template["Outputs"] = scrub(outputs, removed)
    add_fixup_outputs(cfn_template)

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
    apply_fixups(endpoint, region, stack_name, _outputs(stack, hidden=True))


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
    for logical_id, code_dir in code_dirs(sam_template, base).items():
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


# --------------------------------------------------------------------------------------------- scrubbing

# --------------------------------------------------------------------------------------------- describe


def _outputs(stack: dict[str, Any], *, hidden: bool) -> dict[str, str]:
    return {
        o["OutputKey"]: o["OutputValue"]
        for o in stack.get("Outputs", [])
        if o["OutputKey"].startswith(HIDDEN) == hidden
    }


def _describe(endpoint: str, region: str, stack_name: str, local_code: dict[str, Path]) -> StackInfo:
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
    for logical_id in local_code:
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
            code_dir=local_code.get(logical_id, Path()),
            handler=config["Handler"],
            # Lambda hands every variable to the function as text, whatever type the template gave it.
            environment={k: str(v) for k, v in config.get("Environment", {}).get("Variables", {}).items()},
            timeout=int(config.get("Timeout", 3)),
            memory_size=int(config.get("MemorySize", 128)),
        )
    mappings = []
    for key in sorted(hidden):
        if not key.startswith(f"{HIDDEN}Esm"):
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
    skipped = [s for s in hidden.get(f"{HIDDEN}Skipped", "-").split(",") if s and s != "-"]
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
