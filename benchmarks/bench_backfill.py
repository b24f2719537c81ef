"""Backfill benchmark: memory and speed of turning one large export data file into lake files.

An export of N order items in ONE gzipped data file (DynamoDB writes one or more files per partition; a
big partition makes a big file) goes through ``services.backfill.run_file`` against moto's S3 over HTTP:
streamed through gzip, converted, decoded by the stream decoder, written as Parquet lake files. Each run
is a fresh process, so its peak resident memory (``ru_maxrss``) is its own. The baseline, in the same
run, is the same code reading the whole file as one chunk — what a reader without chunking holds.
Bounded memory means: the chunked peak stays flat as N grows; the baseline's grows with N.

Run: ``make bench`` (or ``python benchmarks/bench_backfill.py``).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

SIZES = [40_000, 160_000]
CHUNK = 20_000
ROOT = Path(__file__).resolve().parents[1]


def _item(n: int) -> dict:
    lines = [{"M": {"sku": {"S": f"SKU-{(n * 7 + i) % 997}"}, "qty": {"N": str(i + 1)}}} for i in range(3)]
    return {
        "Item": {
            "pk": {"S": f"USER#{n % 5000:05d}"},
            "sk": {"S": f"ORDER#{n:09d}"},
            "status": {"S": ("placed", "paid", "shipped")[n % 3]},
            "total": {"N": f"{n % 100000}.{n % 100:02d}"},
            "region": {"S": ("eu-west", "us-east", "ap-south")[n % 3]},
            "lines": {"L": lines},
        }
    }


def _write(s3: object, items: int) -> tuple[str, str]:
    from thermocline.local.exports import write_export

    return write_export(
        s3,
        "lake",
        f"_exports/dynamodb/Store-{items}",
        "arn:aws:dynamodb:us-east-1:1:table/Store",
        (_item(n) for n in range(items)),
        as_of=datetime(2026, 11, 20, tzinfo=UTC),
        items_per_file=items,
    )


def one(arn: str, summary_key: str, items: int, chunk: int) -> dict:
    """One measured run, in its own process: backfill the export's one data file."""
    from thermocline import aws
    from thermocline.services import backfill
    from thermocline.settings import BackfillSettings
    from thermocline.sources.dynamodb_export.progress import Plan
    from thermocline.sources.dynamodb_export.reader import read_export

    s3 = aws.client("s3")
    summary, files = read_export(s3, "lake", summary_key)
    plan = Plan(
        arn,
        "lake",
        summary_key,
        summary.table_arn,
        ["pk", "sk"],
        [{"key": files[0].key, "items": items}],
        chunk,
    )
    # Each run its own progress and schema prefixes: nothing is skipped as already done.
    settings = BackfillSettings(
        lake_bucket="lake",
        chunk_items=chunk,
        progress_prefix=f"_bench/{chunk}/",
        schema_prefix=f"_s/{chunk}/",
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    outcome = backfill.run_file(s3, settings, plan, summary, 0)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert outcome.finished and outcome.done.items == items, outcome
    return {
        "items": items,
        "chunk": chunk,
        "seconds": round(seconds, 2),
        "items_per_second": round(items / seconds),
        "gzip_mb": round(outcome.done.compressed_bytes / 1e6, 1),
        "peak_rss_mb": round(peak / 1024),
        "rss_growth_mb": round((peak - before) / 1024),
    }


def _measure(export: tuple[str, str], items: int, chunk: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", *export, str(items), str(chunk)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "ERROR"},
    )
    if out.returncode != 0:
        raise RuntimeError(f"measurement failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    from thermocline import aws
    from thermocline.local import moto_server

    server = moto_server.start()
    os.environ.update(
        AWS_ENDPOINT_URL=server.endpoint,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
    )
    try:
        s3 = aws.client("s3")
        s3.create_bucket(Bucket="lake")
        return _report({items: _write(s3, items) for items in SIZES})
    finally:
        server.stop()


def _report(exports: dict[int, tuple[str, str]]) -> int:
    print(f"backfill of one gzipped export data file, chunks of {CHUNK:,} items vs the whole file at once")
    print(
        f"{'items':>9} {'gzip MB':>8} {'chunked: s':>11} {'items/s':>9} {'peak+ MB':>9} | {'whole: s':>9} {'peak+ MB':>9}"
    )
    for items in SIZES:
        chunked = _measure(exports[items], items, CHUNK)
        whole = _measure(exports[items], items, items)
        print(
            f"{items:>9,} {chunked['gzip_mb']:>8} {chunked['seconds']:>11} {chunked['items_per_second']:>9,} "
            f"{chunked['rss_growth_mb']:>9} | {whole['seconds']:>9} {whole['rss_growth_mb']:>9}"
        )
    print("peak+ MB: growth of the process's peak resident memory during the backfill of the file")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--one":
        print(json.dumps(one(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))))
        sys.exit(0)
    sys.exit(main())
