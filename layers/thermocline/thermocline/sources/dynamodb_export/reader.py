"""Read an export's manifests and data files from S3, a data file in bounded memory.

A data file is streamed through gzip and handed out ``chunk_items`` lines at a time, so memory holds one
chunk however large the file is (DynamoDB writes at least one file per partition; a big partition's file
can hold millions of items). The caller can start at a line to resume inside a file.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from thermocline.sources.dynamodb_export.manifest import (
    DataFile,
    ExportSummary,
    parse_manifest_files,
    parse_summary,
)

__all__ = ["Chunk", "read_chunks", "read_export"]


@dataclass
class Chunk:
    number: int  # 0-based chunk index within the file
    first_line: int  # 1-based line number of the chunk's first line
    lines: list[tuple[int, str]]
    compressed_bytes: int  # compressed bytes of the file read so far (for progress)


def read_export(s3: Any, bucket: str, summary_key: str) -> tuple[ExportSummary, list[DataFile]]:
    """The summary and the data files of a completed export, from its two manifests."""
    summary = parse_summary(s3.get_object(Bucket=bucket, Key=summary_key)["Body"].read())
    files_key = summary.resolve(summary.manifest_files_key)
    files = parse_manifest_files(s3.get_object(Bucket=bucket, Key=files_key)["Body"].read(), summary)
    return summary, files


class _Counting(io.RawIOBase):
    """A read-only stream over a botocore body that counts the compressed bytes read."""

    def __init__(self, body: Any) -> None:
        self.body = body
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.body.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


def read_chunks(s3: Any, bucket: str, key: str, chunk_items: int, start_line: int = 1) -> Iterator[Chunk]:
    """The lines of a gzipped data file in chunks of ``chunk_items``, from line ``start_line`` on.

    Chunk numbers count from the start of the file whatever ``start_line`` is (it must begin a chunk), so a
    resumed read names its chunks as the first read did.
    """
    if (start_line - 1) % chunk_items:
        raise ValueError("start_line must begin a chunk")
    raw = _Counting(s3.get_object(Bucket=bucket, Key=key)["Body"])
    # Bytes that are not UTF-8 survive as lone surrogates, which the decoder quarantines with the line.
    gzipped = gzip.GzipFile(fileobj=io.BufferedReader(raw, 1 << 20))
    text = io.TextIOWrapper(gzipped, encoding="utf-8", errors="surrogateescape")
    lines: list[tuple[int, str]] = []
    number = 0
    for number, line in enumerate(text, 1):
        if number < start_line:
            continue
        lines.append((number, line.rstrip("\n")))
        if len(lines) == chunk_items:
            yield Chunk((lines[0][0] - 1) // chunk_items, lines[0][0], lines, raw.count)
            lines = []
    if lines:
        yield Chunk((lines[0][0] - 1) // chunk_items, lines[0][0], lines, raw.count)
