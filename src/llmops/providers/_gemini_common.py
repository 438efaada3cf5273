"""What the two Gemini adapters share: prompt shape, parameter names, answer and error rules.

Both SDKs speak the same ``generateContent`` API, so the rules live here once and each
adapter only converts its SDK's objects into plain snake_case mappings (pydantic
``model_dump`` for google-genai, proto-plus ``to_dict`` for google-generativeai).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

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
from llmops.providers._errors import error_for_status, parse_duration, parse_retry_after, redact
from llmops.providers.base import ChatMessage, ProviderResponse

__all__ = [
    "BLOCKING_FINISH_REASONS",
    "PARAM_NAMES",
    "check_params",
    "classify_api_error",
    "generation_config",
    "parse_answer",
    "resolve_api_key",
    "split_messages",
    "transport_error",
]

PARAM_NAMES: Mapping[str, str] = {
    "temperature": "temperature",
    "max_tokens": "max_output_tokens",
    "top_p": "top_p",
    "top_k": "top_k",
    "stop": "stop_sequences",
    "seed": "seed",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "response_mime_type": "response_mime_type",
}
"""llmops parameter name -> Gemini ``GenerationConfig`` field."""

BLOCKING_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "MODEL_ARMOR",
    }
)
"""Finish reasons that mean the answer was stopped on policy grounds (HTTP 200 all the same)."""

_FINISHED_WITHOUT_TEXT = frozenset({"MAX_TOKENS"})
_UNSPECIFIED = frozenset(
    {"FINISH_REASON_UNSPECIFIED", "BLOCK_REASON_UNSPECIFIED", "BLOCKED_REASON_UNSPECIFIED"}
)
_AUTH_RPC_STATUSES = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED"})

# The Gemini API has no error code or ErrorInfo reason for an over-long prompt: it answers
# 400 INVALID_ARGUMENT with this sentence. Matching the message is the only signal there is,
# so it is used here and nowhere else.
_CONTEXT_MESSAGE = re.compile(r"input token count.*exceeds the maximum", re.IGNORECASE | re.DOTALL)


def resolve_api_key(api_key: str | None, adapter: str) -> str:
    """The explicit key, else ``$GEMINI_API_KEY``, else ``$GOOGLE_API_KEY`` (as both SDKs do)."""
    key = api_key or os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY")
    if not key:
        raise ConfigError(
            f"{adapter}: no API key: pass api_key= or set GEMINI_API_KEY (or GOOGLE_API_KEY)"
        )
    return key


def split_messages(messages: Iterable[ChatMessage]) -> tuple[str | None, list[tuple[str, str]]]:
    """System messages joined into one system instruction; the rest as (gemini role, text)."""
    system: list[str] = []
    turns: list[tuple[str, str]] = []
    for message in messages:
        if message.role == "system":
            system.append(message.content)
        else:
            turns.append(("model" if message.role == "assistant" else "user", message.content))
    return ("\n\n".join(system) if system else None), turns


def check_params(
    params: Mapping[str, Any], accepted: frozenset[str], *, provider: str, model: str
) -> None:
    """Refuse parameters the adapter does not pass on (before any request is made)."""
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise BadRequest(
            f"parameter(s) not supported by this Gemini adapter: {', '.join(unknown)}",
            provider=provider,
            model=model,
        )


def generation_config(params: Mapping[str, Any]) -> dict[str, Any]:
    """The params under Gemini's ``GenerationConfig`` names (a lone stop string becomes a list)."""
    config: dict[str, Any] = {}
    for name, value in params.items():
        config[PARAM_NAMES[name]] = [value] if name == "stop" and isinstance(value, str) else value
    return config


def parse_answer(doc: Mapping[str, Any], *, provider: str, model: str) -> ProviderResponse:
    """A snake_case ``GenerateContentResponse`` mapping -> ProviderResponse, or the error it means.

    Blocked prompts (``prompt_feedback.block_reason``) and answers stopped for policy reasons
    (``finish_reason`` in :data:`BLOCKING_FINISH_REASONS`) are :class:`ContentFiltered` even
    though they arrive as HTTP 200; no candidate, or empty text that no finish reason
    explains, is a :class:`MalformedResponse`.
    """
    feedback = doc.get("prompt_feedback")
    block_reason = _enum(feedback.get("block_reason")) if isinstance(feedback, Mapping) else None
    if block_reason:
        raise ContentFiltered(
            f"the prompt was blocked ({block_reason})",
            reason=block_reason,
            provider=provider,
            model=model,
            status_code=200,
        )
    candidates = doc.get("candidates")
    if not isinstance(candidates, Sequence) or not candidates:
        raise MalformedResponse(
            "the answer has no candidates", provider=provider, model=model, status_code=200
        )
    candidate = candidates[0]
    if not isinstance(candidate, Mapping):
        raise MalformedResponse(
            "the answer's candidate is not an object",
            provider=provider,
            model=model,
            status_code=200,
        )
    finish = _enum(candidate.get("finish_reason"))
    if finish in BLOCKING_FINISH_REASONS:
        raise ContentFiltered(
            f"the answer was stopped by the provider ({finish})",
            reason=finish,
            provider=provider,
            model=model,
            status_code=200,
        )
    text = _text_of(candidate.get("content"))
    if text is None:
        raise MalformedResponse(
            "the answer's content is not text", provider=provider, model=model, status_code=200
        )
    if not text and finish not in _FINISHED_WITHOUT_TEXT:
        raise MalformedResponse(
            f"empty answer (finish_reason={finish!r})",
            provider=provider,
            model=model,
            status_code=200,
        )
    usage = doc.get("usage_metadata")
    usage = usage if isinstance(usage, Mapping) else {}
    output = _count(usage.get("candidates_token_count"))
    thoughts = _count(usage.get("thoughts_token_count"))
    if output is not None and thoughts:
        output += thoughts  # thinking tokens are billed as output tokens
    reported = doc.get("model_version")
    return ProviderResponse(
        text=text,
        input_tokens=_count(usage.get("prompt_token_count")),
        output_tokens=output,
        finish_reason=finish,
        model=reported if isinstance(reported, str) and reported else None,
    )


def classify_api_error(
    status: int,
    document: object,
    headers: Mapping[str, str] | None,
    *,
    fallback_message: str,
    provider: str,
    model: str,
    secrets: Iterable[str | None],
) -> ProviderError:
    """An HTTP error answer of the Gemini API -> the llmops error it means.

    ``document`` is the decoded body (``{"error": {"code", "message", "status", "details"}}``).
    Order: ErrorInfo reason ``API_KEY_*`` and RPC status UNAUTHENTICATED/PERMISSION_DENIED
    (authentication -- Gemini answers a wrong key with 400); 429/RESOURCE_EXHAUSTED (rate
    limited, ``Retry-After`` or ``RetryInfo.retryDelay``); the over-long-prompt 400; then the
    HTTP status.
    """
    error = document.get("error", document) if isinstance(document, Mapping) else {}
    error = error if isinstance(error, Mapping) else {}
    raw_message = error.get("message")
    message = redact(
        raw_message if isinstance(raw_message, str) and raw_message else fallback_message,
        secrets,
    )
    rpc_status = error.get("status")
    details = error.get("details")
    details = [d for d in details if isinstance(d, Mapping)] if isinstance(details, list) else []
    reasons = {
        d.get("reason") for d in details if str(d.get("@type", "")).endswith("google.rpc.ErrorInfo")
    }
    where: dict[str, Any] = {"provider": provider, "model": model, "status_code": status}
    if rpc_status in _AUTH_RPC_STATUSES or any(
        isinstance(r, str) and r.startswith("API_KEY_") for r in reasons
    ):
        return AuthenticationFailed(message, **where)
    if status == 429 or rpc_status == "RESOURCE_EXHAUSTED":
        retry_after = parse_retry_after(headers)
        if retry_after is None:
            retry_after = next(
                (
                    parse_duration(d.get("retryDelay"))
                    for d in details
                    if str(d.get("@type", "")).endswith("google.rpc.RetryInfo")
                ),
                None,
            )
        return RateLimited(message, retry_after=retry_after, **where)
    if status == 400 and _CONTEXT_MESSAGE.search(message):
        return ContextWindowExceeded(message, **where)
    return error_for_status(status, message, provider=provider, model=model)


def _enum(value: object) -> str | None:
    """An enum as its name; unset/``*_UNSPECIFIED`` as None."""
    if value is None:
        return None
    name = getattr(value, "name", value)
    text = str(name)
    return None if not text or text in _UNSPECIFIED else text


def _text_of(content: object) -> str | None:
    """The answer text of a candidate's content (thought parts skipped); None if not text."""
    if content is None:
        return ""
    if not isinstance(content, Mapping):
        return None
    parts = content.get("parts") or []
    if not isinstance(parts, Sequence):
        return None
    texts: list[str] = []
    for part in parts:
        if not isinstance(part, Mapping):
            return None
        if part.get("thought"):
            continue
        text = part.get("text")
        if isinstance(text, str):
            texts.append(text)
    return "".join(texts)


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def transport_error(
    exc: BaseException,
    timeouts: tuple[type[BaseException], ...],
    failures: tuple[type[BaseException], ...],
    *,
    provider: str,
    model: str,
) -> ProviderError | None:
    """The error kind of a transport failure (no HTTP answer at all), or None if ``exc`` is not
    one: an instance of ``timeouts`` is a timeout, of ``failures`` a connection failure."""
    if isinstance(exc, timeouts):
        return ProviderTimeout(
            "no answer within the attempt timeout", provider=provider, model=model
        )
    if isinstance(exc, failures):
        return ProviderUnavailable(
            f"connection failed: {type(exc).__name__}", provider=provider, model=model
        )
    return None
