"""Hot reload: routers built with ``from_store(watch=True)`` follow the active config live."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmops.configs import ConfigService
from llmops.errors import ProviderUnavailable
from llmops.providers.base import CompletionRequest
from llmops.providers.fake import FakeProvider, FakeReply
from llmops.router import AsyncLLMRouter, LLMRouter
from llmops.store import PostgresStore
from llmops.watch import WATCHER_APPLICATION_NAME

pytestmark = pytest.mark.filterwarnings("ignore::llmops.pricing.UnknownModelPriceWarning")

ENV = "staging"
MESSAGES = [{"role": "user", "content": "hello"}]


def doc(primary: str, model: str, *fallbacks: tuple[str, str], **changes: Any) -> dict[str, Any]:
    return {
        "environment": ENV,
        "primary_provider": primary,
        "primary_model": model,
        "fallback_providers": [
            {"provider": p, "model": m, "priority": i} for i, (p, m) in enumerate(fallbacks, 1)
        ],
        "retry_delay": 0,
        **changes,
    }


def wait_for(predicate: Any, timeout: float = 5.0) -> float:
    """Seconds until ``predicate()`` is true; fails the test after ``timeout``."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(0.005)
    return time.monotonic() - started


@pytest.fixture
def service(store: PostgresStore) -> ConfigService:
    return ConfigService(store, actor="hot-reload-test")


def providers() -> dict[str, FakeProvider]:
    return {
        "openai": FakeProvider(handler=lambda r: FakeReply(text=f"openai:{r.model}")),
        "google": FakeProvider(handler=lambda r: FakeReply(text=f"google:{r.model}")),
    }


def test_activation_switches_a_watching_router(
    store: PostgresStore, service: ConfigService
) -> None:
    """A new active config reaches the router; the next call routes on it."""
    service.apply(doc("openai", "gpt-a"), activate=True)
    b = service.apply(doc("google", "gem-b", ("openai", "gpt-a"))).config
    with LLMRouter.from_store(store, ENV, providers(), watch=True) as router:
        assert router.watcher is not None and router.watcher.wait_connected(5)
        assert router.complete(MESSAGES).text == "openai:gpt-a"
        assert b.id
        service.activate(b.id)
        wait_for(lambda: router.config.id == b.id)
        result = router.complete(MESSAGES)
        assert (result.provider, result.model) == ("google", "gem-b")


def test_call_in_flight_finishes_on_the_old_config(
    store: PostgresStore, service: ConfigService
) -> None:
    """A call blocked inside the provider during the switch completes on the config it started on."""
    entered, release = threading.Event(), threading.Event()

    def slow_openai(request: CompletionRequest) -> FakeReply:
        entered.set()
        assert release.wait(10)
        return FakeReply(text=f"openai:{request.model}")

    impls = providers()
    impls["openai"] = FakeProvider(handler=slow_openai)
    service.apply(doc("openai", "gpt-a", max_retries=1), activate=True)
    b = service.apply(doc("google", "gem-b", max_retries=2)).config
    assert b.id
    with LLMRouter.from_store(store, ENV, impls, watch=True) as router:
        assert router.watcher is not None and router.watcher.wait_connected(5)
        results: list[Any] = []
        caller = threading.Thread(target=lambda: results.append(router.complete(MESSAGES)))
        caller.start()
        assert entered.wait(5)
        service.activate(b.id)
        wait_for(lambda: router.config.id == b.id)
        assert router.complete(MESSAGES).provider == "google"  # new calls: the new config
        release.set()
        caller.join(10)
        (old,) = results
        assert (old.provider, old.model, old.text) == ("openai", "gpt-a", "openai:gpt-a")


def test_breakers_of_remaining_targets_keep_their_state(
    store: PostgresStore, service: ConfigService
) -> None:
    """An open breaker stays open across a reload that keeps its target; thresholds update."""
    impls = providers()
    impls["openai"] = FakeProvider(default=ProviderUnavailable("down", status_code=503))
    service.apply(
        doc("openai", "gpt-a", ("google", "gem-b"), max_retries=1, circuit_breaker_threshold=2),
        activate=True,
    )
    c = service.apply(
        doc("openai", "gpt-a", ("google", "gem-c"), max_retries=1, circuit_breaker_threshold=3)
    ).config
    assert c.id
    with LLMRouter.from_store(store, ENV, impls, watch=True) as router:
        assert router.watcher is not None and router.watcher.wait_connected(5)
        for _ in range(2):
            assert router.complete(MESSAGES).provider == "google"
        states = {(t.provider, t.model): t.state for t in router.health().targets}
        assert states[("openai", "gpt-a")] == "open"
        calls_before = impls["openai"].calls
        service.activate(c.id)
        wait_for(lambda: router.config.id == c.id)
        result = router.complete(MESSAGES)
        assert (result.provider, result.model) == ("google", "gem-c")
        assert impls["openai"].calls == calls_before  # still open: skipped without a call
        states = {(t.provider, t.model): t.state for t in router.health().targets}
        assert states[("openai", "gpt-a")] == "open"
        assert router._core.board.get("openai", "gpt-a").failure_threshold == 3


def test_config_this_router_cannot_serve_is_refused_and_old_one_kept(
    store: PostgresStore, service: ConfigService, caplog: pytest.LogCaptureFixture
) -> None:
    """A config naming a provider the router lacks is logged and ignored; routing continues."""
    a = service.apply(doc("openai", "gpt-a"), activate=True).config
    b = service.apply(doc("google", "gem-b")).config
    assert b.id
    only_openai = {"openai": providers()["openai"]}
    with LLMRouter.from_store(store, ENV, only_openai, watch=True) as router:
        assert router.watcher is not None and router.watcher.wait_connected(5)
        service.activate(b.id)
        wait_for(lambda: router.watcher is not None and router.watcher.stats.rejected == 1)
        assert router.config.id == a.id
        assert router.complete(MESSAGES).provider == "openai"
    assert any("is not a key of providers" in r.getMessage() for r in caplog.records)


def test_killed_listen_connection_still_converges(
    store: PostgresStore, service: ConfigService
) -> None:
    """pg_terminate_backend on the router's LISTEN connection, then an activation: it converges."""
    service.apply(doc("openai", "gpt-a"), activate=True)
    b = service.apply(doc("google", "gem-b")).config
    assert b.id
    with LLMRouter.from_store(store, ENV, providers(), watch=True, recheck_interval=0.5) as router:
        watcher = router.watcher
        assert watcher is not None and watcher.wait_connected(5)
        with store.connection() as c:
            killed = c.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s AND pid = %s",
                (WATCHER_APPLICATION_NAME, watcher.stats.backend_pid),
            ).fetchall()
        assert killed == [(True,)]
        service.activate(b.id)
        elapsed = wait_for(lambda: router.config.id == b.id, timeout=10)
        print(f"converged {elapsed:.2f}s after the activation, over a killed LISTEN connection")
        assert watcher.stats.connections >= 2


def test_close_stops_the_watcher(store: PostgresStore, service: ConfigService) -> None:
    """close() ends the watcher thread; a later activation no longer reaches the router."""
    a = service.apply(doc("openai", "gpt-a"), activate=True).config
    router = LLMRouter.from_store(store, ENV, providers(), watch=True)
    watcher = router.watcher
    assert watcher is not None and watcher.wait_connected(5)
    router.close()
    assert not watcher.stats.connected
    b = service.apply(doc("google", "gem-b"), activate=True).config
    time.sleep(0.3)  # would be ample for a live watcher (notify arrives in milliseconds)
    assert router.config.id == a.id != b.id


def test_async_router_follows_the_active_config(
    store: PostgresStore, service: ConfigService
) -> None:
    """AsyncLLMRouter.from_store(watch=True) switches too, without blocking its loop."""
    service.apply(doc("openai", "gpt-a"), activate=True)
    b = service.apply(doc("google", "gem-b")).config
    assert b.id

    async def scenario() -> str:
        router = AsyncLLMRouter.from_store(store, ENV, providers(), watch=True)
        try:
            assert router.watcher is not None and router.watcher.wait_connected(5)
            assert (await router.complete(MESSAGES)).provider == "openai"
            await asyncio.to_thread(service.activate, b.id)  # type: ignore[arg-type]
            for _ in range(500):
                if router.config.id == b.id:
                    break
                await asyncio.sleep(0.01)
            return (await router.complete(MESSAGES)).provider
        finally:
            await router.aclose()

    assert asyncio.run(scenario()) == "google"


def test_without_watch_the_router_keeps_its_config(
    store: PostgresStore, service: ConfigService
) -> None:
    """from_store() without watch=True starts no watcher and never changes config."""
    a = service.apply(doc("openai", "gpt-a"), activate=True).config
    with LLMRouter.from_store(store, ENV, providers()) as router:
        assert router.watcher is None
        service.apply(doc("google", "gem-b"), activate=True)
        time.sleep(0.2)
        assert router.config.id == a.id


# -- two processes ----------------------------------------------------------------------------

WORKER = textwrap.dedent(
    """
    import json, sys, threading, time
    from llmops.providers.fake import FakeProvider, FakeReply
    from llmops.router import LLMRouter
    from llmops.store import PostgresStore

    dsn, env = sys.argv[1], sys.argv[2]
    release, entered = threading.Event(), threading.Event()
    blocking = {"on": False}
    out_lock = threading.Lock()

    def say(**event):
        with out_lock:
            print(json.dumps(event), flush=True)

    def openai(request):
        if blocking["on"]:
            blocking["on"] = False
            entered.set()
            release.wait(30)
        return FakeReply(text="openai")

    providers = {
        "openai": FakeProvider(handler=openai),
        "google": FakeProvider(handler=lambda r: FakeReply(text="google")),
    }
    store = PostgresStore.connect(dsn, max_size=2)
    router = LLMRouter.from_store(store, env, providers, watch=True, recheck_interval=1.0)
    router.watcher.wait_connected(10)
    say(event="ready", config=str(router.config.id), pid=router.watcher.stats.backend_pid)

    def monitor():
        seen = router.config.id
        while True:
            current = router.config.id
            if current != seen:
                say(event="switched", config=str(current), t=time.time())
                seen = current
            time.sleep(0.002)

    threading.Thread(target=monitor, daemon=True).start()

    def call(tag):
        r = router.complete([{"role": "user", "content": "hi"}])
        say(event="result", tag=tag, provider=r.provider, model=r.model)

    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "block":
            blocking["on"] = True
            threading.Thread(target=call, args=("inflight",)).start()
            entered.wait(10)
            say(event="blocked")
        elif cmd == "release":
            release.set()
        elif cmd == "call":
            call("call")
        elif cmd == "quit":
            break
    router.close()
    store.close()
    say(event="bye")
    """
)


class Worker:
    """A router in a subprocess, driven by stdin lines, reporting JSON lines on stdout."""

    def __init__(self, script: Path, dsn: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(script), dsn, ENV],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.put(json.loads(line))

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def expect(self, event: str, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                got = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                err = (
                    self.proc.stderr.read()
                    if self.proc.poll() is not None and self.proc.stderr
                    else ""
                )
                pytest.fail(f"worker sent no {event!r} within {timeout}s {err}")
            if got["event"] == event:
                return got

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.send("quit")
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def workers(tmp_path: Path, database_url: str) -> Iterator[list[Worker]]:
    script = tmp_path / "hot_reload_worker.py"
    script.write_text(WORKER, encoding="utf-8")
    started = [Worker(script, database_url), Worker(script, database_url)]
    yield started
    for w in started:
        w.stop()


def test_cli_activation_switches_two_router_processes(
    service: ConfigService, database_url: str, workers: list[Worker]
) -> None:
    """`llmops config activate` reaches routers in two processes within 2 s; a call blocked in
    one of them during the switch finishes on the old config."""
    a = service.apply(doc("openai", "gpt-a"), activate=True).config
    b = service.apply(doc("google", "gem-b")).config
    for w in workers:
        assert w.expect("ready")["config"] == str(a.id)
    first = workers[0]
    first.send("block")
    first.expect("blocked")

    env = {**os.environ, "LLMOPS_ACTOR": "two-process-test"}
    cli_started = time.time()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmops.cli",
            "--database-url",
            database_url,
            "config",
            "activate",
            str(b.id),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    cli_finished = time.time()
    assert done.returncode == 0, done.stderr
    lags = []
    for w in workers:
        switched = w.expect("switched", timeout=10)
        assert switched["config"] == str(b.id)
        lags.append(switched["t"] - cli_started)
    print(
        f"`llmops config activate` ran {cli_finished - cli_started:.3f}s (process start to exit); "
        "routers switched "
        + ", ".join(f"{lag:.3f}s" for lag in lags)
        + " after the CLI was started"
    )
    assert all(lag < 2.0 for lag in lags), lags

    for w in workers:
        w.send("call")
        assert w.expect("result")["provider"] == "google"
    first.send("release")
    inflight = first.expect("result")
    assert (inflight["tag"], inflight["provider"], inflight["model"]) == (
        "inflight",
        "openai",
        "gpt-a",
    )
    assert service.history(limit=1)[0].actor == "two-process-test"


@pytest.mark.parametrize("mode", ["merge", "replace"])
def test_restoring_a_backup_that_changes_the_active_config_is_picked_up(
    store: PostgresStore, service: ConfigService, mode: str
) -> None:
    """Restoring a backup taken while config A was active brings a router running B back to A."""
    from llmops.backup import BackupManager

    a = service.apply(doc("openai", "gpt-a"), activate=True).config
    backups = BackupManager(store)
    backup = backups.create(ENV, "hot-reload-test", "before switching to B")
    b = service.apply(doc("google", "gem-b")).config
    assert b.id
    with LLMRouter.from_store(store, ENV, providers(), watch=True) as router:
        assert router.watcher is not None and router.watcher.wait_connected(5)
        service.activate(b.id)
        wait_for(lambda: router.config.id == b.id)
        backups.restore(backup.id, mode=mode)  # type: ignore[arg-type]
        assert service.active(ENV) is not None and service.active(ENV).id == a.id  # type: ignore[union-attr]
        elapsed = wait_for(lambda: router.config.id == a.id)
        print(f"{mode} restore reached the router in {elapsed * 1000:.0f} ms")
        assert router.complete(MESSAGES).provider == "openai"
