"""One-file ``thermocline replay``: start the local stack, ingest, load, summarise, stop.

    baseline: the same command with ``THERMOCLINE_CACHE=off``, as on a machine's first run: the template
              translated, moto's resource types listed and the stack deployed through moto's
              CloudFormation
    replay:   the command as a user runs it again: the stack remembered on disk is recreated through
              the S3, SQS, DynamoDB and SNS APIs without CloudFormation (thermocline/local/stack_snapshot.py)

Each run is a fresh ``python -m thermocline.cli replay events/dynamodb-update.json --state <new dir>``
process. Figures are wall seconds (what the user waits) and CPU seconds of the command and its moto
server (user + system of the children), the median of ``--repeat`` runs. The host's load average is
printed beside them: on a shared machine wall time follows the load, CPU time does not. Run: ``make bench``
or ``python benchmarks/bench_replay.py [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENT = ROOT / "events" / "dynamodb-update.json"
TARGET_SECONDS = 3.0


def _run(cache: str, state: Path) -> tuple[float, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["THERMOCLINE_CACHE"] = cache
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "thermocline.cli", "replay", str(EVENT), "--state", str(state)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"replay failed ({result.returncode}): {result.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        cache = base / "cache"
        _run(str(cache), base / "fill")  # fills the cache, as a first run does
        figures: dict[str, list[tuple[float, float]]] = {"baseline": [], "replay": []}
        for i in range(args.repeat):
            figures["baseline"].append(_run("off", base / f"b{i}"))
            figures["replay"].append(_run(str(cache), base / f"r{i}"))
    load = os.getloadavg()[0]
    medians = {
        name: tuple(statistics.median(x[j] for x in runs) for j in (0, 1)) for name, runs in figures.items()
    }
    for name, (wall, cpu) in medians.items():
        print(f"{name:<9} one-file replay: {wall:5.2f} s wall, {cpu:5.2f} s CPU (median of {args.repeat})")
    wall, cpu = medians["replay"]
    print(
        f"replay takes {wall / medians['baseline'][0]:.2f}x the baseline's wall time and "
        f"{cpu / medians['baseline'][1]:.2f}x its CPU time; "
        f"{'within' if wall <= TARGET_SECONDS else 'over'} the {TARGET_SECONDS:.0f} s target "
        f"(host load average {load:.1f} on {os.cpu_count()} CPUs)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
