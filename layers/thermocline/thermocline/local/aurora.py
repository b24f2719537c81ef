"""The local Aurora: a real PostgreSQL exported the way RDS exports a cluster snapshot, end to end.

Plays RDS's part on the local stack: a DB cluster and a cluster snapshot in moto's RDS, an export task
started for the snapshot into the template's ``ExportBucket``, the export's files written from the
PostgreSQL database (or from rows in memory where PostgreSQL is not installed), and the completion event
(``RDS-EVENT-0164``, as EventBridge delivers it) handed to ``ExportIngestFunction``, which restores the
types, writes the lake and refreshes each table in the warehouse.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from thermocline.local.export_writer import ExportWriteResult, write_postgres_export, write_rows_export
from thermocline.local.pg_server import PostgresServer
from thermocline.local.session import LocalStack
from thermocline.services.export_ingest import ExportRefreshError
from thermocline.services.export_start import export_task_id

__all__ = ["EXPORT_INGEST", "LOCAL_CLUSTER", "AuroraExport", "export_event", "run_export"]

EXPORT_INGEST = "ExportIngestFunction"
LOCAL_CLUSTER = "thermocline-local"


@dataclass
class AuroraExport:
    export_id: str
    source_arn: str
    written: ExportWriteResult
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def applied(self) -> dict[str, int]:
        return dict(self.response.get("applied") or {})


def export_event(
    event_id: str,
    source_arn: str,
    *,
    detail_type: str = "RDS DB Cluster Snapshot Event",
    message: str = "The cluster snapshot export task completed.",
) -> dict[str, Any]:
    """An RDS event as EventBridge delivers it (``aws.rds``, the event's ``detail``)."""
    region, account = source_arn.split(":")[3:5]
    now = dt.datetime.now(dt.UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.rds",
        "account": account,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [source_arn],
        "detail": {
            "EventCategories": ["notification"],
            "SourceType": "CLUSTER_SNAPSHOT",
            "SourceArn": source_arn,
            "Date": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "Message": message,
            "SourceIdentifier": source_arn.split(":", 6)[-1],
            "EventID": event_id,
        },
    }


def _ensure_cluster(rds: Any) -> None:
    clusters = rds.describe_db_clusters()["DBClusters"]
    if not any(c["DBClusterIdentifier"] == LOCAL_CLUSTER for c in clusters):
        rds.create_db_cluster(
            DBClusterIdentifier=LOCAL_CLUSTER,
            Engine="aurora-postgresql",
            MasterUsername="thermocline",
            MasterUserPassword="thermocline-local",
        )


def start_snapshot_export(local: LocalStack) -> tuple[str, str]:
    """A new cluster snapshot and an export task for it in moto: (export id, snapshot ARN)."""
    rds = local.client("rds")
    _ensure_cluster(rds)
    snapshot_id = f"{LOCAL_CLUSTER}-{dt.datetime.now(dt.UTC).strftime('%Y%m%d%H%M%S%f')}"
    snapshot = rds.create_db_cluster_snapshot(
        DBClusterIdentifier=LOCAL_CLUSTER, DBClusterSnapshotIdentifier=snapshot_id
    )["DBClusterSnapshot"]
    export_id = export_task_id("snap", snapshot_id)
    rds.start_export_task(
        ExportTaskIdentifier=export_id,
        SourceArn=snapshot["DBClusterSnapshotArn"],
        S3BucketName=local.resource("ExportBucket"),
        IamRoleArn=f"arn:aws:iam::123456789012:role/{local.resource('ExportRole')}",
        KmsKeyId=local.resource("ExportKey"),
    )
    return export_id, snapshot["DBClusterSnapshotArn"]


def run_export(
    local: LocalStack,
    *,
    dsn: str | None = None,
    tables: list[str] | None = None,
    rows: list[tuple[str, Any, list[tuple[Any, ...]]]] | None = None,
    render: Any = None,
    database: str = "catalogue",
    rows_per_part: int | None = None,
) -> AuroraExport:
    """Export the PostgreSQL database at ``dsn`` (or ``rows``: (table, columns, rows) triples) and deliver
    the completion event to ExportIngestFunction; returns what was written and the function's answer."""
    export_id, source_arn = start_snapshot_export(local)
    s3 = local.client("s3")
    bucket = local.resource("ExportBucket")
    sizing = {"rows_per_part": rows_per_part} if rows_per_part else {}
    if dsn is not None:
        import psycopg

        with psycopg.connect(dsn, autocommit=True) as conn:
            written = write_postgres_export(
                conn, s3, bucket=bucket, export_id=export_id, source_arn=source_arn, tables=tables, **sizing
            )
    else:
        written = write_rows_export(
            s3,
            bucket=bucket,
            export_id=export_id,
            source_arn=source_arn,
            database=database,
            tables=rows or [],
            render=render,
            **sizing,
        )
    try:
        response = local.invoke(EXPORT_INGEST, export_event("RDS-EVENT-0164", source_arn))
    except ExportRefreshError as exc:  # the function failed, as in AWS; its summary says which tables
        response = exc.summary
    return AuroraExport(export_id, source_arn, written, response or {})


@dataclass
class CatalogueExport:
    """How the demo's catalogue reached the warehouse: from a real PostgreSQL, or from generated rows."""

    source: str
    export: AuroraExport
    note: str = ""


def export_catalogue(
    local: LocalStack, workload: Any, start_postgres: Callable[[], PostgresServer] | None = None
) -> CatalogueExport:
    """The demo's catalogue (customers, products, regions) through the export path.

    Where PostgreSQL is installed, a throwaway server is the local Aurora: seeded, then exported. Where it
    is not, the same export is written from the same rows, generated in memory, and the note says so.
    ``start_postgres`` gives the server (the demo starts it early, in the background); it is stopped here.
    """
    from thermocline.local import catalogue, moto_server, pg_server

    tables = catalogue.catalogue(workload)
    try:
        server = start_postgres() if start_postgres else pg_server.start(moto_server.free_port())
    except (pg_server.PostgresUnavailableError, OSError) as exc:
        rows = [(t.name, t.columns, t.rows) for t in tables]
        export = run_export(local, rows=rows, render=catalogue.pg_text, database="catalogue")
        note = f"PostgreSQL is not available ({exc}); the same export was written from generated rows"
        return CatalogueExport("generated rows", export, note)
    try:
        import psycopg

        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE catalogue")
        with psycopg.connect(server.dsn("catalogue")) as conn:
            catalogue.seed_postgres(conn, tables)
        export = run_export(local, dsn=server.dsn("catalogue"))
    finally:
        server.stop()
    return CatalogueExport("PostgreSQL (throwaway server)", export)
