"""``make demo`` at its default size: wall time and CPU, with the local stack's share of it.

Runs ``thermocline demo`` as ``make demo`` does (its default size, a fresh warehouse; state and copies of
the report in a temporary directory), then prints its wall time, the CPU of the demo process and, read
from ``/proc`` while it runs, of moto's server, the stream delivery rate the demo measured and whether the
warehouse reconciled. Target: at most 60 s of wall time on a 2-core machine that runs nothing else;
on a busy host the CPU seconds are the steadier figure. Run: ``make bench`` or ``python
benchmarks/bench_demo.py [--orders N] [--strict]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from thermocline.local.moto_server import cpu_seconds

TARGET_SECONDS = 60.0


def _watch(demo: subprocess.Popen[str], seen: dict[int, float]) -> None:
    """The CPU of the demo process and of its children (moto's server, the workload's writer, Redis,
    PostgreSQL), as last read before each exits."""
    while demo.poll() is None:
        cpu = cpu_seconds(demo.pid)
        if cpu is not None:
            seen[demo.pid] = cpu
        for task in Path(f"/proc/{demo.pid}/task").glob("*/children"):
            for pid in map(int, task.read_text().split()):
                _remember(pid)
                cpu = cpu_seconds(pid)
                if cpu is not None:
                    seen[pid] = cpu
        time.sleep(0.5)


_KINDS: dict[int, str] = {}


def _kind(pid: int) -> str:
    """moto's server, the demo's writer process, or another child (Redis, PostgreSQL)."""
    return _KINDS.get(pid, "other")


def _remember(pid: int) -> None:
    if pid not in _KINDS:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return
        kind = "other"
        if "thermocline.local.moto_app" in command or "moto.server" in command:
            kind = "moto"
        elif "thermocline.local.writer" in command:
            kind = "writer"
        _KINDS[pid] = kind


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
        start = time.perf_counter()
        demo = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "COLUMNS": "100"},
        )
        cpu: dict[int, float] = {}
        watcher = threading.Thread(target=_watch, args=(demo, cpu), daemon=True)
        watcher.start()
        output, _ = demo.communicate()
        watcher.join()
        wall = time.perf_counter() - start
        done = subprocess.CompletedProcess(command, demo.returncode, output, "")
        if done.returncode != 0 or not Path(f"{tmp}/out/demo-summary.json").is_file():
            print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
            print(f"demo: FAILED (exit {done.returncode})")
            return 1
        summary = json.loads(Path(f"{tmp}/out/demo-summary.json").read_text())
    demo_cpu = cpu.pop(demo.pid, 0.0)
    kinds = {pid: _kind(pid) for pid in cpu}
    demo_cpu += sum(seconds for pid, seconds in cpu.items() if kinds[pid] == "writer")
    moto_cpu = sum(seconds for pid, seconds in cpu.items() if kinds[pid] == "moto")
    other_cpu = sum(seconds for pid, seconds in cpu.items() if kinds[pid] == "other")
    verdict = "ok" if wall <= TARGET_SECONDS else f"MISSED (target <= {TARGET_SECONDS:.0f} s)"
    print(
        f"demo: {summary['orders']:,} orders, {summary['stream_records']:,} stream records,"
        f" reconciled={summary['reconciled']}"
    )
    print(f"  wall {wall:6.1f} s  {verdict}")
    print(
        f"  CPU  {demo_cpu + moto_cpu:6.1f} s: demo {demo_cpu:.1f} s (its writer process included),"
        f" moto's server {moto_cpu:.1f} s; Redis and PostgreSQL {other_cpu:.1f} s"
        f" ({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})"
    )
    print(f"  stream delivered at {summary['ingest_records_per_second']:,.0f} records/s")
    print(f"  {'step':<24} {'wall s':>7} {'demo CPU':>9} {'moto CPU':>9}")
    for step, wall_s in summary["step_seconds"].items():
        cpu_s = summary["step_cpu_seconds"].get(step, {})
        print(f"  {step:<24} {wall_s:7.1f} {cpu_s.get('demo', 0):9.1f} {cpu_s.get('moto', 0):9.1f}")
    return 1 if (args.strict and wall > TARGET_SECONDS) or not summary["reconciled"] else 0


if __name__ == "__main__":
    sys.exit(main())
