"""What one finished router call leaves behind for the log tables.

The call path builds a :class:`CallRecord` (plain references, no validation, no hashing); the
log writer's thread turns it into an ``llm_fallback_logs`` row, an ``llm_usage_logs`` row and,
under an A/B test, an ``ab_test_results`` row. Prompts and answers never reach a row: the A/B
row keeps SHA-256 hashes and the answer's length only.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from pydantic import BaseModel

from llmops._hooks import Assignment
from llmops.errors import AllProvidersFailed
from llmops.models import ABTestResult, FallbackAttempt, FallbackLog, UsageLog
from llmops.models.common import Environment
from llmops.providers.base import ChatMessage, ProviderResponse

__all__ = ["ABRecord", "CallRecord", "content_hash", "sha256_hex"]


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_hash(messages: Sequence[ChatMessage]) -> str:
    """SHA-256 hex of a request's messages, as JSON ``[[role, content], ...]`` in UTF-8."""
    return sha256_hex(json.dumps([[m.role, m.content] for m in messages], ensure_ascii=False))


@dataclass(frozen=True, slots=True)
class ABRecord:
    """The A/B side of a call: the assignment as made (intention to treat) and its row id."""

    assignment: Assignment
    result_id: uuid.UUID
    title: str | None
    user_segment: str | None


@dataclass(frozen=True, slots=True)
class CallRecord:
    """The facts of one finished call; :meth:`rows` runs in the writer's thread."""

    environment: Environment
    primary: tuple[str, str]
    served: tuple[str, str] | None
    fallback_used: bool
    attempts: Sequence[FallbackAttempt]
    response: ProviderResponse | None
    error: BaseException | None
    cost: Decimal | None
    elapsed_ms: int
    wall: float
    """``time.time()`` when the call started."""
    session_id: str | None
    messages: Sequence[ChatMessage]
    ab: ABRecord | None

    def rows(self) -> Iterator[BaseModel]:
        created = datetime.fromtimestamp(self.wall, UTC)
        response, err = self.response, self.error
        last = self.attempts[-1] if self.attempts else None
        message = str(err) if err is not None else None
        in_tok = response.input_tokens if response else None
        out_tok = response.output_tokens if response else None
        total = None if in_tok is None and out_tok is None else (in_tok or 0) + (out_tok or 0)
        if isinstance(err, AllProvidersFailed):  # the last attempt says what went wrong
            kind = last.error_kind if last else None
            status = last.status_code if last else None
        else:
            kind = getattr(err, "kind", None)
            status = getattr(err, "status_code", None)
        served = self.served
        log_id = uuid.uuid4()
        yield FallbackLog(
            id=log_id,
            primary_provider=self.primary[0],
            primary_model=self.primary[1],
            used_provider=served[0] if served else None,
            used_model=served[1] if served else None,
            attempted_providers=list(self.attempts),
            success=response is not None,
            error_message=message,
            environment=self.environment,
            processing_time_ms=self.elapsed_ms,
            created_at=created,
        )
        provider, model = served or ((last.provider, last.model) if last else self.primary)
        yield UsageLog(
            environment=self.environment,
            provider=provider,
            model=model,
            input_tokens=in_tok,
            output_tokens=out_tok,
            total_tokens=total,
            estimated_cost=self.cost,
            processing_time_ms=self.elapsed_ms,
            success=response is not None,
            error_kind=kind,
            status_code=status,
            fallback_used=self.fallback_used,
            session_id=self.session_id,
            fallback_log_id=log_id,
            created_at=created,
        )
        ab = self.ab
        if ab is not None:
            yield ABTestResult(
                id=ab.result_id,
                test_id=ab.assignment.test_id,
                variant_id=ab.assignment.variant_id,
                content_hash=content_hash(self.messages),
                title_hash=sha256_hex(ab.title) if ab.title is not None else None,
                summary_length=len(response.text) if response else None,
                input_tokens=in_tok,
                output_tokens=out_tok,
                total_tokens=total,
                estimated_cost=self.cost,
                processing_time=self.elapsed_ms,
                provider=served[0] if served else None,
                model=served[1] if served else None,
                user_segment=ab.user_segment,
                session_id=self.session_id,
                success=response is not None,
                error_message=message,
                created_at=created,
            )

    def __repr__(self) -> str:
        return f"CallRecord(primary={self.primary}, served={self.served}, ms={self.elapsed_ms})"
