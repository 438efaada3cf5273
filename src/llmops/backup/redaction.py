"""Secrets in alert actions: kept out of backups, put back (when possible) on restore.

Which values are secrets: a Slack action's ``webhookUrl``, a webhook action's ``url`` and
header values, an email action's ``password``. A backup keeps ``env:NAME`` references as they
are and replaces anything else (a row written in clear by plain SQL) by
:data:`llmops.secrets.REDACTED`. Redaction works on the stored JSON, before validation, so such
a row is backed up rather than refused.

On restore, a redacted value is replaced by the value the same rule (same id) has now, in the
action at the same position with the same type; the section's ``errors`` say so. When there is
no value to keep, the rule is skipped (not restored) and ``errors`` say why: restoring it would
give an alert that cannot deliver.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import TypeAdapter

from llmops.models.alerts import AlertAction, AlertRule
from llmops.secrets import is_redacted, redact

__all__ = ["redact_actions", "restore_rule_secrets", "secret_paths"]

Path = tuple[str, ...]
_ACTIONS: TypeAdapter[list[AlertAction]] = TypeAdapter(list[AlertAction])


def secret_paths(action: Any) -> Iterator[tuple[Path, Any]]:
    """(path, value) of every secret in one action as JSON (``actions[i]`` of ``alert_rules``)."""
    if not isinstance(action, dict) or not isinstance(action.get("config"), dict):
        return
    config = action["config"]
    kind = action.get("type")
    if kind == "slack" and "webhookUrl" in config:
        yield ("config", "webhookUrl"), config["webhookUrl"]
    elif kind == "webhook":
        if "url" in config:
            yield ("config", "url"), config["url"]
        headers = config.get("headers")
        if isinstance(headers, dict):
            for name, value in headers.items():
                yield ("config", "headers", name), value
    elif kind == "email" and config.get("password") is not None:
        yield ("config", "password"), config["password"]


def _set(action: dict[str, Any], path: Path, value: Any) -> None:
    node = action
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def redact_actions(actions: Any) -> Any:
    """``alert_rules.actions`` (JSON) with every secret that is not a reference redacted."""
    if not isinstance(actions, list):
        return actions
    for action in actions:
        for path, value in list(secret_paths(action)):
            _set(action, path, redact(value) if isinstance(value, str) else value)
    return actions


def restore_rule_secrets(
    rule: AlertRule, current: AlertRule | None, label: str
) -> tuple[AlertRule | None, list[str]]:
    """``rule`` (from a backup) with its redacted secrets taken from ``current``.

    Returns the rule to restore, or None when a redacted secret has no current value to keep,
    and the messages for the section's ``errors`` (field paths only, never values).
    """
    errors: list[str] = []
    mine: list[dict[str, Any]] = [a.model_dump(mode="json", by_alias=True) for a in rule.actions]
    theirs: list[dict[str, Any]] = (
        [a.model_dump(mode="json", by_alias=True) for a in current.actions] if current else []
    )
    changed = False
    for i, action in enumerate(mine):
        now: dict[Path, Any] = {}
        if i < len(theirs) and theirs[i].get("type") == action.get("type"):
            now = dict(secret_paths(theirs[i]))
        for path, value in list(secret_paths(action)):
            if not is_redacted(value):
                continue
            field = f"actions.{i}.{'.'.join(path)}"
            kept = now.get(path)
            if not isinstance(kept, str) or is_redacted(kept):
                errors.append(
                    f"{label}: {field} was redacted in the backup and the database has no value "
                    "to keep; rule not restored (set the secret again as an env:NAME reference)"
                )
                return None, errors
            _set(action, path, kept)
            changed = True
            errors.append(f"{label}: {field} was redacted in the backup; kept the current value")
    if not changed:
        return rule, errors
    return rule.model_copy(update={"actions": _ACTIONS.validate_python(mine)}), errors
