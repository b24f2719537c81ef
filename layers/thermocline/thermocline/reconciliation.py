"""The reconcile report: per warehouse table, the rows missing, extra, differing, duplicated and excluded,
with a few examples each; and one representation per value, so that equal values compare equal whatever
the engine returns (pure: ``services/reconcile.py`` fills it in).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from typing import Any

__all__ = ["CATEGORIES", "EXAMPLES", "Reconciliation", "TableDiff", "key_text", "normalise", "show"]

EXAMPLES = 5
CATEGORIES = ("missing", "extra", "differing", "duplicated")


@dataclass
class TableDiff:
    table: str
    expected: int = 0
    warehouse: int = 0
    missing: int = 0
    extra: int = 0
    differing: int = 0
    duplicated: int = 0
    excluded: int = 0  # changed after the export time: not compared
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def mismatches(self) -> int:
        return self.missing + self.extra + self.differing + self.duplicated

    def note(self, category: str, text: str) -> None:
        setattr(self, category, getattr(self, category) + 1)
        shown = self.examples.setdefault(category, [])
        if len(shown) < EXAMPLES:
            shown.append(text)


@dataclass
class Reconciliation:
    source_table: str
    export_arn: str
    export_time: str
    tables: dict[str, TableDiff] = field(default_factory=dict)
    undecodable: int = 0  # export items that could not be decoded (each is a mismatch)

    @property
    def mismatches(self) -> int:
        return sum(t.mismatches for t in self.tables.values()) + self.undecodable

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "mismatches": self.mismatches}

    def lines(self) -> list[str]:
        out = [
            f"{self.source_table} vs the warehouse, as of the export at {self.export_time}: "
            + ("MATCH" if self.ok else f"{self.mismatches} MISMATCHES")
        ]
        for name, t in sorted(self.tables.items()):
            out.append(
                f"  {name}: {t.expected} in the table, {t.warehouse} in the warehouse; missing {t.missing}, "
                f"extra {t.extra}, differing {t.differing}, duplicated {t.duplicated}; "
                f"{t.excluded} changed after the export time, not compared"
            )
            for category in CATEGORIES:
                for example in t.examples.get(category, []):
                    out.append(f"    {category}: {example}")
        if self.undecodable:
            out.append(f"  {self.undecodable} exported items could not be decoded (see the quarantine)")
        return out


# --- values ----------------------------------------------------------------------------------------------


# normalize() rounds to its context's precision (28 digits by default), and DynamoDB numbers have 38: two
# numbers that differ in their last digits would compare equal.
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def _number(value: Decimal) -> str:
    text = format(value.normalize(_EXACT), "f")
    return "0" if text in ("-0", "0") else text


def _json_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float, Decimal)):
        return {"#n": _number(Decimal(str(value)))}
    return str(value)


def normalise(value: Any, super_column: bool) -> Any:
    """One representation per value whatever the engine returns (Decimal or int, naive or aware
    timestamps, JSON as text or parsed), so equal values compare equal and nothing else does."""
    if value is None:
        return None
    if super_column:
        if isinstance(value, (str, bytes)):
            try:
                value = json.loads(value, parse_float=Decimal, parse_int=Decimal)
            except ValueError:
                return ("text", str(value))
        return json.dumps(_json_value(value), sort_keys=True)
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, Decimal, float)):
        return ("n", _number(Decimal(str(value))))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return ("b", bytes(value).hex())
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    return value


def show(value: Any) -> str:
    text = str(value[1]) if isinstance(value, tuple) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def key_text(key: tuple[Any, ...]) -> str:
    return "/".join(k if isinstance(k, str) else show(k) for k in key)
