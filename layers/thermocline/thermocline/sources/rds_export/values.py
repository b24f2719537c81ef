"""Text values of an RDS export → Python values of their warehouse type (pure, exact, never a float).

An RDS export writes PostgreSQL's numeric, date, time, timestamp(tz), interval, json, uuid, enum and
array columns as UTF-8 strings, and MySQL's DATE and TIME as strings too ("Data conversion when exporting
to an Amazon S3 bucket", Amazon RDS User Guide). Each parser here returns the restored value, or raises
:class:`NotRepresentableError` for a value the warehouse type cannot hold exactly (``NaN``, ``infinity``,
a date before year 1 or after 9999, MySQL's zero date, a TIME past 24 hours): the caller keeps those in
``_overflow`` as the exported text, so nothing is rounded and nothing is dropped.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Context, Decimal, InvalidOperation
from typing import Any

__all__ = [
    "ArrayLiteralError",
    "NotRepresentableError",
    "NumericShape",
    "numeric_shape",
    "parse_date",
    "parse_decimal",
    "parse_pg_array",
    "parse_time",
    "parse_timestamp",
]


class NotRepresentableError(ValueError):
    """The exported text is valid but the warehouse type cannot hold it exactly."""


class ArrayLiteralError(ValueError):
    """Text that is not a PostgreSQL array literal."""


# --- numbers -------------------------------------------------------------------------------------------

# re.ASCII: Python's \d also matches other scripts' digits, which no database prints.
_NUMERIC = re.compile(r"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?", re.ASCII)


_EXACT = Context(prec=200)
_PLAIN = re.compile(r"-?(\d+)(?:\.(\d+))?", re.ASCII)


class NumericShape:
    """Digits left and right of the point of one exported numeric (trailing zeros kept: PostgreSQL
    prints a ``numeric(p,s)`` value with exactly ``s`` decimals, so the text carries the column's scale)."""

    __slots__ = ("int_digits", "scale")

    def __init__(self, int_digits: int, scale: int) -> None:
        self.int_digits = int_digits
        self.scale = scale


def numeric_shape(text: str) -> NumericShape | None:
    """The shape of a finite numeric's text, or ``None`` for ``NaN``/``Infinity`` and anything else."""
    m = _NUMERIC.fullmatch(text.strip())
    if not m or not (m[2] or m[3]) or m[4]:
        return None
    return NumericShape(len(m[2].lstrip("0")), len(m[3] or ""))


def parse_decimal(text: str, precision: int, scale: int) -> Decimal:
    """The exact ``Decimal`` of ``text`` at ``scale`` decimals, if ``DECIMAL(precision, scale)`` holds it.

    Checked on the digits, never by a cast (pyarrow's string → decimal cast wraps around silently).
    """
    plain = _PLAIN.fullmatch(text)
    if plain:  # the common case, PostgreSQL's own output: [-]digits[.digits]
        shape = NumericShape(len(plain[1].lstrip("0")), len(plain[2] or ""))
    else:
        shape = numeric_shape(text)
    if shape is None:
        raise NotRepresentableError(f"not a finite number: {text[:40]!r}")
    if shape.scale == scale and shape.int_digits <= precision - scale:
        return Decimal(text)  # exactly the column's scale already: nothing to check by quantizing
    if shape.int_digits > precision - scale:
        raise NotRepresentableError(
            f"{shape.int_digits} integer digits do not fit DECIMAL({precision},{scale})"
        )
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise NotRepresentableError(f"not a number: {text[:40]!r}") from None
    # Enough digits for DECIMAL(38,38) and anything the digit check let through; never the default 28.
    exact = _EXACT.quantize(value, Decimal(1).scaleb(-scale))
    if exact != value:
        raise NotRepresentableError(f"{shape.scale} decimals do not fit DECIMAL({precision},{scale})")
    return exact


# --- dates and times -----------------------------------------------------------------------------------

_DATE = re.compile(r"(\d{4,})-(\d{2})-(\d{2})", re.ASCII)
_TIME = re.compile(r"(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?", re.ASCII)
_OFFSET = re.compile(r"(?:Z|([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)", re.ASCII)
_TIMESTAMP = re.compile(
    r"(\d{4,}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)((?:Z|[+-]\d{2}(?::?\d{2}){0,2}))?",
    re.ASCII,
)


# Years 1000-9999, exact 2-digit fields, fractions of 1-6 digits, offsets +HH[:MM[:SS]]: what
# datetime.fromisoformat reads exactly (no other shape takes the fast path).
_ISO_FAST = re.compile(
    r"[1-9]\d{3}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[+-]\d{2}(?::\d{2}(?::\d{2})?)?)?", re.ASCII
)


def _special(text: str) -> None:
    # 'infinity', '-infinity' (PostgreSQL), 'BC' dates, MySQL's zero dates: valid in the source, but no
    # warehouse DATE or TIMESTAMP holds them.
    lowered = text.strip().lower()
    if lowered in ("infinity", "-infinity", "+infinity") or lowered.endswith(" bc"):
        raise NotRepresentableError(f"{text.strip()!r} has no warehouse equivalent")


def parse_date(text: str) -> dt.date:
    _special(text)
    m = _DATE.fullmatch(text.strip())
    if not m:
        raise NotRepresentableError(f"not a date: {text[:40]!r}")
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError as exc:  # year 0 or past 9999, MySQL's 0000-00-00
        raise NotRepresentableError(f"{text.strip()!r}: {exc}") from None


def _time_parts(m: re.Match[str]) -> tuple[int, int, int, int]:
    micro = int((m[4] or "").ljust(6, "0"))
    return int(m[1]), int(m[2]), int(m[3]), micro


def parse_time(text: str) -> dt.time:
    """``HH:MM:SS[.ffffff]`` → ``time``. PostgreSQL's ``24:00:00`` and MySQL's ``-838:59:59``..
    ``838:59:59`` ranges go beyond a warehouse TIME and are not representable."""
    m = _TIME.fullmatch(text.strip())
    if not m:
        raise NotRepresentableError(f"not a time of day: {text[:40]!r}")
    hour, minute, second, micro = _time_parts(m)
    try:
        return dt.time(hour, minute, second, micro)
    except ValueError as exc:
        raise NotRepresentableError(f"{text.strip()!r}: {exc}") from None


def parse_timestamp(text: str) -> dt.datetime:
    """A timestamp's text → an aware UTC ``datetime``.

    An offset (``timestamptz`` text) is converted to UTC; a timestamp without one keeps its wall-clock
    value and is stored as UTC, as the lake stores every TIMESTAMP.
    """
    if _ISO_FAST.fullmatch(text):
        # PostgreSQL's ISO output ("2024-01-02 03:04:05.123456+05:30"): the standard library parses it.
        parsed = dt.datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=dt.UTC)
        try:
            return parsed.astimezone(dt.UTC)
        except OverflowError as exc:
            raise NotRepresentableError(f"{text!r}: {exc}") from None
    _special(text)
    m = _TIMESTAMP.fullmatch(text.strip())
    if not m:
        raise NotRepresentableError(f"not a timestamp: {text[:40]!r}")
    date = parse_date(m[1])
    time = parse_time(m[2])
    offset = _offset(m[3]) if m[3] else dt.timedelta(0)
    try:
        return (dt.datetime.combine(date, time) - offset).replace(tzinfo=dt.UTC)
    except OverflowError as exc:  # shifting by the offset leaves years 1..9999
        raise NotRepresentableError(f"{text.strip()!r}: {exc}") from None


def _offset(text: str) -> dt.timedelta:
    m = _OFFSET.fullmatch(text)
    if not m or text == "Z":
        return dt.timedelta(0)
    sign = -1 if m[1] == "-" else 1
    return sign * dt.timedelta(hours=int(m[2]), minutes=int(m[3] or 0), seconds=int(m[4] or 0))


# --- PostgreSQL arrays ---------------------------------------------------------------------------------


_FLAT_UNQUOTED = re.compile(r'\{(?:[^{}",\\\s][^{}",\\]*(?:,[^{}",\\\s][^{}",\\]*)*)?\}')


def parse_pg_array(text: str) -> tuple[list[Any], bool]:
    """A PostgreSQL array literal (``{1,2,NULL}``, ``{{"a b","c\\"d"},{e,NULL}}``) → nested lists of
    element strings (``None`` for NULL), and whether every element was written unquoted.

    PostgreSQL quotes an element only when it must (empty, special characters, the word NULL), so an
    unquoted ``1`` may be an integer or the text "1"; the caller decides from the whole column. A
    ``[lower:upper]=`` dimension prefix (arrays not starting at 1) is accepted; the bounds are dropped.
    """
    body = text.strip()
    if _FLAT_UNQUOTED.fullmatch(body):  # {1,2,NULL}: one dimension, nothing quoted or escaped
        items = body[1:-1].split(",") if len(body) > 2 else []
        return [None if x.strip().upper() == "NULL" else x.strip() for x in items], True
    if body.startswith("["):
        eq = body.find("=")
        if eq < 0:
            raise ArrayLiteralError(f"bad dimension prefix: {text[:40]!r}")
        body = body[eq + 1 :].lstrip()
    parser = _ArrayParser(body)
    value = parser.parse()
    return value, parser.all_unquoted


class _ArrayParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.all_unquoted = True

    def parse(self) -> list[Any]:
        value = self._array()
        if self.pos != len(self.text):
            raise ArrayLiteralError(f"trailing text in array literal at {self.pos}")
        return value

    def _array(self) -> list[Any]:
        text = self.text
        if self.pos >= len(text) or text[self.pos] != "{":
            raise ArrayLiteralError(f"expected '{{' at {self.pos}")
        self.pos += 1
        items: list[Any] = []
        if self.pos < len(text) and text[self.pos] == "}":
            self.pos += 1
            return items
        while True:
            items.append(self._element())
            if self.pos >= len(text):
                raise ArrayLiteralError("unterminated array literal")
            if text[self.pos] == ",":
                self.pos += 1
                continue
            if text[self.pos] == "}":
                self.pos += 1
                return items
            raise ArrayLiteralError(f"expected ',' or '}}' at {self.pos}")

    def _element(self) -> Any:
        text = self.text
        if self.pos >= len(text):
            raise ArrayLiteralError("unterminated array literal")
        if text[self.pos] == "{":
            return self._array()
        if text[self.pos] == '"':
            self.all_unquoted = False
            return self._quoted()
        start = self.pos
        while self.pos < len(text) and text[self.pos] not in ",}":
            if text[self.pos] in '{"\\':
                raise ArrayLiteralError(f"unexpected {text[self.pos]!r} at {self.pos}")
            self.pos += 1
        token = text[start : self.pos].strip()
        if not token:
            raise ArrayLiteralError(f"empty element at {start}")
        return None if token.upper() == "NULL" else token

    def _quoted(self) -> str:
        text = self.text
        self.pos += 1
        out: list[str] = []
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == "\\":
                if self.pos + 1 >= len(text):
                    break
                out.append(text[self.pos + 1])
                self.pos += 2
                continue
            if ch == '"':
                self.pos += 1
                return "".join(out)
            out.append(ch)
            self.pos += 1
        raise ArrayLiteralError("unterminated quoted element")
