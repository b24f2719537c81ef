"""A stream batch's S3 requests: one after another (before) and side by side (thermocline.concurrency).

StreamIngestFunction reads the recorded schema of every table a batch routes to and writes one lake file
per table; a Lambda function is billed for the time it waits on those requests. This runs
``handle_stream_event`` on the single-table workload (``single_table.py``, 1,000 records) with default
routing (one table) and with the contract that routes it to six tables, against the local stack's moto
server over HTTP. moto answers in about a millisecond; S3 takes tens of milliseconds for a small request
(https://docs.aws.amazon.com/whitepapers/latest/s3-optimizing-performance-best-practices/timeouts-and-retries-for-latency-sensitive-applications.html),
so each request first waits ``--latency-ms`` (default 20) in the client, a model of that wait, stated as
such in the output. The baseline is the same code in the same run with one request at a time
(``MAX_CONCURRENT_REQUESTS = 1``). Prints wall milliseconds per batch, the best of ``--repeat``.

    python benchmarks/bench_ingest_io.py [--latency-ms 20] [--records 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
import single_table  # noqa: E402

from thermocline import concurrency  # noqa: E402
from thermocline.contracts import Contracts, parse_contracts  # noqa: E402
from thermocline.local import moto_server  # noqa: E402
from thermocline.observability import logger  # noqa: E402
from thermocline.runtime import Runtime  # noqa: E402
from thermocline.services.stream_ingest import handle_stream_event  # noqa: E402
from thermocline.settings import StreamIngestSettings  # noqa: E402


class _Metrics:
    def add_metric(self, **_: Any) -> None:
        pass


def _s3(endpoint: str, latency_s: float, requests: list[str]) -> Any:
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )

    def wait(event_name: str, **_: Any) -> None:
        requests.append(event_name.rsplit(".", 1)[-1])
        time.sleep(latency_s)

    s3.meta.events.register("before-send.s3", wait)
    return s3


def _ingest(event: dict[str, Any], settings: StreamIngestSettings, s3: Any, contracts: Contracts) -> None:
    response = handle_stream_event(
        event, settings=settings, s3_client=s3, contracts=contracts, runtime=Runtime(metrics=_Metrics())
    )
    assert response == {"batchItemFailures": []}, response


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    logger.setLevel(logging.WARNING)
    import yaml

    records = single_table.generate_records(args.records)
    routings = {
        "default routing": Contracts(),
        "contract routing": parse_contracts(yaml.safe_load(single_table.CONTRACT)),
    }
    server = moto_server.start()
    print(
        f"S3 latency modelled as {args.latency_ms:.0f} ms per request; {args.records:,} records;"
        f" load {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'routing':<18} {'S3 requests':>11}  {'one at a time ms':>16}  {'side by side ms':>15}  {'speed-up':>8}"
    )
    try:
        for name, contracts in routings.items():
            requests: list[str] = []
            s3 = _s3(server.endpoint, args.latency_ms / 1000, requests)
            bucket = f"bench-{name.split()[0]}"
            s3.create_bucket(Bucket=bucket)
            settings = StreamIngestSettings(lake_bucket=bucket)

            batch = functools.partial(_ingest, {"Records": records}, settings, s3, contracts)
            batch()  # records the schemas; the measured batches find them recorded, as a warm function does
            best: dict[int, float] = {}
            for _ in range(args.repeat):
                for concurrent in (1, 8):
                    concurrency.MAX_CONCURRENT_REQUESTS = concurrent
                    requests.clear()
                    start = time.perf_counter()
                    batch()
                    best[concurrent] = min(best.get(concurrent, float("inf")), time.perf_counter() - start)
            print(
                f"{name:<18} {len(requests):>11}  {best[1] * 1000:>16.0f}  {best[8] * 1000:>15.0f}"
                f"  {best[1] / best[8]:>7.1f}x"
            )
    finally:
        concurrency.MAX_CONCURRENT_REQUESTS = 8
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
