"""Local fault-injecting HTTP servers that the real provider SDKs talk to in tests.

Two protocols, one mechanism (``tests/servers/_core.py``):

* :class:`OpenAIServer` -- ``POST /v1/chat/completions``; ``server.base_url`` ends in ``/v1``.
* :class:`GeminiServer` -- ``POST /v1beta/models/<model>:generateContent`` (google-genai and
  google-generativeai's REST transport); ``server.base_url`` is the bare origin.

Each listens on 127.0.0.1 on a random port, in a daemon thread, and acts out a queue of
behaviours, one per request; when the queue is empty it uses ``server.default``:

    Reply(text, input_tokens, output_tokens, finish_reason, model, delay)   a protocol success
    Respond(status, body, headers)    any status/body/headers verbatim (errors, bad bodies)
    Reset()                           TCP reset before a single response byte
    Hang(max_seconds=30)              never answer (until the client gives up or the server stops)

Ready-made error behaviours live next to each server: ``openai_server.rate_limited(retry_after=
"2")``, ``.server_error(503)``, ``.context_length_exceeded()``, ``.content_policy_violation()``,
``gemini_server.blocked_answer("SAFETY")``, ``.blocked_prompt()``, ``.rate_limited(retry_delay=
"2s")``, ... ``server.default`` may be a callable ``(RecordedRequest) -> behaviour`` for
time- or request-dependent faults (e.g. "503 during the first 2 s").

Every request is logged with its ``time.monotonic()`` arrival, so tests assert attempt counts
and spacing: ``server.requests``, ``server.times()``, ``server.last.json()``,
``server.wait_for_requests(n)``.

The fixtures are ``openai_http``, ``gemini_http`` and ``server_factory`` (the modules
``openai_server``/``gemini_server`` hold the servers and their ready-made faults).
``tests/conftest.py`` registers this module as a plugin (``pytest_plugins``), so every test
can ask for them by name::

    from tests.servers import OpenAIServer, Reply
    from tests.servers.openai_server import rate_limited

    def test_x(openai_http: OpenAIServer) -> None:
        openai_http.enqueue(rate_limited(retry_after="2"), Reply("hi"))
        provider = OpenAIProvider(api_key="test", base_url=openai_http.base_url, timeout=0.5)

or build your own fixture: ``with OpenAIServer.running() as server: yield server``. The
:func:`server_factory` fixture starts any number of servers (e.g. a primary and a fallback):
``primary = server_factory(OpenAIServer)``; all are stopped at the end of the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import TypeVar

import pytest

from tests.servers._core import (
    Behaviour,
    BehaviourSource,
    Hang,
    RecordedRequest,
    Reply,
    Reset,
    Respond,
    ScriptedServer,
)
from tests.servers.gemini_server import GeminiServer
from tests.servers.openai_server import OpenAIServer

__all__ = [
    "Behaviour",
    "BehaviourSource",
    "GeminiServer",
    "Hang",
    "OpenAIServer",
    "RecordedRequest",
    "Reply",
    "Reset",
    "Respond",
    "ScriptedServer",
    "ServerFactory",
    "gemini_http",
    "openai_http",
    "server_factory",
]

S = TypeVar("S", bound=ScriptedServer)


@pytest.fixture
def openai_http() -> Iterator[OpenAIServer]:
    """A running :class:`OpenAIServer`, stopped after the test."""
    with OpenAIServer.running() as server:
        yield server


@pytest.fixture
def gemini_http() -> Iterator[GeminiServer]:
    """A running :class:`GeminiServer`, stopped after the test."""
    with GeminiServer.running() as server:
        yield server


class ServerFactory:
    """Starts servers on demand; :meth:`close` stops every one of them."""

    def __init__(self) -> None:
        self._stack = ExitStack()

    def __call__(self, kind: type[S]) -> S:
        return self._stack.enter_context(kind.running())

    def close(self) -> None:
        self._stack.close()


@pytest.fixture
def server_factory() -> Iterator[ServerFactory]:
    """``server_factory(OpenAIServer)`` starts one more server; all stop after the test."""
    factory = ServerFactory()
    try:
        yield factory
    finally:
        factory.close()
