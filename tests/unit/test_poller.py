"""Shaping stream records as Lambda delivers them, and ReportBatchItemFailures checkpoint semantics."""

from __future__ import annotations

from typing import Any

from thermocline.local.poller import StreamPoller, StreamReader, _failed_index, to_lambda_record

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-01-01T00:00:00.000"


def _wire_record(seq: str, image: dict[str, Any]) -> dict[str, Any]:
    """A record of GetRecords as DynamoDB Streams sends it (JSON: binary as base64, time in epoch seconds)."""
    return {
        "eventID": f"e{seq}",
        "eventName": "INSERT",
        "eventVersion": "1.0",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1795608005.25,
            "Keys": {"pk": {"S": "a"}},
            "NewImage": image,
            "SequenceNumber": seq,
            "SizeBytes": 10,
            "StreamViewType": "NEW_IMAGE",
        },
    }


def test_a_ttl_delete_carries_the_identity_as_lambda_spells_it() -> None:
    wire = _wire_record("100", {"pk": {"S": "a"}})
    wire["eventName"] = "REMOVE"
    wire["userIdentity"] = {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}
    record = to_lambda_record(wire, ARN, "us-east-1")
    assert record["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert "userIdentity" not in to_lambda_record(_wire_record("101", {"pk": {"S": "a"}}), ARN, "us-east-1")


def test_binary_stays_base64_text_and_time_becomes_whole_epoch_seconds_as_lambda_delivers() -> None:
    image = {
        "pk": {"S": "a"},
        "b": {"B": "AP8="},
        "bs": {"BS": ["AQ=="]},
        "m": {"M": {"inner": {"L": [{"B": "Ag=="}]}}},
    }
    record = to_lambda_record(_wire_record("100", image), ARN, "us-east-1")
    assert record["dynamodb"]["NewImage"] == image
    assert record["dynamodb"]["ApproximateCreationDateTime"] == 1795608005
    assert record["eventSourceARN"] == ARN
    assert record["eventVersion"] == "1.1"


def _batch(n: int) -> list[dict[str, Any]]:
    return [
        to_lambda_record(_wire_record(str(100 + i), {"pk": {"S": "a"}}), ARN, "us-east-1") for i in range(n)
    ]


def test_failed_index_is_the_first_reported_sequence_number() -> None:
    batch = _batch(5)
    assert _failed_index(batch, {"batchItemFailures": []}) is None
    assert _failed_index(batch, None) is None
    failures = {"batchItemFailures": [{"itemIdentifier": "103"}, {"itemIdentifier": "102"}]}
    assert _failed_index(batch, failures) == 2
    assert _failed_index(batch, {"batchItemFailures": [{"itemIdentifier": ""}]}) == 0
    assert _failed_index(batch, {"batchItemFailures": [{"itemIdentifier": "999"}]}) == 0


class _Streams:
    """A stream of fixed records: the function under test is the poller's delivery, not moto."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:  # noqa: N803
        return {"StreamDescription": {"Shards": [{"ShardId": "shard-1"}]}}

    def get_shard_iterator(self, **_: Any) -> dict[str, Any]:
        return {"ShardIterator": "0"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:  # noqa: N803
        start = int(ShardIterator)
        page = self.records[start : start + Limit]
        return {"Records": page, "NextShardIterator": str(start + len(page))}


def test_poller_retries_from_the_reported_record_and_then_delivers_everything_once() -> None:
    records = [_wire_record(str(100 + i), {"pk": {"S": "a"}}) for i in range(6)]
    seen: list[list[str]] = []
    failed_once: set[str] = set()

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        seqs = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        seen.append(seqs)
        if "102" in seqs and "102" not in failed_once:
            failed_once.add("102")
            return {"batchItemFailures": [{"itemIdentifier": "102"}]}
        return {"batchItemFailures": []}

    poller = StreamPoller(StreamReader(_Streams(records), ARN), invoke, batch_size=4)
    stats = poller.poll()
    assert seen == [["100", "101", "102", "103"], ["102", "103"], ["104", "105"]]
    assert stats.records == 6
    assert stats.retries == 1


def test_poller_gives_up_after_max_retries_and_reports_to_on_failure() -> None:
    records = [_wire_record(str(100 + i), {"pk": {"S": "a"}}) for i in range(2)]
    failures: list[dict[str, Any]] = []

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": "101"}]}

    poller = StreamPoller(
        StreamReader(_Streams(records), ARN), invoke, batch_size=10, max_retries=2, on_failure=failures.append
    )
    stats = poller.poll()
    assert stats.failed_batches == 1
    info = failures[0]["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == ("101", "101", 1)
    assert stats.records == 1


def test_mappings_sharing_a_reader_each_get_every_record_in_their_own_batches() -> None:
    """One read of the stream for two mappings (1000/500 in the template; 4 and 3 here), records arriving
    while they are delivered: whole batches go as soon as they are full, the rest when told to flush."""
    records = [_wire_record(str(100 + i), {"pk": {"S": "a"}}) for i in range(10)]
    stream = _Streams(records[:5])
    reader = StreamReader(stream, ARN)
    seen: dict[str, list[list[str]]] = {"lake": [], "hot": []}

    def recorder(name: str) -> Any:
        def invoke(event: dict[str, Any]) -> dict[str, Any]:
            seen[name].append([r["dynamodb"]["SequenceNumber"] for r in event["Records"]])
            return {"batchItemFailures": []}

        return invoke

    lake = StreamPoller(reader, recorder("lake"), batch_size=4)
    hot = StreamPoller(reader, recorder("hot"), batch_size=3)
    first = reader.read()
    lake.deliver(first, flush=False)
    hot.deliver(first, flush=False)
    assert seen == {"lake": [["100", "101", "102", "103"]], "hot": [["100", "101", "102"]]}
    stream.records.extend(records[5:])  # written meanwhile
    rest = reader.read()
    assert [r["dynamodb"]["SequenceNumber"] for _, batch in rest for r in batch] == [
        str(n) for n in range(105, 110)
    ]
    lake.deliver(rest)
    hot.deliver(rest)
    assert seen["lake"] == [["100", "101", "102", "103"], ["104", "105", "106", "107"], ["108", "109"]]
    assert seen["hot"] == [["100", "101", "102"], ["103", "104", "105"], ["106", "107", "108"], ["109"]]
    assert lake.stats.records == hot.stats.records == 10
