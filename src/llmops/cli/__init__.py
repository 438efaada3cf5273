"""The ``llmops`` command. Thin: it parses arguments and calls the library.

Each command group lives in its own module exposing ``register(subparsers)``; the module adds
its sub-parser and sets ``func`` (``(args) -> int``) on it. User mistakes and unreachable
databases end in one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from llmops._version import __version__
from llmops.cli._common import format_validation_error
from llmops.errors import ConfigError, DatabaseUnavailable, IntegrityError, LLMOpsError, NotFound

__all__ = ["build_parser", "main"]

# Command groups, in the order `llmops --help` lists them.
_GROUPS = ("demo", "migrate", "config", "settings", "ab", "alerts", "backup", "retention")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmops",
        description="Fallback, A/B tests, backups and alerts for LLM calls, stored in PostgreSQL.",
    )
    parser.add_argument("--version", action="version", version=f"llmops {__version__}")
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="PostgreSQL URL (default: $LLMOPS_DATABASE_URL)",
    )
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="use the embedded PostgreSQL (the 'embedded' extra) in the per-user data directory",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _GROUPS:
        module = importlib.import_module(f"llmops.cli.{name}")
        module.register(sub)
    for command in _subcommands(parser):
        _add_database_options(command)
    return parser


def _subcommands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every parser below ``parser`` (groups and their commands), depth first."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found += [child, *_subcommands(child)]
    return found


def _add_database_options(parser: argparse.ArgumentParser) -> None:
    """Accept ``--database-url`` / ``--embedded`` after any command too (``llmops migrate
    --database-url URL``). SUPPRESS keeps a sub-parser from overwriting the value given before
    the command with its own default."""
    parser.add_argument(
        "--database-url", metavar="URL", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--embedded", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )


def _fail(message: str, code: int) -> int:
    print(f"llmops: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``llmops`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        code: int = args.func(args)
    except ValidationError as exc:
        return _fail(format_validation_error(exc), EXIT_USAGE)
    except (ConfigError, NotFound) as exc:
        return _fail(str(exc), EXIT_USAGE)
    except DatabaseUnavailable as exc:
        return _fail(str(exc), EXIT_UNAVAILABLE)
    except IntegrityError as exc:
        return _fail(str(exc), EXIT_FAILURE)
    except LLMOpsError as exc:
        return _fail(str(exc), EXIT_FAILURE)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BrokenPipeError:
        # the reader went away (`llmops ... | head`): stop quietly, like other Unix tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
