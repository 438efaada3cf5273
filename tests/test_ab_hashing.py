"""GrowthBook-compatible hashing and bucketing (llmops.ab.hashing)."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from llmops.ab import bucket_ranges, choose_variation, hash_unit
from llmops.ab.hashing import fnv1a32

# From GrowthBook's SDK specification, packages/sdk-js/test/cases.json ("hash": seed, value,
# version, expected).
GROWTHBOOK_HASH_CASES = [
    ("", "a", 1, 0.22),
    ("", "b", 1, 0.077),
    ("b", "a", 1, 0.946),
    ("ef", "d", 1, 0.652),
    ("asdf", "8952klfjas09ujk", 1, 0.549),
    ("", "123", 1, 0.011),
    ("", '___)((*":&', 1, 0.563),
    ("seed", "a", 2, 0.0505),
    ("seed", "b", 2, 0.2696),
    ("foo", "ab", 2, 0.2575),
    ("foo", "def", 2, 0.2019),
    ("89123klj", "8952klfjas09ujkasdf", 2, 0.124),
    ("90850943850283058242805", "123", 2, 0.7516),
    ("()**(%$##$%#$#", '___)((*":&', 2, 0.0128),
    ("abc", "def", 99, None),
]

# "getBucketRange": (num_variations, coverage, weights) -> ranges
GROWTHBOOK_RANGE_CASES = [
    ((2, 1, None), [(0, 0.5), (0.5, 1)]),
    ((2, 0.5, None), [(0, 0.25), (0.5, 0.75)]),
    ((2, 0, None), [(0, 0), (0.5, 0.5)]),
    ((4, 1, None), [(0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1)]),
    ((2, 1, [0.4, 0.6]), [(0, 0.4), (0.4, 1)]),
    ((3, 1, [0.2, 0.3, 0.5]), [(0, 0.2), (0.2, 0.5), (0.5, 1)]),
    ((3, 0.2, [0.2, 0.3, 0.5]), [(0, 0.04), (0.2, 0.26), (0.5, 0.6)]),
    ((2, -0.2, None), [(0, 0), (0.5, 0.5)]),
    ((2, 1.5, None), [(0, 0.5), (0.5, 1)]),
    ((2, 1, [0.4, 0.1]), [(0, 0.5), (0.5, 1)]),
    ((2, 1, [0.7, 0.6]), [(0, 0.5), (0.5, 1)]),
    ((4, 1, [0.4, 0.4, 0.2]), [(0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1)]),
    ((2, 1, [0.4, 0.5999]), [(0, 0.4), (0.4, 0.9999)]),
]


@pytest.mark.parametrize(("seed", "value", "version", "expected"), GROWTHBOOK_HASH_CASES)
def test_hash_matches_growthbook_spec(
    seed: str, value: str, version: int, expected: float | None
) -> None:
    """hash_unit reproduces every case of GrowthBook's published hash test vectors."""
    assert hash_unit(seed, value, version) == expected


@pytest.mark.parametrize(("args", "expected"), GROWTHBOOK_RANGE_CASES)
def test_bucket_ranges_match_growthbook_spec(
    args: tuple[int, float, list[float] | None], expected: list[tuple[float, float]]
) -> None:
    """bucket_ranges reproduces GrowthBook's getBucketRange cases (clamping, fallbacks)."""
    got = bucket_ranges(*args)
    assert len(got) == len(expected)
    for (s, e), (es, ee) in zip(got, expected, strict=True):
        assert s == pytest.approx(es, abs=1e-12)
        assert e == pytest.approx(ee, abs=1e-12)


@pytest.mark.parametrize(
    ("n", "expected"),
    [(0.2, 0), (0.4, 0), (0.6, 1), (0.8, 1), (0.0, 0), (0.5, 1), (1.0, -1)],
)
def test_choose_variation_half_open_ranges(n: float, expected: int) -> None:
    """choose_variation uses [start, end): the start belongs to a range, the end does not."""
    assert choose_variation(n, [(0.0, 0.5), (0.5, 1.0)]) == expected


def test_choose_variation_outside_reduced_coverage() -> None:
    """A hash between the coverage-shortened ranges is in no variation (-1)."""
    ranges = bucket_ranges(2, 0.5)
    assert choose_variation(0.3, ranges) == -1
    assert choose_variation(0.2, ranges) == 0
    assert choose_variation(0.6, ranges) == 1


def test_fnv1a32_reference_vectors() -> None:
    """fnv1a32 gives the published FNV-1a 32-bit values; non-BMP text hashes as UTF-16."""
    assert fnv1a32("") == 0x811C9DC5
    assert fnv1a32("a") == 0xE40C292C
    assert fnv1a32("foobar") == 0xBF9CF968
    # U+1F600 is the surrogate pair D83D DE00 in UTF-16, as JavaScript's charCodeAt sees it
    assert fnv1a32("\U0001f600") == fnv1a32("\ud83d\ude00")


def test_split_50_30_20_within_one_percent() -> None:
    """100,000 unit keys over 50/30/20 land within 1 percentage point of each weight."""
    ranges = bucket_ranges(3, 1.0, [0.5, 0.3, 0.2])
    counts = [0, 0, 0]
    for i in range(100_000):
        counts[choose_variation(hash_unit("test-seed", f"user-{i}") or 0.0, ranges)] += 1
    shares = [c / 100_000 for c in counts]
    print("50/30/20 shares:", shares)
    for share, weight in zip(shares, [0.5, 0.3, 0.2], strict=True):
        assert abs(share - weight) < 0.01


def test_same_key_same_bucket_in_another_process() -> None:
    """A second Python process computes the same hash for every key (no per-process salt)."""
    keys = [f"session-{i}" for i in range(200)]
    here = [hash_unit("seed-x", k) for k in keys]
    code = (
        "from llmops.ab import hash_unit\n"
        "print(repr([hash_unit('seed-x', f'session-{i}') for i in range(200)]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert ast.literal_eval(out) == here


def test_raising_coverage_moves_no_enrolled_unit() -> None:
    """Coverage 0.5 enrols about half; at 1.0 every unit enrolled before keeps its variation."""
    weights = [0.5, 0.3, 0.2]
    half, full = bucket_ranges(3, 0.5, weights), bucket_ranges(3, 1.0, weights)
    enrolled, moved = 0, 0
    for i in range(20_000):
        n = hash_unit("cov-seed", f"u{i}") or 0.0
        before = choose_variation(n, half)
        after = choose_variation(n, full)
        assert after != -1
        if before != -1:
            enrolled += 1
            moved += before != after
    assert abs(enrolled / 20_000 - 0.5) < 0.015
    assert moved == 0
