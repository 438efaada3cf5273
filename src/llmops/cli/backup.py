"""``llmops backup create | list | show | verify | export | import | restore``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from llmops.backup import ALL_SECTIONS, CREATE_STEPS, BackupManager
from llmops.cli._common import (
    Progress,
    add_output_options,
    emit,
    open_store,
    print_table,
)
from llmops.errors import IntegrityError
from llmops.models.backup import LLMBackup, RestoreResult

__all__ = ["register"]

_ENVIRONMENTS = ("local", "staging", "production")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "backup", help="back up, verify, export, import and restore LLM configuration"
    )
    cmds = p.add_subparsers(dest="backup_command", metavar="ACTION")
    cmds.required = True

    c = cmds.add_parser("create", help="back up one environment's configuration")
    c.add_argument("--environment", "-e", required=True, choices=_ENVIRONMENTS)
    c.add_argument("--creator", required=True, help="who makes the backup")
    c.add_argument("--description", help="free text")
    add_output_options(c)
    c.set_defaults(func=_create)

    ls = cmds.add_parser("list", help="backups, newest first")
    ls.add_argument("--environment", "-e", choices=_ENVIRONMENTS)
    ls.add_argument("--limit", type=int, default=50)
    add_output_options(ls)
    ls.set_defaults(func=_list)

    for name, helptext, func in (
        ("show", "a backup's metadata and section counts (--data: the whole document)", _show),
        ("verify", "recompute a backup's hash and size; exit 1 when they do not match", _verify),
    ):
        s = cmds.add_parser(name, help=helptext)
        _ref(s)
        if name == "show":
            s.add_argument("--data", action="store_true", help="include backup_data")
        add_output_options(s)
        s.set_defaults(func=func)

    x = cmds.add_parser("export", help="write a verified backup to a JSON file")
    _ref(x)
    x.add_argument("--output", "-o", required=True, help="file to write ('-': stdout)")
    add_output_options(x)
    x.set_defaults(func=_export)

    i = cmds.add_parser("import", help="store a backup from an export file (hash checked)")
    i.add_argument("file", help="export file ('-': stdin)")
    add_output_options(i)
    i.set_defaults(func=_import)

    r = cmds.add_parser("restore", help="restore a backup (or an export file) in one transaction")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("backup", nargs="?", help="backup id or version")
    src.add_argument("--file", "-f", help="restore from an export file instead")
    r.add_argument("--environment", "-e", choices=_ENVIRONMENTS, help="disambiguates a version")
    r.add_argument(
        "--mode",
        choices=("merge", "replace"),
        default="merge",
        help="merge (default): add and update; replace: also delete rows the backup does not have",
    )
    r.add_argument(
        "--section",
        action="append",
        choices=ALL_SECTIONS,
        dest="sections",
        help="restore only this section (repeatable)",
    )
    r.add_argument(
        "--dry-run", action="store_true", help="report what would change, change nothing"
    )
    r.add_argument(
        "--actor", help="who restores, for the audit trail (default: $LLMOPS_ACTOR or OS user)"
    )
    add_output_options(r)
    r.set_defaults(func=_restore)


def _ref(p: argparse.ArgumentParser) -> None:
    p.add_argument("backup", help="backup id or version")
    p.add_argument("--environment", "-e", choices=_ENVIRONMENTS, help="disambiguates a version")


def _summary(b: LLMBackup) -> dict[str, Any]:
    data = b.backup_data
    return {
        "id": b.id,
        "version": b.version,
        "environment": b.environment,
        "creator": b.creator,
        "description": b.description,
        "status": b.status,
        "created_at": b.created_at,
        "data_size": b.data_size,
        "hash": b.hash,
        "sections": {
            "llmSettings": len(data.llm_settings),
            "fallbackConfigs": len(data.fallback_configs),
            "abTests": len(data.ab_tests),
            "usageStats": len(data.usage_stats),
            "alertRules": len(data.alert_rules),
        },
    }


def _print_summary(info: dict[str, Any]) -> None:
    for key in (
        "id",
        "version",
        "environment",
        "creator",
        "description",
        "status",
        "created_at",
        "data_size",
        "hash",
    ):
        print(f"{key + ':':13} {'' if info[key] is None else info[key]}")
    print("sections:     " + ", ".join(f"{k} {v}" for k, v in info["sections"].items()))


def _progress(label: str, total: int, quiet: bool) -> tuple[Progress | None, Any]:
    if quiet:
        return None, None
    bar = Progress(total, label)
    return bar, lambda _step, done, _total: bar.advance(done - bar.done)


def _create(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        bar, step = _progress("backup", CREATE_STEPS, args.json)
        backup = BackupManager(store).create(
            args.environment, args.creator, args.description, on_progress=step
        )
        if bar:
            bar.finish()
    info = _summary(backup)
    if args.json:
        emit(info)
    else:
        print(
            f"backup {backup.version} of {backup.environment} created ({backup.data_size} "
            f"bytes, sha256 {backup.hash[:12]}...)"
        )
    return 0


def _list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        rows = BackupManager(store).list_backups(args.environment, limit=args.limit)
    if args.json:
        emit(rows)
    else:
        print_table(
            ["version", "environment", "status", "size", "creator", "created", "id"],
            [
                [
                    b.version,
                    b.environment,
                    b.status,
                    b.data_size,
                    b.creator,
                    b.created_at.isoformat(timespec="seconds") if b.created_at else "",
                    b.id,
                ]
                for b in rows
            ],
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        backup = BackupManager(store).get(args.backup, args.environment)
    info = _summary(backup)
    if args.data:
        info["backup_data"] = backup.backup_data
    if args.json:
        emit(info)
    else:
        _print_summary(info)
        if args.data:
            emit(backup.backup_data)
    return 0


def _verify(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        manager = BackupManager(store)
        backup_id = manager.resolve(args.backup, args.environment)
        result = manager.verify(backup_id)
    if args.json:
        emit(result)
        return 0 if result.ok else 1
    if not result.ok:
        raise IntegrityError(f"backup {args.backup}: " + "; ".join(result.problems))
    print(f"backup {args.backup}: ok ({result.actual_size} bytes, sha256 {result.actual_hash})")
    return 0


def _export(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        raw = BackupManager(store).export(args.backup, args.output, args.environment)
    out = sys.stderr if args.output == "-" else sys.stdout
    if args.json and args.output != "-":
        emit(
            {
                "id": raw.id,
                "version": raw.version,
                "file": args.output,
                "data_size": raw.data_size,
                "hash": raw.hash,
            }
        )
    else:
        print(f"exported backup {raw.version} to {args.output}", file=out)
    return 0


def _import(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        backup = BackupManager(store).import_file(args.file)
    if args.json:
        emit(_summary(backup))
    else:
        print(f"imported backup {backup.version} of {backup.environment} ({backup.id})")
    return 0


def _restore(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        manager = BackupManager(store)
        n = len(args.sections) if args.sections else 4
        bar, step = _progress("restore", n, args.json)
        source: Any = Path(args.file) if args.file else args.backup
        result = manager.restore(
            source,
            mode=args.mode,
            sections=args.sections,
            dry_run=args.dry_run,
            environment=args.environment,
            actor=args.actor,
            on_progress=step,
        )
        if bar:
            bar.finish()
    if args.json:
        emit(result)
    else:
        _print_restore(result)
    return 0


def _print_restore(result: RestoreResult) -> None:
    verb = "would restore" if result.dry_run else "restored"
    print(
        f"{'dry run: ' if result.dry_run else ''}{verb} backup {result.backup_version} into "
        f"{result.environment} ({result.mode})"
    )
    print_table(
        ["section", "restored", "skipped", "removed", "errors"],
        [
            [name, r.restored, r.skipped, r.removed, len(r.errors)]
            for name, r in result.report.items()
        ],
    )
    for change in result.changes:
        fields = f" ({', '.join(change.fields)})" if change.fields else ""
        print(f"  {change.action:10} {change.label}{fields}")
    for r in result.report.values():
        for error in r.errors:
            print(f"  note: {error}")
    if result.notified:
        print("the active fallback config changed: routers watching it were notified")
