"""Reading an export in S3: metadata files, a table's parts, and each part batch by batch (adapter).

A part is read through ranged GETs (:class:`S3File`), so ``pyarrow`` fetches the footer and then only
the column chunks it needs, one row group at a time: memory follows a row group, not the table or part.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from thermocline.sources.rds_export.layout import (
    ExportInfo,
    TableExport,
    export_info_key,
    parse_export_info,
    parse_tables_info,
    table_prefix,
    tables_info_prefix,
)

__all__ = ["S3File", "list_parts", "read_export", "read_part_batches"]

# Rows per restored batch: bounds the Python objects one conversion holds.
BATCH_ROWS = 65_536


class S3File(io.RawIOBase):
    """A read-only, seekable view of one S3 object through ranged GETs."""

    def __init__(self, s3_client: Any, bucket: str, key: str, size: int | None = None) -> None:
        self._s3, self._bucket, self._key = s3_client, bucket, key
        self._size = (
            size if size is not None else int(s3_client.head_object(Bucket=bucket, Key=key)["ContentLength"])
        )
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        end = self._pos + want - 1
        body = self._s3.get_object(Bucket=self._bucket, Key=self._key, Range=f"bytes={self._pos}-{end}")[
            "Body"
        ]
        data = body.read()
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def _read(s3_client: Any, bucket: str, key: str) -> bytes:
    return bytes(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())


def _list(s3_client: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found.extend(page.get("Contents", []))
    return found


def read_export(
    s3_client: Any, bucket: str, s3_prefix: str, export_id: str
) -> tuple[ExportInfo, list[TableExport]]:
    """The export's ``export_info`` and every table of its ``export_tables_info_*`` files."""
    info = parse_export_info(_read(s3_client, bucket, export_info_key(s3_prefix, export_id)))
    tables: list[TableExport] = []
    for obj in sorted(
        _list(s3_client, bucket, tables_info_prefix(s3_prefix, export_id)), key=lambda o: o["Key"]
    ):
        if obj["Key"].endswith(".json"):
            tables.extend(parse_tables_info(_read(s3_client, bucket, obj["Key"])))
    return info, tables


def list_parts(
    s3_client: Any, bucket: str, s3_prefix: str, export_id: str, table: TableExport
) -> list[tuple[str, int]]:
    """Every data object under the table's prefix, in key order, with its size.

    AWS's advice is to read everything under the prefix; only the marker files Spark and Hadoop leave
    (names starting with ``_`` or ``.``, e.g. ``_SUCCESS``) and empty objects are not data.
    """
    parts = []
    for obj in _list(s3_client, bucket, table_prefix(s3_prefix, export_id, table)):
        name = obj["Key"].rsplit("/", 1)[-1]
        if name.startswith(("_", ".")) or int(obj.get("Size", 0)) == 0:
            continue
        parts.append((obj["Key"], int(obj["Size"])))
    return sorted(parts)


def read_part_batches(
    s3_client: Any, bucket: str, key: str, size: int, columns: Sequence[str] | None = None
) -> Iterator[pa.Table]:
    """The part's rows as tables of at most ``BATCH_ROWS`` rows (only ``columns``, when given)."""
    with pq.ParquetFile(io.BufferedReader(S3File(s3_client, bucket, key, size), buffer_size=1 << 20)) as part:
        wanted = None if columns is None else [c for c in columns if c in part.schema_arrow.names]
        if wanted is not None and not wanted:
            return
        for batch in part.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
            yield pa.Table.from_batches([batch])
