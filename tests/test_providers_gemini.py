"""The Gemini adapters on their real SDKs against a local fault-injecting Gemini server.

Both adapters speak the same API, so the contract below runs against GeminiProvider
(google-genai) and GeminiLegacyProvider (google-generativeai), each sync and async.
What only one of them does is pinned at the end of this file (google-genai) and in
tests/test_providers_gemini_legacy.py.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.genai import errors as genai_errors

from llmops.errors import (
    AuthenticationFailed,
    BadRequest,
    ConfigError,
    ContentFiltered,
    ContextWindowExceeded,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from llmops.providers import (
    ChatMessage,
    CompletionRequest,
    GeminiLegacyProvider,
    GeminiProvider,
    Provider,
    ProviderResponse,
)
from tests.servers import GeminiServer, Hang, RecordedRequest, Reply, Reset, Respond
from tests.servers import gemini_server as srv

KEY = "AIza-test-0123456789abcdef"
TIMEOUT = 10.0
"""Attempt timeout of tests that expect an answer: generous, so a loaded machine cannot flake them."""
SILENT_TIMEOUT = 0.3
"""Attempt timeout of tests against a server that never answers."""

Adapter = GeminiProvider | GeminiLegacyProvider
Call = Callable[[Adapter, CompletionRequest], ProviderResponse]


def _sync(provider: Adapter, request: CompletionRequest) -> ProviderResponse:
    return provider.complete(request)


def _async(provider: Adapter, request: CompletionRequest) -> ProviderResponse:
    return asyncio.run(provider.acomplete(request))


@pytest.fixture(params=[_sync, _async], ids=["sync", "async"])
def call(request: pytest.FixtureRequest) -> Call:
    """Each test runs through ``complete`` and through ``acomplete``."""
    fn: Call = request.param
    return fn


@pytest.fixture(params=[GeminiProvider, GeminiLegacyProvider], ids=["genai", "legacy"])
def adapter(request: pytest.FixtureRequest) -> type[Adapter]:
    """Each test runs against both Gemini SDKs."""
    kind: type[Adapter] = request.param
    return kind


@pytest.fixture
def server() -> Iterator[GeminiServer]:
    with GeminiServer.running() as running:
        yield running


@pytest.fixture
def make(adapter: type[Adapter], server: GeminiServer) -> Callable[..., Adapter]:
    """Build the adapter under test against the local server."""

    def build(**kwargs: Any) -> Adapter:
        options: dict[str, Any] = {"api_key": KEY, "base_url": server.base_url, "timeout": TIMEOUT}
        options.update(kwargs)
        return adapter(**options)

    return build


def _request(model: str = "gemini-2.0-flash", **params: object) -> CompletionRequest:
    return CompletionRequest(
        messages=(
            ChatMessage("system", "be brief"),
            ChatMessage("user", "hello"),
            ChatMessage("assistant", "hi"),
            ChatMessage("user", "and now?"),
        ),
        model=model,
        params=params,
    )


def _fails(
    call: Call, provider: Adapter, request: CompletionRequest | None = None
) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        call(provider, request or _request())
    return info.value


# -- success -------------------------------------------------------------------------------


def test_answer_text_usage_finish_reason_and_model(
    server: GeminiServer, make: Callable[..., Adapter], call: Call
) -> None:
    """A 200 becomes a ProviderResponse: text, token counts, finish reason, modelVersion."""
    server.enqueue(Reply("Hello!", input_tokens=12, output_tokens=3, model="gemini-2.0-flash-001"))
    assert call(make(), _request()) == ProviderResponse(
        text="Hello!",
        input_tokens=12,
        output_tokens=3,
        finish_reason="STOP",
        model="gemini-2.0-flash-001",
    )


def test_request_shape_key_and_mapped_params(
    server: GeminiServer, make: Callable[..., Adapter], call: Call
) -> None:
    """System -> systemInstruction, assistant -> role model, params -> generationConfig names."""
    call(make(), _request(temperature=0.2, max_tokens=64, top_p=0.9, top_k=5, stop="END"))
    sent = server.last
    assert sent.method == "POST" and sent.path.endswith("/models/gemini-2.0-flash:generateContent")
    assert sent.headers["x-goog-api-key"] == KEY
    body = sent.json()
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "hello"}]},
        {"role": "model", "parts": [{"text": "hi"}]},
        {"role": "user", "parts": [{"text": "and now?"}]},
    ]
    assert body["systemInstruction"]["parts"] == [{"text": "be brief"}]
    assert body["generationConfig"] == {
        "temperature": 0.2,
        "maxOutputTokens": 64,
        "topP": 0.9,
        "topK": 5,
        "stopSequences": ["END"],
    }


def test_empty_text_explained_by_max_tokens_is_an_answer(
    server: GeminiServer, make: Callable[..., Adapter], call: Call
) -> None:
    """No text with finishReason MAX_TOKENS is returned as an empty answer, not an error."""
    server.enqueue(Reply("", finish_reason="MAX_TOKENS"))
    response = call(make(), _request())
    assert response.text == "" and response.finish_reason == "MAX_TOKENS"


def test_one_provider_serves_successive_event_loops(
    server: GeminiServer, make: Callable[..., Adapter]
) -> None:
    """acomplete works from several event loops in turn."""
    provider = make()
    texts = [asyncio.run(provider.acomplete(_request())).text for _ in range(3)]
    assert texts == ["ok", "ok", "ok"] and len(server.requests) == 3


def test_is_a_provider(make: Callable[..., Adapter]) -> None:
    """Both Gemini adapters satisfy the runtime-checkable Provider protocol."""
    assert isinstance(make(), Provider)


# -- error kinds -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        (srv.rate_limited(retry_delay="2s"), 2.0),
        (srv.rate_limited(retry_after="3"), 3.0),
        (srv.rate_limited(retry_delay="0.5s", retry_after="1"), 1.0),
        (srv.rate_limited(), None),
    ],
    ids=["retry-info", "retry-after", "header-wins", "none"],
)
def test_429_is_rate_limited_with_retry_after(
    server: GeminiServer,
    make: Callable[..., Adapter],
    call: Call,
    behaviour: Respond,
    expected: float | None,
) -> None:
    """429 RESOURCE_EXHAUSTED -> RateLimited; retry_after from Retry-After, else RetryInfo."""
    server.enqueue(behaviour)
    error = _fails(call, make())
    assert isinstance(error, RateLimited)
    assert error.retry_after == expected and error.status_code == 429
    assert len(server.requests) == 1, "the SDK must not retry on its own"


@pytest.mark.parametrize("status", [500, 503, 504])
def test_5xx_is_unavailable_and_not_retried_by_the_sdk(
    server: GeminiServer, make: Callable[..., Adapter], call: Call, status: int
) -> None:
    """5xx -> ProviderUnavailable; exactly one request (both SDKs retry 5xx by default)."""
    server.always(srv.server_error(status))
    error = _fails(call, make())
    assert type(error) is ProviderUnavailable and error.status_code == status
    assert len(server.requests) == 1


def test_invalid_key_400_is_authentication(
    server: GeminiServer, make: Callable[..., Adapter], call: Call
) -> None:
    """Gemini's wrong-key answer (400 + ErrorInfo API_KEY_INVALID) -> AuthenticationFailed."""
    server.enqueue(srv.api_key_invalid())
    error = _fails(call, make())
    assert type(error) is AuthenticationFailed and error.status_code == 400


@pytest.mark.parametrize("status", [401, 403])
def test_401_403_are_authentication(
    server: GeminiServer, make: Callable[..., Adapter], call: Call, status: int
) -> None:
    """401 UNAUTHENTICATED / 403 PERMISSION_DENIED -> AuthenticationFailed, one request only."""
    server.enqueue(srv.permission_denied(status))
    assert type(_fails(call, make())) is AuthenticationFailed
    assert len(server.requests) == 1, "no hidden credential-refresh re-send"


@pytest.mark.parametrize("status", [400, 404])
def test_400_404_are_bad_requests(
    server: GeminiServer, make: Callable[..., Adapter], call: Call, status: int
) -> None:
    """Other 400/404 answers -> BadRequest with the provider's message."""
    server.enqueue(srv.bad_request(status, "Invalid value at 'generation_config.temperature'"))
    error = _fails(call, make())
    assert type(error) is BadRequest and error.status_code == status
    assert "generation_config.temperature" in str(error)


def test_context_length_exceeded(
    server: GeminiServer, make: Callable[..., Adapter], call: Call
) -> None:
    """The over-long-prompt 400 -> ContextWindowExceeded (moves on, no retry)."""
    server.enqueue(srv.context_length_exceeded())
    error = _fails(call, make())
    assert type(error) is ContextWindowExceeded and error.status_code == 400


@pytest.mark.parametrize(
    "reason",
    ["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII"],
)
def test_200_with_policy_finish_reason_is_content_filtered(
    server: GeminiServer, make: Callable[..., Adapter], call: Call, reason: str
) -> None:
    """HTTP 200 whose candidate finished with SAFETY/RECITATION/... -> ContentFiltered(reason)."""
    server.enqueue(srv.blocked_answer(reason, text="partial words"))
    error = _fails(call, make())
    assert isinstance(error, ContentFiltered)
    assert error.reason == reason and error.status_code == 200
    assert not error.retry_same_target


@pytest.mark.parametrize("reason", ["SAFETY", "OTHER", "PROHIBITED_CONTENT"])
def test_blocked_prompt_is_content_filtered(
    server: GeminiServer, make: Callable[..., Adapter], call: Call, reason: str
) -> None:
    """HTTP 200 with promptFeedback.blockReason and no candidates -> ContentFiltered(reason)."""
    server.enqueue(srv.blocked_prompt(reason))
    error = _fails(call, make())
    assert isinstance(error, ContentFiltered) and error.reason == reason


@pytest.mark.parametrize(
    "behaviour",
    [
        srv.no_candidates(),
        srv.empty_body(),
        srv.not_json(),
        Respond(200, [1, 2]),
        Respond(200, {"candidates": [{"content": {"parts": [{"text": 5}]}}]}),
        Reply("", finish_reason="STOP"),
    ],
    ids=["no-candidates", "empty-body", "not-json", "list", "non-text", "empty-stop"],
)
def test_malformed_answers(
    server: GeminiServer, make: Callable[..., Adapter], call: Call, behaviour: Respond | Reply
) -> None:
    """No candidates, no/unparseable body, wrong shapes, unexplained empty text -> MalformedResponse."""
    server.enqueue(behaviour)
    assert type(_fails(call, make())) is MalformedResponse


def test_connection_reset_is_unavailable(
    server: GeminiServer, make: Callable[..., Adapter], call: Call
) -> None:
    """A reset before any response byte -> ProviderUnavailable after one request."""
    server.enqueue(Reset())
    assert type(_fails(call, make())) is ProviderUnavailable
    assert len(server.requests) == 1


def test_connection_refused_is_unavailable(adapter: type[Adapter], call: Call) -> None:
    """Nothing listening -> ProviderUnavailable."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = adapter(api_key=KEY, base_url=f"http://127.0.0.1:{port}", timeout=TIMEOUT)
    assert type(_fails(call, provider)) is ProviderUnavailable


def test_silent_server_times_out_at_the_attempt_timeout(
    server: GeminiServer, make: Callable[..., Adapter], call: Call
) -> None:
    """A server that never answers -> ProviderTimeout after about `timeout`, one request only."""
    server.always(Hang())
    started = time.monotonic()
    error = _fails(call, make(timeout=SILENT_TIMEOUT))
    elapsed = time.monotonic() - started
    assert type(error) is ProviderTimeout
    # Bounded by the attempt timeout (not the SDK's default of a minute or more); the upper
    # bound is loose because the machine may be busy, and one request proves no retry.
    assert SILENT_TIMEOUT * 0.9 <= elapsed < SILENT_TIMEOUT + 3.0
    assert len(server.requests) == 1


def test_request_timeout_overrides_the_provider_default(
    server: GeminiServer, make: Callable[..., Adapter], call: Call
) -> None:
    """CompletionRequest.timeout bounds the attempt instead of the provider's timeout."""
    server.always(Hang())
    request = CompletionRequest(messages=(ChatMessage("user", "x"),), model="m", timeout=0.2)
    started = time.monotonic()
    assert type(_fails(call, make(timeout=30), request)) is ProviderTimeout
    assert time.monotonic() - started < 5.0  # far below the provider's own 30 s


def test_errors_name_provider_and_model_and_chain_the_sdk_error(
    server: GeminiServer, make: Callable[..., Adapter], call: Call
) -> None:
    """The llmops error has the SDK's exception as __cause__ and names provider and model."""
    server.enqueue(srv.server_error(503))
    error = _fails(call, make(), _request(model="gemini-x"))
    assert error.__cause__ is not None and not isinstance(error.__cause__, ProviderError)
    assert error.provider == "gemini" and error.model == "gemini-x"


# -- secrets and bad input -------------------------------------------------------------------


def _echo_key(request: RecordedRequest) -> Respond:
    """A hostile server that quotes the caller's key back in its error message."""
    return Respond(
        400,
        srv.error_body(
            400, "INVALID_ARGUMENT", f"API key {request.headers['x-goog-api-key']} not valid"
        ),
    )


def test_api_key_never_in_error_or_repr(
    server: GeminiServer, make: Callable[..., Adapter], call: Call
) -> None:
    """Even when the server echoes the key, str(error) and repr(provider) do not contain it."""
    server.always(_echo_key)
    provider = make()
    error = _fails(call, provider)
    assert KEY not in str(error) and "***" in str(error)
    assert KEY not in repr(provider)


@pytest.mark.parametrize("variable", ["GEMINI_API_KEY", "GOOGLE_API_KEY"])
def test_api_key_from_environment(
    server: GeminiServer,
    adapter: type[Adapter],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    """Without api_key, GEMINI_API_KEY (then GOOGLE_API_KEY) is used."""
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.setenv(variable, "AIza-from-env")
    adapter(base_url=server.base_url, timeout=TIMEOUT).complete(_request())
    assert server.last.headers["x-goog-api-key"] == "AIza-from-env"


def test_no_api_key_is_a_config_error(
    adapter: type[Adapter], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No key anywhere -> ConfigError naming the variables."""
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="GEMINI_API_KEY"):
        adapter()


def test_non_positive_timeout_is_a_config_error(adapter: type[Adapter]) -> None:
    """timeout must be positive."""
    with pytest.raises(ConfigError, match="timeout"):
        adapter(api_key=KEY, timeout=0)


def test_unknown_param_is_refused_before_any_request(
    server: GeminiServer, make: Callable[..., Adapter], call: Call
) -> None:
    """A parameter outside ACCEPTED_PARAMS -> BadRequest naming it; nothing is sent."""
    error = _fails(call, make(), _request(logit_bias={"1": 2}))
    assert type(error) is BadRequest and "logit_bias" in str(error)
    assert server.requests == []


def test_accepted_params_readable_without_an_instance(adapter: type[Adapter]) -> None:
    """ACCEPTED_PARAMS is a class attribute equal to the instance's accepted_params."""
    assert {"temperature", "max_tokens", "top_p", "top_k", "stop"} <= adapter.ACCEPTED_PARAMS
    assert adapter(api_key=KEY).accepted_params == adapter.ACCEPTED_PARAMS


# -- google-genai only -----------------------------------------------------------------------


def test_genai_maps_seed_and_penalties(server: GeminiServer, call: Call) -> None:
    """GeminiProvider passes seed and the penalties under their Gemini names."""
    provider = GeminiProvider(api_key=KEY, base_url=server.base_url, timeout=TIMEOUT)
    call(provider, _request(seed=7, presence_penalty=0.5, frequency_penalty=0.25))
    config = server.last.json()["generationConfig"]
    assert config == {"seed": 7, "presencePenalty": 0.5, "frequencyPenalty": 0.25}


def test_genai_thinking_tokens_count_as_output(server: GeminiServer, call: Call) -> None:
    """thoughtsTokenCount is billed as output: it is added to candidatesTokenCount."""
    body = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"text": "pondering", "thought": True}, {"text": "42"}],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 9,
            "candidatesTokenCount": 2,
            "thoughtsTokenCount": 30,
        },
    }
    server.enqueue(Respond(200, body))
    provider = GeminiProvider(api_key=KEY, base_url=server.base_url, timeout=TIMEOUT)
    response = call(provider, _request())
    assert (response.text, response.input_tokens, response.output_tokens) == ("42", 9, 32)


def test_genai_invalid_param_value_is_a_bad_request(server: GeminiServer, call: Call) -> None:
    """A value the SDK's config model refuses -> BadRequest naming the parameter; nothing sent."""
    provider = GeminiProvider(api_key=KEY, base_url=server.base_url, timeout=TIMEOUT)
    error = _fails(call, provider, _request(temperature="hot"))
    assert type(error) is BadRequest and "temperature" in str(error)
    assert server.requests == []


def test_genai_error_cause_is_the_sdk_api_error(server: GeminiServer, call: Call) -> None:
    """GeminiProvider chains google.genai's APIError."""
    server.enqueue(srv.server_error(500))
    provider = GeminiProvider(api_key=KEY, base_url=server.base_url, timeout=TIMEOUT)
    assert isinstance(_fails(call, provider).__cause__, genai_errors.ServerError)
