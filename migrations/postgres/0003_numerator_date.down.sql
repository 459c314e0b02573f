-- 0003_numerator_date (PostgreSQL) down.
ALTER TABLE measure_results DROP CONSTRAINT IF EXISTS measure_results_numerator_date_check;
ALTER TABLE measure_results DROP COLUMN IF EXISTS numerator_date;
