"""Restore: field-by-field round trip, idempotence, dry run, integrity first, rollback on failure,
the one-active-config invariant and its notification, redacted secrets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from llmops.backup import BackupManager, digest
from llmops.errors import ConfigError, IntegrityError, StoreError
from llmops.models import ABTest, AlertRule, FallbackConfig, LLMSettings
from llmops.store import PostgresStore
from llmops.store.repositories import CONFIG_CHANNEL
from tests.test_backup import ENV, insert_clear_secret_rule, seed_configuration

CONFIG_TABLES = ("llm_settings", "llm_fallback_configs", "ab_tests", "alert_rules")
EXCLUDED = {"updated_at"}  # set by the database whenever a restore writes a row


def snapshot(store: PostgresStore, tables: tuple[str, ...] = CONFIG_TABLES) -> dict[str, Any]:
    """Every row of ``tables`` (all columns, updated_at included), as JSON, by id."""
    out = {}
    with store.connection() as conn:
        for table in tables:
            row = conn.execute(
                f"SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY id), '[]') FROM {table} t"
            ).fetchone()
            assert row is not None
            out[table] = row[0]
    return out


def rows_of(store: PostgresStore) -> dict[str, list[Any]]:
    where = {"environment": ENV}
    order = (("id", "ASC"),)
    return {
        "llmSettings": store.settings.select(where, order_by=order),
        "fallbackConfigs": store.fallback_configs.select(where, order_by=order),
        "abTests": store.ab_tests.select(where, order_by=order),
        "alertRules": store.alert_rules.select(where, order_by=order),
    }


def assert_same_fields(before: dict[str, list[Any]], after: dict[str, list[Any]]) -> int:
    """Every field of every row equal except updated_at; returns the number of fields compared."""
    compared = 0
    assert before.keys() == after.keys()
    for section, rows in before.items():
        assert [r.id for r in rows] == [r.id for r in after[section]], section
        for old, new in zip(rows, after[section], strict=True):
            for name in type(old).model_fields:
                if name in EXCLUDED:
                    continue
                assert getattr(old, name) == getattr(new, name), f"{section}.{old.id}.{name}"
                compared += 1
    return compared


def change_everything(store: PostgresStore, seeded: dict[str, Any]) -> None:
    """Edit, add and delete rows in every section (what a bad config push does)."""
    s1, s2 = seeded["settings"]
    store.settings.update(s1.id, {"parameters": {"temperature": 1.9}, "timeout_ms": 999})
    store.settings.delete(s2.id)
    store.settings.upsert(LLMSettings(environment=ENV, provider="google", model="gemini-1.5-flash"))
    store.settings.upsert(LLMSettings(environment=ENV, provider="x", model="new"))
    old, active = seeded["configs"]
    store.fallback_configs.update(active.id, {"max_retries": 9, "fallback_providers": []})
    store.fallback_configs.activate(old.id)
    store.fallback_configs.create(
        FallbackConfig(environment=ENV, primary_provider="x", primary_model="broken")
    )
    test: ABTest = seeded["test"]
    store.ab_tests.update(test.id, {"name": "renamed", "is_active": False})
    rule: AlertRule = seeded["rule"]
    store.alert_rules.delete(rule.id)
    store.alert_rules.insert(
        AlertRule(
            name="extra",
            environment=ENV,
            type="error_rate",
            conditions=[{"metric": "error_rate", "operator": "gt", "value": 1, "timeWindow": 5}],
        )
    )


def test_merge_round_trip_restores_every_section_field_by_field(store: PostgresStore) -> None:
    """After changing every section, a merge restore brings back every backed-up row exactly."""
    seeded = seed_configuration(store)
    manager = BackupManager(store)
    original = rows_of(store)
    backup = manager.create(ENV, "alice")
    change_everything(store, seeded)
    result = manager.restore(backup.id)
    assert result.status == "completed" and not result.dry_run
    after = rows_of(store)
    # merge keeps the rows the backup does not know (made inactive where they were active)
    extra = {
        s: [r for r in rows if r.id not in {o.id for o in original[s]}] for s, rows in after.items()
    }
    assert [r.model for r in extra["llmSettings"]] == ["new"]
    assert [r.primary_model for r in extra["fallbackConfigs"]] == ["broken"]
    assert not extra["fallbackConfigs"][0].is_active
    assert [r.name for r in extra["alertRules"]] == ["extra"]
    kept = {s: [r for r in rows if r not in extra[s]] for s, rows in after.items()}
    compared = assert_same_fields(original, kept)
    assert compared > 50
    report = result.report
    assert report["llmSettings"].restored == 2  # one updated, one replaced by natural key
    # the old config was re-activated, then deactivated again by "broken": only one differs
    assert report["fallbackConfigs"].restored == 1
    broken = extra["fallbackConfigs"][0].id
    assert [c.action for c in result.changes if c.id == broken] == ["deactivate"]
    assert report["abTests"].restored == 1 and report["alertRules"].restored == 1
    assert store.fallback_configs.get_active(ENV).id == seeded["configs"][1].id  # type: ignore[union-attr]
    logs = store.restore_logs.select()
    assert len(logs) == 1 and logs[0].status == "completed"
    assert logs[0].backup_version == backup.version
    assert logs[0].backup_timestamp == backup.created_at
    assert logs[0].restore_report == report
    assert result.restore_log_id == logs[0].id


def test_replace_round_trip_makes_each_section_equal_to_the_backup(store: PostgresStore) -> None:
    """replace also deletes rows the backup does not have: every section equals the original."""
    seeded = seed_configuration(store)
    manager = BackupManager(store)
    original = rows_of(store)
    other_env = snapshot(store)["llm_fallback_configs"]
    backup = manager.create(ENV, "alice")
    change_everything(store, seeded)
    result = manager.restore(backup.version, mode="replace")
    assert_same_fields(original, rows_of(store))
    assert result.report["llmSettings"].removed == 1
    assert result.report["fallbackConfigs"].removed == 1
    assert result.report["alertRules"].removed == 1
    prod = [c for c in snapshot(store)["llm_fallback_configs"] if c["environment"] == "production"]
    assert prod == [c for c in other_env if c["environment"] == "production"]


def test_restoring_twice_changes_nothing_the_second_time(store: PostgresStore) -> None:
    """The second restore of the same backup writes no row (updated_at unchanged, all skipped)."""
    seeded = seed_configuration(store)
    manager = BackupManager(store)
    backup = manager.create(ENV, "alice")
    change_everything(store, seeded)
    manager.restore(backup.id, mode="replace")
    before = snapshot(store)
    again = manager.restore(backup.id, mode="replace")
    assert snapshot(store) == before
    assert again.changes == [] and not again.notified
    assert all(r.restored == 0 and r.removed == 0 for r in again.report.values())
    assert again.report["llmSettings"].skipped == 2
    assert again.report["alertRules"].skipped == 1


def test_dry_run_reports_and_changes_nothing(store: PostgresStore) -> None:
    """A dry run lists the changes a real restore makes, writes no row and no restore log."""
    seeded = seed_configuration(store)
    manager = BackupManager(store)
    backup = manager.create(ENV, "alice")
    change_everything(store, seeded)
    before = snapshot(store, (*CONFIG_TABLES, "llm_restore_logs"))
    dry = manager.restore(backup.id, mode="replace", dry_run=True)
    assert snapshot(store, (*CONFIG_TABLES, "llm_restore_logs")) == before
    assert dry.dry_run and dry.restore_log_id is None and not dry.notified
    real = manager.restore(backup.id, mode="replace")
    assert dry.report == real.report
    assert dry.changes == real.changes
    actions = {(c.section, c.action) for c in dry.changes}
    assert ("llmSettings", "replace") in actions and ("alertRules", "insert") in actions
    assert ("fallbackConfigs", "delete") in actions and ("abTests", "update") in actions


@pytest.mark.parametrize("target", ["data", "hash"])
def test_restore_refuses_a_tampered_backup(store: PostgresStore, target: str) -> None:
    """One byte changed in data or hash: IntegrityError, no row changed, no restore log."""
    seeded = seed_configuration(store)
    manager = BackupManager(store)
    backup = manager.create(ENV, "alice")
    change_everything(store, seeded)
    with store.connection() as conn:
        if target == "data":
            conn.execute(
                "UPDATE llm_backups SET backup_data = replace(backup_data::text, "
                "'\"max_retries\": 2', '\"max_retries\": 3')::jsonb WHERE id = %s",
                (backup.id,),
            )
        else:
            conn.execute(
                "UPDATE llm_backups SET hash = overlay(hash placing "
                "CASE substr(hash, 7, 1) WHEN 'f' THEN '0' ELSE 'f' END from 7 for 1) "
                "WHERE id = %s",
                (backup.id,),
            )
    assert not manager.verify(backup.id).ok
    before = snapshot(store, (*CONFIG_TABLES, "llm_restore_logs"))
    with pytest.raises(IntegrityError, match="hash mismatch"):
        manager.restore(backup.id)
    with pytest.raises(IntegrityError):
        manager.restore(backup.id, dry_run=True)
    assert snapshot(store, (*CONFIG_TABLES, "llm_restore_logs")) == before


def test_restore_refuses_a_tampered_file(store: PostgresStore, tmp_path: Path) -> None:
    """An export file with one changed byte is refused by restore; the database is unchanged."""
    seeded = seed_configuration(store)
    manager = BackupManager(store)
    backup = manager.create(ENV, "alice")
    path = tmp_path / "b.json"
    manager.export(backup.id, str(path))
    change_everything(store, seeded)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"max_retries": 2', '"max_retries": 3', 1), encoding="utf-8")
    before = snapshot(store, (*CONFIG_TABLES, "llm_restore_logs"))
    with pytest.raises(IntegrityError, match="hash mismatch"):
        manager.restore(path)
    assert snapshot(store, (*CONFIG_TABLES, "llm_restore_logs")) == before
    path.write_text(text, encoding="utf-8")
    result = manager.restore(path, mode="replace")  # the intact file restores
    assert result.backup_version == backup.version


def test_failure_mid_restore_rolls_back_everything_and_logs_failed(store: PostgresStore) -> None:
    """A failure in the last section (a trigger raising) leaves every table exactly as before,
    and a 'failed' restore log names the error."""
    seeded = seed_configuration(store)
    manager = BackupManager(store)
    backup = manager.create(ENV, "alice")
    change_everything(store, seeded)
    before = snapshot(store, (*CONFIG_TABLES, "llm_config_audit"))
    with store.connection() as conn:
        conn.execute(
            "CREATE FUNCTION test_fail() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql"
        )
        conn.execute(
            "CREATE TRIGGER test_fail BEFORE INSERT OR UPDATE ON alert_rules "
            "FOR EACH ROW EXECUTE FUNCTION test_fail()"
        )
    try:
        with pytest.raises(StoreError, match="failed in alertRules and was rolled back"):
            manager.restore(backup.id, mode="replace")
    finally:
        with store.connection() as conn:
            conn.execute("DROP TRIGGER test_fail ON alert_rules")
            conn.execute("DROP FUNCTION test_fail()")
    assert (
        snapshot(store, (*CONFIG_TABLES, "llm_config_audit")) == before
    )  # settings, configs and tests were written, then undone
    logs = store.restore_logs.select()
    assert [log.status for log in logs] == ["failed"]
    report = logs[0].restore_report
    assert "injected failure" in report["alertRules"].errors[0]
    assert all(r.restored == 0 for r in report.values())
    assert manager.restore(backup.id).status == "completed"  # and it works once fixed


def test_active_config_change_is_notified(store: PostgresStore, database_url: str) -> None:
    """Routers LISTENing on the config channel hear a restore that changes the active config,
    and hear nothing from one that does not."""
    seeded = seed_configuration(store)
    manager = BackupManager(store)
    backup = manager.create(ENV, "alice")
    store.fallback_configs.activate(seeded["configs"][0].id)
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {CONFIG_CHANNEL}")
        result = manager.restore(backup.id, sections=["fallbackConfigs"])
        heard = [n.payload for n in listener.notifies(timeout=2, stop_after=1)]
        assert result.notified and heard == [ENV]
        assert [c.action for c in result.changes] == ["update", "update"]
        assert store.fallback_configs.get_active(ENV).id == seeded["configs"][1].id  # type: ignore[union-attr]
        again = manager.restore(backup.id, sections=["fallbackConfigs"])
        assert not again.notified
        assert list(listener.notifies(timeout=0.5, stop_after=1)) == []


def test_sections_can_be_chosen(store: PostgresStore) -> None:
    """Only the named sections are restored and reported; unknown names are refused."""
    seeded = seed_configuration(store)
    manager = BackupManager(store)
    backup = manager.create(ENV, "alice")
    change_everything(store, seeded)
    result = manager.restore(backup.id, sections=["abTests", "usageStats"])
    assert set(result.report) == {"abTests", "usageStats"}
    assert store.ab_tests.get(seeded["test"].id).name == "flash vs mini"
    assert store.alert_rules.find(seeded["rule"].id) is None  # not restored
    assert result.report["usageStats"].skipped == 1
    assert "never restored" in result.report["usageStats"].errors[0]
    with pytest.raises(ConfigError, match="unknown section"):
        manager.restore(backup.id, sections=["llmSetings"])
    with pytest.raises(ConfigError, match="mode"):
        manager.restore(backup.id, mode="overwrite")  # type: ignore[arg-type]


def test_redacted_secret_keeps_the_current_value_or_skips_the_rule(store: PostgresStore) -> None:
    """A redacted secret takes the rule's current value (reported); with none, the rule is
    skipped and reported, and replace does not delete it."""
    seed_configuration(store)
    rule_id = insert_clear_secret_rule(store)
    manager = BackupManager(store)
    backup = manager.create(ENV, "alice")
    before = snapshot(store, ("alert_rules",))
    # the current row holds its secrets in clear: nothing to keep through the models -> skipped
    result = manager.restore(backup.id, sections=["alertRules"], mode="replace")
    report = result.report["alertRules"]
    assert report.skipped == 2 and report.restored == 0 and report.removed == 0
    assert any("actions.0.config.url was redacted" in e for e in report.errors)
    assert snapshot(store, ("alert_rules",)) == before
    # once the operator switches the rule to references, the redacted backup keeps them
    refs = [
        {"type": "webhook", "config": {"url": "env:HOOK", "headers": {"Authorization": "env:TOK"}}},
        {
            "type": "email",
            "config": {
                "to": ["a@b.invalid"],
                "from": "c@d.invalid",
                "smtpHost": "h",
                "username": "u",
                "password": "env:PW",
            },
        },
    ]
    with store.connection() as conn:
        conn.execute(
            "UPDATE alert_rules SET actions = %s, name = 'renamed' WHERE id = %s",
            (json.dumps(refs), rule_id),
        )
    result = manager.restore(backup.id, sections=["alertRules"])
    report = result.report["alertRules"]
    assert report.restored == 1
    assert sum("kept the current value" in e for e in report.errors) == 3
    restored = store.alert_rules.get(rule_id)
    assert restored.name == "legacy"
    assert restored.actions[0].model_dump(by_alias=True)["config"]["url"] == "env:HOOK"


def test_backup_with_two_active_configs_is_refused(store: PostgresStore, tmp_path: Path) -> None:
    """A (hand-made, correctly hashed) backup with two active configs breaks the invariant:
    refused, nothing changes, and the attempt is logged as failed."""
    seed_configuration(store)
    manager = BackupManager(store)
    backup = manager.create(ENV, "alice")
    path = tmp_path / "b.json"
    manager.export(backup.id, str(path))
    doc = json.loads(path.read_text(encoding="utf-8"))
    for config in doc["backupData"]["fallbackConfigs"]:
        config["is_active"] = True
    d = digest(doc["backupData"])
    doc["hash"], doc["dataSize"] = d.hash, d.size
    path.write_text(json.dumps(doc), encoding="utf-8")
    before = snapshot(store)
    with pytest.raises(ConfigError, match="2 configs are active"):
        manager.restore(path)
    assert snapshot(store) == before
    assert [log.status for log in store.restore_logs.select()] == ["failed"]


def test_rows_of_another_environment_are_refused(store: PostgresStore, tmp_path: Path) -> None:
    """A backup of staging holding a production row is refused before anything is written."""
    seed_configuration(store)
    manager = BackupManager(store)
    backup = manager.create(ENV, "alice")
    path = tmp_path / "b.json"
    manager.export(backup.id, str(path))
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["backupData"]["abTests"][0]["environment"] = "production"
    d = digest(doc["backupData"])
    doc["hash"], doc["dataSize"] = d.hash, d.size
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"abTests\.0\.environment"):
        manager.restore(path)
    assert store.restore_logs.count() == 0


def test_pending_or_failed_backups_do_not_restore(store: PostgresStore) -> None:
    """Only completed backups restore."""
    seed_configuration(store)
    manager = BackupManager(store)
    backup = manager.create(ENV, "alice")
    with store.connection() as conn:
        conn.execute("UPDATE llm_backups SET status = 'pending' WHERE id = %s", (backup.id,))
    with pytest.raises(ConfigError, match="pending"):
        manager.restore(backup.id)
    assert not manager.verify(backup.id).ok


def _config(model: str, active: bool) -> FallbackConfig:
    import uuid

    return FallbackConfig(
        id=uuid.uuid4(),
        environment=ENV,
        primary_provider="p",
        primary_model=model,
        is_active=active,
    )


def test_plan_deactivates_the_other_active_config_and_orders_writes() -> None:
    """Pure planning: a backup's active config deactivates the current one, written first."""
    from llmops.backup.plan import SECTION_SPECS, plan_section

    current_active = _config("now", True)
    backed_up = _config("then", True)
    plan = plan_section(SECTION_SPECS["fallbackConfigs"], [backed_up], [current_active], "merge")
    assert [(c.action, c.id) for c in plan.changes] == [
        ("insert", backed_up.id),
        ("deactivate", current_active.id),
    ]
    assert [(m.id, m.is_active) for m, _ in plan.writes()] == [
        (current_active.id, False),
        (backed_up.id, True),
    ]
    assert plan.report.restored == 1 and plan.report.removed == 0


def test_plan_refuses_duplicate_ids_and_two_active_configs() -> None:
    """Pure planning: a backup breaking an invariant is a ConfigError before any write."""
    from llmops.backup.plan import SECTION_SPECS, plan_section

    spec = SECTION_SPECS["fallbackConfigs"]
    one = _config("a", False)
    with pytest.raises(ConfigError, match="same id twice"):
        plan_section(spec, [one, one], [], "merge")
    with pytest.raises(ConfigError, match="2 configs are active"):
        plan_section(spec, [_config("a", True), _config("b", True)], [], "replace")


def test_restore_writes_the_config_audit_trail(store: PostgresStore) -> None:
    """Each settings / fallback-config row a restore writes is audited with the actor and the
    backup version; a restore that changes nothing adds no audit row."""
    from llmops.configs.audit import AuditRepository

    seeded = seed_configuration(store)
    manager = BackupManager(store)
    backup = manager.create(ENV, "alice")
    audit = AuditRepository(store.pool)
    with store.connection() as conn:
        conn.execute("DELETE FROM llm_config_audit")
    store.settings.update(seeded["settings"][0].id, {"timeout_ms": 999})
    store.fallback_configs.activate(seeded["configs"][0].id)
    manager.restore(backup.id, actor="bob")
    entries = audit.history(environment=ENV)
    assert {(e.kind, e.action, e.config_id) for e in entries} == {
        ("llm_settings", "update", seeded["settings"][0].id),
        ("fallback_config", "deactivate", seeded["configs"][0].id),
        ("fallback_config", "activate", seeded["configs"][1].id),
    }
    assert {e.actor for e in entries} == {f"bob (restore of {backup.version})"}
    update = next(e for e in entries if e.action == "update")
    assert [str(c) for c in update.details.changes] == ["~ timeout_ms: 999 -> 30000"]
    manager.restore(backup.id, actor="bob")
    assert len(audit.history(environment=ENV)) == 3


def test_two_restores_at_once_run_one_after_the_other(store: PostgresStore) -> None:
    """Two concurrent restores of one environment serialise: one writes, the other finds
    nothing left to change; both complete and log."""
    import threading

    seeded = seed_configuration(store)
    manager = BackupManager(store)
    original = rows_of(store)
    backup = manager.create(ENV, "alice")
    change_everything(store, seeded)
    results: list[Any] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def restore() -> None:
        try:
            start.wait()
            results.append(manager.restore(backup.id, mode="replace"))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=restore) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(len(r.changes) for r in results)[0] == 0
    assert sorted(len(r.changes) for r in results)[1] > 0
    assert_same_fields(original, rows_of(store))
    assert [log.status for log in store.restore_logs.select()] == ["completed", "completed"]
