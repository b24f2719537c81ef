"""The C fast path (``_speedups.c``), or None for each entry point when it is not built.

The C code decides only the well-formed common case and otherwise changes nothing, so the pure-Python
code it mirrors stays the reference for every result (tests/unit/test_speedups.py proves them equal):

* ``super_json(tag, value) -> str | None`` mirrors :func:`.super_json._json_value`: a SUPER value's JSON
  text, or None to defer to Python.
* ``stage_row(image, plan, row, spill) -> bool`` mirrors the fast paths of :func:`.staging.stage_record`:
  stages one item image's values as row ``row`` (into each column's buffer, or its list) and returns True,
  or returns False having changed nothing. It reads each attribute's *plan entry* (the interface between the two, documented
  once at :data:`.values.PlanEntry`).
* ``decode_records(records, state)`` mirrors :meth:`.decoder._Decoder.add` for a whole batch: the
  envelope, the route and the staging of each record it can decide, in C; every other record goes to
  the Python path, in order (``fast_loop`` builds the state it reads and hands it those records). The
  first record of a table is routed and its table opened by the Python path (:meth:`.decoder._Decoder.open`,
  the first half of ``add``), then staged in C.
* ``route_records(records, state)`` mirrors :func:`.envelope.target_tables`' loop: every record's
  warehouse table, each record it cannot decide handed to the Python path.
* ``arrow_column(values, n, kind, precision, scale, buffer)`` mirrors ``pa.array``/``cast`` in
  :func:`.batch._arrow_table`: a column's Arrow buffers, or None to build it the reference way.
* ``arrow_table(columns, n)``: every column of a table at once, as one Arrow C data interface array (a
  PyCapsule pyarrow imports) and each column's longest value in bytes (the SUPER sizes the lake metadata
  records), or None when a column must be built the reference way.
* ``ColumnBuffer(storage)``: the values C stages for one column (``_Batch.buffer_for``), kept as Arrow
  buffers instead of in the column's list; ``move_to(values)`` hands them to the Python path.

Callers look these names up on this module at call time, so a test can switch the fast path off.
``THERMOCLINE_PURE_PYTHON=1`` in the environment forces the reference path (debugging, comparing the
two). :data:`FAST_PATH_UNAVAILABLE` says why the fast path is not in use (None when it is): the service
reports it, since decoding is then several times slower.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

__all__ = [
    "FAST_PATH_UNAVAILABLE",
    "ColumnBuffer",
    "PURE_PYTHON",
    "arrow_column",
    "arrow_table",
    "decode_records",
    "route_records",
    "stage_row",
    "super_json",
]

PURE_PYTHON = "THERMOCLINE_PURE_PYTHON"
FAST_PATH_UNAVAILABLE: str | None = None
stage_row: Callable[..., bool] | None = None
super_json: Callable[[str, Any], str | None] | None = None
decode_records: Callable[[list[Any], list[Any]], None] | None = None
arrow_column: Callable[[list[Any], int, int, int, int, Any], Any] | None = None
ColumnBuffer: Callable[[int], Any] | None = None
arrow_table: Callable[[list[Any], int], Any] | None = None
route_records: Callable[[list[Any], list[Any]], None] | None = None
if os.environ.get(PURE_PYTHON) == "1":
    FAST_PATH_UNAVAILABLE = f"{PURE_PYTHON}=1"
else:
    try:
        from thermocline.sources.dynamodb_streams._speedups import (
            ColumnBuffer,
            arrow_column,
            arrow_table,
            decode_records,
            route_records,
            stage_row,
            super_json,
        )
    except ImportError as exc:
        FAST_PATH_UNAVAILABLE = f"thermocline.sources.dynamodb_streams._speedups did not load: {exc}"
