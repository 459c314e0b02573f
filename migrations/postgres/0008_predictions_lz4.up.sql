-- 0008_predictions_lz4 (PostgreSQL): lz4 instead of pglz for the two JSON columns of predictions.
--
-- A prediction row carries its SHAP values and top features as JSON (~1.7 KB together with the
-- generator's 21 features): rows over PostgreSQL's ~2 KB threshold are compressed when they are
-- written, with pglz by default. pglz is slow to compress: a server-side binary COPY of the
-- 146,081 predictions of a 100,000-member run took 3.99 s with pglz and 2.29 s with lz4, for the
-- same table size (docs/BENCHMARKS.md, "PostgreSQL pipeline"). Values written before this
-- migration keep their pglz form (both read transparently). lz4 needs a server built with it
-- (Debian's is); without it the columns keep the server's default.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings
                WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        ALTER TABLE predictions ALTER COLUMN shap_values SET COMPRESSION lz4,
                                ALTER COLUMN top_features SET COMPRESSION lz4;
    END IF;
END $$;
