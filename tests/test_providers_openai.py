"""OpenAIProvider on the real openai SDK against a local fault-injecting OpenAI server."""

from __future__ import annotations

import asyncio
import email.utils
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

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
    QuotaExhausted,
    RateLimited,
)
from llmops.providers import (
    ChatMessage,
    CompletionRequest,
    OpenAIProvider,
    Provider,
    ProviderResponse,
)
from tests.servers import Hang, OpenAIServer, RecordedRequest, Reply, Reset, Respond
from tests.servers import openai_server as srv

KEY = "sk-test-0123456789abcdef"
TIMEOUT = 10.0
"""Attempt timeout of tests that expect an answer: generous, so a loaded machine cannot flake them."""
SILENT_TIMEOUT = 0.3
"""Attempt timeout of tests against a server that never answers."""

Call = Callable[[OpenAIProvider, CompletionRequest], ProviderResponse]


def _sync(provider: OpenAIProvider, request: CompletionRequest) -> ProviderResponse:
    return provider.complete(request)


def _async(provider: OpenAIProvider, request: CompletionRequest) -> ProviderResponse:
    return asyncio.run(provider.acomplete(request))


@pytest.fixture(params=[_sync, _async], ids=["sync", "async"])
def call(request: pytest.FixtureRequest) -> Call:
    """Each test runs once through ``complete`` and once through ``acomplete``."""
    fn: Call = request.param
    return fn


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer.running() as running:
        yield running


def _provider(server: OpenAIServer, **kwargs: Any) -> OpenAIProvider:
    options: dict[str, Any] = {"api_key": KEY, "base_url": server.base_url, "timeout": TIMEOUT}
    return OpenAIProvider(**(options | kwargs))


def _request(model: str = "gpt-4o-mini", **params: object) -> CompletionRequest:
    return CompletionRequest(
        messages=(ChatMessage("system", "be brief"), ChatMessage("user", "hello")),
        model=model,
        params=params,
    )


def _fails(
    call: Call, provider: OpenAIProvider, request: CompletionRequest | None = None
) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        call(provider, request or _request())
    return info.value


# -- success -------------------------------------------------------------------------------


def test_answer_text_usage_finish_reason_and_model(server: OpenAIServer, call: Call) -> None:
    """A 200 becomes a ProviderResponse with the text, both token counts, finish reason, model."""
    server.enqueue(Reply("Hi there", input_tokens=21, output_tokens=4, model="gpt-4o-mini-2024"))
    response = call(_provider(server), _request())
    assert response == ProviderResponse(
        text="Hi there",
        input_tokens=21,
        output_tokens=4,
        finish_reason="stop",
        model="gpt-4o-mini-2024",
    )


def test_request_carries_messages_model_key_and_mapped_params(
    server: OpenAIServer, call: Call
) -> None:
    """Messages, model and every common param reach the server under OpenAI's names."""
    call(
        _provider(server),
        _request(
            temperature=0.2,
            max_tokens=64,
            top_p=0.9,
            stop=["\n\n"],
            seed=7,
            presence_penalty=0.1,
            frequency_penalty=0.3,
        ),
    )
    sent = server.last
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    body = sent.json()
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello"},
    ]
    assert {k: body[k] for k in ("temperature", "top_p", "stop", "seed")} == {
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["\n\n"],
        "seed": 7,
    }
    assert body["presence_penalty"] == 0.1 and body["frequency_penalty"] == 0.3
    assert body["max_tokens"] == 64 and "max_completion_tokens" not in body
    assert sent.headers["x-stainless-retry-count"] == "0"


def test_max_tokens_can_be_sent_as_max_completion_tokens(server: OpenAIServer, call: Call) -> None:
    """max_tokens_field='max_completion_tokens' renames the common max_tokens parameter."""
    call(_provider(server, max_tokens_field="max_completion_tokens"), _request(max_tokens=9))
    body = server.last.json()
    assert body["max_completion_tokens"] == 9 and "max_tokens" not in body


def test_official_endpoint_defaults_to_max_completion_tokens() -> None:
    """Against api.openai.com the adapter sends max_completion_tokens (newer models need it)."""
    assert OpenAIProvider(api_key=KEY).max_tokens_field == "max_completion_tokens"


def test_missing_usage_gives_none_tokens(server: OpenAIServer, call: Call) -> None:
    """A server that reports no usage yields None token counts, not zeros."""
    server.enqueue(Reply("x", input_tokens=None, output_tokens=None))
    response = call(_provider(server), _request())
    assert response.input_tokens is None and response.output_tokens is None


def test_empty_text_explained_by_length_is_an_answer(server: OpenAIServer, call: Call) -> None:
    """Empty content with finish_reason 'length' (budget spent) is returned, not an error."""
    server.enqueue(Reply("", finish_reason="length"))
    response = call(_provider(server), _request())
    assert response.text == "" and response.finish_reason == "length"


def test_one_provider_serves_successive_event_loops(server: OpenAIServer) -> None:
    """acomplete works from several event loops in turn (one async client per loop)."""
    provider = _provider(server)
    texts = [asyncio.run(provider.acomplete(_request())).text for _ in range(3)]
    assert texts == ["ok", "ok", "ok"] and len(server.requests) == 3


def test_is_a_provider(server: OpenAIServer) -> None:
    """OpenAIProvider satisfies the runtime-checkable Provider protocol."""
    assert isinstance(_provider(server), Provider)


# -- error kinds -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"Retry-After": "0.5"}, 0.5),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
        ({}, None),
    ],
)
def test_429_is_rate_limited_with_retry_after(
    server: OpenAIServer, call: Call, headers: dict[str, str], expected: float | None
) -> None:
    """429 -> RateLimited; retry_after from retry-after-ms, else Retry-After seconds."""
    server.enqueue(srv.rate_limited(headers.get("Retry-After"), headers.get("retry-after-ms")))
    error = _fails(call, _provider(server))
    assert isinstance(error, RateLimited)
    assert error.retry_after == expected and error.status_code == 429
    assert len(server.requests) == 1, "the SDK must not retry on its own"


def test_429_insufficient_quota_is_quota_exhausted(server: OpenAIServer, call: Call) -> None:
    """429 with code insufficient_quota -> QuotaExhausted: not retried on the same target."""
    server.enqueue(srv.rate_limited(retry_after="1", code="insufficient_quota"))
    error = _fails(call, _provider(server))
    assert isinstance(error, QuotaExhausted) and isinstance(error, RateLimited)
    assert error.kind == "quota_exhausted" and error.status_code == 429
    assert not error.retry_same_target and error.try_next_target


def test_429_retry_after_http_date(server: OpenAIServer, call: Call) -> None:
    """A Retry-After HTTP-date becomes the seconds left until that date."""
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    server.enqueue(srv.rate_limited(retry_after=date))
    error = _fails(call, _provider(server))
    assert isinstance(error, RateLimited)
    assert error.retry_after is not None and 27 <= error.retry_after <= 30


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_unavailable_and_not_retried_by_the_sdk(
    server: OpenAIServer, call: Call, status: int
) -> None:
    """Any 5xx -> ProviderUnavailable with its status; exactly one request reaches the server."""
    server.always(srv.server_error(status))
    error = _fails(call, _provider(server))
    assert type(error) is ProviderUnavailable and error.status_code == status
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_401_403_are_authentication_failures(server: OpenAIServer, call: Call, status: int) -> None:
    """401/403 -> AuthenticationFailed after exactly one request."""
    server.enqueue(srv.auth_failed(status))
    error = _fails(call, _provider(server))
    assert type(error) is AuthenticationFailed and error.status_code == status
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [400, 404, 422])
def test_400_404_422_are_bad_requests(server: OpenAIServer, call: Call, status: int) -> None:
    """400/404/422 without a more specific code -> BadRequest, carrying the provider message."""
    server.enqueue(srv.bad_request(status, "Invalid value for 'temperature'."))
    error = _fails(call, _provider(server))
    assert type(error) is BadRequest and error.status_code == status
    assert "Invalid value for 'temperature'." in str(error)


def test_context_length_exceeded_by_error_code(server: OpenAIServer, call: Call) -> None:
    """error.code context_length_exceeded -> ContextWindowExceeded (a BadRequest that moves on)."""
    server.enqueue(srv.context_length_exceeded())
    error = _fails(call, _provider(server))
    assert type(error) is ContextWindowExceeded and error.status_code == 400
    assert error.try_next_target and not error.retry_same_target


def test_context_code_wins_over_message_text(server: OpenAIServer, call: Call) -> None:
    """Classification reads error.code, not the message: a plain 400 mentioning context stays BadRequest."""
    server.enqueue(srv.bad_request(400, "maximum context length is 8192 tokens"))
    assert type(_fails(call, _provider(server))) is BadRequest


def test_content_policy_violation_by_error_code(server: OpenAIServer, call: Call) -> None:
    """error.code content_policy_violation -> ContentFiltered with that reason."""
    server.enqueue(srv.content_policy_violation())
    error = _fails(call, _provider(server))
    assert isinstance(error, ContentFiltered)
    assert error.reason == "content_policy_violation" and error.status_code == 400
    assert "safety system" in str(error)


def test_finish_reason_content_filter(server: OpenAIServer, call: Call) -> None:
    """A 200 whose choice finished with content_filter -> ContentFiltered('content_filter')."""
    server.enqueue(srv.content_filtered_reply("partial"))
    error = _fails(call, _provider(server))
    assert isinstance(error, ContentFiltered) and error.reason == "content_filter"


def test_refusal_is_content_filtered(server: OpenAIServer, call: Call) -> None:
    """A message with only a refusal -> ContentFiltered('refusal') carrying the refusal text."""
    body = {
        "id": "c",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "refusal": "I can't help"},
                "finish_reason": "stop",
            }
        ],
    }
    server.enqueue(Respond(200, body))
    error = _fails(call, _provider(server))
    assert isinstance(error, ContentFiltered) and error.reason == "refusal"
    assert "I can't help" in str(error)


@pytest.mark.parametrize(
    "behaviour",
    [
        srv.no_choices(),
        srv.empty_body(),
        srv.not_json(),
        Respond(200, {"choices": None}),
        Respond(200, [1, 2]),
        Respond(200, {"choices": [{"message": {"content": 5}, "finish_reason": "stop"}]}),
        Reply("", finish_reason="stop"),
    ],
    ids=["no-choices", "empty-body", "not-json", "null-choices", "list", "non-text", "empty-stop"],
)
def test_malformed_answers(server: OpenAIServer, call: Call, behaviour: Respond | Reply) -> None:
    """No choices, no/unparseable body, non-text content, unexplained empty text -> MalformedResponse."""
    server.enqueue(behaviour)
    assert type(_fails(call, _provider(server))) is MalformedResponse


def test_connection_reset_is_unavailable(server: OpenAIServer, call: Call) -> None:
    """A reset before any response byte -> ProviderUnavailable, after exactly one request."""
    server.enqueue(Reset())
    error = _fails(call, _provider(server))
    assert type(error) is ProviderUnavailable and error.status_code is None
    assert len(server.requests) == 1


def test_connection_refused_is_unavailable(call: Call) -> None:
    """Nothing listening on the port -> ProviderUnavailable."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = OpenAIProvider(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1", timeout=TIMEOUT)
    assert type(_fails(call, provider)) is ProviderUnavailable


def test_silent_server_times_out_at_the_attempt_timeout(server: OpenAIServer, call: Call) -> None:
    """A server that never answers -> ProviderTimeout after about `timeout` seconds, not longer."""
    server.always(Hang())
    started = time.monotonic()
    error = _fails(call, _provider(server, timeout=SILENT_TIMEOUT))
    elapsed = time.monotonic() - started
    assert type(error) is ProviderTimeout
    # Bounded by the attempt timeout (not the SDK's default of a minute or more); the upper
    # bound is loose because the machine may be busy, and one request proves no retry.
    assert SILENT_TIMEOUT * 0.9 <= elapsed < SILENT_TIMEOUT + 3.0
    assert len(server.requests) == 1


def test_request_timeout_overrides_the_provider_default(server: OpenAIServer, call: Call) -> None:
    """CompletionRequest.timeout bounds this attempt instead of the provider's timeout."""
    server.always(Hang())
    provider = OpenAIProvider(api_key=KEY, base_url=server.base_url, timeout=30)
    request = CompletionRequest(messages=(ChatMessage("user", "x"),), model="m", timeout=0.2)
    started = time.monotonic()
    assert type(_fails(call, provider, request)) is ProviderTimeout
    assert time.monotonic() - started < 5.0  # far below the provider's own 30 s


def test_errors_are_raised_from_the_sdk_exception(server: OpenAIServer, call: Call) -> None:
    """The llmops error chains the SDK's exception as __cause__ and names provider and model."""
    server.enqueue(srv.server_error(503))
    error = _fails(call, _provider(server), _request(model="gpt-x"))
    assert isinstance(error.__cause__, openai.InternalServerError)
    assert error.provider == "openai" and error.model == "gpt-x"


# -- secrets and bad input -------------------------------------------------------------------


def _echo_authorization(request: RecordedRequest) -> Respond:
    """A hostile server that quotes the caller's credentials back in its error message."""
    return Respond(
        401,
        srv.error_body(
            f"Incorrect API key provided: {request.headers['authorization']}",
            "invalid_request_error",
            "invalid_api_key",
        ),
    )


def test_api_key_never_in_error_or_repr(server: OpenAIServer, call: Call) -> None:
    """Even when the server echoes the key, str(error) and repr(provider) do not contain it."""
    server.always(_echo_authorization)
    provider = _provider(server)
    error = _fails(call, provider)
    assert isinstance(error, AuthenticationFailed)
    assert KEY not in str(error) and KEY not in repr(error) and "***" in str(error)
    assert KEY not in repr(provider)


def test_api_key_from_environment(
    server: OpenAIServer, monkeypatch: pytest.MonkeyPatch, call: Call
) -> None:
    """Without api_key, OPENAI_API_KEY is used."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    call(OpenAIProvider(base_url=server.base_url, timeout=TIMEOUT), _request())
    assert server.last.headers["authorization"] == "Bearer sk-from-env"


def test_no_api_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """No api_key and no OPENAI_API_KEY -> ConfigError naming the variable."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAIProvider()


@pytest.mark.parametrize("timeout", [0, -1.0])
def test_non_positive_timeout_is_a_config_error(timeout: float) -> None:
    """timeout must be positive."""
    with pytest.raises(ConfigError, match="timeout"):
        OpenAIProvider(api_key=KEY, timeout=timeout)


def test_unknown_param_is_refused_before_any_request(server: OpenAIServer, call: Call) -> None:
    """A parameter outside ACCEPTED_PARAMS -> BadRequest naming it; nothing is sent."""
    error = _fails(call, _provider(server), _request(top_k=5))
    assert type(error) is BadRequest and "top_k" in str(error)
    assert server.requests == []


def test_both_max_token_names_is_a_bad_request(server: OpenAIServer, call: Call) -> None:
    """max_tokens and max_completion_tokens together are ambiguous -> BadRequest."""
    provider = _provider(server, max_tokens_field="max_completion_tokens")
    error = _fails(call, provider, _request(max_tokens=1, max_completion_tokens=2))
    assert type(error) is BadRequest and "max_completion_tokens" in str(error)


def test_accepted_params_readable_without_an_instance() -> None:
    """ACCEPTED_PARAMS is a class attribute (config validation reads it) equal to accepted_params."""
    assert {"temperature", "max_tokens", "top_p", "stop", "seed"} <= OpenAIProvider.ACCEPTED_PARAMS
    assert OpenAIProvider(api_key=KEY).accepted_params == OpenAIProvider.ACCEPTED_PARAMS


def test_shared_fixture_serves_the_adapter(openai_http: OpenAIServer) -> None:
    """The importable `openai_http` fixture from tests.servers works as documented."""
    openai_http.enqueue(Reply("via fixture"))
    provider = OpenAIProvider(api_key=KEY, base_url=openai_http.base_url, timeout=TIMEOUT)
    assert provider.complete(_request()).text == "via fixture"
