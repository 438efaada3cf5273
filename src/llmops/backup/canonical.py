"""The canonical form of ``backup_data``: what its hash and size are computed over.

Canonical JSON is ``json.dumps(value, sort_keys=True, separators=(",", ":"),
ensure_ascii=False, allow_nan=False)`` encoded as UTF-8; the hash is the SHA-256 hex of those
bytes and ``data_size`` their length.

It is computed over the *JSON value as PostgreSQL stores it*: JSONB reorders keys (harmless,
keys are sorted here) and rewrites numbers (``1e+20`` comes back as the integer
``100000000000000000000``). :func:`normalise` sends the value through ``jsonb`` once before
hashing, so the hash recomputed from the stored row, or from an exported file, is identical.
Datetimes and decimals are strings in the document (pydantic's JSON mode), so they never drift.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from llmops.errors import ConfigError
from llmops.store._table import Conn

__all__ = ["Digest", "canonical_json", "digest", "normalise"]

JSONValue = Any
"""A value made of dict, list, str, int, float, bool and None (what ``json.loads`` returns)."""


@dataclass(frozen=True, slots=True)
class Digest:
    """SHA-256 hex and byte length of a canonical JSON document."""

    hash: str
    size: int


def canonical_json(value: JSONValue) -> bytes:
    """The canonical UTF-8 bytes of ``value`` (sorted keys, compact, non-ASCII kept)."""
    try:
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except ValueError as exc:  # NaN / Infinity have no JSON (nor JSONB) form
        raise ConfigError(f"backup data: {exc}") from None
    return text.encode("utf-8")


def digest(value: JSONValue) -> Digest:
    """Hash and size of the canonical JSON of ``value``."""
    data = canonical_json(value)
    return Digest(hash=hashlib.sha256(data).hexdigest(), size=len(data))


def normalise(conn: Conn, value: JSONValue) -> JSONValue:
    """``value`` as it comes back from a ``jsonb`` column (numbers rewritten the JSONB way)."""
    row = conn.execute("SELECT %s::jsonb", (Jsonb(value),)).fetchone()
    assert row is not None
    return row[0]
