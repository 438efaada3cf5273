-- 003: quality scores of A/B test results (issue 4).
--
-- The host scores a result after the call (``record_quality(result_id, score)``), often
-- before the router's background writer has flushed the ab_test_results row itself. A side
-- table keyed by the result id takes the score whenever it arrives: no foreign key to the
-- result (it may not exist yet) and an upsert (the latest score wins). The seed's
-- ab_test_results columns stay exactly as the seed defines them.
--
-- test_id / variant_id copy the result's, so that the analysis reads the scores of one test
-- through an index instead of joining every result row of the test:
--   * record_quality fills them when the result row is already stored;
--   * otherwise the statement-level trigger below fills them when the result row arrives
--     (one UPDATE per INSERT/COPY statement, through the transition table);
--   * a score and its result committed concurrently can miss each other; such rows keep
--     test_id NULL, and the analysis still joins them to their result (partial index below).

CREATE TABLE IF NOT EXISTS ab_result_quality (
    result_id UUID PRIMARY KEY,
    score NUMERIC(4, 3) NOT NULL CHECK (score >= 0 AND score <= 1),
    test_id UUID REFERENCES ab_tests(id) ON DELETE CASCADE,
    variant_id VARCHAR(100),
    recorded_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

COMMENT ON TABLE ab_result_quality IS
    'Quality score in [0, 1] of one ab_test_results row, keyed by its id. No foreign key to '
    'the result: the score may be recorded before the batched result row is written. '
    'test_id/variant_id are copied from the result once it is stored.';

CREATE INDEX IF NOT EXISTS idx_ab_result_quality_test
ON ab_result_quality(test_id, variant_id);

CREATE INDEX IF NOT EXISTS idx_ab_result_quality_unresolved
ON ab_result_quality(result_id) WHERE test_id IS NULL;

CREATE OR REPLACE FUNCTION resolve_ab_result_quality() RETURNS trigger AS $$
BEGIN
    UPDATE ab_result_quality q
    SET test_id = n.test_id, variant_id = n.variant_id
    FROM new_ab_results n
    WHERE q.result_id = n.id AND q.test_id IS NULL;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER resolve_ab_result_quality
    AFTER INSERT ON ab_test_results
    REFERENCING NEW TABLE AS new_ab_results
    FOR EACH STATEMENT
    EXECUTE FUNCTION resolve_ab_result_quality();

ALTER TABLE ab_result_quality ENABLE ROW LEVEL SECURITY;
CREATE POLICY "advanced_tables_read_all" ON ab_result_quality FOR SELECT USING (true);
CREATE POLICY "advanced_tables_write_all" ON ab_result_quality FOR ALL USING (true);
