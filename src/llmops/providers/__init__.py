"""Provider adapters behind one Protocol. SDKs are imported inside each adapter module, so
importing :mod:`llmops.providers` needs none of them."""

from llmops.providers.base import (
    COMMON_PARAMS,
    ChatMessage,
    CompletionRequest,
    Provider,
    ProviderResponse,
    Role,
)

__all__ = [
    "COMMON_PARAMS",
    "ChatMessage",
    "CompletionRequest",
    "Provider",
    "ProviderResponse",
    "Role",
]
