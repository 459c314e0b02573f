-- 0002_features_models (PostgreSQL): imported per-member features and trained gap models
-- (issue 6). Same logical layout as the SQLite migration: one JSONB object of numeric features
-- per member and measurement year; one row per trained model with its serialized text.
-- A prediction names its model as "<measure_code>-v<version>" in predictions.model_version.

CREATE TABLE member_features (
    member_hash       TEXT NOT NULL REFERENCES members (member_hash) ON DELETE CASCADE,
    measurement_year  INTEGER NOT NULL CHECK (measurement_year BETWEEN 2000 AND 2100),
    features          JSONB NOT NULL CHECK (jsonb_typeof(features) = 'object'),
    source            TEXT NOT NULL CHECK (length(source) >= 1),
    created_at        TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (member_hash, measurement_year)
);
-- training and scoring read one year of every member
CREATE INDEX member_features_year_idx ON member_features (measurement_year);
CREATE TRIGGER member_features_touch BEFORE UPDATE ON member_features FOR EACH ROW EXECUTE FUNCTION stargap_touch();

-- training reads one year of results for every member
CREATE INDEX measure_results_year_idx ON measure_results (measurement_year);

CREATE TABLE models (
    model_id      UUID PRIMARY KEY,
    measure_code  TEXT NOT NULL CHECK (length(measure_code) BETWEEN 1 AND 15),
    version       INTEGER NOT NULL CHECK (version >= 1),
    trained_year  INTEGER NOT NULL CHECK (trained_year BETWEEN 2000 AND 2100),
    learner       TEXT NOT NULL CHECK (learner IN ('logreg', 'gbdt')),
    fingerprint   TEXT NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    hyperparams   JSONB NOT NULL CHECK (jsonb_typeof(hyperparams) = 'object'),
    metrics       JSONB NOT NULL CHECK (jsonb_typeof(metrics) = 'object'),
    model_text    TEXT NOT NULL CHECK (length(model_text) >= 1),
    created_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (measure_code, version)
);
