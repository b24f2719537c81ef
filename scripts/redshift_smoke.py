# ruff: noqa: S608 -- the only values in its SQL are integers, a timestamp and a marker this script makes
"""Questions only a real Redshift can answer, asked through the Data API; run once on a new deployment.

    python scripts/redshift_smoke.py --workgroup NAME [--database dev] [--secret-arn ARN]
                                     [--bucket BUCKET --iam-role ARN]

The loader and the local engines rest on what AWS documents about Redshift; where the documents are silent,
the code makes an assumption, and this script checks each one against a real workgroup and prints what it
finds (JSON, one answer per question). Nothing is created except one temporary table per session and,
with ``--bucket``, one object under ``_smoke/`` in that bucket (deleted again).

1. JSON_PARSE of a 38-digit integer and of 1E+125: are SUPER numbers kept exact, and what type are they?
   (The lake writes SUPER numbers as JSON text; ``lake.types`` assumes DECIMAL(38) survives.)
2. A bad Parquet file in a COPY: the Data API's error text, and whether ``sys_load_error_detail`` has a row
   for it by session id and time (``warehouse/redshift_errors.py`` reads both; the text's kind is printed).
3. The Data API's ``RedshiftQueryId`` against ``sys_query_history.query_id`` for the same statement, and
   whether ``RedshiftPid`` is ``sys_query_history.session_id`` (the load-error lookup assumes the latter).
4. The error texts the loader classifies: invalid JSON at JSON_PARSE, a numeric overflow, a value too long
   for its VARCHAR, and ALTER COLUMN ... TYPE inside a transaction block.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from typing import Any

from thermocline.aws import client as make_client
from thermocline.warehouse.redshift_errors import kind_of


class DataApi:
    """The few Data API calls the questions need, answering raw shapes (nothing converted)."""

    def __init__(self, client: Any, target: dict[str, str]) -> None:
        self.client, self.target = client, target

    def run(self, sqls: list[str]) -> dict[str, Any]:
        """Run ``sqls`` (one statement, or a batch in one transaction); the final DescribeStatement."""
        if len(sqls) == 1:
            statement = self.client.execute_statement(Sql=sqls[0], **self.target)
        else:
            statement = self.client.batch_execute_statement(Sqls=sqls, **self.target)
        deadline = time.monotonic() + 300
        while True:
            described: dict[str, Any] = self.client.describe_statement(Id=statement["Id"])
            if described["Status"] in {"FINISHED", "FAILED", "ABORTED"} or time.monotonic() > deadline:
                return described
            time.sleep(1)

    def rows(self, described: dict[str, Any]) -> list[list[Any]]:
        if described.get("Status") != "FINISHED" or not described.get("HasResultSet"):
            return []
        page = self.client.get_statement_result(Id=described["Id"])
        return [[next(iter(f.values())) for f in record] for record in page.get("Records", [])]


def _error(described: dict[str, Any]) -> dict[str, Any]:
    text = str(described.get("Error") or "")
    return {
        "status": described.get("Status"),
        "error": text,
        "classified_as": kind_of(text) if text else None,
    }


def json_parse_numbers(api: DataApi) -> dict[str, Any]:
    out = {}
    for label, text in (("38 digits", "12345678901234567890123456789012345678"), ("1E+125", "1E+125")):
        described = api.run(
            [
                f"SELECT JSON_SERIALIZE(JSON_PARSE('{text}')) AS back, JSON_TYPEOF(JSON_PARSE('{text}')) AS type"
            ]
        )
        rows = api.rows(described)
        out[label] = {"sent": text, "answer": rows[0] if rows else None, **_error(described)}
    return out


def bad_parquet(api: DataApi, s3: Any, bucket: str, iam_role: str) -> dict[str, Any]:
    key = f"_smoke/bad-{int(time.time())}.parquet"
    s3.put_object(Bucket=bucket, Key=key, Body=b"PAR1" + b"\xff" * 64 + b"PAR1")
    try:
        described = api.run(
            [
                "CREATE TEMP TABLE smoke_stage (id VARCHAR(16))",
                f"COPY smoke_stage FROM 's3://{bucket}/{key}' IAM_ROLE '{iam_role}' FORMAT AS PARQUET",
            ]
        )
    finally:
        s3.delete_object(Bucket=bucket, Key=key)
    answer = {"describe": _error(described), "sub_statements": described.get("SubStatements")}
    pid, created = described.get("RedshiftPid"), described.get("CreatedAt")
    if pid and isinstance(created, dt.datetime):
        since = created.astimezone(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1)
        logged = api.run(
            [
                "SELECT query_id, TRIM(file_name), TRIM(error_message) FROM sys_load_error_detail "
                f"WHERE session_id = {int(pid)} AND start_time >= '{since:%Y-%m-%d %H:%M:%S}'"
            ]
        )
        answer["sys_load_error_detail_rows"] = api.rows(logged)
    return answer


def query_ids(api: DataApi) -> dict[str, Any]:
    marker = f"thermocline smoke {time.time_ns()}"
    described = api.run([f"SELECT '{marker}' AS marker"])
    time.sleep(5)  # SYS views fill in asynchronously
    history = api.run(
        [
            "SELECT query_id, session_id, transaction_id FROM sys_query_history "
            f"WHERE query_text LIKE '%{marker}%' AND query_text NOT LIKE '%sys_query_history%'"
        ]
    )
    rows = api.rows(history)
    return {
        "data_api": {
            "RedshiftQueryId": described.get("RedshiftQueryId"),
            "RedshiftPid": described.get("RedshiftPid"),
        },
        "sys_query_history": rows,
        "query_id_matches": bool(rows) and int(rows[0][0]) == int(described.get("RedshiftQueryId") or -1),
        "pid_is_session_id": bool(rows) and int(rows[0][1]) == int(described.get("RedshiftPid") or -1),
    }


def error_texts(api: DataApi) -> dict[str, Any]:
    cases = {
        "invalid JSON": ["SELECT JSON_PARSE('{not json')"],
        "numeric overflow": ["SELECT CAST(12345.678 AS DECIMAL(4,2))"],
        "value too long": [
            "CREATE TEMP TABLE smoke_short (v VARCHAR(2))",
            "INSERT INTO smoke_short VALUES ('abc')",
        ],
        "ALTER COLUMN TYPE in a transaction block": [
            "CREATE TEMP TABLE smoke_alter (v VARCHAR(2))",
            "ALTER TABLE smoke_alter ALTER COLUMN v TYPE VARCHAR(4)",
        ],
    }
    return {name: _error(api.run(sqls)) for name, sqls in cases.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workgroup", required=True, help="Redshift Serverless workgroup name")
    parser.add_argument("--database", default="dev")
    parser.add_argument("--secret-arn", help="Secrets Manager secret of a database user (else IAM)")
    parser.add_argument("--bucket", help="a bucket the IAM role can read, for the bad Parquet question")
    parser.add_argument("--iam-role", help="the role COPY uses (the stack's copy role)")
    args = parser.parse_args(argv)
    target = {"WorkgroupName": args.workgroup, "Database": args.database}
    if args.secret_arn:
        target["SecretArn"] = args.secret_arn
    api = DataApi(make_client("redshift-data"), target)
    answers: dict[str, Any] = {
        "json_parse_numbers": json_parse_numbers(api),
        "query_ids": query_ids(api),
        "error_texts": error_texts(api),
    }
    if args.bucket and args.iam_role:
        answers["bad_parquet"] = bad_parquet(api, make_client("s3"), args.bucket, args.iam_role)
    else:
        answers["bad_parquet"] = "skipped: give --bucket and --iam-role"
    json.dump(answers, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
