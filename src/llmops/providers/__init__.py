"""Provider adapters behind one Protocol. SDKs are imported inside each adapter module, so
importing :mod:`llmops.providers` needs none of them.

The adapters are exported lazily (module ``__getattr__``): ``from llmops.providers import
OpenAIProvider`` imports :mod:`llmops.providers.openai`, and the ``openai`` SDK itself is
imported only when an :class:`OpenAIProvider` is built. A missing SDK then raises an
``ImportError`` that names the extra to install.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from llmops.providers.base import (
    COMMON_PARAMS,
    ChatMessage,
    CompletionRequest,
    Provider,
    ProviderResponse,
    Role,
)

if TYPE_CHECKING:
    from llmops.providers.fake import FakeProvider
    from llmops.providers.gemini import GeminiProvider
    from llmops.providers.gemini_legacy import GeminiLegacyProvider
    from llmops.providers.openai import OpenAIProvider

__all__ = [
    "COMMON_PARAMS",
    "ChatMessage",
    "CompletionRequest",
    "FakeProvider",
    "GeminiLegacyProvider",
    "GeminiProvider",
    "OpenAIProvider",
    "Provider",
    "ProviderResponse",
    "Role",
]

_LAZY = {
    "FakeProvider": "llmops.providers.fake",
    "GeminiLegacyProvider": "llmops.providers.gemini_legacy",
    "GeminiProvider": "llmops.providers.gemini",
    "OpenAIProvider": "llmops.providers.openai",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
