-- 007: a covering index for the A/B analysis (issue 4, benchmark item 6). One index, nothing else.
--
-- llmops.ab.analyze groups a test's results by (variant_id, success, processing_time) and reads
-- estimated_cost and total_tokens (src/llmops/ab/analysis.py, _RESULTS_SQL). This index holds
-- exactly those columns in that order, so the analysis is an index-only scan of the test's own
-- entries, already in group order (a streaming GroupAggregate: no hash table, no sort) instead
-- of a scan of every heap row of the table. Heap rows are wide (content_hash alone is 64 bytes)
-- and the seed's idx_ab_test_results_variant lacks processing_time and the two measured columns.
-- Measured on 1,000,000 results of one test (benchmarks/bench_ab_analyze.py, README): the
-- statement's CPU time in one process fell from about 490 to 290 ms, and the benchmark's
-- results statement from a median of 464 to 272 ms (with analysis.py's numeric aggregation).
--
-- The price, also measured: the index takes 63-71 MB per million results (built at once /
-- grown by inserts; the heap takes 188 MB), and each inserted result costs about 5 us more
-- (INSERT ... SELECT of 1M rows: 6.4 s -> 11.7 s), negligible at one row per LLM call.
-- Index-only scans need the visibility map, which autovacuum keeps current on this insert-only
-- table (PostgreSQL >= 13 vacuums after inserts); while much of it is stale the planner keeps
-- the seq scan.
-- Plain CREATE INDEX (migrations run in a transaction): on a large existing table, result
-- inserts wait while it builds (about 2.4 s per million rows).

CREATE INDEX IF NOT EXISTS idx_ab_test_results_analysis
ON ab_test_results(test_id, variant_id, success, processing_time)
INCLUDE (estimated_cost, total_tokens);
