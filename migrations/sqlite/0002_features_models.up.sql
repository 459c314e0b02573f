-- 0002_features_models (SQLite): imported per-member features and trained gap models (issue 6).
--
-- member_features holds one row per member and measurement year; the features are one JSON
-- object {"name": number, ...} (the numeric columns of member_features.csv for that year), so a
-- file with any number of feature columns needs no schema change and a model's feature list is
-- read from the keys. models holds every trained model: the serialized text of model_save()
-- (src/model/model.h), its training-data fingerprint, hyper-parameters and held-out metrics.
-- A prediction names its model as "<measure_code>-v<version>" in predictions.model_version.

CREATE TABLE member_features (
    member_hash       TEXT NOT NULL REFERENCES members (member_hash) ON DELETE CASCADE,
    measurement_year  INTEGER NOT NULL CHECK (measurement_year BETWEEN 2000 AND 2100),
    features          TEXT NOT NULL CHECK (json_valid(features) AND json_type(features) = 'object'),
    source            TEXT NOT NULL CHECK (length(source) >= 1),
    created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (member_hash, measurement_year)
) WITHOUT ROWID;
-- training and scoring read one year of every member
CREATE INDEX member_features_year_idx ON member_features (measurement_year);

CREATE TRIGGER member_features_touch AFTER UPDATE ON member_features BEGIN
    UPDATE member_features SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
     WHERE member_hash = NEW.member_hash AND measurement_year = NEW.measurement_year;
END;

-- training reads one year of results for every member
CREATE INDEX measure_results_year_idx ON measure_results (measurement_year);

CREATE TABLE models (
    model_id      TEXT PRIMARY KEY CHECK (length(model_id) = 36),
    measure_code  TEXT NOT NULL CHECK (length(measure_code) BETWEEN 1 AND 15),
    version       INTEGER NOT NULL CHECK (version >= 1),
    trained_year  INTEGER NOT NULL CHECK (trained_year BETWEEN 2000 AND 2100),
    learner       TEXT NOT NULL CHECK (learner IN ('logreg', 'gbdt')),
    fingerprint   TEXT NOT NULL CHECK (length(fingerprint) = 64 AND fingerprint NOT GLOB '*[^0-9a-f]*'),
    hyperparams   TEXT NOT NULL CHECK (json_valid(hyperparams) AND json_type(hyperparams) = 'object'),
    metrics       TEXT NOT NULL CHECK (json_valid(metrics) AND json_type(metrics) = 'object'),
    model_text    TEXT NOT NULL CHECK (length(model_text) >= 1),
    created_at    TEXT NOT NULL,
    UNIQUE (measure_code, version)
);
