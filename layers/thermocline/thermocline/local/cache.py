"""A cache on disk of values that are pure functions of their key (translated templates, moto's resource
types, a deployed stack's description): JSON files named by a digest of the key."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from thermocline.observability import logger

__all__ = ["CACHE_ENV", "cache_load", "cache_store", "cached"]

# Where the values are cached (a directory, or "off"); ~/.cache/thermocline by default. Translating the
# template and listing moto's resource types cost about 1.5 s per start-up without it.
CACHE_ENV = "THERMOCLINE_CACHE"


def _cache_dir() -> Path | None:
    value = os.environ.get(CACHE_ENV)
    if value == "off":
        return None
    if value:
        return Path(value)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "thermocline"


def _cache_path(kind: str, key: Any) -> Path | None:
    directory = _cache_dir()
    if directory is None:
        return None
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return directory / f"{kind}-{digest}.json"


def cache_load(kind: str, key: Any) -> Any:
    """The value stored under ``kind`` and a digest of ``key``; None when absent or caching is off."""
    path = _cache_path(kind, key)
    if path is None:
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def cache_store(kind: str, key: Any, value: Any) -> None:
    path = _cache_path(kind, key)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        partial.write_text(json.dumps(value))
        os.replace(partial, path)
    except OSError as exc:
        logger.debug("cache not written: %s", exc)


def cached(kind: str, key: Any, compute: Any) -> Any:
    """``compute()``, remembered as JSON on disk under a digest of ``key``."""
    value = cache_load(kind, key)
    if value is None:
        value = compute()
        cache_store(kind, key, value)
    return value
