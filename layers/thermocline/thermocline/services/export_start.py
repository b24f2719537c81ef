"""A schedule tick → ``StartExportTask`` of the Aurora cluster (or RDS instance) into the export bucket.

From the newest automated snapshot (default) or, for Aurora, from the live cluster. The task identifier
is derived from what is exported, so a repeated tick for the same snapshot starts nothing new
(``ExportTaskAlreadyExists`` is logged and is not an error); a live export gets one identifier per minute.
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_StartExportTask.html
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from botocore.exceptions import ClientError

from thermocline.observability import logger
from thermocline.runtime import Runtime
from thermocline.settings import ExportStartSettings

__all__ = ["ExportStartError", "export_task_id", "handle_export_start", "newest_snapshot"]

# Export task identifiers: letters, digits and hyphens, starting with a letter, at most 60 characters.
_ID_UNSAFE = re.compile(r"[^a-z0-9-]+")


class ExportStartError(RuntimeError):
    """No export can be started (no snapshot yet, a source that is not an Aurora cluster or RDS instance)."""


def export_task_id(kind: str, name: str) -> str:
    """``thermocline-<kind>-<name>`` made safe; long names keep a hash so two sources never collide."""
    base = _ID_UNSAFE.sub("-", f"thermocline-{kind}-{name}".lower()).strip("-")
    if len(base) <= 60:
        return base
    return base[:51].rstrip("-") + "-" + hashlib.sha256(base.encode()).hexdigest()[:8]


def _source(arn: str) -> tuple[str, str]:
    """(``cluster`` | ``db``, identifier) of ``arn:aws:rds:<region>:<account>:<kind>:<identifier>``."""
    parts = arn.split(":", 6)
    if len(parts) != 7 or parts[2] != "rds" or parts[5] not in ("cluster", "db"):
        raise ExportStartError(f"not an Aurora cluster or RDS instance ARN: {arn!r}")
    return parts[5], parts[6]


def newest_snapshot(rds_client: Any, source_arn: str) -> dict[str, Any] | None:
    """The newest *available* automated snapshot of the cluster or instance, or None."""
    kind, identifier = _source(source_arn)
    if kind == "cluster":
        pages = rds_client.get_paginator("describe_db_cluster_snapshots").paginate(
            DBClusterIdentifier=identifier, SnapshotType="automated"
        )
        snapshots = [s for p in pages for s in p.get("DBClusterSnapshots", [])]
        arn_key = "DBClusterSnapshotArn"
    else:
        pages = rds_client.get_paginator("describe_db_snapshots").paginate(
            DBInstanceIdentifier=identifier, SnapshotType="automated"
        )
        snapshots = [s for p in pages for s in p.get("DBSnapshots", [])]
        arn_key = "DBSnapshotArn"
    ready = [
        s
        for s in snapshots
        if str(s.get("Status", "")).lower() == "available" and s.get("SnapshotCreateTime")
    ]
    if not ready:
        return None
    newest = max(ready, key=lambda s: s["SnapshotCreateTime"])
    return {"arn": newest[arn_key], "time": newest["SnapshotCreateTime"]}


def handle_export_start(
    event: dict[str, Any], *, settings: ExportStartSettings, rds_client: Any, runtime: Runtime | None = None
) -> dict[str, Any]:
    runtime = runtime or Runtime()
    kind, identifier = _source(settings.source_arn)
    if settings.export_from == "live":
        if kind != "cluster":
            raise ExportStartError("a live export needs an Aurora cluster; RDS instances export snapshots")
        stamp = runtime.clock().strftime("%Y%m%d%H%M")
        source_arn, task_id = settings.source_arn, export_task_id("live", f"{identifier}-{stamp}")
    else:
        snapshot = newest_snapshot(rds_client, settings.source_arn)
        if snapshot is None:
            logger.warning(
                "no available automated snapshot yet; nothing exported", source_arn=settings.source_arn
            )
            return {"started": None, "reason": "no snapshot"}
        source_arn = snapshot["arn"]
        task_id = export_task_id("snap", source_arn.rsplit(":", 1)[-1])
    request: dict[str, Any] = {
        "ExportTaskIdentifier": task_id,
        "SourceArn": source_arn,
        "S3BucketName": settings.export_bucket,
        "IamRoleArn": settings.export_role_arn,
        "KmsKeyId": settings.export_kms_key_id,
    }
    if settings.export_prefix:
        request["S3Prefix"] = settings.export_prefix.strip("/")
    only = [e.strip() for e in (settings.export_only or "").split(",") if e.strip()]
    if only:
        request["ExportOnly"] = only
    try:
        rds_client.start_export_task(**request)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in (
            "ExportTaskAlreadyExists",
            "ExportTaskAlreadyExistsFault",
        ):
            logger.info(
                "export already started for this source; nothing new",
                export_id=task_id,
                source_arn=source_arn,
            )
            return {"started": None, "export_id": task_id, "reason": "already started"}
        raise
    logger.info("export started", export_id=task_id, source_arn=source_arn, bucket=settings.export_bucket)
    runtime.metrics.add_metric(name="ExportsStarted", unit="Count", value=1)
    return {"started": task_id, "source_arn": source_arn}
