"""Reading a lake file's footer from S3: its size, row count and :class:`~thermocline.lake.metadata.TableSpec`.

The loader plans a load from this alone, without downloading the file: one ranged GET of the last 64 KB
holds the Parquet footer of any lake file the ingest leg writes (a second GET when it does not).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from thermocline.lake.metadata import TableSpec, UnreadableLakeFileError, read_file_spec, read_super_bytes

__all__ = ["LakeFile", "read_lake_file"]

_FOOTER_PROBE = 64 * 1024


@dataclass(frozen=True)
class LakeFile:
    key: str
    size: int
    rows: int
    spec: TableSpec
    landed_at: datetime | None = None
    # For a copy conformed to the warehouse's types (``conform.py``): the lake file it stands for, which is
    # what the ledger records and quarantine keeps.
    origin: str | None = None
    # Each SUPER column's longest JSON text in bytes (``metadata.super_bytes``); None: not recorded.
    super_bytes: Mapping[str, int] | None = None

    @property
    def lake_key(self) -> str:
        return self.origin or self.key


def read_lake_file(s3_client: Any, bucket: str, key: str) -> LakeFile:
    """Size, row count and schema of a lake file from its Parquet footer (one ranged GET, usually).

    Raises :class:`UnreadableLakeFileError` for an object that is not a lake file; S3's own errors
    (``ClientError``, ``BotoCoreError``) propagate for the caller to classify.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    response = s3_client.get_object(Bucket=bucket, Key=key, Range=f"bytes=-{_FOOTER_PROBE}")
    tail = response["Body"].read()
    content_range = response.get("ContentRange") or ""
    size = int(content_range.rsplit("/", 1)[1]) if "/" in content_range else len(tail)
    if len(tail) < 8 or tail[-4:] != b"PAR1":
        raise UnreadableLakeFileError("not a Parquet file")
    footer_len = int.from_bytes(tail[-8:-4], "little")
    if footer_len + 8 > len(tail) and len(tail) < size:
        start = max(size - footer_len - 8, 0)
        tail = s3_client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-")["Body"].read()
    try:
        metadata = pq.read_metadata(io.BytesIO(tail))
        schema = metadata.schema.to_arrow_schema()
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableLakeFileError(f"unreadable Parquet footer: {exc}") from None
    return LakeFile(
        key=key,
        size=size,
        rows=metadata.num_rows,
        spec=read_file_spec(schema),
        landed_at=response.get("LastModified"),
        super_bytes=read_super_bytes(schema),
    )
