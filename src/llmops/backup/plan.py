"""What a restore will do, decided without I/O: backup rows against current rows -> a plan.

Rows are matched by id. ``llm_settings`` rows are also matched by their natural key
(environment, provider, model): a current row with that key but another id is *replaced* by the
backup's row (deleted, then inserted with the backup's id), so ids are preserved.

* identical rows (every column except ``updated_at`` and the section's runtime columns) are
  ``skipped``: restoring the same backup twice writes nothing the second time;
* differing rows are updated, missing rows inserted (``restored``);
* ``replace`` also deletes the environment's rows that the backup does not have (``removed``);
* in ``fallbackConfigs``, when the backup has an active config, any other active config is
  deactivated (the one-active-config-per-environment invariant).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence, Set
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from llmops.errors import ConfigError
from llmops.models.backup import RestoreChange, RestoreMode, SectionReport
from llmops.models.fallback import FallbackConfig
from llmops.models.settings import LLMSettings

__all__ = [
    "RESTORABLE_SECTIONS",
    "SECTION_SPECS",
    "SectionPlan",
    "SectionSpec",
    "compared_fields",
    "plan_section",
]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class SectionSpec(Generic[M]):
    """How one ``backup_data`` section maps to its table."""

    name: str
    repository: str
    """Attribute of :class:`~llmops.store.PostgresStore` holding the section's repository."""
    label: Callable[[Any], str]
    runtime_fields: frozenset[str] = frozenset()
    """Columns that record what happened, not configuration: never compared, never updated by
    a restore (an inserted row takes the backup's value)."""
    natural_key: Callable[[Any], Hashable] | None = None


def _settings_key(s: LLMSettings) -> Hashable:
    return (s.environment, s.provider, s.model)


SECTION_SPECS: dict[str, SectionSpec[Any]] = {
    "llmSettings": SectionSpec(
        "llmSettings",
        "settings",
        lambda s: f"llmSettings {s.provider}/{s.model} ({s.id})",
        natural_key=_settings_key,
    ),
    "fallbackConfigs": SectionSpec(
        "fallbackConfigs",
        "fallback_configs",
        lambda c: f"fallbackConfigs {c.primary_provider}/{c.primary_model} ({c.id})",
    ),
    "abTests": SectionSpec("abTests", "ab_tests", lambda t: f"abTests {t.name!r} ({t.id})"),
    "alertRules": SectionSpec(
        "alertRules",
        "alert_rules",
        lambda r: f"alertRules {r.name!r} ({r.id})",
        runtime_fields=frozenset({"last_triggered", "last_evaluated_at"}),
    ),
}
RESTORABLE_SECTIONS: tuple[str, ...] = tuple(SECTION_SPECS)


def compared_fields(spec: SectionSpec[Any], model: type[BaseModel]) -> list[str]:
    """The columns a restore compares and writes for this section."""
    return [
        f for f in model.model_fields if f not in {"updated_at"} and f not in spec.runtime_fields
    ]


@dataclass
class SectionPlan(Generic[M]):
    """The writes of one section, in the order they must be applied."""

    section: str
    deletes: list[M] = field(default_factory=list)
    updates: list[tuple[M, list[str]]] = field(default_factory=list)
    inserts: list[M] = field(default_factory=list)
    report: SectionReport = field(default_factory=SectionReport)
    changes: list[RestoreChange] = field(default_factory=list)
    current: dict[Any, M] = field(default_factory=dict)
    """The rows as they were before the restore, by id (for the audit trail)."""

    @property
    def empty(self) -> bool:
        return not (self.deletes or self.updates or self.inserts)

    def writes(self) -> list[tuple[M, list[str] | None]]:
        """Updates and inserts, rows becoming inactive first (so the partial unique index on
        active fallback configs never sees two active rows); ``None`` fields = insert."""
        items: list[tuple[M, list[str] | None]] = [
            *self.updates,
            *((m, None) for m in self.inserts),
        ]
        return sorted(items, key=lambda item: bool(getattr(item[0], "is_active", False)))


def _diff(a: BaseModel, b: BaseModel, fields: Sequence[str]) -> list[str]:
    return [f for f in fields if getattr(a, f) != getattr(b, f)]


def plan_section(
    spec: SectionSpec[M],
    backup_rows: Sequence[M],
    current_rows: Sequence[M],
    mode: RestoreMode,
    *,
    errors: Sequence[str] = (),
    untouched: Set[Any] = frozenset(),
) -> SectionPlan[M]:
    """Compare ``backup_rows`` with ``current_rows`` (one environment) and plan the writes.

    ``untouched``: ids of backup rows the caller left out (a redacted secret with no value to
    keep): counted as skipped, and never deleted by ``replace``; ``errors`` say why.
    Raises :class:`ConfigError` for a backup that breaks an invariant (duplicate ids, two
    active fallback configs).
    """
    plan: SectionPlan[M] = SectionPlan(spec.name)
    plan.report = SectionReport(errors=list(errors), skipped=len(untouched))
    ids = [getattr(r, "id", None) for r in backup_rows]
    if None in ids:
        raise ConfigError(f"{spec.name}: every row of a backup must have an id")
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{spec.name}: the backup lists the same id twice")
    if isinstance(backup_rows[0] if backup_rows else None, FallbackConfig):
        active = [r for r in backup_rows if getattr(r, "is_active", False)]
        if len(active) > 1:
            raise ConfigError(
                f"{spec.name}: {len(active)} configs are active in the backup; at most one "
                "per environment"
            )
    fields = compared_fields(spec, type(backup_rows[0])) if backup_rows else []
    by_id = {getattr(r, "id", None): r for r in current_rows}
    plan.current = dict(by_id)
    by_key = {spec.natural_key(r): r for r in current_rows} if spec.natural_key is not None else {}
    matched: set[Any] = set(untouched)
    restored = unchanged = 0
    for row in backup_rows:
        rid = getattr(row, "id", None)
        label = spec.label(row)
        current = by_id.get(rid)
        if current is not None:
            matched.add(rid)
            changed = _diff(row, current, fields)
            if changed:
                plan.updates.append((row, changed))
                plan.changes.append(
                    RestoreChange(
                        section=spec.name, action="update", id=rid, label=label, fields=changed
                    )
                )
                restored += 1
            else:
                unchanged += 1
            continue
        clash = by_key.get(spec.natural_key(row)) if spec.natural_key is not None else None
        if clash is not None and getattr(clash, "id", None) not in matched:
            matched.add(getattr(clash, "id", None))
            plan.deletes.append(clash)
            plan.inserts.append(row)
            plan.changes.append(
                RestoreChange(
                    section=spec.name,
                    action="replace",
                    id=rid,
                    label=f"{label} replaces {getattr(clash, 'id', '')}",
                )
            )
        else:
            plan.inserts.append(row)
            plan.changes.append(
                RestoreChange(section=spec.name, action="insert", id=rid, label=label)
            )
        restored += 1
    others = [r for r in current_rows if getattr(r, "id", None) not in matched]
    removed = 0
    if mode == "replace":
        for r in others:
            plan.deletes.append(r)
            plan.changes.append(
                RestoreChange(
                    section=spec.name,
                    action="delete",
                    id=getattr(r, "id", None),
                    label=spec.label(r),
                )
            )
            removed += 1
    elif any(isinstance(r, FallbackConfig) and r.is_active for r in backup_rows):
        for r in others:
            if isinstance(r, FallbackConfig) and r.is_active:
                plan.updates.append((r.model_copy(update={"is_active": False}), ["is_active"]))
                plan.changes.append(
                    RestoreChange(
                        section=spec.name,
                        action="deactivate",
                        id=r.id,
                        label=spec.label(r),
                        fields=["is_active"],
                    )
                )
    plan.report = plan.report.model_copy(
        update={
            "restored": restored,
            "skipped": plan.report.skipped + unchanged,
            "removed": removed,
        }
    )
    return plan
