"""llmops.providers imports without any SDK; a missing SDK names the extra to install."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest

import llmops.providers

SDK_MODULES = ("openai", "google.genai", "google.generativeai")

ADAPTERS = [
    ("OpenAIProvider", "openai", "llmops[openai]"),
    ("GeminiProvider", "google.genai", "llmops[gemini]"),
    ("GeminiLegacyProvider", "google.generativeai", "llmops[gemini]"),
]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_importing_providers_imports_no_sdk() -> None:
    """`import llmops.providers` (and the adapter modules) loads none of the provider SDKs."""
    result = _run(
        f"""
        import sys
        import llmops, llmops.providers
        from llmops.providers import {", ".join(name for name, _, _ in ADAPTERS)}
        loaded = [m for m in {SDK_MODULES!r} if m in sys.modules]
        assert not loaded, loaded
        """
    )
    assert result.returncode == 0, result.stderr


def test_providers_import_with_every_sdk_missing() -> None:
    """With the SDKs uninstalled (blocked), llmops.providers still imports and lists its names."""
    blocked = ", ".join(f"{m!r}: None" for m in SDK_MODULES)
    result = _run(
        f"""
        import sys
        sys.modules.update({{{blocked}}})
        import llmops.providers as p
        for name in ("OpenAIProvider", "GeminiProvider", "GeminiLegacyProvider"):
            assert name in p.__all__
            getattr(p, name)
        """
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("name", "sdk", "extra"), ADAPTERS)
def test_missing_sdk_raises_import_error_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch, name: str, sdk: str, extra: str
) -> None:
    """Building an adapter whose SDK is absent raises ImportError with the pip command."""
    monkeypatch.setitem(sys.modules, sdk, None)
    adapter = getattr(llmops.providers, name)
    with pytest.raises(ImportError, match=re.escape(f"pip install '{extra}'")):
        adapter(api_key="k")


def test_unknown_attribute_is_an_attribute_error() -> None:
    """The lazy module __getattr__ still raises AttributeError for names it does not know."""
    with pytest.raises(AttributeError, match="NoSuchProvider"):
        llmops.providers.NoSuchProvider  # noqa: B018
