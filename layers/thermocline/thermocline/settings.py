"""One settings model per function, read once from the environment at cold start.

A missing or malformed variable fails at cold start with a message naming the variable, not halfway
through a batch.
"""

from __future__ import annotations

import os
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class SettingsError(RuntimeError):
    """The function's environment is missing a variable or has a malformed one."""


class _EnvSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Self:
        env = os.environ if environ is None else environ
        values = {name: env[name.upper()] for name in cls.model_fields if env.get(name.upper())}
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = "; ".join(f"{str(err['loc'][0]).upper()}: {err['msg']}" for err in exc.errors())
            raise SettingsError(f"{cls.__name__}: {problems}") from None


class StreamIngestSettings(_EnvSettings):
    lake_bucket: str
    contracts_path: str | None = None
    lake_prefix: str = "cdc/"
    quarantine_prefix: str = "quarantine/"
    # Recorded attribute→column mapping of each warehouse table, one JSON object per table.
    schema_prefix: str = "_schemas/"


class BackfillSettings(StreamIngestSettings):
    """StreamIngestFunction's lake settings (the export writes the same lake) and the backfill's own."""

    table_name: str | None = None  # the source table the function backfills when an event names none
    # Exports are written to the lake bucket under this prefix (no lake notification fires there).
    export_prefix: str = "_exports/dynamodb/"
    progress_prefix: str = "_backfill/"
    # Items decoded and written per lake file: bounds memory whatever the size of a data file.
    chunk_items: int = Field(default=50_000, ge=1, le=1_000_000)
    backfill_queue_url: str | None = None
    # Seconds between looks at an export still in progress (an SQS delay: at most 900).
    export_poll_seconds: int = Field(default=120, ge=0, le=900)


class WarehouseLoadSettings(_EnvSettings):
    lake_bucket: str
    warehouse_url: str
    load_queue_url: str | None = None
    delete_mode: Literal["hard", "soft"] = "hard"
    lake_prefix: str = "cdc/"
    quarantine_prefix: str = "quarantine/"
    # Where COPY manifests are written: outside ``lake_prefix`` so they never trigger a load.
    manifest_prefix: str = "_manifests/"
    # The role Redshift assumes to read the lake in COPY; unset: the warehouse's default IAM role.
    copy_iam_role: str | None = None
    # Files per load transaction: bounds the Data API request (100 KB per statement) and the COPY.
    max_files_per_load: int = Field(default=200, ge=1, le=1000)
    # Attempts of one load on transient errors before the messages are left for SQS to redeliver.
    load_attempts: int = Field(default=3, ge=1, le=10)
    # A scheduled drain of LOAD_QUEUE_URL stops taking new messages after this many seconds.
    drain_seconds: int = Field(default=240, ge=1, le=840)


class AnalyticsReportSettings(_EnvSettings):
    warehouse_url: str
    reports_bucket: str
    report_name: str = Field(default="monthly_sales_growth_by_region")
    # Optional: also keep each report's latest result in the hot views' Redis (see HotViewsSettings).
    redis_url: str | None = None
    redis_iam_cache: str | None = None
    aws_region: str | None = None


class HotViewsSettings(_EnvSettings):
    # redis://host:port/0, or rediss://<user>@<endpoint>:6379 with REDIS_IAM_CACHE (the cache's name)
    redis_url: str
    redis_iam_cache: str | None = None
    aws_region: str | None = None
    contracts_path: str | None = None
    # A folder of view definitions (*.yaml); unset: the views shipped in thermocline/hot/views/.
    views_path: str | None = None
    # Only to rebuild a view from the warehouse on demand.
    warehouse_url: str | None = None
    # How long an item's last applied sequence number is kept: past the stream's 24-hour retention.
    guard_seconds: int = Field(default=2 * 24 * 3600, ge=25 * 3600)
