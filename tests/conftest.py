"""Shared fixtures: sample events, moto's server, a real PostgreSQL server and a real Redis server.

Tests that need a server are marked (``moto``, ``postgres``, ``redis``). When the server cannot be started they are
skipped with the reason printed, except when ``THERMOCLINE_REQUIRE_SERVICES=1`` (set by ``.ci/run``): then
the failure to start is an error, so CI can never go green by skipping them.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("tests.golden_files")

from thermocline.local import moto_server, pg_server, redis_server  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
REQUIRE_SERVICES = os.environ.get("THERMOCLINE_REQUIRE_SERVICES") == "1"


def load_event(name: str) -> dict[str, Any]:
    """Load a sample event from ``events/`` (the same files ``sam local invoke -e`` takes)."""
    return json.loads((EVENTS / name).read_text())


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's server over real HTTP, one per test session (per xdist worker)."""
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    try:
        server = moto_server.start(log_path=log)
    except (moto_server.MotoServerError, OSError) as exc:
        _unavailable(f"moto server: {exc}")
    yield server.endpoint
    server.stop()


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point every boto3 client at moto's server, with fake credentials and a fresh account state."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).close()
    return moto_endpoint


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[pg_server.PostgresServer]:
    """A real PostgreSQL server, one per test session (per xdist worker)."""
    try:
        server = pg_server.start(moto_server.free_port())
    except (pg_server.PostgresUnavailableError, OSError) as exc:
        _unavailable(f"PostgreSQL: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium() -> str:
    """Chromium from the distribution's packages (``.ci/run`` installs it), for screenshots of pages."""
    import shutil

    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        _unavailable("chromium is not installed (apt-get install chromium)")
    return str(found)


@pytest.fixture
def postgres_dsn(postgres_server: pg_server.PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the shared server for one test."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield postgres_server.dsn(name)
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """A real Redis server (the distribution's redis-server), one per test session (per xdist worker)."""
    try:
        server = redis_server.start()
    except (redis_server.RedisServerError, OSError) as exc:
        _unavailable(f"Redis: {exc}")
    yield server.url
    server.stop()


@pytest.fixture
def redis_client(redis_server_url: str) -> Iterator[Any]:
    """A client of the shared Redis server, emptied for each test."""
    import redis

    client = redis.Redis.from_url(redis_server_url)
    client.flushall()
    yield client
    client.close()
