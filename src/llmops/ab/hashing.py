"""GrowthBook-compatible hashing and bucketing: pure functions, no I/O.

These reproduce GrowthBook's published SDK specification (``cases.json``, sections ``hash``,
``getBucketRange`` and ``chooseVariation``), so any GrowthBook SDK in any language assigns a
unit to the same variant as llmops does, given the same seed, unit value, weights and coverage.

* version 2 (default): ``fnv1a32(str(fnv1a32(seed + value))) % 10000 / 10000``
* version 1 (legacy):  ``fnv1a32(value + seed) % 1000 / 1000``

Strings are hashed per UTF-16 code unit, like the reference JavaScript SDK's ``charCodeAt``
(identical to per-code-point hashing for every character of the Basic Multilingual Plane).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["bucket_ranges", "choose_variation", "fnv1a32", "hash_unit"]

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MASK = 0xFFFFFFFF


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a of ``text``'s UTF-16 code units."""
    h = _FNV_OFFSET
    for ch in text:
        code = ord(ch)
        if code > 0xFFFF:  # a surrogate pair in UTF-16
            code -= 0x10000
            h = ((h ^ (0xD800 | (code >> 10))) * _FNV_PRIME) & _MASK
            code = 0xDC00 | (code & 0x3FF)
        h = ((h ^ code) * _FNV_PRIME) & _MASK
    return h


def hash_unit(seed: str, value: str, version: int = 2) -> float | None:
    """The unit's position in [0, 1) for ``seed``; None for an unknown hashing ``version``."""
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    return None


def bucket_ranges(
    num_variations: int, coverage: float = 1.0, weights: list[float] | None = None
) -> list[tuple[float, float]]:
    """Half-open ``[start, end)`` ranges, one per variation.

    Each range starts where the weights put it and is ``coverage * weight`` long, so raising
    ``coverage`` only lengthens ranges: no enrolled unit ever changes variation. ``weights`` are
    fractions; a wrong length or a sum outside 0.99..1.01 falls back to equal weights.
    ``coverage`` is clamped to 0..1.
    """
    if num_variations <= 0:
        return []
    coverage = min(1.0, max(0.0, coverage))
    equal = [1.0 / num_variations] * num_variations
    if weights is None or len(weights) != num_variations:
        weights = equal
    total = sum(weights)
    if total < 0.99 or total > 1.01:
        weights = equal
    ranges: list[tuple[float, float]] = []
    cumulative = 0.0
    for w in weights:
        start = cumulative
        cumulative += w
        ranges.append((start, start + coverage * w))
    return ranges


def choose_variation(n: float, ranges: Sequence[tuple[float, float]]) -> int:
    """Index of the range holding ``n`` (``start <= n < end``); -1 when none does."""
    for i, (start, end) in enumerate(ranges):
        if start <= n < end:
            return i
    return -1
