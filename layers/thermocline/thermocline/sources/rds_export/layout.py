"""The RDS export layout in S3: where an export's files are and what its metadata files say (pure).

Reading and writing live side by side: the ingest reads these documents, and the local stack's writer
(``thermocline aurora-export``) builds them, so both follow one definition of AWS's layout:

    <prefix>/<export-id>/export_info_<export-id>.json
    <prefix>/<export-id>/export_tables_info_<export-id>_from_<n>_to_<m>.json   (one or more)
    <prefix>/<export-id>/<database>/<schema>.<table>/<batch>/part-<n>-<uuid>.gz.parquet

("File naming convention", Exporting DB snapshot data to Amazon S3, Amazon RDS User Guide:
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_ExportSnapshot.FileNames.html.) AWS says the
part names may change and to read everything under a table's prefix, so nothing here parses part names.
For MySQL the schema is the database (``<database>/<database>.<table>/``).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ExportInfo",
    "ExportLayoutError",
    "SourceColumn",
    "TableExport",
    "export_info_doc",
    "export_info_key",
    "export_root",
    "parse_export_info",
    "parse_tables_info",
    "table_prefix",
    "tables_info_doc",
    "tables_info_key",
]

COMPLETE = "COMPLETE"
# Characters an export writes as '_' in S3 paths (Considerations for DB cluster snapshot exports).
_PATH_UNSAFE = str.maketrans({"\\": "_", "`": "_", '"': "_", " ": "_"})


class ExportLayoutError(ValueError):
    """An export's metadata file is missing a field or is not what AWS writes."""


@dataclass(frozen=True)
class SourceColumn:
    """One ``schemaMetadata.originalTypeMappings`` entry: a source column and its type as recorded."""

    name: str
    original_type: str
    exported_type: str = ""
    char_max_length: int = 0
    num_precision: int = 0
    datetime_precision: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "columnName": self.name,
            "originalType": self.original_type,
            "expectedExportedType": self.exported_type,
            "originalCharMaxLength": self.char_max_length,
            "originalNumPrecision": self.num_precision,
            "originalDateTimePrecision": self.datetime_precision,
        }


@dataclass(frozen=True)
class TableExport:
    """One ``perTableStatus`` entry."""

    target: str  # database.schema.table (PostgreSQL) or database.table (MySQL)
    status: str
    columns: tuple[SourceColumn, ...] = ()
    warning: str | None = None

    @property
    def parts(self) -> tuple[str, ...]:
        parts = self.target.split(".")
        if len(parts) <= 3:
            return tuple(parts)
        # A PostgreSQL table name may itself hold dots (a full export skips only names with slashes,
        # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/export-cluster-data.Considerations.html):
        # database and schema come first, the table is the rest.
        return (parts[0], parts[1], ".".join(parts[2:]))

    @property
    def engine(self) -> str:
        """``postgres`` for three-part targets (database.schema.table), ``mysql`` for two-part ones."""
        return "postgres" if len(self.parts) == 3 else "mysql"

    @property
    def database(self) -> str:
        return self.parts[0]

    @property
    def schema(self) -> str:
        return self.parts[1] if len(self.parts) == 3 else self.parts[0]

    @property
    def table(self) -> str:
        return self.parts[-1]

    @property
    def complete(self) -> bool:
        return self.status.upper() == COMPLETE


@dataclass(frozen=True)
class ExportInfo:
    """``export_info_<id>.json``: the export as a whole."""

    export_id: str
    source_arn: str
    status: str
    snapshot_time: dt.datetime | None
    s3_bucket: str = ""
    s3_prefix: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def complete(self) -> bool:
        return self.status.upper() == COMPLETE


def export_root(s3_prefix: str, export_id: str) -> str:
    prefix = s3_prefix.strip("/")
    return f"{prefix}/{export_id}/" if prefix else f"{export_id}/"


def export_info_key(s3_prefix: str, export_id: str) -> str:
    return f"{export_root(s3_prefix, export_id)}export_info_{export_id}.json"


def tables_info_key(s3_prefix: str, export_id: str, first: int, last: int) -> str:
    return f"{export_root(s3_prefix, export_id)}export_tables_info_{export_id}_from_{first}_to_{last}.json"


def tables_info_prefix(s3_prefix: str, export_id: str) -> str:
    return f"{export_root(s3_prefix, export_id)}export_tables_info_{export_id}_"


def table_prefix(s3_prefix: str, export_id: str, table: TableExport) -> str:
    """Everything of one table lives under this prefix (AWS: read it all, whatever the part names)."""
    folder = f"{table.database}/{table.schema}.{table.table}".translate(_PATH_UNSAFE)
    return f"{export_root(s3_prefix, export_id)}{folder}/"


def _time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ExportLayoutError(f"not a timestamp: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def parse_export_info(body: bytes | str) -> ExportInfo:
    try:
        doc = json.loads(body)
        return ExportInfo(
            export_id=str(doc["exportTaskIdentifier"]),
            source_arn=str(doc.get("sourceArn") or ""),
            status=str(doc["status"]),
            snapshot_time=_time(doc.get("snapshotTime")),
            s3_bucket=str(doc.get("s3Bucket") or ""),
            s3_prefix=str(doc.get("s3Prefix") or ""),
            raw=doc,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ExportLayoutError(f"export_info: {exc}") from None


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def parse_tables_info(body: bytes | str) -> list[TableExport]:
    try:
        doc = json.loads(body)
        tables = []
        for entry in doc["perTableStatus"]:
            mappings = (entry.get("schemaMetadata") or {}).get("originalTypeMappings") or []
            columns = tuple(
                SourceColumn(
                    name=str(c["columnName"]),
                    original_type=str(c.get("originalType") or ""),
                    exported_type=str(c.get("expectedExportedType") or ""),
                    char_max_length=_int(c.get("originalCharMaxLength")),
                    num_precision=_int(c.get("originalNumPrecision")),
                    datetime_precision=_int(c.get("originalDateTimePrecision")),
                )
                for c in mappings
            )
            target = str(entry["target"])
            if len(target.split(".")) < 2:
                raise ExportLayoutError(f"target {target!r} is not database.schema.table or database.table")
            warning = entry.get("warningMessage")
            tables.append(
                TableExport(
                    target, str(entry.get("status") or ""), columns, str(warning) if warning else None
                )
            )
        return tables
    except (ValueError, KeyError, TypeError) as exc:
        raise ExportLayoutError(f"export_tables_info: {exc}") from None


# --- writing (the local stack's export writer) ---------------------------------------------------------


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def export_info_doc(
    *,
    export_id: str,
    source_arn: str,
    snapshot_time: dt.datetime,
    started: dt.datetime,
    ended: dt.datetime,
    s3_bucket: str,
    s3_prefix: str,
    iam_role_arn: str,
    kms_key_id: str,
    export_only: list[str],
    total_gb: float,
) -> dict[str, Any]:
    return {
        "exportTaskIdentifier": export_id,
        "sourceArn": source_arn,
        "exportOnly": export_only,
        "snapshotTime": _iso(snapshot_time),
        "taskStartTime": _iso(started),
        "taskEndTime": _iso(ended),
        "s3Bucket": s3_bucket,
        "s3Prefix": s3_prefix,
        "exportedFilesPath": export_root(s3_prefix, export_id).rstrip("/"),
        "iamRoleArn": iam_role_arn,
        "kmsKeyId": kms_key_id,
        "status": COMPLETE,
        "percentProgress": 100,
        "totalExportedDataInGB": total_gb,
    }


def tables_info_doc(entries: list[tuple[TableExport, dict[str, Any]]]) -> dict[str, Any]:
    """``{"perTableStatus": [...]}`` from tables and their statistics (extraction times, partitions, size)."""
    return {
        "perTableStatus": [
            {
                "TableStatistics": stats,
                "schemaMetadata": {"originalTypeMappings": [c.to_json() for c in table.columns]},
                "status": table.status,
                "sizeGB": stats.get("sizeGB", 0.0),
                "target": table.target,
            }
            for table, stats in entries
        ]
    }
