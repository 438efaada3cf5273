"""The example host application (examples/fastapi_app.py) serves through AsyncLLMRouter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from examples.fastapi_app import create_app, demo_providers
from llmops.errors import ContentFiltered, ProviderUnavailable
from llmops.providers import FakeProvider
from llmops.store import PostgresStore


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.delenv("LLMOPS_DATABASE_URL", raising=False)
    with TestClient(create_app()) as c:
        yield c


def test_summarise_answers_from_the_primary(client: TestClient) -> None:
    """POST /summarise returns the provider's text, the serving target and its cost."""
    r = client.post("/summarise", json={"text": "The cat sat. It was happy.", "session_id": "s1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["summary"] == "The cat sat."
    assert (body["provider"], body["model"], body["fallback_used"]) == (
        "openai",
        "gpt-4o-mini",
        False,
    )
    assert body["cost_usd"] > 0


def test_outage_of_the_primary_is_served_by_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the primary down, answers come from the fallback and health shows the open breaker."""
    monkeypatch.delenv("LLMOPS_DATABASE_URL", raising=False)
    providers = demo_providers()
    providers["openai"] = FakeProvider(
        default=ProviderUnavailable("503", status_code=503), sleep=lambda _s: None
    )
    with TestClient(create_app(providers)) as c:
        bodies = [c.post("/summarise", json={"text": f"Doc {i}. More."}).json() for i in range(3)]
        health = c.get("/health").json()
    assert {b["provider"] for b in bodies} == {"google"}
    assert all(b["fallback_used"] for b in bodies)
    assert {"target": "openai/gpt-4o-mini", "state": "open"} in health["targets"]


def test_errors_map_to_http_statuses(monkeypatch: pytest.MonkeyPatch) -> None:
    """A content filter is a 422 with the provider's reason; invalid input is a 422 from FastAPI."""
    monkeypatch.delenv("LLMOPS_DATABASE_URL", raising=False)
    providers = demo_providers()
    providers["openai"] = FakeProvider(default=ContentFiltered("blocked", reason="SAFETY"))
    with TestClient(create_app(providers)) as c:
        refused = c.post("/summarise", json={"text": "Something."})
        empty = c.post("/summarise", json={"text": ""})
    assert refused.status_code == 422 and "SAFETY" in refused.json()["detail"]
    assert empty.status_code == 422


def test_calls_are_logged_when_a_database_is_configured(
    database_url: str, store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With LLMOPS_DATABASE_URL set, shutting the app down flushes one log row per call."""
    monkeypatch.setenv("LLMOPS_DATABASE_URL", database_url)
    with TestClient(create_app()) as c:
        for i in range(5):
            assert c.post("/summarise", json={"text": f"Doc {i}. More."}).status_code == 200
    assert store.usage_logs.count() == 5 and store.fallback_logs.count() == 5
