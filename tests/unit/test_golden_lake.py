"""The lake output of every sample event and of the benchmark workload, pinned (tests/golden/).

What the decoder produces for a batch — each table's Parquet file read back (Arrow schema with
nullability, the ``thermocline`` metadata, every row), the recorded schemas, rejects with their reasons
and oversize values — must not change when the code is moved around. Decoded with the packaged contracts
and the spill limit, as StreamIngestFunction decodes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from typing import Any

import pytest

from tests.conftest import EVENTS, ROOT
from tests.golden_files import check, lake_file, read_parquet
from thermocline.contracts import load_contracts
from thermocline.lake.keys import oversize_key
from thermocline.lake.parquet import to_parquet_bytes
from thermocline.lake.types import VARCHAR_MAX
from thermocline.sources.dynamodb_streams import decode_batch

STREAM_EVENTS = sorted(p.name for p in EVENTS.glob("dynamodb-*.json"))


def decoded(records: list[Any], *, rows: str = "all") -> dict[str, Any]:
    result = decode_batch(
        records,
        load_contracts(None),
        spill_over=VARCHAR_MAX,
        oversize_key=lambda table, digest: oversize_key("cdc/", table, digest),
    )
    return {
        "tables": {
            table: {
                **lake_file(read_parquet(to_parquet_bytes(batch.arrow)), rows=rows),
                "sequence_numbers": batch.sequence_numbers if rows == "all" else len(batch.sequence_numbers),
            }
            for table, batch in result.tables.items()
        },
        "schemas": {table: schema.to_json() for table, schema in result.schemas.items()},
        "changed_schemas": sorted(result.changed_schemas),
        "rejects": [[r.index, r.reason, r.table, r.sequence_number, r.event_time_us] for r in result.rejects],
        "imageless": [list(i) for i in result.imageless],
        "oversize": {key: hashlib.sha256(data).hexdigest() for key, data in result.oversize.items()},
        "truncated_values": result.truncated_values,
        "overflow_values": result.overflow_values,
        "widened": [list(w) for w in result.widened],
        "contract_conflicts": [list(c) for c in result.contract_conflicts],
        "oldest_event_us": result.oldest_event_us,
    }


def test_there_are_stream_events_to_pin() -> None:
    assert len(STREAM_EVENTS) >= 5


@pytest.mark.parametrize("name", STREAM_EVENTS)
def test_lake_output_of_each_sample_event_is_unchanged(name: str) -> None:
    records = json.loads((EVENTS / name).read_text())["Records"]
    check(f"lake-{name.removesuffix('.json')}", decoded(records))


def _benchmark_records(n: int) -> list[dict[str, Any]]:
    spec = importlib.util.spec_from_file_location("bench_decode", ROOT / "benchmarks" / "bench_decode.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_records(n)  # type: ignore[no-any-return]


def test_lake_output_of_the_benchmark_workload_is_unchanged() -> None:
    check("lake-benchmark-10000", decoded(_benchmark_records(10_000), rows="digest"))


def test_oversize_values_and_overflow_are_unchanged() -> None:
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/Docs/stream/2026-01-01T00:00:00.000"
    big = "x" * (VARCHAR_MAX + 10)
    records = [
        {
            "eventName": name,
            "eventSourceARN": arn,
            "dynamodb": {
                "ApproximateCreationDateTime": 1767225600 + i,
                "Keys": {"id": {"S": f"doc-{i}"}},
                "NewImage": image,
                "SequenceNumber": str(1000 + i),
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
        }
        for i, (name, image) in enumerate(
            [
                ("INSERT", {"id": {"S": "doc-0"}, "n": {"N": "1"}, "body": {"M": {"text": {"S": big}}}}),
                ("MODIFY", {"id": {"S": "doc-1"}, "n": {"N": "1.5"}, "title": {"S": big}}),
                ("INSERT", {"id": {"S": "doc-2"}, "n": {"N": "1e300"}, "tags": {"SS": ["a", "b"]}}),
            ]
        )
    ]
    check("lake-oversize", decoded(records))
