"""Gemini through google-generativeai, the legacy SDK, for hosts already on it.

Google has ended support for google-generativeai and its import emits a ``FutureWarning``
saying so; we silence exactly that warning around our own import (hosts that import the SDK
themselves still see it). New code should use :class:`~llmops.providers.GeminiProvider`.

How it is wired:

* The REST transport (``transport="rest"``) with ``client_options.api_endpoint`` set to
  ``base_url``; an explicit ``http://`` scheme is kept, so a plain-HTTP local server works.
* Each provider builds its own ``GenerativeServiceClient`` and hands it to the SDK's
  ``GenerativeModel`` instead of calling ``genai.configure()``, which would change a
  process-wide default and make two providers (or the host's own use) interfere.
* ``request_options={"retry": None}`` switches off the client's default retry (it retries
  503s for up to 600 s), and the google-auth session's re-send of a 401 is turned off too;
  the router is the only retry loop.
* ``acomplete`` runs the blocking call in a worker thread: the SDK's async client only works
  over gRPC, and with the REST transport it makes a blocking call on the event loop and then
  fails (``TypeError: object GenerateContentResponse can't be used in 'await' expression``).
  The attempt timeout still bounds the thread.
"""

from __future__ import annotations

import asyncio
import importlib
import warnings
from typing import Any, ClassVar

from llmops.errors import (
    BadRequest,
    ConfigError,
    MalformedResponse,
    ProviderError,
)
from llmops.providers import _gemini_common as common
from llmops.providers._errors import redact
from llmops.providers.base import COMMON_PARAMS, CompletionRequest, ProviderResponse

__all__ = ["GeminiLegacyProvider"]

_SUPPORT_ENDED = r"\s*All support for the `google\.generativeai` package has ended"


class _SDK:
    """The pieces of google-generativeai (and the libraries it brings) the adapter uses."""

    def __init__(self) -> None:
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_SUPPORT_ENDED, category=FutureWarning)
                import google.generativeai as genai  # noqa: PLC0415  (lazy: optional extra)
            import requests  # noqa: PLC0415
            from google.ai import generativelanguage as glm  # noqa: PLC0415
            from google.api_core import exceptions as core_exceptions  # noqa: PLC0415
            from google.api_core.client_options import ClientOptions  # noqa: PLC0415

            json_format = importlib.import_module("google.protobuf.json_format")
        except ImportError as exc:
            raise ImportError(
                "GeminiLegacyProvider needs the google-generativeai SDK: "
                "pip install 'llmops[gemini]'"
            ) from exc
        self.genai: Any = genai
        self.glm: Any = glm
        self.core_exceptions: Any = core_exceptions
        self.ClientOptions: Any = ClientOptions
        self.ParseError: type[Exception] = json_format.ParseError
        self.requests: Any = requests


class GeminiLegacyProvider:
    """``generateContent`` through google-generativeai's ``GenerativeModel`` (REST transport).

    ``api_key`` defaults to ``$GEMINI_API_KEY`` then ``$GOOGLE_API_KEY``. ``base_url`` may be
    a plain ``http://`` URL. ``timeout`` is seconds per attempt. The legacy API has no
    ``seed`` parameter. Token counts of 0 may mean "not reported" (proto3 has no unset ints).
    """

    name: ClassVar[str] = "gemini"
    ACCEPTED_PARAMS: ClassVar[frozenset[str]] = (COMMON_PARAMS - {"seed"}) | frozenset(
        {"top_k", "response_mime_type"}
    )

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        if not timeout > 0:
            raise ConfigError(f"GeminiLegacyProvider: timeout must be > 0 seconds, got {timeout!r}")
        sdk = _SDK()
        key = common.resolve_api_key(api_key, "GeminiLegacyProvider")
        self._api_key = key
        self._sdk = sdk
        self.timeout = float(timeout)
        self.base_url = base_url
        options = sdk.ClientOptions(api_key=key)
        if base_url is not None:
            options.api_endpoint = base_url.rstrip("/")
        self._client = sdk.glm.GenerativeServiceClient(client_options=options, transport="rest")
        # google-auth's AuthorizedSession re-sends a request answered 401 after refreshing the
        # credentials (anonymous ones, with an API key): a hidden retry. Turn it off.
        session = getattr(self._client.transport, "_session", None)
        if session is not None and hasattr(session, "_max_refresh_attempts"):
            session._max_refresh_attempts = 0
        timeouts = (sdk.requests.Timeout,)
        self._timeouts: tuple[type[BaseException], ...] = timeouts
        self._failures: tuple[type[BaseException], ...] = (
            sdk.requests.ConnectionError,
            sdk.requests.exceptions.ChunkedEncodingError,
            ConnectionError,
        )

    def __repr__(self) -> str:
        return f"GeminiLegacyProvider(base_url={self.base_url!r}, timeout={self.timeout!r})"

    @property
    def accepted_params(self) -> frozenset[str]:
        """Generation parameters this adapter passes on."""
        return self.ACCEPTED_PARAMS

    def complete(self, request: CompletionRequest) -> ProviderResponse:
        """One blocking ``generateContent``."""
        common.check_params(
            request.params, self.ACCEPTED_PARAMS, provider=self.name, model=request.model
        )
        system, turns = common.split_messages(request.messages)
        model = self._sdk.genai.GenerativeModel(request.model, system_instruction=system)
        # GenerativeModel has no public way to take a client other than the process-wide
        # default; this SDK is frozen, so its `_client` attribute will not move.
        model._client = self._client
        timeout = request.timeout if request.timeout is not None else self.timeout
        try:
            response = model.generate_content(
                [{"role": role, "parts": [text]} for role, text in turns],
                generation_config=common.generation_config(request.params),
                request_options={"timeout": timeout, "retry": None},
            )
            doc = self._document(response)
        except Exception as exc:
            raise self._translate(exc, request.model) from exc
        return common.parse_answer(doc, provider=self.name, model=request.model)

    async def acomplete(self, request: CompletionRequest) -> ProviderResponse:
        """One ``generateContent`` in a worker thread (the SDK has no async REST client)."""
        return await asyncio.to_thread(self.complete, request)

    def close(self) -> None:
        """Close the client's connections."""
        self._client.transport.close()

    @staticmethod
    def _document(response: Any) -> dict[str, Any]:
        """The answer as a snake_case mapping with enum names (what parse_answer reads)."""

        def plain(message: Any) -> Any:
            return type(message).to_dict(message, use_integers_for_enums=False)

        return {
            "candidates": [plain(c) for c in response.candidates],
            "prompt_feedback": plain(response.prompt_feedback),
            "usage_metadata": plain(response.usage_metadata),
            "model_version": response.model_version,
        }

    def _translate(self, exc: Exception, model: str) -> ProviderError:
        sdk = self._sdk
        if isinstance(exc, ProviderError):
            return exc
        if isinstance(exc, sdk.core_exceptions.GoogleAPICallError):
            response = getattr(exc, "response", None)
            try:
                document = response.json() if response is not None else None
            except ValueError:
                document = None
            return common.classify_api_error(
                int(exc.code or 0),
                document,
                getattr(response, "headers", None),
                fallback_message=str(exc.message or type(exc).__name__),
                provider=self.name,
                model=model,
                secrets=(self._api_key,),
            )
        transport = common.transport_error(
            exc, self._timeouts, self._failures, provider=self.name, model=model
        )
        if transport is not None:
            return transport
        if isinstance(exc, sdk.ParseError):
            return MalformedResponse(
                "unparseable answer", provider=self.name, model=model, status_code=200
            )
        if isinstance(exc, (TypeError, ValueError)):  # the SDK refused the arguments
            return BadRequest(redact(str(exc), (self._api_key,)), provider=self.name, model=model)
        raise exc  # not a provider failure: a bug to surface, not to route around
