"""``llmops alerts rules add | list | show | enable | disable | delete``, ``alerts check``,
``alerts run``, ``alerts events``, ``alerts ack`` and ``alerts resolve``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from pydantic import ValidationError

from llmops.alerts import AlertEngine, AlertRuleManager, EvaluationOutcome, redacted
from llmops.cli._common import (
    add_output_options,
    emit,
    format_validation_error,
    load_document,
    open_store,
    parse_uuid,
    print_table,
)
from llmops.errors import ConfigError, DatabaseUnavailable
from llmops.models.alerts import ALERT_TYPE_METRICS, AlertEvent, AlertRule

__all__ = ["register"]

_ENVIRONMENTS = ("local", "staging", "production")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "alerts", help="alert rules, evaluation passes and alert events"
    )
    cmds = p.add_subparsers(dest="alerts_command", metavar="ACTION")
    cmds.required = True

    rules = cmds.add_parser("rules", help="manage alert rules")
    rcmds = rules.add_subparsers(dest="rules_command", metavar="ACTION")
    rcmds.required = True
    a = rcmds.add_parser("add", help="add the rule (or list of rules) in a JSON/YAML file")
    a.add_argument("--file", "-f", required=True, help="JSON or YAML file ('-': stdin)")
    add_output_options(a)
    a.set_defaults(func=_rules_add)
    ls = rcmds.add_parser("list", help="rules, oldest first (secrets shown as references only)")
    ls.add_argument("--environment", "-e", choices=_ENVIRONMENTS)
    ls.add_argument("--type", choices=tuple(ALERT_TYPE_METRICS))
    add_output_options(ls)
    ls.set_defaults(func=_rules_list)
    for name, helptext, func in (
        ("show", "one rule as JSON (secrets shown as references only)", _rules_show),
        ("enable", "evaluate the rule again", _rules_enable),
        ("disable", "stop evaluating the rule (its open event stays)", _rules_disable),
        ("delete", "delete the rule and its events", _rules_delete),
    ):
        s = rcmds.add_parser(name, help=helptext)
        s.add_argument("id", help="rule id")
        add_output_options(s)
        s.set_defaults(func=func)

    c = cmds.add_parser("check", help="one evaluation pass over the rules that are due")
    c.add_argument("--environment", "-e", choices=_ENVIRONMENTS)
    add_output_options(c)
    c.set_defaults(func=_check)

    r = cmds.add_parser("run", help="evaluate due rules every --interval seconds until stopped")
    r.add_argument("--interval", type=float, default=60.0, help="seconds between passes")
    r.add_argument("--environment", "-e", choices=_ENVIRONMENTS)
    r.add_argument("--max-passes", type=int, help=argparse.SUPPRESS)
    r.set_defaults(func=_run)

    e = cmds.add_parser("events", help="alert events, newest first")
    e.add_argument("--status", choices=("active", "acknowledged", "resolved"))
    e.add_argument("--environment", "-e", choices=_ENVIRONMENTS)
    e.add_argument("--limit", type=int, default=50)
    add_output_options(e)
    e.set_defaults(func=_events)

    for name, helptext, func in (
        ("ack", "acknowledge an active event (no more reminders)", _ack),
        ("resolve", "resolve an event by hand (resolved notices are sent)", _resolve),
    ):
        s = cmds.add_parser(name, help=helptext)
        s.add_argument("id", help="event id")
        if name == "resolve":
            s.add_argument("--no-notify", action="store_true", help="send no resolved notices")
        add_output_options(s)
        s.set_defaults(func=func)


# -- rules ------------------------------------------------------------------------------------


def _rules_add(args: argparse.Namespace) -> int:
    document = load_document(args.file)
    many = isinstance(document, list)
    items = document if many else [document]
    if not items or not all(isinstance(i, dict) for i in items):
        raise ConfigError(f"{args.file}: expected a rule object or a list of rule objects")
    for i, item in enumerate(items):
        try:
            AlertRule.model_validate(item)
        except ValidationError as exc:
            where = f"rules.{i}: " if many else ""
            raise ConfigError(f"{where}{format_validation_error(exc)}") from None
    with open_store(args) as store:
        manager = AlertRuleManager(store)
        added = manager.add_many(items) if many else [manager.add(items[0])]
    if args.json:
        emit([redacted(r) for r in added])
    else:
        for rule in added:
            print(f"added rule {rule.id} {rule.name!r} ({rule.environment}, {rule.type})")
    return 0


def _conditions(rule: AlertRule) -> str:
    ops = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "==", "ne": "!="}
    return " and ".join(
        f"{c.effective_aggregation}({c.metric}, {c.time_window}m) {ops[c.operator]} {c.value:g}"
        for c in rule.conditions
    )


def _rules_list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        rules = AlertRuleManager(store).list(environment=args.environment, type=args.type)
    if args.json:
        emit([redacted(r) for r in rules])
        return 0
    print_table(
        ["id", "name", "env", "type", "severity", "frequency", "active", "conditions", "actions"],
        [
            [
                r.id,
                r.name,
                r.environment,
                r.type,
                r.severity,
                r.frequency,
                "yes" if r.is_active else "no",
                _conditions(r),
                ",".join(a.type for a in r.actions) or "-",
            ]
            for r in rules
        ],
    )
    return 0


def _rules_show(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        emit(redacted(AlertRuleManager(store).get(parse_uuid(args.id, "rule id"))))
    return 0


def _rules_enable(args: argparse.Namespace) -> int:
    return _set_active(args, True)


def _rules_disable(args: argparse.Namespace) -> int:
    return _set_active(args, False)


def _set_active(args: argparse.Namespace, active: bool) -> int:
    rule_id = parse_uuid(args.id, "rule id")
    with open_store(args) as store:
        manager = AlertRuleManager(store)
        rule = manager.enable(rule_id) if active else manager.disable(rule_id)
    if args.json:
        emit(redacted(rule))
    else:
        print(f"rule {rule.id} {'enabled' if active else 'disabled'}")
    return 0


def _rules_delete(args: argparse.Namespace) -> int:
    rule_id = parse_uuid(args.id, "rule id")
    with open_store(args) as store:
        AlertRuleManager(store).delete(rule_id)
    if args.json:
        emit({"deleted": rule_id})
    else:
        print(f"rule {rule_id} deleted")
    return 0


# -- evaluation -------------------------------------------------------------------------------


def _outcome_json(o: EvaluationOutcome) -> dict[str, Any]:
    return {
        "rule_id": o.rule_id,
        "rule": o.rule_name,
        "environment": o.environment,
        "result": o.kind,
        "reason": o.reason,
        "breached": o.breached,
        "event_id": o.event_id,
        "metrics": o.metrics,
        "deliveries": [d.as_json() for d in o.deliveries],
    }


def _print_outcomes(outcomes: Sequence[EvaluationOutcome]) -> None:
    print_table(
        ["rule", "env", "result", "event", "reason", "deliveries"],
        [
            [
                o.rule_name or o.rule_id,
                o.environment,
                o.kind,
                o.event_id or "",
                o.reason,
                ", ".join(f"{d.type}:{'ok' if d.ok else 'FAILED'}" for d in o.deliveries),
            ]
            for o in outcomes
        ],
    )


def _check(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        outcomes = AlertEngine(store).evaluate_due(environment=args.environment)
    if args.json:
        emit([_outcome_json(o) for o in outcomes])
    else:
        _print_outcomes(outcomes)
    return 1 if any(o.kind == "error" for o in outcomes) else 0


def _run(args: argparse.Namespace) -> int:
    if args.interval <= 0:
        raise ConfigError("--interval: must be > 0 seconds")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    passes = 0
    try:
        with open_store(args) as store:
            engine = AlertEngine(store)
            print(
                f"alerts: evaluating due rules every {args.interval:g}s "
                f"({args.environment or 'all environments'}); SIGTERM or Ctrl-C stops",
                flush=True,
            )
            while not stop.is_set():
                stamp = datetime.now(UTC).isoformat(timespec="seconds")
                passes += 1
                try:
                    outcomes = engine.evaluate_due(environment=args.environment)
                except DatabaseUnavailable as exc:  # keep running: the next pass may succeed
                    print(f"{stamp} pass failed: {exc}", file=sys.stderr, flush=True)
                    outcomes = []
                for o in outcomes:
                    if o.kind not in ("none", "skipped"):
                        print(f"{stamp} {o.rule_name or o.rule_id}: {o.kind} ({o.reason})",
                              flush=True)  # fmt: skip
                if args.max_passes is not None and passes >= args.max_passes:
                    break
                stop.wait(args.interval)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    print(f"alerts: stopped after {passes} pass(es)", flush=True)
    return 0


# -- events -----------------------------------------------------------------------------------


def _event_json(e: AlertEvent) -> dict[str, Any]:
    return e.model_dump(mode="json")


def _events(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise ConfigError("--limit: must be >= 1")
    with open_store(args) as store:
        where: dict[str, Any] = {}
        if args.status:
            where["status"] = args.status
        if args.environment:
            where["environment"] = args.environment
        events = store.alert_events.select(
            where, order_by=(("triggered_at", "DESC"),), limit=args.limit
        )
    if args.json:
        emit([_event_json(e) for e in events])
        return 0
    print_table(
        ["id", "rule", "env", "severity", "status", "triggered", "resolved", "reminders"],
        [
            [
                e.id,
                e.rule_name,
                e.environment,
                e.severity,
                e.status,
                e.triggered_at.isoformat(timespec="seconds"),
                e.resolved_at.isoformat(timespec="seconds") if e.resolved_at else "",
                e.reminder_count,
            ]
            for e in events
        ],
    )
    return 0


def _ack(args: argparse.Namespace) -> int:
    event_id = parse_uuid(args.id, "event id")
    with open_store(args) as store:
        event = AlertEngine(store).acknowledge(event_id)
    if args.json:
        emit(_event_json(event))
    else:
        print(f"event {event.id} acknowledged")
    return 0


def _resolve(args: argparse.Namespace) -> int:
    event_id = parse_uuid(args.id, "event id")
    with open_store(args) as store:
        event = AlertEngine(store).resolve(event_id, notify=not args.no_notify)
    if args.json:
        emit(_event_json(event))
    else:
        print(f"event {event.id} resolved")
    return 0
