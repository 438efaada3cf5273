"""An embedded PostgreSQL (the ``embedded`` extra, pgserver from PyPI) for the demo and for
machines without a server. Data lives in a per-user directory and survives between runs."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = ["EMBEDDED_DIR_ENV", "EmbeddedPostgres", "default_data_dir"]

EMBEDDED_DIR_ENV = "LLMOPS_EMBEDDED_DIR"


def default_data_dir() -> Path:
    """``$LLMOPS_EMBEDDED_DIR``, else the per-user data directory (``~/.local/share/llmops/postgres``
    on Linux, ``~/Library/Application Support/llmops/postgres`` on macOS)."""
    if os.environ.get(EMBEDDED_DIR_ENV):
        return Path(os.environ[EMBEDDED_DIR_ENV]).expanduser()
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    elif sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "llmops" / "postgres"


class EmbeddedPostgres:
    """Start (or reuse) an embedded server; ``url`` is its DSN. Stops the server it started."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self.data_dir = data_dir or default_data_dir()
        self._server: Any = None

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
            warnings.simplefilter("ignore")
            try:
                import pgserver  # noqa: PLC0415 - optional dependency
            except ImportError as exc:
                raise ImportError(
                    "the embedded PostgreSQL needs the 'embedded' extra: "
                    "pip install 'llmops[embedded]'"
                ) from exc
            self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
        return self.url

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("embedded PostgreSQL is not started")
        return str(self._server.get_uri())

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
