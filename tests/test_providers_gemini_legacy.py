"""What only GeminiLegacyProvider (google-generativeai) does; the shared Gemini contract runs
against it in tests/test_providers_gemini.py."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
from google.api_core import exceptions as core_exceptions

from llmops.errors import BadRequest, ProviderUnavailable
from llmops.providers import ChatMessage, CompletionRequest, GeminiLegacyProvider
from tests.servers import GeminiServer, Reply, ServerFactory
from tests.servers import gemini_server as srv

KEY = "AIza-legacy-key"


@pytest.fixture
def server() -> Iterator[GeminiServer]:
    with GeminiServer.running() as running:
        yield running


def _request(**params: object) -> CompletionRequest:
    return CompletionRequest(
        messages=(ChatMessage("user", "hello"),), model="gemini-1.5-flash", params=params
    )


def test_support_ended_warning_is_not_shown_to_the_host() -> None:
    """Building the adapter imports google-generativeai without its 'support has ended' warning."""
    code = textwrap.dedent(
        """
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from llmops.providers import GeminiLegacyProvider
            GeminiLegacyProvider(api_key="k", base_url="http://127.0.0.1:9")
        import google.generativeai  # really imported, not skipped
        ours = [str(w.message) for w in caught if "google.generativeai" in str(w.message)]
        assert not ours, ours
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


def test_two_providers_do_not_share_a_process_wide_configuration(
    server_factory: ServerFactory,
) -> None:
    """Each provider talks to its own endpoint with its own key (no genai.configure())."""
    first, second = server_factory(GeminiServer), server_factory(GeminiServer)
    a = GeminiLegacyProvider(api_key="key-a", base_url=first.base_url, timeout=10)
    b = GeminiLegacyProvider(api_key="key-b", base_url=second.base_url, timeout=10)
    first.enqueue(Reply("from a"))
    second.enqueue(Reply("from b"))
    assert b.complete(_request()).text == "from b"
    assert a.complete(_request()).text == "from a"
    assert [r.headers["x-goog-api-key"] for r in first.requests] == ["key-a"]
    assert [r.headers["x-goog-api-key"] for r in second.requests] == ["key-b"]


def test_plain_http_endpoint_keeps_its_scheme(server: GeminiServer) -> None:
    """An http:// base_url is used as such by the REST transport (v1beta path, JSON body)."""
    provider = GeminiLegacyProvider(api_key=KEY, base_url=server.base_url + "/", timeout=10)
    assert provider.complete(_request()).text == "ok"
    assert server.last.path == "/v1beta/models/gemini-1.5-flash:generateContent"


def test_seed_is_not_accepted(server: GeminiServer) -> None:
    """The legacy API has no seed: it is refused up front rather than silently dropped."""
    assert "seed" not in GeminiLegacyProvider.ACCEPTED_PARAMS
    provider = GeminiLegacyProvider(api_key=KEY, base_url=server.base_url, timeout=10)
    with pytest.raises(BadRequest, match="seed"):
        provider.complete(_request(seed=1))
    assert server.requests == []


def test_acomplete_does_not_block_the_event_loop(server: GeminiServer) -> None:
    """acomplete runs the blocking REST call in a worker thread: the loop keeps running."""
    server.enqueue(Reply("slow", delay=0.3))
    provider = GeminiLegacyProvider(api_key=KEY, base_url=server.base_url, timeout=10)

    async def scenario() -> tuple[bool, str]:
        task = asyncio.create_task(provider.acomplete(_request()))
        await asyncio.sleep(0.05)  # would only resume after the call if the loop were blocked
        pending_while_loop_ran = not task.done()
        return pending_while_loop_ran, (await task).text

    assert asyncio.run(scenario()) == (True, "slow")


def test_error_cause_is_the_api_core_exception(server: GeminiServer) -> None:
    """GeminiLegacyProvider chains google.api_core's exception."""
    server.enqueue(srv.server_error(503))
    provider = GeminiLegacyProvider(api_key=KEY, base_url=server.base_url, timeout=10)
    with pytest.raises(ProviderUnavailable) as info:
        provider.complete(_request())
    assert isinstance(info.value.__cause__, core_exceptions.ServiceUnavailable)
