"""Fixtures shared by the integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(
    params=[
        pytest.param("duckdb", marks=pytest.mark.moto),
        pytest.param("postgres", marks=[pytest.mark.moto, pytest.mark.postgres]),
    ]
)
def engine_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A warehouse URL: a DuckDB file, then a real PostgreSQL database (Redshift's closest relative)."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path}/wh.duckdb"
    return str(request.getfixturevalue("postgres_dsn"))
