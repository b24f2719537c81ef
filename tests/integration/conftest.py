"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from thermocline.local import moto_server

# The local engines alone (``@LOCAL_ENGINES`` on a test that takes ``engine_url``): what only they emulate,
# such as Redshift's rules for changing tables (warehouse/ddl_rules.py).
LOCAL_ENGINES = pytest.mark.parametrize(
    "engine_url",
    [
        pytest.param("duckdb", marks=pytest.mark.moto),
        pytest.param("postgres", marks=[pytest.mark.moto, pytest.mark.postgres]),
    ],
    indirect=True,
)


@pytest.fixture(
    params=[
        pytest.param("duckdb", marks=pytest.mark.moto),
        pytest.param("postgres", marks=[pytest.mark.moto, pytest.mark.postgres]),
        pytest.param("redshift", marks=[pytest.mark.moto, pytest.mark.postgres]),
    ]
)
def engine_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A warehouse URL: a DuckDB file, a real PostgreSQL database (Redshift's closest relative), and the
    ``redshift_connector`` engine speaking to Redshift played by PostgreSQL behind the wire-level shim."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path}/wh.duckdb"
    dsn = str(request.getfixturevalue("postgres_dsn"))
    if request.param == "postgres":
        return dsn
    from tests.integration.redshift_shim import RedshiftShim
    from thermocline import aws

    request.getfixturevalue("aws_env")
    shim = RedshiftShim(dsn, s3_client=aws.client("s3")).start()
    request.addfinalizer(shim.stop)
    return shim.url()


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    """Two moto servers side by side: moto as released and the local stack's (``released``, ``thermocline``),
    for tests that send both the same requests and compare the answers."""
    started = [moto_server.start(module="moto.server"), moto_server.start()]
    try:
        yield {"released": started[0].endpoint, "thermocline": started[1].endpoint}
    finally:
        for server in started:
            server.stop()
