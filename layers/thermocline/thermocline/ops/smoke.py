# ruff: noqa: S608 -- the only values in its SQL are fixed numbers, a marker it makes and a quoted literal
"""``thermocline smoke``: questions only a real Redshift can answer, asked through the Data API.

The loader and the local engines rest on what AWS documents about Redshift; where the documents are silent,
the code makes an assumption, and this checks each one against a real workgroup and returns what it finds
(one answer per question; a question that fails is answered with its error, and the others still run).
Nothing is created except temporary tables and, with a bucket, two objects (deleted again) where the
loader keeps what it COPYs outside the notified prefix: ``_conformed/_smoke/`` and ``_manifests/_smoke/``,
which the stack's COPY role may read (:func:`smoke_keys`).

1. JSON_PARSE of a 38-digit integer and of 1E+125: are SUPER numbers kept exact, and what type are they?
   (The lake writes SUPER numbers as JSON text; ``lake.types`` assumes DECIMAL(38) survives.)
2. A bad Parquet file in the loader's own COPY (``load.sql.copy_sql``, from a manifest): the Data API's
   error text, how ``warehouse/redshift_errors.py`` classifies it and which files it reads from the text,
   and whether ``sys_load_error_detail`` has rows for it by session and time (the loader's own lookup).
3. The Data API's ``RedshiftQueryId`` against ``sys_query_history.query_id`` for the same statement, and
   whether ``RedshiftPid`` is ``sys_query_history.session_id`` (the load-error lookup assumes the latter).
4. The error texts the loader classifies: invalid JSON at JSON_PARSE, a numeric overflow, a value too long
   for its VARCHAR, and ALTER COLUMN ... TYPE inside a transaction block.
5. Key columns and views (``warehouse/ddl_rules.py``, the local engines' rulebook): is ALTER COLUMN ...
   TYPE refused for a DISTKEY and for a SORTKEY column (the ALTER TABLE page names only PRIMARY KEY), and
   what does DROP TABLE say while an ordinary view reads the table? Uses a table and a view named
   ``thermocline_smoke_*``, dropped again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from thermocline.lake import keys as lake_keys
from thermocline.lake.manifest import ManifestEntry, build_manifest, s3_url
from thermocline.load.policy import LoadPolicy
from thermocline.load.sql import copy_sql
from thermocline.runtime import Runtime
from thermocline.warehouse.redshift_errors import (
    details_from_text,
    kind_of,
    load_errors_by_session_sql,
    session_params,
)

__all__ = ["DataApi", "not_asked", "run_smoke", "smoke_keys"]

_ENDED = {"FINISHED", "FAILED", "ABORTED"}
# A broken Parquet file: the magic bytes at both ends, nothing readable between them.
BAD_PARQUET = b"PAR1" + b"\xff" * 64 + b"PAR1"


class DataApi:
    """The few Data API calls the questions need, answering raw shapes (nothing converted)."""

    def __init__(self, client: Any, target: dict[str, str], runtime: Runtime, timeout: float = 300) -> None:
        self.client, self.target, self.runtime, self.timeout = client, target, runtime, timeout

    def run(self, sqls: list[str], params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run ``sqls`` (one statement, or a batch in one transaction); the final DescribeStatement."""
        if len(sqls) == 1:
            bound = (
                {"Parameters": [{"name": k, "value": str(v)} for k, v in params.items()]} if params else {}
            )
            statement = self.client.execute_statement(Sql=sqls[0], **bound, **self.target)
        else:
            statement = self.client.batch_execute_statement(Sqls=sqls, **self.target)
        deadline = self.runtime.monotonic() + self.timeout
        while True:
            described: dict[str, Any] = self.client.describe_statement(Id=statement["Id"])
            if described["Status"] in _ENDED or self.runtime.monotonic() > deadline:
                return described
            self.runtime.sleep(1)

    def rows(self, described: dict[str, Any]) -> list[list[Any]]:
        if described.get("Status") != "FINISHED" or not described.get("HasResultSet"):
            return []
        page = self.client.get_statement_result(Id=described["Id"])
        return [[next(iter(f.values())) for f in record] for record in page.get("Records", [])]


def _outcome(described: dict[str, Any]) -> dict[str, Any]:
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
        out[label] = {"sent": text, "answer": rows[0] if rows else None, **_outcome(described)}
    return out


def smoke_keys(stamp: str) -> tuple[str, str]:
    """(file, manifest) of the bad Parquet question: a conformed copy's key and a manifest's key, so that
    the stack's COPY role, which reads only what loads COPY, reads them, and no load notification fires
    (template.yaml, RedshiftCopyRole and the lake's notification filter)."""
    file_key = lake_keys.conformed_key(f"_smoke/bad-{stamp}.parquet")
    manifest_prefix = LoadPolicy(lake_bucket="").manifest_prefix
    return file_key, lake_keys.manifest_key(manifest_prefix, "_smoke", f"bad-{stamp}")


def bad_parquet(api: DataApi, s3: Any, bucket: str, iam_role: str) -> dict[str, Any]:
    """The loader's COPY of one broken file, from a manifest as the loader writes it."""
    key, manifest = smoke_keys(f"{api.runtime.clock():%Y%m%dT%H%M%S%fZ}")
    s3.put_object(Bucket=bucket, Key=key, Body=BAD_PARQUET)
    s3.put_object(
        Bucket=bucket,
        Key=manifest,
        Body=build_manifest([ManifestEntry(s3_url(bucket, key), len(BAD_PARQUET))]).encode(),
    )
    try:
        described = api.run(
            [
                "CREATE TEMP TABLE smoke_stage (id VARCHAR(16))",
                copy_sql("smoke_stage", s3_url(bucket, manifest), iam_role),
            ]
        )
    finally:
        s3.delete_object(Bucket=bucket, Key=key)
        s3.delete_object(Bucket=bucket, Key=manifest)
    outcome = _outcome(described)
    answer: dict[str, Any] = {
        "file": s3_url(bucket, key),
        "describe": outcome,
        "sub_statements": described.get("SubStatements"),
        "files_named_in_error": [d.file for d in details_from_text(outcome["error"]) if d.file],
    }
    pid, created = described.get("RedshiftPid"), described.get("CreatedAt")
    if pid and created is not None:
        logged = api.run([load_errors_by_session_sql()], session_params(pid, created))
        answer["sys_load_error_detail_rows"] = api.rows(logged)
        if logged.get("Error"):
            answer["sys_load_error_detail_error"] = logged["Error"]
    return answer


def query_ids(api: DataApi, settle_seconds: float) -> dict[str, Any]:
    """Find one statement in ``sys_query_history``, waiting up to ``settle_seconds`` for the view to show it
    (the SYS views fill in asynchronously)."""
    marker = f"thermocline smoke {api.runtime.clock():%Y%m%dT%H%M%S%f}"
    described = api.run([f"SELECT '{marker}' AS marker"])
    deadline = api.runtime.monotonic() + settle_seconds
    while True:
        history = api.run(
            [
                "SELECT query_id, session_id, transaction_id FROM sys_query_history "
                f"WHERE query_text LIKE '%{marker}%' AND query_text NOT LIKE '%sys_query_history%'"
            ]
        )
        rows = api.rows(history)
        if rows or history.get("Status") != "FINISHED" or api.runtime.monotonic() >= deadline:
            break
        api.runtime.sleep(1)
    answer = {
        "data_api": {
            "RedshiftQueryId": described.get("RedshiftQueryId"),
            "RedshiftPid": described.get("RedshiftPid"),
        },
        "sys_query_history": rows,
        "query_id_matches": bool(rows) and int(rows[0][0]) == int(described.get("RedshiftQueryId") or -1),
        "pid_is_session_id": bool(rows) and int(rows[0][1]) == int(described.get("RedshiftPid") or -1),
    }
    if history.get("Error"):
        answer["sys_query_history_error"] = history["Error"]
    return answer


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
    return {name: _outcome(api.run(sqls)) for name, sqls in cases.items()}


def key_columns(api: DataApi) -> dict[str, Any]:
    stamp = f"{api.runtime.clock():%Y%m%d%H%M%S%f}"
    table, view = f"thermocline_smoke_keys_{stamp}", f"thermocline_smoke_view_{stamp}"
    api.run([f"CREATE TABLE {table} (d VARCHAR(2), s VARCHAR(2), v VARCHAR(2)) DISTKEY(d) SORTKEY(s)"])
    try:
        answer = {
            # Each ALTER alone: Redshift refuses it in a transaction block whatever the column.
            "ALTER COLUMN TYPE of the DISTKEY": _outcome(
                api.run([f"ALTER TABLE {table} ALTER COLUMN d TYPE VARCHAR(4)"])
            ),
            "ALTER COLUMN TYPE of a SORTKEY": _outcome(
                api.run([f"ALTER TABLE {table} ALTER COLUMN s TYPE VARCHAR(4)"])
            ),
            "ALTER COLUMN TYPE of another column": _outcome(
                api.run([f"ALTER TABLE {table} ALTER COLUMN v TYPE VARCHAR(4)"])
            ),
        }
        api.run([f"CREATE VIEW {view} AS SELECT v FROM {table}"])
        answer["DROP TABLE read by an ordinary view"] = _outcome(api.run([f"DROP TABLE {table}"]))
    finally:
        api.run([f"DROP VIEW IF EXISTS {view}"])
        api.run([f"DROP TABLE IF EXISTS {table}"])
    return answer


def run_smoke(
    api: DataApi,
    *,
    s3: Any = None,
    bucket: str | None = None,
    iam_role: str | None = None,
    settle_seconds: float = 5,
) -> dict[str, Any]:
    """Every question's answer; the bad Parquet question needs a bucket the COPY role can read. A question
    the Data API (or S3) refuses to ask is answered ``{"not_asked": "<the error>"}``."""
    questions: dict[str, Callable[[], Any]] = {
        "json_parse_numbers": lambda: json_parse_numbers(api),
        "query_ids": lambda: query_ids(api, settle_seconds),
        "error_texts": lambda: error_texts(api),
        "key_columns": lambda: key_columns(api),
    }
    if s3 is not None and bucket and iam_role:
        questions["bad_parquet"] = lambda: bad_parquet(api, s3, bucket, iam_role)
    answers: dict[str, Any] = {}
    for name, ask in questions.items():
        try:
            answers[name] = ask()
        except (BotoCoreError, ClientError) as exc:
            answers[name] = {"not_asked": f"{type(exc).__name__}: {exc}"}
    answers.setdefault("bad_parquet", "skipped: give --bucket and --iam-role")
    return answers


def not_asked(answers: dict[str, Any]) -> list[str]:
    """The questions the Data API or S3 refused to ask."""
    return [name for name, answer in answers.items() if isinstance(answer, dict) and "not_asked" in answer]
