-- 0016_gap_analysis_after_touch (PostgreSQL) down: the BEFORE trigger of 0001 again.
DROP TRIGGER gap_analysis_touch ON gap_analysis;
CREATE TRIGGER gap_analysis_touch BEFORE UPDATE ON gap_analysis FOR EACH ROW EXECUTE FUNCTION stargap_touch();
DROP FUNCTION stargap_gaps_touch_after();
