"""``llmops config``: fallback configs listed, shown, applied, activated, compared, deleted."""

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
from llmops.configs import ACTOR_ENV, ConfigAuditEntry, ConfigService, FieldChange, diff_configs
from llmops.models import FallbackConfig

__all__ = [
    "ENVIRONMENTS",
    "add_actor_option",
    "positive_int",
    "print_changes",
    "print_history",
    "register",
]

ENVIRONMENTS = ("local", "staging", "production")


def add_actor_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--actor",
        metavar="NAME",
        help=f"who makes the change, for the audit trail (default: ${ACTOR_ENV} or the OS user)",
    )


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "config", help="fallback configs: list, show, apply, activate, diff, delete, history"
    )
    cmds = p.add_subparsers(dest="config_command", metavar="ACTION")
    cmds.required = True

    c = cmds.add_parser("list", help="list fallback configs (active first)")
    c.add_argument("--environment", choices=ENVIRONMENTS)
    add_output_options(c)
    c.set_defaults(func=run_list)

    c = cmds.add_parser("show", help="show one config (its JSON can be edited and applied)")
    c.add_argument("id")
    add_output_options(c)
    c.set_defaults(func=run_show)

    c = cmds.add_parser(
        "apply", help="create a config from a JSON/YAML file, or update the one its 'id' names"
    )
    c.add_argument("--file", "-f", required=True, metavar="FILE", help="JSON or YAML; - for stdin")
    c.add_argument("--activate", action="store_true", help="make it the active config")
    c.add_argument(
        "--dry-run", action="store_true", help="validate and show the diff, change nothing"
    )
    add_actor_option(c)
    add_output_options(c)
    c.set_defaults(func=run_apply)

    c = cmds.add_parser("activate", help="make a config the active one of its environment")
    c.add_argument("id")
    add_actor_option(c)
    add_output_options(c)
    c.set_defaults(func=run_activate)

    c = cmds.add_parser("diff", help="what would change if ID2 replaced ID1")
    c.add_argument("id1")
    c.add_argument("id2")
    add_output_options(c)
    c.set_defaults(func=run_diff)

    c = cmds.add_parser("delete", help="delete an inactive config")
    c.add_argument("id")
    add_actor_option(c)
    add_output_options(c)
    c.set_defaults(func=run_delete)

    c = cmds.add_parser("history", help="the audit trail: who changed what, when")
    c.add_argument("--environment", choices=ENVIRONMENTS)
    c.add_argument("--id", help="only this config")
    c.add_argument("--limit", type=positive_int, default=50, help="newest N entries (50)")
    add_output_options(c)
    c.set_defaults(func=run_history)


def _service(store: Any, args: argparse.Namespace) -> ConfigService:
    return ConfigService(store, actor=getattr(args, "actor", None))


def _chain(config: FallbackConfig) -> str:
    return " -> ".join(f"{t.provider}/{t.model}" for t in config.targets())


def print_changes(changes: list[FieldChange]) -> None:
    if not changes:
        print("no differences")
    for change in changes:
        print(change)


def print_history(entries: list[ConfigAuditEntry]) -> None:
    print_table(
        ["when", "actor", "action", "kind", "environment", "id", "changes"],
        [
            [
                e.created_at.isoformat(timespec="seconds") if e.created_at else "",
                e.actor,
                e.action,
                e.kind,
                e.environment,
                e.config_id,
                len(e.details.changes) or "",
            ]
            for e in entries
        ],
    )


def run_list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        configs = _service(store, args).list(args.environment)
    if args.json:
        emit(configs)
        return 0
    print_table(
        ["id", "environment", "active", "chain", "retries", "updated"],
        [
            [
                c.id,
                c.environment,
                "yes" if c.is_active else "",
                _chain(c),
                c.max_retries,
                c.updated_at.isoformat(timespec="seconds") if c.updated_at else "",
            ]
            for c in configs
        ],
    )
    return 0


def run_show(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        config = _service(store, args).get(parse_uuid(args.id))
    emit(config)  # JSON either way: it is the document `apply` takes back
    return 0


def run_apply(args: argparse.Namespace) -> int:
    document = load_document(args.file)
    with open_store(args) as store:
        service = _service(store, args)
        config = service.validate(document)
        if args.dry_run:
            current = service.store.fallback_configs.find(config.id) if config.id else None
            current = current or service.active(config.environment)
            changes = diff_configs(current, config)
            if args.json:
                emit(
                    {
                        "valid": True,
                        "compared_with": current.id if current else None,
                        "changes": changes,
                    }
                )
            else:
                print(f"valid; compared with {current.id if current else 'nothing'}:")
                print_changes(changes)
            return 0
        result = service.apply(config, activate=args.activate)
    if args.json:
        emit(
            {
                "id": result.config.id,
                "outcome": result.outcome,
                "activated": result.activated,
                "active": result.config.is_active,
                "changes": list(result.changes),
            }
        )
    else:
        note = (
            ", activated" if result.activated else (" (active)" if result.config.is_active else "")
        )
        print(f"{result.outcome} {result.config.id} ({result.config.environment}){note}")
    return 0


def run_activate(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        config = _service(store, args).activate(parse_uuid(args.id))
    if args.json:
        emit(config)
    else:
        print(f"active config of {config.environment}: {config.id} ({_chain(config)})")
    return 0


def run_diff(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        changes = _service(store, args).diff(parse_uuid(args.id1), parse_uuid(args.id2))
    if args.json:
        emit(changes)
    else:
        print_changes(changes)
    return 0


def run_delete(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        deleted = _service(store, args).delete(parse_uuid(args.id))
    if args.json:
        emit(deleted)
    else:
        print(f"deleted {deleted.id} ({deleted.environment})")
    return 0


def run_history(args: argparse.Namespace) -> int:
    config_id = parse_uuid(args.id) if args.id else None
    with open_store(args) as store:
        entries = _service(store, args).history(
            environment=args.environment, config_id=config_id, limit=args.limit
        )
    if args.json:
        emit(entries)
    else:
        print_history(entries)
    return 0
