-- 0006_import_indexes down: restores the per-member time index.
CREATE INDEX IF NOT EXISTS measure_results_member_time_idx ON measure_results (member_hash, evaluated_at DESC);
