"""PriceTable: per-million prices, prefix matching, host overrides, unknown models."""

from __future__ import annotations

import warnings
from decimal import Decimal

import pytest

from llmops.errors import ConfigError
from llmops.pricing import ModelPrice, PriceTable, UnknownModelPriceWarning


def test_cost_is_per_million_tokens() -> None:
    """gpt-4o-mini: 1M input at 0.15 + 1M output at 0.60."""
    table = PriceTable()
    assert table.cost("gpt-4o-mini", 1_000_000, 1_000_000) == Decimal("0.75")
    assert table.cost("gemini-1.5-flash", 1000, 500) == Decimal("0.000225")


def test_versioned_names_use_the_longest_prefix() -> None:
    """Dated snapshots cost like their base model, and the longest base name wins."""
    table = PriceTable()
    assert table.price("gpt-4o-mini-2024-07-18") == table.price("gpt-4o-mini")
    assert table.price("gpt-4o-2024-08-06") == table.price("gpt-4o")
    assert table.price("gemini-2.5-flash-lite-preview") == table.price("gemini-2.5-flash-lite")
    assert table.price("models/gemini-1.5-pro") == table.price("gemini-1.5-pro")
    assert table.price("gpt-4omni") is None


def test_unknown_model_costs_none_and_warns_once() -> None:
    """An unknown model is None, not 0, with one warning per model."""
    table = PriceTable()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert table.cost("my-local-llama", 10, 10) is None
        assert table.cost("my-local-llama", 10, 10) is None
        assert table.cost("other-model", 1, 1) is None
    messages = [str(w.message) for w in caught if w.category is UnknownModelPriceWarning]
    assert len(messages) == 2
    assert "my-local-llama" in messages[0]


def test_host_overrides_and_replaces() -> None:
    """A host table overrides defaults, or replaces them with include_defaults=False."""
    table = PriceTable({"gpt-4o-mini": ModelPrice.of("1", "2"), "llama": ("0.5", 0)})
    assert table.cost("gpt-4o-mini", 1_000_000, 0) == Decimal(1)
    assert table.cost("llama", 2_000_000, 5) == Decimal(1)
    only = PriceTable({"llama": ModelPrice.of(1, 1)}, include_defaults=False)
    assert "gpt-4o" not in only
    assert "llama" in only


def test_missing_token_counts_cost_none() -> None:
    """No usage reported: cost unknown, not zero."""
    assert PriceTable().cost("gpt-4o", None, None) is None


@pytest.mark.parametrize(
    ("prices", "field"),
    [
        ({"m": ModelPrice.of(1, 1)._replace(input_per_million=Decimal(-1))}, "input_per_million"),
        ({"m": ("x", 1)}, "input_per_million"),
        ({"m": (1, "nan")}, "output_per_million"),
        ({"m": 5}, "prices\\['m'\\]"),
        ({"": (1, 1)}, "model names"),
    ],
)
def test_bad_prices_name_the_problem(prices: dict[str, object], field: str) -> None:
    """Negative, non-numeric or malformed prices raise ConfigError naming the field."""
    with pytest.raises(ConfigError, match=field):
        PriceTable(prices)  # type: ignore[arg-type]
