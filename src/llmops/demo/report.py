"""The demo's tables: what a newcomer reads after the progress bar."""

from __future__ import annotations

from typing import Any, TextIO

from llmops.cli._common import print_table, to_jsonable
from llmops.demo.runner import DemoResult

__all__ = ["print_report", "result_json"]


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def print_report(r: DemoResult, out: TextIO) -> None:
    """Every table of the demo, in the order of the story."""
    ok = sum(r.served.values())
    failed = sum(r.failed.values())
    print(
        f"\nllmops demo: {r.calls} calls over {r.simulated_minutes:.0f} simulated minutes "
        f"in {r.wall_seconds:.1f} s (seed {r.seed}, environment {r.environment})\n",
        file=out,
    )
    print("Calls by provider", file=out)
    rows: list[list[Any]] = [[p, m, n, _pct(n, r.calls)] for (p, m), n in r.served.most_common()]
    rows += [["(failed)", kind, n, _pct(n, r.calls)] for kind, n in r.failed.most_common()]
    print_table(["provider", "model", "calls", "share"], rows, stream=out)
    print(
        f"\n{ok} answered ({_pct(ok, r.calls)}), {failed} failed, "
        f"{r.fallbacks} served by a fallback\n",
        file=out,
    )
    print("Why attempts did not serve (fallbacks and retries)", file=out)
    print_table(
        ["provider", "reason", "attempts"],
        [[p, why, n] for (p, why), n in r.fallback_reasons.most_common()],
        stream=out,
    )
    print("\nCircuit breaker transitions (simulated minute)", file=out)
    print_table(["minute", "target", "transition"], _breaker_rows(r), stream=out)
    print("\nConfiguration", file=out)
    print_table(["minute", "event"], [[f"{t:5.1f}", e] for t, e in r.config_events], stream=out)
    _print_ab(r, out)
    print("\nAlerts (simulated minute)", file=out)
    print_table(
        ["rule", "severity", "triggered", "resolved", "status"],
        [
            [e.rule_name, e.severity, r.minute(e.triggered_at), r.minute(e.resolved_at), e.status]
            for e in r.alert_events
        ],
        stream=out,
    )
    firing = r.webhook_statuses.count("firing")
    resolved = r.webhook_statuses.count("resolved")
    print(f"webhook receiver got {firing} firing and {resolved} resolved notification(s)", file=out)
    print("\nBackup", file=out)
    print_table(
        ["version", "sha-256", "verified", "restore"],
        [
            [
                r.backup_version,
                r.backup_hash[:16] + "...",
                "yes" if r.backup_verified else "NO",
                r.restore_status,
            ]
        ],
        stream=out,
    )


def _breaker_rows(r: DemoResult) -> list[list[str]]:
    """One row per transition, except that failed probes (open -> half_open -> open) of one
    target are folded into a single row with their count."""
    rows: list[list[str]] = []
    i, transitions = 0, r.transitions
    while i < len(transitions):
        t, p, m, a, b = transitions[i]
        j = i
        while (
            j + 1 < len(transitions)
            and transitions[j][1:] == (p, m, "open", "half_open")
            and transitions[j + 1][1:] == (p, m, "half_open", "open")
        ):
            j += 2
        if j > i:
            probes = (j - i) // 2
            rows.append(
                [
                    f"{t:5.1f}-{transitions[j - 1][0]:.1f}",
                    f"{p}/{m}",
                    f"{probes} probe(s) failed, re-opened",
                ]
            )
            i = j
            continue
        rows.append([f"{t:5.1f}", f"{p}/{m}", f"{a} -> {b}"])
        i += 1
    return rows


def _print_ab(r: DemoResult, out: TextIO) -> None:
    report = r.ab_report
    if report is None:
        return
    print(f"\nA/B test: {report.test_name}", file=out)
    print_table(
        ["variant", "model", "n", "success", "mean cost $", "p50 ms", "quality"],
        [
            [
                v.variant_id,
                v.model,
                v.n,
                _num(v.success_rate, ".3f"),
                _num(v.mean_cost, ".6f"),
                _num(v.p50_latency_ms, ".0f"),
                _num(v.mean_quality, ".3f"),
            ]
            for v in report.variants
        ],
        stream=out,
    )
    print("", file=out)
    print_table(
        ["variant", "metric", "relative effect", "p-value", "adjusted p", "significant"],
        [
            [
                c.variant_id,
                c.metric,
                _num(None if c.relative_effect is None else 100 * c.relative_effect, "+.1f") + "%",
                _num(c.p_value, ".2g"),
                _num(c.p_value_adjusted, ".2g"),
                "yes" if c.significant else "no",
            ]
            for c in report.comparisons
        ],
        stream=out,
    )
    rec = report.recommendation
    print(f"recommendation ({rec.metric}): {rec.status}: {rec.reason}", file=out)


def result_json(r: DemoResult) -> dict[str, Any]:
    """The result as JSON-ready values."""
    return {
        "environment": r.environment,
        "calls": r.calls,
        "seed": r.seed,
        "served": [{"provider": p, "model": m, "calls": n} for (p, m), n in r.served.items()],
        "failed": dict(r.failed),
        "fallbacks": r.fallbacks,
        "fallback_reasons": [
            {"provider": p, "reason": why, "attempts": n}
            for (p, why), n in r.fallback_reasons.items()
        ],
        "breaker_transitions": [
            {"minute": t, "provider": p, "model": m, "from": a, "to": b}
            for t, p, m, a, b in r.transitions
        ],
        "config_events": [{"minute": t, "event": e} for t, e in r.config_events],
        "ab_report": to_jsonable(r.ab_report),
        "alert_events": to_jsonable(r.alert_events),
        "webhook_statuses": r.webhook_statuses,
        "backup": {
            "version": r.backup_version,
            "hash": r.backup_hash,
            "verified": r.backup_verified,
            "restore_status": r.restore_status,
            "restore_report": r.restore_report,
        },
        "wall_seconds": r.wall_seconds,
    }
