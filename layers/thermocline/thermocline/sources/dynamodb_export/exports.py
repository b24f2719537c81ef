"""Start a DynamoDB table export to S3 and follow it (ExportTableToPointInTime, DescribeExport).

https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ExportTableToPointInTime.html
The export runs inside DynamoDB from point-in-time recovery data: it reads no capacity from the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

__all__ = ["DynamoDBExports", "ExportStatus", "Exports"]


@dataclass(frozen=True)
class ExportStatus:
    export_arn: str
    status: str  # IN_PROGRESS | COMPLETED | FAILED
    bucket: str
    summary_key: str | None = None  # manifest-summary.json, once COMPLETED
    failure: str | None = None


class Exports(Protocol):
    def start(
        self,
        table_arn: str,
        bucket: str,
        prefix: str,
        *,
        export_from: datetime | None = None,
        export_to: datetime | None = None,
        client_token: str | None = None,
    ) -> str: ...

    def describe(self, export_arn: str) -> ExportStatus: ...


class DynamoDBExports:
    """The DynamoDB API's exports."""

    def __init__(self, ddb: Any) -> None:
        self.ddb = ddb

    def start(
        self,
        table_arn: str,
        bucket: str,
        prefix: str,
        *,
        export_from: datetime | None = None,
        export_to: datetime | None = None,
        client_token: str | None = None,
    ) -> str:
        request: dict[str, Any] = {
            "TableArn": table_arn,
            "S3Bucket": bucket,
            "S3Prefix": prefix.rstrip("/"),
            "ExportFormat": "DYNAMODB_JSON",
        }
        if client_token:
            # A retried request with the same token gets the same export, not a second one (8 hours).
            request["ClientToken"] = client_token
        if export_from is not None:
            # NEW_IMAGE: the item's state at the end of the window is all the seam needs; a delete has no
            # new image. https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_IncrementalExportSpecification.html
            spec: dict[str, Any] = {"ExportFromTime": export_from, "ExportViewType": "NEW_IMAGE"}
            if export_to is not None:
                spec["ExportToTime"] = export_to
            request |= {"ExportType": "INCREMENTAL_EXPORT", "IncrementalExportSpecification": spec}
        response = self.ddb.export_table_to_point_in_time(**request)
        return str(response["ExportDescription"]["ExportArn"])

    def describe(self, export_arn: str) -> ExportStatus:
        d = self.ddb.describe_export(ExportArn=export_arn)["ExportDescription"]
        failure = None
        if d.get("ExportStatus") == "FAILED":
            failure = f"{d.get('FailureCode')}: {d.get('FailureMessage')}"
        return ExportStatus(
            export_arn=export_arn,
            status=str(d.get("ExportStatus")),
            bucket=str(d.get("S3Bucket")),
            summary_key=d.get("ExportManifest"),
            failure=failure,
        )
