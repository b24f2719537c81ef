"""The local account's lake bucket, kept in the state directory between runs.

moto's server holds S3 in memory, so without this the lake — recorded schemas, lake files, quarantined
records and files — would vanish with the server while the warehouse (a file) stays: a second run would
infer column types afresh and disagree with the warehouse. ``save`` copies the bucket to
``DIR/lake/<key>`` when a command ends; ``restore`` puts it back when the next one starts, so two runs
equal one run with both inputs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = ["restore", "save"]

# COPY manifests are per load and never read again.
_TRANSIENT_PREFIXES = ("_manifests/",)
# Written, never read, by the functions: kept on disk, not put back, so whatever a run finds there in the
# bucket is that run's.
_WRITE_ONLY_PREFIXES = ("quarantine/",)


def _path(directory: Path, key: str) -> Path | None:
    parts = PurePosixPath(key).parts
    if not parts or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return None  # not a key this stack writes; never a path outside the directory
    return directory.joinpath(*parts)


def save(s3: Any, bucket: str, directory: Path) -> int:
    """Copy every object of ``bucket`` that is new or changed to ``directory``; returns how many."""
    copied = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            path = _path(directory, key)
            if path is None or key.startswith(_TRANSIENT_PREFIXES):
                continue
            if path.is_file() and path.stat().st_size == obj["Size"] and key.endswith(".parquet"):
                continue  # lake file keys are a function of their content's batch: same key, same rows
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".partial")
            partial.write_bytes(body)
            os.replace(partial, path)
            copied += 1
    return copied


def restore(
    s3: Any, bucket: str, directory: Path, *, loaded: Callable[[Iterable[str]], set[str]]
) -> list[str]:
    """Put the saved lake back into ``bucket``; returns the keys put.

    Lake files the warehouse's ledger already holds (``loaded(keys)`` says which) stay on disk only:
    uploading them would notify the loader only for it to skip them. Quarantined records and files stay on
    disk too: nothing reads them back, and so every object a run finds under ``quarantine/`` is its own.
    """
    if not directory.is_dir():
        return []
    files = {
        path.relative_to(directory).as_posix(): path
        for path in sorted(directory.rglob("*"))
        if path.is_file() and not path.name.endswith(".partial")
    }
    done = loaded([k for k in files if k.endswith(".parquet")])
    put = []
    for key, path in files.items():
        if key in done or key.startswith(_WRITE_ONLY_PREFIXES):
            continue
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        put.append(key)
    return put
