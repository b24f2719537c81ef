"""What a platform engineer's review of ``template.yaml`` found, kept fixed.

The template is rendered through the SAM translator (as ``sam deploy`` does) and the properties that make
the first deploy into a fresh account work, and keep it reviewable, are asserted on the result, so a later
change cannot quietly undo them: no fixed names, RetainExceptOnCreate for data, alarms wired to the topic,
no wildcard actions, no plaintext secrets, encryption, TLS only, no reserved concurrency, bring-your-own
warehouse conditions.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.integration.iam_policy import translated
from thermocline.local.template import load_template, repo_root

ROOT = repo_root()
DATA_HOLDERS = {"Table", "LakeBucket", "ReportsBucket", "AccessLogsBucket", "Namespace"}
STACK_SUFFIX = {
    "Fn::Select": [
        0,
        {"Fn::Split": ["-", {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}]},
    ]
}
ALARM_TARGET = [{"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}]


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return translated()


def _of_type(template: dict[str, Any], *types: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] in types}


def _walk(node: Any):
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _statements(cfn: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every IAM statement of the translated template (roles, managed and resource policies), per owner."""
    found = []
    for logical_id, resource in cfn["Resources"].items():
        for node in _walk(resource.get("Properties", {})):
            if isinstance(node, dict) and "Effect" in node and ("Action" in node or "NotAction" in node):
                found.append((logical_id, node))
            # A conditional statement: both branches are statements.
            if isinstance(node, dict) and set(node) == {"Fn::If"} and isinstance(node["Fn::If"][1], dict):
                for branch in node["Fn::If"][1:]:
                    if isinstance(branch, dict) and "Effect" in branch:
                        found.append((logical_id, branch))
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- names and retries ----------------------------------------------------------------------------------


def test_no_fixed_names_every_name_comes_from_the_stack(cfn: dict[str, Any]) -> None:
    name_props = {
        "FunctionName", "QueueName", "TopicName", "RoleName", "BucketName", "TableName", "LayerName",
        "NamespaceName", "WorkgroupName", "LogGroupName", "AlarmName", "DashboardName", "ManagedPolicyName",
    }  # fmt: skip
    for logical_id, resource in cfn["Resources"].items():
        if resource["Type"].startswith("Custom::"):
            continue
        for prop in name_props & set(resource.get("Properties", {})):
            value = json.dumps(resource["Properties"][prop])
            if resource["Properties"][prop] in [{"Ref": r} for r in cfn["Resources"]]:
                continue  # the name of another resource of this stack
            assert "AWS::StackName" in value or "AWS::StackId" in value, f"{logical_id}.{prop} = {value}"
    # Lambda limits function names to 64 characters: any stack name must fit, so none is set.
    for logical_id, resource in _of_type(cfn, "AWS::Lambda::Function").items():
        assert "FunctionName" not in resource["Properties"], logical_id


def test_lower_case_names_carry_the_stack_id_so_two_stacks_of_one_environment_never_collide(
    sam: dict[str, Any],
) -> None:
    for logical_id, prop in (
        ("LakeBucket", "BucketName"),
        ("Namespace", "NamespaceName"),
        ("Workgroup", "WorkgroupName"),
    ):
        text, variables = sam["Resources"][logical_id]["Properties"][prop]["Fn::Sub"]
        assert text.startswith("thermocline-${EnvironmentName}-") and text.endswith("${StackSuffix}")
        assert variables == {"StackSuffix": STACK_SUFFIX}
    # The longest environment name and any account id stay within S3's 63 characters.
    text = sam["Resources"]["LakeBucket"]["Properties"]["BucketName"]["Fn::Sub"][0]
    longest = text.replace("${EnvironmentName}", "x" * 12).replace("${AWS::AccountId}", "1" * 12)
    assert len(longest.replace("${StackSuffix}", "a" * 8)) <= 63


def test_data_is_kept_on_delete_but_not_after_a_failed_first_create(cfn: dict[str, Any]) -> None:
    for logical_id in DATA_HOLDERS:
        resource = cfn["Resources"][logical_id]
        assert resource["DeletionPolicy"] == "RetainExceptOnCreate", logical_id
        assert resource["UpdateReplacePolicy"] == "Retain", logical_id
    plain_retain = [k for k, r in cfn["Resources"].items() if r.get("DeletionPolicy") == "Retain"]
    assert plain_retain == []


# --- quotas ----------------------------------------------------------------------------------------------


def test_nothing_fails_on_a_new_accounts_concurrency_quota(cfn: dict[str, Any]) -> None:
    for logical_id, resource in _of_type(cfn, "AWS::Lambda::Function").items():
        assert "ReservedConcurrentExecutions" not in resource["Properties"], logical_id


def test_warehouse_deadlines_end_before_their_functions_do(cfn: dict[str, Any]) -> None:
    for name in ("WarehouseLoadFunction", "AnalyticsReportFunction"):
        props = cfn["Resources"][name]["Properties"]
        urls = json.dumps(props["Environment"]["Variables"]["WAREHOUSE_URL"])
        deadlines = {int(d) for d in re.findall(r"deadline=(\d+)", urls)}
        assert deadlines and max(deadlines) < props["Timeout"], name


# --- operations ------------------------------------------------------------------------------------------


def test_every_alarm_notifies_the_alarm_topic(cfn: dict[str, Any]) -> None:
    alarms = _of_type(cfn, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 15
    for logical_id, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == ALARM_TARGET, logical_id
        assert alarm["Properties"]["OKActions"] == ALARM_TARGET, logical_id
    assert cfn["Resources"]["AlarmTopic"]["Condition"] == "CreateAlarmTopic"
    assert cfn["Resources"]["AlarmEmailSubscription"]["Properties"]["Protocol"] == "email"


def test_every_function_has_error_and_throttle_alarms(cfn: dict[str, Any]) -> None:
    watched: dict[str, set[str]] = {}
    for alarm in _of_type(cfn, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        if props["Namespace"] == "AWS/Lambda":
            (dimension,) = props["Dimensions"]
            watched.setdefault(dimension["Value"]["Ref"], set()).add(props["MetricName"])
    for function in _of_type(cfn, "AWS::Lambda::Function"):
        assert {"Errors", "Throttles"} <= watched.get(function, set()), function
    assert "IteratorAge" in watched["StreamIngestFunction"]


def test_the_pipelines_failure_points_are_alarmed(cfn: dict[str, Any]) -> None:
    alarms = _of_type(cfn, "AWS::CloudWatch::Alarm").values()
    queues = {
        json.dumps(a["Properties"]["Dimensions"][0]["Value"])
        for a in alarms
        if a["Properties"]["Namespace"] == "AWS/SQS"
    }
    for queue in ("StreamFailureQueue", "LoadDeadLetterQueue", "InvocationFailureQueue", "LoadQueue"):
        assert json.dumps({"Fn::GetAtt": [queue, "QueueName"]}) in queues, queue
    custom = {a["Properties"]["MetricName"] for a in alarms if "Fn::Sub" in a["Properties"]["Namespace"]}
    assert {"RecordsQuarantined", "FilesQuarantined", "LoadLagSeconds"} <= custom


def test_scheduled_runs_have_a_failure_destination(cfn: dict[str, Any]) -> None:
    failure_queue = {"Fn::GetAtt": ["InvocationFailureQueue", "Arn"]}
    configs = {
        r["Properties"]["FunctionName"]["Ref"]: r["Properties"]
        for r in _of_type(cfn, "AWS::Lambda::EventInvokeConfig").values()
    }
    for rule in _of_type(cfn, "AWS::Events::Rule").values():
        for target in rule["Properties"]["Targets"]:
            function = target["Arn"]["Fn::GetAtt"][0]
            assert configs[function]["DestinationConfig"]["OnFailure"]["Destination"] == failure_queue
            # Undeliverable events go to a queue of the stack (InvocationFailureQueue or one of their own).
            queue, attribute = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"]
            assert cfn["Resources"][queue]["Type"] == "AWS::SQS::Queue" and attribute == "Arn"


def test_the_warehouse_has_a_capacity_cap_and_a_usage_limit_option(cfn: dict[str, Any]) -> None:
    workgroup = cfn["Resources"]["Workgroup"]["Properties"]
    assert workgroup["MaxCapacity"] == {"Ref": "MaxCapacity"}
    assert cfn["Resources"]["WarehouseUsageLimit"]["Condition"] == "HasUsageLimit"
    assert set(cfn["Parameters"]["UsageLimitBreachAction"]["AllowedValues"]) == {
        "log",
        "emit-metric",
        "deactivate",
    }


def test_a_dashboard_shows_the_pipeline(cfn: dict[str, Any]) -> None:
    body = cfn["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    for metric in (
        "IteratorAge",
        "LoadLagSeconds",
        "RecordsQuarantined",
        "ApproximateAgeOfOldestMessage",
        "Errors",
        "Throttles",
    ):
        assert metric in body
    json.loads(re.sub(r"\$\{[^}]+\}", "x", body))  # valid JSON once CloudFormation substitutes


# --- review findings -------------------------------------------------------------------------------------


# Actions IAM cannot scope to a resource: they are granted on "*" or not at all (the Service Authorization
# Reference lists no resource type for the usage-limit actions).
NO_RESOURCE_TYPE = {
    "rds:DescribeExportTasks",
    "redshift-serverless:CreateUsageLimit",
    "redshift-serverless:UpdateUsageLimit",
    "redshift-serverless:DeleteUsageLimit",
}


def test_no_wildcard_actions_and_star_resources_only_with_a_condition(cfn: dict[str, Any]) -> None:
    for owner, statement in _statements(cfn):
        if statement["Effect"] != "Allow":
            continue
        actions = _as_list(statement["Action"])
        for action in actions:
            assert "*" not in action, f"{owner}: {action}"
        # In a key policy "Resource: *" means the key itself.
        if "*" in _as_list(statement.get("Resource")) and cfn["Resources"][owner]["Type"] != "AWS::KMS::Key":
            assert statement.get("Condition") or set(actions) <= NO_RESOURCE_TYPE, f"{owner}: Resource *"


def test_no_plaintext_secrets(cfn: dict[str, Any]) -> None:
    text = json.dumps(cfn)
    assert "AdminUserPassword" not in text
    assert not re.search(r'"(?i:[a-z_]*(password|secret_key|token))"\s*:\s*"[^"$]', text)
    for resource in _of_type(cfn, "AWS::Lambda::Function").values():
        env = json.dumps(resource["Properties"].get("Environment", {}))
        assert not re.search(r"(?i)password|secret", env)


def test_everything_that_holds_data_is_encrypted(cfn: dict[str, Any]) -> None:
    for logical_id, bucket in _of_type(cfn, "AWS::S3::Bucket").items():
        assert bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"], logical_id
        assert all(bucket["Properties"]["PublicAccessBlockConfiguration"].values()), logical_id
    for logical_id, queue in _of_type(cfn, "AWS::SQS::Queue").items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True, logical_id
    assert cfn["Resources"]["Table"]["Properties"]["SSESpecification"]["SSEEnabled"] is True
    assert cfn["Resources"]["AlarmTopic"]["Properties"]["KmsMasterKeyId"]


def test_tls_only(cfn: dict[str, Any]) -> None:
    policies = {r["Properties"]["Bucket"]["Ref"]: r for r in _of_type(cfn, "AWS::S3::BucketPolicy").values()}
    for bucket in _of_type(cfn, "AWS::S3::Bucket"):
        statements = policies[bucket]["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        ), bucket
    parameters = cfn["Resources"]["Workgroup"]["Properties"]["ConfigParameters"]
    assert {"ParameterKey": "require_ssl", "ParameterValue": "true"} in parameters


def test_lake_bucket_access_is_logged(cfn: dict[str, Any]) -> None:
    logging = cfn["Resources"]["LakeBucket"]["Properties"]["LoggingConfiguration"]
    assert logging["DestinationBucketName"] == {"Ref": "AccessLogsBucket"}


def test_copy_role_reads_only_loaded_files_is_not_the_default_and_trusts_redshift_as_documented(
    cfn: dict[str, Any],
) -> None:
    # Which objects it may read, file by file: test_template_access.py.
    role = cfn["Resources"]["RedshiftCopyRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    # A condition on a key Redshift is not documented to send (aws:SourceAccount) would refuse every COPY.
    assert trust["Principal"] == {"Service": ["redshift.amazonaws.com", "redshift-serverless.amazonaws.com"]}
    assert "Condition" not in trust
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    objects = [r["Fn::Sub"] for s in statements if s["Action"] == "s3:GetObject" for r in s["Resource"]]
    prefixes = [o.removeprefix("${LakeBucket.Arn}/") for o in objects]
    assert prefixes == ["cdc/*", "_conformed/*", "snapshot/*", "_manifests/*"]
    listing = [s for s in statements if s["Action"] == "s3:ListBucket"]
    assert listing[0]["Condition"]["StringLike"]["s3:prefix"] == prefixes
    namespace = cfn["Resources"]["Namespace"]["Properties"]
    assert "DefaultIamRoleArn" not in namespace
    loader_env = cfn["Resources"]["WarehouseLoadFunction"]["Properties"]["Environment"]["Variables"]
    assert loader_env["COPY_IAM_ROLE"] == {
        "Fn::If": [
            "CreateCopyRole",
            {"Fn::GetAtt": ["RedshiftCopyRole", "Arn"]},
            {"Ref": "ExistingCopyRoleArn"},
        ]
    }


def test_checkov_suppressions_each_say_why(sam: dict[str, Any]) -> None:
    for logical_id, resource in sam["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), logical_id
            assert len(skip.get("comment", "")) > 30, f"{logical_id} {skip['id']}: say why"


# --- networking and warehouse identities -----------------------------------------------------------------


def test_workgroup_gets_subnets_and_its_own_security_group(cfn: dict[str, Any]) -> None:
    workgroup = cfn["Resources"]["Workgroup"]["Properties"]
    assert workgroup["SubnetIds"] == {"Fn::If": ["HasSubnets", {"Ref": "SubnetIds"}, {"Ref": "AWS::NoValue"}]}
    assert workgroup["SecurityGroupIds"] == [{"Fn::GetAtt": ["WarehouseSecurityGroup", "GroupId"]}]
    assert workgroup["EnhancedVpcRouting"] == {"Ref": "EnhancedVpcRouting"}
    assert workgroup["PubliclyAccessible"] is False
    group = cfn["Resources"]["WarehouseSecurityGroup"]["Properties"]
    assert "SecurityGroupIngress" not in group  # only WarehouseClientIngress, when asked for
    assert "no default VPC" in cfn["Parameters"]["SubnetIds"]["Description"]


def test_functions_sign_in_with_their_database_roles_and_the_deploy_bootstraps_them(
    cfn: dict[str, Any],
) -> None:
    def tags(role: str) -> dict[str, Any]:
        return {t["Key"]: t["Value"] for t in cfn["Resources"][role]["Properties"]["Tags"]}

    assert tags("WarehouseLoadFunctionRole")["RedshiftDbRoles"] == "thermocline_loader"
    assert tags("AnalyticsReportFunctionRole")["RedshiftDbRoles"] == "thermocline_reader"
    assert "RedshiftDbRoles" not in tags("StreamIngestFunctionRole")
    bootstrap = cfn["Resources"]["WarehouseBootstrap"]
    assert bootstrap["Type"] == "Custom::WarehouseBootstrap"
    props = bootstrap["Properties"]
    assert props["ServiceToken"] == {"Fn::GetAtt": ["WarehouseSetupFunction", "Arn"]}
    loaders = [{"Ref": f"{f}Role"} for f in ("WarehouseLoadFunction", "ExportIngestFunction")]
    readers = [{"Ref": f"{f}Role"} for f in ("AnalyticsReportFunction", "ReconcileFunction")] + [
        {"Fn::If": ["HotViewsEnabled", {"Ref": "HotViewsFunctionRole"}, {"Ref": "AWS::NoValue"}]}
    ]
    assert (props["LoaderRoleNames"], props["ReaderRoleNames"]) == (loaders, readers)
    # Every function tagged with a database role is bootstrapped, and the other way round.
    tagged = {
        name[: -len("Role")]: tags(name).get("RedshiftDbRoles")
        for name in _of_type(cfn, "AWS::IAM::Role")
        if name.endswith("FunctionRole")
    }
    assert {f for f, r in tagged.items() if r == "thermocline_loader"} == {
        "WarehouseLoadFunction",
        "ExportIngestFunction",
    }
    assert {f for f, r in tagged.items() if r == "thermocline_reader"} == {
        "AnalyticsReportFunction",
        "ReconcileFunction",
        "HotViewsFunction",
    }


def test_bring_your_own_warehouse_skips_the_namespace_and_workgroup(cfn: dict[str, Any]) -> None:
    for logical_id in ("Namespace", "Workgroup", "WarehouseSecurityGroup"):
        assert cfn["Resources"][logical_id]["Condition"] == "CreateWarehouse"
    assert cfn["Resources"]["RedshiftCopyRole"]["Condition"] == "CreateCopyRole"
    url = json.dumps(
        cfn["Resources"]["WarehouseLoadFunction"]["Properties"]["Environment"]["Variables"]["WAREHOUSE_URL"]
    )
    assert "?cluster=1" in url and "ExistingWorkgroupName" in url


def test_samconfig_environments_name_a_region_and_only_real_parameters(sam: dict[str, Any]) -> None:
    import shlex
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for env in ("default", "staging", "prod"):
        assert re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", config[env]["global"]["parameters"]["region"]), env
        overrides = dict(
            p.split("=", 1) for p in shlex.split(config[env]["deploy"]["parameters"]["parameter_overrides"])
        )
        assert set(overrides) <= set(sam["Parameters"]), env
    prod = config["prod"]["deploy"]["parameters"]["parameter_overrides"]
    assert "VpcId=" in prod and "SubnetIds=" in prod, "prod must not fall back to a default VPC"
