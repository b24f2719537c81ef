"""A wire-level shim that lets ``redshift_connector`` talk to PostgreSQL (redshift_connector sends Redshift-only startup parameters and cannot parse a Debian server version).

Between the driver and a real PostgreSQL server it changes exactly two things:

* the startup message: Redshift-only parameters (``client_protocol_version``, ``driver_version``,
  ``os_version``, ...) are dropped, because PostgreSQL refuses unknown startup parameters;
* the ``server_version`` ParameterStatus: Debian's ``15.x (Debian 15.x-1.pgdg...)`` becomes ``15.x``,
  which the driver's version parser accepts.

Everything else (md5 auth, queries, results, errors) passes through byte for byte. The server must use
md5 auth: the driver mis-parses PostgreSQL's SCRAM mechanism list.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
from dataclasses import dataclass, field

_ALLOWED_STARTUP = {b"user", b"database", b"application_name", b"options"}
_SSL_REQUEST = 80877103
_PROTOCOL_3 = 196608


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    return bytes(data)


def _shutdown(*socks: socket.socket) -> None:
    """End both directions of a relayed connection, so the other pump stops too."""
    for sock in socks:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _rewrite_startup(payload: bytes) -> bytes:
    (protocol,) = struct.unpack("!i", payload[:4])
    if protocol != _PROTOCOL_3:
        return payload
    parts = payload[4:].split(b"\x00")
    params = dict(zip(parts[0::2], parts[1::2], strict=False))
    kept = b"".join(k + b"\x00" + v + b"\x00" for k, v in params.items() if k in _ALLOWED_STARTUP and k)
    return struct.pack("!i", _PROTOCOL_3) + kept + b"\x00"


def _rewrite_parameter_status(body: bytes) -> bytes:
    key, _, rest = body.partition(b"\x00")
    if key != b"server_version":
        return body
    value = rest.rstrip(b"\x00").decode()
    match = re.match(r"\d+(\.\d+)*", value)
    return key + b"\x00" + (match.group(0) if match else "15.0").encode() + b"\x00"


@dataclass
class RedshiftShim:
    """Listens on 127.0.0.1:``port`` and forwards to PostgreSQL at ``upstream``."""

    upstream: tuple[str, int]
    port: int = 0
    _listener: socket.socket | None = None
    _sockets: list[socket.socket] = field(default_factory=list)
    startup_params_seen: list[dict[bytes, bytes]] = field(default_factory=list)

    def start(self) -> RedshiftShim:
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        for sock in [self._listener, *self._sockets]:
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        server = socket.create_connection(self.upstream)
        self._sockets += [client, server]
        for sock in (client, server):
            # Messages are relayed one by one; Nagle's algorithm would add ~40 ms to every round trip.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                (length,) = struct.unpack("!i", _recv_exact(client, 4))
                payload = _recv_exact(client, length - 4)
                if struct.unpack("!i", payload[:4])[0] == _SSL_REQUEST:
                    client.sendall(b"N")  # no TLS through the shim
                    continue
                break
            parts = payload[4:].split(b"\x00")
            self.startup_params_seen.append(dict(zip(parts[0::2], parts[1::2], strict=False)))
            startup = _rewrite_startup(payload)
            server.sendall(struct.pack("!i", len(startup) + 4) + startup)
        except (ConnectionError, OSError, struct.error):
            client.close()
            server.close()
            return
        threading.Thread(target=self._pump_raw, args=(client, server), daemon=True).start()
        self._pump_messages(server, client)

    @staticmethod
    def _pump_raw(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _shutdown(src, dst)

    @staticmethod
    def _pump_messages(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                head = _recv_exact(src, 5)
                kind, length = head[:1], struct.unpack("!i", head[1:])[0]
                body = _recv_exact(src, length - 4)
                if kind == b"S":
                    body = _rewrite_parameter_status(body)
                dst.sendall(kind + struct.pack("!i", len(body) + 4) + body)
        except (ConnectionError, OSError):
            pass
        finally:
            _shutdown(src, dst)
