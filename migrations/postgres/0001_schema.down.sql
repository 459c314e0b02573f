-- 0001_schema (PostgreSQL) down: drops every table (partitions, triggers and indexes go with
-- them) and the schema's functions.
DROP TABLE IF EXISTS api_keys;
DROP TABLE IF EXISTS measure_results;
DROP TABLE IF EXISTS audit_head;
DROP TABLE IF EXISTS audit_log;
DROP TABLE IF EXISTS api_logs;
DROP TABLE IF EXISTS simulations;
DROP TABLE IF EXISTS star_ratings;
DROP TABLE IF EXISTS intervention_gaps;
DROP TABLE IF EXISTS interventions;
DROP TABLE IF EXISTS gap_counts;
DROP TABLE IF EXISTS gap_analysis;
DROP TABLE IF EXISTS portfolio_snapshots;
DROP TABLE IF EXISTS predictions;
DROP TABLE IF EXISTS measures;
DROP TABLE IF EXISTS members;
DROP FUNCTION IF EXISTS stargap_drop_before(text, timestamptz);
DROP FUNCTION IF EXISTS stargap_ensure_month(text, date);
DROP FUNCTION IF EXISTS stargap_audit_no_update();
DROP FUNCTION IF EXISTS stargap_gap_counts();
DROP FUNCTION IF EXISTS stargap_touch();
