"""`llmops config` and `llmops settings`: the operator's view, errors as one line naming the field."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmops.cli import main
from llmops.store import PostgresStore

CONFIG = {
    "environment": "production",
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

CONFIG_YAML = """\
environment: production
primary_provider: google
primary_model: gemini-1.5-pro
max_retries: 2
fallback_providers:
  - provider: openai
    model: gpt-4o-mini
    priority: 1
    config: {temperature: 0.2}
"""


class CLI:
    """Runs `llmops` in-process against the test database and returns (code, out, err)."""

    def __init__(self, url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        self.url, self.capsys, self.tmp = url, capsys, tmp_path

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(["--database-url", self.url, *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *args: str) -> Any:
        code, out, err = self(*args, "--json")
        assert code == 0, err
        return json.loads(out)

    def file(self, name: str, content: Any) -> str:
        path = self.tmp / name
        path.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")
        return str(path)


@pytest.fixture
def cli(
    store: PostgresStore, database_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> CLI:
    return CLI(database_url, capsys, tmp_path)


def rows(store: PostgresStore) -> tuple[Any, ...]:
    with store.connection() as c:
        return tuple(
            c.execute(f"SELECT coalesce(json_agg(t ORDER BY t.id), '[]') FROM {t} t").fetchone()
            for t in ("llm_fallback_configs", "llm_settings", "llm_config_audit")
        )


def test_apply_list_show_and_round_trip(cli: CLI) -> None:
    """apply creates, list shows the chain, `show` output edited and applied updates in place."""
    created = cli.json("config", "apply", "--file", cli.file("c.json", CONFIG), "--activate")
    assert (created["outcome"], created["activated"]) == ("created", True)
    code, out, _ = cli("config", "list")
    assert code == 0 and "openai/gpt-4o-mini -> google/gemini-1.5-flash" in out and "yes" in out
    listed = cli.json("config", "list", "--environment", "production")
    assert [c["id"] for c in listed] == [created["id"]]
    assert cli.json("config", "list", "--environment", "staging") == []

    code, shown, _ = cli("config", "show", created["id"])
    document = json.loads(shown)
    document["max_retries"] = 6
    updated = cli.json("config", "apply", "--file", cli.file("edited.json", document))
    assert (updated["id"], updated["outcome"], updated["active"]) == (
        created["id"],
        "updated",
        True,
    )
    assert updated["changes"] == [
        {"path": "max_retries", "change": "changed", "before": 3, "after": 6}
    ]
    again = cli.json("config", "apply", "--file", cli.file("edited.json", document))
    assert again["outcome"] == "unchanged"


def test_activate_diff_delete_and_history(cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    """activate swaps, diff lists changes, delete refuses the active config, history names actors."""
    monkeypatch.setenv("LLMOPS_ACTOR", "ops-bot")
    a = cli.json("config", "apply", "-f", cli.file("a.json", CONFIG), "--activate")["id"]
    b = cli.json("config", "apply", "-f", cli.file("b.yaml", CONFIG_YAML), "--actor", "alice")["id"]

    code, out, _ = cli("config", "diff", a, b)
    assert code == 0
    assert out.splitlines() == [
        "~ primary_provider: 'openai' -> 'google'",
        "~ primary_model: 'gpt-4o-mini' -> 'gemini-1.5-pro'",
        '- fallback_providers[google/gemini-1.5-flash]: {"config": {"max_tokens": 1000, '
        '"temperature": 0.7}, "model": "gemini-1.5-flash", "priority": 1, "provider": "google"}',
        '+ fallback_providers[openai/gpt-4o-mini]: {"config": {"temperature": 0.2}, '
        '"model": "gpt-4o-mini", "priority": 1, "provider": "openai"}',
        "~ max_retries: 3 -> 2",
    ]
    code, out, _ = cli("config", "activate", b, "--actor", "bob")
    assert code == 0 and out.startswith(f"active config of production: {b}")

    code, out, err = cli("config", "delete", b)
    assert code == 2 and out == ""
    assert err == (
        f"llmops: error: fallback config {b} is the active config of production; "
        "activate another one before deleting it\n"
    )
    code, out, _ = cli("config", "delete", a, "--actor", "carol")
    assert code == 0 and out == f"deleted {a} (production)\n"

    history = cli.json("config", "history")
    assert [(e["action"], e["actor"]) for e in history] == [
        ("delete", "carol"),
        ("activate", "bob"),
        ("create", "alice"),
        ("activate", "ops-bot"),
        ("create", "ops-bot"),
    ]
    assert history[1]["details"]["previous_id"] == a
    code, out, _ = cli("config", "history", "--id", a)
    assert code == 0 and len(out.splitlines()) == 2 + 3  # header, rule, three entries


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"primary_provider": "opnai"},
            "primary_provider: unknown provider 'opnai' (known: google, openai)",
        ),
        (
            {
                "fallback_providers": [
                    {"provider": "google", "model": "a", "priority": 1},
                    {"provider": "google", "model": "b", "priority": 1},
                ]
            },
            "fallback_providers.1.priority: 1 is already used by fallback_providers.0; "
            "priorities must be unique",
        ),
        ({"max_retries": 11}, "max_retries: Input should be less than or equal to 10"),
        (
            {"fallback_providers": [{"provider": "google", "priority": 1}]},
            "fallback_providers.0.model: Field required",
        ),
        (
            {"environment": "prod"},
            "environment: Input should be 'local', 'staging' or 'production'",
        ),
    ],
)
def test_invalid_documents_are_one_line_exit_2_and_change_nothing(
    cli: CLI, store: PostgresStore, changes: dict[str, Any], message: str
) -> None:
    """Unknown provider, duplicate priority, max_retries 11, missing model: refused, DB unchanged."""
    active = cli.json("config", "apply", "-f", cli.file("ok.json", CONFIG), "--activate")["id"]
    before = rows(store)
    bad = cli.file("bad.json", {**CONFIG, "id": active, **changes})
    code, out, err = cli("config", "apply", "--file", bad, "--activate")
    assert (code, out) == (2, "")
    assert err == f"llmops: error: {message}\n"
    assert rows(store) == before


def test_cli_error_is_one_line_without_traceback(cli: CLI, database_url: str) -> None:
    """The real console entry point: an invalid file gives exit 2 and one stderr line."""
    path = cli.file("bad.json", {**CONFIG, "primary_provider": "opnai", "max_retries": 11})
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmops.cli",
            "--database-url",
            database_url,
            "config",
            "apply",
            "--file",
            path,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "max_retries:" in result.stderr and "primary_provider: unknown provider" in result.stderr


def test_dry_run_validates_and_diffs_without_writing(cli: CLI, store: PostgresStore) -> None:
    """--dry-run compares with the active config and writes nothing."""
    cli.json("config", "apply", "-f", cli.file("a.json", CONFIG), "--activate")
    before = rows(store)
    preview = cli.json("config", "apply", "-f", cli.file("b.yaml", CONFIG_YAML), "--dry-run")
    assert preview["valid"] is True and len(preview["changes"]) == 5
    assert rows(store) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("config", "show", "not-a-uuid"), "id: 'not-a-uuid' is not a UUID"),
        (
            ("config", "activate", "00000000-0000-0000-0000-000000000000"),
            "llm_fallback_configs: no row with id 00000000-0000-0000-0000-000000000000",
        ),
        (
            ("config", "apply", "--file", "/nonexistent/c.json"),
            "/nonexistent/c.json: No such file or directory",
        ),
        (
            ("settings", "delete", "00000000-0000-0000-0000-000000000000"),
            "llm_settings 00000000-0000-0000-0000-000000000000 does not exist",
        ),
    ],
)
def test_user_mistakes_exit_2_with_one_line(cli: CLI, args: tuple[str, ...], message: str) -> None:
    """Bad ids, unknown rows and unreadable files: exit 2 and the reason."""
    code, out, err = cli(*args)
    assert (code, out, err) == (2, "", f"llmops: error: {message}\n")


def test_unparseable_file_names_the_file(cli: CLI) -> None:
    """A file that is not JSON is refused with its name and exit 2."""
    code, _, err = cli("config", "apply", "--file", cli.file("broken.json", "{nope"))
    assert code == 2 and err.startswith("llmops: error: ") and "broken.json: not valid JSON" in err


def test_settings_apply_list_show_delete(cli: CLI, store: PostgresStore) -> None:
    """settings apply takes a list in one transaction; list/show/delete/history work on it."""
    docs = [
        {
            "environment": "production",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "parameters": {"temperature": 0.3},
            "api_key_ref": "env:OPENAI_API_KEY",
        },
        {
            "environment": "production",
            "provider": "google",
            "model": "gemini-1.5-flash",
            "parameters": {"max_tokens": 500},
        },
    ]
    applied = cli.json("settings", "apply", "--file", cli.file("s.json", docs), "--actor", "ops")
    assert [a["outcome"] for a in applied] == ["created", "created"]
    code, out, _ = cli("settings", "list")
    assert code == 0 and "env:OPENAI_API_KEY" in out and "temperature=0.3" in out
    shown = cli.json("settings", "show", applied[0]["id"])
    assert shown["parameters"]["temperature"] == 0.3

    before = rows(store)
    docs[1]["parameters"] = {"top_k": 5, "temperature": 3}
    code, out, err = cli("settings", "apply", "--file", cli.file("bad.json", docs))
    assert (code, out) == (2, "")
    assert (
        err == "llmops: error: 1.parameters.temperature: Input should be less than or equal to 2; "
        "1.parameters.top_k: Extra inputs are not permitted\n"
    )
    assert rows(store) == before

    code, out, _ = cli("settings", "delete", applied[1]["id"], "--actor", "ops2")
    assert code == 0 and out.startswith("deleted")
    history = cli.json("settings", "history")
    assert [(e["action"], e["actor"]) for e in history] == [
        ("delete", "ops2"),
        ("create", "ops"),
        ("create", "ops"),
    ]


def test_help_lists_the_groups() -> None:
    """`llmops --help` names config and settings."""
    result = subprocess.run(
        [sys.executable, "-m", "llmops.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "config" in result.stdout and "settings" in result.stdout


def test_cli_knows_adapters_named_in_llmops_providers(cli: CLI, database_url: str) -> None:
    """With LLMOPS_PROVIDERS the CLI validates a user adapter's name and parameters."""
    env = {**os.environ, "LLMOPS_PROVIDERS": "mine=tests.test_validation:DeclaredAdapter"}
    target = {"provider": "mine", "model": "m", "priority": 1, "config": {"temperature": 0.5}}

    def apply(document: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "llmops.cli",
                "--database-url",
                database_url,
                "config",
                "apply",
                "--file",
                cli.file("mine.json", document),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=env,
            cwd=Path(__file__).resolve().parent.parent,  # tests.test_validation importable
        )

    ok = apply({**CONFIG, "fallback_providers": [target]})
    assert ok.returncode == 0, ok.stderr
    refused = apply({**CONFIG, "fallback_providers": [{**target, "config": {"max_tokens": 5}}]})
    assert refused.returncode == 2
    assert refused.stderr == (
        "llmops: error: fallback_providers.0.config.max_tokens: not accepted by provider "
        "'mine' (accepts: temperature)\n"
    )
