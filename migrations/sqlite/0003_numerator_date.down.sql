-- 0003_numerator_date (SQLite) down.
ALTER TABLE measure_results DROP COLUMN numerator_date;
