-- 0009_member_refs_statement (PostgreSQL) down: the declared foreign keys again.
DROP TRIGGER IF EXISTS members_refs_truncate ON members;
DROP TRIGGER IF EXISTS members_refs_rekey ON members;
DROP TRIGGER IF EXISTS members_refs_delete ON members;
DROP TRIGGER IF EXISTS member_features_member_upd ON member_features;
DROP TRIGGER IF EXISTS member_features_member_ins ON member_features;
DROP TRIGGER IF EXISTS measure_results_member_upd ON measure_results;
DROP TRIGGER IF EXISTS measure_results_member_ins ON measure_results;
DROP FUNCTION IF EXISTS stargap_member_refs_truncate();
DROP FUNCTION IF EXISTS stargap_member_refs_rekey();
DROP FUNCTION IF EXISTS stargap_member_refs_delete();
DROP FUNCTION IF EXISTS stargap_member_refs_check();
ALTER TABLE measure_results ADD CONSTRAINT measure_results_member_hash_fkey
    FOREIGN KEY (member_hash) REFERENCES members (member_hash) ON DELETE CASCADE;
ALTER TABLE member_features ADD CONSTRAINT member_features_member_hash_fkey
    FOREIGN KEY (member_hash) REFERENCES members (member_hash) ON DELETE CASCADE;
