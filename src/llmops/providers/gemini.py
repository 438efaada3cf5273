"""Gemini through google-genai, Google's maintained SDK.

The SDK is imported when a :class:`GeminiProvider` is built, not when this module is. Its own
retries are off (``HttpRetryOptions(attempts=1)``, which also stops the implicit reconnect
retry of its aiohttp transport); the router is the only retry loop.

Failures are classified by the Gemini error document (ErrorInfo reason, RPC status,
``RetryInfo``), then the HTTP status, then the transport exception type; HTTP-200 answers
blocked on policy grounds become :class:`~llmops.errors.ContentFiltered` (see
:func:`llmops.providers._gemini_common.parse_answer`).
"""

from __future__ import annotations

import importlib
import json
from typing import TYPE_CHECKING, Any, ClassVar

import pydantic

from llmops.errors import (
    BadRequest,
    ConfigError,
    MalformedResponse,
    ProviderError,
)
from llmops.providers import _gemini_common as common
from llmops.providers._errors import redact
from llmops.providers.base import COMMON_PARAMS, CompletionRequest, ProviderResponse

if TYPE_CHECKING:
    from google import genai
    from google.genai import types as genai_types

__all__ = ["GeminiProvider"]


def _import_sdk() -> tuple[Any, Any, Any]:
    try:
        from google import genai  # noqa: PLC0415  (lazy on purpose: optional extra)
        from google.genai import errors, types  # noqa: PLC0415
    except ImportError as exc:
        raise ImportError(
            "GeminiProvider needs the google-genai SDK: pip install 'llmops[gemini]'"
        ) from exc
    return genai, types, errors


def _transport_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(timeout types, connection-failure types) of whichever HTTP stacks the SDK may use."""
    timeouts: list[type[BaseException]] = [TimeoutError]
    failures: list[type[BaseException]] = [ConnectionError]
    for name in ("httpx2", "httpx"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        timeouts.append(module.TimeoutException)
        failures.append(module.TransportError)
    try:
        aiohttp = importlib.import_module("aiohttp")
    except ImportError:
        pass
    else:
        timeouts.append(aiohttp.ServerTimeoutError)
        failures.extend([aiohttp.ClientConnectionError, aiohttp.ClientPayloadError])
    return tuple(timeouts), tuple(failures)


class GeminiProvider:
    """``generateContent`` on the Gemini API (or a compatible server at ``base_url``).

    ``api_key`` defaults to ``$GEMINI_API_KEY`` then ``$GOOGLE_API_KEY``. ``base_url`` may be
    a plain ``http://`` URL. ``timeout`` is seconds per attempt; a request's own ``timeout``
    overrides it. System messages become the system instruction; assistant turns the
    ``model`` role.
    """

    name: ClassVar[str] = "gemini"
    ACCEPTED_PARAMS: ClassVar[frozenset[str]] = COMMON_PARAMS | frozenset(
        {"top_k", "response_mime_type"}
    )

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        *,
        api_version: str | None = None,
    ) -> None:
        if not timeout > 0:
            raise ConfigError(f"GeminiProvider: timeout must be > 0 seconds, got {timeout!r}")
        genai_module, types, errors = _import_sdk()
        key = common.resolve_api_key(api_key, "GeminiProvider")
        self._api_key = key
        self.timeout = float(timeout)
        self.base_url = base_url
        self._types = types
        self._errors = errors
        self._timeouts, self._failures = _transport_errors()
        http_options = types.HttpOptions(
            base_url=base_url,
            api_version=api_version,
            timeout=_millis(self.timeout),
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        self._client: genai.Client = genai_module.Client(
            api_key=key, vertexai=False, http_options=http_options
        )

    def __repr__(self) -> str:
        return f"GeminiProvider(base_url={self.base_url!r}, timeout={self.timeout!r})"

    @property
    def accepted_params(self) -> frozenset[str]:
        """Generation parameters this adapter passes on."""
        return self.ACCEPTED_PARAMS

    # -- the two shells --------------------------------------------------------------------
    def complete(self, request: CompletionRequest) -> ProviderResponse:
        """One blocking ``generateContent``."""
        contents, config = self._call_args(request)
        try:
            response = self._client.models.generate_content(
                model=request.model, contents=contents, config=config
            )
        except Exception as exc:
            raise self._translate(exc, request.model) from exc
        return self._parse(response, request.model)

    async def acomplete(self, request: CompletionRequest) -> ProviderResponse:
        """One async ``generateContent``."""
        contents, config = self._call_args(request)
        try:
            response = await self._client.aio.models.generate_content(
                model=request.model, contents=contents, config=config
            )
        except Exception as exc:
            raise self._translate(exc, request.model) from exc
        return self._parse(response, request.model)

    def close(self) -> None:
        """Close the blocking client's connections."""
        self._client.close()

    async def aclose(self) -> None:
        """Close both clients' connections."""
        self._client.close()
        await self._client.aio.aclose()

    # -- request ---------------------------------------------------------------------------
    def _call_args(
        self, request: CompletionRequest
    ) -> tuple[list[genai_types.Content], genai_types.GenerateContentConfig]:
        common.check_params(
            request.params, self.ACCEPTED_PARAMS, provider=self.name, model=request.model
        )
        types = self._types
        system, turns = common.split_messages(request.messages)
        contents = [types.Content(role=role, parts=[types.Part(text=text)]) for role, text in turns]
        options: dict[str, Any] = common.generation_config(request.params)
        if system is not None:
            options["system_instruction"] = system
        if request.timeout is not None:
            options["http_options"] = types.HttpOptions(
                timeout=_millis(request.timeout),
                retry_options=types.HttpRetryOptions(attempts=1),
            )
        try:
            config = types.GenerateContentConfig(**options)
        except pydantic.ValidationError as exc:  # a value of the wrong type or range
            raise BadRequest(
                redact(f"invalid generation parameter: {_first_error(exc)}", (self._api_key,)),
                provider=self.name,
                model=request.model,
            ) from exc
        return contents, config

    # -- response and errors ---------------------------------------------------------------
    def _parse(self, response: genai_types.GenerateContentResponse, model: str) -> ProviderResponse:
        doc = response.model_dump(mode="json", exclude_none=True, exclude={"sdk_http_response"})
        return common.parse_answer(doc, provider=self.name, model=model)

    def _translate(self, exc: Exception, model: str) -> ProviderError:
        if isinstance(exc, ProviderError):
            return exc
        errors = self._errors
        if isinstance(exc, errors.APIError):
            response = getattr(exc, "response", None)
            return common.classify_api_error(
                int(exc.code or 0),
                exc.details,
                getattr(response, "headers", None),
                fallback_message=str(exc.message or exc.status or "error"),
                provider=self.name,
                model=model,
                secrets=(self._api_key,),
            )
        transport = common.transport_error(
            exc, self._timeouts, self._failures, provider=self.name, model=model
        )
        if transport is not None:
            return transport
        if isinstance(
            exc, (json.JSONDecodeError, errors.UnknownApiResponseError, pydantic.ValidationError)
        ):
            # Not JSON, or JSON of the wrong shape (the SDK validates answers with pydantic).
            return MalformedResponse(
                f"unparseable answer: {type(exc).__name__}",
                provider=self.name,
                model=model,
                status_code=200,
            )
        if isinstance(exc, ValueError):  # the SDK refused the arguments before sending
            return BadRequest(redact(str(exc), (self._api_key,)), provider=self.name, model=model)
        raise exc  # not a provider failure: a bug to surface, not to route around


def _first_error(exc: pydantic.ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


def _millis(seconds: float) -> int:
    return max(1, round(seconds * 1000))
