-- 0008_predictions_lz4 (PostgreSQL) down: the columns compress with the server's default again.
ALTER TABLE predictions ALTER COLUMN shap_values SET COMPRESSION default,
                        ALTER COLUMN top_features SET COMPRESSION default;
