"""Golden files: pinned output that a refactoring must leave unchanged.

``check(name, data)`` compares ``data`` with ``tests/golden/<name>.json``. Run the suite with
``THERMOCLINE_UPDATE_GOLDEN=1`` to (re)write the files after an intended change of behaviour, and review
the diff like code.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("THERMOCLINE_UPDATE_GOLDEN") == "1"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, (bytes, bytearray)):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (datetime, date)):
        return {"time": value.isoformat()}
    raise TypeError(f"not JSON: {type(value).__name__}")


def canonical(data: Any) -> Any:
    """``data`` as plain JSON values (Decimal, bytes and datetimes spelled out, never rounded)."""
    return json.loads(json.dumps(data, default=_plain, sort_keys=True))


def lake_file(table: pa.Table, *, rows: str = "all") -> dict[str, Any]:
    """A lake table as the golden files pin it: Arrow schema (types, nullability), metadata, rows.

    ``rows="digest"`` keeps the row count, the first three rows and a SHA-256 of all of them.
    """
    metadata = {k.decode(): json.loads(v) for k, v in (table.schema.metadata or {}).items()}
    out: dict[str, Any] = {
        "schema": [f"{f.name}: {f.type}{'' if f.nullable else ' not null'}" for f in table.schema],
        "metadata": metadata,
        "num_rows": table.num_rows,
    }
    all_rows = [{k: _short(v) for k, v in row.items()} for row in canonical(table.to_pylist())]
    if rows == "all":
        out["rows"] = all_rows
    else:
        text = json.dumps(all_rows, sort_keys=True, separators=(",", ":"))
        out["first_rows"] = all_rows[:3]
        out["rows_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    return out


def _short(value: Any) -> Any:
    """Text longer than 200 characters as its length and SHA-256: the golden files stay reviewable."""
    if isinstance(value, str) and len(value) > 200:
        return {"text_chars": len(value), "sha256": hashlib.sha256(value.encode("utf-8")).hexdigest()}
    return value


def read_parquet(body: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(body))


def check(name: str, data: Any) -> None:
    path = GOLDEN / f"{name}.json"
    actual = canonical(data)
    if UPDATE or not path.exists():
        if not UPDATE:
            raise AssertionError(f"{path} does not exist; run with THERMOCLINE_UPDATE_GOLDEN=1 to create it")
        path.write_text(json.dumps(actual, indent=1, sort_keys=True, ensure_ascii=True) + "\n")
        return
    expected = json.loads(path.read_text())
    assert actual == expected, f"output differs from {path.relative_to(GOLDEN.parent.parent)}"
