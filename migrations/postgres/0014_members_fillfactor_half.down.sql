-- 0014_members_fillfactor_half (PostgreSQL) down: migration 0013's fill factor again.
ALTER TABLE members SET (fillfactor = 80);
