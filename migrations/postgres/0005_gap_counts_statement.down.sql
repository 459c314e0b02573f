-- 0005_gap_counts_statement (PostgreSQL) down: the row trigger of 0001 again.
DROP TRIGGER IF EXISTS gap_counts_upd_stmt ON gap_analysis;
DROP FUNCTION IF EXISTS stargap_gap_counts_upd();
CREATE TRIGGER gap_counts_upd AFTER UPDATE OF status, measure_code, measurement_year, contract_id
    ON gap_analysis FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.measure_code IS DISTINCT FROM NEW.measure_code
          OR OLD.measurement_year IS DISTINCT FROM NEW.measurement_year
          OR OLD.contract_id IS DISTINCT FROM NEW.contract_id)
    EXECUTE FUNCTION stargap_gap_counts();
