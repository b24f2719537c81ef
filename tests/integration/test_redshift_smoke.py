"""``thermocline smoke`` asks every question and prints an answer for each, even where one fails.

No Redshift is reachable here: Redshift is played by ``data_api_fake`` (DuckDB behind a real botocore
client; S3 is moto's server over HTTP), which answers some questions with errors — the command must report
them, classified, and go on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.data_api_fake import PID, DataApiOnDuckDB, TrackingDuckDB
from thermocline import aws, cli

pytestmark = pytest.mark.moto
BUCKET = "lake"
ROLE = "arn:aws:iam::123456789012:role/copy"


@pytest.fixture
def redshift(aws_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[DataApiOnDuckDB]:
    """The fake answers the command's own redshift-data client (made by the one client factory); one
    fake per command run, in order."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    duck = TrackingDuckDB(str(tmp_path / "redshift.duckdb"), s3_client=s3)
    make_client = aws.client
    fakes: list[DataApiOnDuckDB] = []

    def client(service: str, **kwargs: Any) -> Any:
        made = make_client(service, **kwargs)
        if service == "redshift-data":
            fakes.append(DataApiOnDuckDB(made, duck))
        return made

    monkeypatch.setattr(aws, "client", client)
    return fakes


def _smoke(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = cli.main(["smoke", "--workgroup", "analytics-wg", "--region", "us-east-1", "--settle", "0", *args])
    return code, json.loads(capsys.readouterr().out)


def test_every_question_gets_an_answer(
    redshift: list[DataApiOnDuckDB], capsys: pytest.CaptureFixture[str]
) -> None:
    code, answers = _smoke(capsys, "--bucket", BUCKET, "--iam-role", ROLE)
    assert code == 0
    assert set(answers) == {"json_parse_numbers", "query_ids", "error_texts", "key_columns", "bad_parquet"}
    keys = answers["key_columns"]
    assert keys["ALTER COLUMN TYPE of a SORTKEY"]["status"] == "FAILED"
    assert keys["ALTER COLUMN TYPE of another column"]["status"] == "FINISHED"
    assert "view" in keys["DROP TABLE read by an ordinary view"]["error"]
    assert set(answers["json_parse_numbers"]) == {"38 digits", "1E+125"}
    assert answers["error_texts"]["invalid JSON"]["classified_as"] == "data"
    assert answers["error_texts"]["ALTER COLUMN TYPE in a transaction block"]["status"] == "FAILED"
    assert answers["query_ids"]["data_api"]["RedshiftPid"] == PID

    # The loader's own COPY of a broken file: failed as bad data, the file read from the error text,
    # the loader's sys_load_error_detail lookup asked (the fake's view is empty, as Redshift's often is).
    bad = answers["bad_parquet"]
    assert bad["describe"]["status"] == "FAILED" and bad["describe"]["classified_as"] == "data"
    assert bad["files_named_in_error"] == [bad["file"]]
    assert bad["sys_load_error_detail_rows"] == []
    copy = next(s for s in redshift[-1].statements if s.startswith("COPY"))
    assert "MANIFEST" in copy and ROLE in copy
    s3 = aws.client("s3")
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0, "the smoke objects are deleted again"


def test_without_a_bucket_the_copy_question_is_skipped_and_a_refused_call_exits_1(
    redshift: list[DataApiOnDuckDB], capsys: pytest.CaptureFixture[str]
) -> None:
    code, answers = _smoke(capsys)
    assert code == 0 and answers["bad_parquet"].startswith("skipped")

    # A bucket that does not exist: S3 refuses, that question says why, the others are still answered.
    code, answers = _smoke(capsys, "--bucket", "no-such-bucket", "--iam-role", ROLE)
    assert code == 1
    assert "NoSuchBucket" in answers["bad_parquet"]["not_asked"]
    assert answers["error_texts"]["invalid JSON"]["classified_as"] == "data"
