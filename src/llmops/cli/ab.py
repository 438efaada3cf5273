"""``llmops ab create | list | show | stop | coverage | quality | report``."""

from __future__ import annotations

import argparse
from typing import Any

from llmops.ab import ABReport, ABTestManager
from llmops.cli._common import (
    add_output_options,
    emit,
    load_document,
    open_store,
    print_table,
)
from llmops.errors import ConfigError
from llmops.models import ABTest

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("ab", help="A/B tests of model configurations")
    ab = p.add_subparsers(dest="ab_command", metavar="ACTION")
    ab.required = True

    c = ab.add_parser("create", help="create a test from a JSON or YAML definition")
    c.add_argument("--file", "-f", required=True, help="definition file ('-' for stdin)")
    add_output_options(c)
    c.set_defaults(func=_create)

    ls = ab.add_parser("list", help="list tests, newest first")
    ls.add_argument("--environment", "-e", help="only this environment")
    ls.add_argument("--active", action="store_true", help="only active tests")
    add_output_options(ls)
    ls.set_defaults(func=_list)

    for name, helptext, func in (
        ("show", "a test's definition and result counts", _show),
        ("stop", "deactivate a test (the router then serves the default config)", _stop),
        ("report", "statistical report: effects, CIs, Holm-adjusted p-values, SRM", _report),
    ):
        q = ab.add_parser(name, help=helptext)
        q.add_argument("test", help="test name or id")
        q.add_argument("--environment", "-e", help="environment of a test named in several")
        add_output_options(q)
        q.set_defaults(func=func)

    cov = ab.add_parser("coverage", help="change the share of units enrolled (0..1)")
    cov.add_argument("test", help="test name or id")
    cov.add_argument("coverage", type=_float("coverage"), help="new coverage, 0..1")
    cov.add_argument("--environment", "-e")
    add_output_options(cov)
    cov.set_defaults(func=_coverage)

    qa = ab.add_parser("quality", help="attach a quality score in [0, 1] to a result")
    qa.add_argument("result_id", help="the ab_test_results id (Completion.ab_result_id)")
    qa.add_argument("score", type=_float("score"), help="score between 0 and 1")
    add_output_options(qa)
    qa.set_defaults(func=_quality)


def _float(what: str) -> Any:
    def parse(text: str) -> float:
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what}: {text!r} is not a number") from None

    return parse


def _summary_row(t: ABTest) -> list[Any]:
    split = "/".join(f"{v.weight:g}" for v in t.variants)
    return [
        t.name,
        t.environment,
        "active" if t.is_active else "stopped",
        split,
        f"{t.traffic_split.coverage:g}",
        t.start_date.isoformat(timespec="minutes"),
        t.end_date.isoformat(timespec="minutes") if t.end_date else "",
        t.id,
    ]


def _create(args: argparse.Namespace) -> int:
    document = load_document(args.file)
    if not isinstance(document, dict):
        raise ConfigError(f"{args.file}: the definition must be a JSON/YAML object")
    with open_store(args) as store:
        test = ABTestManager(store).create(document)
    if args.json:
        emit(test)
    else:
        print(f"created A/B test {test.name!r} ({test.id}) in {test.environment}")
    return 0


def _list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        tests = ABTestManager(store).list(args.environment, active_only=args.active)
    if args.json:
        emit(tests)
    else:
        print_table(
            ["name", "environment", "state", "weights", "coverage", "start", "end", "id"],
            [_summary_row(t) for t in tests],
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        manager = ABTestManager(store)
        test = manager.get(args.test, args.environment)
        with store.connection() as conn:
            counts = dict(
                conn.execute(
                    "SELECT variant_id, count(*) FROM ab_test_results WHERE test_id = %s "
                    "GROUP BY variant_id",
                    (test.id,),
                ).fetchall()
            )
    if args.json:
        emit({"test": test, "results": {v.id: counts.get(v.id, 0) for v in test.variants}})
        return 0
    print(f"{test.name}  ({test.id})")
    if test.description:
        print(f"  {test.description}")
    print(f"  environment {test.environment}, {'active' if test.is_active else 'stopped'}")
    print(f"  from {test.start_date.isoformat()} to {test.end_date or 'open end'}")
    s = test.traffic_split
    print(
        f"  unit key {s.unit_key}, coverage {s.coverage:g}, hash v{s.hash_version}, "
        f"seed {s.hash_seed or '(test id)'}"
    )
    m = test.metrics
    print(
        f"  primary metric {m.primary_metric}; tracked {', '.join(m.track_metrics)}; "
        f"sample size {m.sample_size} per variant; confidence {m.confidence_level:g}%"
    )
    print_table(
        ["variant", "name", "provider", "model", "weight", "results"],
        [
            [v.id, v.name, v.config.provider, v.config.model, f"{v.weight:g}", counts.get(v.id, 0)]
            for v in test.variants
        ],
    )
    return 0


def _stop(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        test = ABTestManager(store).stop(args.test, args.environment)
    if args.json:
        emit(test)
    else:
        print(f"stopped A/B test {test.name!r} ({test.id})")
    return 0


def _coverage(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        test = ABTestManager(store).set_coverage(args.test, args.coverage, args.environment)
    if args.json:
        emit(test)
    else:
        print(f"A/B test {test.name!r}: coverage {test.traffic_split.coverage:g}")
    return 0


def _quality(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        stored = ABTestManager(store).record_quality(args.result_id, args.score)
    if args.json:
        emit({"result_id": args.result_id, "score": args.score, "result_stored": stored})
    else:
        note = (
            "" if stored else " (the result row is not stored yet; the score will count once it is)"
        )
        print(f"recorded quality {args.score:g} for {args.result_id}{note}")
    return 0


def _fmt(value: float | None, spec: str = ".4g") -> str:
    return "" if value is None else format(value, spec)


def _report(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        report = ABTestManager(store).report(args.test, args.environment)
    if args.json:
        emit(report.model_dump(mode="json"))
        return 0
    _print_report(report)
    return 0


def _print_report(r: ABReport) -> None:
    print(f"A/B test {r.test_name} ({r.test_id})")
    print(
        f"primary metric {r.primary_metric}, confidence {r.confidence_level:g}%, "
        f"progress {r.progress.min_variant_n}/{r.progress.sample_size} "
        f"({r.progress.fraction:.0%}) in the smallest variant"
    )
    print()
    print_table(
        [
            "variant",
            "n",
            "success",
            "mean cost",
            "mean ms",
            "p50 ms",
            "p95 ms",
            "tokens",
            "quality",
        ],
        [
            [
                v.variant_id,
                v.n,
                _fmt(v.success_rate, ".2%"),
                _fmt(v.mean_cost, ".6f"),
                _fmt(v.mean_latency_ms, ".0f"),
                _fmt(v.p50_latency_ms, ".0f"),
                _fmt(v.p95_latency_ms, ".0f"),
                _fmt(v.mean_tokens, ".0f"),
                _fmt(v.mean_quality, ".3f") + (f" (n={v.quality_n})" if v.quality_n else ""),
            ]
            for v in r.variants
        ],
    )
    print()
    print_table(
        ["variant", "metric", "effect", "relative", "CI", "p", "p (Holm)", "significant"],
        [
            [
                c.variant_id,
                c.metric,
                _fmt(c.effect),
                _fmt(c.relative_effect, "+.1%"),
                f"[{_fmt(c.ci[0])}, {_fmt(c.ci[1])}]" if c.ci else "",
                _fmt(c.p_value, ".3g"),
                _fmt(c.p_value_adjusted, ".3g"),
                ("yes" if c.significant else "no"),
            ]
            for c in r.comparisons
        ],
    )
    print()
    srm = "MISMATCH" if r.srm.mismatch else "ok"
    print(f"sample ratio: {srm} (chi-square p={_fmt(r.srm.p_value, '.3g') or 'n/a'})")
    print(f"recommendation: {r.recommendation.status}: {r.recommendation.reason}")
