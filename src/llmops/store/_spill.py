"""Spill files of the log writer: append-only JSON lines, one file per writer, locked while open.

A :class:`SpillFile` is appended to by any thread (the writer's thread during an outage, a
caller whose queue is full) under one lock, in whole lines; the writer's thread replays it
from the offset it has reached so far, without holding the lock while it talks to the database,
and empties it once everything in it is replayed and nothing new came in. While open, the file
carries an exclusive ``flock``, so another process never replays a file that is still being
written; a file left by a dead process is an *orphan*, which :func:`open_orphan` claims.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

try:  # POSIX: a spill file is locked by the writer that appends to it
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process protection of spill files
    fcntl = None  # type: ignore[assignment]

__all__ = ["SpillFile", "open_orphan", "spill_files"]


class SpillFile:
    """One writer's spill file; created on the first append."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / f"spill-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._done = 0  # bytes already replayed

    def append(self, data: bytes) -> None:
        """Append whole lines (any thread; a local write, no database). Raises OSError."""
        with self._lock:
            if self._file is None:
                self.directory.mkdir(parents=True, exist_ok=True)
                f = open(self.path, "ab")  # noqa: SIM115
                try:
                    if fcntl is not None:
                        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    f.close()
                    raise
                self._file = f
            self._file.write(data)
            self._file.flush()

    def pending(self) -> tuple[int, int] | None:
        """(start, end) byte range not replayed yet; it holds whole lines only."""
        with self._lock:
            if self._file is None:
                return None
            return self._done, os.fstat(self._file.fileno()).st_size

    def read(self, start: int, end: int) -> Iterator[tuple[bytes, int]]:
        """The lines in ``[start, end)``, each with the offset just after it."""
        with open(self.path, "rb") as f:
            f.seek(start)
            offset = start
            while offset < end:
                line = f.readline()
                if not line:
                    return
                offset += len(line)
                yield line, offset

    def replayed(self, offset: int) -> None:
        """Everything before ``offset`` is in the database (only the replaying thread calls)."""
        self._done = offset

    def reset_if_replayed(self) -> None:
        """Empty the file when everything in it is replayed and nothing came in meanwhile."""
        with self._lock:
            f = self._file
            if f is not None and self._done >= os.fstat(f.fileno()).st_size:
                f.truncate(0)
                self._done = 0

    def close(self) -> None:
        """Close the file; remove it first when everything in it was replayed."""
        with self._lock:
            f, self._file = self._file, None
            if f is None:
                return
            if os.fstat(f.fileno()).st_size <= self._done:
                self.path.unlink(missing_ok=True)  # before the flock goes with the close
                self._done = 0
            f.close()

    def detach(self) -> IO[bytes] | None:
        """After fork: the parent's open file, to be kept open and never used by the child
        (closing or writing it would touch the parent's lock and buffer)."""
        f, self._file = self._file, None
        return f


def spill_files(directory: Path) -> list[Path]:
    """The spill files of a directory, oldest name first."""
    if not directory.is_dir():
        return []
    return sorted(directory.glob("spill-*.jsonl"))


def open_orphan(path: Path) -> IO[bytes] | None:
    """Open and lock a spill file nobody writes to any more; None if it is gone or a live
    writer holds it."""
    try:
        f = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return None  # another writer replayed it meanwhile
    if fcntl is not None:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            return None  # a live writer owns it
    return f
