"""Shared error-translation helpers: Retry-After parsing, status mapping, redaction."""

from __future__ import annotations

import email.utils

import pytest

from llmops.errors import (
    AuthenticationFailed,
    BadRequest,
    MalformedResponse,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from llmops.providers._errors import (
    MAX_MESSAGE_CHARS,
    error_for_status,
    parse_duration,
    parse_retry_after,
    redact,
)

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"RETRY-AFTER": " 7 "}, 7.0),
        ({"Retry-After": "-3"}, 0.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After-Ms": "20", "Retry-After": "9"}, 0.02),
        ({"retry-after-ms": "soon", "Retry-After": "4"}, 4.0),
        ({"Retry-After": email.utils.formatdate(NOW + 120, usegmt=True)}, 120.0),
        ({"Retry-After": email.utils.formatdate(NOW - 120, usegmt=True)}, 0.0),
        ({"Retry-After": "tomorrow-ish"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "inf"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str] | None, expected: float | None) -> None:
    """Seconds, HTTP-dates (relative to now) and retry-after-ms; junk gives None, never < 0."""
    assert parse_retry_after(headers, now=lambda: NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2s", 2.0), ("0.5s", 0.5), ("37s", 37.0), ("2", None), (None, None), (3, None)],
)
def test_parse_duration(value: object, expected: float | None) -> None:
    """Protobuf JSON durations ("2s") become seconds; anything else is None."""
    assert parse_duration(value) == expected


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, RateLimited),
        (408, ProviderTimeout),
        (401, AuthenticationFailed),
        (403, AuthenticationFailed),
        (400, BadRequest),
        (404, BadRequest),
        (409, BadRequest),
        (422, BadRequest),
        (500, ProviderUnavailable),
        (503, ProviderUnavailable),
        (599, ProviderUnavailable),
        (302, MalformedResponse),
    ],
)
def test_error_for_status(status: int, kind: type) -> None:
    """Each HTTP status maps to one error kind, carrying status, provider and model."""
    error = error_for_status(status, "msg", provider="p", model="m", retry_after=3.0)
    assert type(error) is kind
    assert (error.status_code, error.provider, error.model) == (status, "p", "m")
    if kind is RateLimited:
        assert isinstance(error, RateLimited) and error.retry_after == 3.0


def test_redact_removes_secrets_and_truncates() -> None:
    """Secrets become *** and long provider messages are cut to MAX_MESSAGE_CHARS."""
    assert redact("key sk-abc was sk-abc", ["sk-abc", None, ""]) == "key *** was ***"
    long = redact("x" * 5000, [])
    assert len(long) == MAX_MESSAGE_CHARS and long.endswith("...")
