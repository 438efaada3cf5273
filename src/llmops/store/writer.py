"""The background log writer: the router's rows reach PostgreSQL without the caller waiting.

::

    caller ──submit()──▶ bounded deque ──▶ writer thread ──COPY, one transaction per batch──▶ PostgreSQL
                                               │  database unreachable
                                               ▼
                              append-only spill file (JSON lines) ──replayed when it answers again,
                                                                    or by the next writer at start

* :meth:`LogWriter.submit` never blocks and never raises: it appends to a deque. When the deque
  holds ``max_queue`` items (the thread cannot keep up even by spilling) the item is dropped,
  counted in :meth:`stats` and warned about once.
* The thread takes up to ``batch_size`` items at a time and COPYs them per table in one
  transaction on its own connection (not a pool slot), so a batch is written whole or not at all.
* A connection error marks the database down for ``reconnect_interval`` seconds; meanwhile every
  batch is appended to this writer's spill file (rows get their ids and timestamps first, so a
  replay is idempotent). When the database answers again the spill files of this directory --
  this writer's and those left behind by crashed processes -- are replayed, then removed.
* A row the database refuses for its content (a CHECK, a duplicate id) is isolated by retrying
  its batch row by row; the refused row is logged and counted as ``rejected``, the rest is
  written.
* :meth:`close` (also the context manager and interpreter exit) writes everything still queued.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

import psycopg
from pydantic import BaseModel

from llmops.models import ABTestResult, BreakerEvent, FallbackLog, UsageLog
from llmops.store.postgres import describe_dsn

if TYPE_CHECKING:
    from llmops.store._table import Table
    from llmops.store.postgres import PostgresStore

try:  # POSIX: a spill file is locked by the writer that appends to it
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process protection of spill files
    fcntl = None  # type: ignore[assignment]

__all__ = ["SPILL_DIR_ENV", "LogWriter", "RowSource", "WriterStats", "default_spill_dir"]

_log = logging.getLogger(__name__)

# the database (or the way to it) is away: keep the rows and try again later
_CONNECTIVITY = (psycopg.OperationalError, psycopg.InterfaceError, OSError)

SPILL_DIR_ENV = "LLMOPS_SPILL_DIR"


@runtime_checkable
class RowSource(Protocol):
    """Something that becomes rows only in the writer thread (keeps the caller's path cheap)."""

    def rows(self) -> Iterable[BaseModel]: ...


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counters since the writer started (items are rows or row sources as submitted)."""

    processed: int
    written_rows: int
    spilled_rows: int
    replayed_rows: int
    rejected_rows: int
    dropped: int
    pending: int
    database_up: bool


class _FlushMarker:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


def default_spill_dir() -> Path:
    """``$LLMOPS_SPILL_DIR``, else ``~/.cache/llmops/spill``."""
    env = os.environ.get(SPILL_DIR_ENV)
    return Path(env) if env else Path.home() / ".cache" / "llmops" / "spill"


class LogWriter:
    """Batched, non-blocking writer of log rows; one background thread per instance."""

    DEFAULT_BATCH_SIZE = 5000

    def __init__(
        self,
        store: PostgresStore,
        *,
        max_queue: int = 100_000,
        batch_size: int = DEFAULT_BATCH_SIZE,
        flush_interval: float = 0.2,
        reconnect_interval: float = 1.0,
        connect_timeout: int = 3,
        spill_dir: Path | str | None = None,
    ) -> None:
        if max_queue < 1 or batch_size < 1:
            raise ValueError("max_queue and batch_size must be >= 1")
        self._dsn = store.dsn
        self._repos: dict[type[BaseModel], Table[Any]] = {
            FallbackLog: store.fallback_logs,
            UsageLog: store.usage_logs,
            ABTestResult: store.ab_results,
            BreakerEvent: store.breaker_events,
        }
        self._by_table = {repo.table: (model, repo) for model, repo in self._repos.items()}
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._reconnect_interval = reconnect_interval
        self._connect_timeout = max(1, int(connect_timeout))
        where = hashlib.sha256(describe_dsn(self._dsn).encode()).hexdigest()[:12]
        self._spill_dir = Path(spill_dir) if spill_dir is not None else default_spill_dir()
        self._spill_dir = self._spill_dir / where
        self._spill_path = self._spill_dir / f"spill-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        self._spill_file: IO[str] | None = None
        self._spill_pending = True  # orphans of earlier processes may be waiting

        self._queue: deque[BaseModel | RowSource | _FlushMarker] = deque()
        self._wake = threading.Event()
        self._closing = False
        self._closed = False
        self._conn: psycopg.Connection[Any] | None = None
        self._down_until = 0.0
        self._outage_logged = False
        self._dropped_warned = False
        self._counts = dict.fromkeys(
            ("processed", "written", "spilled", "replayed", "rejected", "dropped"), 0
        )  # written by the thread only (dropped: under _drop_lock)
        self._drop_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="llmops-log-writer", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # -- the caller's side ------------------------------------------------------------------

    def submit(self, item: BaseModel | RowSource) -> bool:
        """Queue a row (or a :class:`RowSource`); False if it was dropped. Never blocks or raises."""
        queue = self._queue
        if self._closed or len(queue) >= self._max_queue:
            self._drop()
            return False
        queue.append(item)
        if len(queue) >= self._batch_size:
            self._wake.set()
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is written or spilled; False on timeout."""
        if self._closed or not self._thread.is_alive():
            return not self._queue
        marker = _FlushMarker()
        self._queue.append(marker)  # FIFO: done once everything before it is done
        self._wake.set()
        return marker.done.wait(timeout)

    def close(self, timeout: float | None = 60.0) -> None:
        """Write everything queued (spill what cannot be written), then stop the thread."""
        if self._closing:
            return
        self._closing = True
        self._wake.set()
        self._thread.join(timeout)
        self._closed = True
        with contextlib.suppress(ValueError):  # atexit.unregister never raises; keep it quiet
            atexit.unregister(self.close)

    def stats(self) -> WriterStats:
        c = self._counts
        return WriterStats(
            processed=c["processed"],
            written_rows=c["written"],
            spilled_rows=c["spilled"],
            replayed_rows=c["replayed"],
            rejected_rows=c["rejected"],
            dropped=c["dropped"],
            pending=len(self._queue),
            database_up=time.monotonic() >= self._down_until,
        )

    @property
    def spill_path(self) -> Path:
        """This writer's spill file (it exists only while rows are spilled)."""
        return self._spill_path

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _drop(self) -> None:
        with self._drop_lock:
            self._counts["dropped"] += 1
            if self._dropped_warned:
                return
            self._dropped_warned = True
        _log.warning(
            "llmops log writer: queue full (%d) or writer closed; dropping log rows",
            self._max_queue,
        )

    # -- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait(self._flush_interval)
                self._wake.clear()
                closing = self._closing
                try:
                    self._drain()
                    if self._spill_pending and time.monotonic() >= self._down_until:
                        self._replay_spills()
                except Exception:  # a bug here must not stop logging for the process's life
                    _log.exception("llmops log writer: unexpected error; the writer carries on")
                if closing and not self._queue:
                    break
            if self._spill_pending:  # one last try, even inside a reconnect pause
                self._down_until = 0.0
                self._replay_spills()
        finally:
            self._close_connection()
            if self._spill_file is not None:
                self._spill_file.close()
                self._spill_file = None
                if not self._spill_pending:  # everything replayed: leave no empty file behind
                    self._spill_path.unlink(missing_ok=True)
            while self._queue:  # flush() callers waiting on markers after the end
                item = self._queue.popleft()
                if isinstance(item, _FlushMarker):
                    item.done.set()

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            n = min(len(queue), self._batch_size)
            items = [queue.popleft() for _ in range(n)]
            markers = [i for i in items if isinstance(i, _FlushMarker)]
            rows = self._expand(items)
            if rows:
                if self._spill_pending and time.monotonic() >= self._down_until:
                    self._replay_spills()  # older rows first, where we can
                self._write(rows)
            self._counts["processed"] += n - len(markers)
            for marker in markers:
                marker.done.set()

    def _expand(self, items: list[BaseModel | RowSource | _FlushMarker]) -> list[BaseModel]:
        rows: list[BaseModel] = []
        for item in items:
            if isinstance(item, BaseModel):
                rows.append(item)
                continue
            if isinstance(item, _FlushMarker):
                continue
            try:
                rows.extend(item.rows())
            except Exception:  # a bug building rows must not stop the writer: log it loudly
                self._counts["rejected"] += 1
                _log.exception("llmops log writer: could not build log rows from %r", item)
        return rows

    def _write(self, rows: list[BaseModel]) -> None:
        if time.monotonic() < self._down_until:
            self._spill(rows)
            return
        try:
            self._copy(rows)
        except _CONNECTIVITY as exc:
            self._mark_down(exc)
            self._spill(rows)
        except psycopg.Error:
            self._write_one_by_one(rows)
        else:
            self._counts["written"] += len(rows)
            if self._outage_logged:
                self._outage_logged = False
                _log.warning("llmops log writer: database reachable again")

    def _copy(self, rows: Sequence[BaseModel]) -> None:
        conn = self._connection()
        groups: dict[type[BaseModel], list[BaseModel]] = {}
        for row in rows:
            groups.setdefault(type(row), []).append(row)
        with conn.transaction():
            for model, group in groups.items():
                self._repos[model].copy_many(group, conn=conn)

    def _write_one_by_one(self, rows: list[BaseModel], *, replay: bool = False) -> int:
        """Isolate the rows the database refuses; returns how many were written."""
        written = 0
        for i, row in enumerate(rows):
            try:
                self._copy([row])
            except psycopg.errors.UniqueViolation:
                if not replay:
                    self._reject(row, "duplicate id")
                # replaying: the row was written before the previous attempt failed
            except _CONNECTIVITY as exc:
                self._mark_down(exc)
                if replay:
                    return -1  # the spill file still holds these rows
                self._spill(rows[i:])
                return written
            except psycopg.Error as exc:
                self._reject(row, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            else:
                written += 1
                if not replay:
                    self._counts["written"] += 1
        return written

    def _reject(self, row: BaseModel, reason: str) -> None:
        self._counts["rejected"] += 1
        _log.error(
            "llmops log writer: %s row refused by the database (%s)", type(row).__name__, reason
        )

    # -- connection -------------------------------------------------------------------------

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self._dsn,
                autocommit=True,
                connect_timeout=self._connect_timeout,
                application_name="llmops-log-writer",
                tcp_user_timeout=10_000,
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=2,
                keepalives_count=3,
            )
        return self._conn

    def _close_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):  # it is broken already; we only free it
                self._conn.close()
            self._conn = None

    def _mark_down(self, exc: BaseException) -> None:
        self._close_connection()
        self._down_until = time.monotonic() + self._reconnect_interval
        if not self._outage_logged:
            self._outage_logged = True
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            _log.warning(
                "llmops log writer: database unreachable (%s); spilling rows to %s",
                first,
                self._spill_path,
            )

    # -- spill files ------------------------------------------------------------------------

    def _spill(self, rows: Sequence[BaseModel]) -> None:
        try:
            self._append_spill(rows)
        except OSError as exc:  # disk full, no permission: these rows cannot be kept
            self._counts["dropped"] += len(rows)
            _log.error(
                "llmops log writer: cannot write spill file %s (%s); %d row(s) lost",
                self._spill_path,
                exc,
                len(rows),
            )

    def _append_spill(self, rows: Sequence[BaseModel]) -> None:
        f = self._open_spill()
        now = datetime.now(UTC)
        n = 0
        lines = []
        for original in rows:
            fill: dict[str, Any] = {}
            if getattr(original, "id", 0) is None:
                fill["id"] = uuid.uuid4()
            if getattr(original, "created_at", 0) is None:
                fill["created_at"] = now
            row = original.model_copy(update=fill) if fill else original
            table = self._repos[type(row)].table
            lines.append(json.dumps({"t": table, "r": row.model_dump(mode="json")}) + "\n")
            n += 1
        f.write("".join(lines))
        f.flush()
        self._counts["spilled"] += n
        self._spill_pending = True

    def _open_spill(self) -> IO[str]:
        if self._spill_file is None:
            self._spill_dir.mkdir(parents=True, exist_ok=True)
            self._spill_file = open(self._spill_path, "a", encoding="utf-8")  # noqa: SIM115
            if fcntl is not None:
                fcntl.flock(self._spill_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return self._spill_file

    def _replay_spills(self) -> None:
        """Write this directory's spill files (ours and unlocked orphans), then remove them."""
        if not self._spill_dir.is_dir():
            self._spill_pending = False
            return
        for path in sorted(self._spill_dir.glob("spill-*.jsonl")):
            own = path == self._spill_path
            if own:
                ok = self._replay_file(path)
                if ok and self._spill_file is not None:
                    self._spill_file.truncate(0)
                    self._spill_file.seek(0)
            else:
                ok = self._replay_orphan(path)
            if not ok:
                return  # the database went away again; try later
        self._spill_pending = False

    def _replay_orphan(self, path: Path) -> bool:
        try:
            f = open(path, encoding="utf-8")  # noqa: SIM115
        except FileNotFoundError:
            return True  # another writer replayed it meanwhile
        with f:
            if fcntl is not None:
                try:
                    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return True  # a live writer owns it
            ok = self._replay_file(path)
            if ok:
                path.unlink(missing_ok=True)
            return ok

    def _replay_file(self, path: Path) -> bool:
        rows: list[BaseModel] = []
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                    model, _ = self._by_table[doc["t"]]
                    rows.append(model.model_validate(doc["r"]))
                except (ValueError, KeyError, TypeError) as exc:  # a torn last line after a crash
                    self._counts["rejected"] += 1
                    _log.error("llmops log writer: unreadable line %d of %s: %s", number, path, exc)
        for start in range(0, len(rows), self._batch_size):
            chunk = rows[start : start + self._batch_size]
            try:
                self._copy(chunk)
            except _CONNECTIVITY as exc:
                self._mark_down(exc)
                return False
            except psycopg.Error:  # rows written by an earlier, interrupted replay
                if self._write_one_by_one(chunk, replay=True) < 0:
                    return False
                if time.monotonic() < self._down_until:
                    return False
            self._counts["replayed"] += len(chunk)
        return True
