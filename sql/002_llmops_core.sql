-- 002: tables the seed assumes but does not define, in the seed's conventions
-- (UUID keys, environment CHECK, timestamptz, indexes for the time-window queries).
--
--   llm_settings                 the per-environment LLM settings that backups call "llmSettings"
--   llm_usage_logs               one row per router call; alerts and backups' "usageStats" read it
--   llm_circuit_breaker_events   one row per breaker state change; the circuit_breaker alert reads it

CREATE TABLE IF NOT EXISTS llm_settings (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    environment VARCHAR(20) NOT NULL CHECK (environment IN ('local', 'staging', 'production')),
    provider VARCHAR(50) NOT NULL,
    model VARCHAR(100) NOT NULL,
    -- generation parameters: {"temperature": 0.7, "max_tokens": 1000, "top_p": 1.0}
    parameters JSONB NOT NULL DEFAULT '{}'::jsonb,
    -- never a key: a reference such as 'env:OPENAI_API_KEY'
    api_key_ref VARCHAR(200) CHECK (api_key_ref ~ '^env:[A-Za-z_][A-Za-z0-9_]*$'),
    base_url VARCHAR(500),
    timeout_ms INTEGER NOT NULL DEFAULT 30000 CHECK (timeout_ms >= 100 AND timeout_ms <= 3600000),
    is_active BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    CONSTRAINT llm_settings_environment_provider_model_key UNIQUE (environment, provider, model)
);

CREATE TABLE IF NOT EXISTS llm_usage_logs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    environment VARCHAR(20) NOT NULL CHECK (environment IN ('local', 'staging', 'production')),
    provider VARCHAR(50) NOT NULL,
    model VARCHAR(100) NOT NULL,
    input_tokens INTEGER CHECK (input_tokens >= 0),
    output_tokens INTEGER CHECK (output_tokens >= 0),
    total_tokens INTEGER CHECK (total_tokens >= 0),
    estimated_cost DECIMAL(12, 6),
    processing_time_ms INTEGER CHECK (processing_time_ms >= 0),
    success BOOLEAN NOT NULL,
    -- ProviderError.kind of the final failure: rate_limited, timeout, unavailable, ...
    error_kind VARCHAR(50),
    status_code INTEGER,
    fallback_used BOOLEAN NOT NULL DEFAULT false,
    session_id VARCHAR(100),
    -- the llm_fallback_logs row of the same call (no FK: both are written in batches
    -- and retention may delete them on different schedules)
    fallback_log_id UUID,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

CREATE TABLE IF NOT EXISTS llm_circuit_breaker_events (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    environment VARCHAR(20) NOT NULL CHECK (environment IN ('local', 'staging', 'production')),
    provider VARCHAR(50) NOT NULL,
    model VARCHAR(100) NOT NULL,
    from_state VARCHAR(20) NOT NULL CHECK (from_state IN ('closed', 'open', 'half_open')),
    to_state VARCHAR(20) NOT NULL CHECK (to_state IN ('closed', 'open', 'half_open')),
    consecutive_failures INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

-- Alerts aggregate one environment over a recent window; backups and retention scan by time.
CREATE INDEX IF NOT EXISTS idx_llm_usage_logs_environment
ON llm_usage_logs(environment, created_at DESC);

CREATE INDEX IF NOT EXISTS idx_llm_usage_logs_provider
ON llm_usage_logs(environment, provider, model, created_at DESC);

CREATE INDEX IF NOT EXISTS idx_llm_usage_logs_created_at
ON llm_usage_logs(created_at);

CREATE INDEX IF NOT EXISTS idx_llm_breaker_events_environment
ON llm_circuit_breaker_events(environment, created_at DESC);

CREATE INDEX IF NOT EXISTS idx_llm_settings_environment_active
ON llm_settings(environment, is_active);

CREATE TRIGGER update_llm_settings_updated_at
    BEFORE UPDATE ON llm_settings
    FOR EACH ROW
    EXECUTE FUNCTION update_updated_at_advanced();

ALTER TABLE llm_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE llm_usage_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE llm_circuit_breaker_events ENABLE ROW LEVEL SECURITY;

CREATE POLICY "advanced_tables_read_all" ON llm_settings FOR SELECT USING (true);
CREATE POLICY "advanced_tables_write_all" ON llm_settings FOR ALL USING (true);
CREATE POLICY "advanced_tables_read_all" ON llm_usage_logs FOR SELECT USING (true);
CREATE POLICY "advanced_tables_write_all" ON llm_usage_logs FOR ALL USING (true);
CREATE POLICY "advanced_tables_read_all" ON llm_circuit_breaker_events FOR SELECT USING (true);
CREATE POLICY "advanced_tables_write_all" ON llm_circuit_breaker_events FOR ALL USING (true);

COMMENT ON TABLE llm_settings IS 'LLM settings per environment (backups: llmSettings)';
COMMENT ON TABLE llm_usage_logs IS 'One row per router call: tokens, cost, latency, outcome';
COMMENT ON TABLE llm_circuit_breaker_events IS 'Circuit breaker state changes';
