"""``llmops migrate [--status]``."""

from __future__ import annotations

import argparse
from typing import Any

from llmops.cli._common import add_output_options, emit, open_store, print_table

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "migrate", help="apply pending schema migrations (or list them with --status)"
    )
    p.add_argument("--status", action="store_true", help="list applied and pending migrations")
    add_output_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with open_store(args, max_size=1) as store:
        if not args.status:
            applied = store.migrate()
            if args.json:
                emit({"applied": [f"{m.version:03d}_{m.name}" for m in applied]})
            elif applied:
                for m in applied:
                    print(f"applied {m.path.name}")
            else:
                print("database is up to date")
            return 0
        status = store.migration_status()
    if args.json:
        emit(
            {
                "applied": [
                    {"version": a.version, "name": a.name, "applied_at": a.applied_at}
                    for a in status.applied
                ],
                "pending": [{"version": m.version, "name": m.name} for m in status.pending],
                "changed": [{"version": m.version, "name": m.name} for m in status.changed],
            }
        )
    else:
        changed = {m.version for m in status.changed}
        rows: list[list[Any]] = [
            [
                f"{a.version:03d}",
                a.name,
                "changed!" if a.version in changed else "applied",
                a.applied_at,
            ]
            for a in status.applied
        ]
        rows += [[f"{m.version:03d}", m.name, "pending", ""] for m in status.pending]
        print_table(["version", "name", "state", "applied at"], rows)
    return 1 if status.changed else 0
