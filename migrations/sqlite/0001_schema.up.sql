-- 0001_schema (SQLite): the logical schema of stargap, identical in tables, columns, keys and
-- constraints to migrations/postgres/0001_schema.up.sql (which adds native UUID/JSONB types and
-- monthly partitions). Timestamps are TEXT 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (UTC) written by the
-- application; created_at/updated_at are maintained by defaults and triggers. JSON is TEXT
-- checked with json_valid. Every enumeration and probability has a CHECK. Enumerations of three
-- or more values are written as OR chains, not IN lists: SQLite builds an ephemeral table for an
-- IN list of 3+ constants on every row a multi-row INSERT checks (docs/DATABASE.md, "Write cost").

CREATE TABLE members (
    member_hash        TEXT PRIMARY KEY CHECK (length(member_hash) = 64 AND member_hash NOT GLOB '*[^0-9a-f]*'),
    contract_id        TEXT NOT NULL CHECK (length(contract_id) BETWEEN 1 AND 39),
    first_seen         TEXT NOT NULL,
    last_updated       TEXT NOT NULL,
    total_predictions  INTEGER NOT NULL DEFAULT 0 CHECK (total_predictions >= 0),
    active             INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    birth_year         INTEGER CHECK (birth_year IS NULL OR birth_year BETWEEN 1900 AND 2100),
    sex                TEXT CHECK (sex IS NULL OR (sex = 'F' OR sex = 'M' OR sex = 'U')),
    dual_eligible      INTEGER CHECK (dual_eligible IS NULL OR dual_eligible IN (0, 1)),
    lis                INTEGER CHECK (lis IS NULL OR lis IN (0, 1)),
    disabled           INTEGER CHECK (disabled IS NULL OR disabled IN (0, 1)),
    created_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX members_contract_idx ON members (contract_id);

CREATE TABLE measures (
    star_year           INTEGER NOT NULL CHECK (star_year BETWEEN 2000 AND 2100),
    code                TEXT NOT NULL CHECK (length(code) BETWEEN 1 AND 39),
    cms_id              TEXT NOT NULL CHECK (length(cms_id) BETWEEN 1 AND 39),
    name                TEXT NOT NULL CHECK (length(name) >= 1),
    part                TEXT NOT NULL CHECK (part IN ('C', 'D')),
    domain              TEXT NOT NULL CHECK (length(domain) >= 1),
    weighting_category  TEXT NOT NULL CHECK (weighting_category IN ('process', 'outcome',
                            'intermediate_outcome', 'patient_experience', 'access', 'improvement')),
    weight              REAL NOT NULL CHECK (weight >= 0),
    direction           TEXT NOT NULL CHECK (direction IN ('higher', 'lower')),
    display_precision   INTEGER NOT NULL CHECK (display_precision BETWEEN 0 AND 6),
    member_level        INTEGER NOT NULL CHECK (member_level IN (0, 1)),
    created_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (star_year, code),
    UNIQUE (star_year, cms_id)
);
CREATE INDEX measures_code_idx ON measures (code);

CREATE TABLE predictions (
    prediction_id     TEXT PRIMARY KEY CHECK (length(prediction_id) = 36),
    member_hash       TEXT NOT NULL REFERENCES members (member_hash) ON DELETE CASCADE,
    measure_code      TEXT NOT NULL CHECK (length(measure_code) BETWEEN 1 AND 39),
    measurement_year  INTEGER NOT NULL CHECK (measurement_year BETWEEN 2000 AND 2100),
    gap_probability   REAL NOT NULL CHECK (gap_probability >= 0 AND gap_probability <= 1),
    risk_tier         TEXT NOT NULL CHECK ((risk_tier = 'high' OR risk_tier = 'medium' OR risk_tier = 'low')),
    risk_score        REAL,
    shap_values       TEXT CHECK (shap_values IS NULL OR json_valid(shap_values)),
    top_features      TEXT CHECK (top_features IS NULL OR json_valid(top_features)),
    recommendation    TEXT,
    model_version     TEXT NOT NULL CHECK (length(model_version) >= 1),
    prediction_date   TEXT NOT NULL,
    created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (member_hash, measure_code, measurement_year, model_version)
);
-- get_by_member (newest first, optional measure/year) and get_latest use the UNIQUE index above
-- (member_hash leads it; a member has a few rows, sorted after the seek): no second member index,
-- which keeps batch inserts fast (docs/DATABASE.md, "Write cost").
-- delete_old.
CREATE INDEX predictions_date_idx ON predictions (prediction_date);

CREATE TABLE portfolio_snapshots (
    snapshot_id            TEXT PRIMARY KEY CHECK (length(snapshot_id) = 36),
    contract_id            TEXT CHECK (contract_id IS NULL OR length(contract_id) BETWEEN 1 AND 39),
    measurement_year       INTEGER NOT NULL CHECK (measurement_year BETWEEN 2000 AND 2100),
    snapshot_date          TEXT NOT NULL,
    total_members          INTEGER NOT NULL CHECK (total_members >= 0),
    total_gaps             INTEGER NOT NULL CHECK (total_gaps >= 0),
    gaps_by_measure        TEXT NOT NULL CHECK (json_valid(gaps_by_measure)),
    gaps_by_tier           TEXT NOT NULL CHECK (json_valid(gaps_by_tier)),
    star_rating_current    REAL CHECK (star_rating_current IS NULL OR star_rating_current BETWEEN 1 AND 5),
    star_rating_projected  REAL CHECK (star_rating_projected IS NULL OR star_rating_projected BETWEEN 1 AND 5),
    estimated_value        REAL,
    created_at             TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
-- get_latest / get_history / get_trends by (contract, year), newest first. The expression
-- coalesce(contract_id, '') makes the whole-portfolio rows (NULL contract) one index range.
CREATE INDEX snapshots_contract_year_date_idx
    ON portfolio_snapshots (coalesce(contract_id, ''), measurement_year, snapshot_date DESC);
CREATE INDEX snapshots_contract_date_idx ON portfolio_snapshots (coalesce(contract_id, ''), snapshot_date DESC);

CREATE TABLE gap_analysis (
    gap_id             TEXT PRIMARY KEY CHECK (length(gap_id) = 36),
    member_hash        TEXT NOT NULL REFERENCES members (member_hash) ON DELETE CASCADE,
    contract_id        TEXT NOT NULL CHECK (length(contract_id) BETWEEN 1 AND 39),
    measure_code       TEXT NOT NULL CHECK (length(measure_code) BETWEEN 1 AND 39),
    measurement_year   INTEGER NOT NULL CHECK (measurement_year BETWEEN 2000 AND 2100),
    gap_probability    REAL NOT NULL CHECK (gap_probability >= 0 AND gap_probability <= 1),
    priority_score     REAL NOT NULL CHECK (priority_score >= 0),
    intervention_type  TEXT,
    estimated_cost     REAL CHECK (estimated_cost IS NULL OR estimated_cost >= 0),
    estimated_value    REAL CHECK (estimated_value IS NULL OR estimated_value >= 0),
    status             TEXT NOT NULL DEFAULT 'identified'
                           CHECK ((status = 'identified' OR status = 'assigned' OR status = 'completed' OR status = 'closed')),
    assigned_date      TEXT CHECK (assigned_date IS NULL OR assigned_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    completed_date     TEXT CHECK (completed_date IS NULL OR completed_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    closed_date        TEXT CHECK (closed_date IS NULL OR closed_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    created_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (member_hash, measure_code, measurement_year)
);
-- get_with_filters: status is the leading filter of the API; the sort key follows it.
CREATE INDEX gaps_status_priority_idx ON gap_analysis (status, priority_score DESC, gap_id);
CREATE INDEX gaps_status_probability_idx ON gap_analysis (status, gap_probability DESC, gap_id);
CREATE INDEX gaps_measure_status_priority_idx ON gap_analysis (measure_code, status, priority_score DESC, gap_id);
CREATE INDEX gaps_contract_status_priority_idx ON gap_analysis (contract_id, status, priority_score DESC, gap_id);
CREATE INDEX gaps_priority_idx ON gap_analysis (priority_score DESC, gap_id);
-- The work-list shape "open gaps of one measure in one contract, most likely first": without it the
-- planner's best choice reads every gap of the contract and sorts (p99 >> 5 ms at 200,000 gaps).
CREATE INDEX gaps_status_measure_contract_probability_idx
    ON gap_analysis (status, measure_code, contract_id, gap_probability DESC, gap_id);
-- get_by_member is served by the UNIQUE (member_hash, ...) index.

-- Exact per-(status, measure, year, contract) gap counts, maintained by the triggers below in
-- the same transaction as every gap write: the total of a filtered gap list is a sum over at
-- most a few hundred rows instead of a count over the gaps (docs/DATABASE.md).
CREATE TABLE gap_counts (
    status            TEXT NOT NULL CHECK ((status = 'identified' OR status = 'assigned' OR status = 'completed' OR status = 'closed')),
    measure_code      TEXT NOT NULL,
    measurement_year  INTEGER NOT NULL,
    contract_id       TEXT NOT NULL,
    n                 INTEGER NOT NULL CHECK (n >= 0),
    PRIMARY KEY (status, measure_code, measurement_year, contract_id)
) WITHOUT ROWID;

CREATE TRIGGER gap_counts_ins AFTER INSERT ON gap_analysis BEGIN
    INSERT INTO gap_counts (status, measure_code, measurement_year, contract_id, n)
    VALUES (NEW.status, NEW.measure_code, NEW.measurement_year, NEW.contract_id, 1)
    ON CONFLICT (status, measure_code, measurement_year, contract_id) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER gap_counts_del AFTER DELETE ON gap_analysis BEGIN
    UPDATE gap_counts SET n = n - 1
     WHERE status = OLD.status AND measure_code = OLD.measure_code
       AND measurement_year = OLD.measurement_year AND contract_id = OLD.contract_id;
END;
CREATE TRIGGER gap_counts_upd AFTER UPDATE OF status, measure_code, measurement_year, contract_id
    ON gap_analysis
    WHEN OLD.status IS NOT NEW.status OR OLD.measure_code IS NOT NEW.measure_code
      OR OLD.measurement_year IS NOT NEW.measurement_year OR OLD.contract_id IS NOT NEW.contract_id
BEGIN
    UPDATE gap_counts SET n = n - 1
     WHERE status = OLD.status AND measure_code = OLD.measure_code
       AND measurement_year = OLD.measurement_year AND contract_id = OLD.contract_id;
    INSERT INTO gap_counts (status, measure_code, measurement_year, contract_id, n)
    VALUES (NEW.status, NEW.measure_code, NEW.measurement_year, NEW.contract_id, 1)
    ON CONFLICT (status, measure_code, measurement_year, contract_id) DO UPDATE SET n = n + 1;
END;

CREATE TABLE interventions (
    intervention_id    TEXT PRIMARY KEY CHECK (length(intervention_id) = 36),
    gap_id             TEXT REFERENCES gap_analysis (gap_id) ON DELETE SET NULL,
    member_hash        TEXT NOT NULL REFERENCES members (member_hash) ON DELETE CASCADE,
    measure_codes      TEXT NOT NULL CHECK (json_valid(measure_codes) AND json_type(measure_codes) = 'array'
                                            AND json_array_length(measure_codes) >= 1),
    intervention_type  TEXT NOT NULL CHECK (length(intervention_type) >= 1),
    description        TEXT,
    estimated_cost     REAL CHECK (estimated_cost IS NULL OR estimated_cost >= 0),
    estimated_value    REAL CHECK (estimated_value IS NULL OR estimated_value >= 0),
    roi                REAL,
    status             TEXT NOT NULL DEFAULT 'planned'
                           CHECK ((status = 'planned' OR status = 'in_progress' OR status = 'completed' OR status = 'cancelled')),
    scheduled_date     TEXT CHECK (scheduled_date IS NULL OR scheduled_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    completed_date     TEXT CHECK (completed_date IS NULL OR completed_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    outcome            TEXT CHECK (outcome IS NULL OR (outcome = 'success' OR outcome = 'partial' OR outcome = 'failed')),
    n_measures         INTEGER NOT NULL CHECK (n_measures >= 1),
    created_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CHECK (outcome IS NULL OR status = 'completed'),
    CHECK ((status = 'completed') = (completed_date IS NOT NULL))
);
-- list by member (and bundles: n_measures > 1), newest first.
CREATE INDEX interventions_member_idx ON interventions (member_hash, created_at DESC, intervention_id);
-- list by status, newest first.
CREATE INDEX interventions_status_idx ON interventions (status, created_at DESC, intervention_id);
-- get_pending: open and scheduled, by date. status as the last column makes the total (a count of
-- every pending intervention up to the date) an index-only scan: SQLite does not treat the
-- partial index's WHERE as covering the status test, and looked up each row without it.
CREATE INDEX interventions_pending_idx ON interventions (scheduled_date, intervention_id, status)
    WHERE status IN ('planned', 'in_progress') AND scheduled_date IS NOT NULL;
CREATE INDEX interventions_gap_idx ON interventions (gap_id) WHERE gap_id IS NOT NULL;

-- The gaps an intervention addresses (one for a single-gap intervention, several for a bundle).
CREATE TABLE intervention_gaps (
    intervention_id  TEXT NOT NULL REFERENCES interventions (intervention_id) ON DELETE CASCADE,
    gap_id           TEXT NOT NULL REFERENCES gap_analysis (gap_id) ON DELETE CASCADE,
    PRIMARY KEY (intervention_id, gap_id)
) WITHOUT ROWID;
CREATE INDEX intervention_gaps_gap_idx ON intervention_gaps (gap_id);

CREATE TABLE star_ratings (
    rating_id         TEXT PRIMARY KEY CHECK (length(rating_id) = 36),
    contract_id       TEXT NOT NULL CHECK (length(contract_id) BETWEEN 1 AND 39),
    star_year         INTEGER NOT NULL CHECK (star_year BETWEEN 2000 AND 2100),
    measurement_year  INTEGER NOT NULL CHECK (measurement_year BETWEEN 2000 AND 2100),
    calculation_date  TEXT NOT NULL,
    part_c            REAL CHECK (part_c IS NULL OR (part_c BETWEEN 1 AND 5 AND part_c * 2 = round(part_c * 2))),
    part_d            REAL CHECK (part_d IS NULL OR (part_d BETWEEN 1 AND 5 AND part_d * 2 = round(part_d * 2))),
    overall           REAL CHECK (overall IS NULL OR (overall BETWEEN 1 AND 5 AND overall * 2 = round(overall * 2))),
    measure_stars     TEXT NOT NULL CHECK (json_valid(measure_stars)),
    measure_scores    TEXT NOT NULL CHECK (json_valid(measure_scores)),
    reward_factor     REAL CHECK (reward_factor IS NULL OR reward_factor BETWEEN 0 AND 1),
    cai               REAL,
    details           TEXT CHECK (details IS NULL OR json_valid(details)),
    created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX star_ratings_contract_year_idx ON star_ratings (contract_id, star_year DESC, calculation_date DESC);
CREATE INDEX star_ratings_year_idx ON star_ratings (star_year DESC, calculation_date DESC);

CREATE TABLE simulations (
    simulation_id        TEXT PRIMARY KEY CHECK (length(simulation_id) = 36),
    contract_id          TEXT CHECK (contract_id IS NULL OR length(contract_id) BETWEEN 1 AND 39),
    measurement_year     INTEGER NOT NULL CHECK (measurement_year BETWEEN 2000 AND 2100),
    simulation_date      TEXT NOT NULL,
    strategy             TEXT NOT NULL CHECK (length(strategy) >= 1),
    closure_rate         REAL NOT NULL CHECK (closure_rate >= 0 AND closure_rate <= 1),
    baseline_stars       REAL CHECK (baseline_stars IS NULL OR baseline_stars BETWEEN 1 AND 5),
    projected_stars      REAL CHECK (projected_stars IS NULL OR projected_stars BETWEEN 1 AND 5),
    revenue_impact       REAL,
    investment_required  REAL CHECK (investment_required IS NULL OR investment_required >= 0),
    roi                  REAL,
    gaps_closed          INTEGER NOT NULL CHECK (gaps_closed >= 0),
    members_impacted     INTEGER NOT NULL CHECK (members_impacted >= 0),
    scenario_details     TEXT CHECK (scenario_details IS NULL OR json_valid(scenario_details)),
    created_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX simulations_date_idx ON simulations (simulation_date DESC, simulation_id);
CREATE INDEX simulations_year_strategy_idx ON simulations (measurement_year, strategy, simulation_date DESC);

CREATE TABLE api_logs (
    log_id            INTEGER PRIMARY KEY,
    request_id        TEXT NOT NULL CHECK (length(request_id) >= 1),
    endpoint          TEXT NOT NULL CHECK (length(endpoint) >= 1),
    method            TEXT NOT NULL CHECK ((method = 'GET' OR method = 'HEAD' OR method = 'POST' OR method = 'PUT' OR method = 'PATCH' OR method = 'DELETE' OR method = 'OPTIONS')),
    api_key_hash      TEXT CHECK (api_key_hash IS NULL OR length(api_key_hash) = 64),
    status_code       INTEGER NOT NULL CHECK (status_code BETWEEN 100 AND 599),
    response_time_ms  REAL NOT NULL CHECK (response_time_ms >= 0),
    prediction_count  INTEGER NOT NULL DEFAULT 0 CHECK (prediction_count >= 0),
    error_message     TEXT,
    timestamp         TEXT NOT NULL
);
-- stats / slowest / errors by time window, stats by endpoint, retention by time.
CREATE INDEX api_logs_time_idx ON api_logs (timestamp);
CREATE INDEX api_logs_endpoint_time_idx ON api_logs (endpoint, timestamp);
CREATE INDEX api_logs_errors_idx ON api_logs (timestamp) WHERE status_code >= 400;

CREATE TABLE audit_log (
    audit_id     INTEGER PRIMARY KEY,
    event_type   TEXT NOT NULL CHECK ((event_type = 'data_change' OR event_type = 'data_access' OR event_type = 'security' OR event_type = 'maintenance')),
    entity_type  TEXT NOT NULL CHECK (length(entity_type) >= 1),
    entity_id    TEXT,
    action       TEXT NOT NULL CHECK (length(action) >= 1),
    user_id      TEXT NOT NULL CHECK (length(user_id) >= 1),
    changes      TEXT CHECK (changes IS NULL OR json_valid(changes)),
    ip_address   TEXT,
    timestamp    TEXT NOT NULL,
    prev_hash    TEXT NOT NULL CHECK (length(prev_hash) = 64),
    hash         TEXT NOT NULL UNIQUE CHECK (length(hash) = 64)
);
CREATE INDEX audit_entity_idx ON audit_log (entity_type, entity_id, audit_id DESC);
CREATE INDEX audit_time_idx ON audit_log (timestamp);

-- The head of the audit hash chain: one row, updated in the same transaction as every audit
-- insert, so concurrent writers serialize on it and the chain never forks.
CREATE TABLE audit_head (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    last_id    INTEGER NOT NULL,
    last_hash  TEXT NOT NULL CHECK (length(last_hash) = 64)
);
INSERT INTO audit_head (id, last_id, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE measure_results (
    member_hash            TEXT NOT NULL REFERENCES members (member_hash) ON DELETE CASCADE,
    measure_code           TEXT NOT NULL CHECK (length(measure_code) BETWEEN 1 AND 39),
    measurement_year       INTEGER NOT NULL CHECK (measurement_year BETWEEN 2000 AND 2100),
    initial_population     INTEGER NOT NULL CHECK (initial_population IN (0, 1)),
    denominator            INTEGER NOT NULL CHECK (denominator IN (0, 1)),
    denominator_exclusion  INTEGER NOT NULL CHECK (denominator_exclusion IN (0, 1)),
    numerator              INTEGER NOT NULL CHECK (numerator IN (0, 1)),
    evaluated_at           TEXT NOT NULL,
    source                 TEXT NOT NULL CHECK (length(source) >= 1),
    created_at             TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at             TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (member_hash, measure_code, measurement_year),
    CHECK (denominator <= initial_population AND numerator <= denominator)
) WITHOUT ROWID;
-- rates by measure/year (contract comes from members).
CREATE INDEX measure_results_measure_year_idx ON measure_results (measure_code, measurement_year);
CREATE INDEX measure_results_member_time_idx ON measure_results (member_hash, evaluated_at DESC);

CREATE TABLE api_keys (
    key_hash    TEXT PRIMARY KEY CHECK (length(key_hash) = 64 AND key_hash NOT GLOB '*[^0-9a-f]*'),
    name        TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 127),
    role        TEXT NOT NULL CHECK ((role = 'reader' OR role = 'writer' OR role = 'admin')),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    revoked_at  TEXT
);

-- updated_at maintenance (recursive_triggers is off, so the inner UPDATE does not re-fire).
-- members_touch does nothing when the UPDATE itself changed updated_at (the store's hot counter
-- update in prediction batches does), so that update costs one row write, not two.
CREATE TRIGGER members_touch AFTER UPDATE ON members WHEN NEW.updated_at IS OLD.updated_at BEGIN
    UPDATE members SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE member_hash = NEW.member_hash;
END;
CREATE TRIGGER measures_touch AFTER UPDATE ON measures BEGIN
    UPDATE measures SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
     WHERE star_year = NEW.star_year AND code = NEW.code;
END;
CREATE TRIGGER gap_analysis_touch AFTER UPDATE ON gap_analysis BEGIN
    UPDATE gap_analysis SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE gap_id = NEW.gap_id;
END;
CREATE TRIGGER interventions_touch AFTER UPDATE ON interventions BEGIN
    UPDATE interventions SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
     WHERE intervention_id = NEW.intervention_id;
END;
CREATE TRIGGER measure_results_touch AFTER UPDATE ON measure_results BEGIN
    UPDATE measure_results SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
     WHERE member_hash = NEW.member_hash AND measure_code = NEW.measure_code
       AND measurement_year = NEW.measurement_year;
END;

-- The audit log is append-only: rows may be deleted (retention) but never updated.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
