-- 0015_members_after_triggers (PostgreSQL) down: the BEFORE triggers of 0001 and 0009 again.
DROP TRIGGER members_refs_rekey ON members;
CREATE TRIGGER members_refs_rekey BEFORE UPDATE OF member_hash ON members
    FOR EACH ROW WHEN (OLD.member_hash IS DISTINCT FROM NEW.member_hash)
    EXECUTE FUNCTION stargap_member_refs_rekey();
DROP TRIGGER members_touch ON members;
CREATE TRIGGER members_touch BEFORE UPDATE ON members FOR EACH ROW EXECUTE FUNCTION stargap_touch();
DROP FUNCTION stargap_members_touch_after();
