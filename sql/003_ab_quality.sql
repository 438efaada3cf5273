-- 003: quality scores of A/B test results (issue 4).
--
-- The host scores a result after the call (``record_quality(result_id, score)``), often
-- before the router's background writer has flushed the ab_test_results row itself. A side
-- table keyed by the result id takes the score whenever it arrives: no foreign key (the result
-- may not exist yet), an upsert (the latest score wins), and the analysis joins it on
-- ab_test_results.id, so a score counts once its result is stored. The seed's ab_test_results
-- columns stay exactly as the seed defines them.

CREATE TABLE IF NOT EXISTS ab_result_quality (
    result_id UUID PRIMARY KEY,
    score NUMERIC(4, 3) NOT NULL CHECK (score >= 0 AND score <= 1),
    recorded_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

COMMENT ON TABLE ab_result_quality IS
    'Quality score in [0, 1] of one ab_test_results row, keyed by its id. No foreign key: the '
    'score may be recorded before the batched result row is written.';

-- retention: scores whose result never arrived (or was deleted) are found by age
CREATE INDEX IF NOT EXISTS idx_ab_result_quality_recorded_at
ON ab_result_quality(recorded_at);

ALTER TABLE ab_result_quality ENABLE ROW LEVEL SECURITY;
CREATE POLICY "advanced_tables_read_all" ON ab_result_quality FOR SELECT USING (true);
CREATE POLICY "advanced_tables_write_all" ON ab_result_quality FOR ALL USING (true);
