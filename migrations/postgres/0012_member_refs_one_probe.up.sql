-- 0012_member_refs_one_probe (PostgreSQL): the statement-level member check of migration 0009
-- probes members once per distinct member instead of twice per row.
--
-- 0009's check locked the members named by the statement (one probe per distinct member) and then
-- looked for a missing one with NOT EXISTS over every row of the transition table (a second
-- probe of members' primary key per row: ~11 result rows per member). The lock query alone
-- answers both: the members it locks are the named members that exist, so the statement names a
-- missing member exactly when it locks fewer members than the distinct member_hash values of the
-- transition table. Same rule, same lock (FOR KEY SHARE of every named member, as the declared
-- foreign key's RI check takes), same error (23503) as before; the import's batches spent about
-- 0.35 s of their 0.5 s of checking per 200,000-row statement in the NOT EXISTS
-- (docs/BENCHMARKS.md, "PostgreSQL bulk path").
CREATE OR REPLACE FUNCTION stargap_member_refs_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    named bigint;
    found bigint;
BEGIN
    WITH d AS MATERIALIZED (SELECT DISTINCT member_hash FROM member_refs_new)
    SELECT (SELECT count(*) FROM d),
           (SELECT count(*) FROM (SELECT 1 FROM members m JOIN d ON d.member_hash = m.member_hash
                                  FOR KEY SHARE OF m) l)
      INTO named, found;
    IF found < named THEN
        RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%_member_hash_fkey"',
            TG_TABLE_NAME, TG_TABLE_NAME USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
