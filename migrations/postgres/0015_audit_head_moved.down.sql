-- 0015_audit_head_moved (PostgreSQL) down.
DROP FUNCTION stargap_audit_head_moved();
