"""OpenAI (and any OpenAI-compatible server) through the official ``openai`` SDK.

The SDK is imported when an :class:`OpenAIProvider` is built, not when this module is: a host
without the ``openai`` extra can import :mod:`llmops.providers`. The SDK's own retries are off
(``max_retries=0``); the router is the only retry loop.

Failures are classified by, in order: OpenAI's ``error.code`` (``context_length_exceeded``,
``content_policy_violation``), the HTTP status, and the SDK exception type (timeout vs.
connection error). The message text is never used to decide a kind.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from llmops.errors import (
    BadRequest,
    ConfigError,
    ContentFiltered,
    ContextWindowExceeded,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    QuotaExhausted,
)
from llmops.providers._errors import error_for_status, parse_retry_after, redact
from llmops.providers.base import COMMON_PARAMS, CompletionRequest, ProviderResponse

if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletion

__all__ = ["OpenAIProvider"]

_CONTEXT_CODES = frozenset({"context_length_exceeded"})
_POLICY_CODES = frozenset({"content_policy_violation", "content_filter"})
_QUOTA_CODES = frozenset({"insufficient_quota"})
"""429 codes that mean the quota or credit is spent, not a momentary rate limit."""
_FINISHED_WITHOUT_TEXT = frozenset({"length", "tool_calls", "function_call"})
"""Finish reasons that explain an empty ``content`` (so it is an answer, not a malformed one)."""

MaxTokensField = Literal["max_tokens", "max_completion_tokens"]


def _import_sdk() -> Any:
    try:
        import openai  # noqa: PLC0415  (lazy on purpose: the SDK is an optional extra)
    except ImportError as exc:
        raise ImportError(
            "OpenAIProvider needs the openai SDK: pip install 'llmops[openai]'"
        ) from exc
    return openai


class OpenAIProvider:
    """Chat completions on OpenAI or an OpenAI-compatible server.

    ``api_key`` defaults to ``$OPENAI_API_KEY``; ``base_url`` to the SDK's default
    (``$OPENAI_BASE_URL`` or api.openai.com). ``timeout`` is seconds per attempt (connect and
    each read); a request's own ``timeout`` overrides it.

    The common ``max_tokens`` parameter is sent as ``max_completion_tokens`` to api.openai.com
    (its newer models refuse ``max_tokens``) and as ``max_tokens`` to other servers, which
    mostly only know that name; ``max_tokens_field`` forces either.
    """

    name: ClassVar[str] = "openai"
    ACCEPTED_PARAMS: ClassVar[frozenset[str]] = COMMON_PARAMS | frozenset(
        {
            "max_completion_tokens",
            "logit_bias",
            "user",
            "response_format",
            "reasoning_effort",
            "service_tier",
        }
    )

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        organization: str | None = None,
        *,
        project: str | None = None,
        max_tokens_field: MaxTokensField | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        if not timeout > 0:
            raise ConfigError(f"OpenAIProvider: timeout must be > 0 seconds, got {timeout!r}")
        sdk = _import_sdk()
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            raise ConfigError("OpenAIProvider: no API key: pass api_key= or set OPENAI_API_KEY")
        self._api_key = key
        self.timeout = float(timeout)
        options: dict[str, Any] = {
            "api_key": key,
            "organization": organization,
            "project": project,
            "timeout": self.timeout,
            "max_retries": 0,
            "default_headers": dict(default_headers) if default_headers else None,
        }
        if base_url is not None:
            options["base_url"] = base_url
        self._client: openai.OpenAI = sdk.OpenAI(**options)
        self._options = options
        # One async client per event loop, built on first use: an httpx connection pool
        # belongs to the loop that opened it, and a host may run several loops in turn.
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.AsyncOpenAI]
        self._aclients = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self.base_url = str(self._client.base_url)
        if max_tokens_field is None:
            official = self.base_url.startswith("https://api.openai.com/")
            max_tokens_field = "max_completion_tokens" if official else "max_tokens"
        self.max_tokens_field: MaxTokensField = max_tokens_field
        self._sdk = sdk

    def __repr__(self) -> str:
        return f"OpenAIProvider(base_url={self.base_url!r}, timeout={self.timeout!r})"

    @property
    def accepted_params(self) -> frozenset[str]:
        """Generation parameters this adapter passes on."""
        return self.ACCEPTED_PARAMS

    # -- the two shells --------------------------------------------------------------------
    def complete(self, request: CompletionRequest) -> ProviderResponse:
        """One blocking chat completion."""
        kwargs = self._call_kwargs(request)
        try:
            completion = self._client.chat.completions.create(**kwargs)
        except (self._sdk.OpenAIError, json.JSONDecodeError) as exc:
            raise self._translate(exc, request.model) from exc
        return self._parse(completion, request.model)

    async def acomplete(self, request: CompletionRequest) -> ProviderResponse:
        """One async chat completion."""
        kwargs = self._call_kwargs(request)
        try:
            completion = await self._async_client().chat.completions.create(**kwargs)
        except (self._sdk.OpenAIError, json.JSONDecodeError) as exc:
            raise self._translate(exc, request.model) from exc
        return self._parse(completion, request.model)

    def close(self) -> None:
        """Close the blocking client's connections."""
        self._client.close()

    async def aclose(self) -> None:
        """Close the blocking client and the current event loop's async client."""
        self._client.close()
        with self._lock:
            client = self._aclients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    def _async_client(self) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._aclients.get(loop)
            if client is None:
                for closed in [other for other in self._aclients if other.is_closed()]:
                    del self._aclients[closed]  # its pool died with its loop
                client = self._sdk.AsyncOpenAI(**self._options)
                self._aclients[loop] = client
            return client

    # -- request ---------------------------------------------------------------------------
    def _call_kwargs(self, request: CompletionRequest) -> dict[str, Any]:
        unknown = sorted(set(request.params) - self.ACCEPTED_PARAMS)
        if unknown:
            raise BadRequest(
                f"parameter(s) not supported by OpenAIProvider: {', '.join(unknown)}",
                provider=self.name,
                model=request.model,
            )
        params = dict(request.params)
        if "max_tokens" in params and self.max_tokens_field == "max_completion_tokens":
            if "max_completion_tokens" in params:
                raise BadRequest(
                    "give either max_tokens or max_completion_tokens, not both",
                    provider=self.name,
                    model=request.model,
                )
            params["max_completion_tokens"] = params.pop("max_tokens")
        return {
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "timeout": request.timeout if request.timeout is not None else self.timeout,
            **params,
        }

    # -- response --------------------------------------------------------------------------
    def _parse(self, completion: ChatCompletion, model: str) -> ProviderResponse:
        # The SDK does not validate the body by default: a compatible server may send
        # anything, so every field is checked rather than trusted.
        choices = getattr(completion, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise MalformedResponse(
                "the answer has no choices", provider=self.name, model=model, status_code=200
            )
        choice = choices[0]
        finish = getattr(choice, "finish_reason", None)
        message = getattr(choice, "message", None)
        content = getattr(message, "content", None)
        refusal = getattr(message, "refusal", None)
        if finish == "content_filter":
            raise ContentFiltered(
                "the answer was withheld by the provider's content filter",
                reason="content_filter",
                provider=self.name,
                model=model,
                status_code=200,
            )
        if not content and isinstance(refusal, str) and refusal:
            raise ContentFiltered(
                redact(f"the model refused: {refusal}", (self._api_key,)),
                reason="refusal",
                provider=self.name,
                model=model,
                status_code=200,
            )
        if content is not None and not isinstance(content, str):
            raise MalformedResponse(
                f"choice content is a {type(content).__name__}, not text",
                provider=self.name,
                model=model,
                status_code=200,
            )
        if not content and finish not in _FINISHED_WITHOUT_TEXT:
            raise MalformedResponse(
                f"empty answer (finish_reason={finish!r})",
                provider=self.name,
                model=model,
                status_code=200,
            )
        usage = getattr(completion, "usage", None)
        reported_model = getattr(completion, "model", None)
        return ProviderResponse(
            text=content or "",
            input_tokens=_count(getattr(usage, "prompt_tokens", None)),
            output_tokens=_count(getattr(usage, "completion_tokens", None)),
            finish_reason=finish if isinstance(finish, str) else None,
            model=reported_model if isinstance(reported_model, str) else None,
        )

    # -- errors ----------------------------------------------------------------------------
    def _translate(self, exc: BaseException, model: str) -> ProviderError:
        sdk = self._sdk
        if isinstance(exc, json.JSONDecodeError):
            return MalformedResponse(
                f"the answer is not JSON: {exc.msg}",
                provider=self.name,
                model=model,
                status_code=200,
            )
        if isinstance(exc, sdk.APITimeoutError):
            return ProviderTimeout(
                "no answer within the attempt timeout", provider=self.name, model=model
            )
        if isinstance(exc, sdk.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            detail = f": {type(cause).__name__}" if cause is not None else ""
            return ProviderUnavailable(
                f"connection failed{detail}", provider=self.name, model=model
            )
        if isinstance(exc, sdk.APIResponseValidationError):
            return MalformedResponse(
                self._message(exc), provider=self.name, model=model, status_code=exc.status_code
            )
        if isinstance(exc, sdk.APIStatusError):
            return self._status_error(exc, model)
        return ProviderError(self._message(exc), provider=self.name, model=model)

    def _status_error(self, exc: openai.APIStatusError, model: str) -> ProviderError:
        status = exc.status_code
        code = exc.code
        message = self._message(exc)
        if code in _CONTEXT_CODES:
            return ContextWindowExceeded(
                message, provider=self.name, model=model, status_code=status
            )
        if code in _POLICY_CODES:
            return ContentFiltered(
                message, reason=code, provider=self.name, model=model, status_code=status
            )
        if status == 429 and code in _QUOTA_CODES:
            return QuotaExhausted(message, provider=self.name, model=model, status_code=status)
        retry_after = parse_retry_after(exc.response.headers) if status == 429 else None
        return error_for_status(
            status, message, provider=self.name, model=model, retry_after=retry_after
        )

    def _message(self, exc: BaseException) -> str:
        body = getattr(exc, "body", None)
        text = body.get("message") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text:
            text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return redact(text, (self._api_key,))


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
