-- 0013_members_fillfactor (PostgreSQL) down: the default fill factor again.
ALTER TABLE members RESET (fillfactor);
