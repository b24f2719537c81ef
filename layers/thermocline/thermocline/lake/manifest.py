"""COPY manifests for lake files (their key: ``lake.keys.manifest_key``).

A manifest names exactly the objects one load reads, so a load never picks up a file that landed after it
was planned. For Parquet, COPY requires ``meta.content_length`` on every entry and fails when it does not
match the object's size:
https://docs.aws.amazon.com/redshift/latest/dg/loading-data-files-using-manifest.html
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ManifestEntry",
    "ManifestError",
    "build_manifest",
    "parse_manifest",
    "s3_url",
    "split_s3_url",
]


class ManifestError(ValueError):
    """A manifest is malformed or names an object without its size."""


@dataclass(frozen=True)
class ManifestEntry:
    url: str
    content_length: int


def s3_url(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def build_manifest(entries: Sequence[ManifestEntry]) -> str:
    """The manifest JSON for ``entries``: every entry mandatory, each with ``meta.content_length``."""
    if not entries:
        raise ManifestError("a manifest needs at least one entry")
    seen: set[str] = set()
    body: list[dict[str, Any]] = []
    for entry in entries:
        if not entry.url.startswith("s3://"):
            raise ManifestError(f"not an s3:// URL: {entry.url}")
        if entry.content_length < 0:
            raise ManifestError(f"negative content_length for {entry.url}")
        if entry.url in seen:
            # COPY would read the object twice: duplicate rows in staging for no reason.
            continue
        seen.add(entry.url)
        body.append({"url": entry.url, "mandatory": True, "meta": {"content_length": entry.content_length}})
    return json.dumps({"entries": body}, separators=(",", ":"))


def parse_manifest(text: str | bytes) -> list[ManifestEntry]:
    """Read a manifest back (the local engines emulate COPY from it)."""
    try:
        doc = json.loads(text)
        entries = [
            ManifestEntry(url=str(e["url"]), content_length=int(e["meta"]["content_length"]))
            for e in doc["entries"]
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"malformed manifest: {exc}") from None
    return entries


def split_s3_url(url: str) -> tuple[str, str]:
    if not url.startswith("s3://") or "/" not in url[5:]:
        raise ManifestError(f"not an s3://bucket/key URL: {url}")
    bucket, _, key = url[5:].partition("/")
    return bucket, key
