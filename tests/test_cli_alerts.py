"""`llmops alerts ...`: rules from files, bad input, check/events/ack/resolve, run and signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmops.cli import main
from llmops.models import UsageLog
from llmops.store import PostgresStore

SLACK_URL = "https://hooks.slack.com/services/T0/B0/very-secret"

RULE: dict[str, Any] = {
    "name": "spend spike",
    "description": "more than $10 an hour",
    "environment": "production",
    "type": "cost_threshold",
    "severity": "high",
    "frequency": "immediate",
    "conditions": [{"metric": "total_cost", "operator": "gt", "value": 10, "timeWindow": 60}],
    "actions": [
        {"type": "slack", "config": {"webhookUrl": "env:SLACK_WEBHOOK_URL", "channel": "#ops"}},
        {"type": "log"},
    ],
}


def cli(url: str, *args: str) -> int:
    return main(["--database-url", url, "alerts", *args])


def write(tmp_path: Path, document: Any, name: str = "rule.json") -> str:
    path = tmp_path / name
    if name.endswith(".yaml"):
        path.write_text(yaml.safe_dump(document))
    else:
        path.write_text(json.dumps(document))
    return str(path)


def test_rules_add_list_show_enable_disable_delete(
    database_url: str, store: PostgresStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A YAML rule is added, listed (table and JSON), shown, disabled, enabled and deleted."""
    assert cli(database_url, "rules", "add", "--file", write(tmp_path, RULE, "r.yaml")) == 0
    out = capsys.readouterr().out
    rule_id = out.split()[2]
    assert "spend spike" in out and uuid.UUID(rule_id)
    assert cli(database_url, "rules", "list") == 0
    table = capsys.readouterr().out
    assert "spend spike" in table and "sum(total_cost, 60m) > 10" in table and "slack,log" in table
    assert cli(database_url, "rules", "list", "--json", "--environment", "production") == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["actions"][0]["config"]["webhookUrl"] == "env:SLACK_WEBHOOK_URL"
    assert listed["severity"] == "high"
    assert cli(database_url, "rules", "show", rule_id) == 0
    assert json.loads(capsys.readouterr().out)["id"] == rule_id
    assert cli(database_url, "rules", "disable", rule_id) == 0
    assert store.alert_rules.get(uuid.UUID(rule_id)).is_active is False
    assert cli(database_url, "rules", "enable", rule_id) == 0
    assert store.alert_rules.get(uuid.UUID(rule_id)).is_active is True
    assert cli(database_url, "rules", "delete", rule_id) == 0
    assert store.alert_rules.count() == 0


def _condition(**changes: Any) -> dict[str, Any]:
    return {**RULE, "conditions": [{**RULE["conditions"][0], **changes}]}


BAD_RULES = {
    "unknown type": ({**RULE, "type": "disk_full"}, "type"),
    "unknown operator": (_condition(operator="bigger"), "conditions.0.operator"),
    "zero window": (_condition(timeWindow=0), "conditions.0.timeWindow"),
    "negative window": (_condition(timeWindow=-5), "conditions.0.timeWindow"),
    "unknown aggregation": (_condition(aggregation="median"), "conditions.0.aggregation"),
    "aggregation the metric refuses": (
        {
            **RULE,
            "type": "error_rate",
            "conditions": [
                {
                    "metric": "error_rate",
                    "operator": "gt",
                    "value": 5,
                    "timeWindow": 5,
                    "aggregation": "sum",
                }
            ],
        },
        "aggregation: error_rate accepts avg",
    ),
    "unknown metric": (_condition(metric="vibes"), "metric: unknown metric 'vibes'"),
    "metric of another type": (
        {**RULE, "type": "error_rate"},
        "conditions.0.metric: 'total_cost' is not a metric of error_rate rules",
    ),
    "value not a number": (_condition(value="ten"), "conditions.0.value"),
    "no conditions": ({**RULE, "conditions": []}, "conditions"),
    "unknown frequency": ({**RULE, "frequency": "weekly"}, "frequency"),
    "unknown severity": ({**RULE, "severity": "urgent"}, "severity"),
    "unknown environment": ({**RULE, "environment": "qa"}, "environment"),
    "unknown action type": ({**RULE, "actions": [{"type": "pager"}]}, "actions.0"),
    "slack url in clear": (
        {**RULE, "actions": [{"type": "slack", "config": {"webhookUrl": SLACK_URL}}]},
        "actions.0.slack.config.webhookUrl: must be a secret reference",
    ),
    "smtp password in clear": (
        {
            **RULE,
            "actions": [
                {
                    "type": "email",
                    "config": {
                        "to": ["a@b.c"],
                        "from": "x@y.z",
                        "smtpHost": "h",
                        "username": "u",
                        "password": "very-secret",
                    },
                }
            ],
        },
        "actions.0.email.config.password",
    ),
    "zero repeat interval": ({**RULE, "repeat_interval_minutes": 0}, "repeat_interval_minutes"),
    "unknown key": ({**RULE, "colour": "red"}, "colour"),
}


@pytest.mark.parametrize(("document", "field"), list(BAD_RULES.values()), ids=list(BAD_RULES))
def test_bad_rules_are_rejected_naming_the_field(  # noqa: PLR0917
    database_url: str,
    store: PostgresStore,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    document: dict[str, Any],
    field: str,
) -> None:
    """An invalid rule: exit 2, one stderr line naming the field, no secret echoed, nothing stored."""
    assert cli(database_url, "rules", "add", "--file", write(tmp_path, document)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("llmops: error: ")
    assert field in err and "rules.0" not in err
    assert "very-secret" not in err and "Traceback" not in err
    assert store.alert_rules.count() == 0


def test_a_bad_rule_in_a_list_adds_none(
    database_url: str, store: PostgresStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In a list of rules, one invalid rule is named by its index and none of them is stored."""
    rules = [RULE, {**RULE, "frequency": "weekly"}]
    assert cli(database_url, "rules", "add", "--file", write(tmp_path, rules)) == 2
    assert "rules.1: frequency" in capsys.readouterr().err
    assert store.alert_rules.count() == 0
    assert cli(database_url, "rules", "add", "--file", write(tmp_path, [RULE, RULE])) == 0
    assert store.alert_rules.count() == 2


def test_unreadable_files_and_bad_ids(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Missing file, bad JSON, a non-object, a non-UUID and an unknown id: exit 2, one line."""
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{nope")
    cases = [
        (["rules", "add", "--file", str(tmp_path / "missing.json")], "missing.json"),
        (["rules", "add", "--file", str(bad_json)], "not valid JSON"),
        (["rules", "add", "--file", write(tmp_path, [1, 2])], "expected a rule object"),
        (["rules", "disable", "not-a-uuid"], "rule id: 'not-a-uuid' is not a UUID"),
        (["rules", "delete", str(uuid.uuid4())], "no alert rule with id"),
        (["ack", str(uuid.uuid4())], "no alert event with id"),
        (["events", "--limit", "0"], "--limit"),
    ]
    for args, message in cases:
        assert cli(database_url, *args) == 2, args
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (args, err)


def _spend(store: PostgresStore, usd: str, environment: str = "production") -> None:
    store.usage_logs.insert(
        UsageLog(
            environment=environment,  # type: ignore[arg-type]
            provider="openai",
            model="m",
            estimated_cost=Decimal(usd),
            success=True,
            created_at=datetime.now(UTC) - timedelta(minutes=2),
        )
    )


def test_check_events_ack_resolve(
    database_url: str,
    store: PostgresStore,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """check opens an event (Slack failure recorded), events lists it, ack then resolve it."""
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    assert cli(database_url, "rules", "add", "--file", write(tmp_path, RULE)) == 0
    _spend(store, "30")
    capsys.readouterr()
    assert cli(database_url, "check", "--environment", "staging", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []
    assert cli(database_url, "check", "--json") == 0
    [outcome] = json.loads(capsys.readouterr().out)
    assert outcome["result"] == "open" and outcome["metrics"] == {"total_cost": 30.0}
    slack, log = outcome["deliveries"]
    assert not slack["ok"] and "SLACK_WEBHOOK_URL" in slack["error"] and log["ok"]
    assert cli(database_url, "check") == 0
    assert "none" in capsys.readouterr().out

    assert cli(database_url, "events", "--status", "active", "--json") == 0
    [event] = json.loads(capsys.readouterr().out)
    assert event["severity"] == "high" and event["details"]["deliveries"][0]["ok"] is False
    assert cli(database_url, "events") == 0
    assert "spend spike" in capsys.readouterr().out
    assert cli(database_url, "ack", event["id"]) == 0
    assert "acknowledged" in capsys.readouterr().out
    assert cli(database_url, "events", "--status", "acknowledged", "--json") == 0
    assert len(json.loads(capsys.readouterr().out)) == 1
    assert cli(database_url, "resolve", event["id"], "--no-notify", "--json") == 0
    assert json.loads(capsys.readouterr().out)["status"] == "resolved"
    assert cli(database_url, "resolve", event["id"]) == 2
    assert "already resolved" in capsys.readouterr().err


def test_unreachable_database_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    """alerts check against a closed port: exit 3, one line, no password."""
    url = "postgresql://u:pw-secret@127.0.0.1:1/db"
    assert main(["--database-url", url, "alerts", "check"]) == 3
    err = capsys.readouterr().err
    assert "cannot connect" in err and "pw-secret" not in err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_stops_cleanly_on_signal(database_url: str, signum: int) -> None:
    """`alerts run` passes repeatedly and exits 0 with a closing line on SIGTERM / Ctrl-C."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmops.cli", "--database-url", database_url,
         "alerts", "run", "--interval", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "LLMOPS_DATABASE_URL": ""},
    )  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert "evaluating due rules every 0.2s" in first
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped after" in out and "Traceback" not in err


def test_run_refuses_a_bad_interval(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--interval 0 is refused naming the option."""
    assert cli(database_url, "run", "--interval", "0") == 2
    assert "--interval" in capsys.readouterr().err
