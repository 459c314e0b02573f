-- 0002_features_models (SQLite) down.
DROP TABLE IF EXISTS models;
DROP INDEX IF EXISTS measure_results_year_idx;
DROP TABLE IF EXISTS member_features;
