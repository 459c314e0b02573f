-- 0007_gap_counts_insert_statement (PostgreSQL): gap_counts follows INSERT and DELETE of
-- gap_analysis once per statement, as 0005 did for UPDATE.
--
-- The gap refresh of `stargap gaps` / `stargap run` inserts a contract's new gaps with one
-- INSERT ... SELECT (store_pg.c, the decide block); the row trigger of 0001 ran a plpgsql upsert
-- on gap_counts for every inserted row (146,081 rows for 100,000 members). These statement-level
-- triggers read the statement's transition table once and apply one count per (status, measure,
-- year, contract). Inserted rows are upserted in key order; deleted rows are subtracted from the
-- existing row (it counted them).
DROP TRIGGER gap_counts_ins ON gap_analysis;

CREATE FUNCTION stargap_gap_counts_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO gap_counts AS c (status, measure_code, measurement_year, contract_id, n)
    SELECT status, measure_code, measurement_year, contract_id, count(*)
      FROM gap_counts_new
     GROUP BY status, measure_code, measurement_year, contract_id
     ORDER BY status, measure_code, measurement_year, contract_id
    ON CONFLICT (status, measure_code, measurement_year, contract_id)
    DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE FUNCTION stargap_gap_counts_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE gap_counts c SET n = c.n - d.n
      FROM (SELECT status, measure_code, measurement_year, contract_id, count(*) AS n
              FROM gap_counts_old
             GROUP BY status, measure_code, measurement_year, contract_id) d
     WHERE c.status = d.status AND c.measure_code = d.measure_code
       AND c.measurement_year = d.measurement_year AND c.contract_id = d.contract_id;
    RETURN NULL;
END $$;

CREATE TRIGGER gap_counts_ins_stmt AFTER INSERT ON gap_analysis
    REFERENCING NEW TABLE AS gap_counts_new
    FOR EACH STATEMENT EXECUTE FUNCTION stargap_gap_counts_ins();
CREATE TRIGGER gap_counts_del_stmt AFTER DELETE ON gap_analysis
    REFERENCING OLD TABLE AS gap_counts_old
    FOR EACH STATEMENT EXECUTE FUNCTION stargap_gap_counts_del();
