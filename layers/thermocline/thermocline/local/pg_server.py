"""A throwaway PostgreSQL server: the test suite's, and the demo's local Aurora.

PostgreSQL refuses to run as root, so as root the server is initialised and started as the ``postgres``
user (``runuser``), in a temporary directory, on 127.0.0.1 and a free port, with md5 password auth.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PASSWORD = "thermocline"


class PostgresUnavailableError(RuntimeError):
    pass


def _bin(name: str) -> str:
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise PostgresUnavailableError(f"{name} not found: install PostgreSQL (apt-get install postgresql)")
    return found


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    datadir: Path
    _as_user: list[str]

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{dbname}"

    def stop(self) -> None:
        subprocess.run(
            [*self._as_user, _bin("pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


def start(port: int) -> PostgresServer:
    root = Path(tempfile.mkdtemp(prefix="thermocline-pg-"))
    datadir = root / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    user = "postgres" if as_user else getpass.getuser()
    pwfile = root / "pw"
    pwfile.write_text(PASSWORD)
    if as_user:
        shutil.chown(pwfile, "postgres")
    run = [
        *as_user,
        _bin("initdb"),
        "-D",
        str(datadir),
        "-U",
        user,
        "--auth=md5",
        f"--pwfile={pwfile}",
        "-E",
        "UTF8",
        "--locale=C",
    ]
    result = subprocess.run(run, capture_output=True, text=True)
    if result.returncode != 0:
        raise PostgresUnavailableError(f"initdb failed: {result.stderr.strip()}")
    opts = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c full_page_writes=off -c max_connections=50"
    result = subprocess.run(
        [
            *as_user,
            _bin("pg_ctl"),
            "-D",
            str(datadir),
            "-o",
            opts,
            "-l",
            str(root / "log"),
            "-w",
            "-t",
            "60",
            "start",
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        raise PostgresUnavailableError(f"pg_ctl start failed: {result.stderr.strip()} {log[-2000:]}")
    server = PostgresServer("127.0.0.1", port, user, PASSWORD, datadir, as_user)
    deadline = time.monotonic() + 30
    import psycopg

    while True:
        try:
            psycopg.connect(server.dsn(), connect_timeout=2).close()
            return server
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                server.stop()
                raise
            time.sleep(0.2)
