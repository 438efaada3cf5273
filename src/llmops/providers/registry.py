"""Which provider names a fallback config may use, and which parameters each adapter accepts.

Validation (:mod:`llmops.validation`) asks the registry before a config is stored, so a config
that names an adapter nobody has, or passes it a parameter it ignores, is refused at apply time
instead of at the first call.

The built-in names (``openai``, ``google``) take their parameters from the adapter classes
themselves (``ACCEPTED_PARAMS``): adapter modules import their SDK lazily, so consulting the
registry never needs the ``openai`` or ``gemini`` extra. A spec naming an adapter by dotted
path is resolved when first asked for; when that module is absent, its recorded set is used.

Applications that bring their own adapter register it once at start-up::

    from llmops.providers.registry import register_provider
    register_provider("anthropic", {"temperature", "max_tokens", "top_p"}, temperature_max=1.0)

Processes that cannot run such code (the ``llmops`` CLI) name adapter classes in
``$LLMOPS_PROVIDERS``: ``mine=mypkg.adapters:MyProvider`` (comma-separated), each class
declaring ``ACCEPTED_PARAMS``.

Registries are objects: :data:`default_registry` is the one the CLI and ``from_store`` use;
tests and multi-tenant hosts may build their own :class:`ProviderRegistry`.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from llmops.errors import ConfigError
from llmops.providers.gemini import GeminiProvider
from llmops.providers.openai import OpenAIProvider

__all__ = [
    "BUILTIN_PROVIDERS",
    "PROVIDERS_ENV",
    "ProviderRegistry",
    "ProviderSpec",
    "default_registry",
    "register_provider",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """What validation needs to know about one adapter.

    ``adapter`` is ``"module:Class"`` for adapters shipped with llmops; its class attribute
    ``ACCEPTED_PARAMS`` wins over ``accepted_params`` once the module can be imported.
    """

    name: str
    accepted_params: frozenset[str]
    temperature_max: float = 2.0
    adapter: str | None = None


BUILTIN_PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        "openai", OpenAIProvider.ACCEPTED_PARAMS, adapter="llmops.providers.openai:OpenAIProvider"
    ),
    ProviderSpec(
        "google", GeminiProvider.ACCEPTED_PARAMS, adapter="llmops.providers.gemini:GeminiProvider"
    ),
)
"""The adapters llmops ships; their parameters are the adapter classes' own ``ACCEPTED_PARAMS``."""


class ProviderRegistry:
    """Provider name -> :class:`ProviderSpec`. Thread-safe; lookups resolve adapters lazily."""

    def __init__(
        self, specs: Iterable[ProviderSpec] = BUILTIN_PROVIDERS, *, env_var: str | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._specs: dict[str, ProviderSpec] = {s.name: s for s in specs}
        self._resolved: dict[str, ProviderSpec] = {}
        self._env_var = env_var

    def register_adapter(self, name: str, adapter: str) -> ProviderSpec:
        """Make ``name`` a known provider served by ``adapter`` (``"module:Class"``).

        The class is imported now and must declare ``ACCEPTED_PARAMS`` (and may declare
        ``TEMPERATURE_MAX``); :class:`ConfigError` says what is wrong otherwise.
        """
        module_name, _, class_name = adapter.partition(":")
        if not module_name or not class_name:
            raise ConfigError(f"{name}: adapter must be 'module:Class', got {adapter!r}")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"{name}: cannot import adapter {adapter!r} ({exc})") from None
        declared = getattr(cls, "ACCEPTED_PARAMS", None)
        if declared is None:
            raise ConfigError(f"{name}: adapter {adapter!r} has no ACCEPTED_PARAMS")
        return self.register(
            name, declared, temperature_max=float(getattr(cls, "TEMPERATURE_MAX", 2.0))
        )

    def _load_env(self) -> None:
        """Register the ``name=module:Class`` entries of the environment variable, once."""
        var = self._env_var
        if var is None:
            return
        entries = [e.strip() for e in os.environ.get(var, "").split(",") if e.strip()]
        for entry in entries:
            name, sep, adapter = entry.partition("=")
            if not sep or not name.strip():
                raise ConfigError(f"{var}: expected name=module:Class entries, got {entry!r}")
            try:
                self.register_adapter(name.strip(), adapter.strip())
            except ConfigError as exc:
                raise ConfigError(f"{var}: {exc}") from None
        self._env_var = None  # loaded (a failure above leaves it to be reported again)

    def register(
        self,
        name: str,
        accepted_params: Iterable[str],
        *,
        temperature_max: float = 2.0,
    ) -> ProviderSpec:
        """Make ``name`` a known provider accepting ``accepted_params`` (replaces a previous one)."""
        if not name or len(name) > 50:
            raise ConfigError(f"provider name: must be 1..50 characters, got {name!r}")
        if not 0.0 < temperature_max <= 2.0:
            raise ConfigError(f"temperature_max: must be in (0, 2], got {temperature_max}")
        spec = ProviderSpec(name, frozenset(accepted_params), temperature_max)
        with self._lock:
            self._specs[name] = spec
            self._resolved.pop(name, None)
        return spec

    def names(self) -> list[str]:
        """Known provider names, sorted."""
        self._load_env()
        with self._lock:
            return sorted(self._specs)

    def __contains__(self, name: object) -> bool:
        self._load_env()
        with self._lock:
            return name in self._specs

    def get(self, name: str) -> ProviderSpec | None:
        """The spec of ``name`` (with a shipped adapter's own ``ACCEPTED_PARAMS``), or None."""
        self._load_env()
        with self._lock:
            if name in self._resolved:
                return self._resolved[name]
            spec = self._specs.get(name)
        if spec is None:
            return None
        resolved = _resolve(spec)
        with self._lock:
            if self._specs.get(name) is spec:
                self._resolved[name] = resolved
        return resolved


def _resolve(spec: ProviderSpec) -> ProviderSpec:
    """``spec`` with the adapter class's ``ACCEPTED_PARAMS`` when its module imports."""
    if spec.adapter is None:
        return spec
    module_name, _, class_name = spec.adapter.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        log.debug("adapter %s not importable (%s); using recorded parameters", spec.adapter, exc)
        return spec
    declared = getattr(getattr(module, class_name, None), "ACCEPTED_PARAMS", None)
    if declared is None:
        return spec
    return ProviderSpec(spec.name, frozenset(declared), spec.temperature_max, spec.adapter)


PROVIDERS_ENV = "LLMOPS_PROVIDERS"
"""Extra adapters for processes that cannot call :func:`register_provider` (the CLI):
``LLMOPS_PROVIDERS="mine=mypkg.adapters:MyProvider,other=..."``."""

default_registry = ProviderRegistry(env_var=PROVIDERS_ENV)
"""The registry validation uses unless given another (built-ins plus ``$LLMOPS_PROVIDERS``)."""


def register_provider(
    name: str, accepted_params: Iterable[str], *, temperature_max: float = 2.0
) -> ProviderSpec:
    """Register a user adapter in :data:`default_registry` (see :meth:`ProviderRegistry.register`)."""
    return default_registry.register(name, accepted_params, temperature_max=temperature_max)
