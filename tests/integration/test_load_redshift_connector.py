"""The ``redshift_connector`` engine over a real connection: PostgreSQL behind the wire-level shim."""

from __future__ import annotations

import random
from urllib.parse import urlsplit

import pytest

from tests.integration.load_fixtures import ORDERS_COLUMNS, SourceModel, put_lake_file, warehouse_rows
from tests.integration.redshift_shim import RedshiftShim
from thermocline import aws, warehouse
from thermocline.load import load_files
from thermocline.settings import WarehouseLoadSettings
from thermocline.warehouse import BadDataError, TerminalLoadError
from thermocline.warehouse.redshift_connector import RedshiftConnectorWarehouse

pytestmark = [pytest.mark.postgres, pytest.mark.moto]
BUCKET = "lake"


@pytest.fixture
def shim_url(postgres_dsn: str):
    dsn = urlsplit(postgres_dsn)
    shim = RedshiftShim((dsn.hostname, dsn.port)).start()
    yield (
        f"redshift://{dsn.username}:{dsn.password}@127.0.0.1:{shim.port}{dsn.path}?ssl=0&dialect=postgres",
        shim,
    )
    shim.stop()


@pytest.fixture
def s3(aws_env: str):
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def test_loads_exactly_once_through_the_driver(shim_url, s3):
    url, shim = shim_url
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


def test_bad_json_is_quarantined_and_sql_errors_are_terminal(shim_url, s3):
    url, _ = shim_url
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


def test_native_copy_failure_reads_sys_load_error_detail(shim_url, postgres_dsn):
    """Native mode sends Redshift SQL untranslated. PostgreSQL stands in for the Redshift objects the
    error path reads: ``pg_last_copy_id()`` (a sequence: every call is a newer COPY), ``GETDATE()``, and
    the ``sys_load_error_detail`` view, whose rows carry the process id of the session that ran the COPY
    (a view answering this session's id for its rows). PostgreSQL rejects the COPY itself, as Redshift
    rejects bad data, and like Redshift refuses statements in the failed transaction, so the errors are
    found by session and time after the rollback."""
    import psycopg

    url, _ = shim_url
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("CREATE SEQUENCE copy_ids")
        conn.execute(
            "CREATE FUNCTION pg_last_copy_id() RETURNS bigint AS $$ SELECT nextval('copy_ids') $$ LANGUAGE sql"
        )
        conn.execute(
            "CREATE FUNCTION getdate() RETURNS timestamp AS $$ SELECT localtimestamp $$ LANGUAGE sql"
        )
        conn.execute(
            "CREATE TABLE load_errors (mine boolean, start_time timestamp, file_name char(256), "
            "line_number bigint, column_name char(127), error_message char(512))"
        )
        conn.execute(
            "CREATE VIEW sys_load_error_detail AS SELECT CASE WHEN mine THEN pg_backend_pid() ELSE -1 END "
            "AS session_id, 0 AS query_id, start_time, file_name, line_number, column_name, error_message "
            "FROM load_errors"
        )
        conn.execute(
            "INSERT INTO load_errors VALUES "
            "(true, localtimestamp + interval '1 minute', 's3://lake/cdc/orders/a.parquet', 7, 'total', "
            "'Overflow for NUMERIC(38,2)'), "
            "(false, localtimestamp + interval '1 minute', 's3://lake/cdc/orders/other.parquet', 1, 'pk', "
            "'another session'), "
            "(true, localtimestamp - interval '1 hour', 's3://lake/cdc/orders/old.parquet', 1, 'pk', 'stale')"
        )
    wh = warehouse.connect(url.replace("dialect=postgres", "dialect=redshift"))
    try:
        with pytest.raises(BadDataError) as caught:
            wh.execute(
                [
                    "CREATE TEMP TABLE stage (total DECIMAL(38,2))",
                    "COPY stage FROM 's3://lake/_manifests/orders/x.manifest' IAM_ROLE default "
                    "FORMAT AS PARQUET SERIALIZETOJSON MANIFEST",
                ]
            )
        assert [str(d) for d in caught.value.details] == [
            "s3://lake/cdc/orders/a.parquet, line 7, column total: Overflow for NUMERIC(38,2)"
        ]
        # The failed transaction left nothing behind.
        assert wh.query("SELECT COUNT(*) FROM pg_tables WHERE tablename = 'stage'").rows == [(0,)]
    finally:
        wh.close()
