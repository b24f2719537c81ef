"""``template.yaml`` says what docs/architecture.md and the issue promise, and lints clean.

The same checks ``sam validate --lint`` makes (translation by aws-sam-translator, then cfn-lint) run here
in-process in a few seconds; ``make validate`` runs sam-cli itself in CI.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.integration.iam_policy import translated
from thermocline.local.template import code_dirs, load_template, repo_root

ROOT = repo_root()
FUNCTIONS = {
    "StreamIngestFunction": "functions/stream_ingest/",
    "WarehouseLoadFunction": "functions/warehouse_load/",
    "AnalyticsReportFunction": "functions/analytics_report/",
    "BackfillFunction": "functions/backfill/",
    "ReconcileFunction": "functions/reconcile/",
    "ExportStartFunction": "functions/export_start/",
    "ExportIngestFunction": "functions/export_ingest/",
    "HotViewsFunction": "functions/hot_views/",
    "WarehouseSetupFunction": "functions/warehouse_setup/",
}


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return translated()


def _of_type(template: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == rtype}


def test_cfn_lint_finds_nothing() -> None:
    from cfnlint.api import ManualArgs, lint

    # The default rules, as `sam validate --lint` and `make review` run them (lint_all adds experimental
    # rules whose condition solver takes minutes on this template's bring-your-own-warehouse conditions).
    matches = lint((ROOT / "template.yaml").read_text(), config=ManualArgs(regions=["us-east-1"]))
    assert [str(m) for m in matches] == []


def test_environment_matches_docs_architecture(sam: dict[str, Any]) -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    rows = re.findall(r"^\| `(\w+Function)` \| `([^`]+)` \| (.+) \|$", doc, re.MULTILINE)
    assert {name for name, _, _ in rows} == set(FUNCTIONS)
    common = sam["Globals"]["Function"]["Environment"]["Variables"]
    assert common == {
        "POWERTOOLS_METRICS_NAMESPACE": {"Fn::Sub": "Thermocline/${AWS::StackName}"},
        "THERMOCLINE_XRAY_SDK": {"Ref": "XRaySdkTracing"},
    }
    for name, handler_path, env_cell in rows:
        props = sam["Resources"][name]["Properties"]
        assert props["CodeUri"] + "app.py" == handler_path
        documented = set(re.findall(r"`([A-Z_]+)`", env_cell))
        assert set(props["Environment"]["Variables"]) == documented | {"POWERTOOLS_SERVICE_NAME"}
    loader = sam["Resources"]["WarehouseLoadFunction"]["Properties"]["Environment"]["Variables"]
    assert loader["DELETE_MODE"] == {"Ref": "DeleteMode"}
    assert sam["Parameters"]["DeleteMode"]["Default"] == "hard"


def test_functions_build_with_makefiles_on_python312(sam: dict[str, Any]) -> None:
    function_globals = sam["Globals"]["Function"]
    assert function_globals["Handler"] == "app.lambda_handler"
    for name, code_uri in FUNCTIONS.items():
        resource = sam["Resources"][name]
        assert resource["Properties"]["CodeUri"] == code_uri
        assert resource["Metadata"]["BuildMethod"] == "makefile"
        assert f"build-{name}:" in (ROOT / code_uri / "Makefile").read_text()
    layer = sam["Resources"]["ThermoclineLayer"]
    assert layer["Properties"]["ContentUri"] == "layers/thermocline/"
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert "build-ThermoclineLayer:" in (ROOT / "layers/thermocline/Makefile").read_text()


def test_every_function_and_layer_runs_on_the_one_chosen_lambda_platform(sam: dict[str, Any]) -> None:
    params = sam["Parameters"]
    assert params["Architecture"]["AllowedValues"] == ["x86_64", "arm64"]
    assert params["PythonRuntime"]["AllowedValues"] == ["python3.12", "python3.13"]
    assert (params["Architecture"]["Default"], params["PythonRuntime"]["Default"]) == ("x86_64", "python3.12")
    function_globals = sam["Globals"]["Function"]
    assert function_globals["Runtime"] == {"Ref": "PythonRuntime"}
    assert function_globals["Architectures"] == [{"Ref": "Architecture"}]
    for name, resource in _of_type(sam, "AWS::Serverless::Function").items():
        # A function of its own runtime or architecture would load layers built for another platform.
        assert "Runtime" not in resource["Properties"], name
        assert "Architectures" not in resource["Properties"], name
    layers = _of_type(sam, "AWS::Serverless::LayerVersion")
    assert layers
    for name, layer in layers.items():
        assert layer["Properties"]["CompatibleRuntimes"] == [{"Ref": "PythonRuntime"}], name
        assert layer["Properties"]["CompatibleArchitectures"] == [{"Ref": "Architecture"}], name
        assert layer["Metadata"]["BuildArchitecture"] == {"Ref": "Architecture"}, name
        # Its build reads the platform from LAMBDA_ARCHITECTURE / LAMBDA_RUNTIME, as `make build` sets them.
        makefile = (ROOT / layer["Properties"]["ContentUri"] / "Makefile").read_text()
        assert "scripts/build_layer.py" in makefile, name


def test_stream_source_is_bounded_bisected_and_has_a_failure_destination(cfn: dict[str, Any]) -> None:
    (esm,) = [
        r["Properties"]
        for r in _of_type(cfn, "AWS::Lambda::EventSourceMapping").values()
        if r["Properties"]["FunctionName"] == {"Ref": "StreamIngestFunction"}
    ]
    assert esm["EventSourceArn"] == {"Fn::GetAtt": ["Table", "StreamArn"]}
    assert esm["StartingPosition"] == "TRIM_HORIZON"
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert esm["BisectBatchOnFunctionError"] is True
    assert esm["MaximumRetryAttempts"] == {"Ref": "StreamMaximumRetryAttempts"}
    assert 0 <= int(cfn["Parameters"]["StreamMaximumRetryAttempts"]["MaxValue"]) <= 100
    assert esm["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["StreamFailureQueue", "Arn"]
    }
    assert esm["BatchSize"] == {"Ref": "StreamBatchSize"}
    assert esm["MaximumBatchingWindowInSeconds"] == {"Ref": "StreamBatchingWindowSeconds"}


def test_loader_batches_notifications_and_never_strands_them(cfn: dict[str, Any]) -> None:
    loader = cfn["Resources"]["WarehouseLoadFunction"]["Properties"]
    (esm,) = [
        r["Properties"]
        for r in _of_type(cfn, "AWS::Lambda::EventSourceMapping").values()
        if r["Properties"]["FunctionName"] == {"Ref": "WarehouseLoadFunction"}
    ]
    assert esm["EventSourceArn"] == {"Fn::GetAtt": ["LoadQueue", "Arn"]}
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert esm["ScalingConfig"]["MaximumConcurrency"] == 2
    assert cfn["Parameters"]["LoadBatchSize"]["Default"] == 200
    assert cfn["Parameters"]["LoadBatchingWindowSeconds"]["Default"] == 60
    # Lambda's advice for SQS sources: visibility timeout at least six times the function timeout; and
    # no more, so a throttled or failed batch is back within half an hour.
    queue = cfn["Resources"]["LoadQueue"]["Properties"]
    assert queue["VisibilityTimeout"] == 6 * loader["Timeout"] <= 1800
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["LoadDeadLetterQueue", "Arn"]}


def test_every_shipped_report_has_its_own_schedule_from_its_definition(cfn: dict[str, Any]) -> None:
    from thermocline.reporting.definition import available_reports, load_report

    rules = _of_type(cfn, "AWS::Events::Rule")
    report_arn = json.dumps({"Fn::GetAtt": ["AnalyticsReportFunction", "Arn"]})
    scheduled = {
        json.loads(t["Input"])["report"]: r["Properties"]
        for r in rules.values()
        for t in r["Properties"]["Targets"]
        if json.dumps(t["Arn"]) == report_arn
    }
    assert set(scheduled) == set(available_reports())
    for name, rule in scheduled.items():
        assert rule["ScheduleExpression"] == load_report(name).schedule
        assert rule["State"] == {"Ref": "ReportSchedulesState"}
    drain = [
        t
        for r in rules.values()
        for t in r["Properties"]["Targets"]
        if json.dumps(t["Arn"]) == json.dumps({"Fn::GetAtt": ["WarehouseLoadFunction", "Arn"]})
    ]
    # No input: the loader recognises the scheduled event itself and drains the queue.
    assert len(drain) == 1 and "Input" not in drain[0]


def test_report_schedules_in_the_template_are_generated_from_the_definitions() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "report_schedules.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_report_query_deadline_is_below_the_function_timeout(sam: dict[str, Any]) -> None:
    props = sam["Resources"]["AnalyticsReportFunction"]["Properties"]
    # Every form of the URL (created workgroup, existing workgroup, existing cluster) carries it.
    urls = re.findall(
        r"redshift-data://[^\"]+", json.dumps(props["Environment"]["Variables"]["WAREHOUSE_URL"])
    )
    assert len(urls) == 2
    for url in urls:
        deadline = int(re.search(r"[?&]deadline=(\d+)", url).group(1))
        assert 0 < deadline <= props["Timeout"] - 30


def test_lake_notifies_the_load_queue_which_only_the_lake_may_send_to(sam: dict[str, Any]) -> None:
    lake = sam["Resources"]["LakeBucket"]["Properties"]
    (notification,) = lake["NotificationConfiguration"]["QueueConfigurations"]
    assert notification["Queue"] == {"Fn::GetAtt": ["LoadQueue", "Arn"]}
    rules = {r["Name"]: r["Value"] for r in notification["Filter"]["S3Key"]["Rules"]}
    assert rules == {"prefix": "cdc/", "suffix": ".parquet"}
    assert "LoadQueuePolicy" in sam["Resources"]["LakeBucket"]["DependsOn"]
    (statement,) = sam["Resources"]["LoadQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    # The policy names the bucket the way the bucket names itself (an explicit name breaks the cycle).
    source_text, source_vars = statement["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
    name_text, name_vars = lake["BucketName"]["Fn::Sub"]
    assert source_text.endswith(":::" + name_text)
    assert source_vars == name_vars
    for bucket in ("LakeBucket", "ReportsBucket"):
        props = sam["Resources"][bucket]["Properties"]
        assert all(props["PublicAccessBlockConfiguration"].values())
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]


def test_warehouse_password_is_managed_by_secrets_manager(sam: dict[str, Any]) -> None:
    namespace = sam["Resources"]["Namespace"]["Properties"]
    assert namespace["ManageAdminPassword"] is True
    assert "AdminUserPassword" not in namespace
    text = (ROOT / "template.yaml").read_text()
    assert not re.search(
        r"(?i)password\s*:\s*['\"]?\w",
        text.replace("ManageAdminPassword: true", "").replace("ManageMasterUserPassword: true", ""),
    )


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_translation_needs_no_local_paths_but_the_code_dirs(sam: dict[str, Any]) -> None:
    dirs = code_dirs(sam, ROOT)
    assert set(dirs) == {*FUNCTIONS, "ThermoclineLayer"}
    assert all(isinstance(d, Path) and d.is_dir() for d in dirs.values())


def test_hot_views_have_their_own_mapping_network_cache_and_alarms(sam: dict[str, Any]) -> None:
    res = sam["Resources"]
    hot = res["HotViewsFunction"]
    assert hot["Condition"] == "HotViewsEnabled"
    stream = hot["Properties"]["Events"]["TableStream"]["Properties"]
    # Its own mapping on the table's stream: a slow warehouse or a failing lake write never delays it.
    assert stream["Stream"] == {"Fn::GetAtt": ["Table", "StreamArn"]}
    assert stream["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert (
        res["StreamIngestFunction"]["Properties"]["Events"]["TableStream"] is not hot["Properties"]["Events"]
    )
    vpc = hot["Properties"]["VpcConfig"]["Fn::If"]
    assert vpc[0] == "HotViewsInVpc"
    assert vpc[1] == {
        "SubnetIds": {"Ref": "SubnetIds"},
        "SecurityGroupIds": [{"Ref": "HotViewsSecurityGroup"}],
    }
    # The cache: Valkey, TLS and encryption at rest (always on for serverless), IAM authentication only.
    cache = res["HotCache"]["Properties"]
    assert res["HotCache"]["Type"] == "AWS::ElastiCache::ServerlessCache" and cache["Engine"] == "valkey"
    assert cache["SecurityGroupIds"] == [{"Ref": "CacheSecurityGroup"}]
    assert res["HotCacheUser"]["Properties"]["AuthenticationMode"] == {"Type": "iam"}
    ingress = res["CacheSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert {i["SourceSecurityGroupId"]["Ref"] for i in ingress} == {
        "HotViewsSecurityGroup",
        "AnalyticsReportSecurityGroup",
    }
    # What the functions in the VPC call without a NAT: S3 (gateway), the Data API and X-Ray (interface).
    endpoints = {k: v["Properties"] for k, v in res.items() if v["Type"] == "AWS::EC2::VPCEndpoint"}
    assert {p["VpcEndpointType"] for p in endpoints.values()} == {"Gateway", "Interface"}
    services = {str(p["ServiceName"]["Fn::Sub"]).rsplit(".", 1)[1] for p in endpoints.values()}
    assert services == {"s3", "redshift-data", "xray", "sns"}
    alarms = {
        v["Properties"]["MetricName"]
        for v in res.values()
        if v["Type"] == "AWS::CloudWatch::Alarm"
        and v["Properties"]["Dimensions"][0]["Value"] in ({"Ref": "HotViewsFunction"}, "hot-views")
    }
    assert {"Errors", "IteratorAge", "HotViewProblems"} <= alarms
