"""What would change between two configs: a pure, field-by-field comparison.

Fallback targets are matched by ``provider/model`` rather than by list position, so reordering
the list changes nothing and a new priority shows as one changed field::

    fallback_providers[google/gemini-1.5-flash].priority: 2 -> 1
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, JsonValue

from llmops.models import FallbackConfig, LLMSettings

__all__ = ["IDENTITY_FIELDS", "ChangeKind", "FieldChange", "diff_configs", "diff_settings"]

IDENTITY_FIELDS = frozenset({"id", "is_active", "created_at", "updated_at"})
"""Fields that say which row it is and when, not how it routes; never part of a diff."""

ChangeKind = Literal["added", "removed", "changed"]


class FieldChange(BaseModel, frozen=True):
    """One difference: ``path`` in the document, its value before and after."""

    path: str
    change: ChangeKind
    before: JsonValue = None
    after: JsonValue = None

    def __str__(self) -> str:
        if self.change == "added":
            return f"+ {self.path}: {_show(self.after)}"
        if self.change == "removed":
            return f"- {self.path}: {_show(self.before)}"
        return f"~ {self.path}: {_show(self.before)} -> {_show(self.after)}"


def _show(value: JsonValue) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return "null" if value is None else str(value)


def _document(model: BaseModel) -> dict[str, JsonValue]:
    dumped: dict[str, JsonValue] = model.model_dump(
        mode="json",
        exclude=set(IDENTITY_FIELDS) & set(type(model).model_fields),
        exclude_none=True,
    )
    targets = dumped.get("fallback_providers")
    if isinstance(targets, list):
        keyed: dict[str, JsonValue] = {}
        for t in targets:
            if isinstance(t, dict):
                keyed[f"[{t.get('provider')}/{t.get('model')}]"] = t
        dumped["fallback_providers"] = keyed
    return dumped


def _join(path: str, key: str) -> str:
    if not path:
        return key
    return f"{path}{key}" if key.startswith("[") else f"{path}.{key}"


def _diff(path: str, before: JsonValue, after: JsonValue, out: list[FieldChange]) -> None:
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        keys = list(before) + [k for k in after if k not in before]
        for key in keys:
            sub = _join(path, key)
            if key not in after:
                out.append(FieldChange(path=sub, change="removed", before=before[key]))
            elif key not in before:
                out.append(FieldChange(path=sub, change="added", after=after[key]))
            else:
                _diff(sub, before[key], after[key], out)
    elif before != after:
        out.append(FieldChange(path=path, change="changed", before=before, after=after))


def diff_configs(before: FallbackConfig | None, after: FallbackConfig) -> list[FieldChange]:
    """How routing changes when ``after`` replaces ``before`` (everything is added if None)."""
    out: list[FieldChange] = []
    _diff("", _document(before) if before else {}, _document(after), out)
    return out


def diff_settings(before: LLMSettings | None, after: LLMSettings) -> list[FieldChange]:
    """How an ``llm_settings`` row changes (everything is added if ``before`` is None)."""
    out: list[FieldChange] = []
    _diff("", _document(before) if before else {}, _document(after), out)
    return out
