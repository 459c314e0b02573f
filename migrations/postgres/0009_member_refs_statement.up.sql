-- 0009_member_refs_statement (PostgreSQL): measure_results and member_features check their
-- member once per statement instead of once per row.
--
-- Their foreign keys to members ran PostgreSQL's RI check for every inserted row: one executor
-- run of `SELECT 1 FROM members WHERE member_hash = $1 FOR KEY SHARE` per row, about 4 us each,
-- which PostgreSQL 15 cannot batch. The import writes ~10.7 result rows and ~3 feature rows per
-- member (1.37 million rows per 100,000 members), so these checks were ~25% of the server's
-- import work (docs/BENCHMARKS.md, "PostgreSQL pipeline"). The same rule is now kept by
-- statement-level triggers that read the statement's transition table once:
--   * INSERT/UPDATE of either table: every member_hash written must name a member. The members
--     named are locked FOR KEY SHARE first, as the RI check locks each (a concurrent DELETE of
--     one waits for this transaction; a member deleted before the lock is found missing); a
--     missing member raises foreign_key_violation (23503), as the constraint did.
--   * DELETE of members: their results and features are deleted (ON DELETE CASCADE before).
--   * UPDATE of a member's hash while rows reference it, and TRUNCATE of members while either
--     table has rows, are refused (the foreign key's NO ACTION / TRUNCATE rules).
-- predictions and gap_analysis keep their declared foreign keys (fewer rows per member).
ALTER TABLE measure_results DROP CONSTRAINT IF EXISTS measure_results_member_hash_fkey;
ALTER TABLE member_features DROP CONSTRAINT IF EXISTS member_features_member_hash_fkey;

CREATE FUNCTION stargap_member_refs_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM members m WHERE m.member_hash IN (SELECT member_hash FROM member_refs_new)
        FOR KEY SHARE OF m;
    IF EXISTS (SELECT 1 FROM member_refs_new n
                WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.member_hash = n.member_hash))
    THEN
        RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%_member_hash_fkey"',
            TG_TABLE_NAME, TG_TABLE_NAME USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER measure_results_member_ins AFTER INSERT ON measure_results
    REFERENCING NEW TABLE AS member_refs_new
    FOR EACH STATEMENT EXECUTE FUNCTION stargap_member_refs_check();
CREATE TRIGGER measure_results_member_upd AFTER UPDATE ON measure_results
    REFERENCING NEW TABLE AS member_refs_new
    FOR EACH STATEMENT EXECUTE FUNCTION stargap_member_refs_check();
CREATE TRIGGER member_features_member_ins AFTER INSERT ON member_features
    REFERENCING NEW TABLE AS member_refs_new
    FOR EACH STATEMENT EXECUTE FUNCTION stargap_member_refs_check();
CREATE TRIGGER member_features_member_upd AFTER UPDATE ON member_features
    REFERENCING NEW TABLE AS member_refs_new
    FOR EACH STATEMENT EXECUTE FUNCTION stargap_member_refs_check();

CREATE FUNCTION stargap_member_refs_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM measure_results r USING member_refs_old o WHERE r.member_hash = o.member_hash;
    DELETE FROM member_features f USING member_refs_old o WHERE f.member_hash = o.member_hash;
    RETURN NULL;
END $$;
CREATE TRIGGER members_refs_delete AFTER DELETE ON members
    REFERENCING OLD TABLE AS member_refs_old
    FOR EACH STATEMENT EXECUTE FUNCTION stargap_member_refs_delete();

CREATE FUNCTION stargap_member_refs_rekey() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM measure_results WHERE member_hash = OLD.member_hash)
       OR EXISTS (SELECT 1 FROM member_features WHERE member_hash = OLD.member_hash) THEN
        RAISE EXCEPTION 'update on table "members" violates foreign key constraint of measure_results or member_features'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER members_refs_rekey BEFORE UPDATE OF member_hash ON members
    FOR EACH ROW WHEN (OLD.member_hash IS DISTINCT FROM NEW.member_hash)
    EXECUTE FUNCTION stargap_member_refs_rekey();

CREATE FUNCTION stargap_member_refs_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM measure_results) OR EXISTS (SELECT 1 FROM member_features) THEN
        RAISE EXCEPTION 'cannot truncate members: measure_results or member_features reference it'
            USING ERRCODE = 'feature_not_supported';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER members_refs_truncate BEFORE TRUNCATE ON members
    FOR EACH STATEMENT EXECUTE FUNCTION stargap_member_refs_truncate();
