-- 0001_schema (PostgreSQL): the logical schema of stargap, the same tables, columns, keys and
-- constraints as migrations/sqlite/0001_schema.up.sql, with PostgreSQL types: UUID ids, JSONB
-- documents (audit_log.changes is JSON, kept verbatim because the audit hash covers its text),
-- TIMESTAMPTZ timestamps, DATE dates, BOOLEAN flags, TEXT[] for interventions.measure_codes.
-- api_logs and audit_log are RANGE-partitioned by month on their timestamp (docs/DATABASE.md):
-- a DEFAULT partition catches any row outside the monthly partitions, stargap_ensure_month()
-- creates a month (moving rows out of the default partition first), and stargap maintain calls
-- it for the coming months and drops whole months past retention. Differences forced by
-- partitioning: the primary keys of api_logs and audit_log include the partition key
-- (log_id, timestamp) / (audit_id, timestamp), and audit_log.hash is UNIQUE together with the
-- timestamp (a unique index on a partitioned table must contain the partition key).

-- updated_at maintenance for every table that has the column.
CREATE FUNCTION stargap_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END $$;

CREATE TABLE members (
    member_hash        TEXT PRIMARY KEY CHECK (member_hash ~ '^[0-9a-f]{64}$'),
    contract_id        TEXT NOT NULL CHECK (length(contract_id) BETWEEN 1 AND 39),
    first_seen         TIMESTAMPTZ NOT NULL,
    last_updated       TIMESTAMPTZ NOT NULL,
    total_predictions  BIGINT NOT NULL DEFAULT 0 CHECK (total_predictions >= 0),
    active             BOOLEAN NOT NULL DEFAULT true,
    birth_year         INTEGER CHECK (birth_year IS NULL OR birth_year BETWEEN 1900 AND 2100),
    sex                TEXT CHECK (sex IS NULL OR sex IN ('F', 'M', 'U')),
    dual_eligible      BOOLEAN,
    lis                BOOLEAN,
    disabled           BOOLEAN,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
) WITH (fillfactor = 80); -- room on each page for HOT updates of the counters and timestamps
CREATE INDEX members_contract_idx ON members (contract_id);
CREATE TRIGGER members_touch BEFORE UPDATE ON members FOR EACH ROW EXECUTE FUNCTION stargap_touch();

CREATE TABLE measures (
    star_year           INTEGER NOT NULL CHECK (star_year BETWEEN 2000 AND 2100),
    code                TEXT NOT NULL CHECK (length(code) BETWEEN 1 AND 39),
    cms_id              TEXT NOT NULL CHECK (length(cms_id) BETWEEN 1 AND 39),
    name                TEXT NOT NULL CHECK (length(name) >= 1),
    part                TEXT NOT NULL CHECK (part IN ('C', 'D')),
    domain              TEXT NOT NULL CHECK (length(domain) >= 1),
    weighting_category  TEXT NOT NULL CHECK (weighting_category IN ('process', 'outcome',
                            'intermediate_outcome', 'patient_experience', 'access', 'improvement')),
    weight              DOUBLE PRECISION NOT NULL CHECK (weight >= 0),
    direction           TEXT NOT NULL CHECK (direction IN ('higher', 'lower')),
    display_precision   INTEGER NOT NULL CHECK (display_precision BETWEEN 0 AND 6),
    member_level        BOOLEAN NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (star_year, code),
    UNIQUE (star_year, cms_id)
);
CREATE INDEX measures_code_idx ON measures (code);
CREATE TRIGGER measures_touch BEFORE UPDATE ON measures FOR EACH ROW EXECUTE FUNCTION stargap_touch();

CREATE TABLE predictions (
    prediction_id     UUID PRIMARY KEY,
    member_hash       TEXT NOT NULL REFERENCES members (member_hash) ON DELETE CASCADE,
    measure_code      TEXT NOT NULL CHECK (length(measure_code) BETWEEN 1 AND 39),
    measurement_year  INTEGER NOT NULL CHECK (measurement_year BETWEEN 2000 AND 2100),
    gap_probability   DOUBLE PRECISION NOT NULL CHECK (gap_probability >= 0 AND gap_probability <= 1),
    risk_tier         TEXT NOT NULL CHECK (risk_tier IN ('high', 'medium', 'low')),
    risk_score        DOUBLE PRECISION,
    shap_values       JSONB,
    top_features      JSONB,
    recommendation    TEXT,
    model_version     TEXT NOT NULL CHECK (length(model_version) >= 1),
    prediction_date   TIMESTAMPTZ NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (member_hash, measure_code, measurement_year, model_version)
);
-- get_by_member (newest first, optional measure/year) and get_latest are served by the UNIQUE
-- index: its (member_hash, measure_code) prefix finds a member's few dozen rows, which are then
-- sorted. The SQLite schema's member/date b-tree is left out here because every b-tree costs
-- about a quarter of the COPY rate of batch_create (docs/DATABASE.md).
-- delete_old: predictions arrive in date order, so a BRIN range index is enough and nearly free.
CREATE INDEX predictions_date_idx ON predictions USING BRIN (prediction_date);

CREATE TABLE portfolio_snapshots (
    snapshot_id            UUID PRIMARY KEY,
    contract_id            TEXT CHECK (contract_id IS NULL OR length(contract_id) BETWEEN 1 AND 39),
    measurement_year       INTEGER NOT NULL CHECK (measurement_year BETWEEN 2000 AND 2100),
    snapshot_date          TIMESTAMPTZ NOT NULL,
    total_members          BIGINT NOT NULL CHECK (total_members >= 0),
    total_gaps             BIGINT NOT NULL CHECK (total_gaps >= 0),
    gaps_by_measure        JSONB NOT NULL,
    gaps_by_tier           JSONB NOT NULL,
    star_rating_current    DOUBLE PRECISION CHECK (star_rating_current IS NULL OR star_rating_current BETWEEN 1 AND 5),
    star_rating_projected  DOUBLE PRECISION CHECK (star_rating_projected IS NULL OR star_rating_projected BETWEEN 1 AND 5),
    estimated_value        DOUBLE PRECISION,
    created_at             TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX snapshots_contract_year_date_idx
    ON portfolio_snapshots ((coalesce(contract_id, '')), measurement_year, snapshot_date DESC);
CREATE INDEX snapshots_contract_date_idx ON portfolio_snapshots ((coalesce(contract_id, '')), snapshot_date DESC);
-- Trend queries by measure ("snapshots where gaps_by_measure has BCS") use containment (@>).
CREATE INDEX snapshots_gaps_by_measure_gin ON portfolio_snapshots USING GIN (gaps_by_measure jsonb_path_ops);

CREATE TABLE gap_analysis (
    gap_id             UUID PRIMARY KEY,
    member_hash        TEXT NOT NULL REFERENCES members (member_hash) ON DELETE CASCADE,
    contract_id        TEXT NOT NULL CHECK (length(contract_id) BETWEEN 1 AND 39),
    measure_code       TEXT NOT NULL CHECK (length(measure_code) BETWEEN 1 AND 39),
    measurement_year   INTEGER NOT NULL CHECK (measurement_year BETWEEN 2000 AND 2100),
    gap_probability    DOUBLE PRECISION NOT NULL CHECK (gap_probability >= 0 AND gap_probability <= 1),
    priority_score     DOUBLE PRECISION NOT NULL CHECK (priority_score >= 0),
    intervention_type  TEXT,
    estimated_cost     DOUBLE PRECISION CHECK (estimated_cost IS NULL OR estimated_cost >= 0),
    estimated_value    DOUBLE PRECISION CHECK (estimated_value IS NULL OR estimated_value >= 0),
    status             TEXT NOT NULL DEFAULT 'identified'
                           CHECK (status IN ('identified', 'assigned', 'completed', 'closed')),
    assigned_date      DATE,
    completed_date     DATE,
    closed_date        DATE,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (member_hash, measure_code, measurement_year)
);
CREATE INDEX gaps_status_priority_idx ON gap_analysis (status, priority_score DESC, gap_id);
CREATE INDEX gaps_status_probability_idx ON gap_analysis (status, gap_probability DESC, gap_id);
CREATE INDEX gaps_measure_status_priority_idx ON gap_analysis (measure_code, status, priority_score DESC, gap_id);
CREATE INDEX gaps_contract_status_priority_idx ON gap_analysis (contract_id, status, priority_score DESC, gap_id);
CREATE INDEX gaps_priority_idx ON gap_analysis (priority_score DESC, gap_id);
CREATE TRIGGER gap_analysis_touch BEFORE UPDATE ON gap_analysis FOR EACH ROW EXECUTE FUNCTION stargap_touch();

-- Exact per-(status, measure, year, contract) gap counts, maintained by trigger in the same
-- transaction as every gap write (the total of a filtered gap list is a sum over a few rows).
CREATE TABLE gap_counts (
    status            TEXT NOT NULL CHECK (status IN ('identified', 'assigned', 'completed', 'closed')),
    measure_code      TEXT NOT NULL,
    measurement_year  INTEGER NOT NULL,
    contract_id       TEXT NOT NULL,
    n                 BIGINT NOT NULL CHECK (n >= 0),
    PRIMARY KEY (status, measure_code, measurement_year, contract_id)
);

CREATE FUNCTION stargap_gap_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE gap_counts SET n = n - 1
         WHERE status = OLD.status AND measure_code = OLD.measure_code
           AND measurement_year = OLD.measurement_year AND contract_id = OLD.contract_id;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO gap_counts (status, measure_code, measurement_year, contract_id, n)
        VALUES (NEW.status, NEW.measure_code, NEW.measurement_year, NEW.contract_id, 1)
        ON CONFLICT (status, measure_code, measurement_year, contract_id) DO UPDATE SET n = gap_counts.n + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER gap_counts_ins AFTER INSERT OR DELETE ON gap_analysis
    FOR EACH ROW EXECUTE FUNCTION stargap_gap_counts();
CREATE TRIGGER gap_counts_upd AFTER UPDATE OF status, measure_code, measurement_year, contract_id
    ON gap_analysis FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.measure_code IS DISTINCT FROM NEW.measure_code
          OR OLD.measurement_year IS DISTINCT FROM NEW.measurement_year
          OR OLD.contract_id IS DISTINCT FROM NEW.contract_id)
    EXECUTE FUNCTION stargap_gap_counts();

CREATE TABLE interventions (
    intervention_id    UUID PRIMARY KEY,
    gap_id             UUID REFERENCES gap_analysis (gap_id) ON DELETE SET NULL,
    member_hash        TEXT NOT NULL REFERENCES members (member_hash) ON DELETE CASCADE,
    measure_codes      TEXT[] NOT NULL CHECK (cardinality(measure_codes) >= 1
                                              AND array_ndims(measure_codes) = 1
                                              AND array_position(measure_codes, NULL) IS NULL),
    intervention_type  TEXT NOT NULL CHECK (length(intervention_type) >= 1),
    description        TEXT,
    estimated_cost     DOUBLE PRECISION CHECK (estimated_cost IS NULL OR estimated_cost >= 0),
    estimated_value    DOUBLE PRECISION CHECK (estimated_value IS NULL OR estimated_value >= 0),
    roi                DOUBLE PRECISION,
    status             TEXT NOT NULL DEFAULT 'planned'
                           CHECK (status IN ('planned', 'in_progress', 'completed', 'cancelled')),
    scheduled_date     DATE,
    completed_date     DATE,
    outcome            TEXT CHECK (outcome IS NULL OR outcome IN ('success', 'partial', 'failed')),
    n_measures         INTEGER NOT NULL CHECK (n_measures >= 1),
    created_at         TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    CHECK (n_measures = cardinality(measure_codes)),
    CHECK (outcome IS NULL OR status = 'completed'),
    CHECK ((status = 'completed') = (completed_date IS NOT NULL))
);
CREATE INDEX interventions_member_idx ON interventions (member_hash, created_at DESC, intervention_id);
CREATE INDEX interventions_status_idx ON interventions (status, created_at DESC, intervention_id);
CREATE INDEX interventions_pending_idx ON interventions (scheduled_date, intervention_id)
    WHERE status IN ('planned', 'in_progress') AND scheduled_date IS NOT NULL;
CREATE INDEX interventions_gap_idx ON interventions (gap_id) WHERE gap_id IS NOT NULL;
-- "interventions addressing measure X" (bundles) use array containment.
CREATE INDEX interventions_measure_codes_gin ON interventions USING GIN (measure_codes);
CREATE TRIGGER interventions_touch BEFORE UPDATE ON interventions FOR EACH ROW EXECUTE FUNCTION stargap_touch();

CREATE TABLE intervention_gaps (
    intervention_id  UUID NOT NULL REFERENCES interventions (intervention_id) ON DELETE CASCADE,
    gap_id           UUID NOT NULL REFERENCES gap_analysis (gap_id) ON DELETE CASCADE,
    PRIMARY KEY (intervention_id, gap_id)
);
CREATE INDEX intervention_gaps_gap_idx ON intervention_gaps (gap_id);

CREATE TABLE star_ratings (
    rating_id         UUID PRIMARY KEY,
    contract_id       TEXT NOT NULL CHECK (length(contract_id) BETWEEN 1 AND 39),
    star_year         INTEGER NOT NULL CHECK (star_year BETWEEN 2000 AND 2100),
    measurement_year  INTEGER NOT NULL CHECK (measurement_year BETWEEN 2000 AND 2100),
    calculation_date  TIMESTAMPTZ NOT NULL,
    part_c            DOUBLE PRECISION CHECK (part_c IS NULL OR (part_c BETWEEN 1 AND 5 AND part_c * 2 = round(part_c * 2))),
    part_d            DOUBLE PRECISION CHECK (part_d IS NULL OR (part_d BETWEEN 1 AND 5 AND part_d * 2 = round(part_d * 2))),
    overall           DOUBLE PRECISION CHECK (overall IS NULL OR (overall BETWEEN 1 AND 5 AND overall * 2 = round(overall * 2))),
    measure_stars     JSONB NOT NULL,
    measure_scores    JSONB NOT NULL,
    reward_factor     DOUBLE PRECISION CHECK (reward_factor IS NULL OR reward_factor BETWEEN 0 AND 1),
    cai               DOUBLE PRECISION,
    details           JSONB,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX star_ratings_contract_year_idx ON star_ratings (contract_id, star_year DESC, calculation_date DESC);
CREATE INDEX star_ratings_year_idx ON star_ratings (star_year DESC, calculation_date DESC);
-- "contracts with 5 stars on measure X" use containment on measure_stars.
CREATE INDEX star_ratings_measure_stars_gin ON star_ratings USING GIN (measure_stars jsonb_path_ops);

CREATE TABLE simulations (
    simulation_id        UUID PRIMARY KEY,
    contract_id          TEXT CHECK (contract_id IS NULL OR length(contract_id) BETWEEN 1 AND 39),
    measurement_year     INTEGER NOT NULL CHECK (measurement_year BETWEEN 2000 AND 2100),
    simulation_date      TIMESTAMPTZ NOT NULL,
    strategy             TEXT NOT NULL CHECK (length(strategy) >= 1),
    closure_rate         DOUBLE PRECISION NOT NULL CHECK (closure_rate >= 0 AND closure_rate <= 1),
    baseline_stars       DOUBLE PRECISION CHECK (baseline_stars IS NULL OR baseline_stars BETWEEN 1 AND 5),
    projected_stars      DOUBLE PRECISION CHECK (projected_stars IS NULL OR projected_stars BETWEEN 1 AND 5),
    revenue_impact       DOUBLE PRECISION,
    investment_required  DOUBLE PRECISION CHECK (investment_required IS NULL OR investment_required >= 0),
    roi                  DOUBLE PRECISION,
    gaps_closed          BIGINT NOT NULL CHECK (gaps_closed >= 0),
    members_impacted     BIGINT NOT NULL CHECK (members_impacted >= 0),
    scenario_details     JSONB,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX simulations_date_idx ON simulations (simulation_date DESC, simulation_id);
CREATE INDEX simulations_year_strategy_idx ON simulations (measurement_year, strategy, simulation_date DESC);

CREATE TABLE api_logs (
    log_id            BIGSERIAL NOT NULL,
    request_id        TEXT NOT NULL CHECK (length(request_id) >= 1),
    endpoint          TEXT NOT NULL CHECK (length(endpoint) >= 1),
    method            TEXT NOT NULL CHECK (method IN ('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS')),
    api_key_hash      TEXT CHECK (api_key_hash IS NULL OR length(api_key_hash) = 64),
    status_code       INTEGER NOT NULL CHECK (status_code BETWEEN 100 AND 599),
    response_time_ms  DOUBLE PRECISION NOT NULL CHECK (response_time_ms >= 0),
    prediction_count  BIGINT NOT NULL DEFAULT 0 CHECK (prediction_count >= 0),
    error_message     TEXT,
    timestamp         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (log_id, timestamp)
) PARTITION BY RANGE (timestamp);
CREATE TABLE api_logs_default PARTITION OF api_logs DEFAULT;
CREATE INDEX api_logs_time_idx ON api_logs (timestamp);
CREATE INDEX api_logs_endpoint_time_idx ON api_logs (endpoint, timestamp);
CREATE INDEX api_logs_errors_idx ON api_logs (timestamp) WHERE status_code >= 400;

CREATE TABLE audit_log (
    audit_id     BIGINT NOT NULL,
    event_type   TEXT NOT NULL CHECK (event_type IN ('data_change', 'data_access', 'security', 'maintenance')),
    entity_type  TEXT NOT NULL CHECK (length(entity_type) >= 1),
    entity_id    TEXT,
    action       TEXT NOT NULL CHECK (length(action) >= 1),
    user_id      TEXT NOT NULL CHECK (length(user_id) >= 1),
    changes      JSON,
    ip_address   TEXT,
    timestamp    TIMESTAMPTZ NOT NULL,
    prev_hash    TEXT NOT NULL CHECK (length(prev_hash) = 64),
    hash         TEXT NOT NULL CHECK (length(hash) = 64),
    PRIMARY KEY (audit_id, timestamp),
    UNIQUE (hash, timestamp)
) PARTITION BY RANGE (timestamp);
CREATE TABLE audit_log_default PARTITION OF audit_log DEFAULT;
CREATE INDEX audit_entity_idx ON audit_log (entity_type, entity_id, audit_id DESC);
CREATE INDEX audit_time_idx ON audit_log (timestamp);

-- The head of the audit hash chain: one row, locked and updated in the same transaction as
-- every audit insert, so concurrent writers serialize on it and the chain never forks.
CREATE TABLE audit_head (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    last_id    BIGINT NOT NULL,
    last_hash  TEXT NOT NULL CHECK (length(last_hash) = 64)
);
INSERT INTO audit_head (id, last_id, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE measure_results (
    member_hash            TEXT NOT NULL REFERENCES members (member_hash) ON DELETE CASCADE,
    measure_code           TEXT NOT NULL CHECK (length(measure_code) BETWEEN 1 AND 39),
    measurement_year       INTEGER NOT NULL CHECK (measurement_year BETWEEN 2000 AND 2100),
    initial_population     BOOLEAN NOT NULL,
    denominator            BOOLEAN NOT NULL,
    denominator_exclusion  BOOLEAN NOT NULL,
    numerator              BOOLEAN NOT NULL,
    evaluated_at           TIMESTAMPTZ NOT NULL,
    source                 TEXT NOT NULL CHECK (length(source) >= 1),
    created_at             TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    updated_at             TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (member_hash, measure_code, measurement_year),
    CHECK (denominator <= initial_population AND numerator <= denominator)
);
CREATE INDEX measure_results_measure_year_idx ON measure_results (measure_code, measurement_year);
CREATE INDEX measure_results_member_time_idx ON measure_results (member_hash, evaluated_at DESC);
CREATE TRIGGER measure_results_touch BEFORE UPDATE ON measure_results FOR EACH ROW EXECUTE FUNCTION stargap_touch();

CREATE TABLE api_keys (
    key_hash    TEXT PRIMARY KEY CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    name        TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 127),
    role        TEXT NOT NULL CHECK (role IN ('reader', 'writer', 'admin')),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    revoked_at  TIMESTAMPTZ
);

-- The audit log is append-only: rows may be deleted (retention) but never updated.
CREATE FUNCTION stargap_audit_no_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION stargap_audit_no_update();

-- Monthly partitions. stargap_ensure_month(parent, month) creates <parent>_pYYYYMM for the
-- month containing `month` unless it exists, first moving that month's rows out of the default
-- partition (attaching a range that the default partition still holds rows of would fail).
-- Returns 1 when it created the partition. parent is one of the two partitioned tables.
CREATE FUNCTION stargap_ensure_month(parent text, month date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    lo timestamptz := date_trunc('month', month)::timestamp AT TIME ZONE 'UTC';
    hi timestamptz := (date_trunc('month', month) + interval '1 month')::timestamp AT TIME ZONE 'UTC';
    part text := parent || '_p' || to_char(date_trunc('month', month), 'YYYYMM');
    def text := parent || '_default';
BEGIN
    IF parent NOT IN ('api_logs', 'audit_log') THEN
        RAISE EXCEPTION 'stargap_ensure_month: % is not a partitioned table', parent;
    END IF;
    IF to_regclass(part) IS NOT NULL THEN
        RETURN 0;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, parent);
    EXECUTE format('WITH moved AS (DELETE FROM %I WHERE timestamp >= %L AND timestamp < %L RETURNING *)'
                   ' INSERT INTO %I SELECT * FROM moved', def, lo, hi, part);
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   parent, part, lo, hi);
    RETURN 1;
END $$;

-- Retention: drops the monthly partitions of parent that end at or before cutoff and deletes
-- older rows left in the partition holding the cutoff and in the default partition. Returns the
-- number of rows removed. The caller (stargap maintain) never passes a cutoff younger than
-- 7 years for audit_log.
CREATE FUNCTION stargap_drop_before(parent text, cutoff timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    n bigint;
    total bigint := 0;
BEGIN
    IF parent NOT IN ('api_logs', 'audit_log') THEN
        RAISE EXCEPTION 'stargap_drop_before: % is not a partitioned table', parent;
    END IF;
    FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = parent::regclass AND c.relname ~ ('^' || parent || '_p[0-9]{6}$')
    LOOP
        IF ((to_date(right(r.relname, 6), 'YYYYMM') + interval '1 month')::timestamp AT TIME ZONE 'UTC') <= cutoff THEN
            EXECUTE format('SELECT count(*) FROM %I', r.relname) INTO n;
            EXECUTE format('DROP TABLE %I', r.relname);
            total := total + n;
        END IF;
    END LOOP;
    EXECUTE format('DELETE FROM %I WHERE timestamp < %L', parent, cutoff);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN total + n;
END $$;

-- The current month and the next two exist from the start; stargap maintain keeps ahead.
SELECT stargap_ensure_month(t, (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => m))::date)
  FROM unnest(ARRAY['api_logs', 'audit_log']) AS t, generate_series(0, 2) AS m;
