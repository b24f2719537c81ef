"""PostgreSQL's wire protocol (version 3), the few parts the shim reads and writes.

https://www.postgresql.org/docs/15/protocol-message-formats.html: every message after the startup packet
is a kind byte, an Int32 length that counts itself, and a body.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

SSL_REQUEST = 80877103
PROTOCOL_3 = 196608
FLUSH = b"H\x00\x00\x00\x04"
SYNC = b"S\x00\x00\x00\x04"


def recv_exact(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    return bytes(data)


def read_startup(sock: socket.socket) -> bytes:
    """The startup packet (or an SSL request): an Int32 length and a body, no kind byte."""
    (length,) = struct.unpack("!i", recv_exact(sock, 4))
    return recv_exact(sock, length - 4)


def read_message(sock: socket.socket) -> tuple[bytes, bytes]:
    head = recv_exact(sock, 5)
    (length,) = struct.unpack("!i", head[1:])
    return head[:1], recv_exact(sock, length - 4)


def message(kind: bytes, body: bytes = b"") -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


def cstring(text: str | bytes) -> bytes:
    return (text.encode() if isinstance(text, str) else text) + b"\x00"


def split_cstring(body: bytes, at: int = 0) -> tuple[bytes, int]:
    end = body.index(b"\x00", at)
    return body[at:end], end + 1


def startup_params(payload: bytes) -> dict[bytes, bytes]:
    parts = payload[4:].split(b"\x00")
    return {k: v for k, v in zip(parts[0::2], parts[1::2], strict=False) if k}


def startup_packet(params: dict[bytes, bytes]) -> bytes:
    body = (
        struct.pack("!i", PROTOCOL_3) + b"".join(cstring(k) + cstring(v) for k, v in params.items()) + b"\x00"
    )
    return struct.pack("!i", len(body) + 4) + body


# --- frontend messages ----------------------------------------------------------------------------------


def parse_parse(body: bytes) -> tuple[bytes, str, bytes]:
    """(statement name, query text, the parameter-type block as sent)."""
    name, at = split_cstring(body)
    query, at = split_cstring(body, at)
    return name, query.decode(), body[at:]


def parse_message(name: bytes, query: str, types: bytes = b"\x00\x00") -> bytes:
    return message(b"P", cstring(name) + cstring(query) + types)


def bind_names(body: bytes) -> tuple[bytes, bytes]:
    """(portal, statement) of a Bind."""
    portal, at = split_cstring(body)
    statement, _ = split_cstring(body, at)
    return portal, statement


def bind_message(portal: bytes, statement: bytes, values: Sequence[bytes | None]) -> bytes:
    """A Bind with every parameter in text format and every result in text format."""
    body = bytearray(cstring(portal) + cstring(statement) + struct.pack("!hh", 0, len(values)))
    for value in values:
        if value is None:
            body += struct.pack("!i", -1)
        else:
            body += struct.pack("!i", len(value)) + value
    body += struct.pack("!h", 0)
    return message(b"B", bytes(body))


def execute_message(portal: bytes) -> bytes:
    return message(b"E", cstring(portal) + struct.pack("!i", 0))


def close_message(what: bytes, name: bytes) -> bytes:
    return message(b"C", what + cstring(name))


def describe_message(what: bytes, name: bytes) -> bytes:
    return message(b"D", what + cstring(name))


def portal_of_execute(body: bytes) -> bytes:
    return split_cstring(body)[0]


# --- backend messages -----------------------------------------------------------------------------------


@dataclass
class ServerError:
    """An ErrorResponse's fields by their one-letter codes (C: SQLSTATE, M: message, W: where...)."""

    fields: dict[str, str]

    @classmethod
    def parse(cls, body: bytes) -> ServerError:
        fields: dict[str, str] = {}
        at = 0
        while body[at : at + 1] not in (b"\x00", b""):
            code = body[at : at + 1].decode()
            value, at = split_cstring(body, at + 1)
            fields[code] = value.decode(errors="replace")
        return cls(fields)

    @property
    def sqlstate(self) -> str:
        return self.fields.get("C", "")

    @property
    def text(self) -> str:
        return self.fields.get("M", "")


def error_response(sqlstate: str, text: str) -> bytes:
    fields = {b"S": b"ERROR", b"V": b"ERROR", b"C": sqlstate.encode(), b"M": text.encode()}
    return message(b"E", b"".join(k + cstring(v) for k, v in fields.items()) + b"\x00")


def parameter_status(name: str, value: str) -> bytes:
    return message(b"S", cstring(name) + cstring(value))


def row_description(body: bytes) -> list[tuple[str, int, int]]:
    """(name, type oid, type modifier) of each column of a RowDescription (a field: name, table oid,
    column number, type oid, type length, type modifier, format)."""
    (count,) = struct.unpack("!h", body[:2])
    columns, at = [], 2
    for _ in range(count):
        name, at = split_cstring(body, at)
        _, _, oid, _, typmod, _ = struct.unpack("!ihihih", body[at : at + 18])
        columns.append((name.decode(), oid, typmod))
        at += 18
    return columns
