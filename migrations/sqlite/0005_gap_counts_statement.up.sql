-- 0005_gap_counts_statement (SQLite): nothing to change; keeps the version numbers of both
-- backends aligned. The PostgreSQL migration of the same number replaces the per-row UPDATE
-- trigger of gap_counts by a statement-level one with transition tables, which SQLite does not
-- have (its triggers are per row only); SQLite's row triggers cost no round trip and stay.
SELECT 1;
