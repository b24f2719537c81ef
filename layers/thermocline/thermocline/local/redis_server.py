"""Start and stop a real Redis (or Valkey) server: the local stand-in for ElastiCache.

The distribution's ``redis-server`` (``apt-get install redis-server``) or ``valkey-server``, on 127.0.0.1
and a free port, in a temporary directory, with persistence off (``--save ''``, no AOF): the views are a
cache rebuilt from the stream or the warehouse, never a source of truth.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from thermocline.local.moto_server import dying_with, free_port


class RedisServerError(RuntimeError):
    """No Redis server binary, or it did not start."""


@dataclass
class RedisServer:
    url: str
    process: subprocess.Popen[bytes]
    directory: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


def binary() -> str:
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/sbin:/usr/local/bin")
        if found:
            return found
    raise RedisServerError("redis-server not found: install it (apt-get install redis-server)")


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start(port: int | None = None, timeout: float = 20.0) -> RedisServer:
    """Start a Redis server on 127.0.0.1 and wait until it answers PING."""
    port = port or free_port()
    directory = Path(tempfile.mkdtemp(prefix="thermocline-redis-"))
    command = [
        binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(directory),
        "--save",
        "",
        "--appendonly",
        "no",
        "--logfile",
        str(directory / "redis.log"),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # A killed command never leaves a server behind.
        preexec_fn=dying_with(os.getpid()) if sys.platform == "linux" else None,  # noqa: PLW1509
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = directory / "redis.log"
            tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
            shutil.rmtree(directory, ignore_errors=True)
            raise RedisServerError(f"redis-server exited with status {process.returncode}: {tail}")
        if _answers(port):
            return RedisServer(f"redis://127.0.0.1:{port}/0", process, directory)
        time.sleep(0.05)
    process.kill()
    shutil.rmtree(directory, ignore_errors=True)
    raise RedisServerError(f"redis-server did not answer on 127.0.0.1:{port} within {timeout:.0f}s")
