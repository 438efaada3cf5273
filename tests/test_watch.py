"""ConfigWatcher on a real PostgreSQL: notifications, the re-check safety net, reconnects."""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Iterator
from typing import Any

import pytest

from llmops.configs import ConfigService
from llmops.errors import ConfigError
from llmops.models import FallbackConfig
from llmops.store import PostgresStore
from llmops.watch import WATCHER_APPLICATION_NAME, ConfigWatcher, reconnect_delay

ENV = "staging"


def doc(model: str, **changes: Any) -> dict[str, Any]:
    return {"environment": ENV, "primary_provider": "openai", "primary_model": model, **changes}


class Recorder:
    """on_change that records configs; refuses models listed in ``refuse``."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.seen: queue.Queue[FallbackConfig] = queue.Queue()
        self.refuse = refuse or set()

    def __call__(self, config: FallbackConfig) -> None:
        if config.primary_model in self.refuse:
            raise ConfigError(f"primary_model: {config.primary_model} refused by the test")
        self.seen.put(config)

    def next(self, timeout: float = 5.0) -> FallbackConfig:
        return self.seen.get(timeout=timeout)


@pytest.fixture
def service(store: PostgresStore) -> ConfigService:
    return ConfigService(store, actor="watch-test")


@pytest.fixture
def watched(
    store: PostgresStore, service: ConfigService
) -> Iterator[tuple[ConfigWatcher, Recorder]]:
    """A watcher on ENV started from an active config, with a 30 s re-check (effectively off)."""
    current = service.apply(doc("m0"), activate=True).config
    recorder = Recorder()
    watcher = ConfigWatcher(store, ENV, recorder, current=current, recheck_interval=30.0)
    watcher.start()
    assert watcher.wait_connected(5)
    yield watcher, recorder
    watcher.stop()


def silently(store: PostgresStore, query: str, params: tuple[Any, ...]) -> None:
    """Run a change with triggers off (session_replication_role=replica): no NOTIFY is sent."""
    with store.direct_connection() as c:
        c.execute("SET session_replication_role = replica")
        c.execute(query, params)


def test_reconnect_delay_doubles_and_is_capped() -> None:
    """Backoff: 0.5, 1, 2, 4 ... seconds, never above the cap."""
    assert [reconnect_delay(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert reconnect_delay(30) == 30.0
    assert reconnect_delay(3, base=0.1, cap=0.3) == 0.3


def test_activation_reaches_the_watcher_through_notify(
    watched: tuple[ConfigWatcher, Recorder], service: ConfigService
) -> None:
    """Activating another config calls on_change with it, well before the re-check."""
    watcher, recorder = watched
    new = service.apply(doc("m1")).config
    assert new.id
    started = time.monotonic()
    service.activate(new.id)
    assert recorder.next().id == new.id
    assert time.monotonic() - started < 5
    stats = watcher.stats
    assert stats.notifications >= 1 and stats.changes == 1 and stats.connected


def test_editing_the_active_row_in_sql_is_seen(
    watched: tuple[ConfigWatcher, Recorder], store: PostgresStore, service: ConfigService
) -> None:
    """A plain SQL UPDATE of the active row notifies through the 005 trigger."""
    _, recorder = watched
    active = service.active(ENV)
    assert active
    with store.connection() as c:
        c.execute("UPDATE llm_fallback_configs SET max_retries = 7 WHERE id = %s", (active.id,))
    changed = recorder.next()
    assert (changed.id, changed.max_retries) == (active.id, 7)


def test_other_environments_do_not_trigger_a_change(
    watched: tuple[ConfigWatcher, Recorder], service: ConfigService
) -> None:
    """Activations in production are ignored by a staging watcher."""
    watcher, recorder = watched
    service.apply({**doc("p1"), "environment": "production"}, activate=True)
    service.apply(doc("m2"), activate=True)  # a marker we do expect
    assert recorder.next().primary_model == "m2"
    assert recorder.seen.empty() and watcher.stats.changes == 1


def test_refused_config_is_logged_once_and_the_old_one_kept(
    store: PostgresStore, service: ConfigService, caplog: pytest.LogCaptureFixture
) -> None:
    """on_change refusing a config keeps the current one, logs why once, then accepts a good one."""
    current = service.apply(doc("m0"), activate=True).config
    recorder = Recorder(refuse={"bad"})
    with ConfigWatcher(store, ENV, recorder, current=current, recheck_interval=0.1) as watcher:
        assert watcher.wait_connected(5)
        with caplog.at_level(logging.ERROR, logger="llmops.watch"):
            service.apply(doc("bad"), activate=True)
            deadline = time.monotonic() + 5
            while watcher.stats.checks < 8 and time.monotonic() < deadline:
                time.sleep(0.05)  # several re-checks see the same refused config
        refusals = [r for r in caplog.records if "refused by the test" in r.getMessage()]
        assert len(refusals) == 1 and "keeping the current config" in refusals[0].getMessage()
        assert recorder.seen.empty() and watcher.stats.rejected == 1
        service.apply(doc("good"), activate=True)
        assert recorder.next().primary_model == "good"


def test_a_crashing_callback_does_not_stop_the_watcher(
    store: PostgresStore, service: ConfigService
) -> None:
    """on_change raising an unexpected error is logged; the next config is still delivered."""
    current = service.apply(doc("m0"), activate=True).config
    seen: queue.Queue[str] = queue.Queue()

    def on_change(config: FallbackConfig) -> None:
        if config.primary_model == "boom":
            raise RuntimeError("bug in the callback")
        seen.put(config.primary_model)

    with ConfigWatcher(store, ENV, on_change, current=current) as watcher:
        assert watcher.wait_connected(5)
        service.apply(doc("boom"), activate=True)
        deadline = time.monotonic() + 5
        while watcher.stats.rejected == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (
            watcher.stats.last_error is not None
            and "bug in the callback" in watcher.stats.last_error
        )
        service.apply(doc("fine"), activate=True)
        assert seen.get(timeout=5) == "fine"
        assert watcher.stats.rejected == 1 and watcher.stats.connections == 1


def test_no_active_config_keeps_the_current_one(
    watched: tuple[ConfigWatcher, Recorder], service: ConfigService, store: PostgresStore
) -> None:
    """Deactivating every config is logged and the router keeps routing on the last one."""
    watcher, recorder = watched
    active = service.active(ENV)
    assert active and active.id
    store.fallback_configs.deactivate(active.id)
    deadline = time.monotonic() + 5
    while watcher.stats.rejected == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert watcher.stats.last_error == f"no active fallback config in {ENV}"
    assert recorder.seen.empty()


def test_recheck_catches_a_change_that_sent_no_notification(
    store: PostgresStore, service: ConfigService
) -> None:
    """With triggers off and no NOTIFY, the periodic re-check still finds the new config."""
    current = service.apply(doc("m0"), activate=True).config
    other = service.apply(doc("m1")).config
    recorder = Recorder()
    with ConfigWatcher(store, ENV, recorder, current=current, recheck_interval=0.3) as watcher:
        assert watcher.wait_connected(5)
        silently(
            store,
            "UPDATE llm_fallback_configs SET is_active = (id = %s) WHERE environment = %s",
            (other.id, ENV),
        )
        assert recorder.next().id == other.id
        assert watcher.stats.notifications == 0


def test_killed_connection_reconnects_and_converges(
    store: PostgresStore, service: ConfigService
) -> None:
    """pg_terminate_backend on the LISTEN connection + an activation meanwhile: still converges."""
    current = service.apply(doc("m0"), activate=True).config
    other = service.apply(doc("m1")).config
    assert other.id
    recorder = Recorder()
    watcher = ConfigWatcher(
        store, ENV, recorder, current=current, recheck_interval=30.0, backoff_base=1.0
    )
    with watcher:
        assert watcher.wait_connected(5)
        pid = watcher.stats.backend_pid
        with store.connection() as c:
            killed = c.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()
        assert killed == (True,)
        service.activate(other.id)  # its NOTIFY has no listener: lost
        started = time.monotonic()
        assert recorder.next(timeout=10).id == other.id
        elapsed = time.monotonic() - started
        stats = watcher.stats
        assert stats.connections == 2 and stats.backend_pid != pid
        assert elapsed < 10
        assert stats.last_error is not None and "connection lost" in stats.last_error


def test_stop_closes_the_listen_connection(store: PostgresStore, service: ConfigService) -> None:
    """stop() ends the thread promptly and leaves no watcher session on the server."""
    current = service.apply(doc("m0"), activate=True).config
    watcher = ConfigWatcher(store, ENV, Recorder(), current=current).start()
    assert watcher.wait_connected(5)
    pid = watcher.stats.backend_pid
    started = time.monotonic()
    watcher.stop()
    assert time.monotonic() - started < 2
    with store.direct_connection() as c:  # autocommit: a fresh pg_stat_activity snapshot each time
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            row = c.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND application_name = %s",
                (pid, WATCHER_APPLICATION_NAME),
            ).fetchone()
            if row == (0,):
                break
            time.sleep(0.05)
    assert row == (0,)


def test_unreachable_database_backs_off_without_raising(service: ConfigService) -> None:
    """A watcher whose server is gone keeps retrying in the background and stops cleanly."""
    current = service.apply(doc("m0"), activate=True).config

    class Gone:
        dsn = "postgresql://nobody@127.0.0.1:1/nothing"
        fallback_configs = None

    watcher = ConfigWatcher(
        Gone(),  # type: ignore[arg-type]
        ENV,
        Recorder(),
        current=current,
        backoff_base=0.05,
        backoff_cap=0.1,
    ).start()
    deadline = time.monotonic() + 5
    while (watcher.stats.last_error is None) and time.monotonic() < deadline:
        time.sleep(0.02)
    watcher.stop()
    stats = watcher.stats
    assert not stats.connected and stats.connections == 0
    assert stats.last_error is not None and "connection lost" in stats.last_error
