"""``thermocline cost``: the model's figures move the way the prices say, and every price is sourced."""

from __future__ import annotations

import re

from thermocline.ops.cost import Volumes, render, thermocline_lines, zero_etl_lines
from thermocline.ops.prices import PRICES, RECORDED_ON


def _total(lines) -> float:
    return sum(line.usd for line in lines)


def test_loads_every_minute_keep_the_warehouse_billed_all_month() -> None:
    minute = {line.what: line.usd for line in thermocline_lines(Volumes(writes_per_second=100))}
    # 8 RPU x 720 h x $0.375: the 60-second minimum makes every minute a billed minute.
    assert minute["Redshift Serverless, loads"] == 8 * 720 * PRICES["redshift_rpu_hour"].usd
    quarter = {
        line.what: line.usd
        for line in thermocline_lines(Volumes(writes_per_second=100, load_interval_seconds=900))
    }
    assert quarter["Redshift Serverless, loads"] == minute["Redshift Serverless, loads"] / 15


def test_more_writes_cost_more_and_zero_etl_refreshes_every_quarter_hour() -> None:
    small, large = Volumes(writes_per_second=10), Volumes(writes_per_second=1000)
    assert _total(thermocline_lines(large)) > _total(thermocline_lines(small))
    assert _total(zero_etl_lines(Volumes(writes_per_second=10, load_interval_seconds=900))) > 0


def test_every_price_has_a_source_and_the_report_lists_them_with_the_date() -> None:
    assert all(p.source.startswith("https://aws.amazon.com/") for p in PRICES.values())
    text = "\n".join(render(Volumes(writes_per_second=5)))
    assert f"recorded {RECORDED_ON}" in text
    for title in (
        "Thermocline:",
        "Kinesis Data Streams + Amazon Data Firehose:",
        "DynamoDB zero-ETL integration",
    ):
        assert re.search(rf"^{re.escape(title)}.*\$[\d,]+\.\d\d/month", text, re.M), title
    for name in PRICES:
        assert name in text
