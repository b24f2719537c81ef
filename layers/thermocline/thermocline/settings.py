"""One settings model per function, read once from the environment at cold start.

A missing or malformed variable fails at cold start with a message naming the variable, not halfway
through a batch. A model is a frozen dataclass: its fields are the variables (lower-cased), typed ``str``,
``int`` (bounds with ``Field(default=..., ge=..., le=...)``), ``Literal[...]`` or ``X | None``. Plain
dataclasses rather than a validation library keep every function's cold start short.
"""

from __future__ import annotations

import os
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal, Self, dataclass_transform


class SettingsError(RuntimeError):
    """The function's environment is missing a variable or has a malformed one."""


def Field(*, default: Any, ge: int | None = None, le: int | None = None) -> Any:  # noqa: N802
    """A setting with a default and inclusive bounds, checked whenever a model is made."""
    return field(default=default, metadata={"ge": ge, "le": le})


def _parse(hint: Any, raw: str) -> Any:
    """The environment's text as the field's type."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if hint is int:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"not an integer: {raw[:40]!r}") from None
    return raw


def _problem(hint: Any, value: Any, bounds: typing.Mapping[str, Any]) -> str | None:
    if value is None:
        return None if type(None) in typing.get_args(hint) else "missing"
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if typing.get_origin(hint) is Literal:
        allowed = typing.get_args(hint)
        return None if value in allowed else f"{value!r} is not one of {', '.join(map(repr, allowed))}"
    if not isinstance(value, hint) or isinstance(value, bool):
        return f"not {hint.__name__}: {str(value)[:40]!r}"
    if bounds.get("ge") is not None and value < bounds["ge"]:
        return f"{value} is below {bounds['ge']}"
    if bounds.get("le") is not None and value > bounds["le"]:
        return f"{value} is above {bounds['le']}"
    return None


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(Field,))
class _EnvSettings:
    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(frozen=True, kw_only=True)(cls)

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        problems = [
            f"{f.name.upper()}: {problem}"
            for f in fields(self)  # type: ignore[arg-type]
            if (problem := _problem(hints[f.name], getattr(self, f.name), f.metadata))
        ]
        if problems:
            raise SettingsError(f"{type(self).__name__}: {'; '.join(problems)}")

    @classmethod
    def from_env(cls, environ: typing.Mapping[str, str] | None = None) -> Self:
        env = os.environ if environ is None else environ
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        problems = []
        for f in fields(cls):  # type: ignore[arg-type]
            raw = env.get(f.name.upper())
            if raw:
                try:
                    values[f.name] = _parse(hints[f.name], raw)
                except ValueError as exc:
                    problems.append(f"{f.name.upper()}: {exc}")
            elif f.default is MISSING:
                problems.append(f"{f.name.upper()}: missing")
        if problems:
            raise SettingsError(f"{cls.__name__}: {'; '.join(problems)}")
        return cls(**values)


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


class ReconcileSettings(BackfillSettings):
    """BackfillFunction's export and lake settings, and the warehouse to compare."""

    warehouse_url: str
    # Reports (JSON) and the export started for the next run, per table.
    reconcile_prefix: str = "_reconcile/"


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
    # On the Data API, `?deadline=N` (seconds, below the function's timeout) bounds the query: past it the
    # statement is cancelled and the run fails with a one-line message.
    warehouse_url: str
    reports_bucket: str
    # Optional SNS topic told about each published report (a link to its HTML page).
    reports_topic_arn: str | None = None
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


class ExportIngestSettings(_EnvSettings):
    # Where RDS writes exports (StartExportTask's S3BucketName and S3Prefix).
    export_bucket: str
    export_prefix: str = ""
    lake_bucket: str
    warehouse_url: str
    # Where restored snapshot files go in the lake (outside the CDC prefix: they are loaded as full
    # refreshes by this function, never by the CDC loader).
    snapshot_prefix: str = "snapshot/"
    # The recorded schemas of the stream ingest: an exported table records its warehouse table there as
    # its own, so no other source writes into it.
    schema_prefix: str = "_schemas/"
    # The stream ingest's contracts (unset: the packaged ones): their target tables are the stream's, so an
    # exported table of one of those names takes `<name>_2`.
    contracts_path: str | None = None
    # Comma-separated databases to load from an export (default: every database it holds).
    export_databases: str | None = None
    # Primary keys the warehouse declares (informational, as in Redshift), e.g.
    # "customers=customer_id;order_lines=order_id,line_no". Exports do not record keys.
    primary_keys: str | None = None

    def databases(self) -> set[str] | None:
        names = {d.strip() for d in (self.export_databases or "").split(",") if d.strip()}
        return names or None

    def keys(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for entry in (self.primary_keys or "").split(";"):
            table, _, columns = entry.partition("=")
            if table.strip() and columns.strip():
                found[table.strip()] = [c.strip() for c in columns.split(",") if c.strip()]
        return found


class ExportStartSettings(_EnvSettings):
    # The Aurora cluster or RDS instance to export (its ARN).
    source_arn: str
    # "snapshot": the newest automated snapshot of the source; "live": the cluster itself (Aurora only).
    export_from: Literal["snapshot", "live"] = "snapshot"
    export_bucket: str
    export_prefix: str = ""
    export_role_arn: str
    export_kms_key_id: str
    # Comma-separated ExportOnly entries (database, database.schema, database.schema.table); empty: all.
    export_only: str | None = None
