"""Router-aware validation and the provider registry: every refusal names its field."""

from __future__ import annotations

import importlib
import subprocess
import sys
from typing import Any, ClassVar

import pytest

from llmops.errors import ConfigError
from llmops.models import FallbackConfig
from llmops.providers.registry import (
    BUILTIN_PROVIDERS,
    ProviderRegistry,
    ProviderSpec,
    default_registry,
)
from llmops.validation import (
    ConfigValidationError,
    check_fallback_config,
    parse_fallback_config,
    parse_settings,
)


class DeclaredAdapter:
    """An adapter class as the registry finds it: only its ACCEPTED_PARAMS matter."""

    ACCEPTED_PARAMS: ClassVar[frozenset[str]] = frozenset({"temperature"})


def doc(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "environment": "production",
        "primary_provider": "openai",
        "primary_model": "gpt-4o-mini",
        "fallback_providers": [
            {"provider": "google", "model": "gemini-1.5-flash", "priority": 1},
            {"provider": "openai", "model": "gpt-4o", "priority": 2},
        ],
    }
    base.update(changes)
    return base


def problems_of(document: Any, **kwargs: Any) -> tuple[str, ...]:
    with pytest.raises(ConfigValidationError) as info:
        parse_fallback_config(document, **kwargs)
    return info.value.problems


def test_a_valid_document_parses_to_its_config() -> None:
    """The seed's shape with known providers becomes a FallbackConfig unchanged."""
    config = parse_fallback_config(doc())
    assert [t.provider for t in config.targets()] == ["openai", "google", "openai"]


def test_unknown_provider_names_the_field_and_the_known_names() -> None:
    """A misspelt provider is refused with its list index and the known names."""
    targets = [
        {"provider": "google", "model": "g", "priority": 1},
        {"provider": "opnai", "model": "gpt-4o", "priority": 2},
    ]
    assert problems_of(doc(fallback_providers=targets)) == (
        "fallback_providers.1.provider: unknown provider 'opnai' (known: google, openai)",
    )


def test_unknown_primary_provider_is_refused() -> None:
    """The primary provider must be a known adapter too."""
    assert problems_of(doc(primary_provider="azure"))[0].startswith(
        "primary_provider: unknown provider 'azure'"
    )


def test_duplicate_priority_names_both_targets() -> None:
    """Two fallbacks with one priority: the second is named, and the first it collides with."""
    targets = [
        {"provider": "google", "model": "a", "priority": 1},
        {"provider": "google", "model": "b", "priority": 1},
    ]
    (problem,) = problems_of(doc(fallback_providers=targets))
    assert problem.startswith(
        "fallback_providers.1.priority: 1 is already used by fallback_providers.0"
    )


def test_max_retries_eleven_is_refused_with_the_seed_bound() -> None:
    """max_retries 11 is outside the seed's CHECK 1..10."""
    assert problems_of(doc(max_retries=11)) == (
        "max_retries: Input should be less than or equal to 10",
    )


def test_missing_model_names_the_target() -> None:
    """A fallback without a model is refused at fallback_providers.N.model."""
    targets = [{"provider": "google", "priority": 1}]
    assert problems_of(doc(fallback_providers=targets)) == (
        "fallback_providers.0.model: Field required",
    )


def test_blank_primary_model_is_refused() -> None:
    """A whitespace-only model name would never route."""
    assert "primary_model: must not be blank" in problems_of(doc(primary_model="   "))


def test_every_problem_is_reported_at_once() -> None:
    """Shape errors and router errors of one document come back together."""
    document = doc(
        primary_provider="opnai",
        max_retries=11,
        fallback_providers=[
            {"provider": "google", "priority": 1},
            {"provider": "google", "model": "x", "priority": 1},
        ],
    )
    problems = problems_of(document)
    assert "fallback_providers.0.model: Field required" in problems
    assert "max_retries: Input should be less than or equal to 10" in problems
    assert any(p.startswith("primary_provider: unknown provider 'opnai'") for p in problems)
    assert any(p.startswith("fallback_providers.1.priority: 1 is already used") for p in problems)


def test_target_equal_to_primary_is_refused() -> None:
    """A fallback identical to the primary adds nothing and is refused."""
    targets = [{"provider": "openai", "model": "gpt-4o-mini", "priority": 1}]
    (problem,) = problems_of(doc(fallback_providers=targets))
    assert problem.startswith("fallback_providers.0: openai/gpt-4o-mini is the primary")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"temperature": 2.5},
            "fallback_providers.0.config.temperature: Input should be less than or equal to 2",
        ),
        (
            {"temperature": -0.1},
            "fallback_providers.0.config.temperature: Input should be greater than or equal to 0",
        ),
        (
            {"max_tokens": 0},
            "fallback_providers.0.config.max_tokens: Input should be greater than 0",
        ),
        (
            {"temprature": 0.5},
            "fallback_providers.0.config.temprature: Extra inputs are not permitted",
        ),
    ],
)
def test_target_config_ranges_and_keys(config: dict[str, Any], expected: str) -> None:
    """Temperature in 0..2, max_tokens > 0 and no unknown keys, each named by its path."""
    targets = [{"provider": "google", "model": "g", "priority": 1, "config": config}]
    assert problems_of(doc(fallback_providers=targets)) == (expected,)


def test_config_key_the_adapter_does_not_accept_is_refused() -> None:
    """A user adapter that only takes temperature refuses max_tokens at apply time."""
    registry = ProviderRegistry()
    registry.register("mini", {"temperature"}, temperature_max=1.0)
    targets = [
        {"provider": "mini", "model": "m", "priority": 1, "config": {"max_tokens": 10}},
        {"provider": "mini", "model": "n", "priority": 2, "config": {"temperature": 1.5}},
    ]
    assert problems_of(doc(fallback_providers=targets), registry=registry) == (
        "fallback_providers.0.config.max_tokens: not accepted by provider 'mini' (accepts: temperature)",
        "fallback_providers.1.config.temperature: 1.5 is above mini's maximum 1.0",
    )


def test_router_without_the_adapter_refuses_the_config() -> None:
    """Given the router's own adapter names, a known provider it lacks is refused."""
    config = FallbackConfig.model_validate(doc())
    assert check_fallback_config(config, providers={"openai"}) == [
        "fallback_providers.0.provider: provider 'google' has no adapter in this router (have: openai)"
    ]
    assert check_fallback_config(config, providers={"openai", "google"}) == []


def test_non_object_document_is_refused() -> None:
    """A list or a string is not a config."""
    assert problems_of(["not", "a", "config"]) == ("fallback config: expected an object, got list",)


def test_server_managed_fields_are_ignored() -> None:
    """created_at/updated_at from `config show` output are not part of the config."""
    config = parse_fallback_config(doc(created_at="2020-01-01T00:00:00Z", updated_at="x"))
    assert config.created_at is None and config.updated_at is None


def test_settings_are_checked_against_their_adapter() -> None:
    """llm_settings: unknown provider, refused parameter and a raw API key are all named."""
    registry = ProviderRegistry()
    registry.register("mini", {"temperature"})
    with pytest.raises(ConfigValidationError) as info:
        parse_settings(
            {
                "environment": "staging",
                "provider": "mini",
                "model": "m",
                "parameters": {"top_p": 0.5},
            },
            registry=registry,
        )
    assert info.value.problems == (
        "parameters.top_p: not accepted by provider 'mini' (accepts: temperature)",
    )
    with pytest.raises(ConfigValidationError) as info:
        parse_settings(
            {"environment": "staging", "provider": "openai", "model": "m", "api_key_ref": "sk-123"}
        )
    (problem,) = info.value.problems
    assert (
        problem.startswith("api_key_ref: String should match pattern") and "sk-123" not in problem
    )


def test_registry_knows_the_builtin_adapters() -> None:
    """openai and google are known out of the box; names come back sorted."""
    names = ProviderRegistry().names()
    assert names == ["google", "openai"]
    assert {s.name for s in BUILTIN_PROVIDERS} == {"openai", "google"}
    google = default_registry.get("google")
    assert google is not None and {"temperature", "max_tokens", "top_p"} <= google.accepted_params


def test_registry_reads_the_adapter_class_and_falls_back_when_absent() -> None:
    """ACCEPTED_PARAMS of an importable adapter wins; a missing module keeps the recorded set."""
    registry = ProviderRegistry(
        [
            ProviderSpec("declared", frozenset({"top_p"}), adapter=f"{__name__}:DeclaredAdapter"),
            ProviderSpec("absent", frozenset({"top_p"}), adapter="llmops.providers.nope:Nope"),
        ]
    )
    assert registry.get("declared") == ProviderSpec(
        "declared", frozenset({"temperature"}), adapter=f"{__name__}:DeclaredAdapter"
    )
    assert (registry.get("absent") or ProviderSpec("", frozenset())).accepted_params == {"top_p"}
    assert registry.get("nobody") is None


def test_register_rejects_bad_names_and_ranges() -> None:
    """register() refuses an empty name and a temperature maximum outside (0, 2]."""
    registry = ProviderRegistry()
    with pytest.raises(ValueError, match="provider name"):
        registry.register("", {"temperature"})
    with pytest.raises(ValueError, match="temperature_max"):
        registry.register("x", {"temperature"}, temperature_max=3.0)


def test_registered_provider_is_accepted_by_validation() -> None:
    """A name registered at start-up validates like a built-in one."""
    registry = ProviderRegistry()
    registry.register("local-llm", {"temperature", "max_tokens"})
    targets = [
        {"provider": "local-llm", "model": "llama", "priority": 1, "config": {"max_tokens": 5}}
    ]
    config = parse_fallback_config(doc(fallback_providers=targets), registry=registry)
    assert config.fallback_providers[0].provider == "local-llm"


def test_validating_builtin_providers_imports_no_sdk() -> None:
    """Consulting the registry for openai and google never imports their SDKs."""
    code = (
        "import sys\n"
        "from llmops.providers.registry import default_registry as r\n"
        "assert r.get('openai') and r.get('google')\n"
        "print(sorted(m for m in ('openai', 'google.genai', 'google.generativeai') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("spec", BUILTIN_PROVIDERS, ids=lambda s: s.name)
def test_recorded_params_match_the_shipped_adapter(spec: ProviderSpec) -> None:
    """The fallback parameter set of each built-in name equals its adapter's ACCEPTED_PARAMS."""
    assert spec.adapter is not None
    module_name, _, class_name = spec.adapter.partition(":")
    adapter = getattr(importlib.import_module(module_name), class_name)
    assert spec.accepted_params == adapter.ACCEPTED_PARAMS


def test_adapters_named_in_the_environment_are_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """LLMOPS_PROVIDERS=name=module:Class adds an adapter with its class's ACCEPTED_PARAMS."""
    monkeypatch.setenv("LLMOPS_PROVIDERS", f"mine={__name__}:DeclaredAdapter")
    registry = ProviderRegistry(env_var="LLMOPS_PROVIDERS")
    assert registry.names() == ["google", "mine", "openai"]
    spec = registry.get("mine")
    assert spec is not None and spec.accepted_params == {"temperature"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("mine", "LLMOPS_PROVIDERS: expected name=module:Class entries, got 'mine'"),
        ("mine=nowhere", "LLMOPS_PROVIDERS: mine: adapter must be 'module:Class', got 'nowhere'"),
        ("mine=nope.nothing:X", "LLMOPS_PROVIDERS: mine: cannot import adapter 'nope.nothing:X'"),
        (
            f"mine={__name__}:doc",
            f"LLMOPS_PROVIDERS: mine: adapter '{__name__}:doc' has no ACCEPTED_PARAMS",
        ),
    ],
)
def test_malformed_environment_entries_are_named(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    """A bad LLMOPS_PROVIDERS entry is a ConfigError naming the variable and the entry."""
    monkeypatch.setenv("LLMOPS_PROVIDERS", value)
    registry = ProviderRegistry(env_var="LLMOPS_PROVIDERS")
    with pytest.raises(ConfigError) as info:
        registry.names()
    assert str(info.value).startswith(message)
