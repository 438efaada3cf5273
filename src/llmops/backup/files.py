"""Backups as raw rows and as export files.

An export file is one JSON object (UTF-8, indented, sorted keys)::

    {"format": "llmops-backup", "formatVersion": 1, "id": ..., "version": ...,
     "environment": ..., "creator": ..., "description": ..., "status": "completed",
     "createdAt": ..., "dataSize": ..., "hash": ..., "backupData": {...}}

``backupData`` is the stored JSONB value; ``hash`` and ``dataSize`` are those of its canonical
JSON (see ``canonical``), so a reader recomputes them from the file alone. Whitespace and key
order in the file do not matter; any change to a value, or to the hash, does.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from pydantic import Field, ValidationError

from llmops.backup.canonical import JSONValue, digest
from llmops.errors import ConfigError, IntegrityError
from llmops.models.backup import BackupStatus
from llmops.models.common import Document, Name200, NonNegInt4, Str20, Str64

__all__ = [
    "FILE_FORMAT",
    "RawBackup",
    "integrity_problems",
    "read_backup_file",
    "write_backup_file",
]

FILE_FORMAT = "llmops-backup"


@dataclass(frozen=True, slots=True)
class RawBackup:
    """A backup as stored: metadata and ``backup_data`` as the raw JSON value it hashes."""

    id: UUID
    version: str
    environment: str
    creator: str
    description: str | None
    data_size: int
    hash: str
    status: BackupStatus
    created_at: datetime
    data: JSONValue

    def check(self) -> None:
        """:class:`IntegrityError` unless the data hashes to ``hash`` and measures ``data_size``."""
        problems = integrity_problems(self)
        if problems:
            raise IntegrityError(f"backup {self.version}: " + "; ".join(problems))


def integrity_problems(raw: RawBackup) -> list[str]:
    """What is wrong with ``raw``'s hash and size (empty when intact)."""
    actual = digest(raw.data)
    problems = []
    if actual.hash != raw.hash:
        problems.append(f"hash mismatch: recorded {raw.hash}, data hashes to {actual.hash}")
    if actual.size != raw.data_size:
        problems.append(f"size mismatch: recorded {raw.data_size} bytes, data has {actual.size}")
    return problems


class _File(Document):
    format: Literal["llmops-backup"]
    format_version: Literal[1] = Field(alias="formatVersion")
    id: UUID
    version: Str20
    environment: Str20
    creator: Name200
    description: str | None = None
    status: BackupStatus
    created_at: datetime = Field(alias="createdAt")
    data_size: NonNegInt4 = Field(alias="dataSize")
    hash: Str64
    backup_data: dict[str, Any] = Field(alias="backupData")


def write_backup_file(raw: RawBackup, path: str) -> None:
    """Write ``raw`` to ``path`` (``-`` for stdout) atomically: a reader never sees half a file."""
    doc = _File(
        format=FILE_FORMAT,
        format_version=1,
        id=raw.id,
        version=raw.version,
        environment=raw.environment,
        creator=raw.creator,
        description=raw.description,
        status=raw.status,
        created_at=raw.created_at,
        data_size=raw.data_size,
        hash=raw.hash,
        backup_data=raw.data,
    )
    text = json.dumps(
        doc.model_dump(mode="json", by_alias=True), indent=2, sort_keys=True, ensure_ascii=False
    )
    if path == "-":
        sys.stdout.write(text + "\n")
        return
    target = Path(path)
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or Path("."))
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        os.replace(tmp, target)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from None


def read_backup_file(path: str | Path) -> RawBackup:
    """Read an export file and check its integrity (:class:`IntegrityError` when tampered)."""
    name = str(path)
    try:
        text = sys.stdin.read() if name == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise ConfigError(f"{name}: cannot read: {reason or exc}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name}: not valid JSON: {exc}") from None
    if not isinstance(value, dict) or value.get("format") != FILE_FORMAT:
        raise ConfigError(f"{name}: not an llmops backup file (format must be {FILE_FORMAT!r})")
    try:
        doc = _File.model_validate(value)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{name}: {loc}: {first['msg']}") from None
    raw = RawBackup(
        id=doc.id,
        version=doc.version,
        environment=doc.environment,
        creator=doc.creator,
        description=doc.description,
        data_size=doc.data_size,
        hash=doc.hash,
        status=doc.status,
        created_at=doc.created_at,
        data=value["backupData"],
    )
    raw.check()
    return raw
