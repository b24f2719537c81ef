"""The CLI's input checks: a bad file gets one line naming the file and the problem, and exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from thermocline.cli import main

GOOD_RECORD = {
    "eventID": "1",
    "eventName": "INSERT",
    "eventSource": "aws:dynamodb",
    "awsRegion": "us-east-1",
    "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/T/stream/2026",
    "dynamodb": {
        "Keys": {"pk": {"S": "a"}},
        "NewImage": {"pk": {"S": "a"}},
        "SequenceNumber": "111",
        "SizeBytes": 1,
        "StreamViewType": "NEW_IMAGE",
    },
}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not JSON"),
        (json.dumps([1, 2]), "not a DynamoDB Streams event"),
        (json.dumps({"Records": []}), "no records"),
        (json.dumps({"Records": [{**GOOD_RECORD, "eventSource": "aws:sqs"}]}), "record 0: eventSource"),
        (
            json.dumps({"Records": [GOOD_RECORD, {**GOOD_RECORD, "eventName": "UPSERT"}]}),
            "record 1: eventName",
        ),
        (
            json.dumps({"Records": [{**GOOD_RECORD, "eventSourceARN": ""}]}),
            "eventSourceARN is missing",
        ),
        (json.dumps({"Records": [{**GOOD_RECORD, "dynamodb": {"Keys": {}, "SequenceNumber": "1"}}]}), "Keys"),
        (
            json.dumps({"Records": [{**GOOD_RECORD, "dynamodb": {"Keys": {"pk": {"S": "a"}}}}]}),
            "SequenceNumber",
        ),
    ],
)
def test_replay_rejects_a_non_streams_file_with_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, problem: str
) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"Records": [GOOD_RECORD]}))
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    state = tmp_path / "state"
    assert main(["replay", str(good), str(bad), "--state", str(state)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(bad) in err and problem in err
    assert not state.exists(), "nothing may be created when an input file is bad"


def test_replay_names_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "nope.json"), "--state", str(tmp_path)]) == 2
    assert "nope.json: no such file" in capsys.readouterr().err
