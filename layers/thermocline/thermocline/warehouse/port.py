"""The warehouse port: what every engine offers the services, and nothing an engine only needs itself.

Services talk to a :class:`Warehouse` (``with warehouse.connect(url) as wh:``), read its limits from
:attr:`Warehouse.capabilities`, and handle the error kinds in ``errors``. SQL is always the Redshift
dialect; how an engine runs it (the Data API, a driver, a translation for a local engine) is its own
business (``emulation`` holds what the local engines share).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from thermocline.observability import logger

__all__ = ["DATA_API_LIMITS", "Capabilities", "QueryResult", "Warehouse", "WarehouseBase", "log_statement"]


@dataclass(frozen=True)
class Capabilities:
    """Limits a caller must respect: statements larger or more numerous than these are refused."""

    max_statement_bytes: int
    max_statements: int  # per ``execute`` (one transaction)


# The Redshift Data API's limits (https://docs.aws.amazon.com/redshift/latest/mgmt/data-api.html,
# "Considerations"; the ``SqlList`` shape of the API model): at most 40 statements per batch, 100 KB per
# statement. Every engine declares them, so a load that passes locally is one the Data API accepts.
DATA_API_LIMITS = Capabilities(max_statement_bytes=100_000, max_statements=40)


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@runtime_checkable
class Warehouse(Protocol):
    dialect: str
    capabilities: Capabilities

    def execute(self, statements: Sequence[str]) -> None:
        """Run ``statements`` in one transaction: all or nothing."""

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """Run one Redshift-dialect query and return its rows.

        ``params`` binds the query's ``:name`` placeholders (the Data API's style); values travel apart
        from the SQL text, never formatted into it.
        """

    def close(self) -> None: ...

    def __enter__(self) -> Warehouse: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class WarehouseBase:
    """What every engine shares: the portable capabilities and closing as a context manager."""

    capabilities: Capabilities = DATA_API_LIMITS

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def log_statement(engine: str, sql: str) -> None:
    """Every statement an engine runs, at debug level."""
    logger.debug("warehouse statement", engine=engine, sql=sql)
