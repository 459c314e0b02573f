-- 0015_audit_head_moved (PostgreSQL): a group's audit append that fails instead of skipping.
--
-- A group of audited writes (store_pg.c, group commit) used to append its audit rows with one
-- round trip and COMMIT with another: the append is conditional on the chain head the store has
-- cached, and inserts nothing when another process moved the head meanwhile, so the store must
-- see its answer before it may commit the group's writes. The store now sends the append and
-- COMMIT together; the append then calls this function when the head has moved, which fails the
-- statement with a serialization failure (40001): the transaction, writes and all, is rolled back
-- and the group's operations run again one by one against the locked head. Nothing of the data
-- changes.
CREATE FUNCTION stargap_audit_head_moved() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit chain head moved' USING ERRCODE = '40001';
END $$;
