"""What a Redshift error means for the loader: bad data, worth a retry, or neither.

Both Redshift engines use this. The Data API gives a failed statement's error as text only
(DescribeStatement's ``Error``); ``redshift_connector`` adds a SQLSTATE, which the engine reads first.

* **Bad data** — a value the table cannot hold, found by COPY or by a later statement (the insert's
  JSON_PARSE of a SUPER value, a numeric overflow, a string longer than its VARCHAR): the loader then loads
  the chunk's files one at a time and quarantines only the file that fails.
* **Transient** — serializable isolation violations (error 1023), lock waits, connection loss, a workgroup
  resuming: the same load succeeds later.
* Anything else (permissions, missing objects, SQL the engine refuses) is terminal.

Where COPY's errors are found: ``sys_load_error_detail`` rows carry the session's process id and the
COPY's start time (https://docs.aws.amazon.com/redshift/latest/dg/SYS_LOAD_ERROR_DETAIL.html). The Data
API's ``RedshiftQueryId`` is not the SYS views' ``query_id``, but DescribeStatement's ``RedshiftPid`` is
that process id (https://docs.aws.amazon.com/redshift-data/latest/APIReference/API_DescribeStatement.html),
so the lookup is by process id and time. Parquet COPY errors are often reported only to the client
("Spectrum Scan Error", naming the file), so the error text is read for file names as well.

Pure: no boto3 or driver here.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import unquote

from thermocline.warehouse.errors import LoadErrorDetail

# Lower-case fragments of Redshift's messages for values a column cannot hold
# (https://docs.aws.amazon.com/redshift/latest/dg/r_Load_Error_Reference.html, JSON_PARSE
# https://docs.aws.amazon.com/redshift/latest/dg/JSON_PARSE.html, numeric overflow
# https://docs.aws.amazon.com/redshift/latest/dg/r_numeric_computations201.html).
_DATA_TEXT = (
    "json parsing error",
    "invalid json",
    "numeric data overflow",
    "overflow for numeric",
    "numeric field overflow",
    "value out of range",
    "out of range for type",
    "overflow (",  # "Overflow (Long valid range -9223372036854775808 to 9223372036854775807)"
    "value too long for",  # "value too long for type character varying(64)"
    "string length exceeds ddl length",
    "invalid input syntax for",
    "invalid digit",
    "invalid timestamp format",
    "invalid date format",
    "spectrum scan error",
    "incompatible parquet schema",
    "invalid parquet",
)
# Messages of a conflict or an outage that the same statement survives later
# (https://docs.aws.amazon.com/redshift/latest/dg/c_serial_isolation.html for error 1023).
_TRANSIENT_TEXT = (
    "serializable isolation violation",
    "deadlock",
    "could not obtain lock",
    "lock wait timeout",
    "concurrent transaction",
    "connection reset",
    "connection refused",
    "server closed the connection",
    "terminating connection",
    "temporarily unavailable",
    "is resuming",
    "insufficient capacity",
)
# A COPY that cannot read S3 names the file too; that is the role's fault, never the file's.
_ACCESS_TEXT = ("access denied", "accessdenied", "not authorized", "status 403", "forbidden")

_S3_URL = re.compile(r"s3://[a-z0-9][a-z0-9.\-]{1,62}/[^\s'\",;]+", re.I)
# Spectrum errors name files by their HTTPS address: virtual-hosted or path style.
_HTTPS_VHOST = re.compile(
    r"https://([a-z0-9][a-z0-9.\-]{1,62})\.s3[a-z0-9.\-]*\.amazonaws\.com/([^\s'\",;]+)", re.I
)
_HTTPS_PATH = re.compile(
    r"https://s3[a-z0-9.\-]*\.amazonaws\.com/([a-z0-9][a-z0-9.\-]{1,62})/([^\s'\",;]+)", re.I
)


def kind_of(message: str) -> str:
    """``"data"``, ``"transient"`` or ``"terminal"`` for one Redshift error text."""
    lowered = " ".join(message.lower().split())
    if any(marker in lowered for marker in _ACCESS_TEXT):
        return "terminal"
    if any(marker in lowered for marker in _TRANSIENT_TEXT):
        return "transient"
    if any(marker in lowered for marker in _DATA_TEXT):
        return "data"
    return "terminal"


def files_named_in(message: str) -> list[str]:
    """The ``s3://bucket/key`` of every lake object an error text names, in order, without repeats."""
    found: list[str] = []
    for match in _S3_URL.finditer(message):
        found.append(match.group(0).rstrip(".)"))
    for pattern in (_HTTPS_VHOST, _HTTPS_PATH):
        for match in pattern.finditer(message):
            found.append(f"s3://{match.group(1)}/{unquote(match.group(2).rstrip('.)'))}")
    return list(dict.fromkeys(found))


def details_from_text(message: str) -> list[LoadErrorDetail]:
    """One detail per file an error text names, or one naming no file (the loader then isolates)."""
    reason = " ".join(message.split())[:1000]
    files = files_named_in(message)
    return [LoadErrorDetail(f, None, None, reason) for f in files] or [
        LoadErrorDetail(None, None, None, reason)
    ]


def load_error_detail_sql(query_id: int) -> str:
    """File, line, column and reason of a failed COPY, by the COPY's query id (``pg_last_copy_id()``).

    https://docs.aws.amazon.com/redshift/latest/dg/SYS_LOAD_ERROR_DETAIL.html
    """
    # The one value is an int: nothing reaches SQL unquoted.
    return (
        "SELECT TRIM(file_name) AS file_name, line_number, TRIM(column_name) AS column_name, "  # noqa: S608
        "TRIM(error_message) AS error_message FROM sys_load_error_detail "
        f"WHERE query_id = {int(query_id)} ORDER BY start_time LIMIT 20"
    )


def load_errors_by_session_sql() -> str:
    """``sys_load_error_detail`` rows of one session's COPY from a time on; binds ``:pid`` and ``:since``."""
    return (
        "SELECT TRIM(file_name) AS file_name, line_number, TRIM(column_name) AS column_name, "
        "TRIM(error_message) AS error_message FROM sys_load_error_detail "
        "WHERE session_id = CAST(:pid AS INTEGER) AND start_time >= CAST(:since AS TIMESTAMP) "
        "ORDER BY start_time LIMIT 20"
    )


def session_params(pid: Any, started: dt.datetime) -> dict[str, Any]:
    """The bound values of :func:`load_errors_by_session_sql`: Redshift's clock is UTC; one second of
    slack for the clocks of the Data API and the workgroup."""
    if started.tzinfo is not None:
        started = started.astimezone(dt.UTC).replace(tzinfo=None)
    since = started - dt.timedelta(seconds=1)
    return {"pid": int(pid), "since": since.isoformat(sep=" ", timespec="microseconds")}
