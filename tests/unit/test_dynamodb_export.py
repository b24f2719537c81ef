"""DynamoDB export manifests and data lines, as AWS documents them, read into stream-shaped records."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest

from thermocline.sources.dynamodb_export import (
    ExportManifestError,
    export_sequence,
    is_export_sequence,
    parse_manifest_files,
    parse_summary,
    to_stream_records,
)
from thermocline.sources.dynamodb_streams import decode_batch

# The example of https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html
FULL = {
    "version": "2020-06-30",
    "exportArn": "arn:aws:dynamodb:us-east-1:123456789012:table/ProductCatalog/export/01234567890123-a1b2c3d4",
    "startTime": "2020-11-04T07:28:34.028Z",
    "endTime": "2020-11-04T07:33:43.897Z",
    "tableArn": "arn:aws:dynamodb:us-east-1:123456789012:table/ProductCatalog",
    "tableId": "12345a12-abcd-123a-ab12-1234abc12345",
    "exportTime": "2020-11-04T07:28:34.028Z",
    "s3Bucket": "ddb-productcatalog-export",
    "s3Prefix": "2020-Nov",
    "s3SseAlgorithm": "AES256",
    "s3SseKmsKeyId": None,
    "manifestFilesS3Key": "AWSDynamoDB/01234567890123-a1b2c3d4/manifest-files.json",
    "billedSizeBytes": 0,
    "itemCount": 8,
    "outputFormat": "DYNAMODB_JSON",
}
INCREMENTAL = {
    **FULL,
    "exportType": "INCREMENTAL_EXPORT",
    "exportFromTime": "2020-11-04T06:00:00.000Z",
    "exportToTime": "2020-11-04T07:00:00.000Z",
}


def test_a_full_export_summary_gives_its_time_files_and_sequence() -> None:
    summary = parse_summary(json.dumps(FULL))
    assert summary.export_id == "01234567890123-a1b2c3d4"
    assert summary.table_name == "ProductCatalog"
    assert summary.as_of == datetime(2020, 11, 4, 7, 28, 34, 28000, tzinfo=UTC)
    assert not summary.incremental
    # Manifest keys with or without the request's prefix resolve to the same object.
    assert summary.resolve(summary.manifest_files_key) == "2020-Nov/" + FULL["manifestFilesS3Key"]
    assert summary.resolve("2020-Nov/AWSDynamoDB/x/data/a.json.gz") == "2020-Nov/AWSDynamoDB/x/data/a.json.gz"
    lines = "\n".join(
        json.dumps(
            {
                "itemCount": n,
                "md5Checksum": "x",
                "etag": "y",
                "dataFileS3Key": f"AWSDynamoDB/e/data/{n}.json.gz",
            }
        )
        for n in (3, 5)
    )
    files = parse_manifest_files(lines + "\n", summary)
    assert [(f.key, f.item_count) for f in files] == [
        ("2020-Nov/AWSDynamoDB/e/data/3.json.gz", 3),
        ("2020-Nov/AWSDynamoDB/e/data/5.json.gz", 5),
    ]


def test_an_incremental_summary_describes_the_end_of_its_window() -> None:
    summary = parse_summary(json.dumps(INCREMENTAL))
    assert summary.incremental
    assert summary.as_of == datetime(2020, 11, 4, 7, 0, tzinfo=UTC)
    assert summary.export_from == datetime(2020, 11, 4, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"outputFormat": "ION"}, "not supported"),
        ({"exportTime": None}, "no 'exportTime'"),
        ({"exportTime": "yesterday"}, "not a time"),
        ({"manifestFilesS3Key": ""}, "no 'manifestFilesS3Key'"),
        ({"exportType": "SOMETIMES"}, "unknown exportType"),
    ],
)
def test_a_summary_that_is_not_what_dynamodb_writes_is_refused(change: dict, message: str) -> None:
    with pytest.raises(ExportManifestError, match=message):
        parse_summary(json.dumps({**FULL, **change}))


def test_a_broken_files_manifest_names_its_line() -> None:
    summary = parse_summary(json.dumps(FULL))
    with pytest.raises(ExportManifestError, match="line 2"):
        parse_manifest_files('{"dataFileS3Key": "a", "itemCount": 1}\n{"itemCount": 2}\n', summary)


def test_export_sequences_sort_below_every_stream_sequence_and_in_time_order() -> None:
    rng = random.Random(3)
    stream = [
        str(rng.randrange(10 ** (d - 1), 10**d)).rjust(40, "0") for d in range(21, 41) for _ in range(20)
    ]
    times = sorted(rng.randrange(0, 4 * 10**15) for _ in range(50))
    exports = [export_sequence(t) for t in times]
    assert exports == sorted(exports)
    assert max(exports) < min(stream)
    assert all(is_export_sequence(s) for s in exports) and not any(is_export_sequence(s) for s in stream)


def test_export_lines_become_records_the_stream_decoder_turns_into_lake_rows() -> None:
    full = parse_summary(json.dumps(FULL))
    lines = [
        (
            1,
            json.dumps(
                {"Item": {"Id": {"N": "101"}, "Title": {"S": "Book 101"}, "Tags": {"SS": ["a", "b"]}}}
            ),
        ),
        (2, "{not json"),
        (3, json.dumps({"Item": {"Title": {"S": "no key"}}})),
        (4, json.dumps({"Keys": {"Id": {"N": "1"}}})),
        (5, ""),
    ]
    records, bad = to_stream_records(lines, full, ["Id"], "data/a.json.gz")
    assert [(b.line, b.reason.split(":")[0]) for b in bad] == [
        (2, "not JSON"),
        (3, "item lacks its key attributes ['Id']"),
        (4, 'full export line has no "Item" object'),
    ]
    result = decode_batch(records)
    rows = result.tables["productcatalog"].arrow.to_pylist()
    assert rows == [
        {
            "id": 101,
            "title": "Book 101",
            "tags": '["a","b"]',
            "_overflow": None,
            "_op": "I",
            "_seq": full.sequence,
            "_event_time": full.as_of,
            "_ttl_expired": False,
            "_source": "dynamodb:ProductCatalog",
        }
    ]


def test_incremental_lines_are_the_new_image_or_a_delete() -> None:
    summary = parse_summary(json.dumps(INCREMENTAL))
    meta = {"Metadata": {"WriteTimestampMicros": {"N": "1604473200000000"}}}
    lines = [
        (
            1,
            json.dumps(
                {**meta, "Keys": {"Id": {"N": "1"}}, "NewImage": {"Id": {"N": "1"}, "Price": {"N": "9.5"}}}
            ),
        ),
        (2, json.dumps({**meta, "Keys": {"Id": {"N": "2"}}, "OldImage": {"Id": {"N": "2"}}})),
    ]
    records, bad = to_stream_records(lines, summary, ["Id"], "data/b.json.gz")
    assert not bad
    assert [r["eventName"] for r in records] == ["MODIFY", "REMOVE"]
    rows = decode_batch(records).tables["productcatalog"].arrow.to_pylist()
    assert [(r["id"], r["_op"], r["_event_time"]) for r in rows] == [
        (1, "U", summary.as_of),
        (2, "D", summary.as_of),
    ]
