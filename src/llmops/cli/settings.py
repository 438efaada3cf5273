"""``llmops settings``: llm_settings rows listed, shown, applied and deleted."""

from __future__ import annotations

import argparse
from typing import Any

from llmops.cli._common import (
    add_output_options,
    emit,
    load_document,
    open_store,
    parse_uuid,
    print_table,
)
from llmops.cli.config import ENVIRONMENTS, add_actor_option, positive_int, print_history
from llmops.configs import SettingsService
from llmops.errors import ConfigError

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "settings", help="LLM settings per environment/provider/model: list, show, apply, delete"
    )
    cmds = p.add_subparsers(dest="settings_command", metavar="ACTION")
    cmds.required = True

    c = cmds.add_parser("list", help="list settings rows")
    c.add_argument("--environment", choices=ENVIRONMENTS)
    add_output_options(c)
    c.set_defaults(func=run_list)

    c = cmds.add_parser("show", help="show one settings row as JSON")
    c.add_argument("id")
    add_output_options(c)
    c.set_defaults(func=run_show)

    c = cmds.add_parser(
        "apply", help="insert or update settings from a JSON/YAML file (one document or a list)"
    )
    c.add_argument("--file", "-f", required=True, metavar="FILE", help="JSON or YAML; - for stdin")
    add_actor_option(c)
    add_output_options(c)
    c.set_defaults(func=run_apply)

    c = cmds.add_parser("delete", help="delete a settings row")
    c.add_argument("id")
    add_actor_option(c)
    add_output_options(c)
    c.set_defaults(func=run_delete)

    c = cmds.add_parser("history", help="the audit trail of settings")
    c.add_argument("--environment", choices=ENVIRONMENTS)
    c.add_argument("--limit", type=positive_int, default=50, help="newest N entries (50)")
    add_output_options(c)
    c.set_defaults(func=run_history)


def _service(store: Any, args: argparse.Namespace) -> SettingsService:
    return SettingsService(store, actor=getattr(args, "actor", None))


def run_list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        rows = _service(store, args).list(args.environment)
    if args.json:
        emit(rows)
        return 0
    print_table(
        ["id", "environment", "provider", "model", "active", "parameters", "api key", "timeout ms"],
        [
            [
                s.id,
                s.environment,
                s.provider,
                s.model,
                "yes" if s.is_active else "",
                ", ".join(
                    f"{k}={v}" for k, v in s.parameters.model_dump(exclude_none=True).items()
                ),
                s.api_key_ref or "",
                s.timeout_ms,
            ]
            for s in rows
        ],
    )
    return 0


def run_show(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        emit(_service(store, args).get(parse_uuid(args.id)))
    return 0


def run_apply(args: argparse.Namespace) -> int:
    document = load_document(args.file)
    if not isinstance(document, dict | list):
        raise ConfigError(f"{args.file}: expected an object or a list of objects")
    with open_store(args) as store:
        results = _service(store, args).apply(document)
    if args.json:
        emit(
            [
                {"id": r.settings.id, "outcome": r.outcome, "changes": list(r.changes)}
                for r in results
            ]
        )
    else:
        for r in results:
            s = r.settings
            print(f"{r.outcome} {s.id} ({s.environment} {s.provider}/{s.model})")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        deleted = _service(store, args).delete(parse_uuid(args.id))
    if args.json:
        emit(deleted)
    else:
        print(f"deleted {deleted.id} ({deleted.environment} {deleted.provider}/{deleted.model})")
    return 0


def run_history(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        entries = _service(store, args).history(environment=args.environment, limit=args.limit)
    if args.json:
        emit(entries)
    else:
        print_history(entries)
    return 0
