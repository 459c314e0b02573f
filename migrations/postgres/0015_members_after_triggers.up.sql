-- 0015_members_after_triggers (PostgreSQL): no BEFORE ROW UPDATE trigger on members.
--
-- With any BEFORE ROW UPDATE trigger on a table, PostgreSQL locks each row before updating it
-- (to hand the trigger the row's latest version): one more heap operation and one more WAL
-- record (Heap/LOCK) per updated row, even when the trigger itself does not fire (members_
-- refs_rekey fires only for UPDATE OF member_hash, but its mere presence made every update lock
-- its row first). The prediction batches update every member they name (total_predictions), so
-- a million predictions over 100,000 members wrote 200,000 WAL records instead of 100,000:
-- measured on store_bench's 100,000 members, the counter update took 1.13-1.23 s with the
-- BEFORE triggers and 0.99-1.03 s with these AFTER triggers (docs/BENCHMARKS.md, session 6).
--   * members_touch: the store's statements now set updated_at themselves (with last_updated);
--     an UPDATE that leaves updated_at as it was (any other statement) gets it set to
--     clock_timestamp() by this AFTER trigger, with one more update of the row (its own update
--     changes updated_at, so it does not fire again).
--   * members_refs_rekey (migration 0009): the same check, after the row is updated; raising
--     there rolls the statement back as before.
CREATE FUNCTION stargap_members_touch_after() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE members SET updated_at = clock_timestamp() WHERE member_hash = NEW.member_hash;
    RETURN NULL;
END $$;
DROP TRIGGER members_touch ON members;
CREATE TRIGGER members_touch AFTER UPDATE ON members FOR EACH ROW
    WHEN (NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at)
    EXECUTE FUNCTION stargap_members_touch_after();
DROP TRIGGER members_refs_rekey ON members;
CREATE TRIGGER members_refs_rekey AFTER UPDATE OF member_hash ON members FOR EACH ROW
    WHEN (OLD.member_hash IS DISTINCT FROM NEW.member_hash)
    EXECUTE FUNCTION stargap_member_refs_rekey();
