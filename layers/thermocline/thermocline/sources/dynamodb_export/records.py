"""Lines of an export's data files → records shaped like DynamoDB Streams records, for the stream decoder.

An export is decoded by the very decoder (and table contracts) that decodes the stream, so an item lands
in the same warehouse table, under the same column names and types, whichever way it came. Each line
becomes one record:

* full export, ``{"Item": {...}}``: an INSERT whose keys are the table's key attributes of the item;
* incremental export, ``{"Metadata": ..., "Keys": {...}, "NewImage": {...}, "OldImage": {...}}``: a
  MODIFY when ``NewImage`` is there (the item's state at the end of the window), else a REMOVE (the item
  was deleted within the window).
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html

Every record carries the export's sequence number (see :func:`~.manifest.export_sequence`) and the time
the rows describe as its event time, which is what the loader's seam compares (docs/backfill.md).
Pure: no I/O.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from thermocline.sources.dynamodb_export.manifest import ExportSummary

__all__ = ["BadLine", "to_stream_records"]


@dataclass(frozen=True)
class BadLine:
    """A line of a data file that is not an export item: quarantined with the reason, never dropped."""

    file: str
    line: int
    text: str
    reason: str


def to_stream_records(
    lines: Sequence[tuple[int, str]],
    summary: ExportSummary,
    key_attributes: Sequence[str],
    file_key: str,
) -> tuple[list[dict[str, Any]], list[BadLine]]:
    """``(line number, text)`` pairs of one data file → stream-shaped records and the lines that are not
    export items."""
    records: list[dict[str, Any]] = []
    bad: list[BadLine] = []
    envelope = {
        "eventSource": "aws:dynamodb",
        "eventSourceARN": summary.table_arn,
    }
    seq = summary.sequence
    # Parsing a chunk allocates a great many dicts and creates no cycles; the cyclic collector would re-walk
    # every one of them on each of its passes (a measured 2-3x of the whole backfill), as in decode_batch.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _convert(lines, summary, key_attributes, file_key, seq, envelope, records, bad)
    finally:
        if collecting:
            gc.enable()
    return records, bad


def _convert(
    lines: Sequence[tuple[int, str]],
    summary: ExportSummary,
    key_attributes: Sequence[str],
    file_key: str,
    seq: str,
    envelope: dict[str, str],
    records: list[dict[str, Any]],
    bad: list[BadLine],
) -> None:
    for number, text in lines:
        if not text.strip():
            continue
        try:
            doc = json.loads(text)
        except ValueError as exc:
            bad.append(BadLine(file_key, number, text, f"not JSON: {exc}"))
            continue
        try:
            name, body = _change(doc, summary.incremental, key_attributes)
        except ValueError as exc:
            bad.append(BadLine(file_key, number, text, str(exc)))
            continue
        body["SequenceNumber"] = seq
        body["ApproximateCreationDateTime"] = summary.as_of
        body["StreamViewType"] = "NEW_IMAGE"
        records.append(
            {
                **envelope,
                "eventID": f"{summary.export_id}:{file_key}:{number}",
                "eventName": name,
                "dynamodb": body,
            }
        )


def _change(doc: Any, incremental: bool, key_attributes: Sequence[str]) -> tuple[str, dict[str, Any]]:
    if not isinstance(doc, dict):
        raise ValueError("line is not a JSON object")
    if not incremental:
        item = doc.get("Item")
        if not isinstance(item, dict) or not item:
            raise ValueError('full export line has no "Item" object')
        missing = [a for a in key_attributes if a not in item]
        if missing:
            raise ValueError(f"item lacks its key attributes {missing}")
        return "INSERT", {"Keys": {a: item[a] for a in key_attributes}, "NewImage": item}
    keys = doc.get("Keys")
    if not isinstance(keys, dict) or not keys:
        raise ValueError('incremental export line has no "Keys" object')
    image = doc.get("NewImage")
    if image is None:
        return "REMOVE", {"Keys": keys}
    if not isinstance(image, dict):
        raise ValueError('"NewImage" is not an object')
    return "MODIFY", {"Keys": keys, "NewImage": image}
