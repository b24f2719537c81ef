"""The ``redshift_connector`` engine over a real connection: Redshift played by PostgreSQL behind the
wire-level shim (``redshift_shim``), which receives exactly the SQL the engine sends to Redshift."""

from __future__ import annotations

import io
import random
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redshift_connector

from tests.integration.load_fixtures import ORDERS_COLUMNS, SourceModel, put_lake_file, warehouse_rows
from tests.integration.redshift_shim import RedshiftShim
from thermocline import aws, warehouse
from thermocline.lake.manifest import ManifestEntry, build_manifest
from thermocline.load import load_files
from thermocline.settings import WarehouseLoadSettings
from thermocline.warehouse import BadDataError, TerminalLoadError
from thermocline.warehouse.redshift_connector import RedshiftConnectorWarehouse

pytestmark = [pytest.mark.postgres, pytest.mark.moto]
BUCKET = "lake"


@pytest.fixture
def s3(aws_env: str) -> Any:
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def shim(postgres_dsn: str, s3: Any):
    with RedshiftShim(postgres_dsn, s3_client=s3) as running:
        yield running


def test_loads_exactly_once_through_the_driver(shim: RedshiftShim, s3: Any) -> None:
    url = shim.url()
    settings = WarehouseLoadSettings(lake_bucket=BUCKET, warehouse_url=url)
    wh = warehouse.connect(url, s3_client=s3)
    assert isinstance(wh, RedshiftConnectorWarehouse)
    # The real driver spoke: it sent its Redshift-only startup parameters, which the shim removed.
    assert {b"client_protocol_version", b"driver_version"} <= set(shim.startup_params_seen[0])

    src = SourceModel(seed=21)
    rows = src.random_changes(150, keys=20)
    keys = [
        put_lake_file(s3, BUCKET, "orders", ORDERS_COLUMNS, batch, shard="shardId-A")
        for batch in src.batches(rows, 15)
    ]
    random.Random(2).shuffle(keys)
    try:
        for key in keys + keys[:3]:
            report = load_files([key], settings=settings, warehouse=wh, s3_client=s3)
            assert not report.failed and not report.quarantined
        assert warehouse_rows(wh, "orders", ORDERS_COLUMNS) == src.expected()
        assert wh.query("SELECT COUNT(*) FROM thermocline.load_ledger").rows == [(len(keys),)]
    finally:
        wh.close()
    # What reached the wire is Redshift's SQL as written: a COPY from a manifest, LOCK, JSON_PARSE.
    sent = "\n".join(shim.executed)
    assert "FORMAT AS PARQUET" in sent and "MANIFEST" in sent
    assert any(sql.startswith("LOCK ") for sql in shim.executed)
    assert "JSON_PARSE(" in sent


def test_bad_json_is_quarantined_and_sql_errors_are_terminal(shim: RedshiftShim, s3: Any) -> None:
    url = shim.url()
    settings = WarehouseLoadSettings(lake_bucket=BUCKET, warehouse_url=url)
    wh = warehouse.connect(url, s3_client=s3)
    src = SourceModel(seed=22)
    good = put_lake_file(s3, BUCKET, "orders", ORDERS_COLUMNS, src.random_changes(20, keys=8))
    bad_row = dict(src.insert("USER#BAD"), items="[1, 2")
    src.state.pop(("USER#BAD", "ORDER"))
    bad = put_lake_file(s3, BUCKET, "orders", ORDERS_COLUMNS, [bad_row], shard="shardId-Z")
    try:
        report = load_files([good, bad], settings=settings, warehouse=wh, s3_client=s3)
        assert (report.loaded, report.quarantined) == ([good], [bad])
        assert warehouse_rows(wh, "orders", ORDERS_COLUMNS) == src.expected()
        with pytest.raises(TerminalLoadError, match="42P01"):
            wh.execute(["DELETE FROM no_such_table"])
        # The failed transaction was rolled back; the connection is usable.
        assert wh.query("SELECT COUNT(*) FROM orders").rows == [(len(src.state),)]
    finally:
        wh.close()


def _put_manifest(s3: Any, keys: list[str]) -> str:
    entries = []
    for key in keys:
        size = s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"]
        entries.append(ManifestEntry(f"s3://{BUCKET}/{key}", size))
    s3.put_object(Bucket=BUCKET, Key="_manifests/test.manifest", Body=build_manifest(entries).encode())
    return f"s3://{BUCKET}/_manifests/test.manifest"


def test_a_failed_copy_names_file_line_and_column_from_sys_load_error_detail(
    shim: RedshiftShim, s3: Any
) -> None:
    """Redshift tells the client of a failed COPY only to look in ``sys_load_error_detail``. The engine
    reads ``pg_last_copy_id()`` before the rollback (refused, as Redshift refuses every statement but
    ROLLBACK in a failed transaction), rolls back, and finds the COPY's rows by session and time."""
    ok, too_long = [], []
    for name, values in (("ok", ["a", "b"]), ("too_long", ["a", "much too long", "c"])):
        buf = io.BytesIO()
        pq.write_table(pa.table({"pk": pa.array(values)}), buf)
        s3.put_object(Bucket=BUCKET, Key=f"cdc/orders/{name}.parquet", Body=buf.getvalue())
        (ok if name == "ok" else too_long).append(f"cdc/orders/{name}.parquet")
    manifest = _put_manifest(s3, ok + too_long)
    copy = f"COPY stage FROM '{manifest}' IAM_ROLE default FORMAT AS PARQUET MANIFEST"
    with warehouse.connect(shim.url()) as wh:
        with pytest.raises(BadDataError) as caught:
            wh.execute(["CREATE TEMP TABLE stage (pk VARCHAR(8))", copy])
        assert [str(d) for d in caught.value.details] == [
            f"s3://{BUCKET}/{too_long[0]}, line 2, column pk: value too long for type character varying(8)"
        ]
        # The failed transaction left nothing behind, and the session goes on.
        assert wh.query("SELECT COUNT(*) FROM pg_tables WHERE tablename = 'stage'").rows == [(0,)]
    sent = shim.executed
    at = sent.index(copy)
    assert sent[at - 1] == "SELECT pg_last_copy_id(), pg_backend_pid(), GETDATE()"
    assert sent[at + 1 : at + 3] == ["SELECT pg_last_copy_id()", "rollback"]
    after = [sql for sql in sent[at + 3 :] if sql not in ("begin transaction", "rollback")]
    assert "FROM sys_load_error_detail WHERE session_id = CAST($1 AS INTEGER)" in after[0]


def test_pg_last_copy_id_follows_redshifts_rules(shim: RedshiftShim, s3: Any) -> None:
    """-1 before the session's first COPY; the COPY's id after it; unchanged by a COPY whose transaction
    rolled back (https://docs.aws.amazon.com/redshift/latest/dg/PG_LAST_COPY_ID.html): what the engine
    compares to tell a new COPY's errors from older ones."""
    buf = io.BytesIO()
    pq.write_table(pa.table({"pk": pa.array(["a", "b"])}), buf)
    s3.put_object(Bucket=BUCKET, Key="cdc/orders/ok.parquet", Body=buf.getvalue())
    copy = f"COPY stage FROM '{_put_manifest(s3, ['cdc/orders/ok.parquet'])}' IAM_ROLE default FORMAT AS PARQUET MANIFEST"
    with warehouse.connect(shim.url()) as wh, warehouse.connect(shim.url()) as other:
        assert wh.query("SELECT pg_last_copy_id()").rows == [(-1,)]
        wh.execute(["CREATE TEMP TABLE stage (pk VARCHAR(8))", copy])
        ((first,),) = wh.query("SELECT pg_last_copy_id()").rows
        assert first >= 0 and wh.query("SELECT COUNT(*) FROM stage").rows == [(2,)]
        with pytest.raises(TerminalLoadError):
            wh.execute([copy, "INSERT INTO no_such_table VALUES (1)"])
        assert wh.query("SELECT pg_last_copy_id()").rows == [(first,)]
        assert other.query("SELECT pg_last_copy_id()").rows == [(-1,)]  # per session


def test_a_torn_file_in_a_chunk_is_quarantined_and_the_rest_loads(shim: RedshiftShim, s3: Any) -> None:
    url = shim.url()
    settings = WarehouseLoadSettings(lake_bucket=BUCKET, warehouse_url=url)
    src = SourceModel(seed=23)
    good = [
        put_lake_file(s3, BUCKET, "orders", ORDERS_COLUMNS, batch, shard=f"shardId-{i:03d}")
        for i, batch in enumerate(src.batches(src.random_changes(30, keys=10), 10))
    ]
    # A file whose footer reads well and whose data pages do not: only COPY finds out.
    torn = put_lake_file(s3, BUCKET, "orders", ORDERS_COLUMNS, [src.insert("USER#TORN")], shard="shardId-Z")
    src.state.pop(("USER#TORN", "ORDER"))
    body = bytearray(s3.get_object(Bucket=BUCKET, Key=torn)["Body"].read())
    body[4:260] = b"\xff" * 256
    s3.put_object(Bucket=BUCKET, Key=torn, Body=bytes(body))
    with warehouse.connect(url) as wh:
        report = load_files([*good, torn], settings=settings, warehouse=wh, s3_client=s3)
        assert (sorted(report.loaded), report.quarantined) == (sorted(good), [torn])
        assert warehouse_rows(wh, "orders", ORDERS_COLUMNS) == src.expected()
    reason = s3.get_object(Bucket=BUCKET, Key=f"quarantine/load/{torn}.error.json")["Body"].read().decode()
    assert "unreadable Parquet" in reason


def test_alter_column_type_runs_alone_with_autocommit_and_then_transactions_resume(
    shim: RedshiftShim,
) -> None:
    with warehouse.connect(shim.url()) as wh:
        wh.execute(["CREATE TABLE t (k VARCHAR(4))", "INSERT INTO t VALUES ('abcd')"])
        wh.execute(["ALTER TABLE t ALTER COLUMN k TYPE VARCHAR(64)"])
        wh.execute(["INSERT INTO t VALUES ('longer than four')"])
        # Back inside transactions: a batch that fails leaves nothing of its first statement.
        with pytest.raises(TerminalLoadError):
            wh.execute(["INSERT INTO t VALUES ('lost')", "INSERT INTO no_such_table VALUES (1)"])
        assert sorted(wh.query("SELECT k FROM t").rows) == [("abcd",), ("longer than four",)]
        # Redshift's rules are checked before anything is sent.
        before = len(shim.executed)
        with pytest.raises(TerminalLoadError, match="transaction block"):
            wh.execute(["INSERT INTO t VALUES ('x')", "ALTER TABLE t ALTER COLUMN k TYPE VARCHAR(65)"])
        with pytest.raises(TerminalLoadError, match="40"):
            wh.execute(["SELECT 1"] * 41)
        assert len(shim.executed) == before


def test_the_shim_refuses_alter_column_type_inside_a_transaction_block(shim: RedshiftShim) -> None:
    """What makes the engine's autocommit path necessary: Redshift refuses the ALTER in a block."""
    with warehouse.connect(shim.url()) as wh:
        wh.execute(["CREATE TABLE t (k VARCHAR(4))"])
    dsn = urlsplit(shim.dsn)
    conn = redshift_connector.connect(
        host="127.0.0.1",
        port=shim.port,
        database=dsn.path.lstrip("/"),
        user=dsn.username,
        password=dsn.password,
        ssl=False,
    )
    try:
        cursor = conn.cursor()
        with pytest.raises(redshift_connector.ProgrammingError, match="transaction block"):
            cursor.execute("ALTER TABLE t ALTER COLUMN k TYPE VARCHAR(64)")
        # The error aborted the transaction, as on Redshift: nothing but ROLLBACK runs.
        with pytest.raises(redshift_connector.ProgrammingError, match="25P02"):
            cursor.execute("SELECT 1")
        conn.rollback()
        conn.autocommit = True
        cursor.execute("ALTER TABLE t ALTER COLUMN k TYPE VARCHAR(64)")
    finally:
        conn.close()


def test_the_driver_path_is_held_to_the_local_engines_rulebook(shim: RedshiftShim) -> None:
    """The statements reach PostgreSQL through the PostgreSQL engine's translation, which refuses what
    Redshift would not take as written; the refusal aborts the transaction and the session goes on."""
    with warehouse.connect(shim.url()) as wh:
        wh.execute(["CREATE TABLE t (k VARCHAR(16))"])
        with pytest.raises(TerminalLoadError, match="backslash"):
            wh.execute(["INSERT INTO t VALUES ('a')", "INSERT INTO t VALUES ('C:\\temp')"])
        with pytest.raises(TerminalLoadError, match="127 bytes"):
            wh.query(f'SELECT 1 AS "{"é" * 64}"')
        assert wh.query("SELECT COUNT(*) FROM t").rows == [(0,)]


def test_a_redshift_url_with_an_unknown_parameter_is_refused(shim: RedshiftShim) -> None:
    with pytest.raises(ValueError, match="dialect"):
        warehouse.connect(shim.url(dialect="postgres"))
