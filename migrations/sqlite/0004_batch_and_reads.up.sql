-- 0004_batch_and_reads (SQLite): the total of get_pending from a maintained count. (The PostgreSQL
-- migration of the same number also turns two prediction columns from jsonb into json, which
-- SQLite keeps as TEXT checked by json_valid, and adds the gap index SQLite already has.)
--
-- get_pending pages through pending interventions (planned or in_progress, scheduled on or
-- before a date) and reports the total. Counting them (a scan of the partial pending index over
-- every pending intervention up to the date, ~10,000 entries) is replaced by a sum over one row
-- per scheduled date, maintained by the triggers below in the same transaction as every
-- intervention write, as gap_counts is for the gap lists (docs/DATABASE.md).
CREATE TABLE iv_pending_counts (
    scheduled_date  TEXT PRIMARY KEY,
    n               INTEGER NOT NULL CHECK (n >= 0)
) WITHOUT ROWID;

CREATE TRIGGER iv_pending_counts_ins AFTER INSERT ON interventions
    WHEN NEW.status IN ('planned', 'in_progress') AND NEW.scheduled_date IS NOT NULL
BEGIN
    INSERT INTO iv_pending_counts (scheduled_date, n) VALUES (NEW.scheduled_date, 1)
    ON CONFLICT (scheduled_date) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER iv_pending_counts_del AFTER DELETE ON interventions
    WHEN OLD.status IN ('planned', 'in_progress') AND OLD.scheduled_date IS NOT NULL
BEGIN
    UPDATE iv_pending_counts SET n = n - 1 WHERE scheduled_date = OLD.scheduled_date;
END;
CREATE TRIGGER iv_pending_counts_upd_old AFTER UPDATE OF status, scheduled_date ON interventions
    WHEN OLD.status IN ('planned', 'in_progress') AND OLD.scheduled_date IS NOT NULL
     AND (OLD.status IS NOT NEW.status OR OLD.scheduled_date IS NOT NEW.scheduled_date)
BEGIN
    UPDATE iv_pending_counts SET n = n - 1 WHERE scheduled_date = OLD.scheduled_date;
END;
CREATE TRIGGER iv_pending_counts_upd_new AFTER UPDATE OF status, scheduled_date ON interventions
    WHEN NEW.status IN ('planned', 'in_progress') AND NEW.scheduled_date IS NOT NULL
     AND (OLD.status IS NOT NEW.status OR OLD.scheduled_date IS NOT NEW.scheduled_date)
BEGIN
    INSERT INTO iv_pending_counts (scheduled_date, n) VALUES (NEW.scheduled_date, 1)
    ON CONFLICT (scheduled_date) DO UPDATE SET n = n + 1;
END;

-- The interventions already stored (the migration runs in one transaction).
INSERT INTO iv_pending_counts (scheduled_date, n)
SELECT scheduled_date, count(*) FROM interventions
 WHERE status IN ('planned', 'in_progress') AND scheduled_date IS NOT NULL
 GROUP BY scheduled_date;
