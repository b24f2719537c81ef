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
            problems = "; ".join(
                f"{str(err['loc'][0]).upper()}: {err['msg']}" for err in exc.errors()
            )
            raise SettingsError(f"{cls.__name__}: {problems}") from None


class StreamIngestSettings(_EnvSettings):
    lake_bucket: str
    contracts_path: str | None = None
    lake_prefix: str = "cdc/"
    quarantine_prefix: str = "quarantine/"


class WarehouseLoadSettings(_EnvSettings):
    lake_bucket: str
    warehouse_url: str
    load_queue_url: str | None = None
    delete_mode: Literal["hard", "soft"] = "hard"
    lake_prefix: str = "cdc/"
    quarantine_prefix: str = "quarantine/"


class AnalyticsReportSettings(_EnvSettings):
    warehouse_url: str
    reports_bucket: str
    report_name: str = Field(default="monthly_sales_growth_by_region")
