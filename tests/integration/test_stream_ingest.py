"""StreamIngestFunction against moto's S3 over real HTTP: lake files, quarantine, schemas, failures."""

from __future__ import annotations

import copy
import importlib.util
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import ROOT, load_event
from thermocline.aws import client
from thermocline.lake.metadata import read_lake_metadata
from thermocline.local.runtime import LambdaContext
from thermocline.runtime import Runtime
from thermocline.services.stream_ingest import handle_stream_event
from thermocline.settings import StreamIngestSettings

pytestmark = pytest.mark.moto

BUCKET = "lake"


@pytest.fixture
def s3(aws_env: str) -> Any:
    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET)
    return s3


@pytest.fixture
def settings() -> StreamIngestSettings:
    return StreamIngestSettings(lake_bucket=BUCKET)


def keys(s3: Any, prefix: str = "") -> list[str]:
    out: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return sorted(out)


def read_table(s3: Any, key: str) -> pa.Table:
    return pq.read_table(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()))


def test_demo_store_batch_lands_as_one_parquet_file_per_warehouse_table(s3: Any, settings: Any) -> None:
    response = handle_stream_event(load_event("dynamodb-store.json"), settings=settings, s3_client=s3)

    assert response == {"batchItemFailures": []}
    lake = keys(s3, "cdc/")
    tables = sorted({k.split("/")[1] for k in lake})
    assert tables == ["order_lines", "orders", "thermocline_store", "user_profiles", "users"]
    assert all("/dt=2025-11-24/" in k and k.endswith(".parquet") for k in lake)
    orders_key = next(k for k in lake if k.startswith("cdc/orders/"))
    orders = read_table(s3, orders_key)
    meta = read_lake_metadata(orders)
    assert meta["table"] == "orders"
    assert meta["primary_key"] == ["pk", "sk"]
    assert meta["columns"]["total"] == "DECIMAL(12,2)"
    assert meta["columns"]["created_at"] == "TIMESTAMP"
    assert meta["sort_key"] == ["created_at"]
    assert orders.column("status").to_pylist() == ["PLACED", "SHIPPED"]
    assert orders.column("_op").to_pylist() == ["I", "U"]
    # The same file read by a second engine.
    con = duckdb.connect()
    con.register("orders", orders)
    assert con.execute("SELECT sum(total), max(status) FROM orders").fetchone() == (
        Decimal("300.00"),
        "SHIPPED",
    )
    ttl = read_table(s3, next(k for k in lake if k.startswith("cdc/thermocline_store/")))
    assert ttl.column("_ttl_expired").to_pylist() == [True]
    assert ttl.column("_op").to_pylist() == ["D"]


def test_the_same_batch_delivered_twice_overwrites_its_own_files(s3: Any, settings: Any) -> None:
    event = load_event("dynamodb-store.json")
    handle_stream_event(event, settings=settings, s3_client=s3)
    first = keys(s3, "cdc/")
    handle_stream_event(copy.deepcopy(event), settings=settings, s3_client=s3)
    assert keys(s3, "cdc/") == first


def test_poison_records_are_quarantined_with_reason_and_the_good_ones_written(s3: Any, settings: Any) -> None:
    event = load_event("dynamodb-poison-record.json")
    response = handle_stream_event(event, settings=settings, s3_client=s3)

    assert response == {"batchItemFailures": []}
    quarantined = keys(s3, "quarantine/")
    assert len(quarantined) == 3
    bodies = [json.loads(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()) for k in quarantined]
    reasons = sorted(b["reason"] for b in bodies)
    assert any("unknown DynamoDB type tag 'X'" in r for r in reasons)
    assert any("not a number" in r for r in reasons)
    originals = {r["dynamodb"]["SequenceNumber"]: r for r in event["Records"]}
    for body in bodies:
        assert body["record"] == originals[body["record"]["dynamodb"]["SequenceNumber"]]
    (lake_key,) = keys(s3, "cdc/")
    assert read_table(s3, lake_key).column("v").to_pylist() == [1, 2]


def test_a_failed_lake_write_reports_the_lowest_sequence_number_of_its_rows(
    s3: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    real_put = s3.put_object

    def flaky_put(**kwargs: Any) -> Any:
        if kwargs["Key"].startswith("cdc/order_lines/"):
            raise ClientError(
                {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "PutObject"
            )
        return real_put(**kwargs)

    monkeypatch.setattr(s3, "put_object", flaky_put)
    event = load_event("dynamodb-store.json")
    response = handle_stream_event(event, settings=settings, s3_client=s3)

    lines = [r for r in event["Records"] if "#LINE#" in r["dynamodb"]["Keys"]["sk"]["S"]]
    lowest = min(r["dynamodb"]["SequenceNumber"] for r in lines)
    assert response == {"batchItemFailures": [{"itemIdentifier": lowest}]}
    assert not keys(s3, "cdc/order_lines/")
    assert keys(s3, "cdc/orders/")


def test_schema_mapping_is_recorded_and_never_renamed(s3: Any, settings: Any) -> None:
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/People/stream/2026-01-01T00:00:00.000"

    def batch(seq: int, attrs: dict[str, Any]) -> dict[str, Any]:
        return {
            "Records": [
                {
                    "eventName": "INSERT",
                    "eventSourceARN": arn,
                    "dynamodb": {
                        "Keys": {"id": {"S": "p1"}},
                        "NewImage": {"id": {"S": "p1"}, **attrs},
                        "SequenceNumber": str(10**20 + seq),
                        "ApproximateCreationDateTime": 1_700_000_000,
                    },
                }
            ]
        }

    handle_stream_event(batch(1, {"email": {"S": "a@x"}}), settings=settings, s3_client=s3)
    handle_stream_event(
        batch(2, {"Email": {"S": "b@x"}, "email": {"S": "c@x"}}), settings=settings, s3_client=s3
    )
    recorded = json.loads(s3.get_object(Bucket=BUCKET, Key="_schemas/people.json")["Body"].read())
    assert {c: v["attribute"] for c, v in recorded["columns"].items()} == {
        "id": "id",
        "email": "email",
        "email_2": "Email",
    }
    second = read_table(s3, keys(s3, "cdc/people/")[-1])
    assert second.column("email").to_pylist() == ["c@x"]
    assert second.column("email_2").to_pylist() == ["b@x"]


def test_the_lambda_handler_runs_every_sample_event(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("LAKE_BUCKET", BUCKET)
    spec = importlib.util.spec_from_file_location(
        "stream_ingest_app", ROOT / "functions/stream_ingest/app.py"
    )
    assert spec and spec.loader
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    for path in sorted(Path(ROOT / "events").glob("dynamodb-*.json")):
        event = json.loads(path.read_text())
        context = LambdaContext("StreamIngestFunction")
        assert app.lambda_handler(event, context) == {"batchItemFailures": []}, path.name
    assert keys(s3, "cdc/")


def people_batch(seq: int, attrs: dict[str, Any], when: int = 1_700_000_000) -> dict[str, Any]:
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/People/stream/2026-01-01T00:00:00.000"
    return {
        "Records": [
            {
                "eventName": "INSERT",
                "eventSourceARN": arn,
                "dynamodb": {
                    "Keys": {"id": {"S": f"p{seq}"}},
                    "NewImage": {"id": {"S": f"p{seq}"}, **attrs},
                    "SequenceNumber": str(10**20 + seq),
                    "ApproximateCreationDateTime": when,
                },
            }
        ]
    }


def test_a_concurrent_schema_change_is_merged_never_overwritten(
    s3: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle_stream_event(people_batch(1, {"email": {"S": "a@x"}}), settings=settings, s3_client=s3)
    real_put = s3.put_object
    raced = []

    def racing_put(**kwargs: Any) -> Any:
        if kwargs["Key"] == "_schemas/people.json" and not raced:
            # Another shard's invocation records "Email" first, between our read and our write.
            raced.append(True)
            other = handle_stream_event(
                people_batch(2, {"Email": {"S": "B@X"}}), settings=settings, s3_client=s3
            )
            assert other == {"batchItemFailures": []}
        return real_put(**kwargs)

    monkeypatch.setattr(s3, "put_object", racing_put)
    response = handle_stream_event(people_batch(3, {"EMAIL": {"S": "C@X"}}), settings=settings, s3_client=s3)

    assert response == {"batchItemFailures": []}
    recorded = json.loads(s3.get_object(Bucket=BUCKET, Key="_schemas/people.json")["Body"].read())
    assert {c: v["attribute"] for c, v in recorded["columns"].items()} == {
        "id": "id",
        "email": "email",
        "email_2": "Email",
        "email_3": "EMAIL",
    }
    newest = read_table(s3, keys(s3, "cdc/people/")[-1])
    assert newest.column("email_3").to_pylist() == ["C@X"]


def test_a_quarantine_that_cannot_be_written_is_retried_not_lost(
    s3: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import EndpointConnectionError

    real_put = s3.put_object

    def no_quarantine(**kwargs: Any) -> Any:
        if kwargs["Key"].startswith("quarantine/"):
            raise EndpointConnectionError(endpoint_url="http://s3")
        return real_put(**kwargs)

    monkeypatch.setattr(s3, "put_object", no_quarantine)
    event = load_event("dynamodb-poison-record.json")
    response = handle_stream_event(event, settings=settings, s3_client=s3)
    first_poison = event["Records"][1]["dynamodb"]["SequenceNumber"]
    assert response == {"batchItemFailures": [{"itemIdentifier": first_poison}]}


def test_an_unreachable_schema_store_retries_the_whole_batch(
    s3: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    def unavailable(**kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "try later"}}, "GetObject")

    monkeypatch.setattr(s3, "get_object", unavailable)
    event = load_event("dynamodb-store.json")
    response = handle_stream_event(event, settings=settings, s3_client=s3)
    assert response == {
        "batchItemFailures": [{"itemIdentifier": event["Records"][0]["dynamodb"]["SequenceNumber"]}]
    }
    assert not keys(s3, "cdc/")


def test_a_batch_across_midnight_writes_one_file_per_event_date(s3: Any, settings: Any) -> None:
    event = people_batch(1, {"v": {"N": "1"}}, when=1_764_115_199)  # 2025-11-25T23:59:59Z
    event["Records"] += people_batch(2, {"v": {"N": "2"}}, when=1_764_115_200)["Records"]
    handle_stream_event(event, settings=settings, s3_client=s3)
    lake = keys(s3, "cdc/people/")
    assert [k.split("/")[2] for k in lake] == ["dt=2025-11-25", "dt=2025-11-26"]
    assert [read_table(s3, k).column("v").to_pylist() for k in lake] == [[1], [2]]


def test_metrics_count_records_files_bytes_quarantine_lag_and_missing_images(s3: Any, settings: Any) -> None:
    from datetime import UTC, datetime

    from aws_lambda_powertools import Metrics

    metrics = Metrics(namespace="ThermoclineTest", service="test")
    metrics.clear_metrics()
    event = load_event("dynamodb-poison-record.json")
    event["Records"] += load_event("dynamodb-keys-only.json")["Records"]
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    handle_stream_event(
        event, settings=settings, s3_client=s3, runtime=Runtime(clock=lambda: now, metrics=metrics)
    )
    emf = metrics.serialize_metric_set()
    values = {m["Name"]: sum(emf[m["Name"]]) for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    metrics.clear_metrics()
    assert values["RecordsReceived"] == 8
    assert values["RecordsQuarantined"] == 5  # 3 poison records, 2 changes without a new image
    assert values["ChangesWithoutNewImage"] == 2
    assert values["LakeFilesWritten"] == 2
    assert values["RowsWritten"] == 3
    assert values["LakeBytesWritten"] > 0
    oldest = min(r["dynamodb"]["ApproximateCreationDateTime"] for r in event["Records"])
    assert values["IngestLag"] == (int(now.timestamp()) - oldest) * 1000


def test_an_event_that_is_not_a_streams_batch_is_refused(s3: Any, settings: Any) -> None:
    from thermocline.services.stream_ingest import InvalidStreamEventError

    with pytest.raises(InvalidStreamEventError):
        handle_stream_event({"detail-type": "Scheduled Event"}, settings=settings, s3_client=s3)
    assert handle_stream_event({"Records": []}, settings=settings, s3_client=s3) == {"batchItemFailures": []}


def test_values_too_large_for_a_warehouse_row_are_stored_whole_beside_the_lake(
    s3: Any, settings: Any
) -> None:
    long = "é" * 40_000  # 80,000 UTF-8 bytes
    handle_stream_event(people_batch(1, {"bio": {"S": long}}), settings=settings, s3_client=s3)
    (lake_file,) = [k for k in keys(s3, "cdc/people/") if k.endswith(".parquet")]
    (row,) = read_table(s3, lake_file).to_pylist()
    assert len(row["bio"].encode()) <= 65_535 and long.startswith(row["bio"])
    reference = json.loads(row["_overflow"])["bio"]["$oversize"]
    stored = s3.get_object(Bucket=BUCKET, Key=reference["key"])["Body"].read()
    assert reference["key"].startswith("cdc/people/_oversize/") and reference["key"].endswith(".json")
    assert json.loads(stored) == long


def test_a_failed_oversize_write_retries_the_batch_before_any_lake_file_references_it(
    s3: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    real_put = s3.put_object

    def no_oversize(**kwargs: Any) -> Any:
        if "/_oversize/" in kwargs["Key"]:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "reduce your rate"}}, "PutObject")
        return real_put(**kwargs)

    monkeypatch.setattr(s3, "put_object", no_oversize)
    event = people_batch(1, {"bio": {"S": "x" * 70_000}})
    event["Records"] = people_batch(2, {"v": {"N": "1"}})["Records"] + event["Records"]
    response = handle_stream_event(event, settings=settings, s3_client=s3)

    lowest = min(r["dynamodb"]["SequenceNumber"] for r in event["Records"])
    assert response == {"batchItemFailures": [{"itemIdentifier": lowest}]}
    assert not [k for k in keys(s3, "cdc/") if k.endswith(".parquet")]
