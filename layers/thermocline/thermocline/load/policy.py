"""How a load behaves, as one object built once from the function's settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["LoadPolicy"]


@dataclass(frozen=True)
class LoadPolicy:
    lake_bucket: str
    lake_prefix: str = "cdc/"
    quarantine_prefix: str = "quarantine/"
    manifest_prefix: str = "_manifests/"
    copy_iam_role: str | None = None  # unset: the warehouse's default IAM role
    delete_mode: Literal["hard", "soft"] = "hard"
    max_files_per_load: int = 200  # files per load transaction
    attempts: int = 3  # of one load on transient errors, before the files are left for redelivery
    retry_base_seconds: float = 0.5  # doubled after each attempt
    ledger_lookup_keys: int = 200  # keys per ledger query: far below any statement limit

    @classmethod
    def from_settings(cls, settings: Any) -> LoadPolicy:
        """From ``WarehouseLoadSettings`` (or any settings with the same fields)."""
        return cls(
            lake_bucket=settings.lake_bucket,
            lake_prefix=settings.lake_prefix,
            quarantine_prefix=settings.quarantine_prefix,
            manifest_prefix=settings.manifest_prefix,
            copy_iam_role=settings.copy_iam_role,
            delete_mode=settings.delete_mode,
            max_files_per_load=settings.max_files_per_load,
            attempts=settings.load_attempts,
        )
