"""A relational table wider than a warehouse table can be: the columns past the limit keep their values
in ``_overflow``, as exported text, so the snapshot holds every value and its target fits Redshift."""

from __future__ import annotations

import json

import pyarrow as pa

from thermocline.lake.columns import SNAPSHOT_COLUMNS
from thermocline.lake.metadata import read_file_spec
from thermocline.sources.rds_export.layout import SourceColumn, TableExport
from thermocline.sources.rds_export.restore import MAX_SNAPSHOT_COLUMNS, TableRestorer


def test_columns_past_the_warehouse_limit_are_kept_in_overflow() -> None:
    width = 1700  # MySQL allows 4,096 columns; Redshift 1,600 with the bookkeeping ones
    columns = tuple(
        SourceColumn(
            f"c{i:04d}", "bigint" if i % 2 else "text", exported_type="INT64" if i % 2 else "binary (UTF8)"
        )
        for i in range(width)
    )
    export = TableExport("shop.public.wide", "COMPLETE", columns)
    # Sparse rows: row r fills columns r, r + 800 and r + 1600 (when they exist).
    rows = 100
    data = {}
    for i, c in enumerate(columns):
        values = [None] * rows
        for r in range(rows):
            if i in (r, r + 800, r + 1600):
                values[r] = i * 10 if i % 2 else f"text {i}"
        data[c.name] = pa.array(values, pa.int64() if i % 2 else pa.string())
    restorer = TableRestorer(export, "wide")
    restorer.observe(pa.table(data))
    lake, spilled = restorer.restore(
        pa.table(data), source="postgres:shop.public.wide", export_id="exp-1", snapshot_time=None
    )

    assert not spilled
    spec = read_file_spec(lake.schema)
    # The target: the columns, _overflow, _export_id and the five bookkeeping columns, one column left
    # for a type change (add, copy, drop, rename) within Redshift's 1,600.
    assert len(spec.target_columns()) == 1599
    assert lake.num_columns == MAX_SNAPSHOT_COLUMNS + 1 + len(SNAPSHOT_COLUMNS)
    kept = set(lake.column_names)
    for r, row in enumerate(lake.to_pylist()):
        overflow = json.loads(row["_overflow"]) if row["_overflow"] else {}
        for i in (r, r + 800, r + 1600):
            if i >= width:
                continue
            name = f"c{i:04d}"
            expected = i * 10 if i % 2 else f"text {i}"
            if name in kept:
                assert row[name] == expected and name not in overflow
            else:
                assert overflow[name] == str(expected)
    assert f"c{MAX_SNAPSHOT_COLUMNS - 1:04d}" in kept and f"c{MAX_SNAPSHOT_COLUMNS:04d}" not in kept
