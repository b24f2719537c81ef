"""Redshift behind the Data API, played by a DuckDB warehouse, for paths moto cannot run.

moto's ``redshift-data`` never runs a statement, and no Redshift is reachable here. This double answers a
real botocore client (every request is checked against the API model by botocore before it gets here,
every response is checked here against the model's output shape, as botocore's Stubber does): statements
run in the DuckDB engine, results come back in the Data API's encoding (DECIMAL, DATE and TIMESTAMP as
``stringValue``; https://docs.aws.amazon.com/redshift/latest/mgmt/data-api.html), and a failed statement
is described the way Redshift describes it: ``Status`` FAILED, the failed sub-statement, ``RedshiftPid``,
and Redshift's error text for the kind of failure (the texts are Redshift's, as documented in
https://docs.aws.amazon.com/redshift/latest/dg/r_Load_Error_Reference.html and observed from the
Data API; ``thermocline smoke`` checks them against a real workgroup).

A mock in the house's sense: it stands in for a service this machine cannot reach.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.validate import validate_parameters

from thermocline.warehouse import BadDataError, WarehouseError
from thermocline.warehouse.duckdb import DuckDBWarehouse

PID = 1073815123
# sys_load_error_detail as Redshift has it (columns the loader reads), empty: Parquet COPY errors are
# reported to the client, not always logged there.
LOAD_ERRORS_TABLE = (
    "CREATE TABLE IF NOT EXISTS sys_load_error_detail (session_id INTEGER, query_id BIGINT, "
    "start_time TIMESTAMP, file_name VARCHAR(256), line_number BIGINT, column_name VARCHAR(127), "
    "error_message VARCHAR(512))"
)


def encode(value: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(column metadata, field) for one value, as the Data API sends that type."""
    if value is None:
        return {}, {"isNull": True}
    if isinstance(value, bool):
        return {"typeName": "bool"}, {"booleanValue": value}
    if isinstance(value, int):
        return {"typeName": "int8"}, {"longValue": value}
    if isinstance(value, Decimal):
        return {"typeName": "numeric"}, {"stringValue": str(value)}
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            utc = value.astimezone(dt.UTC).replace(tzinfo=None)
            return {"typeName": "timestamptz"}, {"stringValue": f"{utc}+00"}
        return {"typeName": "timestamp"}, {"stringValue": str(value)}
    if isinstance(value, dt.date):
        return {"typeName": "date"}, {"stringValue": value.isoformat()}
    if isinstance(value, float):
        return {"typeName": "float8"}, {"doubleValue": value}
    return {"typeName": "varchar"}, {"stringValue": str(value)}


def result_page(columns: list[str], rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """A GetStatementResult response carrying ``rows``."""
    types: list[dict[str, Any]] = [{"typeName": "varchar"} for _ in columns]
    records = []
    for row in rows:
        record = []
        for i, value in enumerate(row):
            meta, field = encode(value)
            types[i] = meta or types[i]
            record.append(field)
        records.append(record)
    metadata = [{"name": n, "label": n, **t} for n, t in zip(columns, types, strict=True)]
    return {"ColumnMetadata": metadata, "Records": records, "TotalNumRows": len(records)}


def redshift_error_text(exc: WarehouseError, sql: str) -> str:
    """What Redshift would say for the failure DuckDB had."""
    if isinstance(exc, BadDataError):
        if exc.files:
            # A Parquet file COPY cannot read: reported to the client, naming the file by its address.
            url = sorted(exc.files)[0]
            bucket, _, key = url[len("s3://") :].partition("/")
            return (
                "ERROR: Spectrum Scan Error\n  DETAIL: \n  -----------------------------------------------\n"
                f"  error:  Spectrum Scan Error\n  code:      15007\n  context:   File "
                f"'https://{bucket}.s3.us-east-1.amazonaws.com/{key}' has an invalid version number.\n"
                "  query:     0\n  location:  dory_util.cpp:1615\n  process:   worker_thread [pid=1234]\n"
            )
        if "JSON_PARSE" in sql.upper():
            return (
                "ERROR: JSON parsing error\n  DETAIL: \n  -----------------------------------------------\n"
                "  error:  JSON parsing error\n  code:      8001\n  context:   invalid json object\n"
                "  query:     0\n  location:  funcs_json.hpp:200\n  process:   query0_127_0 [pid=1234]\n"
            )
        return "ERROR: Numeric data overflow (result precision)"
    return f"ERROR: {exc}"


class TrackingDuckDB(DuckDBWarehouse):
    """The DuckDB engine, remembering the statement it ran last (the one that failed, after a failure)."""

    current = ""

    def _run(self, sql: str, take_lock: Any) -> None:
        self.current = sql
        super()._run(sql, take_lock)


class DataApiOnDuckDB:
    """Answers a ``redshift-data`` client's calls from ``duck``; ``statements`` records every SQL text."""

    def __init__(self, client: Any, duck: TrackingDuckDB) -> None:
        self.duck = duck
        self.statements: list[str] = []
        self._described: dict[str, dict[str, Any]] = {}
        self._results: dict[str, dict[str, Any]] = {}
        duck.execute([LOAD_ERRORS_TABLE])
        client.meta.events.register("before-call.redshift-data.*", self._answer)

    def _answer(self, model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        body = params.get("body") or b"{}"
        request = json.loads(body.decode() if isinstance(body, bytes) else body)
        response = getattr(self, model.name)(request)
        validate_parameters(response, model.output_shape)
        return AWSResponse("https://redshift-data.us-east-1.amazonaws.com/", 200, {}, None), response

    def _started(self, sqls: list[str]) -> tuple[str, dt.datetime, dict[str, Any]]:
        statement_id, now = str(uuid.uuid4()), dt.datetime.now(dt.UTC)
        self.statements += sqls
        base = {"Id": statement_id, "CreatedAt": now, "UpdatedAt": now, "RedshiftPid": PID}
        return statement_id, now, base

    def ExecuteStatement(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 - API name
        sql = request["Sql"]
        statement_id, now, base = self._started([sql])
        params = {p["name"]: p["value"] for p in request.get("Parameters", [])}
        try:
            if sql.lstrip().upper().startswith(("SELECT", "WITH")):
                result = self.duck.query(sql, params)
                self._results[statement_id] = result_page(result.columns, result.rows)
                base["HasResultSet"] = True
            else:
                self.duck.execute([sql])
                base["HasResultSet"] = False
            self._described[statement_id] = {**base, "Status": "FINISHED", "QueryString": sql}
        except WarehouseError as exc:
            error = redshift_error_text(exc, sql)
            self._described[statement_id] = {**base, "Status": "FAILED", "QueryString": sql, "Error": error}
        return {"Id": statement_id, "CreatedAt": now}

    def BatchExecuteStatement(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 - API name
        sqls = request["Sqls"]
        statement_id, now, base = self._started(sqls)
        subs = [
            {"Id": f"{statement_id}:{i + 1}", "Status": "SUBMITTED", "QueryString": s, "CreatedAt": now}
            for i, s in enumerate(sqls)
        ]
        failed_at, error = None, ""
        self.duck.current = ""
        try:
            self.duck.execute(sqls)
        except WarehouseError as exc:
            # Refused before any ran (the rulebook): the statement the refusal quotes.
            current = self.duck.current or next((q for q in sqls if q[:80] in str(exc)), sqls[0])
            failed_at = sqls.index(current)
            error = redshift_error_text(exc, current)
        for i, sub in enumerate(subs):
            if failed_at is None or i < failed_at:
                sub["Status"] = "FINISHED"
            elif i == failed_at:
                sub.update(Status="FAILED", Error=error)
            else:
                sub["Status"] = "ABORTED"
        status = "FINISHED" if failed_at is None else "FAILED"
        described = {**base, "Status": status, "SubStatements": subs, "HasResultSet": False}
        if failed_at is not None:
            described["Error"] = error
        self._described[statement_id] = described
        return {"Id": statement_id, "CreatedAt": now}

    def DescribeStatement(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 - API name
        return self._described[request["Id"]]

    def GetStatementResult(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 - API name
        return self._results[request["Id"]]

    def CancelStatement(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 - API name
        return {"Status": False}
