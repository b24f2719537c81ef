"""DynamoDB AttributeValues as JSON text: the SUPER representation, exactly (no float anywhere).

Maps → objects, lists and sets → arrays, numbers → JSON numbers with their exact digits, binary → base64
strings, NULL → null. This is the Python reference the C fast path (``fastpath.super_json``) mirrors;
the hot loops call C-level functions only for strings and plain numbers. Pure.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from thermocline.lake.types import number_shape
from thermocline.sources.dynamodb_streams import fastpath
from thermocline.sources.dynamodb_streams.errors import RecordDecodeError

__all__ = ["av_to_json", "overflow_object"]

_encode_str = json.encoder.encode_basestring  # type: ignore[attr-defined]  # the C encoder, no ASCII escaping
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?", re.ASCII)


def _single(av: Any) -> tuple[str, Any]:
    if type(av) is not dict or len(av) != 1:
        raise RecordDecodeError(f"not a DynamoDB AttributeValue: {str(av)[:80]!r}")
    ((tag, value),) = av.items()
    return tag, value


def _canonical_number(text: Any) -> str:
    """Validate an N value that is not plain JSON number syntax and re-spell it exactly (+5, .5, 007)."""
    if not isinstance(text, str):
        raise RecordDecodeError(f"N value is not a string: {str(text)[:60]!r}")
    try:
        number_shape(text)
    except ValueError:
        raise RecordDecodeError(f"N value is not a number: {text[:60]!r}") from None
    return str(Decimal(text))


def _check_number(text: Any) -> str:
    """An N value as JSON number text, exactly. Plain integers (the common case) take two C calls."""
    if text.isdigit():
        if text.isascii() and (text[0] != "0" or len(text) == 1):
            return text
    elif _JSON_NUMBER.fullmatch(text):
        return text
    return _canonical_number(text)


def _check_str(value: Any) -> str:
    if type(value) is not str:
        raise RecordDecodeError(f"S value is not a string: {str(value)[:60]!r}")
    return value


def _binary_text(value: Any) -> str:
    """Binary as base64 text (how Lambda events carry it; boto3 clients hand us bytes)."""
    if type(value) is str:
        _binary_bytes(value)  # validates: text that is not base64 is not binary
        return value
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise RecordDecodeError(f"B value is neither base64 text nor bytes: {str(value)[:60]!r}")


def _binary_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise RecordDecodeError(f"B value is not valid base64: {value[:60]!r}") from None
    raise RecordDecodeError(f"B value is neither base64 text nor bytes: {str(value)[:60]!r}")


# '"key":' for map keys seen before. json.loads (Lambda's event parser included) hands out one string object
# per distinct key, with its hash cached, so this lookup is cheaper than encoding the key again.
_KEY_PREFIX: dict[str, str] = {}
_KEY_PREFIX_MAX = 65536


def _key_prefix(key: Any) -> str:
    prefix = (_encode_str(key) if key.isascii() else _json_str(key)) + ":"
    if len(_KEY_PREFIX) >= _KEY_PREFIX_MAX:
        _KEY_PREFIX.clear()
    _KEY_PREFIX[key] = prefix
    return prefix


def _json_map(value: Any) -> str:
    """An M payload as a JSON object. The hot loop of nested data: strings and plain numbers are handled
    inline with C-level calls only; everything else goes through `_json_value`."""
    parts = []
    append = parts.append
    prefixes = _KEY_PREFIX
    for key, av in value.items():
        ((tag, x),) = av.items()
        if tag == "S":
            text = _encode_str(x) if x.isascii() else _json_str(x)
        elif tag == "N":
            text = x if x.isdigit() and x.isascii() and (x[0] != "0" or len(x) == 1) else _check_number(x)
        elif tag == "M":
            text = _json_map(x)
        elif tag == "BOOL" and (x is True or x is False):
            text = "true" if x else "false"
        else:
            text = _json_value(tag, x)
        prefix = prefixes.get(key)
        append((prefix or _key_prefix(key)) + text)
    return "{" + ",".join(parts) + "}"


def _json_list(value: Any) -> str:
    if type(value) is not list:
        raise RecordDecodeError("L value is not a list")
    parts = []
    append = parts.append
    for av in value:
        ((tag, x),) = av.items()
        append(_json_map(x) if tag == "M" else _json_value(tag, x))
    return "[" + ",".join(parts) + "]"


def _json_str(text: Any) -> str:
    """A JSON string literal; text that is not valid Unicode (lone surrogates) is rejected here, not by
    Arrow later."""
    if not text.isascii():
        _utf8_length(text)
    return _encode_str(text)


def _json_value(tag: str, value: Any) -> str:
    """One AttributeValue's payload as JSON text. Ordered by how often each tag occurs.

    This is the hot loop of nested data: no per-node helper calls for strings and numbers, and
    ``encode_basestring`` (C) rejects a non-string on its own with a TypeError.
    """
    if tag == "S":
        return _encode_str(value) if value.isascii() else _json_str(value)
    if tag == "N":
        return _check_number(value)
    if tag == "M":
        return _json_map(value)
    if tag == "L":
        return _json_list(value)
    if tag == "BOOL":
        if value is True:
            return "true"
        if value is False:
            return "false"
        raise RecordDecodeError("BOOL value is not a boolean")
    if tag == "NULL":
        return "null"
    if tag == "SS":
        return "[" + ",".join([_json_str(x) for x in _set_items(value, tag)]) + "]"
    if tag == "NS":
        return "[" + ",".join([_check_number(x) for x in _set_items(value, tag)]) + "]"
    if tag == "B":
        return _encode_str(_binary_text(value))
    if tag == "BS":
        return "[" + ",".join([_encode_str(_binary_text(x)) for x in _set_items(value, tag)]) + "]"
    raise RecordDecodeError(f"unknown DynamoDB type tag {str(tag)[:40]!r}")


def _super_text(tag: str, value: Any) -> str:
    """A SUPER value's JSON text: the C fast path when it can decide, else `_json_value` (the reference)."""
    fast = fastpath.super_json
    if fast is not None:
        text = fast(tag, value)
        if text is not None:
            return text
    return _json_value(tag, value)


def _set_items(value: Any, tag: str) -> list[Any]:
    if type(value) is not list:
        raise RecordDecodeError(f"{tag} value is not a list")
    return value


def av_to_json(av: Any) -> str:
    """One AttributeValue as JSON text (the SUPER representation), exactly.

    Maps → objects, lists and sets → arrays, numbers → JSON numbers with their exact digits (read them back
    with ``json.loads(text, parse_float=Decimal)``), binary → base64 strings, NULL → null.
    """
    try:
        ((tag, value),) = av.items()
        return _super_text(tag, value)
    except (AttributeError, TypeError, ValueError) as exc:
        raise RecordDecodeError(f"not a DynamoDB AttributeValue: {exc}") from None


_KNOWN_TAGS = frozenset(("S", "N", "M", "L", "BOOL", "NULL", "SS", "NS", "B", "BS"))


def _overflow_json(tag: str, value: Any) -> str:
    # A number that does not fit its column is kept as exact *text*: readers that turn JSON numbers into
    # floats would otherwise round it.
    if tag == "N":
        return _encode_str(_check_number(value))
    return av_to_json({tag: value})


def _utf8_length(text: str) -> int:
    """Length in UTF-8 bytes (what Redshift's VARCHAR limit counts); rejects text that is not Unicode."""
    if text.isascii():
        return len(text)
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise RecordDecodeError("S value is not valid Unicode (lone surrogate)") from None


def _truncate_utf8(text: str, limit: int) -> str:
    """The longest prefix of at most ``limit`` UTF-8 bytes that ends on a character boundary."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def overflow_object(
    entries: list[tuple[str, str]],
    limit: int | None,
    table: str,
    oversize_key: Callable[[str, str], str] | None,
    oversize: dict[str, bytes],
) -> str:
    """The ``_overflow`` JSON of one row from its ``(attribute, value JSON)`` entries.

    With a spill ``limit`` (bytes; the service uses Redshift's 65,535-byte VARCHAR, which is how the loader
    stages SUPER), the largest values are moved out until the object fits: each is stored whole as its own
    lake object (into ``oversize``, under ``oversize_key(table, sha256)``), and replaced by
    ``{"$oversize": {"key", "bytes", "sha256"}}``.
    """
    text = "{" + ",".join(_encode_str(a) + ":" + j for a, j in entries) + "}"
    if limit is None or len(text) * 4 <= limit or len(text.encode("utf-8")) <= limit:
        return text
    sized = sorted(range(len(entries)), key=lambda i: len(entries[i][1]), reverse=True)
    entries = list(entries)
    for i in sized:
        attribute, value_json = entries[i]
        data = value_json.encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()
        key = oversize_key(table, digest)  # type: ignore[misc]
        oversize[key] = data
        entries[i] = (
            attribute,
            json.dumps(
                {"$oversize": {"key": key, "bytes": len(data), "sha256": digest}}, separators=(",", ":")
            ),
        )
        text = "{" + ",".join(_encode_str(a) + ":" + j for a, j in entries) + "}"
        if len(text.encode("utf-8")) <= limit:
            break
    return text
