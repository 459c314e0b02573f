-- 0007_gap_counts_insert_statement (SQLite) down: nothing to revert (see the up migration).
SELECT 1;
