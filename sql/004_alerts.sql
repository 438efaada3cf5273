-- 004: what the alert engine needs beyond the seed's alert_rules / alert_events.
-- Additions only: no seed column, default or CHECK is changed.

-- The seed stores a severity on every event but not on the rule that raises it. Existing rows
-- (and tools written against the seed alone) must keep working, so the column is defaulted
-- rather than required: a rule created without a severity raises 'medium' events.
ALTER TABLE alert_rules
    ADD COLUMN IF NOT EXISTS severity VARCHAR(20) NOT NULL DEFAULT 'medium'
        CHECK (severity IN ('low', 'medium', 'high', 'critical'));

-- Minutes between reminders while an event stays active (not acknowledged). NULL: never remind.
ALTER TABLE alert_rules
    ADD COLUMN IF NOT EXISTS repeat_interval_minutes INTEGER DEFAULT 60
        CHECK (repeat_interval_minutes >= 1 AND repeat_interval_minutes <= 525600);

-- When each rule was last evaluated (breach or not): `frequency` is due relative to it. Written
-- in the same transaction as the evaluation, under the rule's row lock, so replicas agree. A
-- table of its own rather than a column of alert_rules: the seed's updated_at trigger would
-- otherwise move alert_rules.updated_at on every pass, and updated_at means "configuration
-- changed".
CREATE TABLE IF NOT EXISTS alert_rule_evaluations (
    rule_id UUID PRIMARY KEY REFERENCES alert_rules(id) ON DELETE CASCADE,
    last_evaluated_at TIMESTAMP WITH TIME ZONE NOT NULL
);

ALTER TABLE alert_rule_evaluations ENABLE ROW LEVEL SECURITY;
CREATE POLICY "advanced_tables_read_all" ON alert_rule_evaluations FOR SELECT USING (true);
CREATE POLICY "advanced_tables_write_all" ON alert_rule_evaluations FOR ALL USING (true);
COMMENT ON TABLE alert_rule_evaluations IS 'When each alert rule was last evaluated';

-- Reminder bookkeeping on the event: the last notification (firing or reminder), how many
-- reminders went out, and when someone acknowledged it.
ALTER TABLE alert_events
    ADD COLUMN IF NOT EXISTS last_notified_at TIMESTAMP WITH TIME ZONE;

ALTER TABLE alert_events
    ADD COLUMN IF NOT EXISTS reminder_count INTEGER NOT NULL DEFAULT 0
        CHECK (reminder_count >= 0);

ALTER TABLE alert_events
    ADD COLUMN IF NOT EXISTS acknowledged_at TIMESTAMP WITH TIME ZONE;

-- One open (active or acknowledged) event per rule. The engine already serialises evaluations
-- of a rule with SELECT ... FOR UPDATE on the rule row; this index makes a second open event
-- impossible even for a writer that skips the lock.
CREATE UNIQUE INDEX IF NOT EXISTS idx_alert_events_one_open_per_rule
ON alert_events(rule_id) WHERE status <> 'resolved';

-- Failure and quota metrics count failed calls of an environment in a window.
CREATE INDEX IF NOT EXISTS idx_llm_usage_logs_failures
ON llm_usage_logs(environment, created_at DESC) WHERE NOT success;
