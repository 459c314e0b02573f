-- 0004_pending_counts (PostgreSQL) down.
DROP TRIGGER IF EXISTS iv_pending_counts_upd ON interventions;
DROP TRIGGER IF EXISTS iv_pending_counts_ins ON interventions;
DROP FUNCTION IF EXISTS stargap_iv_pending_counts();
DROP TABLE IF EXISTS iv_pending_counts;
