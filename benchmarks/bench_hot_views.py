"""Hot views benchmark against a real redis-server: stream records applied to every shipped view per second.

10,000 order records (inserts of orders placed today and this month, then status and total updates of
half of them) go through ``apply_stream_batch`` in batches of 500, the template's batch size: pure record
→ change computation, then one guarded script call per view and chunk. The baseline, measured in the same
run on the same records, sends one script call per record and view (what a per-record handler would do).
Each is measured three times on an emptied Redis; the median is reported, and a redelivery of every batch
(every change skipped by its guard) is timed too.

Run: ``make bench`` (or ``python benchmarks/bench_hot_views.py``).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import sys
import time
from typing import Any

import redis

# The handler's per-batch log line and metrics would be the loudest part of the output.
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

from thermocline.contracts import load_contracts
from thermocline.hot.store import HotStore
from thermocline.hot.views import load_views
from thermocline.local import redis_server
from thermocline.runtime import Runtime
from thermocline.services.hot_views import apply_stream_batch

RECORDS = 10_000
BATCH = 500
REPEATS = 3
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/bench-store/stream/2026-01-01T00:00:00.000"
REGIONS = ["us-east", "us-west", "eu-central", "eu-west", "ap-south", "ap-northeast"]


def records(now: dt.datetime) -> list[dict[str, Any]]:
    rng = random.Random(3)
    out, images = [], []
    inserts = RECORDS * 2 // 3
    for n in range(inserts):
        created = now - dt.timedelta(hours=rng.uniform(0, 24 * 20))
        image = {
            "pk": {"S": f"USER#u{rng.randrange(2000):06d}"},
            "sk": {"S": f"ORDER#o{n:07d}"},
            "user_id": {"S": f"u{n % 2000:06d}"},
            "region": {"S": rng.choice(REGIONS)},
            "status": {"S": "PLACED"},
            "total": {"N": f"{rng.randint(199, 99999) / 100}"},
            "created_at": {"S": created.isoformat().replace("+00:00", "Z")},
        }
        images.append(image)
        out.append(_record(len(out), None, image))
    for image in rng.sample(images, RECORDS - inserts):
        new = {**image, "status": {"S": "PAID"}, "total": {"N": f"{rng.randint(199, 99999) / 100}"}}
        out.append(_record(len(out), image, new))
    return out


def _record(n: int, old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    body = {"SequenceNumber": str(10**20 + n), "Keys": {"pk": new["pk"], "sk": new["sk"]}, "NewImage": new}
    if old:
        body["OldImage"] = old
    return {"eventName": "MODIFY" if old else "INSERT", "eventSourceARN": ARN, "dynamodb": body}


def timed(store: HotStore, batches: list[list[dict[str, Any]]], now: dt.datetime) -> float:
    views, contracts = load_views(), load_contracts()
    runtime = Runtime(clock=lambda: now)
    started = time.perf_counter()
    for batch in batches:
        assert apply_stream_batch(batch, views, contracts, store, runtime) == {"batchItemFailures": []}
    return time.perf_counter() - started


def main() -> int:
    now = dt.datetime.now(dt.UTC)
    stream = records(now)
    batched = [stream[i : i + BATCH] for i in range(0, len(stream), BATCH)]
    one_by_one = [[r] for r in stream]
    server = redis_server.start()
    try:
        client = redis.Redis.from_url(server.url)
        store = HotStore(client)
        results: dict[str, list[float]] = {"batched": [], "per record": [], "redelivered": []}
        for _ in range(REPEATS):
            client.flushall()
            results["per record"].append(timed(store, one_by_one, now))
            client.flushall()
            results["batched"].append(timed(store, batched, now))
            results["redelivered"].append(timed(store, batched, now))
        print(f"{RECORDS:,} order records, {len(load_views())} views, batches of {BATCH}, real redis-server")
        base = statistics.median(results["per record"])
        for name, seconds in results.items():
            median = statistics.median(seconds)
            print(
                f"  {name:<12} {median:6.2f} s  {RECORDS / median:9,.0f} records/s  ({base / median:4.1f}x per record)"
            )
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
