"""The shim's listener: one thread per client connection, each with its own PostgreSQL connection."""

from __future__ import annotations

import datetime as dt
import itertools
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import psycopg

from tests.integration.redshift_shim import redshift
from tests.integration.redshift_shim.session import Session
from thermocline.warehouse.errors import LoadErrorDetail


@dataclass
class RedshiftShim:
    """Listens on 127.0.0.1:``port`` and plays Redshift with the PostgreSQL database at ``dsn``.

    ``s3_client`` reads what COPY loads. ``executed`` is every statement the clients ran or tried to run,
    as they sent it (the SQL the engine sends to Redshift), in order; ``startup_params_seen`` what each
    client sent on connecting.
    """

    dsn: str
    s3_client: Any = None
    port: int = 0
    executed: list[str] = field(default_factory=list)
    startup_params_seen: list[dict[bytes, bytes]] = field(default_factory=list)
    copy_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    _listener: socket.socket | None = None
    _sockets: list[socket.socket] = field(default_factory=list)

    def start(self) -> RedshiftShim:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for sql in redshift.CATALOG:
                conn.execute(sql)  # type: ignore[arg-type]
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def url(self, **params: str) -> str:
        """A ``redshift://`` URL for this shim with the database's user, password and name."""
        parts = urlsplit(self.dsn)
        query = "&".join(f"{k}={v}" for k, v in {"ssl": "0", **params}.items())
        return f"redshift://{parts.username}:{parts.password}@127.0.0.1:{self.port}{parts.path}?{query}"

    def stop(self) -> None:
        for sock in [self._listener, *self._sockets]:
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass

    def __enter__(self) -> RedshiftShim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def record_load_errors(
        self, session_id: int, query_id: int, started: dt.datetime, details: Sequence[LoadErrorDetail]
    ) -> None:
        """Rows of ``sys_load_error_detail``, committed apart from the client's transaction."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for d in details:
                conn.execute(
                    redshift.RECORD_LOAD_ERROR,
                    (session_id, query_id, started, d.file, d.line, d.column, (d.reason or "")[:512]),
                )

    def refused_column(self, columns: list[tuple[str, int, int]], row: list[bytes | None]) -> str | None:
        """The first of ``columns`` (name, type oid, modifier) whose type refuses its value in ``row``,
        tried one by one in a throwaway table (some errors, "value too long" among them, name no column)."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for (name, oid, typmod), value in zip(columns, row, strict=True):
                (type_sql,) = conn.execute("SELECT format_type(%s, %s)", (oid, typmod)).fetchone() or ("",)
                try:
                    with conn.transaction():
                        conn.execute(f"CREATE TEMP TABLE probe (c {type_sql}) ON COMMIT DROP")  # type: ignore[arg-type]
                        conn.execute(
                            "INSERT INTO probe VALUES (%s)", (None if value is None else value.decode(),)
                        )
                except psycopg.Error:
                    return name
        return None

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        parts = urlsplit(self.dsn)
        server = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432))
        self._sockets += [client, server]
        for sock in (client, server):
            # Messages go one by one; Nagle's algorithm would add ~40 ms to every round trip.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = Session(self, client, server)
        try:
            session.start()
            session.serve()
        except (ConnectionError, OSError):
            pass
        finally:
            for sock in (client, server):
                try:
                    sock.close()
                except OSError:
                    pass
