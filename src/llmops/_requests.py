"""Checks of what a caller passes to ``complete()``: messages, generation params, call options.

Hand-written rather than a pydantic model: they run on every call and must cost a few
microseconds. Every failure is a :class:`~llmops.errors.ConfigError` naming the argument.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from llmops.errors import ConfigError
from llmops.providers.base import ChatMessage

__all__ = ["check_deadline", "check_label", "check_params", "to_messages"]

_ROLES = frozenset({"system", "user", "assistant"})


def to_messages(messages: object) -> tuple[ChatMessage, ...]:
    """``messages`` as ChatMessages: a non-empty sequence of ChatMessage or {role, content}."""
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
        raise ConfigError(
            "messages: expected a list of {'role': ..., 'content': ...} messages, "
            f"got {type(messages).__name__}"
        )
    if not messages:
        raise ConfigError("messages: must not be empty")
    out: list[ChatMessage] = []
    for i, m in enumerate(messages):
        role: object
        content: object
        if type(m) is ChatMessage:
            role, content = m.role, m.content
        elif isinstance(m, Mapping):
            role, content = m.get("role"), m.get("content")
        else:
            raise ConfigError(
                f"messages[{i}]: expected a mapping with role and content, got {type(m).__name__}"
            )
        if role not in _ROLES:
            raise ConfigError(
                f"messages[{i}].role: must be one of system, user, assistant; got {role!r}"
            )
        if not isinstance(content, str):
            raise ConfigError(
                f"messages[{i}].content: must be a string, got {type(content).__name__}"
            )
        out.append(m if type(m) is ChatMessage else ChatMessage(role, content))  # type: ignore[arg-type,unused-ignore]
    return tuple(out)


def _number(name: str, value: Any, lo: float, hi: float, *, lo_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ConfigError(f"params.{name}: must be a number, got {value!r}")
    if value > hi or value < lo or (lo_open and value == lo):
        bound = f"> {lo:g}" if lo_open else f">= {lo:g}"
        raise ConfigError(f"params.{name}: must be {bound} and <= {hi:g}, got {value!r}")


def _int(name: str, value: Any, lo: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"params.{name}: must be an integer, got {value!r}")
    if value < lo:
        raise ConfigError(f"params.{name}: must be >= {lo}, got {value!r}")


def check_params(params: Mapping[str, Any], allowed: frozenset[str]) -> None:
    """Unknown names and out-of-range values of the common generation parameters."""
    for name, value in params.items():
        if name not in allowed:
            raise ConfigError(
                f"params.{name}: unknown parameter; accepted: {', '.join(sorted(allowed))}"
            )
        if value is None:
            continue
        if name == "temperature":
            _number(name, value, 0.0, 2.0)
        elif name == "top_p":
            _number(name, value, 0.0, 1.0, lo_open=True)
        elif name in ("presence_penalty", "frequency_penalty"):
            _number(name, value, -2.0, 2.0)
        elif name == "max_tokens":
            _int(name, value, 1)
        elif name == "seed":
            _int(name, value, -(2**63))
        elif name == "stop" and not (
            isinstance(value, str)
            or (isinstance(value, Sequence) and all(isinstance(s, str) for s in value))
        ):
            raise ConfigError(f"params.stop: must be a string or a list of strings, got {value!r}")


def check_deadline(deadline: object) -> float | None:
    """Seconds for the whole call (> 0), or None."""
    if deadline is None:
        return None
    if isinstance(deadline, bool) or not isinstance(deadline, int | float):
        raise ConfigError(f"deadline: must be a number of seconds, got {deadline!r}")
    if not deadline > 0 or math.isinf(deadline):
        raise ConfigError(f"deadline: must be a finite number of seconds > 0, got {deadline!r}")
    return float(deadline)


def check_label(name: str, value: object, max_length: int) -> None:
    """session_id, user_id, user_segment, ab_test: None or a string of at most max_length."""
    if value is None:
        return
    if not isinstance(value, str):
        raise ConfigError(f"{name}: must be a string, got {type(value).__name__}")
    if len(value) > max_length:
        raise ConfigError(f"{name}: at most {max_length} characters, got {len(value)}")
