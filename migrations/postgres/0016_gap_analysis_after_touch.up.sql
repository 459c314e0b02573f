-- 0016_gap_analysis_after_touch (PostgreSQL): no BEFORE ROW UPDATE trigger on gap_analysis.
--
-- As for members in 0015: a BEFORE ROW UPDATE trigger makes PostgreSQL lock every row before
-- updating it (one more heap operation and one more WAL record per row). A gap status change
-- (PATCH /gaps/{id}) is the service's most frequent write. updated_at is now set by the store's
-- UPDATEs of gap_analysis themselves (clock_timestamp(), as the trigger did; the refresh keeps
-- its batch time), and any other UPDATE that leaves it unchanged gets it from this AFTER trigger
-- with one more update of the row (which changes it, so the trigger does not fire again).
CREATE FUNCTION stargap_gaps_touch_after() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE gap_analysis SET updated_at = clock_timestamp() WHERE gap_id = NEW.gap_id;
    RETURN NULL;
END $$;
DROP TRIGGER gap_analysis_touch ON gap_analysis;
CREATE TRIGGER gap_analysis_touch AFTER UPDATE ON gap_analysis FOR EACH ROW
    WHEN (NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at)
    EXECUTE FUNCTION stargap_gaps_touch_after();
