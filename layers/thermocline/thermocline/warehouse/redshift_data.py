"""Amazon Redshift through the Data API: no VPC, no driver, IAM auth — the default inside Lambda.

``BatchExecuteStatement`` runs its statements as one transaction and rolls all of them back when one
fails, which is exactly the load's contract. Calls are asynchronous: the engine polls
``DescribeStatement`` until the statement ends or a deadline passes (then cancels it).

Limits respected here (https://docs.aws.amazon.com/redshift/latest/mgmt/data-api.html, "Considerations";
the ``SqlList`` shape of the API model): at most 40 statements per batch, 100 KB per statement.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from thermocline.observability import logger
from thermocline.warehouse.errors import (
    BadDataError,
    LoadErrorDetail,
    TerminalLoadError,
    TransientLoadError,
    WarehouseError,
    load_error_details,
)
from thermocline.warehouse.port import DATA_API_LIMITS, QueryResult, WarehouseBase, log_statement
from thermocline.warehouse.redshift_data_values import result_converter
from thermocline.warehouse.redshift_errors import (
    details_from_text,
    kind_of,
    load_errors_by_session_sql,
    session_params,
)
from thermocline.warehouse.rules import check_batch

# The Data API's limits are the port's portable capabilities (``port.DATA_API_LIMITS``), checked by
# ``rules.check_batch``.
MAX_BATCH_STATEMENTS = DATA_API_LIMITS.max_statements

_TRANSIENT_CODES = {
    "ThrottlingException",
    "ActiveStatementsExceededException",
    "ActiveSessionsExceededException",
    "InternalServerException",
    "DatabaseConnectionException",
    "QueryTimeoutException",
    "ServiceUnavailableException",
}


class RedshiftDataWarehouse(WarehouseBase):
    dialect = "redshift"

    def __init__(
        self,
        *,
        database: str,
        workgroup: str | None = None,
        cluster: str | None = None,
        db_user: str | None = None,
        secret_arn: str | None = None,
        client: Any = None,
        deadline_seconds: float = 600.0,
        poll_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if bool(workgroup) == bool(cluster):
            raise ValueError("give exactly one of workgroup (Serverless) or cluster (provisioned)")
        if client is None:
            from thermocline.aws import client as make_client

            client = make_client("redshift-data")
        self._client = client
        self._target: dict[str, str] = {"Database": database}
        if workgroup:
            self._target["WorkgroupName"] = workgroup
        if cluster:
            self._target["ClusterIdentifier"] = cluster
        if db_user:
            self._target["DbUser"] = db_user
        if secret_arn:
            self._target["SecretArn"] = secret_arn
        self._deadline = deadline_seconds
        self._poll = poll_seconds
        self._sleep = sleep

    @classmethod
    def from_url(cls, url: str, *, client: Any = None, **kwargs: Any) -> RedshiftDataWarehouse:
        """``redshift-data://<workgroup>/<database>``; ``?cluster=1`` makes the host a cluster identifier.

        Other query parameters: ``db_user``, ``secret_arn``, ``deadline`` (seconds).
        """
        parts = urlsplit(url)
        database = unquote(parts.path.lstrip("/"))
        if not parts.netloc or not database:
            raise ValueError(f"expected redshift-data://<workgroup>/<database>, got {url!r}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        host = unquote(parts.netloc)
        is_cluster = query.pop("cluster", "").lower() in {"1", "true", "yes"}
        if "deadline" in query:
            kwargs.setdefault("deadline_seconds", float(query.pop("deadline")))
        return cls(
            database=database,
            workgroup=None if is_cluster else host,
            cluster=host if is_cluster else None,
            db_user=query.get("db_user"),
            secret_arn=query.get("secret_arn"),
            client=client,
            **kwargs,
        )

    # --- port --------------------------------------------------------------------------------------

    def execute(self, statements: Sequence[str]) -> None:
        statements = list(statements)
        if not statements:
            return
        check_batch(statements, self.capabilities)
        for sql in statements:
            log_statement(self.dialect, sql)
        if len(statements) == 1:
            statement_id = self._call("execute_statement", Sql=statements[0], **self._target)["Id"]
        else:
            statement_id = self._call("batch_execute_statement", Sqls=statements, **self._target)["Id"]
        self._wait(statement_id)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        check_batch([sql], self.capabilities)
        log_statement(self.dialect, sql)
        bound = {"Parameters": _sql_parameters(params)} if params else {}
        statement_id = self._call("execute_statement", Sql=sql, **bound, **self._target)["Id"]
        description = self._wait(statement_id)
        if not description.get("HasResultSet", True):
            return QueryResult(columns=[], rows=[])
        columns: list[str] = []
        converters: list[Callable[[Any], Any]] = []
        rows: list[tuple[Any, ...]] = []
        token = None
        while True:
            page = self._call(
                "get_statement_result", Id=statement_id, **({"NextToken": token} if token else {})
            )
            if not columns:
                metadata = page.get("ColumnMetadata", [])
                columns = [c.get("name") or c.get("label") or "" for c in metadata]
                converters = [result_converter(c) for c in metadata]
            rows += [_typed_row(record, columns, converters) for record in page.get("Records", [])]
            token = page.get("NextToken")
            if not token:
                return QueryResult(columns=columns, rows=rows)

    def close(self) -> None:
        """Nothing to close: the Data API holds no connection."""

    # --- internals ---------------------------------------------------------------------------------

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._client, operation)(**kwargs)  # type: ignore[no-any-return]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            transient = code in _TRANSIENT_CODES or status >= 500
            kind = TransientLoadError if transient else TerminalLoadError
            raise kind(f"redshift-data {operation}: {code}: {exc}") from exc
        except BotoCoreError as exc:
            raise TransientLoadError(f"redshift-data {operation}: {exc}") from exc

    def _wait(self, statement_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self._deadline
        delay = self._poll
        while True:
            description = self._call("describe_statement", Id=statement_id)
            status = description.get("Status")
            if status == "FINISHED":
                return description
            if status in {"FAILED", "ABORTED"}:
                raise self._failure(description)
            if time.monotonic() >= deadline:
                try:
                    self._call("cancel_statement", Id=statement_id)
                except WarehouseError as exc:
                    logger.warning("could not cancel statement", statement_id=statement_id, error=str(exc))
                raise TransientLoadError(
                    f"statement {statement_id} still {status} after {self._deadline:.0f}s; cancelled"
                )
            # Back off to at most 5 s between polls: a long COPY should not spend the account's
            # DescribeStatement rate.
            self._sleep(min(delay, max(deadline - time.monotonic(), 0)))
            delay = min(delay * 1.5, 5.0)

    def _failure(self, description: dict[str, Any]) -> WarehouseError:
        error = str(description.get("Error") or description.get("Status"))
        if description.get("Status") == "ABORTED":
            return TransientLoadError(f"statement aborted: {error}")
        failed = next(
            (s for s in description.get("SubStatements") or [] if s.get("Status") in {"FAILED", "ABORTED"}),
            description,
        )
        query_string = str(failed.get("QueryString") or description.get("QueryString") or "")
        kind = kind_of(error)
        if kind != "transient" and query_string.lstrip().upper().startswith("COPY"):
            details = self._load_errors(description, failed)
            if details or kind == "data":
                return BadDataError(f"COPY failed: {error}", details=details or details_from_text(error))
        if kind == "data":
            # JSON_PARSE, an overflow or a too-long string in the statements after COPY: the text names
            # no file, so the loader finds it by loading the chunk's files one at a time.
            return BadDataError(error, details=details_from_text(error))
        if kind == "transient":
            return TransientLoadError(error)
        return TerminalLoadError(f"{error} (in: {query_string[:200]})")

    def _load_errors(self, description: dict[str, Any], failed: dict[str, Any]) -> list[LoadErrorDetail]:
        """What ``sys_load_error_detail`` says about a failed COPY (file, line, column, reason), found by
        the statement's process id and start time (``redshift_errors``); else the files its text names."""
        pid = description.get("RedshiftPid")
        started = failed.get("CreatedAt") or description.get("CreatedAt")
        details: list[LoadErrorDetail] = []
        if pid and isinstance(started, dt.datetime):
            try:
                details = load_error_details(
                    self.query(load_errors_by_session_sql(), session_params(pid, started))
                )
            except WarehouseError as exc:
                logger.warning("could not read sys_load_error_detail", pid=pid, error=str(exc))
        if details:
            return details
        named = [d for d in details_from_text(str(description.get("Error") or "")) if d.file]
        return named


def _sql_parameters(params: Mapping[str, Any]) -> list[dict[str, str]]:
    """``SqlParameter`` values are strings that Redshift converts to the type the query implies; they
    cannot be empty or NULL (https://docs.aws.amazon.com/redshift-data/latest/APIReference/API_SqlParameter.html)."""
    out = []
    for name, value in params.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, dt.date | dt.datetime):
            text = value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
        else:
            text = "" if value is None else str(value)
        if not text:
            raise TerminalLoadError(f"query parameter {name!r}: the Data API takes no empty or NULL value")
        out.append({"name": name, "value": text})
    return out


def _typed_row(
    record: list[dict[str, Any]], columns: list[str], converters: list[Callable[[Any], Any]]
) -> tuple[Any, ...]:
    values = []
    for name, convert, field in zip(columns, converters, record, strict=True):
        raw = _field_value(field)
        try:
            values.append(None if raw is None else convert(raw))
        except (ValueError, ArithmeticError) as exc:
            raise TerminalLoadError(f"column {name}: cannot read {raw!r} from the Data API: {exc}") from exc
    return tuple(values)


def _field_value(field: dict[str, Any]) -> Any:
    if field.get("isNull"):
        return None
    for kind in ("stringValue", "longValue", "doubleValue", "booleanValue", "blobValue"):
        if kind in field:
            return field[kind]
    return None
