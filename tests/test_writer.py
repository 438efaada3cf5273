"""LogWriter: batched COPY off the caller's path, spill to a file while the database is away,
replay when it returns (also by the next process), nothing lost, nothing blocking."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg import conninfo

from llmops import FallbackTarget, LLMRouter, PostgresStore, ProviderUnavailable
from llmops.models import ABTestResult, UsageLog
from llmops.providers.fake import FakeProvider
from llmops.store.writer import LogWriter
from tests._routerkit import MESSAGES, config


class TcpProxy:
    """127.0.0.1 proxy to PostgreSQL that the test can cut (drop everything) and restore.

    The server may listen on TCP or, like the embedded one, on a Unix socket in the directory
    ``target_host`` names.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                upstream = self._connect_upstream()
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _connect_upstream(self) -> socket.socket:
        host, port = self.target
        if not host.startswith("/"):
            return socket.create_connection(self.target, timeout=5)
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.settimeout(5)
        upstream.connect(f"{host}/.s.PGSQL.{port}")
        return upstream

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up = False
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.stopped = True
        self.cut()
        self.listener.close()


@pytest.fixture
def proxy(database_url: str) -> Iterator[tuple[TcpProxy, str]]:
    params = conninfo.conninfo_to_dict(database_url)
    p = TcpProxy(str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))
    params.update(host="127.0.0.1", port=str(p.port))
    yield p, conninfo.make_conninfo("", **params)
    p.close()


class LostAckProxy(TcpProxy):
    """A proxy that, while armed, forwards a COMMIT to the server, swallows the server's reply
    and cuts the connection: the transaction is committed, the client only sees a lost link."""

    def __init__(self, target_host: str, target_port: int) -> None:
        super().__init__(target_host, target_port)
        self.armed = 0
        self.lost = 0
        self.in_flight: set[socket.socket] = set()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:  # type: ignore[override]
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if self.armed and b"COMMIT" in data and src not in self.in_flight:
                    with self.lock:  # client -> server: mark before forwarding (no race)
                        self.armed -= 1
                        self.in_flight.add(dst)
                if src in self.in_flight and b"COMMIT\x00" in data:  # the server's ack
                    with self.lock:
                        self.in_flight.discard(src)
                        self.lost += 1
                    break  # swallowed: cut both ends below
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def lost_ack_proxy(database_url: str) -> Iterator[tuple[LostAckProxy, str]]:
    params = conninfo.conninfo_to_dict(database_url)
    p = LostAckProxy(str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))
    params.update(host="127.0.0.1", port=str(p.port))
    yield p, conninfo.make_conninfo("", **params)
    p.close()


def usage(i: int) -> UsageLog:
    return UsageLog(environment="local", provider="p", model="m", success=True, input_tokens=i)


def count(store: PostgresStore, table: str) -> int:
    with store.connection() as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # test-only fixed names
    assert row is not None
    return int(row[0])


def test_rows_are_written_in_batches_and_flush_waits(store: PostgresStore, tmp_path: Path) -> None:
    """submit() queues; flush() returns once every row is in the table."""
    with LogWriter(store, batch_size=100, spill_dir=tmp_path) as w:
        for i in range(1000):
            assert w.submit(usage(i))
        assert w.flush(10)
        assert count(store, "llm_usage_logs") == 1000
        assert w.stats().written_rows == 1000 and w.stats().spilled_rows == 0


def ids_once(store: PostgresStore, table: str) -> tuple[int, int]:
    """(rows, distinct ids) of a table."""
    with store.connection() as conn:
        row = conn.execute(f"SELECT count(*), count(DISTINCT id) FROM {table}").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


class TwoRows:
    """A RowSource that becomes two usage rows, as a router call does."""

    def __init__(self, i: int) -> None:
        self.i = i

    def rows(self) -> Iterator[UsageLog]:
        yield usage(self.i)
        yield usage(self.i + 1)


def test_full_queue_spills_instead_of_dropping(store: PostgresStore, tmp_path: Path) -> None:
    """A full queue never blocks and loses nothing: 8 threads overflow a 20-item queue into the
    spill file; every row (rows and row sources) lands exactly once; no spill file remains."""
    w = LogWriter(store, max_queue=20, batch_size=1000, flush_interval=5, spill_dir=tmp_path)
    results: list[bool] = []

    def caller(k: int) -> None:
        for i in range(250):
            results.append(w.submit(usage(i) if i % 2 else TwoRows(i)))

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.close()
    stats = w.stats()
    expected = 8 * (125 + 2 * 125)
    assert results.count(True) == 8 * 250
    assert stats.overflow_rows > 0 and stats.dropped == 0 and stats.rejected_rows == 0
    assert stats.replayed_rows == stats.spilled_rows == stats.overflow_rows
    assert stats.written_rows + stats.overflow_rows == expected
    assert ids_once(store, "llm_usage_logs") == (expected, expected)
    assert list(tmp_path.rglob("*.jsonl")) == []


def test_overflow_is_replayed_before_flush_returns(store: PostgresStore, tmp_path: Path) -> None:
    """Rows overflowed to the spill file are in the table once flush() returns (database up)."""
    with LogWriter(store, max_queue=3, flush_interval=5, spill_dir=tmp_path) as w:
        for i in range(100):
            assert w.submit(usage(i))
        assert w.flush(10)
        assert count(store, "llm_usage_logs") == 100
        stats = w.stats()
        assert stats.overflow_rows > 0 and stats.written_rows + stats.overflow_rows == 100


def test_overflow_during_an_outage_lands_once(
    store: PostgresStore, proxy: tuple[TcpProxy, str], tmp_path: Path
) -> None:
    """Database cut and queue full: callers and the writer thread append to one spill file
    at once; after the database returns every row is in the table exactly once."""
    p, url = proxy
    with PostgresStore.connect(url) as proxied:
        p.cut()
        w = LogWriter(proxied, max_queue=10, batch_size=25, connect_timeout=1, spill_dir=tmp_path)
        threads = [
            threading.Thread(target=lambda: [w.submit(usage(i)) for i in range(300)])
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert w.flush(20)
        p.restore()
        w.close()
        stats = w.stats()
    assert stats.overflow_rows > 0 and stats.spilled_rows > stats.overflow_rows
    assert stats.dropped == 0 and stats.rejected_rows == 0
    assert ids_once(store, "llm_usage_logs") == (1200, 1200)
    assert list(tmp_path.rglob("*.jsonl")) == []


def test_overflow_that_cannot_be_kept_is_counted(store: PostgresStore, tmp_path: Path) -> None:
    """Queue full and the spill file unwritable, or rows that cannot be built: submit() says
    False, never raises, and the loss is counted; queued rows are still written."""

    class Broken:
        def rows(self) -> Iterator[UsageLog]:
            raise RuntimeError("bug in a row source")

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the spill directory should be")
    w = LogWriter(store, max_queue=5, flush_interval=5, spill_dir=blocker)
    results = [w.submit(usage(i)) for i in range(20)]
    w.submit(Broken())  # queued or overflowed (the thread may have drained): never raises
    w.close()
    stats = w.stats()
    assert stats.dropped == results.count(False) > 0 and stats.rejected_rows == 1
    assert count(store, "llm_usage_logs") == results.count(True)


def test_a_closed_writer_refuses_without_raising(store: PostgresStore, tmp_path: Path) -> None:
    """submit() after close() returns False and counts the row as dropped."""
    w = LogWriter(store, spill_dir=tmp_path)
    w.close()
    assert w.submit(usage(1)) is False
    assert w.stats().dropped == 1


def test_a_refused_row_is_isolated(store: PostgresStore, tmp_path: Path, caplog: Any) -> None:
    """A row the database refuses (a foreign key) is rejected alone; its batch is written."""
    bad = ABTestResult(test_id=uuid.uuid4(), variant_id="A", content_hash="0" * 64, success=True)
    with LogWriter(store, spill_dir=tmp_path) as w:
        for i in range(10):
            w.submit(usage(i))
        w.submit(bad)
        w.flush(10)
        assert w.stats().rejected_rows == 1
    assert count(store, "llm_usage_logs") == 10
    assert "refused by the database" in caplog.text


def test_a_model_that_is_not_a_log_row_is_refused(
    store: PostgresStore, tmp_path: Path, caplog: Any
) -> None:
    """Submitting some other model (queued or overflowing) never raises; it is rejected and
    named in the log; the real rows around it are written."""
    stray = FallbackTarget(provider="p", model="m", priority=1)
    with LogWriter(store, max_queue=2, flush_interval=5, spill_dir=tmp_path) as w:
        w.submit(usage(1))
        w.submit(stray)  # queued
        w.submit(stray)  # the queue is full: refused on the caller's side
        w.submit(usage(2))
        assert w.flush(10)
        assert w.stats().rejected_rows == 2
    assert count(store, "llm_usage_logs") == 2
    assert "FallbackTarget is not a log row" in caplog.text


def test_spilled_rows_are_written_by_the_next_start(
    store: PostgresStore, proxy: tuple[TcpProxy, str], tmp_path: Path
) -> None:
    """Database away for a writer's whole life: rows spill; the next writer replays them."""
    p, url = proxy
    with PostgresStore.connect(url) as proxied:
        p.cut()
        w = LogWriter(proxied, batch_size=50, spill_dir=tmp_path, connect_timeout=1)
        for i in range(500):
            w.submit(usage(i))
        w.close()
        assert w.stats().spilled_rows == 500
        assert w.spill_path.exists()
        # a crash mid-write leaves a torn last line: it is skipped, the rest replayed
        with open(w.spill_path, "a", encoding="utf-8") as f:
            f.write('{"t": "llm_usage_logs", "r": {"environm')
        p.restore()
        with LogWriter(proxied, spill_dir=tmp_path) as again:
            assert again.flush(10)
    assert not w.spill_path.exists()
    assert count(store, "llm_usage_logs") == 500
    assert again.stats().replayed_rows == 500 and again.stats().rejected_rows == 1


def test_spill_lines_hold_no_prompt(
    store: PostgresStore, proxy: tuple[TcpProxy, str], tmp_path: Path
) -> None:
    """Spilled router rows carry hashes and counts only, never the prompt text."""
    p, url = proxy
    with PostgresStore.connect(url) as proxied:
        p.cut()
        r = LLMRouter(config(), {"primary": FakeProvider()}, proxied, spill_dir=tmp_path)
        r.writer._reconnect_interval = 60  # type: ignore[union-attr]
        r.complete(MESSAGES)
        assert r.writer is not None and r.writer.flush(10)
        text = r.writer.spill_path.read_text()
        assert "cat sat" not in text
        assert {json.loads(line)["t"] for line in text.splitlines()} == {
            "llm_fallback_logs",
            "llm_usage_logs",
        }
        p.restore()
        r.close()
    assert count(store, "llm_fallback_logs") == 1


def test_10000_calls_with_the_database_cut_mid_run(
    store: PostgresStore, proxy: tuple[TcpProxy, str], tmp_path: Path
) -> None:
    """10,000 router calls, database unreachable for part of the run: exactly 10,000 rows each."""
    p, url = proxy
    rng = random.Random(5)

    def flaky(req: Any) -> Any:
        return ProviderUnavailable("503", status_code=503) if rng.random() < 0.1 else "ok"

    providers = {
        "primary": FakeProvider(handler=flaky, record=False),
        "backup": FakeProvider(record=False),
    }
    cfg = config(("backup", "gpt-4o"), retry_delay=0, circuit_breaker_threshold=10_000)
    with PostgresStore.connect(url) as proxied:
        r = LLMRouter(cfg, providers, proxied, spill_dir=tmp_path)
        writer = r.writer
        assert writer is not None
        for i in range(10_000):
            if i == 3000:
                writer.flush(30)
                p.cut()
            if i in (4000, 5000, 6000):
                writer.flush(30)  # the writer meets the outage and spills
            if i == 7000:
                p.restore()
            r.complete(MESSAGES, session_id=f"s{i % 50}")
        r.close()
        stats = writer.stats()
    assert stats.spilled_rows > 0, "the outage was seen by the writer"
    assert stats.replayed_rows == stats.spilled_rows
    assert stats.dropped == 0 and stats.rejected_rows == 0
    assert count(store, "llm_fallback_logs") == 10_000
    assert count(store, "llm_usage_logs") == 10_000
    assert list(tmp_path.rglob("*.jsonl")) == []


def test_interpreter_exit_flushes_without_close(store: PostgresStore, database_url: str) -> None:
    """A process that never calls close() still writes every row (atexit flush)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        f"""
        from llmops import LLMRouter, PostgresStore
        from llmops.providers.fake import FakeProvider
        from tests._routerkit import MESSAGES, config
        store = PostgresStore.connect({database_url!r})
        router = LLMRouter(config(), {{"primary": FakeProvider()}}, store)
        for _ in range(300):
            router.complete(MESSAGES)
        """
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert count(store, "llm_usage_logs") == 300
    assert count(store, "llm_fallback_logs") == 300


def test_unwritable_spill_dir_loses_rows_loudly_and_keeps_writing(
    store: PostgresStore, proxy: tuple[TcpProxy, str], tmp_path: Path, caplog: Any
) -> None:
    """A spill file that cannot be written: those rows are counted as dropped and logged; the
    writer lives on and writes later rows once the database is back."""
    p, url = proxy
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the spill directory should be")
    with PostgresStore.connect(url) as proxied:
        p.cut()
        w = LogWriter(proxied, spill_dir=blocker, reconnect_interval=0.0, connect_timeout=1)
        for i in range(20):
            w.submit(usage(i))
        assert w.flush(10)
        assert w.stats().dropped == 20
        assert "20 row(s) lost" in caplog.text
        p.restore()
        for i in range(5):
            w.submit(usage(i))
        assert w.flush(10)
        w.close()
    assert count(store, "llm_usage_logs") == 5


@pytest.mark.parametrize("lost_acks", [1, 2])
def test_a_lost_commit_ack_never_duplicates_rows(
    store: PostgresStore, lost_ack_proxy: tuple[LostAckProxy, str], tmp_path: Path, lost_acks: int
) -> None:
    """A batch committed whose COMMIT reply never arrived is spilled and replayed with the same
    ids: exactly one copy of each row (1: the first attempt's ack is lost; 2: the replay's too)."""
    p, url = lost_ack_proxy
    with PostgresStore.connect(url) as proxied:
        w = LogWriter(
            proxied, reconnect_interval=0.0, connect_timeout=1, flush_interval=5, spill_dir=tmp_path
        )
        p.armed = lost_acks
        for i in range(300):
            w.submit(TwoRows(i))  # rows built in the writer thread, ids left to the writer
        assert w.flush(20)
        w.close()
    stats = w.stats()
    assert p.lost == lost_acks, "the proxy really swallowed the acknowledgements"
    assert stats.spilled_rows == stats.replayed_rows == stats.duplicate_rows == 600
    assert stats.written_rows == 0 and stats.dropped == 0 and stats.rejected_rows == 0
    assert ids_once(store, "llm_usage_logs") == (600, 600)
    assert list(tmp_path.rglob("*.jsonl")) == []


def test_a_replay_interrupted_after_its_commit_is_not_repeated(
    store: PostgresStore, proxy: tuple[TcpProxy, str], tmp_path: Path
) -> None:
    """A spill file replayed but not removed (a crash after the COMMIT) is replayed again by
    the next writer without duplicating a row; new rows in it are written."""
    p, url = proxy
    with PostgresStore.connect(url) as proxied:
        p.cut()
        w = LogWriter(proxied, spill_dir=tmp_path, connect_timeout=1)
        for i in range(200):
            w.submit(usage(i))
        w.close()
        p.restore()
        copy = w.spill_path.with_name("spill-0-crashed.jsonl")
        shutil.copy(w.spill_path, copy)  # the same rows, as a crash would have left them
        with LogWriter(proxied, spill_dir=tmp_path) as again:
            assert again.flush(10)
        stats = again.stats()
    assert stats.replayed_rows == 400 and stats.duplicate_rows == 200
    assert ids_once(store, "llm_usage_logs") == (200, 200)
    assert not copy.exists() and not w.spill_path.exists()


def test_a_forked_child_writes_its_own_rows_once(store: PostgresStore, tmp_path: Path) -> None:
    """After os.fork() the child's writer has its own thread, queue and spill file: the rows
    queued by the parent are written by the parent only, the child's by the child."""
    w = LogWriter(store, flush_interval=5, spill_dir=tmp_path)
    for i in range(100):
        w.submit(usage(i))  # still queued in the parent at the fork
    pid = os.fork()
    if pid == 0:  # the child: no pytest machinery, exit code only
        code = 1
        try:
            for i in range(50):
                w.submit(usage(i))
            w.close()
            code = 0 if w.stats().written_rows == 50 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    w.close()
    assert os.waitstatus_to_exitcode(status) == 0
    assert w.stats().written_rows == 100
    assert ids_once(store, "llm_usage_logs") == (150, 150)
