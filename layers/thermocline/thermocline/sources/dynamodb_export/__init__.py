"""DynamoDB table exports (full and incremental) → lake rows, through the stream's decoder.

``manifest`` and ``records`` are pure; ``reader`` streams a data file from S3 in bounded memory.
"""

from thermocline.sources.dynamodb_export.manifest import (
    DataFile,
    ExportManifestError,
    ExportSummary,
    export_sequence,
    is_export_sequence,
    parse_manifest_files,
    parse_summary,
)
from thermocline.sources.dynamodb_export.records import BadLine, to_stream_records

__all__ = [
    "BadLine",
    "DataFile",
    "ExportManifestError",
    "ExportSummary",
    "export_sequence",
    "is_export_sequence",
    "parse_manifest_files",
    "parse_summary",
    "to_stream_records",
]
