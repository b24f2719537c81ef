"""The deploy's warehouse bootstrap, proven on a real PostgreSQL server with two non-superusers.

``WarehouseBootstrap`` (a CloudFormation custom resource) runs the bootstrap SQL as the admin; here the same
request goes through the same handler, answering on a real HTTP ``ResponseURL``. Then the loader and the
report run as two distinct users that are not superusers, named like the Data API's IAM users
(``IAMR:<role>``). What Redshift does at an IAM sign-in — the user may sign in, and gets the database role its
IAM role's ``RedshiftDbRoles`` tag names — is the one step played by the test (``_sign_in``): PostgreSQL has
no IAM.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg
import pytest

from tests.integration.load_fixtures import put_lake_file
from thermocline import aws, warehouse
from thermocline.bootstrap.sql import LOADER_ROLE, READER_ROLE
from thermocline.load import load_files
from thermocline.services.analytics_report import run_report
from thermocline.services.warehouse_setup import handle_custom_resource
from thermocline.settings import AnalyticsReportSettings, WarehouseLoadSettings
from thermocline.warehouse import WarehouseError

pytestmark = [pytest.mark.moto, pytest.mark.postgres]

LAKE, REPORTS = "lake", "reports"
ORDER_COLUMNS = {
    "pk": "VARCHAR(256)",
    "sk": "VARCHAR(256)",
    "region": "VARCHAR(64)",
    "status": "VARCHAR(64)",
    "total": "DECIMAL(38,2)",
    "created_at": "TIMESTAMP",
}


class _Responses(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def response_url() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP endpoint standing where CloudFormation's pre-signed S3 URL would be."""
    received: list[dict[str, Any]] = []
    handler = type("Responses", (_Responses,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/response?signature=x", received
    server.shutdown()
    server.server_close()


@pytest.fixture
def roles() -> dict[str, str]:
    """IAM role names of this test's own: users belong to the whole PostgreSQL server (in Redshift, to the
    namespace), which the suite's tests share, while the two database roles are the deploy's."""
    run = uuid.uuid4().hex[:8].upper()
    return {
        "loader": f"thermocline-dev-WarehouseLoadFunctionRole-{run}",
        "reader": f"thermocline-dev-AnalyticsReportFunctionRole-{run}",
    }


@pytest.fixture
def s3(aws_env: str):
    client = aws.client("s3")
    client.create_bucket(Bucket=LAKE)
    client.create_bucket(Bucket=REPORTS)
    return client


def _request(request_type: str, admin_dsn: str, url: str, roles: dict[str, str]) -> dict[str, Any]:
    database = urlsplit(admin_dsn).path.lstrip("/")
    return {
        "RequestType": request_type,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/thermocline-dev/1234abcd-0000",
        "RequestId": f"{request_type}-1",
        "LogicalResourceId": "WarehouseBootstrap",
        "ResourceType": "Custom::WarehouseBootstrap",
        "PhysicalResourceId": None if request_type == "Create" else f"warehouse-bootstrap-{database}",
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:setup",
            "WarehouseUrl": admin_dsn,
            "Database": database,
            "LoaderRoleNames": [roles["loader"]],
            "ReaderRoleNames": [roles["reader"]],
            "CopyRoleArn": "arn:aws:iam::123456789012:role/thermocline-dev-RedshiftCopyRole-X",
            "RestrictCopyRole": "true",
        },
    }


def _bootstrap(admin_dsn: str, response_url: Any, roles: dict[str, str], request_type: str) -> dict[str, Any]:
    url, received = response_url
    request = _request(request_type, admin_dsn, url, roles)
    answer = handle_custom_resource(request, connect=warehouse.connect, serverless_client=None)
    assert received[-1] == answer, "the answer reached CloudFormation's URL"
    return answer


def _sign_in(admin_dsn: str, iam_role: str, database_role: str) -> str:
    """What an IAM sign-in does in Redshift: the user ``IAMR:<role>`` gets in, with its tagged role."""
    user = f"IAMR:{iam_role}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f"ALTER USER \"{user}\" PASSWORD 'signed-in'")
        conn.execute(f'GRANT "{database_role}" TO "{user}"')
    parts = urlsplit(admin_dsn)
    return f"postgresql://{quote(user, safe='')}:signed-in@{parts.hostname}:{parts.port}{parts.path}"


def _order(n: int, region: str, total: str, created: dt.datetime) -> dict[str, Any]:
    return {
        "pk": f"ORDER#{n}",
        "sk": "ORDER",
        "region": region,
        "status": "PAID",
        "total": Decimal(total),
        "created_at": created,
        "_op": "I",
        "_seq": str(n).zfill(40),
        "_event_time": created,
        "_ttl_expired": False,
        "_source": "dynamodb:thermocline-dev-store",
    }


def _load(url: str, s3: Any, key: str) -> None:
    settings = WarehouseLoadSettings(lake_bucket=LAKE, warehouse_url=url)
    with closing(warehouse.connect(url, s3_client=s3)) as wh:
        assert load_files([key], settings=settings, warehouse=wh, s3_client=s3).loaded == [key]


def _published_csv(s3: Any, files: list[str]) -> list[str]:
    key = next(f for f in files if f.endswith(".csv")).split(f"s3://{REPORTS}/", 1)[1]
    return s3.get_object(Bucket=REPORTS, Key=key)["Body"].read().decode().splitlines()


def test_loader_and_report_run_as_two_non_superusers_with_the_deploys_roles(
    postgres_dsn: str, response_url: Any, roles: dict[str, str], s3: Any
) -> None:
    answer = _bootstrap(postgres_dsn, response_url, roles, "Create")
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    loader_url = _sign_in(postgres_dsn, roles["loader"], LOADER_ROLE)
    reader_url = _sign_in(postgres_dsn, roles["reader"], READER_ROLE)

    # The loader creates the target table and its bookkeeping, and owns them.
    # Last month: the report leaves the open month out.
    this_month = dt.datetime.now(dt.UTC).replace(day=1, hour=12, minute=0, second=0, microsecond=0)
    last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
    orders = [_order(1, "eu", "10.50", last_month), _order(2, "eu", "4.50", last_month)]
    _load(loader_url, s3, put_lake_file(s3, LAKE, "orders", ORDER_COLUMNS, orders))
    with psycopg.connect(postgres_dsn) as conn:
        owners = conn.execute(
            "SELECT tablename, tableowner FROM pg_tables WHERE tablename IN ('orders', 'load_ledger')"
        ).fetchall()
    assert sorted(owners) == [
        ("load_ledger", f"IAMR:{roles['loader']}"),
        ("orders", f"IAMR:{roles['loader']}"),
    ]

    # The report runs as the reader and publishes what the loader loaded.
    report_settings = AnalyticsReportSettings(warehouse_url=reader_url, reports_bucket=REPORTS)
    with closing(warehouse.connect(reader_url, s3_client=s3)) as wh:
        event = {"report": "monthly_sales_growth_by_region"}
        published = run_report(event, settings=report_settings, warehouse=wh, s3_client=s3)
        lines = _published_csv(s3, published.files)
        assert published.rows == 1, lines
        assert lines[1].startswith("eu,") and ",15.00," in lines[1], lines
        # Reading is all it may do.
        with pytest.raises(WarehouseError, match="permission denied"):
            wh.execute(["DELETE FROM orders"])
        with pytest.raises(WarehouseError, match="permission denied"):
            wh.execute(["CREATE SCHEMA elsewhere"])

    # A table the loader creates after the reader signed in is readable too (default privileges).
    _load(
        loader_url,
        s3,
        put_lake_file(s3, LAKE, "customers", ORDER_COLUMNS, [_order(3, "us", "1.00", this_month)]),
    )
    with closing(warehouse.connect(reader_url)) as wh:
        assert wh.query("SELECT pk FROM customers").rows == [("ORDER#3",)]
        assert wh.query("SELECT COUNT(*) FROM thermocline.load_ledger").rows == [(2,)]

    # Neither is a superuser, nor may create databases or roles.
    for url in (loader_url, reader_url):
        with psycopg.connect(url) as conn:
            flags = conn.execute(
                "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
        assert flags == (False, False, False)


def test_bootstrap_runs_again_on_every_deploy_and_creates_nothing_twice(
    postgres_dsn: str, response_url: Any, roles: dict[str, str], s3: Any
) -> None:
    first = _bootstrap(postgres_dsn, response_url, roles, "Create")
    loader_url = _sign_in(postgres_dsn, roles["loader"], LOADER_ROLE)
    now = dt.datetime.now(dt.UTC)
    _load(loader_url, s3, put_lake_file(s3, LAKE, "orders", ORDER_COLUMNS, [_order(1, "eu", "2.00", now)]))

    again = _bootstrap(postgres_dsn, response_url, roles, "Update")
    assert (first["Status"], again["Status"]) == ("SUCCESS", "SUCCESS")
    assert again["PhysicalResourceId"] == first["PhysicalResourceId"]
    created = first["Data"]["Created"].split(",")
    assert {f"IAMR:{roles['loader']}", f"IAMR:{roles['reader']}"} <= set(created)
    # Nothing to create the second time: the grants again, now with SELECT on each table the loader made.
    assert again["Data"]["Created"] == ""
    with psycopg.connect(postgres_dsn) as conn:
        (owned,) = conn.execute(
            "SELECT COUNT(*) FROM pg_tables WHERE tableowner = %s", [f"IAMR:{roles['loader']}"]
        ).fetchone()
        (bookkeeping,) = conn.execute(
            "SELECT COUNT(*) FROM pg_tables WHERE tableowner = %s AND schemaname = 'thermocline'",
            [f"IAMR:{roles['loader']}"],
        ).fetchone()
    assert owned > bookkeeping >= 1  # orders, and the ledger at least
    # SELECT for the reader on each, and the other loaders' write access to the bookkeeping tables.
    assert again["Data"]["Statements"] == first["Data"]["Statements"] - len(created) + owned + bookkeeping
    reader_url = _sign_in(postgres_dsn, roles["reader"], READER_ROLE)
    with closing(warehouse.connect(reader_url)) as wh:
        assert wh.query("SELECT pk FROM orders").rows == [("ORDER#1",)]

    deleted = _bootstrap(postgres_dsn, response_url, roles, "Delete")
    assert deleted["Status"] == "SUCCESS"
    with psycopg.connect(postgres_dsn) as conn:
        kept = conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'thermocline_%'").fetchall()
    assert {r for (r,) in kept} >= {LOADER_ROLE, READER_ROLE}, "the retained warehouse keeps its roles"


def test_a_failed_bootstrap_reaches_cloudformation_with_its_reason(
    postgres_dsn: str, response_url: Any, roles: dict[str, str]
) -> None:
    url, received = response_url
    request = _request("Create", postgres_dsn.replace("/t_", "/missing_t_"), url, roles)
    answer = handle_custom_resource(request, connect=warehouse.connect, serverless_client=None)
    assert answer["Status"] == "FAILED"
    assert "missing_t_" in answer["Reason"]
    assert answer["PhysicalResourceId"] == "WarehouseBootstrap-not-created"
    assert received == [answer]
