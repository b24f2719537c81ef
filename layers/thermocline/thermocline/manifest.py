"""Moved: ``thermocline.lake.manifest`` (and ``lake.keys.manifest_key``). This alias goes away once nothing
imports it."""

from thermocline.lake.keys import manifest_key
from thermocline.lake.manifest import (
    ManifestEntry,
    ManifestError,
    build_manifest,
    parse_manifest,
    s3_url,
    split_s3_url,
)

__all__ = [
    "ManifestEntry",
    "ManifestError",
    "build_manifest",
    "manifest_key",
    "parse_manifest",
    "s3_url",
    "split_s3_url",
]
