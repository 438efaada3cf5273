"""Validation that knows the router: a config that would not route is refused before it is stored.

The models (:mod:`llmops.models`) check shapes and the seed's CHECK ranges. This module adds
what only the router knows: provider names must be adapters someone registered, each target's
``config`` keys must be parameters that adapter accepts, temperatures must be within the
adapter's range. Every problem names its field path, for example::

    fallback_providers.1.provider: unknown provider 'opnai' (known: google, openai)

The ``check_*`` functions are pure and return every problem found; the ``parse_*`` functions
build the model from a document (JSON/YAML data) and raise :class:`ConfigValidationError`
listing them all.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from llmops.errors import ConfigError
from llmops.models import FallbackConfig, LLMSettings, TargetConfig
from llmops.providers.registry import ProviderRegistry, default_registry

__all__ = [
    "SERVER_MANAGED_FIELDS",
    "ConfigValidationError",
    "check_fallback_config",
    "check_settings",
    "format_pydantic_errors",
    "parse_fallback_config",
    "parse_settings",
    "validate_fallback_config",
]

SERVER_MANAGED_FIELDS = frozenset({"created_at", "updated_at"})
"""Fields a document may carry (``show --json`` prints them) but the database decides."""


class ConfigValidationError(ConfigError):
    """A document or config was refused; ``problems`` holds one ``field.path: reason`` each."""

    def __init__(self, problems: Collection[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


def format_pydantic_errors(exc: ValidationError) -> list[str]:
    """One ``field.path: message`` per pydantic error (model validators already name paths)."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        problems.append(f"{loc}: {msg}" if loc else msg)
    return problems


def _check_provider(
    path: str, name: str, registry: ProviderRegistry, available: Collection[str] | None
) -> list[str]:
    if name not in registry:
        return [f"{path}: unknown provider {name!r} (known: {', '.join(registry.names())})"]
    if available is not None and name not in available:
        have = ", ".join(sorted(available)) or "none"
        return [f"{path}: provider {name!r} has no adapter in this router (have: {have})"]
    return []


def _check_params(
    path: str, provider: str, params: TargetConfig, registry: ProviderRegistry
) -> list[str]:
    spec = registry.get(provider)
    if spec is None:
        return []  # already reported as an unknown provider
    problems = []
    set_fields = params.model_dump(exclude_none=True)
    for key in sorted(set_fields):
        if key == "timeout":
            continue  # enforced by the router around every adapter
        if key not in spec.accepted_params:
            accepts = ", ".join(sorted(spec.accepted_params)) or "nothing"
            problems.append(
                f"{path}.{key}: not accepted by provider {provider!r} (accepts: {accepts})"
            )
    temperature = set_fields.get("temperature")
    if temperature is not None and temperature > spec.temperature_max:
        problems.append(
            f"{path}.temperature: {temperature} is above {provider}'s maximum {spec.temperature_max}"
        )
    return problems


def check_fallback_config(
    config: FallbackConfig,
    *,
    registry: ProviderRegistry | None = None,
    providers: Collection[str] | None = None,
) -> list[str]:
    """Every reason ``config`` would not route; empty when it would.

    ``providers`` are the adapter names a particular router holds (None: do not check).
    """
    reg = registry or default_registry
    problems = _check_provider("primary_provider", config.primary_provider, reg, providers)
    if not config.primary_model.strip():
        problems.append("primary_model: must not be blank")
    seen: dict[int, int] = {}
    for i, target in enumerate(config.fallback_providers):
        path = f"fallback_providers.{i}"
        problems += _check_provider(f"{path}.provider", target.provider, reg, providers)
        if not target.model.strip():
            problems.append(f"{path}.model: must not be blank")
        if target.priority in seen:
            problems.append(
                f"{path}.priority: {target.priority} is already used by "
                f"fallback_providers.{seen[target.priority]}; priorities must be unique"
            )
        seen.setdefault(target.priority, i)
        if (target.provider, target.model) == (config.primary_provider, config.primary_model):
            problems.append(f"{path}: {target.provider}/{target.model} is the primary target")
        problems += _check_params(f"{path}.config", target.provider, target.config, reg)
    return problems


def check_settings(settings: LLMSettings, *, registry: ProviderRegistry | None = None) -> list[str]:
    """Every reason an ``llm_settings`` row could not be used by its adapter."""
    reg = registry or default_registry
    problems = _check_provider("provider", settings.provider, reg, None)
    if not settings.model.strip():
        problems.append("model: must not be blank")
    problems += _check_params("parameters", settings.provider, settings.parameters, reg)
    return problems


def _raw_config_problems(data: Mapping[str, Any], registry: ProviderRegistry) -> list[str]:
    """The router checks that can run on a document the models refused, so one error lists
    every problem (the models stop before their cross-field checks)."""
    problems = []
    if isinstance(data.get("primary_provider"), str):
        problems += _check_provider("primary_provider", data["primary_provider"], registry, None)
    targets = data.get("fallback_providers")
    if isinstance(targets, list):
        seen: dict[object, int] = {}
        for i, target in enumerate(targets):
            if not isinstance(target, Mapping):
                continue
            if isinstance(target.get("provider"), str):
                path = f"fallback_providers.{i}.provider"
                problems += _check_provider(path, target["provider"], registry, None)
            priority = target.get("priority", 1)
            if isinstance(priority, int) and priority in seen:
                problems.append(
                    f"fallback_providers.{i}.priority: {priority} is already used by "
                    f"fallback_providers.{seen[priority]}; priorities must be unique"
                )
            seen.setdefault(priority, i)
    return problems


def _model_from(
    model: type[BaseModel], document: object, what: str, registry: ProviderRegistry | None = None
) -> Any:
    if isinstance(document, model):
        return document
    if not isinstance(document, Mapping):
        raise ConfigValidationError([f"{what}: expected an object, got {type(document).__name__}"])
    data = {k: v for k, v in document.items() if k not in SERVER_MANAGED_FIELDS}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = format_pydantic_errors(exc)
        if model is FallbackConfig:
            extra = _raw_config_problems(data, registry or default_registry)
            problems += [p for p in extra if p not in problems]
        raise ConfigValidationError(problems) from None


def parse_fallback_config(
    document: object,
    *,
    registry: ProviderRegistry | None = None,
    providers: Collection[str] | None = None,
) -> FallbackConfig:
    """A :class:`FallbackConfig` from a document in the seed's shape, validated for routing."""
    config: FallbackConfig = _model_from(FallbackConfig, document, "fallback config", registry)
    validate_fallback_config(config, registry=registry, providers=providers)
    return config


def validate_fallback_config(
    config: FallbackConfig,
    *,
    registry: ProviderRegistry | None = None,
    providers: Collection[str] | None = None,
) -> None:
    """Raise :class:`ConfigValidationError` if ``config`` would not route."""
    problems = check_fallback_config(config, registry=registry, providers=providers)
    if problems:
        raise ConfigValidationError(problems)


def parse_settings(document: object, *, registry: ProviderRegistry | None = None) -> LLMSettings:
    """An :class:`LLMSettings` from a document, validated against its adapter."""
    settings: LLMSettings = _model_from(LLMSettings, document, "settings")
    problems = check_settings(settings, registry=registry)
    if problems:
        raise ConfigValidationError(problems)
    return settings
