-- 001: the seed document's schema (shared/seed/000_e7836c200170c6f3.txt), verbatim,
-- plus what the seed names but its complete script forgot: five indexes from the
-- per-table sections and the RLS policies for the seven other tables.
-- The monthly-partition example is left out: llm_fallback_logs is not a partitioned
-- table, so it cannot run as written (see README, "Scaling out").
-- Never edit this file once released: the migration runner refuses changed files.

-- ======================================================================
-- LLM Advanced Features Database Schema
-- Phase 3 implementation tables
-- ======================================================================

-- 1. フォールバック設定テーブル
CREATE TABLE IF NOT EXISTS llm_fallback_configs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    environment VARCHAR(20) NOT NULL CHECK (environment IN ('local', 'staging', 'production')),
    primary_provider VARCHAR(50) NOT NULL,
    primary_model VARCHAR(100) NOT NULL,
    fallback_providers JSONB NOT NULL DEFAULT '[]'::jsonb,
    max_retries INTEGER NOT NULL DEFAULT 3 CHECK (max_retries >= 1 AND max_retries <= 10),
    retry_delay INTEGER NOT NULL DEFAULT 1000 CHECK (retry_delay >= 0),
    circuit_breaker_threshold INTEGER NOT NULL DEFAULT 5 CHECK (circuit_breaker_threshold >= 1),
    circuit_breaker_reset_time INTEGER NOT NULL DEFAULT 60000 CHECK (circuit_breaker_reset_time >= 1000),
    is_active BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

-- 2. フォールバック実行ログテーブル
CREATE TABLE IF NOT EXISTS llm_fallback_logs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    primary_provider VARCHAR(50) NOT NULL,
    primary_model VARCHAR(100) NOT NULL,
    used_provider VARCHAR(50),
    used_model VARCHAR(100),
    attempted_providers JSONB NOT NULL DEFAULT '[]'::jsonb,
    success BOOLEAN NOT NULL,
    error_message TEXT,
    environment VARCHAR(20) NOT NULL,
    processing_time_ms INTEGER,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

-- 3. A/Bテストテーブル
CREATE TABLE IF NOT EXISTS ab_tests (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(200) NOT NULL,
    description TEXT,
    environment VARCHAR(20) NOT NULL CHECK (environment IN ('local', 'staging', 'production')),
    variants JSONB NOT NULL,
    traffic_split JSONB NOT NULL,
    start_date TIMESTAMP WITH TIME ZONE NOT NULL,
    end_date TIMESTAMP WITH TIME ZONE,
    is_active BOOLEAN NOT NULL DEFAULT true,
    metrics JSONB NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

-- 4. A/Bテスト結果テーブル
CREATE TABLE IF NOT EXISTS ab_test_results (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    test_id UUID NOT NULL REFERENCES ab_tests(id) ON DELETE CASCADE,
    variant_id VARCHAR(100) NOT NULL,
    content_hash VARCHAR(64) NOT NULL,
    title_hash VARCHAR(64),
    summary_length INTEGER,
    input_tokens INTEGER,
    output_tokens INTEGER,
    total_tokens INTEGER,
    estimated_cost DECIMAL(10, 6),
    processing_time INTEGER,
    provider VARCHAR(50),
    model VARCHAR(100),
    user_segment VARCHAR(100),
    session_id VARCHAR(100),
    success BOOLEAN NOT NULL,
    error_message TEXT,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

-- 5. バックアップテーブル
CREATE TABLE IF NOT EXISTS llm_backups (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    version VARCHAR(20) NOT NULL,
    environment VARCHAR(20) NOT NULL,
    backup_data JSONB NOT NULL,
    creator VARCHAR(200) NOT NULL,
    description TEXT,
    data_size INTEGER NOT NULL CHECK (data_size >= 0),
    hash VARCHAR(64) NOT NULL,
    status VARCHAR(20) NOT NULL DEFAULT 'completed' CHECK (status IN ('pending', 'completed', 'failed')),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

-- 6. リストアログテーブル
CREATE TABLE IF NOT EXISTS llm_restore_logs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    backup_version VARCHAR(20) NOT NULL,
    backup_timestamp TIMESTAMP WITH TIME ZONE NOT NULL,
    environment VARCHAR(20) NOT NULL,
    restore_report JSONB NOT NULL,
    status VARCHAR(20) NOT NULL DEFAULT 'completed' CHECK (status IN ('pending', 'completed', 'failed')),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

-- 7. アラートルールテーブル
CREATE TABLE IF NOT EXISTS alert_rules (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(200) NOT NULL,
    description TEXT,
    environment VARCHAR(20) NOT NULL CHECK (environment IN ('local', 'staging', 'production')),
    type VARCHAR(50) NOT NULL CHECK (type IN ('cost_threshold', 'error_rate', 'response_time', 'success_rate', 'token_usage', 'provider_failure', 'circuit_breaker', 'quota_exceeded')),
    conditions JSONB NOT NULL,
    actions JSONB NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT true,
    frequency VARCHAR(20) NOT NULL DEFAULT 'immediate' CHECK (frequency IN ('immediate', 'every_5min', 'every_15min', 'hourly', 'daily')),
    last_triggered TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

-- 8. アラートイベントテーブル
CREATE TABLE IF NOT EXISTS alert_events (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    rule_id UUID NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
    rule_name VARCHAR(200) NOT NULL,
    severity VARCHAR(20) NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    message TEXT NOT NULL,
    details JSONB NOT NULL,
    environment VARCHAR(20) NOT NULL,
    triggered_at TIMESTAMP WITH TIME ZONE NOT NULL,
    resolved_at TIMESTAMP WITH TIME ZONE,
    status VARCHAR(20) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'resolved', 'acknowledged'))
);

-- インデックス作成
-- フォールバック設定
CREATE UNIQUE INDEX IF NOT EXISTS idx_fallback_config_environment_active
ON llm_fallback_configs(environment) WHERE is_active = true;

CREATE INDEX IF NOT EXISTS idx_fallback_config_provider
ON llm_fallback_configs(primary_provider, primary_model);

-- フォールバックログ
CREATE INDEX IF NOT EXISTS idx_fallback_logs_created_at
ON llm_fallback_logs(created_at DESC);

CREATE INDEX IF NOT EXISTS idx_fallback_logs_environment
ON llm_fallback_logs(environment, created_at DESC);

-- A/Bテスト
CREATE INDEX IF NOT EXISTS idx_ab_tests_environment_active
ON ab_tests(environment, is_active);

CREATE INDEX IF NOT EXISTS idx_ab_tests_date_range
ON ab_tests(start_date, end_date) WHERE is_active = true;

-- A/Bテスト結果
CREATE INDEX IF NOT EXISTS idx_ab_test_results_test_id
ON ab_test_results(test_id, created_at DESC);

CREATE INDEX IF NOT EXISTS idx_ab_test_results_variant
ON ab_test_results(test_id, variant_id, success);

-- バックアップ
CREATE INDEX IF NOT EXISTS idx_llm_backups_environment
ON llm_backups(environment, created_at DESC);

-- アラートルール
CREATE INDEX IF NOT EXISTS idx_alert_rules_environment_active
ON alert_rules(environment, is_active);

CREATE INDEX IF NOT EXISTS idx_alert_rules_type
ON alert_rules(type, environment);

-- アラートイベント
CREATE INDEX IF NOT EXISTS idx_alert_events_rule_id
ON alert_events(rule_id, triggered_at DESC);

CREATE INDEX IF NOT EXISTS idx_alert_events_severity
ON alert_events(severity, triggered_at DESC);

CREATE INDEX IF NOT EXISTS idx_alert_events_environment
ON alert_events(environment, triggered_at DESC);

-- Indexes named in the seed's per-table sections that its complete script forgot.
CREATE INDEX IF NOT EXISTS idx_fallback_logs_success
ON llm_fallback_logs(success, created_at DESC);

CREATE INDEX IF NOT EXISTS idx_ab_test_results_session
ON ab_test_results(session_id)
WHERE session_id IS NOT NULL;

CREATE INDEX IF NOT EXISTS idx_llm_backups_creator
ON llm_backups(creator, created_at DESC);

CREATE INDEX IF NOT EXISTS idx_alert_rules_last_triggered
ON alert_rules(last_triggered)
WHERE last_triggered IS NOT NULL;

CREATE INDEX IF NOT EXISTS idx_alert_events_status
ON alert_events(status)
WHERE status = 'active';

-- トリガー関数（updated_atの自動更新）
CREATE OR REPLACE FUNCTION update_updated_at_advanced()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

-- トリガー作成
CREATE TRIGGER update_llm_fallback_configs_updated_at
    BEFORE UPDATE ON llm_fallback_configs
    FOR EACH ROW
    EXECUTE FUNCTION update_updated_at_advanced();

CREATE TRIGGER update_ab_tests_updated_at
    BEFORE UPDATE ON ab_tests
    FOR EACH ROW
    EXECUTE FUNCTION update_updated_at_advanced();

CREATE TRIGGER update_alert_rules_updated_at
    BEFORE UPDATE ON alert_rules
    FOR EACH ROW
    EXECUTE FUNCTION update_updated_at_advanced();

-- RLS (Row Level Security) 設定
ALTER TABLE llm_fallback_configs ENABLE ROW LEVEL SECURITY;
ALTER TABLE llm_fallback_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE ab_tests ENABLE ROW LEVEL SECURITY;
ALTER TABLE ab_test_results ENABLE ROW LEVEL SECURITY;
ALTER TABLE llm_backups ENABLE ROW LEVEL SECURITY;
ALTER TABLE llm_restore_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE alert_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE alert_events ENABLE ROW LEVEL SECURITY;

-- 基本的なRLSポリシー（全ユーザーアクセス可能 - シングルユーザーアプリのため）
CREATE POLICY "advanced_tables_read_all" ON llm_fallback_configs FOR SELECT USING (true);
CREATE POLICY "advanced_tables_write_all" ON llm_fallback_configs FOR ALL USING (true);

-- The seed writes the policies for llm_fallback_configs and says "the same for the
-- other tables"; here they are, written out.
CREATE POLICY "advanced_tables_read_all" ON llm_fallback_logs FOR SELECT USING (true);
CREATE POLICY "advanced_tables_write_all" ON llm_fallback_logs FOR ALL USING (true);
CREATE POLICY "advanced_tables_read_all" ON ab_tests FOR SELECT USING (true);
CREATE POLICY "advanced_tables_write_all" ON ab_tests FOR ALL USING (true);
CREATE POLICY "advanced_tables_read_all" ON ab_test_results FOR SELECT USING (true);
CREATE POLICY "advanced_tables_write_all" ON ab_test_results FOR ALL USING (true);
CREATE POLICY "advanced_tables_read_all" ON llm_backups FOR SELECT USING (true);
CREATE POLICY "advanced_tables_write_all" ON llm_backups FOR ALL USING (true);
CREATE POLICY "advanced_tables_read_all" ON llm_restore_logs FOR SELECT USING (true);
CREATE POLICY "advanced_tables_write_all" ON llm_restore_logs FOR ALL USING (true);
CREATE POLICY "advanced_tables_read_all" ON alert_rules FOR SELECT USING (true);
CREATE POLICY "advanced_tables_write_all" ON alert_rules FOR ALL USING (true);
CREATE POLICY "advanced_tables_read_all" ON alert_events FOR SELECT USING (true);
CREATE POLICY "advanced_tables_write_all" ON alert_events FOR ALL USING (true);


-- コメント追加
COMMENT ON TABLE llm_fallback_configs IS 'LLMプロバイダー自動切り替え設定';
COMMENT ON TABLE llm_fallback_logs IS 'フォールバック実行履歴';
COMMENT ON TABLE ab_tests IS 'A/Bテスト設定';
COMMENT ON TABLE ab_test_results IS 'A/Bテスト実行結果';
COMMENT ON TABLE llm_backups IS 'LLM設定バックアップ';
COMMENT ON TABLE llm_restore_logs IS 'バックアップリストア履歴';
COMMENT ON TABLE alert_rules IS 'アラート監視ルール';
COMMENT ON TABLE alert_events IS 'アラートイベント履歴';
