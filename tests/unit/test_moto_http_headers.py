"""moto's server reads request headers without the email parser (``moto_http.parse_headers``): every
header block gives the message ``http.client.parse_headers`` gives, defects included."""

from __future__ import annotations

import io

import pytest

from thermocline.local.moto_http import _released_parse_headers as stdlib_parse_headers
from thermocline.local.moto_http import parse_headers

BLOCKS = [
    b"Host: a\r\nContent-Type: x\r\n\r\n",
    b"Host:a\r\nX-Empty:\r\nX-Spaces:   v  \r\nX-Tab:\tv\r\n\r\n",
    b"A: 1\r\n  folded\r\n\tmore\r\nB: 2\r\nA: 3\r\n\r\n",  # folded lines, a repeated name
    b"A: 1\n B\nC: \xe9\n\n",  # bare newlines, a Latin-1 byte
    b"A: a:b: c\r\n\r\n",
    b"From x\r\nA: 1\r\n\r\n",  # the email parser's envelope line
    b"not a header\r\nA: 1\r\n\r\n",
    b" leading continuation\r\nA: 1\r\n\r\n",
    b"A: x\ry\r\n\r\n",  # a bare carriage return inside a value
    b"Na me: 1\r\n\r\n",
    b": no name\r\n\r\n",
    b"A: 1\r\n",  # the stream ends without the blank line
    b"\r\n",
    b"",
]


@pytest.mark.parametrize("block", BLOCKS)
def test_a_header_block_parses_as_http_client_parses_it(block: bytes) -> None:
    expected = stdlib_parse_headers(io.BytesIO(block))  # http.client.parse_headers, as the stdlib has it
    got = parse_headers(io.BytesIO(block))
    assert type(got) is type(expected)
    assert got.items() == expected.items()
    assert [type(d) for d in got.defects] == [type(d) for d in expected.defects]
    assert got.get("A") == expected.get("A")


def test_the_line_after_the_headers_is_left_unread() -> None:
    stream = io.BytesIO(b"Content-Length: 2\r\n\r\n{}GET / HTTP/1.1\r\n")
    assert parse_headers(stream)["Content-Length"] == "2"
    assert stream.read() == b"{}GET / HTTP/1.1\r\n"
