"""The public surface: every name in ``__all__`` imports, and nothing public is left out."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import llmops


def _public_modules() -> list[str]:
    names = ["llmops"]
    for info in pkgutil.walk_packages(llmops.__path__, "llmops."):
        if not any(part.startswith("_") for part in info.name.split(".")[1:]):
            names.append(info.name)
    return names


def test_top_level_all_is_importable_and_sorted() -> None:
    """Every name of llmops.__all__ exists; the list is sorted and has no duplicates."""
    for name in llmops.__all__:
        assert hasattr(llmops, name), name
    names = [n for n in llmops.__all__ if n != "__version__"]
    assert names == sorted(names, key=str.lower) or names == sorted(names)
    assert len(set(llmops.__all__)) == len(llmops.__all__)


@pytest.mark.parametrize("module_name", _public_modules())
def test_every_public_module_declares_all(module_name: str) -> None:
    """Each public module lists its surface in __all__ and every listed name exists."""
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{module_name} has no __all__"
    for name in exported:
        assert hasattr(module, name), f"{module_name}.{name}"


def test_public_classes_of_the_package_are_exported() -> None:
    """Public classes defined in llmops.errors and llmops.models appear in their __all__."""
    for module_name in ("llmops.errors", "llmops.models"):
        module = importlib.import_module(module_name)
        defined = {
            name
            for name, obj in vars(module).items()
            if isinstance(obj, type)
            and not name.startswith("_")
            and obj.__module__.startswith(module_name)
        }
        assert defined <= set(module.__all__), defined - set(module.__all__)
