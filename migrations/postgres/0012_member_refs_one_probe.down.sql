-- 0012_member_refs_one_probe (PostgreSQL) down: 0009's check again (lock, then NOT EXISTS).
CREATE OR REPLACE FUNCTION stargap_member_refs_check() RETURNS trigger LANGUAGE plpgsql AS $$
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
