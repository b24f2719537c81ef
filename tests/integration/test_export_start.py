"""ExportStartFunction's service against moto's RDS over HTTP: which export it starts, and that a repeated
tick for the same snapshot starts nothing new."""

from __future__ import annotations

import datetime as dt

import pytest

from thermocline import aws
from thermocline.services.export_start import (
    ExportStartError,
    export_task_id,
    handle_export_start,
    newest_snapshot,
)
from thermocline.settings import ExportStartSettings

pytestmark = pytest.mark.moto


def _settings(source_arn: str, **kwargs: str) -> ExportStartSettings:
    return ExportStartSettings(
        source_arn=source_arn,
        export_bucket="exports",
        export_role_arn="arn:aws:iam::123456789012:role/export",
        export_kms_key_id="arn:aws:kms:us-east-1:123456789012:key/k",
        **kwargs,
    )


def _cluster(rds: object) -> str:
    cluster = rds.create_db_cluster(  # type: ignore[attr-defined]
        DBClusterIdentifier="catalogue",
        Engine="aurora-postgresql",
        MasterUsername="u",
        MasterUserPassword="p" * 8,
    )["DBCluster"]
    return str(cluster["DBClusterArn"])


def test_exports_the_newest_automated_snapshot_once(aws_env: str) -> None:
    rds = aws.client("rds")
    cluster_arn = _cluster(rds)
    newest = newest_snapshot(rds, cluster_arn)
    assert newest is not None and ":cluster-snapshot:" in newest["arn"]
    settings = _settings(cluster_arn, export_only="catalogue.public.customers, catalogue.public.products")

    started = handle_export_start({}, settings=settings, rds_client=rds)
    assert started["started"] == export_task_id("snap", newest["arn"].rsplit(":", 1)[-1])
    task = rds.describe_export_tasks(ExportTaskIdentifier=started["started"])["ExportTasks"][0]
    assert (task["SourceArn"], task["S3Bucket"], task["IamRoleArn"]) == (
        newest["arn"],
        "exports",
        settings.export_role_arn,
    )
    assert task["ExportOnly"] == ["catalogue.public.customers", "catalogue.public.products"]

    again = handle_export_start({}, settings=settings, rds_client=rds)
    assert again == {"started": None, "export_id": started["started"], "reason": "already started"}


def test_no_snapshot_yet_starts_nothing_and_live_exports_need_a_cluster(aws_env: str) -> None:
    rds = aws.client("rds")
    missing = "arn:aws:rds:us-east-1:123456789012:cluster:not-there"
    assert handle_export_start({}, settings=_settings(missing), rds_client=rds) == {
        "started": None,
        "reason": "no snapshot",
    }
    instance = "arn:aws:rds:us-east-1:123456789012:db:catalogue"
    with pytest.raises(ExportStartError, match="live export needs an Aurora cluster"):
        handle_export_start({}, settings=_settings(instance, export_from="live"), rds_client=rds)
    with pytest.raises(ExportStartError, match="not an Aurora cluster or RDS instance ARN"):
        handle_export_start({}, settings=_settings("arn:aws:s3:::bucket"), rds_client=rds)


def test_task_ids_are_valid_and_distinct_for_long_names() -> None:
    long_a = "rds:" + "a" * 80 + "-2026-01-01-00-00"
    long_b = "rds:" + "a" * 80 + "-2026-01-02-00-00"
    ids = {export_task_id("snap", long_a), export_task_id("snap", long_b)}
    assert len(ids) == 2 and all(len(i) <= 60 and i[0].isalpha() and ":" not in i for i in ids)
    at = dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)
    assert export_task_id("live", f"catalogue-{at:%Y%m%d%H%M}") == "thermocline-live-catalogue-202601020304"
