-- 0010_audit_append (PostgreSQL): a group's audit rows are inserted before the chain head moves.
--
-- store_pg.c appends the audit rows of a group commit with one call of this function against
-- the head it believes current (prev_id, prev_hash): the rows (ids prev_id + 1, prev_id + 2, ...
-- in array order; hashes chained by the caller) are inserted first, then the head is moved to
-- (new_id, new_hash) only if it still is (prev_id, prev_hash). When it is not (another writer
-- moved it) the insert is undone with the block's subtransaction and -1 is returned: the caller
-- locks the head and appends again. Inserting first lets a group's rows go in while the
-- previous group's COMMIT waits for its WAL flush (store_group.h, "overlap"): only the head
-- update waits for that COMMIT, on the head's row lock, and then sees the head it expected.
-- The chain cannot fork: rows stay only together with the head update that checks their
-- predecessor, under the head's row lock.
CREATE FUNCTION stargap_audit_append(prev_id bigint, prev_hash text, new_id bigint, new_hash text,
                                     et text[], ent text[], eid text[], act text[], uid text[],
                                     ch text[], ip text[], ts text[], ph text[], h text[])
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    INSERT INTO audit_log (audit_id, event_type, entity_type, entity_id, action, user_id, changes,
                           ip_address, timestamp, prev_hash, hash)
    SELECT prev_id + u.o, u.et, u.ent, u.eid, u.act, u.uid, u.ch::json, u.ip, u.ts::timestamptz,
           u.ph, u.h
      FROM unnest(et, ent, eid, act, uid, ch, ip, ts, ph, h) WITH ORDINALITY
           AS u(et, ent, eid, act, uid, ch, ip, ts, ph, h, o);
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE audit_head SET last_id = new_id, last_hash = new_hash
     WHERE id = 1 AND last_id = prev_id AND last_hash = prev_hash;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'audit chain head moved' USING ERRCODE = 'SGA01';
    END IF;
    RETURN n;
EXCEPTION WHEN SQLSTATE 'SGA01' THEN
    RETURN -1;
END $$;
