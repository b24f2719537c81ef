"""HTTP/1.1 keep-alive for moto's server (``moto_app`` serves through ``KeepAliveHandler``).

werkzeug's development server, which moto's server runs on, answers every request with
``Connection: close`` (its handler cannot tell where a request body ends once it has read past it), and
after each answer waits up to 10 ms for more bytes to discard. So every one of the demo's ~10,000 API calls
opened a new TCP connection, started a new server thread for it and parked that thread in the wait; on
two cores that was a good share of the local stack's time. botocore keeps connections open and reuses
them whenever the server allows (RFC 9112 section 9.3, persistence is HTTP/1.1's default).

``KeepAliveHandler`` is moto's request handler (its environ keeps the header spellings S3 needs) with one
change: it reads the request's whole body first (``Content-Length`` bytes, or the chunks of a chunked
body), runs the application, and answers with the body's exact ``Content-Length``, so the connection is
left at the start of the next request and stays open for it. The answer's status, headers and body are
the application's; a request that says ``Connection: close`` (or HTTP/1.0) still closes, and an
application error is answered 500 (werkzeug's page), as werkzeug does.

moto's dispatcher also lists its own package directory (``os.listdir`` and an ``isdir`` per service, about
200) for every request, under a lock all request threads share, to ask whether a name is a service; the
installed package does not change while the server runs, so the list is read once (``install``); and it
lists each answering class's methods (``inspect.getmembers``) to find the action's, once per class here.

And http.server reads every request's header block with the ``email`` package's parser (``http.client.
parse_headers``), a tenth of the server's time for the demo's small requests. ``parse_headers`` builds the
same message from lines of the plain ``Name: value`` shape (continuation lines included), as
``email``'s compat32 policy stores them, and hands any other block to the ``email`` parser.
"""

from __future__ import annotations

import email.parser
import functools
import http.client
import io
import re
import traceback
from typing import Any

from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.exceptions import InternalServerError

# Answers that carry no body whatever their headers say (RFC 9110 section 6.4.1).
_NO_BODY = frozenset({204, 304})


# A header line as the email package's feed parser takes it for one (its headerRE), without the "From "
# envelope line, which it treats otherwise; a line starting with a space or tab continues the one before.
_HEADER = re.compile(r"[\041-\071\073-\176]+:")
_released_parse_headers = http.client.parse_headers


def parse_headers(fp: Any, _class: type[http.client.HTTPMessage] = http.client.HTTPMessage) -> Any:
    """``http.client.parse_headers``: the same message, without the ``email`` parser for plain lines."""
    lines = http.client._read_headers(fp)  # noqa: SLF001 - the line and count limits stay the stdlib's
    fields: list[tuple[str, str]] = []
    for raw in lines[:-1]:  # the last is the blank line (or nothing, at the end of the stream)
        line = raw.decode("iso-8859-1")
        text = line.removesuffix("\n").removesuffix("\r")
        if "\r" in text or "\n" in text:  # the email parser splits lines there too
            return _fallback(lines, _class)
        if line[0] in " \t" and fields:  # as compat32's header_source_parse joins a folded value
            name, value = fields[-1]
            fields[-1] = (name, value + line)
        elif _HEADER.match(line) and not line.startswith("From "):
            name, value = line.split(":", 1)
            fields.append((name, value.lstrip(" \t")))
        else:
            return _fallback(lines, _class)
    message = _class()
    for name, value in fields:
        message.set_raw(name, value.rstrip("\r\n"))
    return message


def _fallback(lines: list[bytes], _class: type[http.client.HTTPMessage]) -> Any:
    return email.parser.Parser(_class=_class).parsestr(b"".join(lines).decode("iso-8859-1"))


class KeepAliveHandler(MotoRequestHandler):
    """moto's request handler, answering with ``Content-Length`` and leaving the connection open."""

    # An answer goes out as two writes (head, body); without TCP_NODELAY the body would wait for the
    # client's delayed ACK of the head on a connection that stays open.
    disable_nagle_algorithm = True

    def _read_body(self, environ: dict[str, Any]) -> None:
        # The whole body now: the next request on this connection starts right after it.
        if environ.get("wsgi.input_terminated"):  # chunked: werkzeug's reader stops at the last chunk
            body = environ["wsgi.input"].read()
        else:
            body = self.rfile.read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)

    def run_wsgi(self) -> None:
        # A "100 Continue" for "Expect: 100-continue" has already gone out (http.server's parse_request).
        environ = self.environ = self.make_environ()
        self._read_body(environ)
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return lambda _data: None  # no application here writes through it; an answer is returned whole

        try:
            answer = self.server.app(environ, start_response)
            try:
                body = b"".join(answer)
            finally:
                if hasattr(answer, "close"):
                    answer.close()
        except Exception:  # noqa: BLE001 - answered 500, as werkzeug's handler does, and logged
            self.server.log("error", "Error on request:\n%s", traceback.format_exc())
            body = b"".join(InternalServerError()(environ, start_response))
        self._answer(started[0], started[1], body)

    def _answer(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        code_text, _, message = status.partition(" ")
        code = int(code_text)
        with_body = self.command != "HEAD" and code >= 200 and code not in _NO_BODY
        self.send_response(code, message)
        for name, value in headers:
            lowered = name.lower()
            if lowered in ("connection", "transfer-encoding") or (with_body and lowered == "content-length"):
                continue
            self.send_header(name, value)
        if with_body:
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if with_body:
            self.wfile.write(body)
        self.wfile.flush()


def install() -> None:
    """Have moto's server (``moto.server.main``) handle its connections with ``KeepAliveHandler``, and
    list moto's services once."""
    import moto.core.responses
    import moto.server
    from moto import backends

    moto.server.MotoRequestHandler = KeepAliveHandler  # type: ignore[misc]
    http.client.parse_headers = parse_headers
    services = frozenset(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: services  # type: ignore[assignment]
    methods = moto.core.responses.method_names_from_class
    moto.core.responses.method_names_from_class = functools.cache(methods)
