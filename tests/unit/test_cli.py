"""The CLI's input checks: a bad file gets one line naming the file and the problem, and exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
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
            json.dumps({"Records": [{**GOOD_RECORD, "eventSourceARN": ""}]}),
            "record 0 has no eventSourceARN",
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


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(argv)
    err = capsys.readouterr().err.strip()
    return status, err


def test_bad_arguments_get_one_line_and_status_2_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"Records": [GOOD_RECORD]}))
    unreadable = tmp_path / "secret.json"
    unreadable.write_text("{}")
    unreadable.chmod(0)
    a_file = tmp_path / "state-file"
    a_file.write_text("")
    bad_yaml = tmp_path / "contracts.yaml"
    bad_yaml.write_text("version: 1\nsources: [\n")
    contradictory = tmp_path / "two.yaml"
    contradictory.write_text(
        "version: 1\nsources:\n  - {table: A, routes: [{target: t, primary_key: [pk]}]}\n"
        "  - {table: B, routes: [{target: t, primary_key: [id]}]}\n"
    )
    state = tmp_path / "state"
    cases = [
        (["replay", str(tmp_path), "--state", str(state)], "is a directory"),
        (["replay", str(good), "--state", str(a_file)], "is not a directory"),
        (["replay", str(good), "--state", str(a_file / "sub")], "is not a directory"),
        (
            ["replay", str(good), "--state", str(state), "--contracts", str(bad_yaml)],
            "contracts.yaml:3:1: not valid YAML",
        ),
        (
            ["replay", str(good), "--state", str(state), "--contracts", str(contradictory)],
            "reached by two routes",
        ),
        (
            ["replay", str(good), "--state", str(state), "--contracts", str(tmp_path / "no.yaml")],
            "no such contracts",
        ),
        (
            ["invoke", "NoSuchFunction", "--event", str(good), "--state", str(state)],
            "no function 'NoSuchFunction'",
        ),
        (
            ["invoke", "StreamIngestFunction", "--event", str(tmp_path), "--state", str(state)],
            "is a directory",
        ),
    ]
    import os

    if os.geteuid() != 0:  # root reads any file
        cases.append((["replay", str(unreadable), "--state", str(state)], "cannot read (Permission denied)"))
    for argv, problem in cases:
        status, err = _run(argv, capsys)
        assert status == 2, argv
        assert len(err.splitlines()) == 1 and problem in err, (argv, err)
    assert not state.exists(), "nothing may be created when an argument is bad"


def test_help_documents_the_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["replay", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "exit status: 0 every record reached the warehouse; 1 records or lake files were quarantined" in out
    )
    assert "2 bad usage" in out


def test_get_records_output_needs_the_table_and_then_reads_as_a_lambda_event(tmp_path: Path) -> None:
    from thermocline.cli.replay import validate_stream_event
    from thermocline.cli.usage import UsageError

    record = {k: v for k, v in GOOD_RECORD.items() if k != "eventSourceARN"}
    record["dynamodb"] = {**record["dynamodb"], "ApproximateCreationDateTime": "2026-11-01T10:00:00+00:00"}
    captured = tmp_path / "get-records.json"
    captured.write_text(json.dumps({"Records": [record], "NextShardIterator": "AAAA"}))
    with pytest.raises(UsageError, match="pass --table NAME"):
        validate_stream_event(captured)
    event = validate_stream_event(captured, "Orders-Prod")
    assert event["Records"][0]["eventSourceARN"].endswith(":table/Orders-Prod/stream/captured")
    assert "NextShardIterator" not in event


@pytest.mark.parametrize(
    "command",
    [
        pytest.param([sys.executable, "-m", "thermocline.cli"], id="python -m thermocline.cli"),
        pytest.param([str(Path(sys.executable).with_name("thermocline"))], id="console script"),
    ],
)
def test_each_entry_point_prints_a_usage_error_as_one_line_not_a_traceback(
    tmp_path: Path, command: list[str]
) -> None:
    # Run as a program, the way a user runs it: under `python -m` the runner is `__main__`, and a
    # UsageError from a subcommand must still be the class `main` catches.
    state = tmp_path / "state"
    cases = [
        (["replay", str(tmp_path / "nope.json"), "--state", str(state)], "nope.json: no such file"),
        (["report", "run", "x", "--param", "oops", "--state", str(state)], "expected key=value"),
        (["backfill", "--table", "T", "--to", "2026-11-01", "--state", str(state)], "--to needs --from"),
    ]
    for argv, problem in cases:
        done = subprocess.run([*command, *argv], capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 2, (argv, done.stderr)
        assert "Traceback" not in done.stderr
        err = done.stderr.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"thermocline {argv[0]}: error: ") and problem in err[0]
    assert not state.exists()
