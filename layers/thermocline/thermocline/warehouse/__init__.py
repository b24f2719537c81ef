"""Warehouse engines behind one port; :func:`connect` picks one from a URL.

* ``duckdb:///abs/path/warehouse.duckdb`` — embedded, the local stack's default
* ``postgresql://user:pw@host:port/db`` — a real PostgreSQL server (the test suite)
* ``redshift-data://<workgroup>/<database>`` — Redshift Data API, IAM auth (default inside Lambda);
  ``?cluster=1`` for a provisioned cluster identifier, ``?secret_arn=...`` for Secrets Manager credentials
* ``redshift://user@host:port/db`` — ``redshift_connector`` (password in the URL, ``?iam=1``, or
  ``REDSHIFT_PASSWORD``)

Engine modules import their drivers only when chosen, so the Lambda layer needs only the one it uses. The
port is ``port.py`` (with the errors in ``errors.py``); ``emulation.py`` is what only the local engines
need. Every engine is a context manager: ``with connect(url) as wh: ...`` closes it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from thermocline.warehouse.errors import (
    BadDataError,
    LoadErrorDetail,
    TerminalLoadError,
    TransientLoadError,
    WarehouseError,
)
from thermocline.warehouse.port import Capabilities, QueryResult, Warehouse

__all__ = [
    "BadDataError",
    "Capabilities",
    "LoadErrorDetail",
    "QueryResult",
    "TerminalLoadError",
    "TransientLoadError",
    "Warehouse",
    "WarehouseError",
    "connect",
]


def connect(url: str, *, s3_client: Any = None) -> Warehouse:
    """A warehouse for ``url``. ``s3_client`` is used by engines that emulate COPY (DuckDB, PostgreSQL)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "duckdb":
        from thermocline.warehouse.duckdb import DuckDBWarehouse

        path = url[len("duckdb://") :]
        if not path or path == "/":
            raise ValueError(f"duckdb URL needs an absolute path: {url!r} (duckdb:///abs/path.duckdb)")
        return DuckDBWarehouse(path, s3_client=s3_client)
    if scheme in {"postgresql", "postgres"}:
        from thermocline.warehouse.postgres import PostgresWarehouse

        return PostgresWarehouse(url, s3_client=s3_client)
    if scheme == "redshift-data":
        from thermocline.warehouse.redshift_data import RedshiftDataWarehouse

        return RedshiftDataWarehouse.from_url(url)
    if scheme == "redshift":
        from thermocline.warehouse.redshift_connector import RedshiftConnectorWarehouse

        return RedshiftConnectorWarehouse.from_url(url)
    raise ValueError(
        f"unknown warehouse URL scheme {scheme!r} in {url!r}: "
        "use duckdb://, postgresql://, redshift-data:// or redshift://"
    )
