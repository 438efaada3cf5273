"""The Provider protocol and the request/response values that cross it.

An adapter turns a :class:`CompletionRequest` into one SDK call and the SDK's answer into a
:class:`ProviderResponse`. Every SDK exception becomes an :mod:`llmops.errors` provider error,
raised ``from`` the original, inside the adapter: the router never sees an SDK type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = [
    "COMMON_PARAMS",
    "ChatMessage",
    "CompletionRequest",
    "Provider",
    "ProviderResponse",
    "Role",
]

Role = Literal["system", "user", "assistant"]

COMMON_PARAMS: frozenset[str] = frozenset(
    {"temperature", "max_tokens", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty"}
)
"""Generation parameters the router passes through to every adapter that accepts them."""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a chat prompt."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """What one attempt asks of one provider."""

    messages: tuple[ChatMessage, ...]
    model: str
    params: Mapping[str, Any] = field(default_factory=dict)
    timeout: float | None = None
    """Seconds this attempt may take; the adapter's own default when None."""


@dataclass(frozen=True, slots=True)
class ProviderResponse:
    """A successful answer, normalised. Token counts are None when the provider did not say."""

    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None
    model: str | None = None
    """The model name the provider reported (may carry a version suffix)."""


@runtime_checkable
class Provider(Protocol):
    """What the router needs of a provider adapter."""

    @property
    def accepted_params(self) -> frozenset[str]:
        """Generation parameters this adapter understands (validated at config time)."""
        ...

    def complete(self, request: CompletionRequest) -> ProviderResponse:
        """One attempt, blocking. Raises :class:`llmops.errors.ProviderError` subclasses only."""
        ...

    async def acomplete(self, request: CompletionRequest) -> ProviderResponse:
        """One attempt, async. Raises :class:`llmops.errors.ProviderError` subclasses only."""
        ...
