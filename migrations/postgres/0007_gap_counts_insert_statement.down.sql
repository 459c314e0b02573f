-- 0007_gap_counts_insert_statement (PostgreSQL) down: the row trigger of 0001 for INSERT and
-- DELETE again.
DROP TRIGGER IF EXISTS gap_counts_del_stmt ON gap_analysis;
DROP TRIGGER IF EXISTS gap_counts_ins_stmt ON gap_analysis;
DROP FUNCTION IF EXISTS stargap_gap_counts_del();
DROP FUNCTION IF EXISTS stargap_gap_counts_ins();
CREATE TRIGGER gap_counts_ins AFTER INSERT OR DELETE ON gap_analysis
    FOR EACH ROW EXECUTE FUNCTION stargap_gap_counts();
