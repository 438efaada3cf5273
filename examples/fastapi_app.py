"""A small host application: a FastAPI endpoint that summarises text through AsyncLLMRouter.

It runs against FakeProvider, so it needs no API key::

    pip install -e '.[examples]'
    uvicorn examples.fastapi_app:app --port 8000
    curl -s localhost:8000/summarise -H 'content-type: application/json' \\
         -d '{"text": "The cat sat on the mat.", "session_id": "s-1"}'

With ``LLMOPS_DATABASE_URL`` set, every call is logged to PostgreSQL (fallback log, usage log)
by the router's background writer; without it nothing is stored. For real providers, replace
``demo_providers()`` with ``{"openai": OpenAIProvider(), "google": GeminiProvider()}``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, Field

from llmops import (
    AllProvidersFailed,
    AsyncLLMRouter,
    ConfigError,
    ContentFiltered,
    FallbackConfig,
    FallbackTarget,
    PostgresStore,
)
from llmops.providers import FakeProvider
from llmops.providers.fake import FakeReply

CONFIG = FallbackConfig(
    environment="local",
    primary_provider="openai",
    primary_model="gpt-4o-mini",
    fallback_providers=[FallbackTarget(provider="google", model="gemini-1.5-flash", priority=1)],
    max_retries=2,
    retry_delay=200,
)


def demo_providers() -> dict[str, FakeProvider]:
    """Stand-ins for OpenAI and Gemini that answer with the first sentence of the text."""

    def first_sentence(request: Any) -> FakeReply:
        text = request.messages[-1].content
        return FakeReply(text=text.split(".")[0].strip() + ".", input_tokens=len(text) // 4)

    return {
        "openai": FakeProvider(handler=first_sentence),
        "google": FakeProvider(handler=first_sentence),
    }


class SummariseIn(BaseModel):
    text: str = Field(min_length=1, max_length=100_000)
    session_id: str | None = Field(default=None, max_length=100)


class SummariseOut(BaseModel):
    summary: str
    provider: str
    model: str
    cost_usd: float | None
    latency_ms: float
    fallback_used: bool


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    url = os.environ.get("LLMOPS_DATABASE_URL")
    store = PostgresStore.connect(url) if url else None
    app.state.router = AsyncLLMRouter(CONFIG, app.state.providers, store=store, deadline=30)
    try:
        yield
    finally:
        await app.state.router.aclose()  # flushes pending log rows
        if store is not None:
            store.close()


def create_app(providers: dict[str, Any] | None = None) -> FastAPI:
    """The application; ``providers`` defaults to the FakeProvider pair."""
    app = FastAPI(title="summariser", lifespan=lifespan)
    app.state.providers = providers or demo_providers()

    @app.post("/summarise")
    async def summarise(body: SummariseIn, request: Request) -> SummariseOut:
        router: AsyncLLMRouter = request.app.state.router
        try:
            c = await router.complete(
                [{"role": "user", "content": body.text}], session_id=body.session_id
            )
        except ContentFiltered as exc:
            raise HTTPException(422, f"refused by the provider: {exc.reason}") from exc
        except AllProvidersFailed as exc:
            raise HTTPException(503, "no provider could answer; try again shortly") from exc
        except ConfigError as exc:
            raise HTTPException(400, str(exc)) from exc
        return SummariseOut(
            summary=c.text,
            provider=c.provider,
            model=c.model,
            cost_usd=float(c.cost_usd) if c.cost_usd is not None else None,
            latency_ms=c.latency_ms,
            fallback_used=c.fallback_used,
        )

    @app.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        h = request.app.state.router.health()
        return {
            "targets": [{"target": f"{t.provider}/{t.model}", "state": t.state} for t in h.targets]
        }

    return app


app = create_app()
