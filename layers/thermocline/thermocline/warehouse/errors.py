"""The warehouse's error kinds: they decide what the loader does, never the message text.

* :class:`TransientLoadError` — the warehouse or S3 was briefly unavailable, a lock or serialization
  conflict, a timeout: retry the same load.
* :class:`TerminalLoadError` — retrying cannot help (the SQL or the setup is wrong): stop and report.
* :class:`BadDataError` (a terminal error) — a file's data cannot be loaded: quarantine the file and go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from thermocline.warehouse.port import QueryResult

__all__ = [
    "BadDataError",
    "LoadErrorDetail",
    "TerminalLoadError",
    "TransientLoadError",
    "WarehouseError",
    "load_error_details",
]


@dataclass(frozen=True)
class LoadErrorDetail:
    """One row of a load failure a user can act on."""

    file: str | None
    line: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = ", ".join(
            part
            for part in (
                self.file,
                f"line {self.line}" if self.line is not None else None,
                f"column {self.column}" if self.column else None,
            )
            if part
        )
        return f"{where}: {self.reason}" if where else self.reason


class WarehouseError(RuntimeError):
    """Base of the warehouse error kinds."""

    def __init__(self, message: str, *, details: Sequence[LoadErrorDetail] = ()) -> None:
        super().__init__(message)
        self.details = list(details)

    def __str__(self) -> str:
        base = super().__str__()
        if not self.details:
            return base
        return base + "; " + "; ".join(str(d) for d in self.details[:5])


class TransientLoadError(WarehouseError):
    """Retry: the same load may succeed later."""


class TerminalLoadError(WarehouseError):
    """Do not retry: the same load will fail again."""


class BadDataError(TerminalLoadError):
    """A file's data cannot be loaded; ``details`` name the file (and line and column where known)."""

    @property
    def files(self) -> set[str]:
        return {d.file for d in self.details if d.file}


def load_error_details(result: QueryResult) -> list[LoadErrorDetail]:
    """The rows of Redshift's ``sys_load_error_detail`` (``redshift_errors.load_error_detail_sql``) as
    details, as both Redshift engines read them after a failed COPY."""
    return [
        LoadErrorDetail(
            file=str(row["file_name"]) if row.get("file_name") else None,
            line=int(row["line_number"]) if row.get("line_number") is not None else None,
            column=str(row["column_name"]) if row.get("column_name") else None,
            reason=str(row.get("error_message") or "").strip(),
        )
        for row in result.as_dicts()
    ]
