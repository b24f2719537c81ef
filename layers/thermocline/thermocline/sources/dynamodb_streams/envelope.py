"""The Lambda DynamoDB Streams record envelope: source table, operation, sequence number, event time,
TTL deletes and keys — everything about a record but its item image. Pure.

https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from thermocline.contracts import Contracts, Router
from thermocline.lake.columns import SEQ_WIDTH
from thermocline.lake.table_schema import TableSchema
from thermocline.sources.dynamodb_streams import fastpath
from thermocline.sources.dynamodb_streams.errors import RecordDecodeError

__all__ = ["pad_sequence_number", "refresh_arn_entry", "source_table_name", "target_tables"]

_OPS = {"INSERT": "I", "MODIFY": "U", "REMOVE": "D"}
_TTL_PRINCIPAL = "dynamodb.amazonaws.com"
_ARN_TABLE = re.compile(r":table/([^/]+)")
_DIGITS = re.compile(r"[0-9]{1,40}")


def source_table_name(record: Mapping[str, Any]) -> str:
    """The DynamoDB table name of a record, from ``eventSourceARN``.

    A real ARN looks like ``arn:aws:dynamodb:us-east-1:123:table/Orders/stream/2024-...``. Hand-written test
    events (Powertools' among them) carry a bare string instead; it is then taken as the table name.
    """
    arn = record.get("eventSourceARN")
    if not isinstance(arn, str) or not arn.strip():
        raise RecordDecodeError("record has no eventSourceARN")
    return _table_of_arn(arn)


@functools.lru_cache(maxsize=1024)
def _table_of_arn(arn: str) -> str:
    # A batch holds one stream's records: parsing its ARN once, not per record, is a measurable saving.
    m = _ARN_TABLE.search(arn)
    return m.group(1) if m else arn


def pad_sequence_number(seq: Any) -> str:
    """Zero-pad a stream sequence number to 40 characters so that text order is numeric order."""
    if not isinstance(seq, str) or not _DIGITS.fullmatch(seq):
        raise RecordDecodeError(f"SequenceNumber is not 1 to 40 digits: {str(seq)[:60]!r}")
    return seq.rjust(SEQ_WIDTH, "0")


# Event times a timestamp column and a date partition can hold: 0001-01-01 to 9999-12-31 (UTC).
MIN_EPOCH_S = -62_135_596_800
MAX_EPOCH_S = 253_402_300_799


def _event_time_us(value: Any) -> int | None:
    """``ApproximateCreationDateTime`` → microseconds since the epoch (UTC).

    Lambda events carry epoch seconds (an int, or a float such as 1693997155.0); boto3's streams client
    returns a datetime; some tools write ISO-8601 text. All are accepted.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise RecordDecodeError("ApproximateCreationDateTime is not a time")
    if isinstance(value, (int, float)):
        if not MIN_EPOCH_S <= value <= MAX_EPOCH_S:  # NaN fails both comparisons
            raise RecordDecodeError(
                f"ApproximateCreationDateTime out of range (years 1 to 9999): {str(value)[:60]!r}"
            )
        return value * 1_000_000 if isinstance(value, int) else round(value * 1_000_000)
    if isinstance(value, datetime):
        return _datetime_us(value)
    if isinstance(value, str):
        try:
            return _event_time_us(float(value))
        except ValueError:
            try:
                return _datetime_us(datetime.fromisoformat(value))
            except ValueError:
                pass
    raise RecordDecodeError(f"ApproximateCreationDateTime is not a time: {str(value)[:60]!r}")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _datetime_us(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _is_ttl_delete(record: Mapping[str, Any]) -> bool:
    # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/time-to-live-ttl-streams.html
    # Lambda's events spell the fields type/principalId; the DynamoDB Streams API (GetRecords: boto3, the
    # CLI) spells them Type/PrincipalId
    # (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_Identity.html).
    identity = record.get("userIdentity")
    if not isinstance(identity, dict):
        return False
    kind = identity.get("type", identity.get("Type"))
    principal = identity.get("principalId", identity.get("PrincipalId"))
    return kind == "Service" and principal == _TTL_PRINCIPAL


def _keys_of(record: Mapping[str, Any]) -> dict[str, Any]:
    body = record.get("dynamodb")
    if not isinstance(body, dict):
        raise RecordDecodeError("record has no 'dynamodb' object")
    keys = body.get("Keys")
    if not isinstance(keys, dict) or not keys:
        raise RecordDecodeError("record has no Keys")
    return keys


def refresh_arn_entry(arn_routes: dict[str, tuple[Any, ...]], router: Router, record: Any) -> None:
    """After the Python path routed ``record``: record how its ``eventSourceARN`` routes for the C fast path
    (``(source text, fixed target, contract routes, fallback)``, from ``Router.fast_entry``), once the
    router knows; a contract's fallback table is named by the first record that needs it."""
    arn = record.get("eventSourceARN") if type(record) is dict else None
    if type(arn) is not str:
        return
    entry = arn_routes.get(arn)
    if entry is not None and (entry[1] is not None or entry[3] is not None):
        return
    try:
        source = source_table_name(record)
    except RecordDecodeError:
        return
    fast = router.fast_entry(source)
    if fast is not None:
        arn_routes[arn] = ("dynamodb:" + source, *fast)


def target_tables(
    records: Iterable[Any],
    contracts: Contracts | None = None,
    schemas: Mapping[str, TableSchema] | None = None,
    *,
    owners: dict[str, str] | None = None,
) -> set[str]:
    """Every warehouse table a batch routes to (records that cannot be routed are skipped here), given
    the recorded ``schemas`` (which say who owns a table). Routed in C where it can decide
    (``fastpath.route_records``), the same way. ``owners``, when given, receives the owner routing
    assumed for each table it named by default routing (``Router.owners``)."""
    router = Router(contracts, schemas)
    out: set[str] = set()

    def route(_index: int, record: Any) -> None:
        try:
            out.add(router.route(source_table_name(record), _keys_of(record))[0])
        except (RecordDecodeError, AttributeError, TypeError):
            return

    route_records = fastpath.route_records
    if route_records is None or type(records) is not list:
        for index, record in enumerate(records):
            route(index, record)
    else:
        arn_routes: dict[str, tuple[Any, ...]] = {}

        def defer(index: int, record: Any) -> None:
            route(index, record)
            refresh_arn_entry(arn_routes, router, record)

        route_records(records, [arn_routes, out, defer])
    if owners is not None:
        owners.update(router.owners)
    return out
