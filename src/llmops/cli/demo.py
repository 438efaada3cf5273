"""``llmops demo [--calls N] [--seed S] [--environment ENV] [--json]``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from llmops.cli._common import Progress, add_output_options, emit, open_store

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="simulated traffic through the real router: fallbacks, breakers, A/B, alerts, backup",
        description=(
            "Runs on $LLMOPS_DATABASE_URL / --database-url when set, else on an embedded "
            "PostgreSQL in the per-user data directory. It replaces the active fallback config "
            "and clears the logs of the chosen environment (default: local) first."
        ),
    )
    p.add_argument("--calls", type=int, default=2000, help="number of calls (default 2000)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument(
        "--environment",
        choices=["local", "staging"],
        default="local",
        help="environment the demo writes to (default local)",
    )
    add_output_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from llmops.demo.report import print_report, result_json  # noqa: PLC0415
    from llmops.demo.runner import run_demo  # noqa: PLC0415

    with open_store(args, embedded_default=True) as store:
        progress = Progress(args.calls, "llmops demo")
        result = run_demo(
            store,
            calls=args.calls,
            seed=args.seed,
            environment=args.environment,
            on_progress=progress.advance,
        )
        progress.finish()
    if args.json:
        emit(result_json(result))
    else:
        print_report(result, sys.stdout)
    return 0
