-- 0011_audit_hash_unique_drop (PostgreSQL) down: the unique (hash, timestamp) index again.
ALTER TABLE audit_log ADD CONSTRAINT audit_log_hash_timestamp_key UNIQUE (hash, timestamp);
