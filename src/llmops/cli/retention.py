"""``llmops retention run``: delete log rows past their retention period, in batches."""

from __future__ import annotations

import argparse
from typing import Any

from llmops.cli._common import Progress, add_output_options, emit, open_store, print_table
from llmops.retention import RetentionPolicy, run_retention

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "retention", help="delete old log rows (fallback logs, A/B results, alert events, ...)"
    )
    cmds = p.add_subparsers(dest="retention_command", metavar="ACTION")
    cmds.required = True
    r = cmds.add_parser("run", help="apply the retention policies")
    r.add_argument("--dry-run", action="store_true", help="count what would go, delete nothing")
    defaults = RetentionPolicy()
    for flag, field, what in (
        ("--fallback-log-days", "fallback_log_days", "llm_fallback_logs"),
        ("--ab-result-days", "ab_result_days", "ab_test_results of ended tests"),
        ("--alert-event-days", "alert_event_days", "resolved alert_events"),
        ("--usage-log-days", "usage_log_days", "llm_usage_logs"),
        ("--breaker-event-days", "breaker_event_days", "llm_circuit_breaker_events"),
    ):
        r.add_argument(
            flag,
            type=int,
            dest=field,
            default=getattr(defaults, field),
            metavar="DAYS",
            help=f"keep {what} this many days (default {getattr(defaults, field)})",
        )
    r.add_argument(
        "--batch-size",
        type=int,
        default=defaults.batch_size,
        metavar="N",
        help=f"rows per DELETE transaction (default {defaults.batch_size})",
    )
    add_output_options(r)
    r.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    policy = RetentionPolicy(
        fallback_log_days=args.fallback_log_days,
        ab_result_days=args.ab_result_days,
        alert_event_days=args.alert_event_days,
        usage_log_days=args.usage_log_days,
        breaker_event_days=args.breaker_event_days,
        batch_size=args.batch_size,
    )
    with open_store(args, max_size=1) as store:
        counted = run_retention(store, policy, dry_run=True)
        report = counted
        if not args.dry_run:
            bar = None if args.json else Progress(counted.total, "retention")
            report = run_retention(
                store,
                policy,
                now=counted.now,
                on_batch=None if bar is None else (lambda _t, n: bar.advance(n)),
            )
            if bar is not None:
                bar.finish()
    if args.json:
        emit(report)
        return 0
    verb = "would delete" if report.dry_run else "deleted"
    print_table(
        ["table", "keep days", "cut-off", verb, "batches"],
        [
            [t.table, t.days, t.cutoff.isoformat(timespec="seconds"), t.deleted, t.batches]
            for t in report.tables
        ],
    )
    print(f"{verb} {report.total} rows in all (batch size {report.batch_size})")
    return 0
