"""BackupManager: create (sections, hash, size, version, status), secrets, verify, export/import."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from llmops.backup import BackupManager, canonical_json, digest
from llmops.errors import ConfigError, IntegrityError, NotFound
from llmops.models import (
    ABTest,
    AlertRule,
    FallbackConfig,
    LLMSettings,
    UsageLog,
)
from llmops.secrets import REDACTED
from llmops.store import PostgresStore

ENV = "staging"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
CLEAR_URL = "https://hooks.example.invalid/services/T000/B000/XXXXSECRET"
CLEAR_PASSWORD = "hunter2-smtp-password"
CLEAR_TOKEN = "Bearer sk-live-token-123"


def seed_configuration(store: PostgresStore, env: str = ENV) -> dict[str, Any]:
    """Every section of ``env`` filled, plus rows of another environment that must not move."""
    s1 = store.settings.upsert(
        LLMSettings(
            environment=env,
            provider="openai",
            model="gpt-4o-mini",
            parameters={"temperature": 0.7, "max_tokens": 1000},
            api_key_ref="env:OPENAI_API_KEY",
        )
    )
    s2 = store.settings.upsert(
        LLMSettings(
            environment=env,
            provider="google",
            model="gemini-1.5-flash",
            parameters={"top_p": 0.9},
            base_url="http://127.0.0.1:9/v1",
            timeout_ms=5000,
            is_active=False,
        )
    )
    old = store.fallback_configs.create(
        FallbackConfig(environment=env, primary_provider="google", primary_model="gemini-1.5-flash")
    )
    active = store.fallback_configs.create(
        FallbackConfig(
            environment=env,
            primary_provider="openai",
            primary_model="gpt-4o-mini",
            fallback_providers=[
                {
                    "provider": "google",
                    "model": "gemini-1.5-flash",
                    "priority": 1,
                    "config": {"temperature": 1e-7, "max_tokens": 1000},
                }
            ],
            max_retries=2,
            retry_delay=250,
        )
    )
    test = store.ab_tests.insert(
        ABTest(
            name="flash vs mini",
            description="cost",
            environment=env,
            variants=[
                {
                    "id": "a",
                    "name": "A",
                    "config": {"provider": "openai", "model": "m"},
                    "weight": 50,
                },
                {
                    "id": "b",
                    "name": "B",
                    "config": {"provider": "google", "model": "g"},
                    "weight": 50,
                },
            ],
            traffic_split={"coverage": 0.5},
            start_date=T0,
            end_date=T0 + timedelta(days=30),
            metrics={
                "primaryMetric": "cost",
                "trackMetrics": ["cost", "speed"],
                "sampleSize": 1000,
                "confidenceLevel": 95,
            },
        )
    )
    rule = store.alert_rules.insert(
        AlertRule(
            name="errors",
            environment=env,
            type="error_rate",
            conditions=[
                {"metric": "error_rate", "operator": "gt", "value": 1e20, "timeWindow": 60}
            ],
            actions=[
                {
                    "type": "slack",
                    "config": {"webhookUrl": "env:SLACK_WEBHOOK_URL", "channel": "#a"},
                },
                {
                    "type": "email",
                    "config": {
                        "to": ["ops@example.invalid"],
                        "from": "llmops@example.invalid",
                        "smtpHost": "127.0.0.1",
                        "username": "u",
                        "password": "env:SMTP_PASSWORD",
                    },
                },
            ],
            frequency="hourly",
        )
    )
    store.usage_logs.copy_many(
        [
            UsageLog(
                environment=env,
                provider="openai",
                model="gpt-4o-mini",
                input_tokens=10,
                output_tokens=5,
                estimated_cost=Decimal("0.000123"),
                success=True,
            ),
            UsageLog(
                environment=env,
                provider="openai",
                model="gpt-4o-mini",
                input_tokens=7,
                output_tokens=1,
                estimated_cost=Decimal("0.000100"),
                success=False,
            ),
            UsageLog(environment="production", provider="openai", model="x", success=True),
        ]
    )
    other = store.fallback_configs.create(
        FallbackConfig(environment="production", primary_provider="openai", primary_model="x")
    )
    return {
        "settings": [s1, s2],
        "configs": [old, active],
        "test": test,
        "rule": rule,
        "other": other,
    }


def insert_clear_secret_rule(store: PostgresStore, env: str = ENV) -> str:
    """A rule written by plain SQL with secrets in clear (the models refuse them)."""
    actions = [
        {
            "type": "webhook",
            "config": {"url": CLEAR_URL, "headers": {"Authorization": CLEAR_TOKEN}},
        },
        {
            "type": "email",
            "config": {
                "to": ["a@b.invalid"],
                "from": "c@d.invalid",
                "smtpHost": "h",
                "username": "u",
                "password": CLEAR_PASSWORD,
            },
        },
    ]
    with store.connection() as conn:
        row = conn.execute(
            "INSERT INTO alert_rules (name, environment, type, conditions, actions) VALUES "
            "('legacy', %s, 'error_rate', "
            '\'[{"metric": "error_rate", "operator": "gt", "value": 5, "timeWindow": 5}]\','
            " %s) RETURNING id",
            (env, json.dumps(actions)),
        ).fetchone()
    assert row is not None
    return str(row[0])


def stored_row(store: PostgresStore, backup_id: Any) -> tuple[Any, str, int, str]:
    with store.connection() as conn:
        row = conn.execute(
            "SELECT backup_data, hash, data_size, backup_data::text FROM llm_backups WHERE id = %s",
            (backup_id,),
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2], row[3]


def test_create_writes_every_section_of_one_environment(store: PostgresStore) -> None:
    """The backup holds the environment's rows of each section, and nothing of another one."""
    seeded = seed_configuration(store)
    backup = BackupManager(store).create(ENV, "alice", "before the push")
    data = backup.backup_data
    assert backup.status == "completed" and backup.creator == "alice"
    assert backup.description == "before the push" and backup.environment == ENV
    assert sorted(s.id for s in data.llm_settings) == sorted(s.id for s in seeded["settings"])
    assert sorted(c.id for c in data.fallback_configs) == sorted(c.id for c in seeded["configs"])
    assert [t.id for t in data.ab_tests] == [seeded["test"].id]
    assert [r.id for r in data.alert_rules] == [seeded["rule"].id]
    assert data.fallback_configs == sorted(
        store.fallback_configs.select({"environment": ENV}), key=lambda c: str(c.id)
    )


def test_usage_stats_are_aggregated_per_provider_and_model(store: PostgresStore) -> None:
    """usageStats sums calls, successes, tokens and cost of the environment per provider/model."""
    seed_configuration(store)
    stats = BackupManager(store).create(ENV, "alice").backup_data.usage_stats
    assert len(stats) == 1
    s = stats[0]
    assert (s.provider, s.model, s.calls, s.successes) == ("openai", "gpt-4o-mini", 2, 1)
    assert (s.input_tokens, s.output_tokens, s.total_cost) == (17, 6, Decimal("0.000223"))
    assert s.first_call is not None and s.last_call is not None


def test_hash_and_size_recomputed_from_the_stored_row(store: PostgresStore) -> None:
    """SHA-256 of the canonical JSON of the stored JSONB equals the recorded hash; size in bytes."""
    seed_configuration(store)
    backup = BackupManager(store).create(ENV, "alice")
    data, recorded_hash, size, _ = stored_row(store, backup.id)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )
    assert hashlib.sha256(canonical).hexdigest() == recorded_hash == backup.hash
    assert len(canonical) == size == backup.data_size
    assert canonical_json(data) == canonical
    # numbers JSONB rewrites (1e20 -> integer, 1e-7 -> 0.0000001) hash the same after storage
    assert data["alertRules"][0]["conditions"][0]["value"] == 10**20


def test_non_ascii_is_hashed_as_utf8(store: PostgresStore) -> None:
    """Non-ASCII text is kept as UTF-8 in the canonical form (ensure_ascii=False)."""
    seed_configuration(store)
    backup = BackupManager(store).create(ENV, "田中さん", "設定のバックアップ")
    assert backup.creator == "田中さん"
    d = digest({"k": "é"})
    assert d.size == len('{"k":"é"}'.encode())


def test_versions_are_unique_and_sortable_under_concurrency(store: PostgresStore) -> None:
    """Eight concurrent creates with one frozen clock get eight distinct, increasing versions."""
    seed_configuration(store)
    frozen = datetime(2026, 12, 4, 20, 0, 0, 123456, tzinfo=UTC)
    manager = BackupManager(store, clock=lambda: frozen)
    versions: list[str] = []
    errors: list[BaseException] = []

    def make() -> None:
        try:
            versions.append(manager.create(ENV, "bot").version)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(set(versions)) == 8
    assert sorted(versions) == [f"{20261204200000123456 + i}" for i in range(8)]
    assert all(len(v) == 20 for v in versions)
    # another environment starts from the clock again
    assert manager.create("production", "bot").version == "20261204200000123456"


def test_env_references_are_kept_and_clear_secrets_redacted(store: PostgresStore) -> None:
    """env: references stay; URLs, tokens and passwords in clear never reach the backup."""
    seed_configuration(store)
    insert_clear_secret_rule(store)
    backup = BackupManager(store).create(ENV, "alice")
    _, _, _, text = stored_row(store, backup.id)
    for secret in (CLEAR_URL, CLEAR_PASSWORD, CLEAR_TOKEN, "XXXXSECRET", "sk-live"):
        assert secret not in text
    assert "env:SLACK_WEBHOOK_URL" in text and "env:SMTP_PASSWORD" in text
    legacy = next(r for r in backup.backup_data.alert_rules if r.name == "legacy")
    dumped = [a.model_dump(by_alias=True) for a in legacy.actions]
    assert dumped[0]["config"]["url"] == REDACTED
    assert dumped[0]["config"]["headers"] == {"Authorization": REDACTED}
    assert dumped[1]["config"]["password"] == REDACTED
    assert "env:OPENAI_API_KEY" in text  # settings only ever hold references


def test_verify_passes_on_an_intact_backup(store: PostgresStore) -> None:
    """verify recomputes hash and size and finds them equal."""
    seed_configuration(store)
    manager = BackupManager(store)
    backup = manager.create(ENV, "alice")
    result = manager.verify(backup.version)
    assert result.ok and result.problems == []
    assert result.actual_hash == backup.hash and result.actual_size == backup.data_size


@pytest.mark.parametrize("target", ["data", "hash"])
def test_verify_refuses_one_changed_byte(store: PostgresStore, target: str) -> None:
    """One byte changed in the stored data, or in the recorded hash, fails verification."""
    seed_configuration(store)
    manager = BackupManager(store)
    backup = manager.create(ENV, "alice")
    with store.connection() as conn:
        if target == "data":  # gpt-4o-mini -> gpt-4o-minj in the data
            conn.execute(
                "UPDATE llm_backups SET backup_data = replace(backup_data::text, "
                "'gpt-4o-mini', 'gpt-4o-minj')::jsonb WHERE id = %s",
                (backup.id,),
            )
        else:
            flipped = ("0" if backup.hash[0] != "0" else "1") + backup.hash[1:]
            conn.execute("UPDATE llm_backups SET hash = %s WHERE id = %s", (flipped, backup.id))
    result = manager.verify(backup.id)
    assert not result.ok
    assert any("hash mismatch" in p for p in result.problems)
    with pytest.raises(IntegrityError, match="hash mismatch"):
        manager.export(backup.id, "/dev/null")


def test_export_import_round_trip(store: PostgresStore, tmp_path: Path) -> None:
    """An exported file imports into an empty database as the same backup, twice harmlessly."""
    seed_configuration(store)
    manager = BackupManager(store)
    backup = manager.create(ENV, "alice", "exported")
    path = tmp_path / "b.json"
    manager.export(backup.version, str(path))
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["hash"] == backup.hash and doc["format"] == "llmops-backup"
    with store.connection() as conn:
        conn.execute("DELETE FROM llm_backups")
    imported = manager.import_file(path)
    assert imported == backup
    assert manager.import_file(path) == backup  # idempotent
    assert manager.verify(backup.id).ok


@pytest.mark.parametrize("target", ["data", "hash"])
def test_import_refuses_a_tampered_file(store: PostgresStore, tmp_path: Path, target: str) -> None:
    """A file with one byte changed in its data or its hash is refused; nothing is stored."""
    seed_configuration(store)
    manager = BackupManager(store)
    backup = manager.create(ENV, "alice")
    path = tmp_path / "b.json"
    manager.export(backup.id, str(path))
    text = path.read_text(encoding="utf-8")
    if target == "data":
        assert text.count("gpt-4o-mini") >= 1
        text = text.replace("gpt-4o-mini", "gpt-4o-minj", 1)
    else:
        text = text.replace(
            backup.hash, backup.hash[:-1] + ("0" if backup.hash[-1] != "0" else "1")
        )
    path.write_text(text, encoding="utf-8")
    with store.connection() as conn:
        conn.execute("DELETE FROM llm_backups")
    with pytest.raises(IntegrityError, match="hash mismatch"):
        manager.import_file(path)
    assert store.backups.count() == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"format": "other"}', "not an llmops backup file"),
        ('{"format": "llmops-backup", "formatVersion": 1}', "id: Field required"),
    ],
)
def test_import_refuses_malformed_files(
    store: PostgresStore, tmp_path: Path, content: str, message: str
) -> None:
    """Malformed files give one clear ConfigError naming the file."""
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        BackupManager(store).import_file(path)
    with pytest.raises(ConfigError, match="cannot read"):
        BackupManager(store).import_file(tmp_path / "missing.json")


def test_list_show_and_lookup_by_version(store: PostgresStore) -> None:
    """list is newest first without data; get accepts id or version; unknown refs are NotFound."""
    seed_configuration(store)
    manager = BackupManager(store)
    first = manager.create(ENV, "alice")
    second = manager.create(ENV, "bob")
    listed = manager.list_backups(ENV)
    assert [b.id for b in listed] == [second.id, first.id]
    assert manager.get(first.version).id == first.id
    assert manager.get(str(first.id)).id == first.id
    with pytest.raises(NotFound):
        manager.get("19990101000000000000")
    with pytest.raises(ConfigError, match="limit"):
        manager.list_backups(limit=0)


def test_bad_create_arguments_name_the_field(store: PostgresStore) -> None:
    """An unknown environment or an empty creator is refused before any write."""
    from pydantic import ValidationError

    manager = BackupManager(store)
    with pytest.raises(ValidationError, match="Input should be"):
        manager.create("prod", "alice")
    with pytest.raises(ValidationError, match="at least 1 character"):
        manager.create(ENV, "")
    assert store.backups.count() == 0


def test_a_backup_whose_stored_data_differs_is_marked_failed(store: PostgresStore) -> None:
    """If the row read back does not hash as recorded, the backup ends 'failed', not completed."""
    seed_configuration(store)
    with store.connection() as conn:  # a trigger that alters data as it is written
        conn.execute(
            "CREATE FUNCTION test_mangle() RETURNS trigger AS $$ BEGIN "
            "NEW.backup_data = NEW.backup_data || '{\"x\": 1}'::jsonb; RETURN NEW; END $$ "
            "LANGUAGE plpgsql"
        )
        conn.execute(
            "CREATE TRIGGER test_mangle BEFORE INSERT ON llm_backups "
            "FOR EACH ROW EXECUTE FUNCTION test_mangle()"
        )
    try:
        with pytest.raises(IntegrityError, match="failed: stored data does not match"):
            BackupManager(store).create(ENV, "alice")
    finally:
        with store.connection() as conn:
            conn.execute("DROP TRIGGER test_mangle ON llm_backups")
            conn.execute("DROP FUNCTION test_mangle()")
    assert [r.status for r in BackupManager(store).list_backups()] == ["failed"]


def test_canonical_json_is_sorted_compact_utf8_and_refuses_nan() -> None:
    """Canonical bytes: sorted keys, no spaces, UTF-8; NaN has no JSON form."""
    value = {"b": [1, 2.5, None], "a": {"é": True}}
    assert canonical_json(value) == '{"a":{"é":true},"b":[1,2.5,null]}'.encode()
    d = digest(value)
    assert d.hash == hashlib.sha256(canonical_json(value)).hexdigest()
    assert d.size == len(canonical_json(value))
    with pytest.raises(ConfigError, match="backup data"):
        canonical_json({"x": float("nan")})


def test_an_invalid_row_stops_the_backup_naming_row_and_field(store: PostgresStore) -> None:
    """A row the models refuse (plain SQL) gives a ConfigError naming section, id and field;
    no backup row is written."""
    seed_configuration(store)
    with store.connection() as conn:
        row = conn.execute(
            "INSERT INTO alert_rules (name, environment, type, conditions, actions) "
            "VALUES ('bad', %s, 'error_rate', '[]', '[]') RETURNING id",
            (ENV,),
        ).fetchone()
    assert row is not None
    with pytest.raises(ConfigError, match=rf"alertRules: row {row[0]} .*conditions"):
        BackupManager(store).create(ENV, "alice")
    assert store.backups.count() == 0
