-- 0005_gap_counts_statement (SQLite) down: nothing to revert (see the up migration).
SELECT 1;
