"""One client connection: the driver speaks to the shim, the shim to PostgreSQL, in lockstep.

Every message the client sends is handled before the next is read: forwarded (its statement rewritten),
followed by a Flush, and the server's replies to it relayed until the one that ends them. So the shim
always knows whose replies it reads, and can put statements of its own between the client's (a COPY's
inserts) without the client seeing their replies. After an error the server skips messages until Sync;
so does the shim.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tests.integration.redshift_shim import redshift, wire
from thermocline.warehouse.emulation import arrow_rows, read_manifest_files, read_parquet
from thermocline.warehouse.errors import BadDataError, LoadErrorDetail, WarehouseError
from thermocline.warehouse.rules import is_alter_column_type

if TYPE_CHECKING:
    from tests.integration.redshift_shim.server import RedshiftShim

_ASYNC = (b"N", b"S", b"A")  # notices, parameter status, notifications: any time
_PORTAL = b"thermocline_shim"
_ROWS_PER_ROUND_TRIP = 200
_PARAMETER = re.compile(r"parameter \$(\d+)")


@dataclass
class Injected:
    """What the server said to statements the shim sent on its own."""

    columns: list[tuple[str, int, int]]  # name, type oid, type modifier
    completed: int
    error: wire.ServerError | None


class Session:
    def __init__(self, shim: RedshiftShim, client: socket.socket, server: socket.socket) -> None:
        self.shim = shim
        self.client = client
        self.server = server
        self.statements: dict[bytes, redshift.Statement] = {}
        self.portals: dict[bytes, redshift.Statement | None] = {}
        self.status = b"I"  # the last ReadyForQuery: I idle, T in a transaction block, E failed
        self.failed = False  # an error was reported: skip until Sync
        self.pid = 0

    # --- startup ----------------------------------------------------------------------------------------

    def start(self) -> None:
        """SSL refused, the startup packet passed on with PostgreSQL's parameters only, authentication
        relayed, and the server's parameters reported as Redshift reports them."""
        payload = wire.read_startup(self.client)
        while int.from_bytes(payload[:4], "big") == wire.SSL_REQUEST:
            self.client.sendall(b"N")
            payload = wire.read_startup(self.client)
        params = wire.startup_params(payload)
        self.shim.startup_params_seen.append(params)
        # Redshift-only parameters (client_protocol_version, driver_version, os_version...) are refused by
        # PostgreSQL. Sessions are in UTC, as on Redshift, and find its system objects.
        kept = {k: v for k, v in params.items() if k in (b"user", b"database", b"application_name")}
        kept.update({b"TimeZone": b"UTC", b"search_path": redshift.SEARCH_PATH.encode()})
        self.server.sendall(wire.startup_packet(kept))
        while True:
            kind, body = wire.read_message(self.server)
            if kind == b"S" and body.startswith(b"server_version\x00"):
                self.client.sendall(wire.parameter_status("server_version", redshift.SERVER_VERSION))
                continue
            self.client.sendall(wire.message(kind, body))
            if kind == b"R" and int.from_bytes(body[:4], "big") in (3, 5, 10, 11):
                self.server.sendall(wire.message(*wire.read_message(self.client)))  # the password
            elif kind == b"K":
                self.pid = int.from_bytes(body[:4], "big")
            elif kind == b"E":
                raise ConnectionError(wire.ServerError.parse(body).text)
            elif kind == b"Z":
                self.status = body
                return

    # --- the extended query protocol --------------------------------------------------------------------

    def serve(self) -> None:
        while True:
            kind, body = wire.read_message(self.client)
            if kind == b"X":
                self.server.sendall(wire.message(kind, body))
                return
            if kind == b"S":
                self._forward(wire.SYNC, until=b"Z")
                self.failed = False
            elif kind == b"H" or self.failed:
                continue  # a Flush follows every forwarded message anyway; after an error, skip to Sync
            elif kind == b"Q":
                self._simple_query()
            elif kind == b"P":
                self._parse(body)
            elif kind == b"B":
                portal, name = wire.bind_names(body)
                self.portals[portal] = self.statements.get(name)
                self._forward(wire.message(kind, body), until=b"2")
            elif kind == b"D":
                self._forward(wire.message(kind, body), until=b"Tn")
            elif kind == b"E":
                self._execute(body)
            elif kind == b"C":
                self._forward(wire.message(kind, body), until=b"3")
            else:
                self._forward(wire.message(kind, body), until=b"")

    def _parse(self, body: bytes) -> None:
        name, sql, types = wire.parse_parse(body)
        try:
            statement = redshift.plan(sql)
        except Exception as exc:  # noqa: BLE001 - the rulebook or sqlglot refused it: the client hears why
            self.shim.executed.append(sql)
            self._refuse("42601", str(exc))
            return
        self.statements[name] = statement
        self._forward(wire.parse_message(name, statement.postgres, types), until=b"1")
        if self.failed:  # refused already (a failed transaction refuses even Parse): it never executes
            self.shim.executed.append(sql)

    def _execute(self, body: bytes) -> None:
        statement = self.portals.get(wire.portal_of_execute(body))
        tag = None
        if statement is not None:
            self.shim.executed.append(statement.sql)
            tag = self._before_running(statement)
            if self.failed:
                return
        self._forward(wire.message(b"E", body), until=b"CIs", tag=tag)

    def _simple_query(self) -> None:
        """redshift_connector sends every statement through the extended protocol; so does the shim."""
        self.client.sendall(wire.error_response("0A000", "the shim takes the extended query protocol only"))
        self._forward(wire.SYNC, until=b"Z")  # the ReadyForQuery that ends a simple query

    def _before_running(self, statement: redshift.Statement) -> str | None:
        """What the shim does itself before the server runs ``statement``: refuse it (the client has the
        error and ``failed`` is set) or run its COPY (its command tag is returned)."""
        if is_alter_column_type(statement.sql) and self.status != b"I":
            self._refuse(*redshift.ALTER_IN_TRANSACTION)
            return None
        if statement.copy is None:
            return None
        rows = self._copy(*statement.copy)
        return None if rows is None else f"COPY {rows}"

    # --- relaying -----------------------------------------------------------------------------------------

    def _forward(self, message: bytes, *, until: bytes, tag: str | None = None) -> None:
        """Send ``message`` and relay the replies up to one whose kind is in ``until`` (none: no reply)."""
        self.server.sendall(message + wire.FLUSH)
        while until:
            kind, body = wire.read_message(self.server)
            if kind == b"C" and tag is not None:
                body = wire.cstring(tag)
            self.client.sendall(wire.message(kind, body))
            if kind == b"Z":
                self.status = body
            if kind == b"E":
                self.failed = True
                return
            if kind in _ASYNC:
                continue
            if kind in until:
                return

    def _refuse(self, sqlstate: str, text: str) -> None:
        """Answer the client with an error of the shim's own, aborting the server's transaction as an
        error does on Redshift."""
        if not self.failed:
            self._inject(redshift.ABORT)
        self.client.sendall(wire.error_response(sqlstate, text))
        self.failed = True

    def _inject(
        self, sql: str, rows: list[list[bytes | None]] | None = None, *, describe: bool = False
    ) -> Injected:
        """Run ``sql`` (once per parameter row) on the server where the client's statements run, in the
        client's transaction, without the client seeing the replies."""
        rows = [[]] if rows is None else rows
        out = bytearray(wire.parse_message(b"", sql))
        if describe:
            out += wire.describe_message(b"S", b"")
        for values in rows:
            out += wire.bind_message(_PORTAL, b"", values) + wire.execute_message(_PORTAL)
            out += wire.close_message(b"P", _PORTAL)
        self.server.sendall(bytes(out) + wire.FLUSH)
        result = Injected([], 0, None)
        pending = 1 + int(describe) + 3 * len(rows)  # replies that end a message: 1, T|n, 2, C|I, 3
        while pending:
            kind, body = wire.read_message(self.server)
            if kind == b"E":
                result.error = wire.ServerError.parse(body)
                self.failed = True
                return result
            if kind == b"T":
                result.columns = wire.row_description(body)
            if kind in b"CI":
                result.completed += 1
            if kind in b"1Tn2CI3":
                pending -= 1
        return result

    def _failing_column(
        self, error: wire.ServerError, columns: list[tuple[str, int, int]], row: list[bytes | None]
    ) -> str | None:
        """The column of a row PostgreSQL refused: named in the error's context when a parameter's text
        was refused, else the first column whose type refuses its value on its own."""
        where = _PARAMETER.search(error.fields.get("W", ""))
        if where:
            return columns[int(where.group(1)) - 1][0]
        return self.shim.refused_column(columns, row)

    # --- COPY ---------------------------------------------------------------------------------------------

    def _copy(self, table: str, manifest_url: str) -> int | None:
        """Rows loaded into ``table`` from the manifest's files, or ``None`` when the COPY failed (the
        client has its error and ``sys_load_error_detail`` the details)."""
        copy_id = next(self.shim.copy_ids)
        started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        self._inject(redshift.SET_COPY_ID, [[str(copy_id).encode()]])
        probe = self._inject(f"SELECT * FROM {table} LIMIT 0", [], describe=True)  # noqa: S608
        if probe.error is not None:
            self.client.sendall(wire.error_response(probe.error.sqlstate, probe.error.text))
            return None
        columns = probe.columns
        insert = f"INSERT INTO {table} VALUES ({', '.join(f'${i + 1}' for i in range(len(columns)))})"  # noqa: S608
        loaded = 0
        try:
            for entry, body in read_manifest_files(self.shim.s3_client, manifest_url):
                values = [
                    [redshift.copy_text(v) for v in row]
                    for row in arrow_rows(read_parquet(entry, body, len(columns)))
                ]
                for at in range(0, len(values), _ROWS_PER_ROUND_TRIP):
                    result = self._inject(insert, values[at : at + _ROWS_PER_ROUND_TRIP])
                    if result.error is not None:
                        line = at + result.completed + 1
                        column = self._failing_column(result.error, columns, values[line - 1])
                        raise BadDataError(
                            "COPY failed",
                            details=[LoadErrorDetail(entry.url, line, column, result.error.text)],
                        )
                loaded += len(values)
        except BadDataError as exc:
            self.shim.record_load_errors(self.pid, copy_id, started, exc.details)
            self._refuse(*redshift.copy_failed(table))
            return None
        except WarehouseError as exc:
            self._refuse("XX000", str(exc))
            return None
        return loaded
