"""`llmops ab ...`: create, list, show, stop, coverage, quality, report, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from llmops.cli import main
from llmops.store import PostgresStore

DEFINITION: dict[str, Any] = {
    "name": "flash-vs-mini",
    "environment": "staging",
    "variants": [
        {
            "id": "variant_a",
            "name": "Gemini Flash",
            "config": {"provider": "google", "model": "gemini-1.5-flash"},
            "weight": 50,
        },
        {
            "id": "variant_b",
            "name": "GPT-4o mini",
            "config": {"provider": "openai", "model": "gpt-4o-mini"},
            "weight": 50,
        },
    ],
    "traffic_split": {"coverage": 0.5, "unitKey": "user"},
    "start_date": "2026-01-01T00:00:00Z",
    "metrics": {
        "primaryMetric": "cost",
        "trackMetrics": ["cost", "success_rate"],
        "sampleSize": 10,
        "confidenceLevel": 95,
    },
}


def _file(tmp_path: Path, doc: Any, name: str = "test.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


def _ab(url: str, *args: str) -> int:
    return main(["--database-url", url, "ab", *args])


def test_create_list_show_stop(
    store: PostgresStore, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The lifecycle through the CLI, in text and JSON."""
    assert _ab(database_url, "create", "--file", _file(tmp_path, DEFINITION)) == 0
    assert "created A/B test 'flash-vs-mini'" in capsys.readouterr().out
    assert _ab(database_url, "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in listed] == ["flash-vs-mini"]
    split = listed[0]["traffic_split"]
    assert (split["coverage"], split["unitKey"], split["hashVersion"]) == (0.5, "user", 2)
    assert _ab(database_url, "list") == 0
    assert "flash-vs-mini  staging      active" in capsys.readouterr().out
    assert _ab(database_url, "show", "flash-vs-mini") == 0
    shown = capsys.readouterr().out
    assert "unit key user, coverage 0.5" in shown and "gpt-4o-mini" in shown
    assert _ab(database_url, "coverage", "flash-vs-mini", "1") == 0
    assert "coverage 1" in capsys.readouterr().out
    assert _ab(database_url, "stop", "flash-vs-mini") == 0
    assert "stopped" in capsys.readouterr().out
    assert _ab(database_url, "list", "--active", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []


def test_create_from_yaml(
    store: PostgresStore, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A YAML definition is accepted like JSON."""
    import yaml

    path = tmp_path / "test.yaml"
    path.write_text(yaml.safe_dump(DEFINITION), encoding="utf-8")
    assert _ab(database_url, "create", "-f", str(path), "--json") == 0
    assert json.loads(capsys.readouterr().out)["name"] == "flash-vs-mini"


def test_report_json_and_text(
    store: PostgresStore, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """report --json has the documented shape; the text report shows the recommendation."""
    assert _ab(database_url, "create", "--file", _file(tmp_path, DEFINITION), "--json") == 0
    test_id = json.loads(capsys.readouterr().out)["id"]
    with store.connection() as conn:
        for i in range(40):
            variant = "variant_a" if i % 2 else "variant_b"
            cost = 0.002 if variant == "variant_a" else 0.001
            conn.execute(
                "INSERT INTO ab_test_results (test_id, variant_id, content_hash, "
                "estimated_cost, processing_time, success) VALUES (%s, %s, %s, %s, %s, %s)",
                (test_id, variant, "0" * 64, cost + i * 1e-6, 300 + i, i % 7 != 0),
            )
    assert _ab(database_url, "report", "flash-vs-mini", "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["test_id"] == test_id and doc["primary_metric"] == "cost"
    assert doc["confidence_level"] == 95
    assert set(doc["srm"]) >= {"p_value", "mismatch"}
    assert [v["n"] for v in doc["variants"]] == [20, 20]
    assert {c["metric"] for c in doc["comparisons"]} == {"cost", "success_rate"}
    assert doc["recommendation"]["status"] == "winner"
    assert doc["recommendation"]["winner"] == "variant_b"
    assert _ab(database_url, "report", test_id) == 0
    text = capsys.readouterr().out
    assert "recommendation: winner: variant_b beats variant_a on cost" in text


def test_quality_command(
    store: PostgresStore, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """quality records a score for a not-yet-written result and says so."""
    rid = str(uuid.uuid4())
    assert _ab(database_url, "quality", rid, "0.8") == 0
    assert "not stored yet" in capsys.readouterr().out
    assert _ab(database_url, "quality", rid, "1.5") == 2
    assert "score: must be a number between 0 and 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "case",
    [
        ({"variants": DEFINITION["variants"][:1]}, "variants"),
        ({"metrics": {**DEFINITION["metrics"], "confidenceLevel": 100}}, "metrics.confidenceLevel"),
        ({"traffic_split": {"coverage": 2}}, "traffic_split.coverage"),
        ({"end_date": "2025-01-01T00:00:00Z"}, "end_date"),
    ],
)
def test_invalid_definition_one_line_exit_2(
    store: PostgresStore,
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: tuple[dict[str, Any], str],
) -> None:
    """An invalid file: exit 2, one stderr line naming the field, nothing stored."""
    change, expected = case
    assert _ab(database_url, "create", "--file", _file(tmp_path, {**DEFINITION, **change})) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err
    assert store.ab_tests.count() == 0


def test_bad_files_and_unknown_tests(
    store: PostgresStore, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Missing file, invalid JSON, a non-object, an unknown test: exit 2 with one clear line."""
    assert _ab(database_url, "create", "--file", str(tmp_path / "nope.json")) == 2
    assert "nope.json" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert _ab(database_url, "create", "--file", str(bad)) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert _ab(database_url, "create", "--file", _file(tmp_path, [1, 2])) == 2
    assert "must be a JSON/YAML object" in capsys.readouterr().err
    for action in ("show", "stop", "report"):
        assert _ab(database_url, action, "missing-test") == 2
        assert "missing-test" in capsys.readouterr().err


def test_no_traceback_in_a_real_process(database_url: str, store: PostgresStore) -> None:
    """Run as a process: an unknown test is one line on stderr, exit 2, no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "llmops.cli", "--database-url", database_url, "ab", "report", "x"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
