"""Shared field types and base classes for the row and document models.

Bounds here mirror the SQL in ``sql/``: a value the models reject, the database rejects too
(``tests/test_models_sql_agree.py`` proves it at every bound).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "INT4_MAX",
    "Document",
    "Environment",
    "Int4",
    "Name50",
    "Name100",
    "Name200",
    "NonNegInt4",
    "Numeric10_6",
    "Numeric12_6",
    "Row",
    "Str20",
    "Str50",
    "Str64",
    "Str100",
    "Str200",
]

INT4_MAX = 2**31 - 1
INT4_MIN = -(2**31)

Environment = Literal["local", "staging", "production"]
"""The seed's ``environment IN ('local', 'staging', 'production')`` CHECK."""

Int4 = Annotated[int, Field(ge=INT4_MIN, le=INT4_MAX)]
NonNegInt4 = Annotated[int, Field(ge=0, le=INT4_MAX)]


# VARCHAR(n): a str of at most n characters.
Str20 = Annotated[str, Field(max_length=20)]
Str50 = Annotated[str, Field(max_length=50)]
Str64 = Annotated[str, Field(max_length=64)]
Str100 = Annotated[str, Field(max_length=100)]
Str200 = Annotated[str, Field(max_length=200)]
# Names that must not be empty (provider and model names, rule and test names).
Name50 = Annotated[str, Field(min_length=1, max_length=50)]
Name100 = Annotated[str, Field(min_length=1, max_length=100)]
Name200 = Annotated[str, Field(min_length=1, max_length=200)]


def _numeric(precision: int, scale: int) -> AfterValidator:
    limit = Decimal(10) ** (precision - scale)
    quantum = Decimal(1).scaleb(-scale)

    def check(value: Decimal) -> Decimal:
        rounded = value.quantize(quantum, rounding=ROUND_HALF_EVEN)
        if abs(rounded) >= limit:
            raise ValueError(
                f"must be less than {limit} in absolute value (NUMERIC({precision},{scale}))"
            )
        return rounded

    return AfterValidator(check)


Numeric10_6 = Annotated[Decimal, Field(allow_inf_nan=False), _numeric(10, 6)]
"""``DECIMAL(10, 6)``: rounded to 6 places like PostgreSQL, |x| < 10^4."""

Numeric12_6 = Annotated[Decimal, Field(allow_inf_nan=False), _numeric(12, 6)]


class Row(BaseModel):
    """A table row: frozen, unknown keys refused, built from database rows or by callers."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Document(BaseModel):
    """A JSONB document: frozen, unknown keys refused, camelCase keys where the seed uses them."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        serialize_by_alias=True,
    )
