"""Start and stop moto's server: the local stand-in for every AWS API."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class MotoServerError(RuntimeError):
    """moto's server did not start."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MotoServer:
    endpoint: str
    process: subprocess.Popen[bytes] | None
    log_path: Path | None = None

    def wait_up(self, timeout: float = 30.0) -> None:
        """Wait until the server answers (``start(wait=False)`` leaves that to the caller)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise MotoServerError(
                    f"moto_server exited with status {self.process.returncode} (see {self.log_path})"
                )
            if is_up(self.endpoint):
                return
            time.sleep(0.05)
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        raise MotoServerError(f"moto_server did not answer on {self.endpoint} within {timeout:.0f}s")

    def stop(self) -> None:
        # SIGKILL: moto keeps everything in memory, and on SIGTERM its server exits through interpreter
        # shutdown (tearing down every loaded service's models), about a second of a short command.
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far, read from /proc; None when it cannot be read
    (the process has exited, or the system has no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def is_up(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
            return True
    except OSError:
        return False


def dying_with(parent: int) -> Callable[[], None]:
    """A ``preexec_fn``: in the child, before exec, ask Linux to send SIGTERM when ``parent`` dies, so a
    killed command (even SIGKILL) never leaves a server behind (prctl(2), PR_SET_PDEATHSIG); and exit if
    it already has."""

    def arrange() -> None:
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != parent:
            os._exit(0)

    return arrange


def start(
    port: int | None = None,
    log_path: Path | None = None,
    timeout: float = 30.0,
    *,
    module: str = "thermocline.local.moto_app",
    wait: bool = True,
) -> MotoServer:
    """Start moto's server on 127.0.0.1 and wait until it answers. ``module`` runs it: by default moto's own
    server with a faster answer to GetRecords (thermocline/local/moto_app.py); ``moto.server`` is moto as
    released. ``wait=False`` returns at once: the caller does other work, then calls ``wait_up``."""
    port = port or free_port()
    endpoint = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", module, "-H", "127.0.0.1", "-p", str(port)]
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
    process = subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
        preexec_fn=dying_with(os.getpid()) if sys.platform == "linux" else None,  # noqa: PLW1509
    )
    server = MotoServer(endpoint, process, log_path)
    if wait:
        server.wait_up(timeout)
    return server
