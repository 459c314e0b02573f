-- 0007_gap_counts_insert_statement (SQLite): nothing to change; keeps the version numbers of
-- both backends aligned. The PostgreSQL migration of the same number makes the INSERT and DELETE
-- maintenance of gap_counts statement-level; SQLite has row triggers only, which cost no round
-- trip, and keeps them.
SELECT 1;
