-- 0006_import_indexes: drops measure_results_member_time_idx (member_hash, evaluated_at DESC).
-- Every read of one member's results (measure_result_by_member, member history) filters on
-- member_hash, which the primary key (member_hash, measure_code, measurement_year) already
-- leads with; the index only cost a fourth b-tree insert per imported result (19% of the
-- instructions of a measure_results merge on SQLite, 122 MB per 100,000 members).
DROP INDEX IF EXISTS measure_results_member_time_idx;
