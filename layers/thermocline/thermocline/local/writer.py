"""The demo's writes from a process of their own: ``python -m thermocline.local.writer``.

The demo's workload stands for the clients that write to a table while Lambda reads its stream. Written
from the demo's own process, the writers' boto3 calls (about 5,500 requests to build, sign, send and read)
and the delivery of the stream to the handlers took turns on one interpreter lock, on one core; from a
process of their own they run beside the delivery. The workload is the same: the writer replays it from
the demo's seed and clock (``workload.Workload``) and applies each phase with ``workload.run_phase``.

The process reads one phase name a line on stdin and answers JSON lines on stdout: ``{"written": n}`` per
request done, then ``{"done": count}`` (or ``{"error": text}``) at the end of the phase. It exits at the end
of its input, so it never outlives the demo.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from thermocline import aws
from thermocline.local.workload import WRITERS, Workload, run_phase


class WriterError(RuntimeError):
    """The writer process failed or went away."""


def _say(out: IO[str], **message: Any) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def serve(endpoint: str, table: str, workload: Workload, writers: int, lines: IO[str], out: IO[str]) -> int:
    ddb = aws.client("dynamodb", endpoint_url=endpoint)
    for line in lines:
        try:
            count = run_phase(ddb, table, workload, line.strip(), lambda n: _say(out, written=n), writers)
        except Exception as exc:  # noqa: BLE001 - the demo raises it, with this process's log
            _say(out, error=f"{type(exc).__name__}: {exc}")
            return 1
        _say(out, done=count)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--orders", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--now", required=True, help="the workload's clock, ISO 8601")
    parser.add_argument("--writers", type=int, default=WRITERS)
    args = parser.parse_args(argv)
    workload = Workload(orders=args.orders, seed=args.seed, now=dt.datetime.fromisoformat(args.now))
    return serve(args.endpoint, args.table, workload, args.writers, sys.stdin, sys.stdout)


class Writer:
    """The demo's side of a writer process: ``run_phase`` as ``workload.run_phase`` has it."""

    def __init__(self, endpoint: str, table: str, workload: Workload, log_path: Path) -> None:
        self.log_path = log_path
        command = [sys.executable, "-m", "thermocline.local.writer", "--endpoint", endpoint, "--table", table]
        command += ["--orders", str(workload.orders), "--seed", str(workload.seed)]
        command += ["--now", workload.now.isoformat()]
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def run_phase(self, phase: str, progress: Callable[[int], None] | None = None) -> int:
        """Apply ``phase`` of the workload in the writer process; the number of writes."""
        assert self.process.stdin is not None and self.process.stdout is not None  # noqa: S101 - piped
        try:
            self.process.stdin.write(phase + "\n")
            self.process.stdin.flush()
        except OSError:
            raise self._failed(phase) from None
        for line in self.process.stdout:
            message = json.loads(line)
            if "written" in message:
                if progress:
                    progress(int(message["written"]))
            elif "done" in message:
                return int(message["done"])
            else:
                raise self._failed(phase, str(message.get("error")))
        raise self._failed(phase)

    def _failed(self, phase: str, error: str | None = None) -> WriterError:
        log = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.is_file() else ""
        try:  # its output has ended or it said why: it is exiting
            status: int | None = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            status = None
        return WriterError(f"the writer failed in phase {phase!r}: {error or f'exit status {status}'}\n{log}")

    def close(self) -> None:
        """End the process: its input ends, so it exits; killed if it does not within a few seconds."""
        if self.process.stdin:
            with contextlib.suppress(BrokenPipeError):  # it has exited already (a failed phase)
                self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()


if __name__ == "__main__":
    sys.exit(main())
