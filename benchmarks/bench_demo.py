"""``make demo`` at its default size: wall time and CPU, with the local stack's share of it.

Runs ``thermocline demo`` as ``make demo`` does (its default size, a fresh warehouse; state and copies of
the report in a temporary directory), then prints its wall time, the CPU of the demo process and of moto's
server (its child, so counted once it has exited), the stream delivery rate the demo measured and whether
the warehouse reconciled. Target: at most 60 s of wall time on a 2-core machine that runs nothing else;
on a busy host the CPU seconds are the steadier figure. Run: ``make bench`` or ``python
benchmarks/bench_demo.py [--orders N] [--strict]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 60.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, help="the demo's --orders (default: the demo's default)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args()
    cli = Path(sys.executable).parent / "thermocline"
    with tempfile.TemporaryDirectory() as tmp:
        command = [str(cli), "demo", "--state", f"{tmp}/state", "--out", f"{tmp}/out"]
        if args.orders:
            command += ["--orders", str(args.orders)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "COLUMNS": "100"})
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0 or not Path(f"{tmp}/out/demo-summary.json").is_file():
            print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
            print(f"demo: FAILED (exit {done.returncode})")
            return 1
        summary = json.loads(Path(f"{tmp}/out/demo-summary.json").read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    verdict = "ok" if wall <= TARGET_SECONDS else f"MISSED (target <= {TARGET_SECONDS:.0f} s)"
    print(
        f"demo: {summary['orders']:,} orders, {summary['stream_records']:,} stream records,"
        f" reconciled={summary['reconciled']}"
    )
    print(f"  wall {wall:6.1f} s  {verdict}")
    print(
        f"  CPU  {cpu:6.1f} s (demo + moto's server; {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})"
    )
    print(
        f"  stream delivered at {summary['ingest_records_per_second']:,.0f} records/s; phases {summary['phase_seconds']}"
    )
    return 1 if (args.strict and wall > TARGET_SECONDS) or not summary["reconciled"] else 0


if __name__ == "__main__":
    sys.exit(main())
