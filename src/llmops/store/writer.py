"""The background log writer: the router's rows reach PostgreSQL without the caller waiting.

::

    caller ──submit()──▶ bounded deque ──▶ writer thread ──COPY, one transaction per batch──▶ PostgreSQL
       │ deque full                            │  database unreachable
       ▼                                       ▼
    append-only spill file (JSON lines) ◀──────┘ ──replayed when the database answers again,
                                                   or by the next writer at start

* :meth:`LogWriter.submit` never blocks on the database and never raises: it appends to a
  deque. When the deque holds ``max_queue`` items (the thread cannot keep up) the caller's own
  thread turns the item into rows and appends them to the spill file instead (overflow: the
  only time a caller does more than an append; it waits for a local file write at most, never
  for the database). The thread replays the file before its next batch, so overflow rows may be
  inserted after rows submitted later; their ``created_at`` is the call's time either way.
* Every row gets its id (uuid4, client-side) before its first attempt, and keeps it through
  spills and replays. First attempts are a plain COPY per table in one transaction on the
  writer's own connection (not a pool slot), so a batch is written whole or not at all.
* A connection error marks the database down for ``reconnect_interval`` seconds; the batch and
  every batch meanwhile are appended to this writer's spill file. When the database answers
  again the spill files of this directory -- this writer's and those left behind by crashed
  processes -- are replayed idempotently (COPY into a temporary table, then ``INSERT ... ON
  CONFLICT (id) DO NOTHING``), then removed. A batch whose COMMIT succeeded but whose
  acknowledgement was lost is therefore written once, not twice.
* A row the database refuses for its content (a CHECK, a duplicate id) is isolated by retrying
  its batch row by row; the refused row is logged and counted as ``rejected``, the rest is
  written.
* :meth:`close` (also the context manager and interpreter exit) writes everything still queued.

What can still be lost: rows that must be spilled when the spill file cannot be written
(disk full, directory unwritable) and rows submitted after :meth:`close` -- both logged and
counted as ``dropped`` -- and rows queued in memory when the process dies without running
``atexit`` (a crash, ``os._exit``, a forked child that never closes its writer). Rows in a
spill file survive all of these (not a power cut: the file is flushed, never fsynced).

After ``os.fork()`` the child's writer gets an empty queue, its own spill file and a fresh
thread; rows queued by the parent are the parent's to write.
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
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

import psycopg
from psycopg import sql
from pydantic import BaseModel

from llmops.models import ABTestResult, BreakerEvent, FallbackLog, UsageLog
from llmops.store._spill import SpillFile, open_orphan, spill_files
from llmops.store.postgres import describe_dsn

if TYPE_CHECKING:
    from llmops.store._table import Table
    from llmops.store.postgres import PostgresStore

__all__ = ["SPILL_DIR_ENV", "LogWriter", "RowSource", "WriterStats", "default_spill_dir"]

_log = logging.getLogger(__name__)

# the database (or the way to it) is away: keep the rows and try again later
_CONNECTIVITY = (psycopg.OperationalError, psycopg.InterfaceError, OSError)

SPILL_DIR_ENV = "LLMOPS_SPILL_DIR"

_TIMESTAMPS = ("created_at", "updated_at")


@runtime_checkable
class RowSource(Protocol):
    """Something that becomes rows only in the writer thread (keeps the caller's path cheap)."""

    def rows(self) -> Iterable[BaseModel]: ...


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counters since the writer started (items are rows or row sources as submitted).

    ``spilled_rows`` includes ``overflow_rows`` (spilled by callers because the queue was
    full); ``duplicate_rows`` are replayed rows the table already held (a lost COMMIT
    acknowledgement, or a replay interrupted after its COMMIT) and were skipped.
    """

    processed: int
    written_rows: int
    spilled_rows: int
    replayed_rows: int
    rejected_rows: int
    dropped: int
    pending: int
    database_up: bool
    overflow_rows: int = 0
    duplicate_rows: int = 0


class _FlushMarker:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


def default_spill_dir() -> Path:
    """``$LLMOPS_SPILL_DIR``, else ``~/.cache/llmops/spill``."""
    env = os.environ.get(SPILL_DIR_ENV)
    return Path(env) if env else Path.home() / ".cache" / "llmops" / "spill"


def _row_id(row: BaseModel) -> uuid.UUID:
    rid: uuid.UUID | None = getattr(row, "id", None)
    return rid if rid is not None else uuid.uuid4()


# after fork: live writers get a fresh thread; what the parent's threads held stays untouched
_WRITERS: weakref.WeakSet[LogWriter] = weakref.WeakSet()
_INHERITED: list[object] = []  # the parent's connection and spill file, never used or closed


def _after_fork_in_child() -> None:
    for writer in list(_WRITERS):
        writer._restart_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


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
        self._closing = False
        self._closed = False
        self._start()
        _WRITERS.add(self)
        atexit.register(self.close)

    def _start(self) -> None:
        """(Re)initialise the per-process state and start the thread."""
        self._spill = SpillFile(self._spill_dir)
        self._spill_pending = True  # orphans of earlier processes may be waiting
        self._lock = threading.Lock()  # the counters that callers touch too (overflow)
        self._queue: deque[BaseModel | RowSource | _FlushMarker] = deque()
        self._wake = threading.Event()
        self._conn: psycopg.Connection[Any] | None = None
        self._temp_tables: set[str] = set()
        self._down_until = 0.0
        self._outage_logged = False
        self._dropped_warned = False
        self._overflow_warned = False
        self._counts = dict.fromkeys(
            (
                "processed",
                "written",
                "spilled",
                "replayed",
                "rejected",
                "dropped",
                "overflow",
                "duplicate",
            ),
            0,
        )
        self._thread = threading.Thread(target=self._run, name="llmops-log-writer", daemon=True)
        if not self._closing:
            self._thread.start()

    def _restart_after_fork(self) -> None:
        # the parent's connection socket and locked spill file are shared with the parent:
        # closing them here would end the parent's session or release its lock
        _INHERITED.extend(x for x in (self._conn, self._spill.detach()) if x is not None)
        self._start()

    # -- the caller's side ------------------------------------------------------------------

    def submit(self, item: BaseModel | RowSource) -> bool:
        """Queue a row (or a :class:`RowSource`); spill it to the file when the queue is full.

        False only if the row could not be kept (writer closed, spill file unwritable, rows
        that could not be built). Never waits on the database, never raises."""
        queue = self._queue
        if self._closed:
            self._drop(1)
            return False
        if len(queue) >= self._max_queue:
            return self._overflow(item)
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
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._closed = True
        if not self._thread.is_alive():  # rows that raced the thread's last look: keep them
            self._spill_leftovers()
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
            overflow_rows=c["overflow"],
            duplicate_rows=c["duplicate"],
        )

    @property
    def spill_path(self) -> Path:
        """This writer's spill file (it exists only while rows are spilled)."""
        return self._spill.path

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _spill_leftovers(self) -> None:
        """Spill what was queued after the thread's last look (the next start replays it)."""
        items: list[BaseModel | RowSource | _FlushMarker] = []
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, _FlushMarker):
                item.done.set()
            else:
                items.append(item)
        rows = self._expand(items)
        if rows:
            self._spill_rows(rows, [_row_id(r) for r in rows])
            self._spill.close()

    def _count(self, key: str, n: int) -> None:
        with self._lock:
            self._counts[key] += n

    def _drop(self, n: int) -> None:
        with self._lock:
            self._counts["dropped"] += n
            if self._dropped_warned:
                return
            self._dropped_warned = True
        _log.warning("llmops log writer: writer closed; dropping log rows submitted after close()")

    def _overflow(self, item: BaseModel | RowSource) -> bool:
        """The queue is full: this caller spills its own rows (no database, a file append)."""
        rows = self._expand([item])
        if not rows:
            return False
        try:
            kept = self._spill_rows(rows, [_row_id(r) for r in rows])
        except Exception:  # the caller's call must not fail because logging did: log it loudly
            self._count("rejected", len(rows))
            _log.exception("llmops log writer: could not spill %d overflow row(s)", len(rows))
            return False
        if kept:
            with self._lock:
                self._counts["overflow"] += len(rows)
                warn, self._overflow_warned = not self._overflow_warned, True
            if warn:
                _log.warning(
                    "llmops log writer: queue full (%d); spilling log rows to %s until it drains",
                    self._max_queue,
                    self._spill.path,
                )
        self._wake.set()
        return kept

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
            self._spill.close()
            self._spill_leftovers()  # and release flush() callers waiting after the end

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            n = min(len(queue), self._batch_size)
            items = [queue.popleft() for _ in range(n)]
            markers = [i for i in items if isinstance(i, _FlushMarker)]
            rows = self._expand(items)
            if self._spill_pending and time.monotonic() >= self._down_until:
                self._replay_spills()  # spilled rows first (overflow, outage), where we can
            if rows:
                self._write(rows, [_row_id(r) for r in rows])
            self._counts["processed"] += n - len(markers)
            for marker in markers:
                marker.done.set()

    def _expand(self, items: Sequence[BaseModel | RowSource | _FlushMarker]) -> list[BaseModel]:
        rows: list[BaseModel] = []
        repos = self._repos
        for item in items:
            if isinstance(item, BaseModel):
                if type(item) in repos:
                    rows.append(item)
                else:
                    self._not_a_log_row(item)
                continue
            if isinstance(item, _FlushMarker):
                continue
            try:
                built = list(item.rows())
            except Exception:  # a bug building rows must not stop the writer: log it loudly
                self._count("rejected", 1)
                _log.exception("llmops log writer: could not build log rows from %r", item)
                continue
            for row in built:
                if type(row) in repos:
                    rows.append(row)
                else:
                    self._not_a_log_row(row)
        return rows

    def _not_a_log_row(self, item: object) -> None:
        self._count("rejected", 1)
        _log.error(
            "llmops log writer: %s is not a log row (expected one of %s); refused",
            type(item).__name__,
            ", ".join(sorted(m.__name__ for m in self._repos)),
        )

    def _write(self, rows: list[BaseModel], ids: list[uuid.UUID]) -> None:
        if time.monotonic() < self._down_until:
            self._spill_rows(rows, ids)
            return
        try:
            self._copy(rows, ids)
        except _CONNECTIVITY as exc:  # maybe committed: the spill's replay skips what is there
            self._mark_down(exc)
            self._spill_rows(rows, ids)
        except psycopg.Error:
            self._write_one_by_one(rows, ids)
        else:
            self._counts["written"] += len(rows)
            if self._outage_logged:
                self._outage_logged = False
                _log.warning("llmops log writer: database reachable again")

    def _copy(
        self, rows: Sequence[BaseModel], ids: Sequence[uuid.UUID], *, replay: bool = False
    ) -> int:
        """Write rows with these ids in one transaction; returns how many were inserted.

        First attempts COPY straight into the tables. Replays COPY into a temporary table and
        insert from it what the table does not hold yet, so a replay never duplicates a row."""
        conn = self._connection()
        groups: dict[type[BaseModel], tuple[list[BaseModel], list[uuid.UUID]]] = {}
        for row, rid in zip(rows, ids, strict=True):
            group = groups.get(type(row))
            if group is None:
                group = groups[type(row)] = ([], [])
            group[0].append(row)
            group[1].append(rid)
        if replay:
            for model in groups:
                self._ensure_temp_table(conn, self._repos[model])
        now = datetime.now(UTC)
        inserted = 0
        with conn.transaction():
            for model, (group_rows, group_ids) in groups.items():
                repo = self._repos[model]
                if not replay:
                    self._copy_into(conn, repo.table, repo, rows=group_rows, ids=group_ids, now=now)
                    inserted += len(group_rows)
                    continue
                temp = f"llmops_replay_{repo.table}"
                self._copy_into(conn, temp, repo, rows=group_rows, ids=group_ids, now=now)
                columns = sql.SQL(", ").join(map(sql.Identifier, repo.columns))
                cur = conn.execute(
                    sql.SQL(
                        "INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT (id) DO NOTHING"
                    ).format(sql.Identifier(repo.table), columns, columns, sql.Identifier(temp))
                )
                inserted += max(cur.rowcount, 0)
        return inserted

    @staticmethod
    def _copy_into(
        conn: psycopg.Connection[Any],
        table: str,
        repo: Table[Any],
        *,
        rows: Sequence[BaseModel],
        ids: Sequence[uuid.UUID],
        now: datetime,
    ) -> None:
        columns = repo.columns
        id_at = columns.index("id")
        stamps = [i for i, c in enumerate(columns) if c in _TIMESTAMPS]
        # plain columns straight off the model in one C call; JSONB ones through the
        # repository's own encoding (the same JSON as every other write)
        plain = attrgetter(*columns)
        encode = repo._value
        documents = [(i, c) for i, c in enumerate(columns) if c in repo.json_columns]
        query = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        with conn.cursor() as cur, cur.copy(query) as copy:
            for row, rid in zip(rows, ids, strict=True):
                values = list(plain(row))
                for i, c in documents:
                    values[i] = encode(c, row)
                values[id_at] = rid
                for i in stamps:
                    if values[i] is None:
                        values[i] = now
                copy.write_row(values)

    def _ensure_temp_table(self, conn: psycopg.Connection[Any], repo: Table[Any]) -> None:
        temp = f"llmops_replay_{repo.table}"
        if temp in self._temp_tables:
            return
        conn.execute(  # autocommit, outside the batch: a rolled-back batch keeps the table
            sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS").format(
                sql.Identifier(temp), sql.Identifier(repo.table)
            )
        )
        self._temp_tables.add(temp)

    def _write_one_by_one(
        self, rows: list[BaseModel], ids: list[uuid.UUID], *, replay: bool = False
    ) -> bool:
        """Isolate the rows the database refuses; False if the database went away meanwhile."""
        for i, (row, rid) in enumerate(zip(rows, ids, strict=True)):
            try:
                inserted = self._copy([row], [rid], replay=replay)
            except psycopg.errors.UniqueViolation:
                self._reject(row, "duplicate id")
            except _CONNECTIVITY as exc:
                self._mark_down(exc)
                if not replay:  # replaying: the spill file still holds these rows
                    self._spill_rows(rows[i:], ids[i:])
                return False
            except psycopg.Error as exc:
                self._reject(row, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            else:
                if not replay:
                    self._counts["written"] += 1
                elif not inserted:
                    self._counts["duplicate"] += 1
        return True

    def _reject(self, row: BaseModel, reason: str) -> None:
        self._count("rejected", 1)
        _log.error(
            "llmops log writer: %s row refused by the database (%s)", type(row).__name__, reason
        )

    # -- connection -------------------------------------------------------------------------

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._temp_tables.clear()  # temporary tables live and die with their session
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
                self._spill.path,
            )

    # -- spill files ------------------------------------------------------------------------

    def _spill_rows(self, rows: Sequence[BaseModel], ids: Sequence[uuid.UUID]) -> bool:
        """Append rows (with their ids) to our spill file; any thread. False if they are lost."""
        try:
            now = datetime.now(UTC).isoformat()
            lines = []
            for row, rid in zip(rows, ids, strict=True):
                doc = row.model_dump(mode="json")
                doc["id"] = str(rid)
                if "created_at" in doc and doc["created_at"] is None:
                    doc["created_at"] = now
                lines.append(json.dumps({"t": self._repos[type(row)].table, "r": doc}))
            data = ("\n".join(lines) + "\n").encode("utf-8")
            self._spill.append(data)  # a local file append: never a wait on the database
            with self._lock:
                self._counts["spilled"] += len(lines)
            self._spill_pending = True
            return True
        except OSError as exc:  # disk full, no permission: these rows cannot be kept
            with self._lock:
                self._counts["dropped"] += len(rows)
            _log.error(
                "llmops log writer: cannot write spill file %s (%s); %d row(s) lost",
                self._spill.path,
                exc,
                len(rows),
            )
            return False

    def _replay_spills(self) -> None:
        """Write this directory's spill files (ours and unlocked orphans), then remove them."""
        self._spill_pending = False  # set again by any spill from now on
        for path in spill_files(self._spill_dir):
            ok = self._replay_own() if path == self._spill.path else self._replay_orphan(path)
            if not ok:
                self._spill_pending = True
                return  # the database went away again; try later

    def _replay_own(self) -> bool:
        span = self._spill.pending()
        if span is None:
            return True
        start, end = span
        if end > start and not self._replay_lines(
            self._spill.read(start, end), str(self._spill.path), self._spill.replayed
        ):
            return False
        self._spill.reset_if_replayed()
        return True

    def _replay_orphan(self, path: Path) -> bool:
        f = open_orphan(path)
        if f is None:
            return True  # gone, or a live writer owns it
        with f:
            lines = ((line, 0) for line in f)
            ok = self._replay_lines(lines, str(path), lambda offset: None)
            if ok:
                path.unlink(missing_ok=True)
            return ok

    def _replay_lines(
        self, lines: Iterable[tuple[bytes, int]], name: str, advance: Callable[[int], None]
    ) -> bool:
        """Replay spill lines in batches; ``advance(offset)`` after each committed batch, with
        the offset that follows its last line. False if the database went away."""
        rows: list[BaseModel] = []
        offset: int | None = None
        for line, offset in lines:
            if line.strip():
                try:
                    doc = json.loads(line)
                    model, _ = self._by_table[doc["t"]]
                    rows.append(model.model_validate(doc["r"]))
                except (ValueError, KeyError, TypeError) as exc:  # a torn last line after a crash
                    self._count("rejected", 1)
                    _log.error("llmops log writer: unreadable spill line in %s: %s", name, exc)
            if len(rows) >= self._batch_size:
                if not self._replay_chunk(rows):
                    return False
                advance(offset)
                rows = []
        if rows and not self._replay_chunk(rows):
            return False
        if offset is not None:
            advance(offset)
        return True

    def _replay_chunk(self, rows: list[BaseModel]) -> bool:
        ids = [_row_id(r) for r in rows]
        try:
            inserted = self._copy(rows, ids, replay=True)
        except _CONNECTIVITY as exc:
            self._mark_down(exc)
            return False
        except psycopg.Error:  # a row the database refuses: isolate it
            if not self._write_one_by_one(rows, ids, replay=True):
                return False
        else:
            self._counts["duplicate"] += len(rows) - inserted
        self._counts["replayed"] += len(rows)
        return True
