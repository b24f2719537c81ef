"""What a backfill has done, in S3: its plan and one marker per finished chunk and file.

``<progress-prefix><export-id>/plan.json`` names the export and its data files; ``done/<file>-<chunk>.json``
marks a chunk whose lake files are written, ``done/<file>.json`` a finished file. Markers are written after
the lake files they vouch for, so an interruption at any point redoes at most one chunk, whose lake files
have deterministic keys and are overwritten, not doubled.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

__all__ = ["ChunkDone", "Plan", "Progress"]


@dataclass(frozen=True)
class Plan:
    export_arn: str
    bucket: str
    summary_key: str
    table_arn: str
    key_attributes: list[str]
    files: list[dict[str, Any]]  # {"key": ..., "items": ...}, in manifest order
    chunk_items: int

    @property
    def export_id(self) -> str:
        return self.export_arn.rsplit("/", 1)[-1]

    @property
    def items(self) -> int:
        return sum(int(f["items"]) for f in self.files)


@dataclass
class ChunkDone:
    items: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    lake_files: int = 0
    lake_bytes: int = 0
    quarantined: int = 0
    compressed_bytes: int = 0


class Progress:
    def __init__(self, s3: Any, bucket: str, prefix: str, export_id: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.base = f"{prefix.rstrip('/')}/{export_id}/"

    def save_plan(self, plan: Plan) -> None:
        self._put("plan.json", asdict(plan))

    def load_plan(self) -> Plan | None:
        doc = self._get("plan.json")
        return Plan(**doc) if doc is not None else None

    def mark_chunk(self, file_index: int, chunk: int, done: ChunkDone) -> None:
        self._put(f"done/{file_index:06d}-{chunk:06d}.json", asdict(done))

    def mark_file(self, file_index: int, done: ChunkDone) -> None:
        self._put(f"done/{file_index:06d}.json", asdict(done))

    def done_chunks(self, file_index: int) -> dict[int, ChunkDone]:
        found = {}
        for key in self._list(f"done/{file_index:06d}-"):
            chunk = int(key.rsplit("-", 1)[1].removesuffix(".json"))
            doc = self._get(key.removeprefix(self.base))
            if doc is not None:
                found[chunk] = ChunkDone(**doc)
        return found

    def done_files(self) -> dict[int, ChunkDone]:
        found = {}
        for key in self._list("done/"):
            name = key.rsplit("/", 1)[1].removesuffix(".json")
            if "-" not in name:
                doc = self._get(key.removeprefix(self.base))
                if doc is not None:
                    found[int(name)] = ChunkDone(**doc)
        return found

    def _list(self, prefix: str) -> list[str]:
        keys = []
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.base + prefix
        )
        for page in pages:
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    def _put(self, name: str, doc: dict[str, Any]) -> None:
        body = json.dumps(doc, indent=1, sort_keys=True).encode()
        self.s3.put_object(
            Bucket=self.bucket, Key=self.base + name, Body=body, ContentType="application/json"
        )

    def _get(self, name: str) -> dict[str, Any] | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self.base + name)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return dict(json.loads(body))
