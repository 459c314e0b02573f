-- 0004_batch_and_reads (PostgreSQL): the total of get_pending from a maintained count; json (not
-- jsonb) for the two prediction columns no query looks into; the index of the open-gaps-of-one-
-- measure-in-one-contract list.
--
-- get_pending pages through pending interventions (planned or in_progress, scheduled on or
-- before a date) and reports the total. Counting them (an index-only scan over every pending
-- intervention up to the date: ~10,000 rows, 1.7 ms, most of get_pending's cost) is replaced by
-- a sum over one row per scheduled date, maintained by trigger in the same transaction as every
-- intervention write, as gap_counts is for the gap lists.
CREATE TABLE iv_pending_counts (
    scheduled_date  DATE PRIMARY KEY,
    n               BIGINT NOT NULL CHECK (n >= 0)
);

CREATE FUNCTION stargap_iv_pending_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status IN ('planned', 'in_progress')
       AND OLD.scheduled_date IS NOT NULL THEN
        UPDATE iv_pending_counts SET n = n - 1 WHERE scheduled_date = OLD.scheduled_date;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.status IN ('planned', 'in_progress')
       AND NEW.scheduled_date IS NOT NULL THEN
        INSERT INTO iv_pending_counts (scheduled_date, n) VALUES (NEW.scheduled_date, 1)
        ON CONFLICT (scheduled_date) DO UPDATE SET n = iv_pending_counts.n + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER iv_pending_counts_ins AFTER INSERT OR DELETE ON interventions
    FOR EACH ROW EXECUTE FUNCTION stargap_iv_pending_counts();
CREATE TRIGGER iv_pending_counts_upd AFTER UPDATE OF status, scheduled_date ON interventions
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.scheduled_date IS DISTINCT FROM NEW.scheduled_date)
    EXECUTE FUNCTION stargap_iv_pending_counts();

-- The interventions already stored (the migration runs in one transaction with the triggers).
INSERT INTO iv_pending_counts (scheduled_date, n)
SELECT scheduled_date, count(*) FROM interventions
 WHERE status IN ('planned', 'in_progress') AND scheduled_date IS NOT NULL
 GROUP BY scheduled_date;

-- predictions.shap_values / top_features are stored and returned, never queried inside (no JSON
-- operator, no GIN index reads them), so they need the json type's validation on input, not
-- jsonb's decomposition: json keeps the text as sent (the same text SQLite returns) and costs the
-- batch insert about 0.6 s less server CPU per million rows (docs/BENCHMARKS.md). The JSON
-- columns that are queried (portfolio_snapshots.gaps_by_measure, star_ratings.measure_stars:
-- GIN) stay jsonb.
ALTER TABLE predictions ALTER COLUMN shap_values TYPE json USING shap_values::json,
                        ALTER COLUMN top_features TYPE json USING top_features::json;

-- Gaps of one status, measure and contract, most likely first (get_with_filters with status,
-- measure and contract sorted by gap_probability): the SQLite schema has had this index; without
-- it PostgreSQL read and sorted the matches of a broader index (store_bench: p50 3.1 ms, p99
-- 277 ms under load; with it 0.29 / 4.5 ms).
CREATE INDEX gaps_status_measure_contract_prob_idx
    ON gap_analysis (status, measure_code, contract_id, gap_probability DESC, gap_id);
