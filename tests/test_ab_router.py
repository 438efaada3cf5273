"""End to end: LLMRouter + ABAssigner + real PostgreSQL + FakeProvider."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from llmops.ab import ABTestManager, analyze, assign_variant
from llmops.errors import NotFound, ProviderUnavailable
from llmops.models import ABTest, FallbackConfig
from llmops.providers.fake import FakeProvider, FakeReply
from llmops.router import LLMRouter
from llmops.store import PostgresStore

PROMPT = "Summarise: the quarterly numbers of ACME-SECRET-7731 were excellent."
ANSWER = "ACME-OUTPUT-9924 did well this quarter."


def _test_definition(name: str = "flash-vs-mini", **over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": name,
        "environment": "production",
        "variants": [
            {
                "id": "alpha",
                "name": "alpha",
                "config": {"provider": "alpha", "model": "alpha-1", "temperature": 0.2},
                "weight": 50,
            },
            {
                "id": "beta",
                "name": "beta",
                "config": {"provider": "beta", "model": "beta-1", "max_tokens": 300},
                "weight": 50,
            },
        ],
        "start_date": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        "metrics": {
            "primaryMetric": "cost",
            "trackMetrics": ["cost", "quality"],
            "sampleSize": 10,
            "confidenceLevel": 95,
        },
    }
    d.update(over)
    return d


class World:
    def __init__(self, store: PostgresStore, beta: FakeProvider | None = None) -> None:
        self.store = store
        self.default = FakeProvider(default=FakeReply(ANSWER, input_tokens=30, output_tokens=9))
        self.alpha = FakeProvider(default=FakeReply(ANSWER, input_tokens=30, output_tokens=9))
        self.beta = beta or FakeProvider(
            default=FakeReply(ANSWER, input_tokens=30, output_tokens=9)
        )
        store.fallback_configs.create(
            FallbackConfig(
                environment="production",
                primary_provider="default",
                primary_model="default-1",
                max_retries=1,
                retry_delay=0,
            )
        )
        self.router = LLMRouter.from_store(
            store,
            "production",
            {"default": self.default, "alpha": self.alpha, "beta": self.beta},
            sleep=lambda _s: None,
            prices={m: ("1.00", "4.00") for m in ("default-1", "alpha-1", "beta-1")},
        )

    def results(self) -> list[dict[str, Any]]:
        assert self.router.writer is not None
        assert self.router.writer.flush(30)
        with self.store.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT row_to_json(r)::text FROM ab_test_results r ORDER BY created_at")
            return [json.loads(row[0]) for row in cur.fetchall()]


@pytest.fixture
def world(store: PostgresStore) -> Iterator[World]:
    w = World(store)
    yield w
    w.router.close()


def _session_for(test: ABTest, variant: str) -> str:
    return next(
        s
        for s in (f"session-{i}" for i in range(1000))
        if (v := assign_variant(test, s)) is not None and v.id == variant
    )


def test_sticky_variant_serves_with_its_config(world: World) -> None:
    """Every call of one session goes to its variant's provider/model with the variant's
    params; each call writes one row with that variant and returns its id."""
    test = ABTestManager(world.store).create(_test_definition())
    session = _session_for(test, "beta")
    ids = []
    for _ in range(5):
        c = world.router.complete(
            [{"role": "user", "content": PROMPT}], session_id=session, ab_test="flash-vs-mini"
        )
        assert (c.provider, c.model) == ("beta", "beta-1")
        assert c.ab_result_id is not None
        ids.append(str(c.ab_result_id))
    assert world.alpha.calls == 0 and world.default.calls == 0 and world.beta.calls == 5
    assert world.beta.requests[0].params.get("max_tokens") == 300
    rows = world.results()
    assert [r["id"] for r in rows] == ids
    assert {(r["variant_id"], r["provider"], r["model"], r["success"]) for r in rows} == {
        ("beta", "beta", "beta-1", True)
    }
    # by id works too, and another session may land elsewhere but is sticky as well
    other = _session_for(test, "alpha")
    c = world.router.complete(
        [{"role": "user", "content": PROMPT}], session_id=other, ab_test=str(test.id)
    )
    assert c.provider == "alpha" and world.alpha.requests[0].params.get("temperature") == 0.2


def test_fallback_serving_still_records_the_assigned_variant(store: PostgresStore) -> None:
    """When the variant's provider fails and the default config serves, the row keeps the
    assigned variant (intention to treat) and records who served."""
    w = World(store, beta=FakeProvider(default=ProviderUnavailable("down", status_code=503)))
    try:
        test = ABTestManager(store).create(_test_definition())
        session = _session_for(test, "beta")
        c = w.router.complete(
            [{"role": "user", "content": PROMPT}], session_id=session, ab_test="flash-vs-mini"
        )
        assert c.provider == "default" and c.fallback_used
        (row,) = w.results()
        assert row["variant_id"] == "beta"
        assert (row["provider"], row["model"], row["success"]) == ("default", "default-1", True)
    finally:
        w.router.close()


def test_unknown_test_is_a_clear_error(world: World) -> None:
    """An ab_test that does not exist raises NotFound naming it; nothing is written."""
    with pytest.raises(NotFound, match="no-such-test"):
        world.router.complete(
            [{"role": "user", "content": PROMPT}], session_id="s", ab_test="no-such-test"
        )
    assert world.default.calls == 0
    assert world.results() == []


@pytest.mark.parametrize(
    "change",
    [
        {"is_active": False},
        {"start_date": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
        {
            "start_date": (datetime.now(UTC) - timedelta(days=3)).isoformat(),
            "end_date": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        },
    ],
    ids=["inactive", "not-started", "ended"],
)
def test_inactive_or_out_of_dates_serves_default_and_records_nothing(
    world: World, change: dict[str, Any]
) -> None:
    """An inactive or out-of-dates test: the default config serves and no row is written."""
    ABTestManager(world.store).create(_test_definition(**change))
    c = world.router.complete(
        [{"role": "user", "content": PROMPT}], session_id="s-1", ab_test="flash-vs-mini"
    )
    assert (c.provider, c.model) == ("default", "default-1")
    assert c.ab_result_id is None
    assert world.results() == []


def test_no_prompt_or_output_text_in_the_table(world: World) -> None:
    """Rows hold SHA-256 hashes and lengths only: neither prompt, output nor title text."""
    ABTestManager(world.store).create(_test_definition())
    title = "Board memo ACME-TITLE-5512"
    messages = [{"role": "user", "content": PROMPT}]
    c = world.router.complete(
        messages, session_id="s-9", ab_test="flash-vs-mini", title=title, user_segment="pro"
    )
    (row,) = world.results()
    flat = json.dumps(row)
    for secret in ("ACME-SECRET-7731", "ACME-OUTPUT-9924", "ACME-TITLE-5512", "Summarise"):
        assert secret not in flat
    expected = hashlib.sha256(
        json.dumps([["user", PROMPT]], ensure_ascii=False).encode("utf-8")
    ).hexdigest()
    assert row["content_hash"] == expected
    assert row["title_hash"] == hashlib.sha256(title.encode("utf-8")).hexdigest()
    assert row["summary_length"] == len(ANSWER) == len(c.text)
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (30, 9, 39)
    assert (row["session_id"], row["user_segment"]) == ("s-9", "pro")
    assert row["estimated_cost"] == pytest.approx((30 * 1.00 + 9 * 4.00) / 1e6)


def test_quality_of_a_routed_result_reaches_the_report(world: World) -> None:
    """record_quality(Completion.ab_result_id, ...) right after the call (maybe before the
    writer flushed) is counted in the analysis."""
    manager = ABTestManager(world.store)
    test = manager.create(_test_definition())
    assert test.id is not None
    c = world.router.complete(
        [{"role": "user", "content": PROMPT}], session_id="s-3", ab_test="flash-vs-mini"
    )
    assert c.ab_result_id is not None
    manager.record_quality(c.ab_result_id, 0.75)
    (row,) = world.results()
    report = analyze(world.store, test.id)
    served = next(v for v in report.variants if v.variant_id == row["variant_id"])
    assert served.quality_n == 1 and served.mean_quality == pytest.approx(0.75)
