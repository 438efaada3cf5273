"""What a call cost: USD per million input and output tokens, per model, overridable by the host.

The defaults are list prices (standard tier, short prompts) as published by OpenAI and Google;
they change, so a host that bills on them should pass its own table::

    PriceTable({"gpt-4o-mini": ModelPrice("0.15", "0.60")})                  # adds / overrides
    PriceTable({"my-model": ModelPrice(1, 2)}, include_defaults=False)       # only these

A model name is matched exactly, else by its longest known prefix followed by ``-`` (so
``gpt-4o-mini-2024-07-18`` costs what ``gpt-4o-mini`` costs); a ``models/`` prefix (Gemini) is
ignored. An unknown model costs ``None`` -- never 0 -- and warns once per model and table.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping
from decimal import Decimal
from typing import NamedTuple

from llmops.errors import ConfigError

__all__ = ["DEFAULT_PRICES", "PRICES_AS_OF", "ModelPrice", "PriceTable", "UnknownModelPriceWarning"]

PRICES_AS_OF = "2025-08"
_MILLION = Decimal(1_000_000)


class UnknownModelPriceWarning(UserWarning):
    """A model has no price in the table: its calls are logged with cost None."""


class ModelPrice(NamedTuple):
    """USD per one million input tokens and per one million output tokens."""

    input_per_million: Decimal
    output_per_million: Decimal

    @classmethod
    def of(cls, input_per_million: object, output_per_million: object) -> ModelPrice:
        """Build from numbers or strings; negative or non-numeric prices are a ConfigError."""
        values = []
        for name, raw in (
            ("input_per_million", input_per_million),
            ("output_per_million", output_per_million),
        ):
            try:
                value = raw if isinstance(raw, Decimal) else Decimal(str(raw))
            except ArithmeticError:
                raise ConfigError(f"{name}: not a number: {raw!r}") from None
            if not value.is_finite() or value < 0:
                raise ConfigError(f"{name}: must be a finite number >= 0, got {raw!r}")
            values.append(value)
        return cls(values[0], values[1])


def _p(i: str, o: str) -> ModelPrice:
    return ModelPrice(Decimal(i), Decimal(o))


DEFAULT_PRICES: Mapping[str, ModelPrice] = {
    # OpenAI
    "gpt-5": _p("1.25", "10.00"),
    "gpt-5-mini": _p("0.25", "2.00"),
    "gpt-5-nano": _p("0.05", "0.40"),
    "gpt-4.1": _p("2.00", "8.00"),
    "gpt-4.1-mini": _p("0.40", "1.60"),
    "gpt-4.1-nano": _p("0.10", "0.40"),
    "gpt-4o": _p("2.50", "10.00"),
    "gpt-4o-mini": _p("0.15", "0.60"),
    "gpt-4-turbo": _p("10.00", "30.00"),
    "gpt-4": _p("30.00", "60.00"),
    "gpt-3.5-turbo": _p("0.50", "1.50"),
    "o1": _p("15.00", "60.00"),
    "o1-mini": _p("1.10", "4.40"),
    "o3": _p("2.00", "8.00"),
    "o3-mini": _p("1.10", "4.40"),
    "o4-mini": _p("1.10", "4.40"),
    # Google Gemini
    "gemini-2.5-pro": _p("1.25", "10.00"),
    "gemini-2.5-flash": _p("0.30", "2.50"),
    "gemini-2.5-flash-lite": _p("0.10", "0.40"),
    "gemini-2.0-flash": _p("0.10", "0.40"),
    "gemini-2.0-flash-lite": _p("0.075", "0.30"),
    "gemini-1.5-pro": _p("1.25", "5.00"),
    "gemini-1.5-flash": _p("0.075", "0.30"),
    "gemini-1.5-flash-8b": _p("0.0375", "0.15"),
}


class PriceTable:
    """Model -> :class:`ModelPrice`; :meth:`cost` prices one call. Safe to share across threads."""

    def __init__(
        self,
        prices: Mapping[str, ModelPrice | tuple[object, object]] | None = None,
        *,
        include_defaults: bool = True,
    ) -> None:
        table: dict[str, ModelPrice] = dict(DEFAULT_PRICES) if include_defaults else {}
        for model, price in (prices or {}).items():
            if not isinstance(model, str) or not model:
                raise ConfigError(f"prices: model names must be non-empty strings, got {model!r}")
            if not isinstance(price, tuple) or len(price) != 2:
                raise ConfigError(
                    f"prices[{model!r}]: expected ModelPrice(input, output), got {price!r}"
                )
            table[model] = ModelPrice.of(*price)
        self._prices = table
        self._resolved: dict[str, ModelPrice | None] = {}
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def price(self, model: str) -> ModelPrice | None:
        """The price of ``model`` (exact name, else longest ``prefix-`` match), None if unknown."""
        try:
            return self._resolved[model]
        except KeyError:
            pass
        name = model.removeprefix("models/")
        found = self._prices.get(name)
        if found is None:
            best = ""
            for known in self._prices:
                if len(known) > len(best) and name.startswith(known + "-"):
                    best = known
            found = self._prices.get(best) if best else None
        self._resolved[model] = found
        return found

    def cost(
        self, model: str, input_tokens: int | None, output_tokens: int | None
    ) -> Decimal | None:
        """USD for one call; None (and one warning per model) when the model has no price,
        or when the provider reported no token counts."""
        price = self.price(model)
        if price is None:
            self._warn_once(model)
            return None
        if input_tokens is None and output_tokens is None:
            return None
        return (
            price.input_per_million * (input_tokens or 0)
            + price.output_per_million * (output_tokens or 0)
        ) / _MILLION

    def _warn_once(self, model: str) -> None:
        with self._lock:
            if model in self._warned:
                return
            self._warned.add(model)
        warnings.warn(
            f"no price known for model {model!r}: its cost is logged as unknown (None); "
            "pass prices={...} to the router to set one",
            UnknownModelPriceWarning,
            stacklevel=3,
        )

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and self.price(model) is not None
