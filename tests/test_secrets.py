"""Secret references: syntax, resolution, redaction and scrubbing."""

from __future__ import annotations

import pytest

from llmops.errors import ConfigError
from llmops.secrets import (
    REDACTED,
    is_redacted,
    is_reference,
    redact,
    reference_name,
    resolve,
    scrub,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("env:SLACK_WEBHOOK_URL", True),
        ("env:_X1", True),
        ("env:1X", False),
        ("env:", False),
        ("env:A-B", False),
        ("ENV:A", False),
        (" env:A", False),
        ("https://hooks.slack.com/services/T/B/x", False),
        ("", False),
        (None, False),
    ],
)
def test_is_reference(value: str | None, expected: bool) -> None:
    """Only ``env:NAME`` with a valid variable name is a reference."""
    assert is_reference(value) is expected


def test_reference_name() -> None:
    """The variable name is extracted; a non-reference is a ConfigError without the value."""
    assert reference_name("env:SMTP_PASSWORD") == "SMTP_PASSWORD"
    with pytest.raises(ConfigError) as info:
        reference_name("hunter2")
    assert "hunter2" not in str(info.value)


def test_resolve_reference_from_environ() -> None:
    """A reference resolves through the given environment mapping."""
    assert resolve("env:HOOK", environ={"HOOK": "https://example.invalid/x"}) == (
        "https://example.invalid/x"
    )


def test_resolve_reference_from_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a mapping, os.environ is read at call time."""
    monkeypatch.setenv("LLMOPS_TEST_SECRET", "s3cret")
    assert resolve("env:LLMOPS_TEST_SECRET") == "s3cret"


@pytest.mark.parametrize("environ", [{}, {"HOOK": ""}])
def test_resolve_unset_variable_names_field_and_variable(environ: dict[str, str]) -> None:
    """An unset or empty variable is a ConfigError naming the field and the variable."""
    with pytest.raises(ConfigError, match=r"actions\.0\.config\.webhookUrl: .*HOOK"):
        resolve("env:HOOK", environ=environ, field="actions.0.config.webhookUrl")


def test_resolve_clear_value_is_returned() -> None:
    """A secret given in clear is used as is."""
    assert resolve("https://hooks.example.invalid/abc", environ={}) == (
        "https://hooks.example.invalid/abc"
    )


def test_resolve_redacted_is_refused() -> None:
    """The redacted marker is never sent anywhere: resolving it is a ConfigError."""
    with pytest.raises(ConfigError, match="password: the secret was redacted"):
        resolve(REDACTED, field="password")


def test_redact_keeps_references_and_hides_the_rest() -> None:
    """References survive redaction; clear values become the marker; it is idempotent."""
    assert redact("env:SLACK_WEBHOOK_URL") == "env:SLACK_WEBHOOK_URL"
    assert redact("https://hooks.slack.com/services/T/B/secret") == REDACTED
    assert redact("") == REDACTED
    assert redact(REDACTED) == REDACTED
    assert is_redacted(redact("hunter2"))
    assert not is_redacted("env:X")


def test_redacted_marker_is_never_resolved() -> None:
    """The marker looks like a reference (documents holding it validate) but never resolves."""
    assert is_reference(REDACTED)
    with pytest.raises(ConfigError, match="redacted"):
        resolve(REDACTED, environ={"LLMOPS_REDACTED_SECRET": "x"})


def test_scrub_replaces_every_secret_longest_first() -> None:
    """Every occurrence of every secret is replaced; overlapping secrets leave no fragment."""
    message = "POST https://h.invalid/abc/def failed; token=abc; again https://h.invalid/abc/def"
    out = scrub(message, "abc", "https://h.invalid/abc/def", None, "")
    assert "abc" not in out
    assert "h.invalid" not in out
    assert out.count(REDACTED) == 3
