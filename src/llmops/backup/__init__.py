"""Backups of an environment's LLM configuration: create, verify, export/import, restore.

``backup_data`` holds the seed's sections ``llmSettings``, ``fallbackConfigs``, ``abTests`` and
``usageStats`` (usage per provider/model when the backup was made, for the record; never
restored), plus ``alertRules``. Secrets never enter a backup in clear: ``env:NAME`` references
are kept, anything else is replaced by :data:`llmops.secrets.REDACTED`.

Modules: ``canonical`` (hash and size), ``snapshot`` (reading sections), ``redaction`` (alert
secrets), ``plan`` (what a restore changes, pure), ``restore`` (applying it in one transaction),
``files`` (export format), ``manager`` (:class:`BackupManager`, the entry point).
"""

from llmops.backup.canonical import Digest, canonical_json, digest
from llmops.backup.files import RawBackup, read_backup_file, write_backup_file
from llmops.backup.manager import CREATE_STEPS, BackupManager, format_version
from llmops.backup.plan import RESTORABLE_SECTIONS
from llmops.backup.restore import ALL_SECTIONS, LoadedBackup, ProgressCallback

__all__ = [
    "ALL_SECTIONS",
    "CREATE_STEPS",
    "RESTORABLE_SECTIONS",
    "BackupManager",
    "Digest",
    "LoadedBackup",
    "ProgressCallback",
    "RawBackup",
    "canonical_json",
    "digest",
    "format_version",
    "read_backup_file",
    "write_backup_file",
]
