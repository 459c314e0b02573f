-- 0010_audit_append (PostgreSQL) down: the append function goes (store_pg.c of before 0010
-- appended with one statement of its own).
DROP FUNCTION IF EXISTS stargap_audit_append(bigint, text, bigint, text, text[], text[], text[],
                                             text[], text[], text[], text[], text[], text[],
                                             text[]);
