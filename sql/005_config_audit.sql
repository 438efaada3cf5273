-- 005: the audit trail of operating configuration, and change notifications for hot reload.
--
--   llm_config_audit   one row per apply / activate / deactivate / delete of a fallback config
--                      or an llm_settings row: who, when, what (the row before and after)
--
-- The trigger below makes every change to an active fallback config (from `llmops config`,
-- a backup restore, or plain SQL) NOTIFY the channel that running routers LISTEN on, with the
-- environment as payload. PostgreSQL folds identical notifications of one transaction into one.

CREATE TABLE IF NOT EXISTS llm_config_audit (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    -- which table the change was made to
    kind VARCHAR(20) NOT NULL CHECK (kind IN ('fallback_config', 'llm_settings')),
    -- the changed row; no foreign key: deleted rows keep their history
    config_id UUID NOT NULL,
    environment VARCHAR(20) NOT NULL CHECK (environment IN ('local', 'staging', 'production')),
    action VARCHAR(20) NOT NULL CHECK (action IN ('create', 'update', 'activate', 'deactivate', 'delete')),
    -- who: --actor, $LLMOPS_ACTOR or the OS user
    actor VARCHAR(200) NOT NULL,
    -- what: {"before": {...}, "after": {...}, "changes": [...]} (references only, never secrets)
    details JSONB NOT NULL DEFAULT '{}'::jsonb,
    -- clock_timestamp(), not NOW(): an apply --activate writes two rows in one transaction
    -- and history must list them in the order they happened
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX IF NOT EXISTS idx_llm_config_audit_environment
ON llm_config_audit(environment, created_at DESC);

CREATE INDEX IF NOT EXISTS idx_llm_config_audit_config
ON llm_config_audit(config_id, created_at DESC);

CREATE OR REPLACE FUNCTION notify_llm_fallback_config_change()
RETURNS TRIGGER AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.is_active THEN
            PERFORM pg_notify('llmops_fallback_config', OLD.environment);
        END IF;
        RETURN OLD;
    END IF;
    IF NEW.is_active THEN
        PERFORM pg_notify('llmops_fallback_config', NEW.environment);
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.is_active AND OLD.environment IS DISTINCT FROM NEW.environment THEN
        PERFORM pg_notify('llmops_fallback_config', OLD.environment);
    ELSIF TG_OP = 'UPDATE' AND OLD.is_active AND NOT NEW.is_active THEN
        PERFORM pg_notify('llmops_fallback_config', OLD.environment);
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER notify_llm_fallback_configs_change
    AFTER INSERT OR UPDATE OR DELETE ON llm_fallback_configs
    FOR EACH ROW
    EXECUTE FUNCTION notify_llm_fallback_config_change();

ALTER TABLE llm_config_audit ENABLE ROW LEVEL SECURITY;

CREATE POLICY "advanced_tables_read_all" ON llm_config_audit FOR SELECT USING (true);
CREATE POLICY "advanced_tables_write_all" ON llm_config_audit FOR ALL USING (true);

COMMENT ON TABLE llm_config_audit IS 'Who changed which fallback config or LLM setting, when, and how';
