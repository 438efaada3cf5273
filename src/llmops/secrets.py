"""Secret references: how llmops keeps API keys, webhook URLs and passwords out of its data.

A secret is configured as a *reference* such as ``env:SLACK_WEBHOOK_URL`` (read from the
environment variable when it is used), never as the secret itself. The helpers here are the one
place that knows the syntax:

* :func:`is_reference` -- is this value a reference (safe to store, print and back up)?
* :func:`resolve` -- the secret a value stands for, at the moment it is needed;
* :func:`redact` -- a value safe to store or print: references kept, anything else replaced by
  :data:`REDACTED`;
* :func:`is_redacted` -- did a value come from a redacted backup (its secret is lost)?
* :func:`scrub` -- remove resolved secrets from a message (an HTTP error that echoes the URL).

Values given in clear (discouraged) still work: :func:`resolve` returns them unchanged, and
:func:`redact` keeps them out of backups and output.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from llmops.errors import ConfigError

__all__ = [
    "ENV_PREFIX",
    "REDACTED",
    "is_redacted",
    "is_reference",
    "redact",
    "reference_name",
    "resolve",
    "scrub",
]

ENV_PREFIX = "env:"
"""Prefix of an environment-variable reference: ``env:NAME``."""

REDACTED = "env:LLMOPS_REDACTED_SECRET"
"""What a secret given in clear becomes in backups and output. It has the shape of a reference
(so a document holding it still validates where only references are allowed) but it is not a
usable value: :func:`resolve` refuses it, whatever the environment holds."""

_REFERENCE = re.compile(r"^env:([A-Za-z_][A-Za-z0-9_]*)$")


def is_reference(value: str | None) -> bool:
    """True when ``value`` is a reference such as ``env:OPENAI_API_KEY``."""
    return value is not None and _REFERENCE.match(value) is not None


def reference_name(value: str) -> str:
    """The environment variable a reference names; :class:`ConfigError` if it is not one."""
    match = _REFERENCE.match(value)
    if match is None:
        raise ConfigError("not a secret reference: expected env:NAME")
    return match.group(1)


def is_redacted(value: str | None) -> bool:
    """True when ``value`` is the :data:`REDACTED` marker (the secret was left out of a backup)."""
    return value == REDACTED


def resolve(value: str, *, environ: Mapping[str, str] | None = None, field: str = "secret") -> str:
    """The secret ``value`` stands for.

    * ``env:NAME`` -> the value of environment variable NAME (``environ`` defaults to
      :data:`os.environ`); :class:`ConfigError` naming the variable when it is unset or empty.
    * :data:`REDACTED` -> :class:`ConfigError`: the secret was not kept by a backup.
    * anything else is a secret given in clear and is returned unchanged.

    Error messages name ``field`` and the variable, never a secret.
    """
    if is_redacted(value):
        raise ConfigError(
            f"{field}: the secret was redacted (restored from a backup); set it again, "
            "preferably as an env:NAME reference"
        )
    match = _REFERENCE.match(value)
    if match is None:
        return value
    name = match.group(1)
    env = os.environ if environ is None else environ
    secret = env.get(name)
    if not secret:
        raise ConfigError(f"{field}: environment variable {name} (from env:{name}) is not set")
    return secret


def redact(value: str) -> str:
    """``value`` if it is a reference or already redacted, else :data:`REDACTED`."""
    if is_reference(value) or is_redacted(value):
        return value
    return REDACTED


def scrub(message: str, *secrets: str | None) -> str:
    """``message`` with every occurrence of each non-empty secret replaced by :data:`REDACTED`.

    Pass the *resolved* secrets (a webhook URL, a password): use it on error messages from HTTP
    or SMTP libraries, which may echo the URL or credentials they were given.
    """
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        message = message.replace(secret, REDACTED)
    return message
