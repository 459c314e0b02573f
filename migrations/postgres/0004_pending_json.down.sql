-- 0004_pending_json (PostgreSQL) down.
ALTER TABLE predictions ALTER COLUMN shap_values TYPE jsonb USING shap_values::jsonb,
                        ALTER COLUMN top_features TYPE jsonb USING top_features::jsonb;
DROP TRIGGER IF EXISTS iv_pending_counts_upd ON interventions;
DROP TRIGGER IF EXISTS iv_pending_counts_ins ON interventions;
DROP FUNCTION IF EXISTS stargap_iv_pending_counts();
DROP TABLE IF EXISTS iv_pending_counts;
