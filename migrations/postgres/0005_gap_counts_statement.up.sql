-- 0005_gap_counts_statement (PostgreSQL): gap_counts follows an UPDATE of gap_analysis once per
-- statement instead of once per row.
--
-- A group of gap status changes is one set-based UPDATE (store_pg.c, gap_move_set). With the
-- row trigger of 0001 every updated row ran a plpgsql function with two statements on
-- gap_counts; this statement-level trigger reads the statement's transition tables once and
-- applies the net change per (status, measure, year, contract): +1 for each new row, -1 for each
-- old row of a group, summed (rows whose group did not change cancel out, so no pairing of old
-- and new rows is needed). Positive deltas are upserted, negative ones subtracted from the
-- existing row (a CHECK (n >= 0) row cannot be inserted with a negative n, and the old group's
-- row exists: it counted the rows now leaving it). INSERT and DELETE keep the row trigger of 0001.
-- PostgreSQL does not allow a column list on a trigger with transition tables, so this one fires
-- for every UPDATE of gap_analysis; an update that moves no gap between groups writes nothing.
DROP TRIGGER gap_counts_upd ON gap_analysis;

CREATE FUNCTION stargap_gap_counts_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH d AS (
        SELECT status, measure_code, measurement_year, contract_id, sum(delta) AS delta
          FROM (SELECT status, measure_code, measurement_year, contract_id, 1 AS delta
                  FROM gap_counts_new
                UNION ALL
                SELECT status, measure_code, measurement_year, contract_id, -1
                  FROM gap_counts_old) m
         GROUP BY status, measure_code, measurement_year, contract_id
        HAVING sum(delta) <> 0),
    ins AS (
        INSERT INTO gap_counts AS c (status, measure_code, measurement_year, contract_id, n)
        SELECT status, measure_code, measurement_year, contract_id, delta FROM d WHERE delta > 0
         ORDER BY status, measure_code, measurement_year, contract_id
        ON CONFLICT (status, measure_code, measurement_year, contract_id)
        DO UPDATE SET n = c.n + EXCLUDED.n)
    UPDATE gap_counts c SET n = c.n + d.delta
      FROM d
     WHERE d.delta < 0 AND c.status = d.status AND c.measure_code = d.measure_code
       AND c.measurement_year = d.measurement_year AND c.contract_id = d.contract_id;
    RETURN NULL;
END $$;

CREATE TRIGGER gap_counts_upd_stmt AFTER UPDATE ON gap_analysis
    REFERENCING OLD TABLE AS gap_counts_old NEW TABLE AS gap_counts_new
    FOR EACH STATEMENT EXECUTE FUNCTION stargap_gap_counts_upd();
