-- 0004_batch_and_reads (PostgreSQL) down.
DROP INDEX IF EXISTS gaps_status_measure_contract_prob_idx;
ALTER TABLE predictions ALTER COLUMN shap_values TYPE jsonb USING shap_values::jsonb,
                        ALTER COLUMN top_features TYPE jsonb USING top_features::jsonb;
DROP TRIGGER IF EXISTS iv_pending_counts_upd ON interventions;
DROP TRIGGER IF EXISTS iv_pending_counts_ins ON interventions;
DROP FUNCTION IF EXISTS stargap_iv_pending_counts();
DROP TABLE IF EXISTS iv_pending_counts;
