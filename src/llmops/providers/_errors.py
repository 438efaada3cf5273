"""Shared pieces of error translation: HTTP status -> error kind, Retry-After, redaction.

The adapters classify an SDK failure by, in order: the provider's machine-readable error code,
the HTTP status, the exception type. These helpers hold the parts every adapter shares, so a
status code means the same thing whichever SDK reported it.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping

from llmops.errors import (
    AuthenticationFailed,
    BadRequest,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)

__all__ = [
    "MAX_MESSAGE_CHARS",
    "error_for_status",
    "parse_duration",
    "parse_retry_after",
    "redact",
]

MAX_MESSAGE_CHARS = 500
"""Provider messages are cut to this length: they end up in logs and alerts."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def parse_retry_after(
    headers: Mapping[str, str] | None, *, now: Callable[[], float] = time.time
) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` or ``Retry-After`` (seconds or an
    HTTP-date), or None when neither says anything usable. Never negative.

    ``headers`` must look names up case-insensitively (httpx, requests and aiohttp headers
    all do); a plain dict is also searched case-insensitively.
    """
    if not headers:
        return None
    lookup = _case_insensitive(headers)
    millis = lookup("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis)
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return value / 1000.0
    raw = lookup("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if math.isfinite(seconds):
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT; a bare date is read as such
        return None
    return max(0.0, when.timestamp() - now())


def parse_duration(value: object) -> float | None:
    """A protobuf JSON Duration (``"2s"``, ``"0.5s"``) in seconds, or None."""
    if not isinstance(value, str):
        return None
    match = _DURATION.match(value)
    return float(match.group(1)) if match else None


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` without any of ``secrets`` and cut to :data:`MAX_MESSAGE_CHARS`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 3] + "..."
    return text


def error_for_status(
    status: int,
    message: str,
    *,
    provider: str,
    model: str | None,
    retry_after: float | None = None,
) -> ProviderError:
    """The error kind an HTTP status means when no more specific signal is present.

    429 rate limited; 408 timeout; 401/403 authentication; other 4xx bad request; 5xx
    unavailable; anything else (a 2xx/3xx that is not an answer) a malformed response.
    """
    if status == 429:
        return RateLimited(
            message, retry_after=retry_after, status_code=status, provider=provider, model=model
        )
    kind: type[ProviderError]
    if status == 408:
        kind = ProviderTimeout
    elif status in (401, 403):
        kind = AuthenticationFailed
    elif 400 <= status < 500:
        kind = BadRequest
    elif status >= 500:
        kind = ProviderUnavailable
    else:
        kind = MalformedResponse
    return kind(message, status_code=status, provider=provider, model=model)


def _case_insensitive(headers: Mapping[str, str]) -> Callable[[str], str | None]:
    if isinstance(headers, dict):
        lowered = {k.lower(): v for k, v in headers.items()}
        return lowered.get
    return headers.get
