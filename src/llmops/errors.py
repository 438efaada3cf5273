"""The llmops error tree.

Every exception llmops raises on purpose derives from :class:`LLMOpsError`::

    LLMOpsError
    ├── ConfigError (also ValueError)        invalid configuration or arguments
    ├── NotFound (also LookupError)          a named row (A/B test, backup, rule, ...) does not exist
    ├── StoreError                           the database layer
    │   ├── DatabaseUnavailable              the server cannot be reached
    │   └── MigrationError                   a migration could not be applied
    │       └── MigrationChecksumMismatch    an applied migration file was changed afterwards
    ├── IntegrityError                       a backup's hash or size does not match its data
    ├── ProviderError                        one attempt against one provider failed
    │   ├── RateLimited                      429 / quota; carries ``retry_after`` seconds
    │   │   └── QuotaExhausted               the account's quota is spent: waiting will not help
    │   ├── ProviderTimeout                  no (complete) answer within the attempt timeout
    │   ├── ProviderUnavailable              5xx, connection refused or reset
    │   ├── AuthenticationFailed             401 / 403
    │   ├── BadRequest                       400 / 404 / 422 the request itself is wrong
    │   │   └── ContextWindowExceeded        the prompt does not fit the model
    │   ├── ContentFiltered                  the provider refused on policy grounds
    │   └── MalformedResponse                empty or unparseable answer
    ├── CircuitOpen                          a target was skipped because its breaker is open
    ├── DeadlineExceeded                     the per-call deadline ran out
    └── AllProvidersFailed                   every target of a call failed; carries the attempts

Provider errors carry three policy bits that the router reads instead of
matching on types or messages:

* ``retry_same_target`` -- worth another attempt on the same provider/model;
* ``try_next_target``   -- worth moving on to the next target of the chain;
* ``counts_for_breaker`` -- a sign that the target is unhealthy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from llmops.models import FallbackAttempt

__all__ = [
    "AllProvidersFailed",
    "AuthenticationFailed",
    "BadRequest",
    "CircuitOpen",
    "ConfigError",
    "ContentFiltered",
    "ContextWindowExceeded",
    "DatabaseUnavailable",
    "DeadlineExceeded",
    "IntegrityError",
    "LLMOpsError",
    "MalformedResponse",
    "MigrationChecksumMismatch",
    "MigrationError",
    "NotFound",
    "ProviderError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "QuotaExhausted",
    "RateLimited",
    "StoreError",
]


class LLMOpsError(Exception):
    """Root of every error llmops raises on purpose."""


class ConfigError(LLMOpsError, ValueError):
    """Invalid configuration or arguments (raised before any I/O)."""


class NotFound(LLMOpsError, LookupError):
    """A row named by the caller does not exist."""


class StoreError(LLMOpsError):
    """The database layer failed."""


class DatabaseUnavailable(StoreError):
    """The PostgreSQL server cannot be reached (the message never contains a password)."""


class MigrationError(StoreError):
    """A migration could not be applied."""


class MigrationChecksumMismatch(MigrationError):
    """An already-applied migration file has been changed since it was applied."""


class IntegrityError(LLMOpsError):
    """Stored data does not match its recorded hash or size."""


class ProviderError(LLMOpsError):
    """One attempt against one provider failed.

    ``kind`` is the stable, lower-case name written to logs (``attempted_providers[].error_kind``
    and ``llm_usage_logs.error_kind``).
    """

    kind: ClassVar[str] = "provider_error"
    retry_same_target: ClassVar[bool] = False
    try_next_target: ClassVar[bool] = True
    counts_for_breaker: ClassVar[bool] = True

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.model = model
        self.status_code = status_code

    def __str__(self) -> str:
        where = "/".join(p for p in (self.provider, self.model) if p)
        status = f" (HTTP {self.status_code})" if self.status_code is not None else ""
        return f"{where}: {self.message}{status}" if where else f"{self.message}{status}"


class RateLimited(ProviderError):
    """The provider throttled the request (HTTP 429 or a quota error)."""

    kind = "rate_limited"
    retry_same_target = True
    try_next_target = True
    counts_for_breaker = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        provider: str | None = None,
        model: str | None = None,
        status_code: int | None = 429,
    ) -> None:
        super().__init__(message, provider=provider, model=model, status_code=status_code)
        self.retry_after = retry_after


class QuotaExhausted(RateLimited):
    """A 429 that says the account's quota or credit is spent (OpenAI ``insufficient_quota``).

    Unlike a rate limit it does not pass in seconds, so the router does not retry the same
    target; it moves on to the next one at once.
    """

    kind = "quota_exhausted"
    retry_same_target = False
    try_next_target = True
    counts_for_breaker = True


class ProviderTimeout(ProviderError):
    """No complete answer arrived within the attempt's timeout."""

    kind = "timeout"
    retry_same_target = True
    try_next_target = True
    counts_for_breaker = True


class ProviderUnavailable(ProviderError):
    """The provider answered 5xx, or the connection was refused or reset."""

    kind = "unavailable"
    retry_same_target = True
    try_next_target = True
    counts_for_breaker = True


class AuthenticationFailed(ProviderError):
    """The credentials were refused (HTTP 401/403). Retrying cannot help."""

    kind = "authentication"
    retry_same_target = False
    try_next_target = True
    counts_for_breaker = True


class BadRequest(ProviderError):
    """The request itself is invalid; no provider will accept it as it is."""

    kind = "bad_request"
    retry_same_target = False
    try_next_target = False
    counts_for_breaker = False


class ContextWindowExceeded(BadRequest):
    """The prompt is longer than the model's context window; a larger model may take it."""

    kind = "context_window_exceeded"
    retry_same_target = False
    try_next_target = True
    counts_for_breaker = False


class ContentFiltered(ProviderError):
    """The provider refused the prompt or the answer on policy grounds.

    ``reason`` is the provider's own reason (for example Gemini's ``SAFETY`` or
    OpenAI's ``content_filter``). It is not routed around: the caller sees it.
    """

    kind = "content_filtered"
    retry_same_target = False
    try_next_target = False
    counts_for_breaker = False

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message, provider=provider, model=model, status_code=status_code)
        self.reason = reason


class MalformedResponse(ProviderError):
    """The provider answered, but with nothing usable (empty or unparseable)."""

    kind = "malformed_response"
    retry_same_target = True
    try_next_target = True
    counts_for_breaker = True


class CircuitOpen(LLMOpsError):
    """A target was skipped without a call because its circuit breaker is open."""

    kind: ClassVar[str] = "circuit_open"

    def __init__(self, provider: str, model: str, retry_in: float | None = None) -> None:
        when = f"; next probe in {retry_in:.1f}s" if retry_in is not None else ""
        super().__init__(f"{provider}/{model}: circuit breaker open{when}")
        self.provider = provider
        self.model = model
        self.retry_in = retry_in


class DeadlineExceeded(LLMOpsError):
    """The per-call deadline ran out before any target answered."""

    kind: ClassVar[str] = "deadline_exceeded"


class AllProvidersFailed(LLMOpsError):
    """Every target of the chain failed or was skipped; ``attempts`` explains each one."""

    def __init__(
        self, attempts: Sequence[FallbackAttempt], last_error: BaseException | None = None
    ):
        self.attempts = tuple(attempts)
        self.last_error = last_error
        lines = [
            f"  {i}. {a.provider}/{a.model}: {a.outcome}"
            + (f" ({a.error_kind})" if a.error_kind else "")
            + (f" {a.message}" if a.message else "")
            for i, a in enumerate(self.attempts, 1)
        ]
        super().__init__(
            f"all {len(self.attempts)} attempt(s) failed:\n" + "\n".join(lines)
            if lines
            else "no target could be attempted"
        )
