"""Writing lake files: the lake's Parquet settings (thermocline.lake.parquet) against pyarrow's defaults.

The tables are the decoded batches of bench_decode.py's workloads (orders; the single-table design with
default routing, one 50-column table, and with a contract, six tables), at 1,000 and 10,000 records. Both
sides stamp the lake metadata (``with_lake_metadata``) and write every table of the batch to Parquet
bytes; the baseline is ``pq.write_table`` with Snappy and pyarrow's defaults otherwise (statistics and a
dictionary on every column, the Arrow schema stored: what the lake wrote before), timed in the same
process, alternating, on one core (Arrow's thread pools at 1). Prints CPU µs per record, the best of
``--repeat``, and the bytes written.

    python benchmarks/bench_lake_write.py [--sizes 1000,10000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_decode  # noqa: E402

from thermocline.lake.metadata import with_lake_metadata  # noqa: E402
from thermocline.lake.parquet import to_parquet_bytes  # noqa: E402
from thermocline.sources.dynamodb_streams import decode_batch  # noqa: E402


def _defaults(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy", coerce_timestamps="us", store_schema=True)
    return sink.getvalue()


WRITERS: dict[str, Callable[[pa.Table], bytes]] = {"pyarrow defaults": _defaults, "lake": to_parquet_bytes}


def _best(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    print(f"load {os.getloadavg()[0]:.1f}")
    print(
        f"{'workload':<32} {'batch':>6}  {'defaults µs/rec':>15}  {'lake µs/rec':>11}  {'bytes defaults -> lake':>24}"
    )
    for workload, (generate, contract) in bench_decode.WORKLOADS.items():
        contracts = bench_decode._contracts(contract) if contract else None
        for size in [int(s) for s in args.sizes.split(",")]:
            batches = [
                (b.arrow.replace_schema_metadata(None), b.schema)
                for b in decode_batch(generate(size), contracts).tables.values()
            ]
            best: dict[str, float] = {}
            for _ in range(3):
                for name, write in WRITERS.items():
                    seconds = _best(
                        lambda write=write, batches=batches: [
                            write(with_lake_metadata(a, s)) for a, s in batches
                        ],
                        args.repeat,
                    )
                    best[name] = min(best.get(name, float("inf")), seconds)
            sizes = {
                name: sum(len(write(with_lake_metadata(a, s))) for a, s in batches)
                for name, write in WRITERS.items()
            }
            before, after = best["pyarrow defaults"], best["lake"]
            print(
                f"{workload:<32} {size:>6}  {before / size * 1e6:>15.2f}  {after / size * 1e6:>11.2f}"
                f"  {sizes['pyarrow defaults']:>11,} -> {sizes['lake']:<10,}"
                f"  ({(after / before - 1) * 100:+.0f}% time, {(sizes['lake'] / sizes['pyarrow defaults'] - 1) * 100:+.0f}% bytes)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
