"""PostgresStore and its repositories against a real PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid
from decimal import Decimal

import psycopg
import pytest

from llmops.errors import ConfigError, DatabaseUnavailable, NotFound
from llmops.models import (
    FallbackAttempt,
    FallbackConfig,
    FallbackLog,
    FallbackTarget,
    LLMSettings,
    UsageLog,
)
from llmops.store import PostgresStore, describe_dsn, resolve_dsn


def _config(
    env: str = "production", model: str = "gpt-4o-mini", active: bool = True
) -> FallbackConfig:
    return FallbackConfig(
        environment=env,  # type: ignore[arg-type]
        primary_provider="openai",
        primary_model=model,
        fallback_providers=[
            FallbackTarget(
                provider="google",
                model="gemini-1.5-flash",
                priority=1,
                config={"temperature": 0.7, "max_tokens": 1000},  # type: ignore[arg-type]
            )
        ],
        is_active=active,
    )


def test_fallback_config_round_trips_with_seed_json_shape(store: PostgresStore) -> None:
    """A config is stored with the seed's fallback_providers JSON shape and read back equal."""
    stored = store.fallback_configs.create(_config())
    assert stored.id is not None and stored.created_at is not None
    assert store.fallback_configs.get(stored.id) == stored
    with store.connection() as conn:
        row = conn.execute(
            "SELECT fallback_providers FROM llm_fallback_configs WHERE id = %s", (stored.id,)
        ).fetchone()
    assert row is not None
    assert row[0] == [
        {
            "provider": "google",
            "model": "gemini-1.5-flash",
            "priority": 1,
            "config": {"temperature": 0.7, "max_tokens": 1000},
        }
    ]


def test_creating_an_active_config_replaces_the_active_one(store: PostgresStore) -> None:
    """Exactly one active config per environment after create and activate."""
    first = store.fallback_configs.create(_config(model="a"))
    second = store.fallback_configs.create(_config(model="b"))
    other_env = store.fallback_configs.create(_config(env="staging", model="c"))
    active = store.fallback_configs.get_active("production")
    assert active is not None and active.id == second.id
    assert not store.fallback_configs.get(first.id).is_active  # type: ignore[arg-type]
    store.fallback_configs.activate(first.id)  # type: ignore[arg-type]
    assert store.fallback_configs.get_active("production").id == first.id  # type: ignore[union-attr]
    assert store.fallback_configs.get_active("staging").id == other_env.id  # type: ignore[union-attr]


def test_concurrent_activations_leave_exactly_one_active(store: PostgresStore) -> None:
    """16 threads activating different configs at once: no error, one active row at the end."""
    ids = [store.fallback_configs.create(_config(model=f"m{i}", active=False)).id for i in range(8)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(16)

    def worker(i: int) -> None:
        barrier.wait()
        try:
            store.fallback_configs.activate(ids[i % len(ids)])  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with store.connection() as conn:
        row = conn.execute(
            "SELECT count(*) FROM llm_fallback_configs WHERE environment = 'production' AND is_active"
        ).fetchone()
    assert row == (1,)


def test_partial_unique_index_refuses_a_second_active_row(store: PostgresStore) -> None:
    """The seed's partial unique index holds even for writes that bypass the repository."""
    store.fallback_configs.create(_config())
    row = store.fallback_configs.to_row(_config(model="other"))
    with store.connection() as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(
            "INSERT INTO llm_fallback_configs (environment, primary_provider, primary_model, is_active)"
            " VALUES (%s, %s, %s, true)",
            (row["environment"], row["primary_provider"], row["primary_model"]),
        )


def test_the_active_config_cannot_be_deleted(store: PostgresStore) -> None:
    """delete_inactive refuses the active config and deletes an inactive one."""
    inactive = store.fallback_configs.create(_config(model="old", active=False))
    active = store.fallback_configs.create(_config(model="new"))
    with pytest.raises(ConfigError, match="active config"):
        store.fallback_configs.delete_inactive(active.id)  # type: ignore[arg-type]
    assert store.fallback_configs.delete_inactive(inactive.id)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        store.fallback_configs.get(inactive.id)  # type: ignore[arg-type]


def test_update_touches_updated_at_and_validates(store: PostgresStore) -> None:
    """update() validates through the model before SQL and the trigger refreshes updated_at."""
    stored = store.fallback_configs.create(_config())
    time.sleep(0.01)
    updated = store.fallback_configs.update(stored.id, {"max_retries": 5})  # type: ignore[arg-type]
    assert updated.max_retries == 5
    assert updated.updated_at > stored.updated_at  # type: ignore[operator]
    with pytest.raises(ValueError, match="max_retries"):
        store.fallback_configs.update(stored.id, {"max_retries": 11})  # type: ignore[arg-type]
    assert store.fallback_configs.get(stored.id).max_retries == 5  # type: ignore[arg-type]


def test_copy_many_writes_log_rows_with_jsonb(store: PostgresStore) -> None:
    """copy_many writes a batch in one COPY; attempts keep their camelCase JSON keys."""
    logs = [
        FallbackLog(
            primary_provider="openai",
            primary_model="gpt-4o-mini",
            used_provider="google",
            used_model="gemini-1.5-flash",
            attempted_providers=[
                FallbackAttempt(
                    provider="openai",
                    model="gpt-4o-mini",
                    outcome="error",
                    error_kind="rate_limited",
                    status_code=429,
                    retry_after=2.0,
                ),
                FallbackAttempt(provider="google", model="gemini-1.5-flash", outcome="success"),
            ],
            success=True,
            environment="production",
            processing_time_ms=120,
        )
        for _ in range(250)
    ]
    assert store.fallback_logs.copy_many(logs) == 250
    assert store.fallback_logs.count() == 250
    with store.connection() as conn:
        row = conn.execute("SELECT attempted_providers FROM llm_fallback_logs LIMIT 1").fetchone()
    assert row is not None
    assert row[0][0]["errorKind"] == "rate_limited" and row[0][0]["retryAfter"] == 2.0
    assert store.fallback_logs.select(limit=1)[0].attempted_providers == logs[0].attempted_providers


def test_usage_log_cost_keeps_six_decimals(store: PostgresStore) -> None:
    """estimated_cost round-trips as a Decimal with the column's scale."""
    store.usage_logs.copy_many(
        [
            UsageLog(
                environment="local",
                provider="openai",
                model="m",
                success=True,
                estimated_cost=Decimal("0.0001235"),
            )
        ]
    )
    (row,) = store.usage_logs.select()
    assert row.estimated_cost == Decimal("0.000124")


def test_settings_upsert_on_natural_key(store: PostgresStore) -> None:
    """Upserting the same (environment, provider, model) updates in place, keeping the id."""
    first = store.settings.upsert(
        LLMSettings(
            environment="local", provider="openai", model="gpt-4o-mini", api_key_ref="env:K"
        )
    )
    second = store.settings.upsert(
        LLMSettings(environment="local", provider="openai", model="gpt-4o-mini", timeout_ms=5000)
    )
    assert second.id == first.id and second.timeout_ms == 5000 and second.api_key_ref is None
    assert store.settings.count() == 1


def test_select_filters_and_rejects_unknown_columns(store: PostgresStore) -> None:
    """select() filters by equality (None is IS NULL) and refuses unknown column names."""
    store.fallback_configs.create(_config(env="staging"))
    store.fallback_configs.create(_config(env="production"))
    assert len(store.fallback_configs.select({"environment": "staging"})) == 1
    with pytest.raises(ValueError, match="no column"):
        store.fallback_configs.select({"environment; DROP TABLE x": 1})


def test_get_unknown_or_malformed_id_is_not_found(store: PostgresStore) -> None:
    """get() of a missing id raises NotFound; find() of a malformed id returns None."""
    with pytest.raises(NotFound):
        store.fallback_configs.get(uuid.uuid4())
    assert store.fallback_configs.find("not-a-uuid") is None


def test_unreachable_database_is_one_clear_error() -> None:
    """connect() to a closed port fails fast with DatabaseUnavailable and no password."""
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as info:
        PostgresStore.connect("postgresql://u:hunter2@127.0.0.1:1/db", timeout=2)
    assert time.monotonic() - started < 5
    assert "127.0.0.1:1/db" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_dsn_helpers_never_show_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """describe_dsn drops credentials; resolve_dsn needs a URL and explains where to set it."""
    assert describe_dsn("postgresql://app:s3cret@db.example:6543/prod") == "db.example:6543/prod"
    monkeypatch.delenv("LLMOPS_DATABASE_URL", raising=False)
    with pytest.raises(ConfigError, match="LLMOPS_DATABASE_URL"):
        resolve_dsn(None)
    with pytest.raises(ConfigError, match="invalid database URL"):
        resolve_dsn("garbage")


def test_transaction_rolls_back_everything_on_error(store: PostgresStore) -> None:
    """store.transaction() is all-or-nothing across repositories."""
    with pytest.raises(RuntimeError), store.transaction() as conn:
        store.fallback_configs.create(_config(), conn=conn)
        store.settings.upsert(LLMSettings(environment="local", provider="o", model="m"), conn=conn)
        raise RuntimeError("boom")
    assert store.fallback_configs.count() == 0 and store.settings.count() == 0
