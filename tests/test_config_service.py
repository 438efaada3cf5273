"""ConfigService and SettingsService on a real PostgreSQL: validated, transactional, audited."""

from __future__ import annotations

import threading
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from llmops.configs import ConfigService, SettingsService
from llmops.errors import ConfigError, NotFound
from llmops.models import FallbackConfig
from llmops.store import PostgresStore
from llmops.store.repositories import CONFIG_CHANNEL
from llmops.validation import ConfigValidationError


def doc(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "environment": "staging",
        "primary_provider": "openai",
        "primary_model": "gpt-4o-mini",
        "fallback_providers": [
            {
                "provider": "google",
                "model": "gemini-1.5-flash",
                "priority": 1,
                "config": {"temperature": 0.7, "max_tokens": 1000},
            },
        ],
    }
    base.update(changes)
    return base


def table_state(store: PostgresStore) -> tuple[Any, ...]:
    """Everything an apply could touch: configs, settings and audit rows."""
    with store.connection() as c:
        return tuple(
            c.execute(f"SELECT coalesce(json_agg(t ORDER BY t.id), '[]') FROM {table} t").fetchone()
            for table in ("llm_fallback_configs", "llm_settings", "llm_config_audit")
        )


@pytest.fixture
def service(store: PostgresStore) -> ConfigService:
    return ConfigService(store, actor="tester")


def test_apply_creates_an_inactive_config_and_an_audit_row(service: ConfigService) -> None:
    """apply without --activate stores the config inactive and records who created it."""
    result = service.apply(doc())
    assert result.outcome == "created" and not result.config.is_active and not result.activated
    (entry,) = service.history()
    assert (entry.action, entry.actor, entry.config_id) == ("create", "tester", result.config.id)
    assert entry.details.after is not None and entry.details.after["primary_model"] == "gpt-4o-mini"


def test_apply_activate_swaps_the_active_config(service: ConfigService) -> None:
    """--activate makes the new config the only active one and records the previous one."""
    first = service.apply(doc(), activate=True).config
    second = service.apply(doc(primary_model="gpt-4o"), activate=True, actor="alice").config
    active = [c for c in service.list("staging") if c.is_active]
    assert [c.id for c in active] == [second.id]
    latest = service.history(limit=1)[0]
    assert (latest.action, latest.actor, latest.details.previous_id) == (
        "activate",
        "alice",
        first.id,
    )
    assert [str(c) for c in latest.details.changes] == [
        "~ primary_model: 'gpt-4o-mini' -> 'gpt-4o'"
    ]


def test_document_is_active_true_activates(service: ConfigService) -> None:
    """A document saying is_active: true is activated; is_active false with --activate is refused."""
    assert service.apply(doc(is_active=True)).config.is_active
    with pytest.raises(ConfigError, match="is_active: false contradicts --activate"):
        service.apply(doc(is_active=False), activate=True)


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (doc(primary_provider="opnai"), "primary_provider: unknown provider 'opnai'"),
        (
            doc(
                fallback_providers=[
                    {"provider": "google", "model": "a", "priority": 1},
                    {"provider": "google", "model": "b", "priority": 1},
                ]
            ),
            "fallback_providers.1.priority",
        ),
        (doc(max_retries=11), "max_retries: Input should be less than or equal to 10"),
        (
            doc(fallback_providers=[{"provider": "google", "priority": 1}]),
            "fallback_providers.0.model",
        ),
        ({k: v for k, v in doc().items() if k != "primary_model"}, "primary_model: Field required"),
    ],
)
def test_invalid_documents_leave_the_database_unchanged(
    service: ConfigService, store: PostgresStore, document: dict[str, Any], field: str
) -> None:
    """Each invalid document is refused naming its field, and no row of any table changes."""
    active = service.apply(doc(), activate=True).config
    before = table_state(store)
    with pytest.raises(ConfigValidationError) as info:
        service.apply({**document, "id": str(active.id)}, activate=True)
    assert field in str(info.value)
    assert table_state(store) == before


def test_apply_with_id_updates_in_place_and_skips_no_op(service: ConfigService) -> None:
    """A document naming an existing id updates that row; the same document again is a no-op."""
    created = service.apply(doc(), activate=True).config
    shown = created.model_dump(mode="json")
    shown["max_retries"] = 5
    updated = service.apply(shown)
    assert (updated.outcome, updated.config.id, updated.config.max_retries) == (
        "updated",
        created.id,
        5,
    )
    assert updated.config.is_active  # an update keeps the row's activity
    assert [str(c) for c in updated.changes] == ["~ max_retries: 3 -> 5"]
    again = service.apply(shown)
    assert again.outcome == "unchanged"
    assert [e.action for e in service.history()] == ["update", "activate", "create"]


def test_apply_cannot_switch_off_the_active_config(service: ConfigService) -> None:
    """is_active: false on the active row is refused: an environment never loses its config."""
    active = service.apply(doc(), activate=True).config
    with pytest.raises(ConfigError, match=r"is_active: config .* is the active config of staging"):
        service.apply({**active.model_dump(mode="json"), "is_active": False})
    assert service.active("staging") == active


def test_apply_with_unknown_id_creates_it(service: ConfigService) -> None:
    """An id that does not exist yet is created with that id (restoring a `show` output)."""
    wanted = uuid4()
    assert service.apply(doc(id=str(wanted))).config.id == wanted


def test_update_cannot_move_a_config_to_another_environment(service: ConfigService) -> None:
    """Changing environment of an existing id is refused; the row stays where it was."""
    created = service.apply(doc()).config
    with pytest.raises(ConfigError, match=r"environment: config .* belongs to staging"):
        service.apply(doc(id=str(created.id), environment="production"))
    assert service.get(created.id).environment == "staging"  # type: ignore[arg-type]


def test_activate_is_audited_and_idempotent(service: ConfigService) -> None:
    """activate swaps in one transaction; activating the active config writes nothing."""
    a = service.apply(doc(), activate=True).config
    b = service.apply(doc(primary_model="gpt-4o")).config
    assert b.id is not None and a.id is not None
    assert service.activate(b.id, actor="bob").is_active
    assert not service.get(a.id).is_active
    n = len(service.history())
    service.activate(b.id)
    assert len(service.history()) == n


def test_activate_refuses_a_stored_row_that_would_not_route(
    service: ConfigService, store: PostgresStore
) -> None:
    """A row written around the service (unknown provider) cannot be activated."""
    good = service.apply(doc(), activate=True).config
    bad = store.fallback_configs.insert(
        FallbackConfig(
            environment="staging", primary_provider="mystery", primary_model="m", is_active=False
        )
    )
    assert bad.id is not None
    with pytest.raises(ConfigValidationError, match=f"config {bad.id}: primary_provider: unknown"):
        service.activate(bad.id)
    assert service.active("staging") == store.fallback_configs.get(good.id)  # type: ignore[arg-type]


def test_delete_refuses_the_active_config_and_audits_deletes(service: ConfigService) -> None:
    """The active config cannot be deleted; an inactive one can, and its history survives it."""
    a = service.apply(doc(), activate=True).config
    b = service.apply(doc(primary_model="gpt-4o")).config
    assert a.id and b.id
    with pytest.raises(ConfigError, match="is the active config of staging"):
        service.delete(a.id)
    deleted = service.delete(b.id, actor="carol")
    assert deleted.id == b.id
    with pytest.raises(NotFound):
        service.get(b.id)
    with pytest.raises(NotFound):
        service.delete(b.id)
    (entry, _create) = service.history(config_id=b.id)
    assert (entry.action, entry.actor) == ("delete", "carol")
    assert entry.details.before is not None and entry.details.before["primary_model"] == "gpt-4o"


def test_diff_lists_field_changes_by_target(service: ConfigService) -> None:
    """diff matches fallbacks by provider/model: added targets and changed fields are listed."""
    a = service.apply(doc()).config
    b = service.apply(
        doc(
            max_retries=2,
            fallback_providers=[
                {
                    "provider": "google",
                    "model": "gemini-1.5-flash",
                    "priority": 2,
                    "config": {"temperature": 0.7, "max_tokens": 500},
                },
                {"provider": "openai", "model": "gpt-4o", "priority": 1},
            ],
        )
    ).config
    assert a.id and b.id
    assert [str(c) for c in service.diff(a.id, b.id)] == [
        "~ fallback_providers[google/gemini-1.5-flash].priority: 1 -> 2",
        "~ fallback_providers[google/gemini-1.5-flash].config.max_tokens: 1000 -> 500",
        '+ fallback_providers[openai/gpt-4o]: {"config": {}, "model": "gpt-4o", "priority": 1, '
        '"provider": "openai"}',
        "~ max_retries: 3 -> 2",
    ]
    assert service.diff(a.id, a.id) == []


def test_activation_notifies_the_environment(service: ConfigService, store: PostgresStore) -> None:
    """activate (and a plain SQL edit of the active row, via the trigger) NOTIFY the channel."""
    b = service.apply(doc()).config
    assert b.id
    with store.direct_connection() as listener:
        listener.execute(f"LISTEN {CONFIG_CHANNEL}")
        service.activate(b.id)
        with store.connection() as c:
            c.execute("UPDATE llm_fallback_configs SET max_retries = 4 WHERE id = %s", (b.id,))
        payloads = [n.payload for n in listener.notifies(timeout=1.0, stop_after=2)]
    assert payloads == ["staging", "staging"]


def test_concurrent_activations_leave_exactly_one_active(service: ConfigService) -> None:
    """Eight threads activating different configs at once: one active row, no error."""
    ids = [service.apply(doc(primary_model=f"m{i}")).config.id for i in range(8)]
    errors: list[BaseException] = []

    def go(i: Any) -> None:
        try:
            service.activate(i)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    assert sum(c.is_active for c in service.list("staging")) == 1
    assert len([e for e in service.history() if e.action == "activate"]) == 8


def test_audit_rejects_rows_outside_its_checks(store: PostgresStore) -> None:
    """The audit table refuses an unknown action at the database too."""
    with store.connection() as c, pytest.raises(psycopg.errors.CheckViolation):
        c.execute(
            "INSERT INTO llm_config_audit (kind, config_id, environment, action, actor) "
            "VALUES ('fallback_config', gen_random_uuid(), 'staging', 'explode', 'x')"
        )


# -- settings -----------------------------------------------------------------------------


def settings_doc(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "environment": "production",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "parameters": {"temperature": 0.3},
        "api_key_ref": "env:OPENAI_API_KEY",
    }
    base.update(changes)
    return base


def test_settings_apply_creates_updates_and_skips_unchanged(store: PostgresStore) -> None:
    """Settings are keyed by environment/provider/model; re-applying the same is a no-op."""
    svc = SettingsService(store, actor="ops")
    (created,) = svc.apply(settings_doc())
    assert created.outcome == "created"
    (same,) = svc.apply(settings_doc())
    assert same.outcome == "unchanged"
    (updated,) = svc.apply(settings_doc(parameters={"temperature": 0.5}, timeout_ms=5000))
    assert updated.outcome == "updated" and updated.settings.id == created.settings.id
    assert [str(c) for c in updated.changes] == [
        "~ parameters.temperature: 0.3 -> 0.5",
        "~ timeout_ms: 30000 -> 5000",
    ]
    assert [e.action for e in svc.history()] == ["update", "create"]


def test_settings_list_with_one_bad_item_writes_nothing(store: PostgresStore) -> None:
    """A file of several settings is applied whole or not at all; problems carry the index."""
    svc = SettingsService(store)
    before = table_state(store)
    with pytest.raises(ConfigValidationError) as info:
        svc.apply([settings_doc(), settings_doc(provider="opnai", model="x")])
    assert str(info.value).startswith("1.provider: unknown provider 'opnai'")
    with pytest.raises(ConfigValidationError, match="appears more than once"):
        svc.apply([settings_doc(), settings_doc()])
    assert table_state(store) == before


def test_settings_delete_is_audited(store: PostgresStore) -> None:
    """delete removes the row and keeps its last state in the audit trail."""
    svc = SettingsService(store, actor="ops")
    (created,) = svc.apply(settings_doc())
    assert created.settings.id
    svc.delete(created.settings.id)
    assert svc.list() == []
    assert svc.history()[0].details.before == {
        k: v
        for k, v in created.settings.model_dump(mode="json", exclude_none=True).items()
        if k not in ("created_at", "updated_at")
    }
    with pytest.raises(NotFound):
        svc.delete(created.settings.id)
