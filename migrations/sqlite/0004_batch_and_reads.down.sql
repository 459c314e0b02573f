-- 0004_batch_and_reads (SQLite) down.
DROP TRIGGER IF EXISTS iv_pending_counts_upd_new;
DROP TRIGGER IF EXISTS iv_pending_counts_upd_old;
DROP TRIGGER IF EXISTS iv_pending_counts_del;
DROP TRIGGER IF EXISTS iv_pending_counts_ins;
DROP TABLE IF EXISTS iv_pending_counts;
