"""scripts/redshift_smoke.py runs every question and prints an answer for each, even where one fails.

No Redshift is reachable here: Redshift is played by ``data_api_fake`` (DuckDB behind a real botocore
client), which answers some questions with errors — the script must report them, classified, and go on.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.data_api_fake import DataApiOnDuckDB, TrackingDuckDB
from thermocline import aws

ROOT = Path(__file__).resolve().parents[2]


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("redshift_smoke", ROOT / "scripts" / "redshift_smoke.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.moto
def test_every_question_gets_an_answer(aws_env: str, tmp_path: Path, monkeypatch, capsys) -> None:
    smoke = _script()
    client = aws.client("redshift-data")
    DataApiOnDuckDB(client, TrackingDuckDB(str(tmp_path / "r.duckdb")))
    monkeypatch.setattr(smoke.time, "sleep", lambda _: None)
    monkeypatch.setattr(smoke, "make_client", lambda name: client)
    assert smoke.main(["--workgroup", "analytics-wg"]) == 0
    answers = json.loads(capsys.readouterr().out)
    assert set(answers) == {"json_parse_numbers", "query_ids", "error_texts", "bad_parquet"}
    assert set(answers["json_parse_numbers"]) == {"38 digits", "1E+125"}
    assert answers["error_texts"]["invalid JSON"]["classified_as"] == "data"
    assert answers["error_texts"]["ALTER COLUMN TYPE in a transaction block"]["status"] == "FAILED"
    assert answers["query_ids"]["data_api"]["RedshiftPid"] == 1073815123
    assert answers["bad_parquet"].startswith("skipped")
