"""The demo's writer process (``local/writer.py``) applies the workload's phases to moto's server as
``workload.run_phase`` does in the demo's own process: the same writes, the same table."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_moto_app import _client
from tests.integration.test_moto_app import streamed_table as create_table
from thermocline.local import moto_server
from thermocline.local.workload import PHASES, Workload, run_phase
from thermocline.local.writer import Writer, WriterError

pytestmark = pytest.mark.moto

_NOW = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)
_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in _CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    server = moto_server.start()
    try:
        yield server.endpoint
    finally:
        server.stop()


def _table(endpoint: str, name: str) -> Any:
    ddb = _client(endpoint)
    create_table(ddb, name)
    return ddb


def _items(ddb: Any, table: str) -> list[dict[str, Any]]:
    return [i for page in ddb.get_paginator("scan").paginate(TableName=table) for i in page["Items"]]


def test_the_writer_process_leaves_the_table_the_demo_process_would(endpoint: str, tmp_path: Path) -> None:
    ddb = _table(endpoint, "InProcess")
    _table(endpoint, "Written")
    here = Workload(orders=30, now=_NOW)
    writer = Writer(endpoint, "Written", Workload(orders=30, now=_NOW), tmp_path / "writer.log")
    try:
        progress: list[int] = []
        counts = [writer.run_phase(phase, progress.append) for phase in PHASES]
    finally:
        writer.close()
    assert counts == [run_phase(ddb, "InProcess", here, phase, writers=4) for phase in PHASES]
    assert sum(progress) == sum(counts)  # a line per request, as the demo's progress bars show them
    assert _items(ddb, "Written") == _items(ddb, "InProcess")
    assert writer.process.returncode == 0  # its input ended: it exited by itself


def test_a_failing_phase_raises_with_the_writers_error(endpoint: str, tmp_path: Path) -> None:
    writer = Writer(endpoint, "NoSuchTable", Workload(orders=5, now=_NOW), tmp_path / "writer.log")
    try:
        with pytest.raises(WriterError, match="ResourceNotFoundException"):
            writer.run_phase("users")
        with pytest.raises(WriterError, match="exit status 1"):  # it has gone: nothing more is written
            writer.run_phase("orders")
    finally:
        writer.close()
    assert os.path.exists(tmp_path / "writer.log")
