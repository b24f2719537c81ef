"""The manifests of a DynamoDB table export to S3, and the sequence number its rows carry in the lake.

Layout (AWS, "DynamoDB table export output format",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html)::

    <prefix>/AWSDynamoDB/<ExportId>/manifest-summary.json   one JSON object: exportArn, exportTime,
                                                            exportType, incremental window, itemCount,
                                                            manifestFilesS3Key, outputFormat, ...
    <prefix>/AWSDynamoDB/<ExportId>/manifest-files.json     one JSON object per line: dataFileS3Key,
                                                            itemCount, md5Checksum, etag
    <prefix>/AWSDynamoDB/<ExportId>/data/<name>.json.gz     gzipped DynamoDB JSON, one item per line

Pure: parses text, never talks to S3.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "EXPORT_SEQ_ZEROS",
    "DataFile",
    "ExportManifestError",
    "ExportSummary",
    "export_sequence",
    "is_export_sequence",
    "parse_manifest_files",
    "parse_summary",
]

# Stream sequence numbers are 21 to 40 digits, padded to 40, so a padded stream sequence number has at
# most 19 leading zeros. An export row's `_seq` is 20 zeros and the export time in microseconds (20 digits):
# it sorts below every stream sequence number, and a later export sorts above an earlier one.
EXPORT_SEQ_ZEROS = 20


class ExportManifestError(ValueError):
    """An export's manifest is missing a field, or is not what DynamoDB writes."""


@dataclass(frozen=True)
class DataFile:
    key: str  # object key in the export bucket
    item_count: int
    md5: str | None = None


@dataclass(frozen=True)
class ExportSummary:
    export_arn: str
    table_arn: str
    export_type: str  # FULL_EXPORT | INCREMENTAL_EXPORT
    # The time the rows describe: ExportTime of a full export, ExportToTime (exclusive) of an incremental.
    as_of: datetime
    bucket: str
    manifest_files_key: str
    item_count: int
    export_from: datetime | None = None
    prefix: str = ""  # s3Prefix of the export request

    def resolve(self, key: str) -> str:
        """An object key from a manifest as a key in the bucket.

        AWS's published example shows manifest keys without the request's prefix while exports write them
        with it; both are accepted.
        """
        base = self.prefix.rstrip("/") + "/" if self.prefix else ""
        return key if not base or key.startswith(base) else base + key

    @property
    def export_id(self) -> str:
        return self.export_arn.rsplit("/", 1)[-1]

    @property
    def table_name(self) -> str:
        return self.table_arn.rsplit("/", 1)[-1]

    @property
    def incremental(self) -> bool:
        return self.export_type == "INCREMENTAL_EXPORT"

    @property
    def as_of_us(self) -> int:
        return _epoch_us(self.as_of)

    @property
    def sequence(self) -> str:
        return export_sequence(self.as_of_us)


def export_sequence(as_of_us: int) -> str:
    """The `_seq` of every row of an export taken at ``as_of_us`` (epoch microseconds)."""
    if not 0 <= as_of_us < 10**20:
        raise ValueError(f"export time out of range: {as_of_us}")
    return "0" * EXPORT_SEQ_ZEROS + str(as_of_us).rjust(40 - EXPORT_SEQ_ZEROS, "0")


def is_export_sequence(seq: str) -> bool:
    return len(seq) == 40 and seq.startswith("0" * EXPORT_SEQ_ZEROS)


def _time(doc: dict[str, Any], name: str, *, required: bool = True) -> datetime | None:
    value = doc.get(name)
    if value is None:
        if required:
            raise ExportManifestError(f"manifest-summary.json has no {name!r}")
        return None
    try:
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value, tz=UTC)
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise ExportManifestError(f"manifest-summary.json: {name} is not a time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_summary(text: str | bytes) -> ExportSummary:
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ExportManifestError(f"manifest-summary.json is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ExportManifestError("manifest-summary.json is not a JSON object")
    fmt = doc.get("outputFormat", "DYNAMODB_JSON")
    if fmt != "DYNAMODB_JSON":
        raise ExportManifestError(f"export format {fmt!r} is not supported (request DYNAMODB_JSON)")
    export_type = doc.get("exportType") or "FULL_EXPORT"
    if export_type not in ("FULL_EXPORT", "INCREMENTAL_EXPORT"):
        raise ExportManifestError(f"unknown exportType {export_type!r}")
    for name in ("exportArn", "tableArn", "s3Bucket", "manifestFilesS3Key"):
        if not isinstance(doc.get(name), str) or not doc[name]:
            raise ExportManifestError(f"manifest-summary.json has no {name!r}")
    if export_type == "INCREMENTAL_EXPORT":
        as_of = _time(doc, "exportToTime")
        export_from = _time(doc, "exportFromTime")
    else:
        as_of = _time(doc, "exportTime")
        export_from = None
    assert as_of is not None
    return ExportSummary(
        export_arn=doc["exportArn"],
        table_arn=doc["tableArn"],
        export_type=export_type,
        as_of=as_of,
        bucket=doc["s3Bucket"],
        manifest_files_key=doc["manifestFilesS3Key"],
        item_count=int(doc.get("itemCount") or 0),
        export_from=export_from,
        prefix=str(doc.get("s3Prefix") or ""),
    )


def parse_manifest_files(text: str | bytes, summary: ExportSummary) -> list[DataFile]:
    """The data files of an export, in manifest order, with keys resolved in the export bucket."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    files = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            key = doc["dataFileS3Key"]
            count = int(doc.get("itemCount", 0))
        except (ValueError, KeyError, TypeError):
            raise ExportManifestError(f"manifest-files.json line {number} is not a data file entry") from None
        if not isinstance(key, str) or not key:
            raise ExportManifestError(f"manifest-files.json line {number} has no dataFileS3Key")
        files.append(DataFile(key=summary.resolve(key), item_count=count, md5=doc.get("md5Checksum")))
    return files


def _epoch_us(dt: datetime) -> int:
    delta = dt.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
