"""Helpers every command group shares: the store from arguments, output, errors, progress."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

import yaml
from pydantic import BaseModel, ValidationError

from llmops.embedded import EmbeddedPostgres
from llmops.errors import ConfigError
from llmops.store import DATABASE_URL_ENV, PostgresStore, resolve_dsn

__all__ = [
    "Progress",
    "add_output_options",
    "database_url",
    "emit",
    "format_validation_error",
    "load_document",
    "open_store",
    "parse_uuid",
    "print_table",
    "to_jsonable",
]


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """``--json`` for scripts."""
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


@contextmanager
def database_url(args: argparse.Namespace, *, embedded_default: bool = False) -> Iterator[str]:
    """The URL from ``--database-url`` / ``$LLMOPS_DATABASE_URL``; with ``--embedded`` (or
    ``embedded_default`` and nothing configured) an embedded server, stopped afterwards."""
    explicit = getattr(args, "database_url", None) or os.environ.get(DATABASE_URL_ENV)
    if explicit and not getattr(args, "embedded", False):
        yield resolve_dsn(explicit)
        return
    if not (getattr(args, "embedded", False) or embedded_default):
        yield resolve_dsn(None)  # raises the "no database configured" ConfigError
        return
    with EmbeddedPostgres() as server:
        yield server.url


@contextmanager
def open_store(
    args: argparse.Namespace, *, max_size: int = 4, embedded_default: bool = False
) -> Iterator[PostgresStore]:
    """The store named by the arguments (see :func:`database_url`); closed afterwards."""
    with database_url(args, embedded_default=embedded_default) as url:
        store = PostgresStore.connect(url, max_size=max_size, timeout=5)
        try:
            yield store
        finally:
            store.close()


def to_jsonable(value: Any) -> Any:
    """Models, UUIDs, datetimes and Decimals as plain JSON values."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def emit(value: Any, *, stream: TextIO | None = None) -> None:
    """Print ``value`` as indented JSON."""
    print(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False), file=stream or sys.stdout)


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, stream: TextIO | None = None
) -> None:
    """A plain aligned text table."""
    out = stream or sys.stdout
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line.rstrip(), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out)
    if not rows:
        print("(none)", file=out)


def format_validation_error(exc: ValidationError) -> str:
    """One line per problem, each naming the field: ``field.path: message``.

    Model-level checks (several fields at once) have no location; their messages start with
    the field they are about (``variants: weights add up to 110, ...``), so they stand alone.
    """
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def load_document(path: str) -> Any:
    """A JSON or YAML document from ``path`` (``-`` for stdin); :class:`ConfigError` if unreadable."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from None
    try:
        if path.endswith((".yaml", ".yml")):
            return yaml.safe_load(text)
        return json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"{path}: not valid {'YAML' if path.endswith(('.yaml', '.yml')) else 'JSON'}: {exc}"
        ) from None


def parse_uuid(value: str, what: str = "id") -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise ConfigError(f"{what}: {value!r} is not a UUID") from None


class Progress:
    """A progress bar on stderr when it is a terminal, a few plain lines otherwise."""

    def __init__(self, total: int, label: str, *, stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.label = label
        self.done = 0
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._last_pct = -1

    def advance(self, n: int = 1) -> None:
        self.done += n
        pct = min(100, self.done * 100 // self.total)
        if pct == self._last_pct:
            return
        if self._tty:
            filled = pct * 30 // 100
            bar = "#" * filled + "-" * (30 - filled)
            self._stream.write(f"\r{self.label} [{bar}] {pct:3d}% ({self.done}/{self.total})")
            self._stream.flush()
        elif pct % 25 == 0 and pct > 0:
            self._stream.write(f"{self.label}: {pct}% ({self.done}/{self.total})\n")
        self._last_pct = pct

    def finish(self) -> None:
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()
