"""The protocol-independent part of the fault-injecting servers.

A :class:`ScriptedServer` listens on 127.0.0.1 (random port) in a background thread. For each
request it takes the next behaviour from its queue (or ``default`` when the queue is empty),
records the request with a monotonic timestamp, and acts the behaviour out:

* :class:`Reply`   -- a successful protocol answer (rendered by the protocol subclass);
* :class:`Respond` -- any status, body and headers, verbatim (errors, malformed bodies);
* :class:`Reset`   -- the connection is reset (RST) before a single response byte;
* :class:`Hang`    -- no answer at all until the client gives up (or the server stops).

``default`` may also be a callable ``(RecordedRequest) -> behaviour``, for behaviours that
depend on time or on the request (for example "503 for the first two seconds").
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit

__all__ = [
    "Behaviour",
    "BehaviourSource",
    "Hang",
    "RecordedRequest",
    "Reply",
    "Reset",
    "Respond",
    "ScriptedServer",
]


@dataclass(frozen=True)
class Reply:
    """A successful answer with this text and usage, in the server's protocol.

    ``finish_reason`` None means the protocol's normal stop reason; ``model`` None echoes the
    requested model. ``delay`` seconds pass before the answer is sent.
    """

    text: str = "ok"
    input_tokens: int | None = 11
    output_tokens: int | None = 7
    finish_reason: str | None = None
    model: str | None = None
    delay: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Respond:
    """A verbatim HTTP response. A dict/list body is sent as JSON; str/bytes as they are."""

    status: int
    body: object = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    delay: float = 0.0

    def encoded_body(self) -> bytes:
        """The body as bytes on the wire."""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass(frozen=True)
class Reset:
    """Reset the connection (TCP RST) after reading the request, before any response byte."""

    delay: float = 0.0


@dataclass(frozen=True)
class Hang:
    """Never answer: hold the connection until the client closes it or ``max_seconds`` pass."""

    max_seconds: float = 30.0


Behaviour = Reply | Respond | Reset | Hang
BehaviourSource = Behaviour | Callable[["RecordedRequest"], Behaviour]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it. ``time`` is ``time.monotonic()`` at arrival."""

    index: int
    time: float
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class _Closed(Exception):
    """The behaviour closed the connection itself; nothing more to write."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def do_POST(self) -> None:
        self.server.owner._handle(self)

    do_GET = do_POST

    def handle(self) -> None:
        try:
            super().handle()
        except (_Closed, ConnectionError):
            self.close_connection = True

    def finish(self) -> None:
        with contextlib.suppress(OSError):  # the behaviour reset the socket on purpose
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: ScriptedServer


class ScriptedServer:
    """Base of the protocol servers: a scriptable queue of behaviours and a request log."""

    protocol = "http"

    def __init__(self) -> None:
        self.default: BehaviourSource = Reply()
        self._queue: deque[BehaviourSource] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Self:
        """Listen on a random 127.0.0.1 port and serve in a daemon thread."""
        httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; hanging handlers are released."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[Self]:
        """``with OpenAIServer.running() as server:`` -- started, and stopped afterwards."""
        server = cls().start()
        try:
            yield server
        finally:
            server.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    # -- scripting -------------------------------------------------------------------------
    def enqueue(self, *behaviours: BehaviourSource) -> Self:
        """Append behaviours for the next requests, in order."""
        with self._lock:
            self._queue.extend(behaviours)
        return self

    def always(self, behaviour: BehaviourSource) -> Self:
        """Set the behaviour used once the queue is empty."""
        self.default = behaviour
        return self

    @property
    def pending(self) -> int:
        """Behaviours still queued."""
        with self._lock:
            return len(self._queue)

    # -- the request log -------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def last(self) -> RecordedRequest:
        """The most recent request."""
        with self._lock:
            return self._requests[-1]

    def times(self) -> list[float]:
        """Arrival times (``time.monotonic()``) of every request."""
        return [r.time for r in self.requests]

    def clear_log(self) -> None:
        """Forget the requests received so far (the queue is kept)."""
        with self._lock:
            self._requests.clear()

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until at least ``count`` requests arrived (or ``timeout``); return the log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.requests) >= count:
                break
            time.sleep(0.005)
        return self.requests

    # -- protocol hooks --------------------------------------------------------------------
    def render_reply(self, reply: Reply, request: RecordedRequest) -> object:
        """The JSON body of a successful answer (the protocol subclasses say how)."""
        raise NotImplementedError

    # -- serving ---------------------------------------------------------------------------
    def _handle(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        url = urlsplit(handler.path)
        with self._lock:
            recorded = RecordedRequest(
                index=len(self._requests),
                time=time.monotonic(),
                method=handler.command,
                path=url.path,
                query=url.query,
                headers={k.lower(): v for k, v in handler.headers.items()},
                body=body,
            )
            self._requests.append(recorded)
            source = self._queue.popleft() if self._queue else self.default
        behaviour = source if not callable(source) else source(recorded)
        self._act(handler, behaviour, recorded)

    def _act(self, handler: _Handler, behaviour: Behaviour, request: RecordedRequest) -> None:
        match behaviour:
            case Hang(max_seconds=max_seconds):
                self._hold(handler.connection, max_seconds)
                raise _Closed
            case Reset(delay=delay):
                self._sleep(delay)
                handler.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                handler.connection.close()
                raise _Closed
            case Reply():
                self._sleep(behaviour.delay)
                body = json.dumps(self.render_reply(behaviour, request)).encode()
                self._send(handler, 200, body, "application/json", behaviour.headers)
            case Respond():
                self._sleep(behaviour.delay)
                self._send(
                    handler,
                    behaviour.status,
                    behaviour.encoded_body(),
                    behaviour.content_type,
                    behaviour.headers,
                )

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _hold(self, conn: socket.socket, max_seconds: float) -> None:
        """Wait until the peer closes the connection, the server stops, or time runs out."""
        deadline = time.monotonic() + max_seconds
        while not self._stopping.is_set() and time.monotonic() < deadline:
            readable, _, _ = select.select([conn], [], [], 0.05)
            if readable:
                try:
                    if not conn.recv(65536, socket.MSG_PEEK):
                        return  # the client gave up and closed
                    conn.recv(65536)  # a pipelined byte: discard and keep holding
                except OSError:
                    return

    @staticmethod
    def _send(
        handler: _Handler,
        status: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str],
    ) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()
