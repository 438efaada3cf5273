-- 006: backups and restore logs (issue 5). Additions only.

-- A backup version names one backup of one environment: BackupManager allocates versions under
-- an advisory lock, and this index makes a duplicate impossible even for other writers.
CREATE UNIQUE INDEX IF NOT EXISTS idx_llm_backups_environment_version
ON llm_backups(environment, version);

-- `llmops backup restore` history of an environment, newest first.
CREATE INDEX IF NOT EXISTS idx_llm_restore_logs_environment
ON llm_restore_logs(environment, created_at DESC);
