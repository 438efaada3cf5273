"""ConfigWatcher: follow the active fallback config of one environment, without a restart.

A background thread holds a dedicated connection (outside the pool) that LISTENs on
:data:`~llmops.store.repositories.CONFIG_CHANNEL`. Every change to an active config notifies
that channel with the environment as payload (the repository and the trigger of
``sql/005_config_audit.sql``, so restores and plain SQL are seen too). On a notification, and
every ``recheck_interval`` seconds as a safety net, the watcher reads the active config; when
it differs from the current one it calls ``on_change(config)``.

Notifications sent while the connection is down are lost, so after every (re)connect the
watcher checks at once, and reconnects with exponential backoff. A config that cannot be
loaded, is missing, or that ``on_change`` refuses (by raising :class:`~llmops.errors.ConfigError`)
is logged once and the current one is kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from pydantic import ValidationError

from llmops.errors import LLMOpsError
from llmops.models import FallbackConfig
from llmops.store import PostgresStore
from llmops.store.repositories import CONFIG_CHANNEL

__all__ = [
    "WATCHER_APPLICATION_NAME",
    "ConfigWatcher",
    "Fingerprint",
    "WatcherStats",
    "reconnect_delay",
]

log = logging.getLogger(__name__)

WATCHER_APPLICATION_NAME = "llmops-config-watch"
"""``application_name`` of the LISTEN connection (visible in ``pg_stat_activity``)."""

Fingerprint = tuple[UUID | None, datetime | None]
"""(id, updated_at) of a config: a new row or an edited row both change it."""


def _fingerprint(config: FallbackConfig) -> Fingerprint:
    return (config.id, config.updated_at)


def reconnect_delay(failures: int, *, base: float = 0.5, cap: float = 30.0) -> float:
    """Seconds to wait before reconnect attempt ``failures`` (1, 2, ...): doubling, capped."""
    return float(min(cap, base * 2 ** max(0, failures - 1)))


@dataclass(frozen=True, slots=True)
class WatcherStats:
    """What the watcher has done so far (for logs, health checks and tests)."""

    connected: bool
    connections: int
    notifications: int
    checks: int
    changes: int
    rejected: int
    backend_pid: int | None
    last_error: str | None


class ConfigWatcher:
    """Calls ``on_change`` with the new active config of ``environment`` when it changes.

    ``current`` is the config the caller runs on now (its fingerprint is the baseline).
    ``on_change`` runs on the watcher thread; it raises :class:`LLMOpsError` to refuse a config.
    """

    def __init__(
        self,
        store: PostgresStore,
        environment: str,
        on_change: Callable[[FallbackConfig], None],
        *,
        current: FallbackConfig | None = None,
        recheck_interval: float = 30.0,
        poll_interval: float = 0.2,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
    ) -> None:
        if recheck_interval <= 0 or poll_interval <= 0:
            raise ValueError("recheck_interval and poll_interval must be positive")
        self.store = store
        self.environment = environment
        self.on_change = on_change
        self.recheck_interval = recheck_interval
        self.poll_interval = poll_interval
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._current = None if current is None else _fingerprint(current)
        self._rejected: tuple[object, ...] | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._counts = {"connections": 0, "notifications": 0, "checks": 0, "changes": 0}
        self._n_rejected = 0
        self._backend_pid: int | None = None
        self._last_error: str | None = None
        self._connected = threading.Event()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> ConfigWatcher:
        """Start the background thread (idempotent)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"llmops-config-watch-{self.environment}", daemon=True
                )
                self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and close its connection."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def wait_connected(self, timeout: float) -> bool:
        """True once the LISTEN connection is up (useful at start-up and in tests)."""
        return self._connected.wait(timeout)

    @property
    def stats(self) -> WatcherStats:
        with self._lock:
            return WatcherStats(
                connected=self._connected.is_set(),
                rejected=self._n_rejected,
                backend_pid=self._backend_pid,
                last_error=self._last_error,
                **self._counts,
            )

    def __enter__(self) -> ConfigWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._session()
                failures = 0
            except (psycopg.Error, LLMOpsError) as exc:
                # a connection that worked for a while starts the backoff over
                failures = 1 if self._connected.is_set() else failures + 1
                delay = reconnect_delay(failures, base=self.backoff_base, cap=self.backoff_cap)
                self._note_error(f"config watcher connection lost ({exc}); retry in {delay:.1f}s")
                self._stop.wait(delay)
            finally:
                self._connected.clear()
                self._close_conn()

    def _session(self) -> None:
        """One connection's life: LISTEN, catch up, then wait for notifications or the re-check."""
        # like store.direct_connection(), plus TCP keepalives so a silently dropped network
        # fails the re-check instead of hanging it, and a name to find it in pg_stat_activity
        conn = psycopg.connect(
            self.store.dsn,
            autocommit=True,
            application_name=WATCHER_APPLICATION_NAME,
            connect_timeout=10,
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )
        with self._lock:
            self._conn = conn
            self._counts["connections"] += 1
            self._backend_pid = conn.info.backend_pid
        conn.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(CONFIG_CHANNEL)))
        self._connected.set()
        self._check(conn)  # notifications sent while we were away are lost
        next_check = time.monotonic() + self.recheck_interval
        while not self._stop.is_set():
            wait = max(0.0, min(self.poll_interval, next_check - time.monotonic()))
            notified = False
            for note in conn.notifies(timeout=wait, stop_after=1):
                if note.payload == self.environment:
                    notified = True
            if notified:
                with self._lock:
                    self._counts["notifications"] += 1
            if notified or time.monotonic() >= next_check:
                self._check(conn)
                next_check = time.monotonic() + self.recheck_interval

    def _check(self, conn: psycopg.Connection[Any]) -> None:
        with self._lock:
            self._counts["checks"] += 1
        try:
            config = self.store.fallback_configs.get_active(self.environment, conn=conn)
        except ValidationError as exc:
            why = f"the active config of {self.environment} cannot be loaded: {exc}"
            self._reject(("unloadable", str(exc)), why)
            return
        if config is None:
            self._reject(("missing",), f"no active fallback config in {self.environment}")
            return
        fingerprint = _fingerprint(config)
        if fingerprint in (self._current, self._rejected):
            return
        try:
            self.on_change(config)
        except LLMOpsError as exc:
            self._reject(fingerprint, f"config {config.id} of {self.environment} refused: {exc}")
            return
        except Exception as exc:  # a bug in on_change must not stop the watcher for good
            log.exception("on_change failed for config %s", config.id)
            self._reject(fingerprint, f"config {config.id} of {self.environment} failed: {exc!r}")
            return
        self._current = fingerprint
        self._rejected = None
        with self._lock:
            self._counts["changes"] += 1
        log.info("switched %s to fallback config %s", self.environment, config.id)

    # -- helpers ----------------------------------------------------------------------------

    def _reject(self, key: tuple[object, ...], why: str) -> None:
        """Log ``why`` once per distinct refused state; the current config stays."""
        if key != self._rejected:
            log.error("%s; keeping the current config", why)
            with self._lock:
                self._n_rejected += 1
                self._last_error = why
        self._rejected = key

    def _note_error(self, message: str) -> None:
        log.warning("%s", message)
        with self._lock:
            self._last_error = message

    def _close_conn(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error as exc:  # already broken: nothing left to release
                log.debug("closing the watcher connection: %s", exc)
