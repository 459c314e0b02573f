/* store_sqlite.c: the embedded SQLite backend of store.h.
 *
 * One connection per thread (created on a thread's first operation, closed with the store), WAL
 * journal, foreign keys on, busy timeout from the configuration. Every statement is a fixed SQL
 * text prepared once per connection and cached (the filtered gap list has one cached variant per
 * combination of filters); values are always bound, never formatted into SQL. Writes run in
 * BEGIN IMMEDIATE transactions that also append the audit row, so a write and its audit row
 * commit together; batches use one transaction and one prepared statement.
 * "sqlite::memory:" uses a single private in-memory connection shared by the store's threads
 * under a mutex (an in-memory database cannot be shared between connections without the
 * shared-cache mode and its table locks).
 *
 * Arguments arrive validated by store.c; this file maps constraint violations to SG_EINVAL /
 * SG_ECONFLICT and other failures to SG_EDB naming the statement (never parameter values). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "core/log.h"
#include "core/sort.h"
#include "db/store.h"
#include "db/store_group.h"

/* ---- statements ---- */

#define M_COLS                                                                                  \
    "member_hash, contract_id, first_seen, last_updated, total_predictions, active, birth_year, " \
    "sex, dual_eligible, lis, disabled, created_at, updated_at"
#define P_COLS                                                                                  \
    "prediction_id, member_hash, measure_code, measurement_year, gap_probability, risk_tier, "   \
    "risk_score, shap_values, top_features, recommendation, model_version, prediction_date, "    \
    "created_at"
#define SN_COLS                                                                                 \
    "snapshot_id, coalesce(contract_id, ''), measurement_year, snapshot_date, total_members, "   \
    "total_gaps, gaps_by_measure, gaps_by_tier, star_rating_current, star_rating_projected, "    \
    "estimated_value, created_at"
#define G_COLS                                                                                  \
    "gap_id, member_hash, contract_id, measure_code, measurement_year, gap_probability, "        \
    "priority_score, intervention_type, estimated_cost, estimated_value, status, "               \
    "assigned_date, completed_date, closed_date, created_at, updated_at"
#define I_COLS                                                                                  \
    "intervention_id, coalesce(gap_id, ''), member_hash, measure_codes, intervention_type, "     \
    "description, estimated_cost, estimated_value, roi, status, scheduled_date, completed_date, "\
    "outcome, created_at, updated_at"
#define SR_COLS                                                                                 \
    "rating_id, contract_id, star_year, measurement_year, calculation_date, part_c, part_d, "    \
    "overall, measure_stars, measure_scores, reward_factor, cai, details, created_at"
#define SIM_COLS                                                                                \
    "simulation_id, coalesce(contract_id, ''), measurement_year, simulation_date, strategy, "    \
    "closure_rate, baseline_stars, projected_stars, revenue_impact, investment_required, roi, "  \
    "gaps_closed, members_impacted, scenario_details, created_at"
#define L_COLS                                                                                  \
    "log_id, request_id, endpoint, method, coalesce(api_key_hash, ''), status_code, "            \
    "response_time_ms, prediction_count, coalesce(error_message, ''), timestamp"
#define AU_COLS                                                                                 \
    "audit_id, event_type, entity_type, coalesce(entity_id, ''), action, user_id, changes, "     \
    "coalesce(ip_address, ''), timestamp, prev_hash, hash"
#define MR_COLS                                                                                 \
    "member_hash, measure_code, measurement_year, initial_population, denominator, "             \
    "denominator_exclusion, numerator, evaluated_at, source, numerator_date"
#define ME_COLS                                                                                 \
    "star_year, code, cms_id, name, part, domain, weighting_category, weight, direction, "       \
    "display_precision, member_level"
#define K_COLS "key_hash, name, role, created_at, coalesce(revoked_at, '')"
#define IV_OPEN "status IN ('planned', 'in_progress')"

enum {
    S_BEGIN, S_BEGIN_READ, S_COMMIT, S_ROLLBACK,
    S_AUDIT_HEAD, S_AUDIT_INS, S_AUDIT_HEAD_UPD, S_AUDIT_ALL, S_AUDIT_TRAIL, S_AUDIT_TRAIL_N,
    S_AUDIT_RECENT, S_AUDIT_RECENT_N, S_AUDIT_DEL,
    S_MEMBER_INS, S_MEMBER_GET, S_MEMBER_ACT, S_MEMBER_PRED,
    S_PRED_INS, S_PRED_GET, S_PRED_BY_MEMBER, S_PRED_BY_MEMBER_N, S_PRED_LATEST, S_PRED_DEL,
    S_SNAP_INS, S_SNAP_LATEST, S_SNAP_HIST, S_SNAP_HIST_N, S_SNAP_TRENDS,
    S_GAP_INS, S_GAP_GET, S_GAP_BY_MEMBER, S_GAP_HIGH, S_GAP_SET,
    S_IV_INS, S_IV_GET, S_IV_PENDING, S_IV_PENDING_N, S_IV_SET, S_IV_BUNDLES, S_IVG_INS,
    S_IVG_BUNDLE, S_IVG_OPEN_GAPS,
    S_SR_INS, S_SR_LATEST, S_SR_HIST, S_SR_HIST_N,
    S_SIM_INS, S_SIM_GET, S_SIM_LIST, S_SIM_LIST_N,
    S_LOG_INS, S_LOG_STATS, S_LOG_BY_EP, S_LOG_SLOW, S_LOG_ERR, S_LOG_DEL,
    S_MR_UPSERT, S_MR_BY_MEMBER, S_MR_RATES,
    S_ME_UPSERT, S_ME_LIST, S_ME_GET,
    S_KEY_INS, S_KEY_GET, S_KEY_LIST, S_KEY_BY_NAME, S_KEY_REVOKE,
    S_HIST, S_HIST_N,
    S_MIG_CREATE, S_MIG_LIST, S_MIG_INS, S_MIG_DEL,
    S_COUNT
};

static const struct {
    const char *name; /* used in error messages and logs */
    const char *sql;
} stmts[S_COUNT] = {
    [S_BEGIN] = {"begin", "BEGIN IMMEDIATE"},
    [S_BEGIN_READ] = {"begin_read", "BEGIN"},
    [S_COMMIT] = {"commit", "COMMIT"},
    [S_ROLLBACK] = {"rollback", "ROLLBACK"},
    [S_AUDIT_HEAD] = {"audit_head", "SELECT last_id, last_hash FROM audit_head WHERE id = 1"},
    [S_AUDIT_INS] = {"audit_insert",
                     "INSERT INTO audit_log (audit_id, event_type, entity_type, entity_id, action, "
                     "user_id, changes, ip_address, timestamp, prev_hash, hash) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"},
    [S_AUDIT_HEAD_UPD] = {"audit_head_update",
                          "UPDATE audit_head SET last_id = ?, last_hash = ? WHERE id = 1"},
    [S_AUDIT_ALL] = {"audit_verify", "SELECT " AU_COLS " FROM audit_log ORDER BY audit_id"},
    [S_AUDIT_TRAIL] = {"audit_trail", "SELECT " AU_COLS " FROM audit_log WHERE entity_type = ?1 "
                                      "AND (?2 IS NULL OR entity_id = ?2) "
                                      "ORDER BY audit_id DESC LIMIT ?3 OFFSET ?4"},
    [S_AUDIT_TRAIL_N] = {"audit_trail_count", "SELECT count(*) FROM audit_log WHERE entity_type = ?1 "
                                              "AND (?2 IS NULL OR entity_id = ?2)"},
    [S_AUDIT_RECENT] = {"audit_recent", "SELECT " AU_COLS " FROM audit_log WHERE timestamp >= ?1 "
                                        "ORDER BY audit_id DESC LIMIT ?2 OFFSET ?3"},
    [S_AUDIT_RECENT_N] = {"audit_recent_count",
                          "SELECT count(*) FROM audit_log WHERE timestamp >= ?1"},
    [S_AUDIT_DEL] = {"audit_retention", "DELETE FROM audit_log WHERE timestamp < ?"},
    [S_MEMBER_INS] = {"member_insert",
                      "INSERT INTO members (member_hash, contract_id, first_seen, last_updated, "
                      "active, birth_year, sex, dual_eligible, lis, disabled) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"},
    [S_MEMBER_GET] = {"member_get", "SELECT " M_COLS " FROM members WHERE member_hash = ?"},
    [S_MEMBER_ACT] = {"member_activity",
                      "UPDATE members SET last_updated = ?, active = ? WHERE member_hash = ?"},
    [S_MEMBER_PRED] = {"member_prediction_count",
                       "UPDATE members SET total_predictions = total_predictions + ?1, "
                       "last_updated = ?2, updated_at = ?2 WHERE member_hash = ?3"},
    [S_PRED_INS] = {"prediction_insert",
                    "INSERT INTO predictions (prediction_id, member_hash, measure_code, "
                    "measurement_year, gap_probability, risk_tier, risk_score, shap_values, "
                    "top_features, recommendation, model_version, prediction_date, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"},
    [S_PRED_GET] = {"prediction_get", "SELECT " P_COLS " FROM predictions WHERE prediction_id = ?"},
    [S_PRED_BY_MEMBER] = {"prediction_by_member",
                          "SELECT " P_COLS " FROM predictions WHERE member_hash = ?1 "
                          "AND (?2 IS NULL OR measure_code = ?2) AND (?3 = 0 OR measurement_year = ?3) "
                          "ORDER BY prediction_date DESC, prediction_id DESC LIMIT ?4 OFFSET ?5"},
    [S_PRED_BY_MEMBER_N] = {"prediction_by_member_count",
                            "SELECT count(*) FROM predictions WHERE member_hash = ?1 "
                            "AND (?2 IS NULL OR measure_code = ?2) AND (?3 = 0 OR measurement_year = ?3)"},
    [S_PRED_LATEST] = {"prediction_latest",
                       "SELECT " P_COLS " FROM predictions WHERE member_hash = ? AND measure_code = ? "
                       "ORDER BY prediction_date DESC, prediction_id DESC LIMIT 1"},
    [S_PRED_DEL] = {"prediction_delete_old", "DELETE FROM predictions WHERE prediction_date < ?"},
    [S_SNAP_INS] = {"snapshot_insert",
                    "INSERT INTO portfolio_snapshots (snapshot_id, contract_id, measurement_year, "
                    "snapshot_date, total_members, total_gaps, gaps_by_measure, gaps_by_tier, "
                    "star_rating_current, star_rating_projected, estimated_value, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"},
    [S_SNAP_LATEST] = {"snapshot_latest",
                       "SELECT " SN_COLS " FROM portfolio_snapshots WHERE coalesce(contract_id, '') = ?1 "
                       "AND (?2 = 0 OR measurement_year = ?2) "
                       "ORDER BY snapshot_date DESC, snapshot_id DESC LIMIT 1"},
    [S_SNAP_HIST] = {"snapshot_history",
                     "SELECT " SN_COLS " FROM portfolio_snapshots WHERE coalesce(contract_id, '') = ?1 "
                     "AND (?2 = 0 OR measurement_year = ?2) "
                     "ORDER BY snapshot_date DESC, snapshot_id DESC LIMIT ?3 OFFSET ?4"},
    [S_SNAP_HIST_N] = {"snapshot_history_count",
                       "SELECT count(*) FROM portfolio_snapshots WHERE coalesce(contract_id, '') = ?1 "
                       "AND (?2 = 0 OR measurement_year = ?2)"},
    [S_SNAP_TRENDS] = {"snapshot_trends",
                       "SELECT " SN_COLS " FROM portfolio_snapshots WHERE coalesce(contract_id, '') = ?1 "
                       "AND (?2 = 0 OR measurement_year = ?2) AND snapshot_date >= ?3 "
                       "ORDER BY snapshot_date, snapshot_id LIMIT 10000"},
    [S_GAP_INS] = {"gap_insert",
                   "INSERT INTO gap_analysis (gap_id, member_hash, contract_id, measure_code, "
                   "measurement_year, gap_probability, priority_score, intervention_type, "
                   "estimated_cost, estimated_value, status, assigned_date, completed_date, "
                   "closed_date, created_at, updated_at) "
                   "SELECT ?1, member_hash, contract_id, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
                   "?13, ?14, ?14 FROM members WHERE member_hash = ?2"},
    [S_GAP_GET] = {"gap_get", "SELECT " G_COLS " FROM gap_analysis WHERE gap_id = ?"},
    [S_GAP_BY_MEMBER] = {"gap_by_member",
                         "SELECT " G_COLS " FROM gap_analysis WHERE member_hash = ? "
                         "ORDER BY measurement_year DESC, measure_code LIMIT 1000"},
    [S_GAP_HIGH] = {"gap_high_priority",
                    "SELECT " G_COLS " FROM gap_analysis WHERE priority_score >= ?1 "
                    "AND status IN ('identified', 'assigned') AND (?2 IS NULL OR contract_id = ?2) "
                    "ORDER BY priority_score DESC, gap_id LIMIT ?3"},
    [S_GAP_SET] = {"gap_update_status",
                   "UPDATE gap_analysis SET status = ?, assigned_date = ?, completed_date = ?, "
                   "closed_date = ? WHERE gap_id = ?"},
    [S_IV_INS] = {"intervention_insert",
                  "INSERT INTO interventions (intervention_id, gap_id, member_hash, measure_codes, "
                  "intervention_type, description, estimated_cost, estimated_value, roi, status, "
                  "scheduled_date, completed_date, outcome, n_measures, created_at, updated_at) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL, NULL, ?12, ?13, ?13)"},
    [S_IV_GET] = {"intervention_get",
                  "SELECT " I_COLS " FROM interventions WHERE intervention_id = ?"},
    [S_IV_PENDING] = {"intervention_pending",
                      "SELECT " I_COLS " FROM interventions INDEXED BY interventions_pending_idx WHERE " IV_OPEN
                      " AND scheduled_date IS NOT NULL AND scheduled_date <= ?1 ORDER BY scheduled_date, intervention_id LIMIT ?2 OFFSET ?3"},
    /* The total from the per-date counts kept by migration 0004's triggers. */
    [S_IV_PENDING_N] = {"intervention_pending_count",
                        "SELECT coalesce(sum(n), 0) FROM iv_pending_counts WHERE scheduled_date <= ?1"},
    [S_IV_SET] = {"intervention_update",
                  "UPDATE interventions SET status = ?, outcome = ?, scheduled_date = ?, "
                  "completed_date = ? WHERE intervention_id = ?"},
    [S_IV_BUNDLES] = {"intervention_bundles",
                      "SELECT " I_COLS " FROM interventions WHERE member_hash = ? AND n_measures > 1 "
                      "ORDER BY created_at DESC, intervention_id DESC LIMIT 1000"},
    [S_IVG_INS] = {"intervention_gap_link",
                   "INSERT INTO intervention_gaps (intervention_id, gap_id) VALUES (?, ?)"},
    [S_IVG_BUNDLE] = {"intervention_bundle_link",
                      "INSERT INTO intervention_gaps (intervention_id, gap_id) SELECT ?1, gap_id "
                      "FROM gap_analysis WHERE member_hash = ?2 AND status IN ('identified', 'assigned') "
                      "AND measure_code IN (SELECT value FROM json_each(?3))"},
    [S_IVG_OPEN_GAPS] = {"intervention_open_gaps",
                         "SELECT " G_COLS " FROM gap_analysis WHERE gap_id IN "
                         "(SELECT gap_id FROM intervention_gaps WHERE intervention_id = ?) "
                         "AND status <> 'closed' ORDER BY gap_id"},
    [S_SR_INS] = {"star_rating_insert",
                  "INSERT INTO star_ratings (rating_id, contract_id, star_year, measurement_year, "
                  "calculation_date, part_c, part_d, overall, measure_stars, measure_scores, "
                  "reward_factor, cai, details, created_at) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"},
    [S_SR_LATEST] = {"star_rating_latest",
                     "SELECT " SR_COLS " FROM star_ratings WHERE (?1 IS NULL OR contract_id = ?1) "
                     "AND (?2 = 0 OR star_year = ?2) "
                     "ORDER BY calculation_date DESC, rating_id DESC LIMIT 1"},
    [S_SR_HIST] = {"star_rating_history",
                   "SELECT " SR_COLS " FROM star_ratings WHERE (?1 IS NULL OR contract_id = ?1) "
                   "ORDER BY star_year DESC, calculation_date DESC, rating_id DESC LIMIT ?2 OFFSET ?3"},
    [S_SR_HIST_N] = {"star_rating_history_count",
                     "SELECT count(*) FROM star_ratings WHERE (?1 IS NULL OR contract_id = ?1)"},
    [S_SIM_INS] = {"simulation_insert",
                   "INSERT INTO simulations (simulation_id, contract_id, measurement_year, "
                   "simulation_date, strategy, closure_rate, baseline_stars, projected_stars, "
                   "revenue_impact, investment_required, roi, gaps_closed, members_impacted, "
                   "scenario_details, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"},
    [S_SIM_GET] = {"simulation_get", "SELECT " SIM_COLS " FROM simulations WHERE simulation_id = ?"},
    [S_SIM_LIST] = {"simulation_list",
                    "SELECT " SIM_COLS " FROM simulations WHERE (?1 = 0 OR measurement_year = ?1) "
                    "AND (?2 IS NULL OR strategy = ?2) AND (?3 IS NULL OR contract_id = ?3) "
                    "ORDER BY simulation_date DESC, simulation_id DESC LIMIT ?4 OFFSET ?5"},
    [S_SIM_LIST_N] = {"simulation_list_count",
                      "SELECT count(*) FROM simulations WHERE (?1 = 0 OR measurement_year = ?1) "
                      "AND (?2 IS NULL OR strategy = ?2) AND (?3 IS NULL OR contract_id = ?3)"},
    [S_LOG_INS] = {"api_log_insert",
                   "INSERT INTO api_logs (request_id, endpoint, method, api_key_hash, status_code, "
                   "response_time_ms, prediction_count, error_message, timestamp) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"},
    [S_LOG_STATS] = {"api_log_stats",
                     "SELECT count(*), coalesce(avg(response_time_ms), 0), "
                     "coalesce(sum(status_code >= 500), 0), "
                     "coalesce(sum(status_code BETWEEN 400 AND 499), 0) FROM api_logs "
                     "WHERE timestamp >= ?1 AND (?2 IS NULL OR endpoint = ?2)"},
    [S_LOG_BY_EP] = {"api_log_stats_by_endpoint",
                     "SELECT endpoint, count(*), avg(response_time_ms), sum(status_code >= 500) "
                     "FROM api_logs WHERE timestamp >= ?1 AND (?2 IS NULL OR endpoint = ?2) "
                     "GROUP BY endpoint ORDER BY count(*) DESC, endpoint LIMIT 1000"},
    [S_LOG_SLOW] = {"api_log_slowest",
                    "SELECT " L_COLS " FROM api_logs WHERE timestamp >= ?1 "
                    "ORDER BY response_time_ms DESC, log_id DESC LIMIT ?2"},
    [S_LOG_ERR] = {"api_log_errors",
                   "SELECT " L_COLS " FROM api_logs WHERE timestamp >= ?1 AND status_code >= 400 "
                   "ORDER BY timestamp DESC, log_id DESC LIMIT ?2"},
    [S_LOG_DEL] = {"api_log_retention", "DELETE FROM api_logs WHERE timestamp < ?"},
    [S_MR_UPSERT] = {"measure_result_upsert",
                     "INSERT INTO measure_results (" MR_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                     "ON CONFLICT (member_hash, measure_code, measurement_year) DO UPDATE SET "
                     "initial_population = excluded.initial_population, "
                     "denominator = excluded.denominator, "
                     "denominator_exclusion = excluded.denominator_exclusion, "
                     "numerator = excluded.numerator, evaluated_at = excluded.evaluated_at, "
                     "source = excluded.source, numerator_date = excluded.numerator_date"},
    [S_MR_BY_MEMBER] = {"measure_result_by_member",
                        "SELECT " MR_COLS " FROM measure_results WHERE member_hash = ?1 "
                        "AND (?2 = 0 OR measurement_year = ?2) "
                        "ORDER BY measurement_year DESC, measure_code LIMIT 10000"},
    [S_MR_RATES] = {"measure_result_rates",
                    "SELECT r.measure_code, m.contract_id, r.measurement_year, "
                    "sum(r.denominator = 1 AND r.denominator_exclusion = 0), "
                    "sum(r.numerator = 1 AND r.denominator = 1 AND r.denominator_exclusion = 0), "
                    "sum(r.denominator_exclusion) "
                    "FROM measure_results r JOIN members m ON m.member_hash = r.member_hash "
                    "WHERE (?1 IS NULL OR r.measure_code = ?1) AND (?2 IS NULL OR m.contract_id = ?2) "
                    "AND (?3 = 0 OR r.measurement_year = ?3) "
                    "GROUP BY r.measure_code, m.contract_id, r.measurement_year "
                    "ORDER BY r.measure_code, m.contract_id, r.measurement_year LIMIT 100000"},
    [S_ME_UPSERT] = {"measure_upsert",
                     "INSERT INTO measures (" ME_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                     "ON CONFLICT (star_year, code) DO UPDATE SET cms_id = excluded.cms_id, "
                     "name = excluded.name, part = excluded.part, domain = excluded.domain, "
                     "weighting_category = excluded.weighting_category, weight = excluded.weight, "
                     "direction = excluded.direction, display_precision = excluded.display_precision, "
                     "member_level = excluded.member_level"},
    [S_ME_LIST] = {"measure_list", "SELECT " ME_COLS " FROM measures WHERE ?1 = 0 OR star_year = ?1 "
                                   "ORDER BY star_year, cms_id"},
    [S_ME_GET] = {"measure_get", "SELECT " ME_COLS " FROM measures WHERE star_year = ? AND code = ?"},
    [S_KEY_INS] = {"api_key_insert",
                   "INSERT INTO api_keys (key_hash, name, role, created_at) VALUES (?, ?, ?, ?)"},
    [S_KEY_GET] = {"api_key_get", "SELECT " K_COLS " FROM api_keys WHERE key_hash = ?"},
    [S_KEY_LIST] = {"api_key_list", "SELECT " K_COLS " FROM api_keys ORDER BY name"},
    [S_KEY_BY_NAME] = {"api_key_by_name", "SELECT " K_COLS " FROM api_keys WHERE name = ?"},
    [S_KEY_REVOKE] = {"api_key_revoke",
                      "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL"},
    [S_HIST] = {"member_history",
                "SELECT kind, id, measure_code, year, at, status, value FROM ("
                " SELECT 0 AS kind, '' AS id, measure_code, measurement_year AS year, "
                "  evaluated_at AS at, CASE WHEN numerator = 1 THEN 'numerator' "
                "  WHEN denominator_exclusion = 1 THEN 'excluded' WHEN denominator = 1 THEN 'denominator' "
                "  WHEN initial_population = 1 THEN 'population' ELSE 'none' END AS status, "
                "  NULL AS value FROM measure_results WHERE member_hash = ?1"
                " UNION ALL SELECT 1, prediction_id, measure_code, measurement_year, prediction_date, "
                "  risk_tier, gap_probability FROM predictions WHERE member_hash = ?1"
                " UNION ALL SELECT 2, gap_id, measure_code, measurement_year, created_at, status, "
                "  priority_score FROM gap_analysis WHERE member_hash = ?1"
                " UNION ALL SELECT 3, intervention_id, json_extract(measure_codes, '$[0]'), 0, "
                "  created_at, status, estimated_cost FROM interventions WHERE member_hash = ?1"
                ") ORDER BY at DESC, kind, id LIMIT ?2 OFFSET ?3"},
    [S_HIST_N] = {"member_history_count",
                  "SELECT (SELECT count(*) FROM measure_results WHERE member_hash = ?1) + "
                  "(SELECT count(*) FROM predictions WHERE member_hash = ?1) + "
                  "(SELECT count(*) FROM gap_analysis WHERE member_hash = ?1) + "
                  "(SELECT count(*) FROM interventions WHERE member_hash = ?1)"},
    [S_MIG_CREATE] = {"schema_migrations_create",
                      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                      "name TEXT NOT NULL, checksum TEXT NOT NULL CHECK (length(checksum) = 64), "
                      "applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"},
    [S_MIG_LIST] = {"schema_migrations_list",
                    "SELECT version, checksum FROM schema_migrations ORDER BY version"},
    [S_MIG_INS] = {"schema_migrations_insert",
                   "INSERT INTO schema_migrations (version, name, checksum) VALUES (?, ?, ?)"},
    [S_MIG_DEL] = {"schema_migrations_delete", "DELETE FROM schema_migrations WHERE version = ?"},
};

/* The filtered gap list: one cached statement per filter combination (bit set below). */
enum { GF_MEASURE = 1, GF_STATUS = 2, GF_CONTRACT = 4, GF_YEAR = 8, GF_MINP = 16, GF_PROB = 32 };
#define GF_VARIANTS 64
#define BULK_SEEN 8 /* tables whose size bulk_want remembers */

struct sq_conn {
    sqlite3 *db;
    sqlite3_stmt *st[S_COUNT];
    sqlite3_stmt *gap_list[GF_VARIANTS];
    sqlite3_stmt *gap_count[GF_VARIANTS];
    sqlite3_stmt *pred_multi; /* multi-row prediction INSERT */
    struct {
        char table[32];
        size_t rows;          /* the table had at least this many rows (bulk_want) */
    } seen[BULK_SEEN];
    struct sq_conn *next;
};

struct sq_store {
    struct store base;
    char path[4096];
    int memory;              /* sqlite::memory: one shared connection under `serial` */
    long busy_ms;
    long cache_kb;           /* page cache of every connection (sqlite_cache_mb) */
    long bulk_cache_kb;      /* page cache while a connection writes a bulk batch */
    pthread_key_t key;       /* this thread's connection */
    pthread_mutex_t mu;      /* protects conns */
    pthread_mutex_t serial;  /* memory mode: one operation at a time */
    struct sq_conn *conns;   /* every connection, closed with the store */
    struct store_group group; /* group commit of audited operations (store_group.h) */
};

static const struct store_ops sq_ops;

/* ---- connections and statements ---- */

static int conn_error(sqlite3 *db, const char *what, char *err, size_t errlen)
{
    char code[16];
    int ext = db ? sqlite3_extended_errcode(db) : SQLITE_ERROR, prim = ext & 0xff, kind = 0;
    if (prim == SQLITE_CONSTRAINT)
        kind = (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY) ? 1 : 2;
    else if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
        kind = 3;
    snprintf(code, sizeof code, "%d", ext);
    return store_db_error(err, errlen, kind, what, code, db ? sqlite3_errmsg(db) : "no connection");
}

static void conn_close(struct sq_conn *c)
{
    sqlite3_finalize(c->pred_multi);
    for (int i = 0; i < S_COUNT; i++) sqlite3_finalize(c->st[i]);
    for (int i = 0; i < GF_VARIANTS; i++) {
        sqlite3_finalize(c->gap_list[i]);
        sqlite3_finalize(c->gap_count[i]);
    }
    sqlite3_close(c->db);
    free(c);
}

static int conn_open(struct sq_store *s, struct sq_conn **out, char *err, size_t errlen)
{
    struct sq_conn *c = calloc(1, sizeof *c);
    char *msg = NULL;
    *out = NULL;
    if (!c) return sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(s->memory ? ":memory:" : s->path, &c->db, flags, NULL) != SQLITE_OK) {
        int rc = sg_errf(err, errlen, SG_EDB, "open: cannot open SQLite database: %s",
                         c->db ? sqlite3_errmsg(c->db) : "out of memory");
        conn_close(c);
        return rc;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, (int)s->busy_ms);
    char pragmas[256];
    if (s->memory)
        snprintf(pragmas, sizeof pragmas, "PRAGMA foreign_keys = ON;");
    else
        snprintf(pragmas, sizeof pragmas,
                 "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -%ld; "
                 "PRAGMA mmap_size = 2147418112; PRAGMA foreign_keys = ON;", s->cache_kb);
    if (sqlite3_exec(c->db, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = sg_errf(err, errlen, SG_EDB, "open: pragmas: %s", msg ? msg : "failed");
        sqlite3_free(msg);
        conn_close(c);
        return rc;
    }
    *out = c;
    return SG_OK;
}

/* Returns this thread's connection (memory mode: the one connection, locked). */
static int acquire(struct store *st, struct sq_conn **out, char *err, size_t errlen)
{
    struct sq_store *s = (struct sq_store *)st;
    if (s->memory) {
        pthread_mutex_lock(&s->serial);
        *out = s->conns;
        return SG_OK;
    }
    struct sq_conn *c = pthread_getspecific(s->key);
    if (!c) {
        int rc = conn_open(s, &c, err, errlen);
        if (rc) return rc;
        pthread_mutex_lock(&s->mu);
        c->next = s->conns;
        s->conns = c;
        pthread_mutex_unlock(&s->mu);
        pthread_setspecific(s->key, c);
    }
    *out = c;
    return SG_OK;
}

/* Resets any statement left mid-step (so no read transaction stays open) and releases. */
static void release(struct store *st, struct sq_conn *c)
{
    struct sq_store *s = (struct sq_store *)st;
    if (c->pred_multi && sqlite3_stmt_busy(c->pred_multi)) sqlite3_reset(c->pred_multi);
    for (int i = 0; i < S_COUNT; i++)
        if (c->st[i] && sqlite3_stmt_busy(c->st[i])) sqlite3_reset(c->st[i]);
    for (int i = 0; i < GF_VARIANTS; i++) {
        if (c->gap_list[i] && sqlite3_stmt_busy(c->gap_list[i])) sqlite3_reset(c->gap_list[i]);
        if (c->gap_count[i] && sqlite3_stmt_busy(c->gap_count[i])) sqlite3_reset(c->gap_count[i]);
    }
    if (!sqlite3_get_autocommit(c->db)) {
        LOG_WARN("event=sqlite_open_transaction action=rollback");
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    }
    if (s->memory) pthread_mutex_unlock(&s->serial);
}

/* The cached statement id, reset and with its bindings cleared; NULL with err set on failure. */
static sqlite3_stmt *q(struct sq_conn *c, int id, char *err, size_t errlen)
{
    if (!c->st[id]) {
        if (sqlite3_prepare_v3(c->db, stmts[id].sql, -1, SQLITE_PREPARE_PERSISTENT, &c->st[id],
                               NULL) != SQLITE_OK) {
            conn_error(c->db, stmts[id].name, err, errlen);
            c->st[id] = NULL;
            return NULL;
        }
    } else {
        sqlite3_reset(c->st[id]);
        sqlite3_clear_bindings(c->st[id]);
    }
    return c->st[id];
}

#define QE(c, s) conn_error((c)->db, sqlite3_sql(s) ? stmt_name(c, s) : "?", err, errlen)

static const char *stmt_name(struct sq_conn *c, sqlite3_stmt *s)
{
    for (int i = 0; i < S_COUNT; i++)
        if (c->st[i] == s) return stmts[i].name;
    return "gap_list";
}

/* Steps a statement expected to finish (INSERT/UPDATE/DELETE). */
static int run(struct sq_conn *c, sqlite3_stmt *s, char *err, size_t errlen)
{
    int r = sqlite3_step(s);
    int rc = (r == SQLITE_DONE || r == SQLITE_ROW) ? SG_OK : QE(c, s);
    sqlite3_reset(s);
    return rc;
}

static int exec_id(struct sq_conn *c, int id, char *err, size_t errlen)
{
    sqlite3_stmt *s = q(c, id, err, errlen);
    return s ? run(c, s, err, errlen) : SG_EDB;
}

static int begin(struct sq_conn *c, char *err, size_t errlen) { return exec_id(c, S_BEGIN, err, errlen); }

/* ---- group commit (store_group.h): the leader's connection, one BEGIN IMMEDIATE per group ---- */

static int gx_begin(void *ctx, void **conn, char *err, size_t errlen)
{
    struct sq_conn *c;
    *conn = NULL;
    int rc = acquire(ctx, &c, err, errlen);
    if (rc) return rc;
    if ((rc = begin(c, err, errlen))) {
        release(ctx, c);
        return rc;
    }
    *conn = c;
    return SG_OK;
}

static int gx_exec(void *conn, const char *sql, char *err, size_t errlen)
{
    struct sq_conn *c = conn;
    if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return conn_error(c->db, sql, err, errlen);
    return SG_OK;
}

static int gx_savepoint(void *conn, char *err, size_t errlen)
{
    return gx_exec(conn, "SAVEPOINT sg_op", err, errlen);
}

static int gx_release(void *conn, char *err, size_t errlen)
{
    return gx_exec(conn, "RELEASE SAVEPOINT sg_op", err, errlen);
}

/* ROLLBACK TO leaves the savepoint on the stack; RELEASE it so the next operation starts clean. */
static int gx_rollback_to(void *conn, char *err, size_t errlen)
{
    return gx_exec(conn, "ROLLBACK TO SAVEPOINT sg_op; RELEASE SAVEPOINT sg_op", err, errlen);
}

static int gx_commit(void *conn, char *err, size_t errlen)
{
    return exec_id(conn, S_COMMIT, err, errlen);
}

/* release() rolls back a transaction a failure left open. */
static void gx_end(void *ctx, void *conn)
{
    if (conn) release(ctx, conn);
}

/* Not optimistic: a SQLite savepoint is an in-process step, not a round trip, so there is
 * nothing to save (and the member-read bodies append to their lists). */
static const struct store_group_tx sq_group_tx = {
    gx_begin, gx_savepoint, gx_release, gx_rollback_to, gx_commit, gx_end, 0, NULL, NULL,
};

static struct store_group *GROUP(struct store *st) { return &((struct sq_store *)st)->group; }

/* Commits when rc is SG_OK (rolling back if the commit fails), else rolls back; returns rc. */
static int finish(struct sq_conn *c, int rc, char *err, size_t errlen)
{
    if (sqlite3_get_autocommit(c->db)) return rc;
    if (rc == SG_OK) {
        rc = exec_id(c, S_COMMIT, err, errlen);
        if (rc == SG_OK) return SG_OK;
    }
    char e2[64];
    (void)exec_id(c, S_ROLLBACK, e2, sizeof e2);
    return rc;
}

/* ---- bulk writes: a big page cache, and secondary indexes rebuilt instead of updated ----
 *
 * A batch of the pipeline (an import merge, a prediction batch, a gap refresh) writes its rows in
 * one transaction. While a prediction batch or a gap refresh runs, its connection's page cache is
 * raised from sqlite_cache_mb to sqlite_bulk_cache_mb (one connection at a time: the cache is
 * raised after BEGIN IMMEDIATE has
 * the write lock, and lowered again, which frees the pages above the limit, after COMMIT), so the
 * pages it dirties stay in memory instead of spilling into the WAL mid-transaction and being read
 * back from it (pwrite/pread and sqlite3WalFindFrame were a quarter of the gap stage).
 *
 * When a batch at least doubles its table (a gap refresh: when its new rows are at least a
 * quarter of it, BULK_GAP_SHARE) (bulk_want: the first gap refresh of a year, the
 * first predictions of a year, the first import batches into an empty database), the table's secondary indexes are dropped inside the
 * transaction and re-created from their own CREATE INDEX statements before COMMIT: SQLite builds
 * an index by sorting its entries and writing each page once, where row-by-row upkeep walks and
 * dirties a root-to-leaf path per row and index. The indexes are read from sqlite_schema (name
 * and SQL), so nothing here repeats the migrations; constraint indexes (UNIQUE, PRIMARY KEY: no
 * SQL) stay. DROP INDEX deletes the index's planner statistics (sqlite_stat1/4 rows): they are
 * copied aside and put back, and the connection reloads them after COMMIT. DDL is transactional:
 * a batch that fails rolls the drops back with its rows. Readers on other connections keep their
 * WAL snapshot (with the indexes) and re-prepare their statements after the commit (SQLITE_SCHEMA
 * is retried inside sqlite3_step); this connection's cached statements re-prepare the same way,
 * and the per-call statements of the batch are all reset before the DDL runs. */

#define BULK_MIN_ROWS 10000 /* smaller batches: a rebuild saves nothing measurable */
/* A gap refresh rebuilds gap_analysis's indexes when its rows are at least a quarter of the
 * table: the six sort indexes take random keys (priority, probability), so row-by-row upkeep
 * costs a root-to-leaf walk per row and index, while a rebuild sorts once. The pipeline refreshes
 * one contract at a time; with "at least double" only the first contract of a year took the
 * rebuild (docs/BENCHMARKS.md, "Bulk writes on SQLite"). */
#define BULK_GAP_SHARE 4

/* The rows of a refresh batch of n that may be new: n less the scope's gaps before it (a re-run
 * that updates its scope's gaps keeps the row-by-row path, which measured faster for updates). */
static size_t fresh_rows(size_t n, long long scope_gaps)
{
    return scope_gaps > 0 && (size_t)scope_gaps >= n ? 0 : n - (size_t)(scope_gaps > 0 ? scope_gaps : 0);
}

struct sq_bulk {
    char table[64];  /* the table whose indexes are dropped (empty: none) */
    size_t n;        /* dropped indexes */
    char **sql;      /* their CREATE INDEX statements (sqlite3_malloc'd) */
    int stats;       /* planner statistics were put back: reload them after COMMIT */
    int cache;       /* the page cache was raised */
};

static int sq_exec(struct sq_conn *c, const char *what, const char *sql, char *err, size_t errlen)
{
    if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) == SQLITE_OK) return SG_OK;
    return conn_error(c->db, what, err, errlen);
}

static void set_cache(struct sq_conn *c, long kb)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size = -%ld", kb);
    (void)sqlite3_exec(c->db, sql, NULL, NULL, NULL); /* a hint: never fails the batch */
}

/* Starts the bulk state of a batch; call after BEGIN IMMEDIATE. raise_cache: raise the page cache
 * of c for the batch (gap refresh and prediction batches; not the import merges, whose sorted
 * 200,000-row batches gained no CPU from it and ran 9% longer at 1,000,000 members). */
static void bulk_begin(struct store *st, struct sq_conn *c, struct sq_bulk *b, int raise_cache)
{
    struct sq_store *s = (struct sq_store *)st;
    memset(b, 0, sizeof *b);
    if (raise_cache && !s->memory && s->bulk_cache_kb > s->cache_kb) {
        set_cache(c, s->bulk_cache_kb);
        b->cache = 1;
    }
}

/* Whether n rows are at least 1/share of table's rows (share 1: the batch at least doubles the
 * table; counts at most share * n existing rows). A
 * table seen with at least m rows is not counted again for batches of at most m rows on this
 * connection (import batches into a big table would each scan n index entries for nothing); a
 * table that shrank since only misses a rebuild, which is never needed for correctness. */
static int bulk_want(struct sq_conn *c, const char *table, size_t n, size_t share, int *want,
                     char *err, size_t errlen)
{
    *want = 0;
    if (n < BULK_MIN_ROWS) return SG_OK;
    n *= share; /* from here on: the table size below which the batch takes the bulk path */
    size_t slot = BULK_SEEN;
    for (size_t i = 0; i < BULK_SEEN; i++) {
        if (!strcmp(c->seen[i].table, table)) {
            if (c->seen[i].rows >= n) return SG_OK;
            slot = i;
            break;
        }
        if (slot == BULK_SEEN && !c->seen[i].table[0]) slot = i;
    }
    char *sql = sqlite3_mprintf("SELECT count(*) FROM (SELECT 1 FROM main.\"%w\" LIMIT ?1)", table);
    sqlite3_stmt *s = NULL;
    if (!sql) return sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) == SQLITE_OK ? SG_OK
             : conn_error(c->db, "bulk_count", err, errlen);
    sqlite3_free(sql);
    if (!rc) {
        sqlite3_bind_int64(s, 1, (sqlite3_int64)n);
        if (sqlite3_step(s) == SQLITE_ROW) {
            size_t have = (size_t)sqlite3_column_int64(s, 0);
            *want = have < n;
            if (!*want && slot < BULK_SEEN) {
                snprintf(c->seen[slot].table, sizeof c->seen[slot].table, "%s", table);
                c->seen[slot].rows = have;
            }
        } else {
            rc = conn_error(c->db, "bulk_count", err, errlen);
        }
    }
    sqlite3_finalize(s);
    return rc;
}

/* The statistics tables of this database (sqlite_stat1, and sqlite_stat4 when SQLite has it). */
static const char *const stat_tables[] = {"sqlite_stat1", "sqlite_stat4"};

static int table_exists(struct sq_conn *c, const char *name)
{
    sqlite3_stmt *s = NULL;
    int yes = 0;
    if (sqlite3_prepare_v2(c->db, "SELECT 1 FROM main.sqlite_schema WHERE type = 'table' AND name = ?1",
                           -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        yes = sqlite3_step(s) == SQLITE_ROW;
    }
    sqlite3_finalize(s);
    return yes;
}

/* Drops table's secondary indexes (those with SQL) inside the open transaction, keeping their
 * CREATE statements and statistics in b for bulk_restore. */
static int bulk_drop(struct sq_conn *c, struct sq_bulk *b, const char *table, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    char **names = NULL;
    size_t cap = 0;
    int rc = SG_OK, r;
    snprintf(b->table, sizeof b->table, "%s", table);
    if (sqlite3_prepare_v2(c->db,
                           "SELECT name, sql FROM main.sqlite_schema WHERE type = 'index' "
                           "AND tbl_name = ?1 AND sql IS NOT NULL ORDER BY name", -1, &s, NULL) != SQLITE_OK)
        return conn_error(c->db, "bulk_indexes", err, errlen);
    sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if (b->n == cap) {
            size_t nc = cap ? 2 * cap : 8;
            char **ns = realloc(names, nc * sizeof *ns), **qs = realloc(b->sql, nc * sizeof *qs);
            if (ns) names = ns;
            if (qs) b->sql = qs;
            if (!ns || !qs) { rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory"); break; }
            cap = nc;
        }
        names[b->n] = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(s, 0));
        b->sql[b->n] = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(s, 1));
        if (!names[b->n] || !b->sql[b->n]) {
            sqlite3_free(names[b->n]);
            sqlite3_free(b->sql[b->n]);
            rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
            break;
        }
        b->n++;
    }
    if (!rc && r != SQLITE_DONE) rc = conn_error(c->db, "bulk_indexes", err, errlen);
    sqlite3_finalize(s);
    /* statistics of those indexes, aside in temp tables (rolled back with the batch) */
    for (size_t t = 0; t < sizeof stat_tables / sizeof *stat_tables && !rc && b->n; t++) {
        if (!table_exists(c, stat_tables[t])) continue;
        char *sql = sqlite3_mprintf(
            "DROP TABLE IF EXISTS temp.sg_bulk_%s; CREATE TEMP TABLE sg_bulk_%s AS SELECT * FROM "
            "main.%s WHERE tbl = %Q AND idx IN (SELECT name FROM main.sqlite_schema WHERE "
            "type = 'index' AND tbl_name = %Q AND sql IS NOT NULL)",
            stat_tables[t], stat_tables[t], stat_tables[t], table, table);
        rc = sql ? sq_exec(c, "bulk_stats_save", sql, err, errlen) : sg_errf(err, errlen, SG_ENOMEM, "out of memory");
        sqlite3_free(sql);
    }
    for (size_t i = 0; i < b->n && !rc; i++) {
        char *sql = sqlite3_mprintf("DROP INDEX main.\"%w\"", names[i]);
        rc = sql ? sq_exec(c, "bulk_drop_index", sql, err, errlen) : sg_errf(err, errlen, SG_ENOMEM, "out of memory");
        sqlite3_free(sql);
    }
    for (size_t i = 0; i < b->n; i++) sqlite3_free(names[i]);
    free(names);
    return rc;
}

/* Re-creates the indexes bulk_drop dropped and puts their statistics back (same transaction). */
static int bulk_restore(struct sq_conn *c, struct sq_bulk *b, char *err, size_t errlen)
{
    int rc = SG_OK;
    for (size_t i = 0; i < b->n && !rc; i++) rc = sq_exec(c, "bulk_create_index", b->sql[i], err, errlen);
    for (size_t t = 0; t < sizeof stat_tables / sizeof *stat_tables && !rc && b->n; t++) {
        char name[32];
        snprintf(name, sizeof name, "sg_bulk_%s", stat_tables[t]);
        sqlite3_stmt *s = NULL;
        int saved = 0;
        if (sqlite3_prepare_v2(c->db, "SELECT 1 FROM temp.sqlite_schema WHERE name = ?1", -1, &s, NULL) == SQLITE_OK) {
            sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
            saved = sqlite3_step(s) == SQLITE_ROW;
        }
        sqlite3_finalize(s);
        if (!saved) continue;
        char *sql = sqlite3_mprintf("INSERT INTO main.%s SELECT * FROM temp.%s; DROP TABLE temp.%s",
                                    stat_tables[t], name, name);
        rc = sql ? sq_exec(c, "bulk_stats_restore", sql, err, errlen) : sg_errf(err, errlen, SG_ENOMEM, "out of memory");
        sqlite3_free(sql);
        b->stats = 1;
    }
    return rc;
}

/* After COMMIT or ROLLBACK: lowers the page cache again, reloads the planner statistics when
 * they were put back, frees b. */
static void bulk_end(struct store *st, struct sq_conn *c, struct sq_bulk *b, int committed)
{
    struct sq_store *s = (struct sq_store *)st;
    if (b->cache) set_cache(c, s->cache_kb);
    if (committed && b->stats) (void)sqlite3_exec(c->db, "ANALYZE sqlite_schema", NULL, NULL, NULL);
    for (size_t i = 0; i < b->n; i++) sqlite3_free(b->sql[i]);
    free(b->sql);
    memset(b, 0, sizeof *b);
}

/* Drops table's secondary indexes into ix when n rows at least double the table (bulk_want). */
static int bulk_table_begin(struct sq_conn *c, struct sq_bulk *ix, const char *table, size_t n,
                            char *err, size_t errlen)
{
    int want = 0;
    memset(ix, 0, sizeof *ix);
    int rc = bulk_want(c, table, n, 1, &want, err, errlen);
    if (!rc && want) rc = bulk_drop(c, ix, table, err, errlen);
    if (rc) {
        for (size_t i = 0; i < ix->n; i++) sqlite3_free(ix->sql[i]);
        free(ix->sql);
        memset(ix, 0, sizeof *ix);
    }
    return rc;
}

/* Re-creates the indexes of ix when rc is SG_OK (the batch's rows are written), notes in outer
 * whether statistics need reloading after COMMIT, frees ix; returns rc or the re-create's error. */
static int bulk_table_end(struct sq_conn *c, struct sq_bulk *ix, struct sq_bulk *outer, int rc,
                          char *err, size_t errlen)
{
    if (!rc && ix->n) rc = bulk_restore(c, ix, err, errlen);
    outer->stats |= ix->stats;
    for (size_t i = 0; i < ix->n; i++) sqlite3_free(ix->sql[i]);
    free(ix->sql);
    memset(ix, 0, sizeof *ix);
    return rc;
}

/* ---- binding and reading ---- */

static void bt(sqlite3_stmt *s, int i, const char *v) /* text; NULL or "" binds NULL */
{
    if (v && *v) sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else sqlite3_bind_null(s, i);
}
static void bd(sqlite3_stmt *s, int i, double v) /* real; NAN binds NULL */
{
    if (isnan(v)) sqlite3_bind_null(s, i);
    else sqlite3_bind_double(s, i, v);
}
static void bi(sqlite3_stmt *s, int i, long long v) { sqlite3_bind_int64(s, i, v); }
static void bopt(sqlite3_stmt *s, int i, int v) /* -1 binds NULL */
{
    if (v < 0) sqlite3_bind_null(s, i);
    else sqlite3_bind_int(s, i, v);
}

static void ct(sqlite3_stmt *s, int i, char *buf, size_t size)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    snprintf(buf, size, "%s", t ? (const char *)t : "");
}
static double cd(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}
static int ci(sqlite3_stmt *s, int i) { return sqlite3_column_int(s, i); }
static long long cl(sqlite3_stmt *s, int i) { return sqlite3_column_int64(s, i); }
static int copt(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL ? -1 : sqlite3_column_int(s, i);
}
/* Heap copy of a JSON column (NULL stays NULL); sets *oom on allocation failure. */
static char *cj(sqlite3_stmt *s, int i, int *oom)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    if (!t) return NULL;
    char *d = strdup((const char *)t);
    if (!d) *oom = 1;
    return d;
}

/* Grows a list's item array to hold one more; returns the new slot (zeroed) or NULL. */
static void *push(void **items, size_t *n, size_t *cap, size_t size)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        void *p = realloc(*items, nc * size);
        if (!p) return NULL;
        *items = p;
        *cap = nc;
    }
    void *slot = (char *)*items + (*n)++ * size;
    memset(slot, 0, size);
    return slot;
}

static void read_member(sqlite3_stmt *s, struct store_member *m)
{
    char sex[4];
    ct(s, 0, m->member_hash, sizeof m->member_hash);
    ct(s, 1, m->contract_id, sizeof m->contract_id);
    ct(s, 2, m->first_seen, sizeof m->first_seen);
    ct(s, 3, m->last_updated, sizeof m->last_updated);
    m->total_predictions = (long)cl(s, 4);
    m->active = ci(s, 5);
    m->birth_year = copt(s, 6) < 0 ? 0 : ci(s, 6);
    ct(s, 7, sex, sizeof sex);
    if (store_sex_parse(sex, &m->sex) != SG_OK) m->sex = STORE_SEX_UNKNOWN;
    m->dual_eligible = copt(s, 8);
    m->lis = copt(s, 9);
    m->disabled = copt(s, 10);
    ct(s, 11, m->created_at, sizeof m->created_at);
    ct(s, 12, m->updated_at, sizeof m->updated_at);
}

static void read_pred(sqlite3_stmt *s, struct store_prediction *p, int *oom)
{
    char tier[16];
    ct(s, 0, p->prediction_id, sizeof p->prediction_id);
    ct(s, 1, p->member_hash, sizeof p->member_hash);
    ct(s, 2, p->measure_code, sizeof p->measure_code);
    p->measurement_year = ci(s, 3);
    p->gap_probability = sqlite3_column_double(s, 4);
    ct(s, 5, tier, sizeof tier);
    if (store_risk_tier_parse(tier, &p->risk_tier) != SG_OK) p->risk_tier = STORE_TIER_LOW;
    p->risk_score = cd(s, 6);
    p->shap_values = cj(s, 7, oom);
    p->top_features = cj(s, 8, oom);
    ct(s, 9, p->recommendation, sizeof p->recommendation);
    ct(s, 10, p->model_version, sizeof p->model_version);
    ct(s, 11, p->prediction_date, sizeof p->prediction_date);
    ct(s, 12, p->created_at, sizeof p->created_at);
}

static void read_snap(sqlite3_stmt *s, struct store_snapshot *x, int *oom)
{
    ct(s, 0, x->snapshot_id, sizeof x->snapshot_id);
    ct(s, 1, x->contract_id, sizeof x->contract_id);
    x->measurement_year = ci(s, 2);
    ct(s, 3, x->snapshot_date, sizeof x->snapshot_date);
    x->total_members = (long)cl(s, 4);
    x->total_gaps = (long)cl(s, 5);
    x->gaps_by_measure = cj(s, 6, oom);
    x->gaps_by_tier = cj(s, 7, oom);
    x->star_rating_current = cd(s, 8);
    x->star_rating_projected = cd(s, 9);
    x->estimated_value = cd(s, 10);
    ct(s, 11, x->created_at, sizeof x->created_at);
}

static void read_gap(sqlite3_stmt *s, struct store_gap *g)
{
    char st[16];
    ct(s, 0, g->gap_id, sizeof g->gap_id);
    ct(s, 1, g->member_hash, sizeof g->member_hash);
    ct(s, 2, g->contract_id, sizeof g->contract_id);
    ct(s, 3, g->measure_code, sizeof g->measure_code);
    g->measurement_year = ci(s, 4);
    g->gap_probability = sqlite3_column_double(s, 5);
    g->priority_score = sqlite3_column_double(s, 6);
    ct(s, 7, g->intervention_type, sizeof g->intervention_type);
    g->estimated_cost = cd(s, 8);
    g->estimated_value = cd(s, 9);
    ct(s, 10, st, sizeof st);
    if (store_gap_status_parse(st, &g->status) != SG_OK) g->status = STORE_GAP_IDENTIFIED;
    ct(s, 11, g->assigned_date, sizeof g->assigned_date);
    ct(s, 12, g->completed_date, sizeof g->completed_date);
    ct(s, 13, g->closed_date, sizeof g->closed_date);
    ct(s, 14, g->created_at, sizeof g->created_at);
    ct(s, 15, g->updated_at, sizeof g->updated_at);
}

static void read_iv(sqlite3_stmt *s, struct store_intervention *iv)
{
    char st[16], oc[16];
    ct(s, 0, iv->intervention_id, sizeof iv->intervention_id);
    ct(s, 1, iv->gap_id, sizeof iv->gap_id);
    ct(s, 2, iv->member_hash, sizeof iv->member_hash);
    if (store_parse_codes((const char *)sqlite3_column_text(s, 3), iv) != SG_OK) iv->n_measure_codes = 0;
    ct(s, 4, iv->intervention_type, sizeof iv->intervention_type);
    ct(s, 5, iv->description, sizeof iv->description);
    iv->estimated_cost = cd(s, 6);
    iv->estimated_value = cd(s, 7);
    iv->roi = cd(s, 8);
    ct(s, 9, st, sizeof st);
    if (store_iv_status_parse(st, &iv->status) != SG_OK) iv->status = STORE_IV_PLANNED;
    ct(s, 10, iv->scheduled_date, sizeof iv->scheduled_date);
    ct(s, 11, iv->completed_date, sizeof iv->completed_date);
    ct(s, 12, oc, sizeof oc);
    if (store_outcome_parse(oc, &iv->outcome) != SG_OK) iv->outcome = STORE_OUTCOME_NONE;
    ct(s, 13, iv->created_at, sizeof iv->created_at);
    ct(s, 14, iv->updated_at, sizeof iv->updated_at);
}

static void read_sr(sqlite3_stmt *s, struct store_star_rating *r, int *oom)
{
    ct(s, 0, r->rating_id, sizeof r->rating_id);
    ct(s, 1, r->contract_id, sizeof r->contract_id);
    r->star_year = ci(s, 2);
    r->measurement_year = ci(s, 3);
    ct(s, 4, r->calculation_date, sizeof r->calculation_date);
    r->part_c = cd(s, 5);
    r->part_d = cd(s, 6);
    r->overall = cd(s, 7);
    r->measure_stars = cj(s, 8, oom);
    r->measure_scores = cj(s, 9, oom);
    r->reward_factor = cd(s, 10);
    r->cai = cd(s, 11);
    r->details = cj(s, 12, oom);
    ct(s, 13, r->created_at, sizeof r->created_at);
}

static void read_sim(sqlite3_stmt *s, struct store_simulation *x, int *oom)
{
    ct(s, 0, x->simulation_id, sizeof x->simulation_id);
    ct(s, 1, x->contract_id, sizeof x->contract_id);
    x->measurement_year = ci(s, 2);
    ct(s, 3, x->simulation_date, sizeof x->simulation_date);
    ct(s, 4, x->strategy, sizeof x->strategy);
    x->closure_rate = sqlite3_column_double(s, 5);
    x->baseline_stars = cd(s, 6);
    x->projected_stars = cd(s, 7);
    x->revenue_impact = cd(s, 8);
    x->investment_required = cd(s, 9);
    x->roi = cd(s, 10);
    x->gaps_closed = (long)cl(s, 11);
    x->members_impacted = (long)cl(s, 12);
    x->scenario_details = cj(s, 13, oom);
    ct(s, 14, x->created_at, sizeof x->created_at);
}

static void read_log(sqlite3_stmt *s, struct store_api_log *l)
{
    l->log_id = cl(s, 0);
    ct(s, 1, l->request_id, sizeof l->request_id);
    ct(s, 2, l->endpoint, sizeof l->endpoint);
    ct(s, 3, l->method, sizeof l->method);
    ct(s, 4, l->api_key_hash, sizeof l->api_key_hash);
    l->status_code = ci(s, 5);
    l->response_time_ms = sqlite3_column_double(s, 6);
    l->prediction_count = (long)cl(s, 7);
    ct(s, 8, l->error_message, sizeof l->error_message);
    ct(s, 9, l->timestamp, sizeof l->timestamp);
}

static void read_audit(sqlite3_stmt *s, struct store_audit *a, int *oom)
{
    a->audit_id = cl(s, 0);
    ct(s, 1, a->event_type, sizeof a->event_type);
    ct(s, 2, a->entity_type, sizeof a->entity_type);
    ct(s, 3, a->entity_id, sizeof a->entity_id);
    ct(s, 4, a->action, sizeof a->action);
    ct(s, 5, a->user_id, sizeof a->user_id);
    a->changes = cj(s, 6, oom);
    ct(s, 7, a->ip_address, sizeof a->ip_address);
    ct(s, 8, a->timestamp, sizeof a->timestamp);
    ct(s, 9, a->prev_hash, sizeof a->prev_hash);
    ct(s, 10, a->hash, sizeof a->hash);
}

static void read_mr(sqlite3_stmt *s, struct store_measure_result *r)
{
    ct(s, 0, r->member_hash, sizeof r->member_hash);
    ct(s, 1, r->measure_code, sizeof r->measure_code);
    r->measurement_year = ci(s, 2);
    r->initial_population = ci(s, 3);
    r->denominator = ci(s, 4);
    r->denominator_exclusion = ci(s, 5);
    r->numerator = ci(s, 6);
    ct(s, 7, r->evaluated_at, sizeof r->evaluated_at);
    ct(s, 8, r->source, sizeof r->source);
    ct(s, 9, r->numerator_date, sizeof r->numerator_date);
}

static void read_measure(sqlite3_stmt *s, struct store_measure *m)
{
    char buf[32];
    m->star_year = ci(s, 0);
    ct(s, 1, m->code, sizeof m->code);
    ct(s, 2, m->cms_id, sizeof m->cms_id);
    ct(s, 3, m->name, sizeof m->name);
    ct(s, 4, buf, sizeof buf);
    m->part = buf[0];
    ct(s, 5, m->domain, sizeof m->domain);
    ct(s, 6, buf, sizeof buf);
    if (store_weight_cat_parse(buf, &m->weighting_category) != SG_OK) m->weighting_category = STORE_WCAT_PROCESS;
    m->weight = sqlite3_column_double(s, 7);
    ct(s, 8, buf, sizeof buf);
    if (store_direction_parse(buf, &m->direction) != SG_OK) m->direction = STORE_HIGHER_BETTER;
    m->display_precision = ci(s, 9);
    m->member_level = ci(s, 10);
}

static void read_key(sqlite3_stmt *s, struct store_api_key *k)
{
    char role[16];
    ct(s, 0, k->key_hash, sizeof k->key_hash);
    ct(s, 1, k->name, sizeof k->name);
    ct(s, 2, role, sizeof role);
    if (store_role_parse(role, &k->role) != SG_OK) k->role = STORE_ROLE_READER;
    ct(s, 3, k->created_at, sizeof k->created_at);
    ct(s, 4, k->revoked_at, sizeof k->revoked_at);
}

/* Steps s once for a single row: SG_OK with the row current, SG_ENOTFOUND, or an error. */
static int one(struct sq_conn *c, sqlite3_stmt *s, const char *what, char *err, size_t errlen)
{
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) return SG_OK;
    if (r == SQLITE_DONE) return sg_errf(err, errlen, SG_ENOTFOUND, "%s: not found", what);
    return QE(c, s);
}

static long long count_of(struct sq_conn *c, sqlite3_stmt *s, int *rc, char *err, size_t errlen)
{
    long long n = 0;
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) n = sqlite3_column_int64(s, 0);
    else *rc = QE(c, s);
    sqlite3_reset(s);
    return n;
}

/* Reads every row of s into a list with the given reader. */
#define FETCH_ALL(c, s, list, type, READ)                                                      \
    do {                                                                                       \
        size_t cap_ = 0;                                                                       \
        int r_, oom_ = 0;                                                                      \
        (void)oom_;                                                                            \
        while ((r_ = sqlite3_step(s)) == SQLITE_ROW) {                                         \
            type *it_ = push((void **)&(list)->items, &(list)->n, &cap_, sizeof(type));        \
            if (!it_) {                                                                        \
                rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");                         \
                break;                                                                         \
            }                                                                                  \
            READ;                                                                              \
        }                                                                                      \
        if (rc == SG_OK && oom_) rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");        \
        if (rc == SG_OK && r_ != SQLITE_DONE) rc = QE(c, s);                                   \
        sqlite3_reset(s);                                                                      \
    } while (0)

/* ---- audit chain ---- */

/* Appends row to the chain inside the current write transaction: takes the head, sets
 * audit_id/prev_hash/hash, inserts and moves the head. */
static int audit_append(struct sq_conn *c, struct store_audit *row, char *err, size_t errlen)
{
    sqlite3_stmt *s = q(c, S_AUDIT_HEAD, err, errlen);
    int rc;
    if (!s) return SG_EDB;
    if ((rc = one(c, s, "audit_head", err, errlen))) {
        sqlite3_reset(s);
        return rc == SG_ENOTFOUND ? sg_errf(err, errlen, SG_EDB, "audit_head: missing") : rc;
    }
    row->audit_id = cl(s, 0) + 1;
    ct(s, 1, row->prev_hash, sizeof row->prev_hash);
    sqlite3_reset(s);
    if (store_audit_hash(row, row->hash) != SG_OK) return sg_errf(err, errlen, SG_EINTERNAL, "audit hash failed");
    if (!(s = q(c, S_AUDIT_INS, err, errlen))) return SG_EDB;
    bi(s, 1, row->audit_id);
    bt(s, 2, row->event_type);
    bt(s, 3, row->entity_type);
    bt(s, 4, row->entity_id);
    bt(s, 5, row->action);
    bt(s, 6, row->user_id);
    bt(s, 7, row->changes);
    bt(s, 8, row->ip_address);
    bt(s, 9, row->timestamp);
    bt(s, 10, row->prev_hash);
    bt(s, 11, row->hash);
    if ((rc = run(c, s, err, errlen))) return rc;
    if (!(s = q(c, S_AUDIT_HEAD_UPD, err, errlen))) return SG_EDB;
    bi(s, 1, row->audit_id);
    bt(s, 2, row->hash);
    return run(c, s, err, errlen);
}

/* Fills and appends one audit row; changes is borrowed. */
static int audit(struct sq_conn *c, const struct store_actor *a, const char *event_type,
                 const char *entity_type, const char *entity_id, const char *action,
                 const char *changes, const char *now, char *err, size_t errlen)
{
    struct store_audit row;
    store_audit_fill(&row, a, event_type, entity_type, entity_id, action, changes, now);
    return audit_append(c, &row, err, errlen);
}

static int oom_json(char *err, size_t errlen) { return sg_errf(err, errlen, SG_ENOMEM, "out of memory"); }

/* ---- members ---- */

static void bind_member(sqlite3_stmt *s, const struct store_member *m, const char *now)
{
    bt(s, 1, m->member_hash);
    bt(s, 2, m->contract_id);
    bt(s, 3, now);
    bt(s, 4, now);
    bi(s, 5, m->active);
    if (m->birth_year) bi(s, 6, m->birth_year);
    else sqlite3_bind_null(s, 6);
    if (m->sex != STORE_SEX_UNKNOWN) bt(s, 7, store_sex_name((int)m->sex));
    else sqlite3_bind_null(s, 7);
    bopt(s, 8, m->dual_eligible);
    bopt(s, 9, m->lis);
    bopt(s, 10, m->disabled);
}

static int member_insert(struct sq_conn *c, const struct store_actor *a, const struct store_member *m,
                         const char *now, char *err, size_t errlen)
{
    sqlite3_stmt *s = q(c, S_MEMBER_INS, err, errlen);
    int rc;
    if (!s) return SG_EDB;
    bind_member(s, m, now);
    if ((rc = run(c, s, err, errlen))) {
        if (rc == SG_ECONFLICT) return sg_errf(err, errlen, SG_ECONFLICT, "member_hash: member exists");
        return rc;
    }
    const char *keys[] = {"member_hash", "contract_id"};
    const char *vals[] = {m->member_hash, m->contract_id};
    char *ch = store_json_kv(2, keys, vals);
    if (!ch) return oom_json(err, errlen);
    rc = audit(c, a, "data_change", "member", m->member_hash, "create", ch, now, err, errlen);
    free(ch);
    return rc;
}

static int sq_member_create(struct store *st, const struct store_actor *a, const struct store_member *m,
                            const char *now, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    if (!(rc = begin(c, err, errlen))) rc = finish(c, member_insert(c, a, m, now, err, errlen), err, errlen);
    release(st, c);
    return rc;
}

static int member_read(struct sq_conn *c, const char *hash, struct store_member *out, char *err, size_t errlen)
{
    sqlite3_stmt *s = q(c, S_MEMBER_GET, err, errlen);
    if (!s) return SG_EDB;
    bt(s, 1, hash);
    int rc = one(c, s, "member", err, errlen);
    if (rc == SG_OK) read_member(s, out);
    sqlite3_reset(s);
    return rc;
}

static int sq_member_get(struct store *st, const char *hash, struct store_member *out, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    rc = member_read(c, hash, out, err, errlen);
    release(st, c);
    return rc;
}

/* The write half of get_or_create, as a group-commit body. */
struct member_arg {
    const struct store_actor *a;
    const struct store_member *m;
    const char *now;
    struct store_member *out;
    int *created;
};

static int member_body(void *conn, void *arg, char *err, size_t errlen)
{
    struct member_arg *ma = arg;
    struct sq_conn *c = conn;
    int rc = member_read(c, ma->m->member_hash, ma->out, err, errlen);
    if (rc == SG_ENOTFOUND) {
        rc = member_insert(c, ma->a, ma->m, ma->now, err, errlen);
        if (rc == SG_OK) rc = member_read(c, ma->m->member_hash, ma->out, err, errlen);
        if (rc == SG_OK) *ma->created = 1;
    }
    return rc;
}

static int sq_member_get_or_create(struct store *st, const struct store_actor *a,
                                   const struct store_member *m, const char *now,
                                   struct store_member *out, int *created, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    *created = 0;
    /* Fast path without a write lock when the member exists. */
    rc = member_read(c, m->member_hash, out, err, errlen);
    release(st, c);
    if (rc != SG_ENOTFOUND) return rc;
    struct member_arg ma = {a, m, now, out, created};
    rc = store_group_run(GROUP(st), member_body, &ma, err, errlen);
    if (rc) {
        memset(out, 0, sizeof *out);
        *created = 0;
    }
    return rc;
}

static int sq_member_update_activity(struct store *st, const struct store_actor *a, const char *hash,
                                     int active, const char *now, char *err, size_t errlen)
{
    struct sq_conn *c;
    struct store_member before;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    if ((rc = begin(c, err, errlen))) goto out;
    if ((rc = member_read(c, hash, &before, err, errlen))) goto done;
    sqlite3_stmt *s = q(c, S_MEMBER_ACT, err, errlen);
    if (!s) { rc = SG_EDB; goto done; }
    bt(s, 1, now);
    bi(s, 2, active);
    bt(s, 3, hash);
    if ((rc = run(c, s, err, errlen))) goto done;
    char json[160];
    snprintf(json, sizeof json, "{\"before\":{\"active\":%d},\"after\":{\"active\":%d}}", before.active, active);
    rc = audit(c, a, "data_change", "member", hash, "update", json, now, err, errlen);
done:
    rc = finish(c, rc, err, errlen);
out:
    release(st, c);
    return rc;
}

/* ---- predictions ---- */

#define PRED_COLS 13
#define PRED_MULTI 32 /* rows per multi-row INSERT: amortizes per-statement cost */

static void bind_pred(sqlite3_stmt *s, int base, const struct store_prediction *p, const char *now)
{
    bt(s, base + 1, p->prediction_id);
    bt(s, base + 2, p->member_hash);
    bt(s, base + 3, p->measure_code);
    bi(s, base + 4, p->measurement_year);
    sqlite3_bind_double(s, base + 5, p->gap_probability);
    bt(s, base + 6, store_risk_tier_name((int)p->risk_tier));
    bd(s, base + 7, p->risk_score);
    bt(s, base + 8, p->shap_values);
    bt(s, base + 9, p->top_features);
    bt(s, base + 10, p->recommendation);
    bt(s, base + 11, p->model_version);
    bt(s, base + 12, p->prediction_date);
    bt(s, base + 13, now);
}

/* The cached PRED_MULTI-row INSERT (its SQL is the single-row statement with repeated VALUES). */
static sqlite3_stmt *pred_multi(struct sq_conn *c, char *err, size_t errlen)
{
    if (c->pred_multi) {
        sqlite3_reset(c->pred_multi);
        sqlite3_clear_bindings(c->pred_multi);
        return c->pred_multi;
    }
    const char *one = stmts[S_PRED_INS].sql;
    const char *values = strstr(one, "VALUES ");
    char sql[8192];
    size_t len = (size_t)(values - one) + 7;
    memcpy(sql, one, len);
    for (int r = 0; r < PRED_MULTI; r++) {
        memcpy(sql + len, r ? ",(?,?,?,?,?,?,?,?,?,?,?,?,?)" : "(?,?,?,?,?,?,?,?,?,?,?,?,?)", r ? 28 : 27);
        len += r ? 28 : 27;
    }
    sql[len] = '\0';
    if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->pred_multi, NULL) != SQLITE_OK) {
        conn_error(c->db, "prediction_insert_multi", err, errlen);
        c->pred_multi = NULL;
    }
    return c->pred_multi;
}

/* Inserts the rows order[0..n) one statement per row, stopping at the first failure, whose
 * batch index and cause go to err. Used for short tails and, after a multi-row statement failed,
 * to name the failing row. */
static int pred_insert_rows(struct sq_conn *c, const struct store_prediction *rows,
                            const uint32_t *order, size_t n, const char *now, char *err,
                            size_t errlen)
{
    sqlite3_stmt *ins = q(c, S_PRED_INS, err, errlen);
    if (!ins) return SG_EDB;
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        sqlite3_reset(ins);
        bind_pred(ins, 0, &rows[i], now);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            int ext = sqlite3_extended_errcode(c->db), rc;
            char e[SG_ERRLEN];
            rc = conn_error(c->db, "prediction_insert", e, sizeof e);
            if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
                rc = sg_errf(err, errlen, SG_EINVAL, "rows[%zu].member_hash: no such member", i);
            else if (rc == SG_ECONFLICT)
                rc = sg_errf(err, errlen, SG_ECONFLICT, "rows[%zu]: duplicate prediction (member, "
                             "measure, year, model_version) or prediction_id", i);
            else
                rc = sg_errf(err, errlen, rc, "rows[%zu]: %s", i, e);
            sqlite3_reset(ins);
            return rc;
        }
    }
    sqlite3_reset(ins);
    return SG_OK;
}

/* Inserts all rows in the member order store.c computed (so the member-leading indexes and the
 * foreign-key lookups walk their b-trees in order), PRED_MULTI rows per statement, then updates
 * the members' counters (one statement per member) and appends the audit row. */
static int pred_insert_all(struct sq_conn *c, const struct store_actor *a,
                           const struct store_prediction *rows, size_t n, const uint32_t *order,
                           const char *now, char *err, size_t errlen)
{
    int rc = SG_OK;
    size_t i = 0;
    if (n >= PRED_MULTI) {
        sqlite3_stmt *m = pred_multi(c, err, errlen);
        if (!m) return SG_EDB;
        for (; i + PRED_MULTI <= n; i += PRED_MULTI) {
            sqlite3_reset(m);
            for (int r = 0; r < PRED_MULTI; r++) bind_pred(m, r * PRED_COLS, &rows[order[i + (size_t)r]], now);
            if (sqlite3_step(m) != SQLITE_DONE) {
                /* Name the failing row: roll back, then replay one row at a time up to this chunk
                 * (the batch fails either way; this slow path only runs on error). */
                char e[SG_ERRLEN];
                int kind_rc = conn_error(c->db, "prediction_insert_multi", e, sizeof e);
                sqlite3_reset(m);
                if (exec_id(c, S_ROLLBACK, e, sizeof e) || begin(c, e, sizeof e))
                    rc = sg_errf(err, errlen, kind_rc, "rows: %s", e);
                else if (!(rc = pred_insert_rows(c, rows, order, i + PRED_MULTI, now, err, errlen)))
                    rc = sg_errf(err, errlen, kind_rc, "rows: %s", e);
                return rc;
            }
        }
        sqlite3_reset(m);
    }
    if (i < n) rc = pred_insert_rows(c, rows, order + i, n - i, now, err, errlen);
    if (rc) return rc;
    /* Member counters: one update per member (rows are in member order now). */
    sqlite3_stmt *upd = q(c, S_MEMBER_PRED, err, errlen);
    if (!upd) return SG_EDB;
    for (i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && !strcmp(rows[order[j]].member_hash, rows[order[i]].member_hash)) j++;
        sqlite3_reset(upd);
        bi(upd, 1, (long long)(j - i));
        bt(upd, 2, now);
        bt(upd, 3, rows[order[i]].member_hash);
        if ((rc = run(c, upd, err, errlen))) return rc;
        i = j;
    }
    char json[96];
    if (n == 1)
        snprintf(json, sizeof json, "{\"after\":{\"measure_code\":\"%s\",\"measurement_year\":%d}}",
                 rows[0].measure_code, rows[0].measurement_year);
    else
        snprintf(json, sizeof json, "{\"count\":%zu}", n);
    return audit(c, a, "data_change", "prediction", n == 1 ? rows[0].prediction_id : NULL,
                 n == 1 ? "create" : "batch_create", json, now, err, errlen);
}

static int sq_prediction_batch_create(struct store *st, const struct store_actor *a,
                                      const struct store_prediction *rows, size_t n,
                                      const uint32_t *order, const struct store_check *check,
                                      const char *now, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = store_check_run(check, err, errlen); /* SQLite has nothing to overlap it with */
    if (rc) return rc;
    rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    if (!(rc = begin(c, err, errlen))) {
        struct sq_bulk bk, ix;
        bulk_begin(st, c, &bk, 1);
        rc = bulk_table_begin(c, &ix, "predictions", n, err, errlen);
        if (!rc) rc = pred_insert_all(c, a, rows, n, order, now, err, errlen);
        rc = bulk_table_end(c, &ix, &bk, rc, err, errlen);
        rc = finish(c, rc, err, errlen);
        bulk_end(st, c, &bk, rc == SG_OK);
    }
    release(st, c);
    return rc;
}

static int sq_prediction_get(struct store *st, const char *id, struct store_prediction *out, char *err,
                             size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen), oom = 0;
    if (rc) return rc;
    sqlite3_stmt *s = q(c, S_PRED_GET, err, errlen);
    if (!s) rc = SG_EDB;
    else {
        bt(s, 1, id);
        if (!(rc = one(c, s, "prediction", err, errlen))) read_pred(s, out, &oom);
        if (oom) rc = oom_json(err, errlen);
    }
    release(st, c);
    return rc;
}

static int sq_prediction_get_by_member(struct store *st, const char *hash, const char *code, int year,
                                       const struct store_page *pg, struct store_prediction_list *out,
                                       char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = q(c, S_PRED_BY_MEMBER, err, errlen), *n;
    if (!s || !(n = q(c, S_PRED_BY_MEMBER_N, err, errlen))) { rc = SG_EDB; goto out; }
    if ((rc = exec_id(c, S_BEGIN_READ, err, errlen))) goto out;
    bt(s, 1, hash); bt(s, 2, code); bi(s, 3, year); bi(s, 4, pg->limit); bi(s, 5, pg->offset);
    FETCH_ALL(c, s, out, struct store_prediction, read_pred(s, it_, &oom_));
    bt(n, 1, hash); bt(n, 2, code); bi(n, 3, year);
    if (rc == SG_OK) out->total = count_of(c, n, &rc, err, errlen);
    out->has_more = (long long)pg->offset + (long long)out->n < out->total;
    rc = finish(c, rc, err, errlen);
out:
    release(st, c);
    return rc;
}

static int sq_prediction_get_latest(struct store *st, const char *hash, const char *code,
                                    struct store_prediction *out, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen), oom = 0;
    if (rc) return rc;
    sqlite3_stmt *s = q(c, S_PRED_LATEST, err, errlen);
    if (!s) rc = SG_EDB;
    else {
        bt(s, 1, hash);
        bt(s, 2, code);
        if (!(rc = one(c, s, "prediction", err, errlen))) read_pred(s, out, &oom);
        if (oom) rc = oom_json(err, errlen);
    }
    release(st, c);
    return rc;
}

static int sq_prediction_delete_old(struct store *st, const struct store_actor *a, const char *before,
                                    const char *now, long long *deleted, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    if ((rc = begin(c, err, errlen))) goto out;
    sqlite3_stmt *s = q(c, S_PRED_DEL, err, errlen);
    if (!s) { rc = SG_EDB; goto done; }
    bt(s, 1, before);
    if ((rc = run(c, s, err, errlen))) goto done;
    *deleted = sqlite3_changes64(c->db);
    char json[128];
    snprintf(json, sizeof json, "{\"before\":\"%s\",\"deleted\":%lld}", before, *deleted);
    rc = audit(c, a, "data_change", "prediction", NULL, "delete_old", json, now, err, errlen);
done:
    rc = finish(c, rc, err, errlen);
    if (rc) *deleted = 0;
out:
    release(st, c);
    return rc;
}

/* ---- snapshots ---- */

static int sq_snapshot_create(struct store *st, const struct store_actor *a, const struct store_snapshot *x,
                              const char *now, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    if ((rc = begin(c, err, errlen))) goto out;
    sqlite3_stmt *s = q(c, S_SNAP_INS, err, errlen);
    if (!s) { rc = SG_EDB; goto done; }
    bt(s, 1, x->snapshot_id); bt(s, 2, x->contract_id); bi(s, 3, x->measurement_year);
    bt(s, 4, x->snapshot_date); bi(s, 5, x->total_members); bi(s, 6, x->total_gaps);
    bt(s, 7, x->gaps_by_measure); bt(s, 8, x->gaps_by_tier); bd(s, 9, x->star_rating_current);
    bd(s, 10, x->star_rating_projected); bd(s, 11, x->estimated_value); bt(s, 12, now);
    if ((rc = run(c, s, err, errlen))) goto done;
    char year[8];
    snprintf(year, sizeof year, "%d", x->measurement_year);
    const char *keys[] = {"contract_id", "measurement_year"};
    const char *vals[] = {*x->contract_id ? x->contract_id : NULL, year};
    char *ch = store_json_kv(2, keys, vals);
    if (!ch) { rc = oom_json(err, errlen); goto done; }
    rc = audit(c, a, "data_change", "portfolio_snapshot", x->snapshot_id, "create", ch, now, err, errlen);
    free(ch);
done:
    rc = finish(c, rc, err, errlen);
out:
    release(st, c);
    return rc;
}

static int sq_snapshot_get_latest(struct store *st, const char *contract, int year,
                                  struct store_snapshot *out, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen), oom = 0;
    if (rc) return rc;
    sqlite3_stmt *s = q(c, S_SNAP_LATEST, err, errlen);
    if (!s) rc = SG_EDB;
    else {
        sqlite3_bind_text(s, 1, contract, -1, SQLITE_STATIC);
        bi(s, 2, year);
        if (!(rc = one(c, s, "snapshot", err, errlen))) read_snap(s, out, &oom);
        if (oom) rc = oom_json(err, errlen);
    }
    release(st, c);
    return rc;
}

static int sq_snapshot_get_history(struct store *st, const char *contract, int year,
                                   const struct store_page *pg, struct store_snapshot_list *out,
                                   char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = q(c, S_SNAP_HIST, err, errlen), *n;
    if (!s || !(n = q(c, S_SNAP_HIST_N, err, errlen))) { rc = SG_EDB; goto out; }
    if ((rc = exec_id(c, S_BEGIN_READ, err, errlen))) goto out;
    sqlite3_bind_text(s, 1, contract, -1, SQLITE_STATIC); bi(s, 2, year); bi(s, 3, pg->limit); bi(s, 4, pg->offset);
    FETCH_ALL(c, s, out, struct store_snapshot, read_snap(s, it_, &oom_));
    sqlite3_bind_text(n, 1, contract, -1, SQLITE_STATIC); bi(n, 2, year);
    if (rc == SG_OK) out->total = count_of(c, n, &rc, err, errlen);
    out->has_more = (long long)pg->offset + (long long)out->n < out->total;
    rc = finish(c, rc, err, errlen);
out:
    release(st, c);
    return rc;
}

static int sq_snapshot_get_trends(struct store *st, const char *contract, int year, const char *since,
                                  struct store_snapshot_list *out, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = q(c, S_SNAP_TRENDS, err, errlen);
    if (!s) rc = SG_EDB;
    else {
        sqlite3_bind_text(s, 1, contract, -1, SQLITE_STATIC); bi(s, 2, year); bt(s, 3, since);
        FETCH_ALL(c, s, out, struct store_snapshot, read_snap(s, it_, &oom_));
        out->total = (long long)out->n;
    }
    release(st, c);
    return rc;
}

/* ---- gaps ---- */

static int gap_read(struct sq_conn *c, const char *id, struct store_gap *out, char *err, size_t errlen)
{
    sqlite3_stmt *s = q(c, S_GAP_GET, err, errlen);
    if (!s) return SG_EDB;
    bt(s, 1, id);
    int rc = one(c, s, "gap", err, errlen);
    if (rc == SG_OK) read_gap(s, out);
    sqlite3_reset(s);
    return rc;
}

static int sq_gap_create(struct store *st, const struct store_actor *a, const struct store_gap *g,
                         const char *now, char *err, size_t errlen)
{
    struct sq_conn *c;
    struct store_gap after;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    if ((rc = begin(c, err, errlen))) goto out;
    sqlite3_stmt *s = q(c, S_GAP_INS, err, errlen);
    if (!s) { rc = SG_EDB; goto done; }
    bt(s, 1, g->gap_id); bt(s, 2, g->member_hash); bt(s, 3, g->measure_code);
    bi(s, 4, g->measurement_year); sqlite3_bind_double(s, 5, g->gap_probability);
    sqlite3_bind_double(s, 6, g->priority_score); bt(s, 7, g->intervention_type);
    bd(s, 8, g->estimated_cost); bd(s, 9, g->estimated_value);
    bt(s, 10, store_gap_status_name((int)g->status)); bt(s, 11, g->assigned_date);
    bt(s, 12, g->completed_date); bt(s, 13, g->closed_date); bt(s, 14, now);
    if ((rc = run(c, s, err, errlen))) {
        if (rc == SG_ECONFLICT)
            rc = sg_errf(err, errlen, SG_ECONFLICT, "gap: a gap exists for this member, measure and year (or gap_id)");
        goto done;
    }
    if (sqlite3_changes(c->db) == 0) { rc = sg_errf(err, errlen, SG_EINVAL, "member_hash: no such member"); goto done; }
    if ((rc = gap_read(c, g->gap_id, &after, err, errlen))) goto done;
    char *ch = store_json_gap(NULL, &after);
    if (!ch) { rc = oom_json(err, errlen); goto done; }
    rc = audit(c, a, "data_change", "gap", g->gap_id, "create", ch, now, err, errlen);
    free(ch);
done:
    rc = finish(c, rc, err, errlen);
out:
    release(st, c);
    return rc;
}

static int sq_gap_get(struct store *st, const char *id, struct store_gap *out, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    rc = gap_read(c, id, out, err, errlen);
    release(st, c);
    return rc;
}

/* Builds the SQL of a filtered gap query variant from fixed fragments (never from input). */
static void gap_sql(int mask, int count, char *sql, size_t size)
{
    int counters = count && !(mask & GF_MINP);
    snprintf(sql, size, "%s%s%s%s%s%s%s",
             count ? (counters ? "SELECT coalesce(sum(n), 0) FROM gap_counts WHERE 1 = 1"
                               : "SELECT count(*) FROM gap_analysis WHERE 1 = 1")
                   : "SELECT " G_COLS " FROM gap_analysis WHERE 1 = 1",
             (mask & GF_STATUS) ? " AND status = :status" : "",
             (mask & GF_MEASURE) ? " AND measure_code = :measure" : "",
             (mask & GF_CONTRACT) ? " AND contract_id = :contract" : "",
             (mask & GF_YEAR) ? " AND measurement_year = :year" : "",
             (mask & GF_MINP) ? " AND priority_score >= :minp" : "",
             count ? "" : ((mask & GF_PROB) ? " ORDER BY gap_probability DESC, gap_id LIMIT :limit OFFSET :offset"
                                            : " ORDER BY priority_score DESC, gap_id LIMIT :limit OFFSET :offset"));
}

static sqlite3_stmt *gap_stmt(struct sq_conn *c, int mask, int count, char *err, size_t errlen)
{
    sqlite3_stmt **slot = count ? &c->gap_count[mask & ~GF_PROB] : &c->gap_list[mask];
    if (!*slot) {
        char sql[1024];
        gap_sql(mask, count, sql, sizeof sql);
        if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL) != SQLITE_OK) {
            conn_error(c->db, count ? "gap_count" : "gap_list", err, errlen);
            *slot = NULL;
            return NULL;
        }
    } else {
        sqlite3_reset(*slot);
        sqlite3_clear_bindings(*slot);
    }
    return *slot;
}

static void bind_named_text(sqlite3_stmt *s, const char *name, const char *v)
{
    int i = sqlite3_bind_parameter_index(s, name);
    if (i > 0) sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}
static void bind_named_num(sqlite3_stmt *s, const char *name, double v, int integer)
{
    int i = sqlite3_bind_parameter_index(s, name);
    if (i > 0) {
        if (integer) sqlite3_bind_int64(s, i, (long long)v);
        else sqlite3_bind_double(s, i, v);
    }
}

static void bind_gap_filter(sqlite3_stmt *s, const struct store_gap_filter *f)
{
    if (f->has_status) bind_named_text(s, ":status", store_gap_status_name((int)f->status));
    if (f->measure_code) bind_named_text(s, ":measure", f->measure_code);
    if (f->contract_id && *f->contract_id) bind_named_text(s, ":contract", f->contract_id);
    if (f->measurement_year) bind_named_num(s, ":year", f->measurement_year, 1);
    if (!isnan(f->min_priority)) bind_named_num(s, ":minp", f->min_priority, 0);
    bind_named_num(s, ":limit", (double)f->page.limit, 1);
    bind_named_num(s, ":offset", (double)f->page.offset, 1);
}

static int sq_gap_get_with_filters(struct store *st, const struct store_gap_filter *f,
                                   struct store_gap_list *out, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    int mask = (f->measure_code ? GF_MEASURE : 0) | (f->has_status ? GF_STATUS : 0) |
               (f->contract_id && *f->contract_id ? GF_CONTRACT : 0) |
               (f->measurement_year ? GF_YEAR : 0) | (!isnan(f->min_priority) ? GF_MINP : 0) |
               (f->sort == STORE_SORT_PROBABILITY ? GF_PROB : 0);
    sqlite3_stmt *s = gap_stmt(c, mask, 0, err, errlen), *n;
    if (!s || !(n = gap_stmt(c, mask, 1, err, errlen))) { rc = SG_EDB; goto out; }
    if ((rc = exec_id(c, S_BEGIN_READ, err, errlen))) goto out;
    bind_gap_filter(s, f);
    FETCH_ALL(c, s, out, struct store_gap, read_gap(s, it_));
    bind_gap_filter(n, f);
    if (rc == SG_OK) out->total = count_of(c, n, &rc, err, errlen);
    out->has_more = (long long)f->page.offset + (long long)out->n < out->total;
    rc = finish(c, rc, err, errlen);
out:
    release(st, c);
    return rc;
}

/* Audited reads run in a write transaction so the read and its audit row commit together. */
/* A member-level list read (a member's gaps, bundles or interventions): with an actor it runs as a
 * group-commit body (the read and its access row in the group's write transaction), without one
 * on this thread's connection without a write transaction. */
struct member_read_arg {
    const struct store_actor *a;
    const char *hash, *now;
    void *out;
    const void *filter; /* intervention list: its filter */
};

static int run_member_read(struct store *st, store_group_body body, struct member_read_arg *m,
                           char *err, size_t errlen)
{
    if (m->a) return store_group_run(GROUP(st), body, m, err, errlen);
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    rc = body(c, m, err, errlen);
    release(st, c);
    return rc;
}

static int gaps_by_member_body(void *conn, void *arg, char *err, size_t errlen)
{
    struct sq_conn *c = conn;
    struct member_read_arg *m = arg;
    struct store_gap_list *out = m->out;
    int rc = SG_OK;
    sqlite3_stmt *s = q(c, S_GAP_BY_MEMBER, err, errlen);
    if (!s) return SG_EDB;
    bt(s, 1, m->hash);
    FETCH_ALL(c, s, out, struct store_gap, read_gap(s, it_));
    out->total = (long long)out->n;
    if (rc == SG_OK && m->a)
        rc = audit(c, m->a, "data_access", "member", m->hash, "read_gaps", NULL, m->now, err, errlen);
    if (rc) store_gap_list_free(out);
    return rc;
}

static int sq_gap_get_by_member(struct store *st, const struct store_actor *a, const char *hash,
                                const char *now, struct store_gap_list *out, char *err, size_t errlen)
{
    struct member_read_arg m = {a, hash, now, out, NULL};
    int rc = run_member_read(st, gaps_by_member_body, &m, err, errlen);
    if (rc) store_gap_list_free(out);
    return rc;
}

static int sq_gap_get_high_priority(struct store *st, double minp, const char *contract, long limit,
                                    struct store_gap_list *out, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = q(c, S_GAP_HIGH, err, errlen);
    if (!s) rc = SG_EDB;
    else {
        sqlite3_bind_double(s, 1, minp);
        bt(s, 2, contract);
        bi(s, 3, limit);
        FETCH_ALL(c, s, out, struct store_gap, read_gap(s, it_));
        out->total = (long long)out->n;
    }
    release(st, c);
    return rc;
}

/* Moves a gap to `to` inside the current transaction, audited; before/after in the rows. */
static int gap_transition(struct sq_conn *c, const struct store_actor *a, const char *id,
                          enum store_gap_status to, const char *now, struct store_gap *before,
                          struct store_gap *after, char *err, size_t errlen)
{
    int rc = gap_read(c, id, before, err, errlen);
    if (rc) return rc;
    if (!store_gap_transition_ok(before->status, to))
        return sg_errf(err, errlen, SG_ETRANSITION, "status: %s -> %s not allowed",
                       store_gap_status_name((int)before->status), store_gap_status_name((int)to));
    *after = *before;
    after->status = to;
    char today[STORE_DATE_LEN];
    store_date_of(now, today);
    if (to == STORE_GAP_ASSIGNED) memcpy(after->assigned_date, today, sizeof today);
    if (to == STORE_GAP_COMPLETED) memcpy(after->completed_date, today, sizeof today);
    if (to == STORE_GAP_CLOSED) memcpy(after->closed_date, today, sizeof today);
    sqlite3_stmt *s = q(c, S_GAP_SET, err, errlen);
    if (!s) return SG_EDB;
    bt(s, 1, store_gap_status_name((int)to));
    bt(s, 2, after->assigned_date);
    bt(s, 3, after->completed_date);
    bt(s, 4, after->closed_date);
    bt(s, 5, id);
    if ((rc = run(c, s, err, errlen))) return rc;
    char *ch = store_json_gap(before, after);
    if (!ch) return oom_json(err, errlen);
    rc = audit(c, a, "data_change", "gap", id, to == STORE_GAP_CLOSED ? "close" : "update", ch, now, err, errlen);
    free(ch);
    if (rc == SG_OK) rc = gap_read(c, id, after, err, errlen);
    return rc;
}

struct gap_status_arg {
    const struct store_actor *a;
    const char *id;
    enum store_gap_status to;
    const char *now;
    struct store_gap *out;
};

static int gap_status_body(void *conn, void *arg, char *err, size_t errlen)
{
    struct gap_status_arg *ga = arg;
    struct store_gap before;
    return gap_transition(conn, ga->a, ga->id, ga->to, ga->now, &before, ga->out, err, errlen);
}

static int sq_gap_update_status(struct store *st, const struct store_actor *a, const char *id,
                                enum store_gap_status to, const char *now, struct store_gap *out,
                                char *err, size_t errlen)
{
    struct gap_status_arg ga = {a, id, to, now, out};
    int rc = store_group_run(GROUP(st), gap_status_body, &ga, err, errlen);
    if (rc) memset(out, 0, sizeof *out);
    return rc;
}

/* ---- interventions ---- */

static int iv_read(struct sq_conn *c, const char *id, struct store_intervention *out, char *err, size_t errlen)
{
    sqlite3_stmt *s = q(c, S_IV_GET, err, errlen);
    if (!s) return SG_EDB;
    bt(s, 1, id);
    int rc = one(c, s, "intervention", err, errlen);
    if (rc == SG_OK) read_iv(s, out);
    sqlite3_reset(s);
    return rc;
}

static int iv_create(struct sq_conn *c, const struct store_actor *a, const struct store_intervention *in,
                     const char *now, char *err, size_t errlen)
{
    struct store_intervention iv = *in, after;
    struct store_member m;
    int rc;
    if ((rc = member_read(c, iv.member_hash, &m, err, errlen)))
        return rc == SG_ENOTFOUND ? sg_errf(err, errlen, SG_EINVAL, "member_hash: no such member") : rc;
    if (*iv.gap_id) {
        struct store_gap g;
        if ((rc = gap_read(c, iv.gap_id, &g, err, errlen)))
            return rc == SG_ENOTFOUND ? sg_errf(err, errlen, SG_EINVAL, "gap_id: no such gap") : rc;
        if (strcmp(g.member_hash, iv.member_hash))
            return sg_errf(err, errlen, SG_EINVAL, "gap_id: the gap belongs to another member");
        if (iv.n_measure_codes == 0) {
            memcpy(iv.measure_codes[0], g.measure_code, STORE_CODE_LEN);
            iv.n_measure_codes = 1;
        } else if (strcmp(iv.measure_codes[0], g.measure_code)) {
            return sg_errf(err, errlen, SG_EINVAL, "measure_codes: must be the gap's measure");
        }
    }
    char *codes = store_json_codes(&iv);
    if (!codes) return oom_json(err, errlen);
    sqlite3_stmt *s = q(c, S_IV_INS, err, errlen);
    if (!s) { free(codes); return SG_EDB; }
    bt(s, 1, iv.intervention_id); bt(s, 2, iv.gap_id); bt(s, 3, iv.member_hash); bt(s, 4, codes);
    bt(s, 5, iv.intervention_type); bt(s, 6, iv.description); bd(s, 7, iv.estimated_cost);
    bd(s, 8, iv.estimated_value); bd(s, 9, iv.roi); bt(s, 10, store_iv_status_name((int)iv.status));
    bt(s, 11, iv.scheduled_date); bi(s, 12, iv.n_measure_codes); bt(s, 13, now);
    rc = run(c, s, err, errlen);
    if (rc == SG_ECONFLICT) rc = sg_errf(err, errlen, SG_ECONFLICT, "intervention_id: exists");
    if (rc == SG_OK) {
        if (*iv.gap_id) {
            if (!(s = q(c, S_IVG_INS, err, errlen))) rc = SG_EDB;
            else {
                bt(s, 1, iv.intervention_id);
                bt(s, 2, iv.gap_id);
                rc = run(c, s, err, errlen);
            }
        } else if (!(s = q(c, S_IVG_BUNDLE, err, errlen))) {
            rc = SG_EDB;
        } else {
            bt(s, 1, iv.intervention_id);
            bt(s, 2, iv.member_hash);
            bt(s, 3, codes);
            rc = run(c, s, err, errlen);
        }
    }
    free(codes);
    if (rc) return rc;
    if ((rc = iv_read(c, iv.intervention_id, &after, err, errlen))) return rc;
    char *ch = store_json_intervention(NULL, &after);
    if (!ch) return oom_json(err, errlen);
    rc = audit(c, a, "data_change", "intervention", iv.intervention_id, "create", ch, now, err, errlen);
    free(ch);
    return rc;
}

static int sq_intervention_create(struct store *st, const struct store_actor *a,
                                  const struct store_intervention *iv, const char *now, char *err,
                                  size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    if (!(rc = begin(c, err, errlen))) rc = finish(c, iv_create(c, a, iv, now, err, errlen), err, errlen);
    release(st, c);
    return rc;
}

static int sq_intervention_get(struct store *st, const char *id, struct store_intervention *out,
                               char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    rc = iv_read(c, id, out, err, errlen);
    release(st, c);
    return rc;
}

/* The four list variants (member filter, status filter) are built from fixed fragments. */
static int iv_list_body(void *conn, void *arg, char *err, size_t errlen)
{
    struct sq_conn *c = conn;
    struct member_read_arg *m = arg;
    const struct store_iv_filter *f = m->filter;
    struct store_intervention_list *out = m->out;
    char sql[1024], csql[512];
    sqlite3_stmt *s = NULL, *n = NULL;
    int rc = SG_OK, own_tx = !m->a; /* audited: inside the group's transaction */
    const char *w1 = f->member_hash ? " AND member_hash = :member" : "";
    const char *w2 = f->has_status ? " AND status = :status" : "";
    snprintf(sql, sizeof sql, "SELECT " I_COLS " FROM interventions WHERE 1 = 1%s%s "
             "ORDER BY created_at DESC, intervention_id DESC LIMIT :limit OFFSET :offset", w1, w2);
    snprintf(csql, sizeof csql, "SELECT count(*) FROM interventions WHERE 1 = 1%s%s", w1, w2);
    if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, csql, -1, &n, NULL) != SQLITE_OK) {
        rc = conn_error(c->db, "intervention_list", err, errlen);
        goto out;
    }
    for (int k = 0; k < 2; k++) {
        sqlite3_stmt *x = k ? n : s;
        if (f->member_hash) bind_named_text(x, ":member", f->member_hash);
        if (f->has_status) bind_named_text(x, ":status", store_iv_status_name((int)f->status));
        bind_named_num(x, ":limit", (double)f->page.limit, 1);
        bind_named_num(x, ":offset", (double)f->page.offset, 1);
    }
    if (own_tx && (rc = exec_id(c, S_BEGIN_READ, err, errlen))) goto out;
    FETCH_ALL(c, s, out, struct store_intervention, read_iv(s, it_));
    if (rc == SG_OK) out->total = count_of(c, n, &rc, err, errlen);
    out->has_more = (long long)f->page.offset + (long long)out->n < out->total;
    if (rc == SG_OK && m->a)
        rc = audit(c, m->a, "data_access", "member", f->member_hash, "read_interventions", NULL, m->now, err, errlen);
    if (own_tx) rc = finish(c, rc, err, errlen);
out:
    sqlite3_finalize(s);
    sqlite3_finalize(n);
    if (rc) store_intervention_list_free(out);
    return rc;
}

static int sq_intervention_list(struct store *st, const struct store_actor *a,
                                const struct store_iv_filter *f, const char *now,
                                struct store_intervention_list *out, char *err, size_t errlen)
{
    /* Audited only when a member's interventions are listed by an actor. */
    struct member_read_arg m = {f->member_hash ? a : NULL, f->member_hash, now, out, f};
    int rc = run_member_read(st, iv_list_body, &m, err, errlen);
    if (rc) store_intervention_list_free(out);
    return rc;
}

static int sq_intervention_get_pending(struct store *st, const char *date, const struct store_page *pg,
                                       struct store_intervention_list *out, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = q(c, S_IV_PENDING, err, errlen), *n;
    if (!s || !(n = q(c, S_IV_PENDING_N, err, errlen))) { rc = SG_EDB; goto out; }
    if ((rc = exec_id(c, S_BEGIN_READ, err, errlen))) goto out;
    bt(s, 1, date); bi(s, 2, pg->limit); bi(s, 3, pg->offset);
    FETCH_ALL(c, s, out, struct store_intervention, read_iv(s, it_));
    bt(n, 1, date);
    if (rc == SG_OK) out->total = count_of(c, n, &rc, err, errlen);
    out->has_more = (long long)pg->offset + (long long)out->n < out->total;
    rc = finish(c, rc, err, errlen);
out:
    release(st, c);
    return rc;
}

static int iv_write(struct sq_conn *c, const struct store_intervention *iv, char *err, size_t errlen)
{
    sqlite3_stmt *s = q(c, S_IV_SET, err, errlen);
    if (!s) return SG_EDB;
    bt(s, 1, store_iv_status_name((int)iv->status));
    bt(s, 2, store_outcome_name((int)iv->outcome));
    bt(s, 3, iv->scheduled_date);
    bt(s, 4, iv->completed_date);
    bt(s, 5, iv->intervention_id);
    return run(c, s, err, errlen);
}

static int iv_update(struct sq_conn *c, const struct store_actor *a, const char *id,
                     const struct store_iv_update *u, const char *now, struct store_intervention *out,
                     char *err, size_t errlen)
{
    struct store_intervention before;
    int rc = iv_read(c, id, &before, err, errlen);
    if (rc) return rc;
    *out = before;
    if (u->set_status && u->status != before.status) {
        if (!store_iv_transition_ok(before.status, u->status))
            return sg_errf(err, errlen, SG_ETRANSITION, "status: %s -> %s not allowed",
                           store_iv_status_name((int)before.status), store_iv_status_name((int)u->status));
        out->status = u->status;
    } else if (u->set_status) {
        return sg_errf(err, errlen, SG_ETRANSITION, "status: already %s", store_iv_status_name((int)u->status));
    }
    if (u->set_outcome) {
        if (out->status != STORE_IV_COMPLETED)
            return sg_errf(err, errlen, SG_EINVAL, "outcome: only a completed intervention has an outcome");
        out->outcome = u->outcome;
    }
    if (u->set_scheduled_date) {
        if (out->status == STORE_IV_COMPLETED || out->status == STORE_IV_CANCELLED)
            return sg_errf(err, errlen, SG_EINVAL, "scheduled_date: the intervention is %s",
                           store_iv_status_name((int)out->status));
        memcpy(out->scheduled_date, u->scheduled_date, STORE_DATE_LEN);
    }
    if ((rc = iv_write(c, out, err, errlen))) return rc;
    char *ch = store_json_intervention(&before, out);
    if (!ch) return oom_json(err, errlen);
    rc = audit(c, a, "data_change", "intervention", id, "update", ch, now, err, errlen);
    free(ch);
    if (rc == SG_OK) rc = iv_read(c, id, out, err, errlen);
    return rc;
}

struct iv_arg {
    const struct store_actor *a;
    const char *id;
    const struct store_iv_update *u;
    enum store_outcome outcome;
    const char *now;
    struct store_intervention *out;
    int *closed;
};

static int iv_update_body(void *conn, void *arg, char *err, size_t errlen)
{
    struct iv_arg *ia = arg;
    return iv_update(conn, ia->a, ia->id, ia->u, ia->now, ia->out, err, errlen);
}

static int sq_intervention_update(struct store *st, const struct store_actor *a, const char *id,
                                  const struct store_iv_update *u, const char *now,
                                  struct store_intervention *out, char *err, size_t errlen)
{
    struct iv_arg ia = {.a = a, .id = id, .u = u, .now = now, .out = out};
    int rc = store_group_run(GROUP(st), iv_update_body, &ia, err, errlen);
    if (rc) memset(out, 0, sizeof *out);
    return rc;
}

static int iv_complete(struct sq_conn *c, const struct store_actor *a, const char *id,
                       enum store_outcome outcome, const char *now, struct store_intervention *out,
                       int *closed, char *err, size_t errlen)
{
    struct store_intervention before;
    struct store_gap_list gaps = {0};
    int rc = iv_read(c, id, &before, err, errlen);
    if (rc) return rc;
    if (before.status != STORE_IV_PLANNED && before.status != STORE_IV_IN_PROGRESS)
        return sg_errf(err, errlen, SG_ETRANSITION, "status: %s -> completed not allowed",
                       store_iv_status_name((int)before.status));
    *out = before;
    out->status = STORE_IV_COMPLETED;
    out->outcome = outcome;
    store_date_of(now, out->completed_date);
    if ((rc = iv_write(c, out, err, errlen))) return rc;
    char *ch = store_json_intervention(&before, out);
    if (!ch) return oom_json(err, errlen);
    rc = audit(c, a, "data_change", "intervention", id, "complete", ch, now, err, errlen);
    free(ch);
    if (rc || outcome == STORE_OUTCOME_FAILED) return rc;
    sqlite3_stmt *s = q(c, S_IVG_OPEN_GAPS, err, errlen);
    if (!s) return SG_EDB;
    bt(s, 1, id);
    FETCH_ALL(c, s, &gaps, struct store_gap, read_gap(s, it_));
    for (size_t i = 0; rc == SG_OK && i < gaps.n; i++) {
        struct store_gap gb, ga;
        rc = gap_transition(c, a, gaps.items[i].gap_id, STORE_GAP_CLOSED, now, &gb, &ga, err, errlen);
        if (rc == SG_OK) (*closed)++;
    }
    store_gap_list_free(&gaps);
    if (rc == SG_OK) rc = iv_read(c, id, out, err, errlen);
    return rc;
}

static int iv_complete_body(void *conn, void *arg, char *err, size_t errlen)
{
    struct iv_arg *ia = arg;
    *ia->closed = 0; /* a retried body counts afresh */
    return iv_complete(conn, ia->a, ia->id, ia->outcome, ia->now, ia->out, ia->closed, err, errlen);
}

static int sq_intervention_complete(struct store *st, const struct store_actor *a, const char *id,
                                    enum store_outcome outcome, const char *now,
                                    struct store_intervention *out, int *closed, char *err, size_t errlen)
{
    struct iv_arg ia = {.a = a, .id = id, .outcome = outcome, .now = now, .out = out, .closed = closed};
    *closed = 0;
    int rc = store_group_run(GROUP(st), iv_complete_body, &ia, err, errlen);
    if (rc) {
        memset(out, 0, sizeof *out);
        *closed = 0;
    }
    return rc;
}

static int bundles_body(void *conn, void *arg, char *err, size_t errlen)
{
    struct sq_conn *c = conn;
    struct member_read_arg *m = arg;
    struct store_intervention_list *out = m->out;
    int rc = SG_OK;
    sqlite3_stmt *s = q(c, S_IV_BUNDLES, err, errlen);
    if (!s) return SG_EDB;
    bt(s, 1, m->hash);
    FETCH_ALL(c, s, out, struct store_intervention, read_iv(s, it_));
    out->total = (long long)out->n;
    if (rc == SG_OK && m->a)
        rc = audit(c, m->a, "data_access", "member", m->hash, "read_bundles", NULL, m->now, err, errlen);
    if (rc) store_intervention_list_free(out);
    return rc;
}

static int sq_intervention_get_bundles(struct store *st, const struct store_actor *a, const char *hash,
                                       const char *now, struct store_intervention_list *out,
                                       char *err, size_t errlen)
{
    struct member_read_arg m = {a, hash, now, out, NULL};
    int rc = run_member_read(st, bundles_body, &m, err, errlen);
    if (rc) store_intervention_list_free(out);
    return rc;
}

/* ---- star ratings ---- */

static int sq_star_rating_create(struct store *st, const struct store_actor *a,
                                 const struct store_star_rating *r, const char *now, char *err,
                                 size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    if ((rc = begin(c, err, errlen))) goto out;
    sqlite3_stmt *s = q(c, S_SR_INS, err, errlen);
    if (!s) { rc = SG_EDB; goto done; }
    bt(s, 1, r->rating_id); bt(s, 2, r->contract_id); bi(s, 3, r->star_year);
    bi(s, 4, r->measurement_year); bt(s, 5, r->calculation_date); bd(s, 6, r->part_c);
    bd(s, 7, r->part_d); bd(s, 8, r->overall); bt(s, 9, r->measure_stars); bt(s, 10, r->measure_scores);
    bd(s, 11, r->reward_factor); bd(s, 12, r->cai); bt(s, 13, r->details); bt(s, 14, now);
    if ((rc = run(c, s, err, errlen))) goto done;
    char year[8];
    snprintf(year, sizeof year, "%d", r->star_year);
    const char *keys[] = {"contract_id", "star_year"};
    const char *vals[] = {r->contract_id, year};
    char *ch = store_json_kv(2, keys, vals);
    if (!ch) { rc = oom_json(err, errlen); goto done; }
    rc = audit(c, a, "data_change", "star_rating", r->rating_id, "create", ch, now, err, errlen);
    free(ch);
done:
    rc = finish(c, rc, err, errlen);
out:
    release(st, c);
    return rc;
}

static int sq_star_rating_get_latest(struct store *st, const char *contract, int year,
                                     struct store_star_rating *out, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen), oom = 0;
    if (rc) return rc;
    sqlite3_stmt *s = q(c, S_SR_LATEST, err, errlen);
    if (!s) rc = SG_EDB;
    else {
        bt(s, 1, contract);
        bi(s, 2, year);
        if (!(rc = one(c, s, "star_rating", err, errlen))) read_sr(s, out, &oom);
        if (oom) rc = oom_json(err, errlen);
    }
    release(st, c);
    return rc;
}

static int sq_star_rating_get_history(struct store *st, const char *contract, const struct store_page *pg,
                                      struct store_star_rating_list *out, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = q(c, S_SR_HIST, err, errlen), *n;
    if (!s || !(n = q(c, S_SR_HIST_N, err, errlen))) { rc = SG_EDB; goto out; }
    if ((rc = exec_id(c, S_BEGIN_READ, err, errlen))) goto out;
    bt(s, 1, contract); bi(s, 2, pg->limit); bi(s, 3, pg->offset);
    FETCH_ALL(c, s, out, struct store_star_rating, read_sr(s, it_, &oom_));
    bt(n, 1, contract);
    if (rc == SG_OK) out->total = count_of(c, n, &rc, err, errlen);
    out->has_more = (long long)pg->offset + (long long)out->n < out->total;
    rc = finish(c, rc, err, errlen);
out:
    release(st, c);
    return rc;
}

/* ---- simulations ---- */

static int sq_simulation_create(struct store *st, const struct store_actor *a,
                                const struct store_simulation *x, const char *now, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    if ((rc = begin(c, err, errlen))) goto out;
    sqlite3_stmt *s = q(c, S_SIM_INS, err, errlen);
    if (!s) { rc = SG_EDB; goto done; }
    bt(s, 1, x->simulation_id); bt(s, 2, x->contract_id); bi(s, 3, x->measurement_year);
    bt(s, 4, x->simulation_date); bt(s, 5, x->strategy); sqlite3_bind_double(s, 6, x->closure_rate);
    bd(s, 7, x->baseline_stars); bd(s, 8, x->projected_stars); bd(s, 9, x->revenue_impact);
    bd(s, 10, x->investment_required); bd(s, 11, x->roi); bi(s, 12, x->gaps_closed);
    bi(s, 13, x->members_impacted); bt(s, 14, x->scenario_details); bt(s, 15, now);
    if ((rc = run(c, s, err, errlen))) goto done;
    const char *keys[] = {"strategy", "contract_id"};
    const char *vals[] = {x->strategy, *x->contract_id ? x->contract_id : NULL};
    char *ch = store_json_kv(2, keys, vals);
    if (!ch) { rc = oom_json(err, errlen); goto done; }
    rc = audit(c, a, "data_change", "simulation", x->simulation_id, "create", ch, now, err, errlen);
    free(ch);
done:
    rc = finish(c, rc, err, errlen);
out:
    release(st, c);
    return rc;
}

static int sq_simulation_get(struct store *st, const char *id, struct store_simulation *out, char *err,
                             size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen), oom = 0;
    if (rc) return rc;
    sqlite3_stmt *s = q(c, S_SIM_GET, err, errlen);
    if (!s) rc = SG_EDB;
    else {
        bt(s, 1, id);
        if (!(rc = one(c, s, "simulation", err, errlen))) read_sim(s, out, &oom);
        if (oom) rc = oom_json(err, errlen);
    }
    release(st, c);
    return rc;
}

static int sq_simulation_list(struct store *st, const struct store_sim_filter *f,
                              struct store_simulation_list *out, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = q(c, S_SIM_LIST, err, errlen), *n;
    if (!s || !(n = q(c, S_SIM_LIST_N, err, errlen))) { rc = SG_EDB; goto out; }
    if ((rc = exec_id(c, S_BEGIN_READ, err, errlen))) goto out;
    for (int k = 0; k < 2; k++) {
        sqlite3_stmt *x = k ? n : s;
        bi(x, 1, f->measurement_year);
        bt(x, 2, f->strategy);
        bt(x, 3, f->contract_id);
    }
    bi(s, 4, f->page.limit);
    bi(s, 5, f->page.offset);
    FETCH_ALL(c, s, out, struct store_simulation, read_sim(s, it_, &oom_));
    if (rc == SG_OK) out->total = count_of(c, n, &rc, err, errlen);
    out->has_more = (long long)f->page.offset + (long long)out->n < out->total;
    rc = finish(c, rc, err, errlen);
out:
    release(st, c);
    return rc;
}

/* ---- api logs ---- */

static int sq_api_log_batch_create(struct store *st, const struct store_api_log *rows, size_t n,
                                   const char *now, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    if ((rc = begin(c, err, errlen))) goto out;
    sqlite3_stmt *s = q(c, S_LOG_INS, err, errlen);
    if (!s) { rc = SG_EDB; goto done; }
    for (size_t i = 0; i < n && rc == SG_OK; i++) {
        const struct store_api_log *l = &rows[i];
        sqlite3_reset(s);
        bt(s, 1, l->request_id); bt(s, 2, l->endpoint); bt(s, 3, l->method);
        bt(s, 4, l->api_key_hash); bi(s, 5, l->status_code);
        sqlite3_bind_double(s, 6, l->response_time_ms); bi(s, 7, l->prediction_count);
        bt(s, 8, l->error_message); bt(s, 9, *l->timestamp ? l->timestamp : now);
        rc = run(c, s, err, errlen);
    }
done:
    rc = finish(c, rc, err, errlen);
out:
    release(st, c);
    return rc;
}

static int sq_api_log_get_stats(struct store *st, const char *since, const char *endpoint,
                                struct store_api_stats *out, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = q(c, S_LOG_STATS, err, errlen), *e;
    if (!s || !(e = q(c, S_LOG_BY_EP, err, errlen))) { rc = SG_EDB; goto out; }
    if ((rc = exec_id(c, S_BEGIN_READ, err, errlen))) goto out;
    bt(s, 1, since);
    bt(s, 2, endpoint);
    if ((rc = one(c, s, "api_log_stats", err, errlen)) == SG_OK) {
        out->total = cl(s, 0);
        out->avg_ms = sqlite3_column_double(s, 1);
        out->error_rate = out->total ? (double)cl(s, 2) / (double)out->total : 0.0;
        out->client_errors = cl(s, 3);
    }
    sqlite3_reset(s);
    if (rc == SG_OK) {
        struct { struct store_endpoint_stats *items; size_t n; } l = {0};
        bt(e, 1, since);
        bt(e, 2, endpoint);
        FETCH_ALL(c, e, &l, struct store_endpoint_stats,
                  (ct(e, 0, it_->endpoint, sizeof it_->endpoint), it_->total = cl(e, 1),
                   it_->avg_ms = sqlite3_column_double(e, 2),
                   it_->error_rate = it_->total ? (double)cl(e, 3) / (double)it_->total : 0.0));
        out->by_endpoint = l.items;
        out->n_endpoints = l.n;
    }
    rc = finish(c, rc, err, errlen);
out:
    release(st, c);
    return rc;
}

static int log_list(struct store *st, int id, const char *since, long limit,
                    struct store_api_log_list *out, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = q(c, id, err, errlen);
    if (!s) rc = SG_EDB;
    else {
        bt(s, 1, since);
        bi(s, 2, limit);
        FETCH_ALL(c, s, out, struct store_api_log, read_log(s, it_));
        out->total = (long long)out->n;
    }
    release(st, c);
    return rc;
}

static int sq_api_log_get_slowest(struct store *st, const char *since, long limit,
                                  struct store_api_log_list *out, char *err, size_t errlen)
{
    return log_list(st, S_LOG_SLOW, since, limit, out, err, errlen);
}

static int sq_api_log_get_errors(struct store *st, const char *since, long limit,
                                 struct store_api_log_list *out, char *err, size_t errlen)
{
    return log_list(st, S_LOG_ERR, since, limit, out, err, errlen);
}

/* ---- audit ---- */

static int sq_audit_create(struct store *st, const struct store_actor *a, const struct store_audit_event *ev,
                           const char *now, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    if (!(rc = begin(c, err, errlen)))
        rc = finish(c, audit(c, a, ev->event_type, ev->entity_type, ev->entity_id, ev->action,
                             ev->changes, now, err, errlen), err, errlen);
    release(st, c);
    return rc;
}

static int sq_audit_get_trail(struct store *st, const char *type, const char *id,
                              const struct store_page *pg, struct store_audit_list *out, char *err,
                              size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = q(c, S_AUDIT_TRAIL, err, errlen), *n;
    if (!s || !(n = q(c, S_AUDIT_TRAIL_N, err, errlen))) { rc = SG_EDB; goto out; }
    if ((rc = exec_id(c, S_BEGIN_READ, err, errlen))) goto out;
    bt(s, 1, type); bt(s, 2, id); bi(s, 3, pg->limit); bi(s, 4, pg->offset);
    FETCH_ALL(c, s, out, struct store_audit, read_audit(s, it_, &oom_));
    bt(n, 1, type); bt(n, 2, id);
    if (rc == SG_OK) out->total = count_of(c, n, &rc, err, errlen);
    out->has_more = (long long)pg->offset + (long long)out->n < out->total;
    rc = finish(c, rc, err, errlen);
out:
    release(st, c);
    return rc;
}

static int sq_audit_get_recent(struct store *st, const char *since, const struct store_page *pg,
                               struct store_audit_list *out, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = q(c, S_AUDIT_RECENT, err, errlen), *n;
    if (!s || !(n = q(c, S_AUDIT_RECENT_N, err, errlen))) { rc = SG_EDB; goto out; }
    if ((rc = exec_id(c, S_BEGIN_READ, err, errlen))) goto out;
    bt(s, 1, since); bi(s, 2, pg->limit); bi(s, 3, pg->offset);
    FETCH_ALL(c, s, out, struct store_audit, read_audit(s, it_, &oom_));
    bt(n, 1, since);
    if (rc == SG_OK) out->total = count_of(c, n, &rc, err, errlen);
    out->has_more = (long long)pg->offset + (long long)out->n < out->total;
    rc = finish(c, rc, err, errlen);
out:
    release(st, c);
    return rc;
}

/* Walks the chain in one read transaction (a consistent snapshot). The first remaining row's
 * prev_hash is taken as given (older rows may have been removed by retention); the last row must
 * match audit_head, which detects a truncated tail. */
static int sq_audit_verify(struct store *st, struct store_audit_verify *out, char *err, size_t errlen)
{
    struct sq_conn *c;
    struct store_audit prev = {0}, row;
    char head_hash[STORE_HASH_LEN] = "", h[STORE_HASH_LEN];
    long long head_id = 0;
    int rc = acquire(st, &c, err, errlen), r, oom = 0, have_prev = 0;
    if (rc) return rc;
    out->ok = 1;
    if ((rc = exec_id(c, S_BEGIN_READ, err, errlen))) goto out;
    sqlite3_stmt *s = q(c, S_AUDIT_HEAD, err, errlen);
    if (!s) { rc = SG_EDB; goto done; }
    if ((rc = one(c, s, "audit_head", err, errlen)) == SG_OK) {
        head_id = cl(s, 0);
        ct(s, 1, head_hash, sizeof head_hash);
    }
    sqlite3_reset(s);
    if (rc) goto done;
    if (!(s = q(c, S_AUDIT_ALL, err, errlen))) { rc = SG_EDB; goto done; }
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        memset(&row, 0, sizeof row);
        read_audit(s, &row, &oom);
        if (oom) { store_audit_fini(&row); rc = oom_json(err, errlen); break; }
        out->rows_checked++;
        const char *why = NULL;
        if (have_prev && row.audit_id != prev.audit_id + 1) why = "gap in audit ids (row deleted)";
        else if (have_prev && strcmp(row.prev_hash, prev.hash)) why = "prev_hash does not match the previous row";
        else if (store_audit_hash(&row, h) != SG_OK || strcmp(h, row.hash)) why = "hash does not match the row's content";
        if (why && out->ok) {
            out->ok = 0;
            out->first_bad_id = row.audit_id;
            snprintf(out->reason, sizeof out->reason, "%s", why);
        }
        store_audit_fini(&row);
        prev = row;
        prev.changes = NULL;
        have_prev = 1;
        if (!out->ok) break;
    }
    if (rc == SG_OK && out->ok && r != SQLITE_DONE) rc = QE(c, s);
    sqlite3_reset(s);
    if (rc == SG_OK && out->ok && (have_prev ? (prev.audit_id != head_id || strcmp(prev.hash, head_hash))
                                             : head_id != 0)) {
        out->ok = 0;
        out->first_bad_id = have_prev ? prev.audit_id : head_id;
        snprintf(out->reason, sizeof out->reason, "chain head does not match the last row (rows removed)");
    }
done:
    rc = finish(c, rc, err, errlen);
out:
    release(st, c);
    return rc;
}

/* ---- measure results ---- */

static int sq_measure_result_upsert_batch(struct store *st, const struct store_actor *a,
                                          const struct store_measure_result *rows, size_t n,
                                          const char *now, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    if ((rc = begin(c, err, errlen))) goto out;
    sqlite3_stmt *s = q(c, S_MR_UPSERT, err, errlen);
    if (!s) { rc = SG_EDB; goto done; }
    for (size_t i = 0; i < n; i++) {
        const struct store_measure_result *r = &rows[i];
        sqlite3_reset(s);
        bt(s, 1, r->member_hash); bt(s, 2, r->measure_code); bi(s, 3, r->measurement_year);
        bi(s, 4, r->initial_population); bi(s, 5, r->denominator); bi(s, 6, r->denominator_exclusion);
        bi(s, 7, r->numerator); bt(s, 8, r->evaluated_at); bt(s, 9, r->source);
        bt(s, 10, r->numerator_date);
        if (sqlite3_step(s) != SQLITE_DONE) {
            int ext = sqlite3_extended_errcode(c->db);
            char e[SG_ERRLEN];
            rc = conn_error(c->db, "measure_result_upsert", e, sizeof e);
            if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
                rc = sg_errf(err, errlen, SG_EINVAL, "rows[%zu].member_hash: no such member", i);
            else
                rc = sg_errf(err, errlen, rc, "rows[%zu]: %s", i, e);
            sqlite3_reset(s);
            goto done;
        }
    }
    sqlite3_reset(s);
    char json[64];
    snprintf(json, sizeof json, "{\"count\":%zu}", n);
    rc = audit(c, a, "data_change", "measure_result", NULL, "upsert_batch", json, now, err, errlen);
done:
    rc = finish(c, rc, err, errlen);
out:
    release(st, c);
    return rc;
}

static int sq_measure_result_get_by_member(struct store *st, const char *hash, int year,
                                           struct store_measure_result_list *out, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = q(c, S_MR_BY_MEMBER, err, errlen);
    if (!s) rc = SG_EDB;
    else {
        bt(s, 1, hash);
        bi(s, 2, year);
        FETCH_ALL(c, s, out, struct store_measure_result, read_mr(s, it_));
        out->total = (long long)out->n;
    }
    release(st, c);
    return rc;
}

static int sq_measure_result_rates(struct store *st, const char *code, const char *contract, int year,
                                   struct store_measure_rate_list *out, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = q(c, S_MR_RATES, err, errlen);
    if (!s) rc = SG_EDB;
    else {
        bt(s, 1, code);
        bt(s, 2, contract);
        bi(s, 3, year);
        FETCH_ALL(c, s, out, struct store_measure_rate,
                  (ct(s, 0, it_->measure_code, sizeof it_->measure_code),
                   ct(s, 1, it_->contract_id, sizeof it_->contract_id),
                   it_->measurement_year = ci(s, 2), it_->eligible = cl(s, 3),
                   it_->numerator = cl(s, 4), it_->exclusions = cl(s, 5),
                   it_->rate = it_->eligible ? (double)it_->numerator / (double)it_->eligible : NAN));
        out->total = (long long)out->n;
    }
    release(st, c);
    return rc;
}

/* ---- measures ---- */

static int sq_measure_upsert_batch(struct store *st, const struct store_actor *a,
                                   const struct store_measure *rows, size_t n, const char *now,
                                   char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    if ((rc = begin(c, err, errlen))) goto out;
    sqlite3_stmt *s = q(c, S_ME_UPSERT, err, errlen);
    if (!s) { rc = SG_EDB; goto done; }
    for (size_t i = 0; i < n && rc == SG_OK; i++) {
        const struct store_measure *m = &rows[i];
        char part[2] = {m->part, 0};
        sqlite3_reset(s);
        bi(s, 1, m->star_year); bt(s, 2, m->code); bt(s, 3, m->cms_id); bt(s, 4, m->name);
        bt(s, 5, part); bt(s, 6, m->domain); bt(s, 7, store_weight_cat_name((int)m->weighting_category));
        sqlite3_bind_double(s, 8, m->weight); bt(s, 9, store_direction_name((int)m->direction));
        bi(s, 10, m->display_precision); bi(s, 11, m->member_level);
        if ((rc = run(c, s, err, errlen)) == SG_ECONFLICT)
            rc = sg_errf(err, errlen, SG_ECONFLICT, "rows[%zu].cms_id: used by another measure of that star year", i);
    }
    if (rc == SG_OK) {
        char json[64];
        snprintf(json, sizeof json, "{\"count\":%zu}", n);
        rc = audit(c, a, "data_change", "measure", NULL, "upsert_batch", json, now, err, errlen);
    }
done:
    rc = finish(c, rc, err, errlen);
out:
    release(st, c);
    return rc;
}

static int sq_measure_list(struct store *st, int year, struct store_measure_list *out, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = q(c, S_ME_LIST, err, errlen);
    if (!s) rc = SG_EDB;
    else {
        bi(s, 1, year);
        FETCH_ALL(c, s, out, struct store_measure, read_measure(s, it_));
        out->total = (long long)out->n;
    }
    release(st, c);
    return rc;
}

static int sq_measure_get(struct store *st, int year, const char *code, struct store_measure *out,
                          char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = q(c, S_ME_GET, err, errlen);
    if (!s) rc = SG_EDB;
    else {
        bi(s, 1, year);
        bt(s, 2, code);
        if (!(rc = one(c, s, "measure", err, errlen))) read_measure(s, out);
    }
    release(st, c);
    return rc;
}

/* ---- api keys ---- */

static int sq_api_key_create(struct store *st, const struct store_actor *a, const struct store_api_key *k,
                             const char *now, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    if ((rc = begin(c, err, errlen))) goto out;
    sqlite3_stmt *s = q(c, S_KEY_INS, err, errlen);
    if (!s) { rc = SG_EDB; goto done; }
    bt(s, 1, k->key_hash); bt(s, 2, k->name); bt(s, 3, store_role_name((int)k->role)); bt(s, 4, now);
    if ((rc = run(c, s, err, errlen)) == SG_ECONFLICT) {
        rc = sg_errf(err, errlen, SG_ECONFLICT, "name: a key with this name (or hash) exists");
        goto done;
    }
    if (rc) goto done;
    const char *keys[] = {"name", "role"};
    const char *vals[] = {k->name, store_role_name((int)k->role)};
    char *ch = store_json_kv(2, keys, vals);
    if (!ch) { rc = oom_json(err, errlen); goto done; }
    rc = audit(c, a, "security", "api_key", k->name, "create", ch, now, err, errlen);
    free(ch);
done:
    rc = finish(c, rc, err, errlen);
out:
    release(st, c);
    return rc;
}

static int sq_api_key_get_by_hash(struct store *st, const char *hash, struct store_api_key *out,
                                  char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = q(c, S_KEY_GET, err, errlen);
    if (!s) rc = SG_EDB;
    else {
        bt(s, 1, hash);
        if (!(rc = one(c, s, "api_key", err, errlen))) read_key(s, out);
    }
    release(st, c);
    return rc;
}

static int sq_api_key_list(struct store *st, struct store_api_key_list *out, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = q(c, S_KEY_LIST, err, errlen);
    if (!s) rc = SG_EDB;
    else {
        FETCH_ALL(c, s, out, struct store_api_key, read_key(s, it_));
        out->total = (long long)out->n;
    }
    release(st, c);
    return rc;
}

static int sq_api_key_revoke(struct store *st, const struct store_actor *a, const char *name,
                             const char *now, char *err, size_t errlen)
{
    struct sq_conn *c;
    struct store_api_key k;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    if ((rc = begin(c, err, errlen))) goto out;
    sqlite3_stmt *s = q(c, S_KEY_BY_NAME, err, errlen);
    if (!s) { rc = SG_EDB; goto done; }
    bt(s, 1, name);
    if ((rc = one(c, s, "api_key", err, errlen)) == SG_OK) read_key(s, &k);
    sqlite3_reset(s);
    if (rc) goto done;
    if (*k.revoked_at) { rc = sg_errf(err, errlen, SG_ECONFLICT, "name: key already revoked"); goto done; }
    if (!(s = q(c, S_KEY_REVOKE, err, errlen))) { rc = SG_EDB; goto done; }
    bt(s, 1, now);
    bt(s, 2, name);
    if ((rc = run(c, s, err, errlen))) goto done;
    rc = audit(c, a, "security", "api_key", name, "revoke", "{\"after\":{\"revoked\":true}}", now, err, errlen);
done:
    rc = finish(c, rc, err, errlen);
out:
    release(st, c);
    return rc;
}

/* ---- member history ---- */

/* The history read; with an actor it runs as a group-commit body (read and access row in the
 * group's write transaction), without one in a read transaction of its own. */
struct history_arg {
    const struct store_actor *a;
    const char *hash;
    const struct store_page *pg;
    const char *now;
    struct store_history_list *out;
};

static int history_tx(struct sq_conn *c, const struct history_arg *h, char *err, size_t errlen)
{
    const struct store_actor *a = h->a;
    const char *hash = h->hash, *now = h->now;
    const struct store_page *pg = h->pg;
    struct store_history_list *out = h->out;
    struct store_member m;
    int rc = member_read(c, hash, &m, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = q(c, S_HIST, err, errlen), *n;
    if (!s || !(n = q(c, S_HIST_N, err, errlen))) return SG_EDB;
    bt(s, 1, hash);
    bi(s, 2, pg->limit);
    bi(s, 3, pg->offset);
    FETCH_ALL(c, s, out, struct store_history_item,
              (it_->kind = (enum store_history_kind)ci(s, 0), ct(s, 1, it_->id, sizeof it_->id),
               ct(s, 2, it_->measure_code, sizeof it_->measure_code), it_->measurement_year = ci(s, 3),
               ct(s, 4, it_->at, sizeof it_->at), ct(s, 5, it_->status, sizeof it_->status),
               it_->value = cd(s, 6)));
    bt(n, 1, hash);
    if (rc == SG_OK) out->total = count_of(c, n, &rc, err, errlen);
    out->has_more = (long long)pg->offset + (long long)out->n < out->total;
    if (rc == SG_OK && a) rc = audit(c, a, "data_access", "member", hash, "read_history", NULL, now, err, errlen);
    if (rc) store_history_list_free(out);
    return rc;
}

static int history_body(void *conn, void *arg, char *err, size_t errlen)
{
    return history_tx(conn, arg, err, errlen);
}

static int sq_member_history(struct store *st, const struct store_actor *a, const char *hash,
                             const struct store_page *pg, const char *now,
                             struct store_history_list *out, char *err, size_t errlen)
{
    struct history_arg h = {a, hash, pg, now, out};
    int rc;
    if (a) {
        rc = store_group_run(GROUP(st), history_body, &h, err, errlen);
        if (rc) store_history_list_free(out);
        return rc;
    }
    struct sq_conn *c;
    if ((rc = acquire(st, &c, err, errlen))) return rc;
    if (!(rc = exec_id(c, S_BEGIN_READ, err, errlen)))
        rc = finish(c, history_tx(c, &h, err, errlen), err, errlen);
    release(st, c);
    return rc;
}

/* ---- migrations, maintenance, raw exec ---- */

static int sq_migrate_applied(struct store *st, int *versions, char (*sums)[STORE_HASH_LEN], size_t cap,
                              size_t *n, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen), r;
    *n = 0;
    if (rc) return rc;
    if ((rc = exec_id(c, S_MIG_CREATE, err, errlen))) goto out;
    sqlite3_stmt *s = q(c, S_MIG_LIST, err, errlen);
    if (!s) { rc = SG_EDB; goto out; }
    while ((r = sqlite3_step(s)) == SQLITE_ROW && *n < cap) {
        versions[*n] = ci(s, 0);
        ct(s, 1, sums[*n], STORE_HASH_LEN);
        (*n)++;
    }
    if (r != SQLITE_ROW && r != SQLITE_DONE) rc = QE(c, s);
    sqlite3_reset(s);
out:
    release(st, c);
    return rc;
}

static void drop_cached(struct sq_conn *c)
{
    /* A schema change invalidates cached plans; SQLite re-prepares them, but statements on
     * dropped tables would fail forever, so start from a clean cache. */
    sqlite3_finalize(c->pred_multi);
    c->pred_multi = NULL;
    for (int i = 0; i < S_COUNT; i++) {
        sqlite3_finalize(c->st[i]);
        c->st[i] = NULL;
    }
    for (int i = 0; i < GF_VARIANTS; i++) {
        sqlite3_finalize(c->gap_list[i]);
        sqlite3_finalize(c->gap_count[i]);
        c->gap_list[i] = c->gap_count[i] = NULL;
    }
}

static int sq_migrate_apply(struct store *st, int up, int version, const char *name, const char *sum,
                            const char *sql, char *err, size_t errlen)
{
    struct sq_conn *c;
    char *msg = NULL;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    drop_cached(c);
    if ((rc = begin(c, err, errlen))) goto out;
    if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        rc = sg_errf(err, errlen, SG_EDB, "script: %s", msg ? msg : "failed");
        sqlite3_free(msg);
        goto done;
    }
    sqlite3_stmt *s = q(c, up ? S_MIG_INS : S_MIG_DEL, err, errlen);
    if (!s) { rc = SG_EDB; goto done; }
    bi(s, 1, version);
    if (up) {
        bt(s, 2, name);
        bt(s, 3, sum);
    }
    rc = run(c, s, err, errlen);
done:
    rc = finish(c, rc, err, errlen);
    drop_cached(c);
out:
    release(st, c);
    return rc;
}

static int sq_maintain(struct store *st, const char *api_before, const char *audit_before, const char *now,
                       struct store_maintain_report *out, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    if ((rc = begin(c, err, errlen))) goto out;
    sqlite3_stmt *s = q(c, S_LOG_DEL, err, errlen);
    if (!s) { rc = SG_EDB; goto done; }
    bt(s, 1, api_before);
    if ((rc = run(c, s, err, errlen))) goto done;
    out->api_logs_deleted = sqlite3_changes64(c->db);
    if (!(s = q(c, S_AUDIT_DEL, err, errlen))) { rc = SG_EDB; goto done; }
    bt(s, 1, audit_before);
    if ((rc = run(c, s, err, errlen))) goto done;
    out->audit_deleted = sqlite3_changes64(c->db);
    char json[160];
    snprintf(json, sizeof json, "{\"api_logs_deleted\":%lld,\"audit_deleted\":%lld}",
             out->api_logs_deleted, out->audit_deleted);
    rc = audit(c, NULL, "maintenance", "database", NULL, "retention", json, now, err, errlen);
done:
    rc = finish(c, rc, err, errlen);
    if (rc) memset(out, 0, sizeof *out);
    /* Planner statistics, outside the retention transaction: without sqlite_stat1 SQLite cannot
     * tell a selective index from an unselective one and picked the status index for a
     * status+measure+contract gap list (p99 16 ms; docs/DATABASE.md, "Planner statistics"). */
    char *msg = NULL;
    if (!rc && sqlite3_exec(c->db, "ANALYZE", NULL, NULL, &msg) != SQLITE_OK) {
        rc = sg_errf(err, errlen, SG_EDB, "maintain: analyze: %s", msg ? msg : "failed");
        sqlite3_free(msg);
    }
out:
    release(st, c);
    return rc;
}

static int sq_raw_exec(struct store *st, const char *sql, char *err, size_t errlen)
{
    struct sq_conn *c;
    char *msg = NULL;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        rc = sg_errf(err, errlen, SG_EDB, "raw_exec: %s", msg ? msg : "failed");
        sqlite3_free(msg);
    }
    release(st, c);
    return rc;
}

/* ---- open / close ---- */

static void sq_close(struct store *st)
{
    struct sq_store *s = (struct sq_store *)st;
    for (struct sq_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        conn_close(c);
    }
    if (!s->memory) pthread_key_delete(s->key);
    store_group_fini(&s->group);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->serial);
    free(s);
}

int store_sqlite_open(const char *path, const struct sg_config *cfg, struct store **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    if (!path || !*path) return sg_errf(err, errlen, SG_EINVAL, "db: sqlite: needs a path (sqlite:PATH or sqlite::memory:)");
    if (strlen(path) >= 4096) return sg_errf(err, errlen, SG_EINVAL, "db: sqlite path too long");
    if (sqlite3_threadsafe() == 0) return sg_errf(err, errlen, SG_EUNSUPPORTED, "db: SQLite built without thread support");
    struct sq_store *s = calloc(1, sizeof *s);
    if (!s) return sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    s->base.ops = &sq_ops;
    snprintf(s->base.url_scheme, sizeof s->base.url_scheme, "sqlite");
    snprintf(s->path, sizeof s->path, "%s", path);
    s->memory = !strcmp(path, ":memory:");
    s->busy_ms = cfg ? cfg->sqlite_busy_timeout_ms : 5000;
    s->cache_kb = 1024 * (cfg ? cfg->sqlite_cache_mb : 32);
    s->bulk_cache_kb = 1024 * (cfg ? cfg->sqlite_bulk_cache_mb : 1024);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->serial, NULL);
    if (!s->memory && pthread_key_create(&s->key, NULL) != 0) {
        pthread_mutex_destroy(&s->mu);
        pthread_mutex_destroy(&s->serial);
        free(s);
        return sg_errf(err, errlen, SG_ENOMEM, "db: no thread-local key available");
    }
    store_group_init(&s->group, cfg ? (size_t)cfg->store_group_max : 64, &sq_group_tx, s);
    /* Open one connection now so a bad path fails here, not on first use. */
    struct sq_conn *c;
    int rc = conn_open(s, &c, err, errlen);
    if (rc) {
        sq_close(&s->base);
        return rc;
    }
    s->conns = c;
    if (!s->memory) pthread_setspecific(s->key, c);
    *out = &s->base;
    return SG_OK;
}

/* ==== predict block (issue 6: import, member features, models) ====
 * These statements are prepared per call (sqlite3_prepare_v3) instead of living in the cached
 * statement table: they run once per batch or once per bulk scan, where preparing costs nothing
 * measurable, and keeping them here leaves the shared table untouched. */

static sqlite3_stmt *pq(struct sq_conn *c, const char *name, const char *sql, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v3(c->db, sql, -1, 0, &s, NULL) != SQLITE_OK) {
        conn_error(c->db, name, err, errlen);
        sqlite3_finalize(s);
        return NULL;
    }
    return s;
}

/* Steps a write statement; returns SG_OK and *changed = rows changed, or the mapped error. */
static int pstep(struct sq_conn *c, sqlite3_stmt *s, const char *name, int *changed, char *err,
                 size_t errlen)
{
    int r = sqlite3_step(s);
    int rc = (r == SQLITE_DONE || r == SQLITE_ROW) ? SG_OK : conn_error(c->db, name, err, errlen);
    if (changed) *changed = rc ? 0 : sqlite3_changes(c->db);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

/* The bulk merges bind created_at/updated_at (named parameter :ts) instead of leaving them to
 * the columns' strftime() defaults, which SQLite formats twice per inserted row (7% of an
 * import's instructions). The value has the defaults' format (milliseconds) and is the batch's
 * `now` instead of the statement's: the same instant to within the batch. */
static void ms_stamp(const char *now, char out[STORE_TS_LEN])
{
    /* now: YYYY-MM-DDTHH:MM:SS.ffffffZ -> YYYY-MM-DDTHH:MM:SS.fffZ */
    snprintf(out, STORE_TS_LEN, "%.23sZ", now);
}

static void bind_ts(sqlite3_stmt *s, int idx, const char *ts)
{
    if (idx > 0) sqlite3_bind_text(s, idx, ts, -1, SQLITE_STATIC);
}

static int merge_audit(struct sq_conn *c, const struct store_actor *a, const char *entity,
                       const struct store_merge_counts *k, const char *now, char *err, size_t errlen)
{
    if (k->inserted == 0 && k->updated == 0) return SG_OK; /* nothing written: nothing to record */
    char json[96];
    snprintf(json, sizeof json, "{\"inserted\":%lld,\"updated\":%lld}", k->inserted, k->updated);
    return audit(c, a, "data_change", entity, NULL, "merge", json, now, err, errlen);
}

/* The rows of sq_member_upsert_batch inside the caller's transaction (audited when something changed). */
static int member_merge_rows(struct sq_conn *c, struct sq_bulk *bk, const struct store_actor *a, const struct store_member *rows, size_t n,
              const char *now, struct store_merge_counts *k, char *err, size_t errlen)
{
    struct sq_bulk ix;
    sqlite3_stmt *ins = NULL, *upd = NULL;
    int rc = SG_OK;
    memset(k, 0, sizeof *k);
    if ((rc = bulk_table_begin(c, &ix, "members", n, err, errlen))) return rc;
    ins = pq(c, "member_merge_insert",
             "INSERT INTO members (member_hash, contract_id, first_seen, last_updated, active, "
             "birth_year, sex, dual_eligible, lis, disabled, created_at, updated_at) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, :ts, :ts) "
             "ON CONFLICT (member_hash) DO NOTHING", err, errlen);
    upd = pq(c, "member_merge_update",
             "UPDATE members SET contract_id = ?2, birth_year = ?3, sex = ?4, dual_eligible = ?5, "
             "lis = ?6, disabled = ?7, last_updated = ?8, active = ?9 WHERE member_hash = ?1 AND "
             "(contract_id IS NOT ?2 OR birth_year IS NOT ?3 OR sex IS NOT ?4 OR "
             "dual_eligible IS NOT ?5 OR lis IS NOT ?6 OR disabled IS NOT ?7 OR active IS NOT ?9)", err, errlen);
    if (!ins || !upd) { rc = SG_EDB; goto done; }
    char ts[STORE_TS_LEN];
    ms_stamp(now, ts);
    int ts_idx = sqlite3_bind_parameter_index(ins, ":ts");
    for (size_t i = 0; i < n && !rc; i++) {
        const struct store_member *m = &rows[i];
        int ch = 0;
        bind_member(ins, m, now);
        bind_ts(ins, ts_idx, ts);
        if ((rc = pstep(c, ins, "member_merge_insert", &ch, err, errlen))) break;
        if (ch) { k->inserted++; continue; }
        bt(upd, 1, m->member_hash);
        bt(upd, 2, m->contract_id);
        if (m->birth_year) bi(upd, 3, m->birth_year);
        if (m->sex != STORE_SEX_UNKNOWN) bt(upd, 4, store_sex_name((int)m->sex));
        bopt(upd, 5, m->dual_eligible);
        bopt(upd, 6, m->lis);
        bopt(upd, 7, m->disabled);
        bt(upd, 8, now);
        bi(upd, 9, m->active);
        if ((rc = pstep(c, upd, "member_merge_update", &ch, err, errlen))) break;
        if (ch) k->updated++;
        else k->unchanged++;
    }
    rc = bulk_table_end(c, &ix, bk, rc, err, errlen);
    if (!rc) rc = merge_audit(c, a, "member", k, now, err, errlen);
done:
    if (ix.sql) (void)bulk_table_end(c, &ix, bk, SG_EDB, err, errlen);
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    return rc;
}

/* The rows of sq_measure_result_merge_batch inside the caller's transaction (audited when something changed). */
static int measure_result_merge_rows(struct sq_conn *c, struct sq_bulk *bk, const struct store_actor *a, const struct store_measure_result *rows, size_t n,
              const char *now, struct store_merge_counts *k, char *err, size_t errlen)
{
    struct sq_bulk ix;
    sqlite3_stmt *ins = NULL, *upd = NULL;
    int rc = SG_OK;
    memset(k, 0, sizeof *k);
    if ((rc = bulk_table_begin(c, &ix, "measure_results", n, err, errlen))) return rc;
    ins = pq(c, "measure_result_merge_insert",
             "INSERT INTO measure_results (" MR_COLS ", created_at, updated_at) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, :ts, :ts) "
             "ON CONFLICT (member_hash, measure_code, measurement_year) DO NOTHING", err, errlen);
    upd = pq(c, "measure_result_merge_update",
             "UPDATE measure_results SET initial_population = ?4, denominator = ?5, "
             "denominator_exclusion = ?6, numerator = ?7, evaluated_at = ?8, source = ?9, "
             "numerator_date = ?10 "
             "WHERE member_hash = ?1 AND measure_code = ?2 AND measurement_year = ?3 AND "
             "(initial_population IS NOT ?4 OR denominator IS NOT ?5 OR "
             "denominator_exclusion IS NOT ?6 OR numerator IS NOT ?7 OR source IS NOT ?9 OR "
             "numerator_date IS NOT ?10)",
             err, errlen);
    if (!ins || !upd) { rc = SG_EDB; goto done; }
    char ts[STORE_TS_LEN];
    ms_stamp(now, ts);
    int ts_idx = sqlite3_bind_parameter_index(ins, ":ts");
    for (size_t i = 0; i < n && !rc; i++) {
        const struct store_measure_result *r = &rows[i];
        int ch = 0;
        for (int pass = 0; pass < 2; pass++) {
            sqlite3_stmt *s = pass ? upd : ins;
            if (!pass) bind_ts(s, ts_idx, ts);
            bt(s, 1, r->member_hash); bt(s, 2, r->measure_code); bi(s, 3, r->measurement_year);
            bi(s, 4, r->initial_population); bi(s, 5, r->denominator);
            bi(s, 6, r->denominator_exclusion); bi(s, 7, r->numerator);
            bt(s, 8, r->evaluated_at[0] ? r->evaluated_at : now); bt(s, 9, r->source);
            bt(s, 10, r->numerator_date);
            int ext = 0;
            if ((rc = pstep(c, s, pass ? "measure_result_merge_update" : "measure_result_merge_insert", &ch, err, errlen))) {
                ext = sqlite3_extended_errcode(c->db);
                if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
                    rc = sg_errf(err, errlen, SG_EINVAL, "rows[%zu].member_hash: no such member", i);
                break;
            }
            if (ch) {
                if (pass) k->updated++;
                else k->inserted++;
                break;
            }
            if (pass) k->unchanged++;
        }
    }
    rc = bulk_table_end(c, &ix, bk, rc, err, errlen);
    if (!rc) rc = merge_audit(c, a, "measure_result", k, now, err, errlen);
done:
    if (ix.sql) (void)bulk_table_end(c, &ix, bk, SG_EDB, err, errlen);
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    return rc;
}

/* The rows of sq_member_feature_merge_batch inside the caller's transaction (audited when something changed). */
static int member_feature_merge_rows(struct sq_conn *c, struct sq_bulk *bk, const struct store_actor *a, const struct store_member_feature *rows, size_t n,
              const char *now, struct store_merge_counts *k, char *err, size_t errlen)
{
    struct sq_bulk ix;
    sqlite3_stmt *ins = NULL, *upd = NULL;
    int rc = SG_OK;
    memset(k, 0, sizeof *k);
    if ((rc = bulk_table_begin(c, &ix, "member_features", n, err, errlen))) return rc;
    ins = pq(c, "member_feature_merge_insert",
             "INSERT INTO member_features (member_hash, measurement_year, features, source, "
             "created_at, updated_at) VALUES (?1, ?2, json(?3), ?4, :ts, :ts) "
             "ON CONFLICT (member_hash, measurement_year) DO NOTHING",
             err, errlen);
    upd = pq(c, "member_feature_merge_update",
             "UPDATE member_features SET features = json(?3), source = ?4 WHERE member_hash = ?1 "
             "AND measurement_year = ?2 AND (features IS NOT json(?3) OR source IS NOT ?4)",
             err, errlen);
    if (!ins || !upd) { rc = SG_EDB; goto done; }
    char ts[STORE_TS_LEN];
    ms_stamp(now, ts);
    int ts_idx = sqlite3_bind_parameter_index(ins, ":ts");
    for (size_t i = 0; i < n && !rc; i++) {
        const struct store_member_feature *f = &rows[i];
        int ch = 0;
        for (int pass = 0; pass < 2; pass++) {
            sqlite3_stmt *s = pass ? upd : ins;
            if (!pass) bind_ts(s, ts_idx, ts);
            bt(s, 1, f->member_hash); bi(s, 2, f->measurement_year);
            bt(s, 3, f->features); bt(s, 4, f->source);
            if ((rc = pstep(c, s, pass ? "member_feature_merge_update" : "member_feature_merge_insert", &ch, err, errlen))) {
                if (sqlite3_extended_errcode(c->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
                    rc = sg_errf(err, errlen, SG_EINVAL, "rows[%zu].member_hash: no such member", i);
                break;
            }
            if (ch) {
                if (pass) k->updated++;
                else k->inserted++;
                break;
            }
            if (pass) k->unchanged++;
        }
    }
    rc = bulk_table_end(c, &ix, bk, rc, err, errlen);
    if (!rc) rc = merge_audit(c, a, "member_feature", k, now, err, errlen);
done:
    if (ix.sql) (void)bulk_table_end(c, &ix, bk, SG_EDB, err, errlen);
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    return rc;
}

/* Members, then measure results, then member features in ONE transaction: any failure rolls
 * all three back. k[0..3) get the three merge counts. */
static int sq_import_batch(struct store *st, const struct store_actor *a,
                           const struct store_member *members, size_t n_members,
                           const struct store_measure_result *results, size_t n_results,
                           const struct store_member_feature *features, size_t n_features,
                           const char *now, struct store_merge_counts k[3], char *err,
                           size_t errlen)
{
    struct sq_conn *c;
    struct sq_bulk bk;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    memset(k, 0, 3 * sizeof *k);
    if ((rc = begin(c, err, errlen))) goto out;
    bulk_begin(st, c, &bk, 0);
    if (n_members) rc = member_merge_rows(c, &bk, a, members, n_members, now, &k[0], err, errlen);
    if (!rc && n_results)
        rc = measure_result_merge_rows(c, &bk, a, results, n_results, now, &k[1], err, errlen);
    if (!rc && n_features)
        rc = member_feature_merge_rows(c, &bk, a, features, n_features, now, &k[2], err, errlen);
    rc = finish(c, rc, err, errlen);
    bulk_end(st, c, &bk, rc == SG_OK);
out:
    release(st, c);
    if (rc) memset(k, 0, 3 * sizeof *k);
    return rc;
}

/* The single-table merges are import batches with the other two parts empty. */
static int sq_member_upsert_batch(struct store *st, const struct store_actor *a,
                                  const struct store_member *rows, size_t n, const char *now,
                                  struct store_merge_counts *k, char *err, size_t errlen)
{
    struct store_merge_counts k3[3];
    memset(k3, 0, sizeof k3);
    int rc = sq_import_batch(st, a, rows, n, NULL, 0, NULL, 0, now, k3, err, errlen);
    *k = k3[0];
    return rc;
}

/* A gated batch waits at its gate before its transaction begins: SQLite has one writer at a
 * time, so waiting with the write lock held would block the batches the gate waits for
 * (store_batch_writers is 1 here; the order of commits is the same either way). */
static int sq_measure_result_merge_batch(struct store *st, const struct store_actor *a,
                                         const struct store_measure_result *rows, size_t n,
                                         const char *now, const struct store_gate *gate,
                                         struct store_merge_counts *k, char *err, size_t errlen)
{
    struct store_merge_counts k3[3];
    memset(k3, 0, sizeof k3);
    int rc = gate ? gate->wait(gate->ctx) : SG_OK;
    if (!rc) rc = sq_import_batch(st, a, NULL, 0, rows, n, NULL, 0, now, k3, err, errlen);
    *k = k3[1];
    return rc;
}

static int sq_member_feature_merge_batch(struct store *st, const struct store_actor *a,
                                         const struct store_member_feature *rows, size_t n,
                                         const char *now, const struct store_gate *gate,
                                         struct store_merge_counts *k, char *err, size_t errlen)
{
    struct store_merge_counts k3[3];
    memset(k3, 0, sizeof k3);
    int rc = gate ? gate->wait(gate->ctx) : SG_OK;
    if (!rc) rc = sq_import_batch(st, a, NULL, 0, NULL, 0, rows, n, now, k3, err, errlen);
    *k = k3[2];
    return rc;
}

/* Runs a read statement inside one read transaction (a consistent snapshot) and hands each row
 * to `each`; stops at the callback's first non-zero value. */
static int scan_rows(struct store *st, const char *name, const char *sql, int year,
                     int (*each)(sqlite3_stmt *s, void *ctx), void *ctx, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = pq(c, name, sql, err, errlen);
    if (!s) { rc = SG_EDB; goto out; }
    if (year) bi(s, 1, year);
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW)
        if ((rc = each(s, ctx))) break;
    if (!rc && r != SQLITE_DONE) rc = conn_error(c->db, name, err, errlen);
    sqlite3_finalize(s);
out:
    release(st, c);
    return rc;
}

struct scan_ctx {
    void *cb;
    void *ctx;
};

static int each_member(sqlite3_stmt *s, void *p)
{
    struct scan_ctx *x = p;
    struct store_member m;
    memset(&m, 0, sizeof m);
    read_member(s, &m);
    return ((store_member_cb)x->cb)(x->ctx, &m);
}

static int sq_member_scan(struct store *st, store_member_cb cb, void *ctx, char *err, size_t errlen)
{
    struct scan_ctx x = {(void *)cb, ctx};
    return scan_rows(st, "member_scan", "SELECT " M_COLS " FROM members ORDER BY member_hash", 0,
                     each_member, &x, err, errlen);
}

static int each_result(sqlite3_stmt *s, void *p)
{
    struct scan_ctx *x = p;
    struct store_measure_result r;
    memset(&r, 0, sizeof r);
    read_mr(s, &r);
    return ((store_result_cb)x->cb)(x->ctx, &r);
}

static int sq_measure_result_scan(struct store *st, int year, store_result_cb cb, void *ctx,
                                  char *err, size_t errlen)
{
    struct scan_ctx x = {(void *)cb, ctx};
    return scan_rows(st, "measure_result_scan",
                     "SELECT " MR_COLS " FROM measure_results WHERE measurement_year = ?1 "
                     "ORDER BY member_hash, measure_code", year, each_result, &x, err, errlen);
}

static int each_feature(sqlite3_stmt *s, void *p)
{
    struct scan_ctx *x = p;
    const char *h = (const char *)sqlite3_column_text(s, 0);
    const char *f = (const char *)sqlite3_column_text(s, 2);
    return ((store_feature_cb)x->cb)(x->ctx, h ? h : "", ci(s, 1), f ? f : "{}");
}

static int sq_member_feature_scan(struct store *st, int year, store_feature_cb cb, void *ctx,
                                  char *err, size_t errlen)
{
    struct scan_ctx x = {(void *)cb, ctx};
    return scan_rows(st, "member_feature_scan",
                     "SELECT member_hash, measurement_year, features FROM member_features "
                     "WHERE measurement_year = ?1 ORDER BY member_hash", year, each_feature, &x,
                     err, errlen);
}

static int sq_member_feature_get(struct store *st, const char *member_hash, int year,
                                 struct store_member_feature *out, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = pq(c, "member_feature_get",
                         "SELECT member_hash, measurement_year, features, source FROM member_features "
                         "WHERE member_hash = ?1 AND measurement_year = ?2", err, errlen);
    if (!s) { rc = SG_EDB; goto out; }
    bt(s, 1, member_hash);
    bi(s, 2, year);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        int oom = 0;
        ct(s, 0, out->member_hash, sizeof out->member_hash);
        out->measurement_year = ci(s, 1);
        out->features = cj(s, 2, &oom);
        ct(s, 3, out->source, sizeof out->source);
        if (oom) rc = oom_json(err, errlen);
    } else if (r == SQLITE_DONE) {
        rc = sg_errf(err, errlen, SG_ENOTFOUND, "member_features: no row for that member and year");
    } else {
        rc = conn_error(c->db, "member_feature_get", err, errlen);
    }
    sqlite3_finalize(s);
out:
    release(st, c);
    return rc;
}

static int sq_measure_result_years(struct store *st, int *years, size_t cap, size_t *n, char *err,
                                   size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = pq(c, "measure_result_years",
                         "SELECT DISTINCT measurement_year FROM measure_results ORDER BY 1", err, errlen);
    if (!s) { rc = SG_EDB; goto out; }
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW)
        if (*n < cap) years[(*n)++] = ci(s, 0);
    if (r != SQLITE_DONE) rc = conn_error(c->db, "measure_result_years", err, errlen);
    sqlite3_finalize(s);
out:
    release(st, c);
    return rc;
}

#define MODEL_COLS                                                                              \
    "model_id, measure_code, version, trained_year, learner, fingerprint, hyperparams, metrics, " \
    "created_at"

static int read_model(sqlite3_stmt *s, struct store_model *m, int with_text)
{
    int oom = 0;
    memset(m, 0, sizeof *m);
    ct(s, 0, m->model_id, sizeof m->model_id);
    ct(s, 1, m->measure_code, sizeof m->measure_code);
    m->version = ci(s, 2);
    m->trained_year = ci(s, 3);
    ct(s, 4, m->learner, sizeof m->learner);
    ct(s, 5, m->fingerprint, sizeof m->fingerprint);
    m->hyperparams = cj(s, 6, &oom);
    m->metrics = cj(s, 7, &oom);
    ct(s, 8, m->created_at, sizeof m->created_at);
    if (with_text) m->model_text = cj(s, 9, &oom);
    return oom;
}

static int sq_model_create(struct store *st, const struct store_actor *a, struct store_model *m,
                           const char *now, char *err, size_t errlen)
{
    struct sq_conn *c;
    sqlite3_stmt *v = NULL, *ins = NULL;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    if ((rc = begin(c, err, errlen))) goto out;
    v = pq(c, "model_next_version",
           "SELECT coalesce(max(version), 0) + 1 FROM models WHERE measure_code = ?1", err, errlen);
    ins = pq(c, "model_insert",
             "INSERT INTO models (" MODEL_COLS ", model_text) VALUES (?, ?, ?, ?, ?, ?, json(?), json(?), ?, ?)",
             err, errlen);
    if (!v || !ins) { rc = SG_EDB; goto done; }
    bt(v, 1, m->measure_code);
    if (sqlite3_step(v) != SQLITE_ROW) { rc = conn_error(c->db, "model_next_version", err, errlen); goto done; }
    m->version = ci(v, 0);
    bt(ins, 1, m->model_id); bt(ins, 2, m->measure_code); bi(ins, 3, m->version);
    bi(ins, 4, m->trained_year); bt(ins, 5, m->learner); bt(ins, 6, m->fingerprint);
    bt(ins, 7, m->hyperparams); bt(ins, 8, m->metrics); bt(ins, 9, now); bt(ins, 10, m->model_text);
    if ((rc = pstep(c, ins, "model_insert", NULL, err, errlen))) goto done;
    char ver[16];
    snprintf(ver, sizeof ver, "%d", m->version);
    const char *keys[] = {"measure_code", "version", "learner", "fingerprint"};
    const char *vals[] = {m->measure_code, ver, m->learner, m->fingerprint};
    char *json = store_json_kv(4, keys, vals);
    if (!json) { rc = oom_json(err, errlen); goto done; }
    rc = audit(c, a, "data_change", "model", m->model_id, "create", json, now, err, errlen);
    free(json);
done:
    sqlite3_finalize(v);
    sqlite3_finalize(ins);
    rc = finish(c, rc, err, errlen);
out:
    release(st, c);
    return rc;
}

static int model_one(struct store *st, const char *name, const char *sql, const char *key,
                     struct store_model *out, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = pq(c, name, sql, err, errlen);
    if (!s) { rc = SG_EDB; goto out; }
    bt(s, 1, key);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        if (read_model(s, out, 1)) {
            store_model_fini(out);
            rc = oom_json(err, errlen);
        }
    } else if (r == SQLITE_DONE) {
        rc = sg_errf(err, errlen, SG_ENOTFOUND, "model: not found");
    } else {
        rc = conn_error(c->db, name, err, errlen);
    }
    sqlite3_finalize(s);
out:
    release(st, c);
    return rc;
}

static int sq_model_get(struct store *st, const char *model_id, struct store_model *out, char *err,
                        size_t errlen)
{
    return model_one(st, "model_get", "SELECT " MODEL_COLS ", model_text FROM models WHERE model_id = ?1",
                     model_id, out, err, errlen);
}

static int sq_model_get_latest(struct store *st, const char *code, struct store_model *out,
                               char *err, size_t errlen)
{
    return model_one(st, "model_latest",
                     "SELECT " MODEL_COLS ", model_text FROM models WHERE measure_code = ?1 "
                     "ORDER BY version DESC LIMIT 1", code, out, err, errlen);
}

static int sq_model_list(struct store *st, const char *code, struct store_model_list *out,
                         char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = pq(c, "model_list",
                         "SELECT " MODEL_COLS " FROM models WHERE (?1 IS NULL OR measure_code = ?1) "
                         "ORDER BY measure_code, version DESC", err, errlen);
    if (!s) { rc = SG_EDB; goto out; }
    bt(s, 1, code);
    size_t cap = 0;
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_model *it = push((void **)&out->items, &out->n, &cap, sizeof *it);
        if (!it || read_model(s, it, 0)) { rc = oom_json(err, errlen); break; }
    }
    if (!rc && r != SQLITE_DONE) rc = conn_error(c->db, "model_list", err, errlen);
    out->total = (long long)out->n;
    sqlite3_finalize(s);
out:
    release(st, c);
    if (rc) store_model_list_free(out);
    return rc;
}

/* ==== end predict block ==== */

/* ==== decide block (issue 7: gap refresh, bulk reads for the portfolio wiring) ==== */

/* Runs a constant multi-statement script on c (decide block). */
static int exec_sql(struct sq_conn *c, const char *name, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) == SQLITE_OK) return SG_OK;
    int rc = sg_errf(err, errlen, SG_EDB, "%s: %s", name, msg ? msg : "failed");
    sqlite3_free(msg);
    return rc;
}

struct latest_ctx {
    store_prediction_cb cb;
    void *ctx;
    char member[STORE_HASH_LEN];
    char measure[STORE_CODE_LEN];
};

/* Rows arrive newest first within (member, measure): pass on the first of each pair. */
static int each_latest(sqlite3_stmt *s, void *p)
{
    struct latest_ctx *x = p;
    struct store_prediction r;
    int oom = 0;
    memset(&r, 0, sizeof r);
    read_pred(s, &r, &oom);
    if (!strcmp(r.member_hash, x->member) && !strcmp(r.measure_code, x->measure)) return 0;
    memcpy(x->member, r.member_hash, sizeof x->member);
    memcpy(x->measure, r.measure_code, sizeof x->measure);
    return x->cb(x->ctx, &r);
}

static int sq_prediction_scan_latest(struct store *st, int year, store_prediction_cb cb,
                                     void *ctx, char *err, size_t errlen)
{
    struct latest_ctx x;
    memset(&x, 0, sizeof x);
    x.cb = cb;
    x.ctx = ctx;
    return scan_rows(st, "prediction_scan_latest",
                     "SELECT prediction_id, member_hash, measure_code, measurement_year, "
                     "gap_probability, risk_tier, risk_score, NULL, NULL, recommendation, "
                     "model_version, prediction_date, created_at FROM predictions "
                     "WHERE measurement_year = ?1 "
                     "ORDER BY member_hash, measure_code, prediction_date DESC, prediction_id DESC",
                     year, each_latest, &x, err, errlen);
}

static int sq_gap_scan(struct store *st, int year, const char *contract_id, store_gap_cb cb,
                       void *ctx, char *err, size_t errlen)
{
    struct sq_conn *c;
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = pq(c, "gap_scan",
                         "SELECT " G_COLS " FROM gap_analysis WHERE measurement_year = ?1 "
                         "AND (?2 IS NULL OR contract_id = ?2) ORDER BY member_hash, measure_code",
                         err, errlen);
    if (!s) { rc = SG_EDB; goto out; }
    bi(s, 1, year);
    bt(s, 2, contract_id);
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_gap g;
        memset(&g, 0, sizeof g);
        read_gap(s, &g);
        if ((rc = cb(ctx, &g))) break;
    }
    if (!rc && r != SQLITE_DONE) rc = conn_error(c->db, "gap_scan", err, errlen);
    sqlite3_finalize(s);
out:
    release(st, c);
    return rc;
}

/* Gaps of the scope (year, optional contract) counted from gap_counts (exact, trigger-kept):
 * *open (identified or assigned) and *any (every status). */
static int scope_counts(struct sq_conn *c, int year, const char *contract_id, long long *open,
                        long long *any, char *err, size_t errlen)
{
    sqlite3_stmt *s = pq(c, "gap_refresh_scope",
                         "SELECT coalesce(sum(n) FILTER (WHERE status = 'identified' OR status = 'assigned'), 0), "
                         "coalesce(sum(n), 0) FROM gap_counts WHERE measurement_year = ?1 "
                         "AND (?2 IS NULL OR contract_id = ?2)", err, errlen);
    if (!s) return SG_EDB;
    bi(s, 1, year);
    bt(s, 2, contract_id);
    int rc = SG_OK;
    if (sqlite3_step(s) == SQLITE_ROW) {
        *open = cl(s, 0);
        *any = cl(s, 1);
    } else {
        rc = conn_error(c->db, "gap_refresh_scope", err, errlen);
    }
    sqlite3_finalize(s);
    return rc;
}

/* The insert trigger of gap_counts (migration 0001), dropped by a bulk refresh of an empty scope
 * (see sq_gap_refresh_batch); *sql receives its CREATE statement (sqlite3_malloc'd), or NULL when
 * the schema has no such trigger (then nothing is dropped). */
static int counts_trigger_drop(struct sq_conn *c, char **sql, char *err, size_t errlen)
{
    sqlite3_stmt *s = pq(c, "gap_counts_trigger",
                         "SELECT sql FROM main.sqlite_schema WHERE type = 'trigger' "
                         "AND name = 'gap_counts_ins' AND tbl_name = 'gap_analysis'", err, errlen);
    *sql = NULL;
    if (!s) return SG_EDB;
    int r = sqlite3_step(s), rc = SG_OK;
    if (r == SQLITE_ROW) {
        if (!(*sql = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(s, 0))))
            rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    } else if (r != SQLITE_DONE) {
        rc = conn_error(c->db, "gap_counts_trigger", err, errlen);
    }
    sqlite3_finalize(s);
    if (!rc && *sql) rc = exec_sql(c, "gap_counts_trigger_drop", "DROP TRIGGER main.gap_counts_ins", err, errlen);
    return rc;
}

/* Re-creates the trigger and adds the scope's gaps to gap_counts in one statement: the scope held
 * no gap before the batch, so its gaps now are exactly the rows the batch inserted, the rows
 * the trigger would have counted one by one. */
static int counts_trigger_restore(struct sq_conn *c, const char *sql, int year, const char *contract_id,
                                  char *err, size_t errlen)
{
    int rc = exec_sql(c, "gap_counts_trigger_create", sql, err, errlen);
    if (rc) return rc;
    sqlite3_stmt *s = pq(c, "gap_counts_bulk",
                         "INSERT INTO gap_counts (status, measure_code, measurement_year, contract_id, n) "
                         "SELECT status, measure_code, measurement_year, contract_id, count(*) "
                         "FROM gap_analysis WHERE measurement_year = ?1 AND (?2 IS NULL OR contract_id = ?2) "
                         "GROUP BY status, measure_code, measurement_year, contract_id "
                         "ON CONFLICT (status, measure_code, measurement_year, contract_id) "
                         "DO UPDATE SET n = n + excluded.n", err, errlen);
    if (!s) return SG_EDB;
    bi(s, 1, year);
    bt(s, 2, contract_id);
    rc = pstep(c, s, "gap_counts_bulk", NULL, err, errlen);
    sqlite3_finalize(s);
    return rc;
}

/* Ties of core/sort.h's hash-prefix order of gap rows: by member_hash, then measure code. */
static int gap_member_measure_cmp(const void *ctx, uint32_t a, uint32_t b)
{
    const struct store_gap *rows = ctx;
    int d = strcmp(rows[a].member_hash, rows[b].member_hash);
    return d ? d : strcmp(rows[a].measure_code, rows[b].measure_code);
}

/* Insert-or-refresh per row, then close the scope's open gaps that are not among the rows.
 *
 * The rows are written in (member_hash, measure_code) order, so the UNIQUE index and the members
 * foreign-key lookups walk their b-trees in order. Per row: when the scope held no gap before
 * (gap_counts), INSERT ... ON CONFLICT DO NOTHING comes first (it inserts, almost always) and
 * the UPDATE only runs on a conflict; otherwise the UPDATE of an open gap comes first and the
 * INSERT only runs when it changed nothing (a new gap, or a closed/completed one: kept). Both
 * orders give the same rows and counts. When the scope had no open gap, nothing can need
 * closing, and the key table and the closing UPDATE are skipped. A batch that at least doubles
 * gap_analysis rebuilds its secondary indexes (bulk writes above); when, in addition, its scope
 * held no gap at all, the per-row gap_counts insert trigger is dropped for the batch too and the
 * scope's counts are added by one GROUP BY after the rows (counts_trigger_restore). */
static int sq_gap_refresh_batch(struct store *st, const struct store_actor *a, int year,
                                const char *contract_id, const struct store_gap *rows, size_t n,
                                const char *now, struct store_refresh_counts *k, char *err,
                                size_t errlen)
{
    struct sq_conn *c;
    struct sq_bulk bulk;
    sqlite3_stmt *ins = NULL, *upd = NULL, *cls = NULL, *key = NULL;
    uint32_t *ord = NULL;   /* the rows in (member_hash, measure_code) order */
    uint64_t *okey = NULL;
    char *counts_sql = NULL; /* the gap_counts insert trigger, dropped for this batch */
    long long open_before = 0, any_before = 0;
    int want = 0;
    char today[STORE_DATE_LEN];
    store_date_of(now, today);
    memset(k, 0, sizeof *k);
    int rc = acquire(st, &c, err, errlen);
    if (rc) return rc;
    if ((rc = begin(c, err, errlen))) goto out;
    bulk_begin(st, c, &bulk, 1);
    if (n && (!(ord = malloc(n * sizeof *ord)) || !(okey = malloc(n * sizeof *okey)))) {
        rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) okey[i] = sg_hex_prefix64(rows[i].member_hash);
    if (n && sg_order_by_key(okey, n, gap_member_measure_cmp, rows, ord)) {
        rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = scope_counts(c, year, contract_id, &open_before, &any_before, err, errlen)) ||
        (rc = bulk_want(c, "gap_analysis", fresh_rows(n, any_before), BULK_GAP_SHARE, &want, err,
                        errlen)) ||
        (want && (rc = bulk_drop(c, &bulk, "gap_analysis", err, errlen))) ||
        (want && any_before == 0 && (rc = counts_trigger_drop(c, &counts_sql, err, errlen))))
        goto done;
    int insert_first = any_before == 0;
    ins = pq(c, "gap_refresh_insert",
             "INSERT INTO gap_analysis (gap_id, member_hash, contract_id, measure_code, "
             "measurement_year, gap_probability, priority_score, intervention_type, "
             "estimated_cost, estimated_value, status, created_at, updated_at) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'identified', ?11, ?11) "
             "ON CONFLICT (member_hash, measure_code, measurement_year) DO NOTHING", err, errlen);
    upd = pq(c, "gap_refresh_update",
             "UPDATE gap_analysis SET gap_probability = ?6, priority_score = ?7, "
             "intervention_type = ?8, estimated_cost = ?9, estimated_value = ?10, updated_at = ?11 "
             "WHERE member_hash = ?2 AND measure_code = ?4 AND measurement_year = ?5 "
             "AND status IN ('identified', 'assigned')",
             err, errlen);
    if (!ins || !upd) { rc = SG_EDB; goto done; }
    if (open_before > 0) {
        /* the keys of this run, to close the scope's open gaps that are not among them (the
         * updated_at trigger rules out marking touched rows by timestamp) */
        if ((rc = exec_sql(c, "gap_refresh_keys",
                           "CREATE TEMP TABLE IF NOT EXISTS gap_refresh_keys (member_hash TEXT NOT NULL, "
                           "measure_code TEXT NOT NULL, PRIMARY KEY (member_hash, measure_code)) "
                           "WITHOUT ROWID; DELETE FROM temp.gap_refresh_keys;", err, errlen)))
            goto done;
        key = pq(c, "gap_refresh_key",
                 "INSERT OR IGNORE INTO temp.gap_refresh_keys (member_hash, measure_code) VALUES (?1, ?2)",
                 err, errlen);
        cls = pq(c, "gap_refresh_close",
                 "UPDATE gap_analysis SET status = 'closed', closed_date = ?3 "
                 "WHERE measurement_year = ?1 AND (?2 IS NULL OR contract_id = ?2) "
                 "AND status IN ('identified', 'assigned') AND NOT EXISTS (SELECT 1 FROM "
                 "temp.gap_refresh_keys k WHERE k.member_hash = gap_analysis.member_hash AND "
                 "k.measure_code = gap_analysis.measure_code)", err, errlen);
        if (!cls || !key) { rc = SG_EDB; goto done; }
    }
    for (size_t o = 0; o < n && !rc; o++) {
        size_t i = ord[o];
        const struct store_gap *g = &rows[i];
        int ch = 0, wrote = 0;
        for (int pass = 0; pass < 2 && !wrote; pass++) {
            int is_ins = insert_first ? pass == 0 : pass == 1;
            sqlite3_stmt *s = is_ins ? ins : upd;
            bt(s, 1, g->gap_id); bt(s, 2, g->member_hash); bt(s, 3, g->contract_id);
            bt(s, 4, g->measure_code); bi(s, 5, g->measurement_year);
            sqlite3_bind_double(s, 6, g->gap_probability);
            sqlite3_bind_double(s, 7, g->priority_score); bt(s, 8, g->intervention_type);
            bd(s, 9, g->estimated_cost); bd(s, 10, g->estimated_value); bt(s, 11, now);
            if ((rc = pstep(c, s, is_ins ? "gap_refresh_insert" : "gap_refresh_update", &ch, err,
                            errlen))) {
                if (sqlite3_extended_errcode(c->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
                    rc = sg_errf(err, errlen, SG_EINVAL, "rows[%zu].member_hash: no such member", i);
                break;
            }
            if (ch) {
                wrote = 1;
                if (is_ins) k->inserted++;
                else k->updated++;
            }
        }
        if (!rc && !wrote) k->kept++;
        if (!rc && key) {
            bt(key, 1, g->member_hash);
            bt(key, 2, g->measure_code);
            rc = pstep(c, key, "gap_refresh_key", NULL, err, errlen);
        }
    }
    if (!rc && cls) {
        int ch = 0;
        bi(cls, 1, year); bt(cls, 2, contract_id); bt(cls, 3, today);
        rc = pstep(c, cls, "gap_refresh_close", &ch, err, errlen);
        k->closed = ch;
    }
    if (!rc && bulk.n) rc = bulk_restore(c, &bulk, err, errlen);
    if (!rc && counts_sql) rc = counts_trigger_restore(c, counts_sql, year, contract_id, err, errlen);
    if (!rc) {
        char json[160];
        snprintf(json, sizeof json,
                 "{\"year\":%d,\"inserted\":%lld,\"updated\":%lld,\"kept\":%lld,\"closed\":%lld}",
                 year, k->inserted, k->updated, k->kept, k->closed);
        rc = audit(c, a, "data_change", "gap", contract_id, "refresh", json, now, err, errlen);
    }
done:
    free(ord);
    free(okey);
    sqlite3_free(counts_sql);
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    sqlite3_finalize(cls);
    sqlite3_finalize(key);
    rc = finish(c, rc, err, errlen);
    bulk_end(st, c, &bulk, rc == SG_OK);
out:
    release(st, c);
    if (rc) memset(k, 0, sizeof *k);
    return rc;
}

/* ==== end decide block ==== */

static const struct store_ops sq_ops = {
    .name = "sqlite",
    .close = sq_close,
    .member_create = sq_member_create,
    .member_get = sq_member_get,
    .member_get_or_create = sq_member_get_or_create,
    .member_update_activity = sq_member_update_activity,
    .prediction_batch_create = sq_prediction_batch_create,
    .prediction_get = sq_prediction_get,
    .prediction_get_by_member = sq_prediction_get_by_member,
    .prediction_get_latest = sq_prediction_get_latest,
    .prediction_delete_old = sq_prediction_delete_old,
    .snapshot_create = sq_snapshot_create,
    .snapshot_get_latest = sq_snapshot_get_latest,
    .snapshot_get_history = sq_snapshot_get_history,
    .snapshot_get_trends = sq_snapshot_get_trends,
    .gap_create = sq_gap_create,
    .gap_get = sq_gap_get,
    .gap_get_with_filters = sq_gap_get_with_filters,
    .gap_get_by_member = sq_gap_get_by_member,
    .gap_get_high_priority = sq_gap_get_high_priority,
    .gap_update_status = sq_gap_update_status,
    .intervention_create = sq_intervention_create,
    .intervention_get = sq_intervention_get,
    .intervention_list = sq_intervention_list,
    .intervention_get_pending = sq_intervention_get_pending,
    .intervention_update = sq_intervention_update,
    .intervention_complete = sq_intervention_complete,
    .intervention_get_bundles = sq_intervention_get_bundles,
    .star_rating_create = sq_star_rating_create,
    .star_rating_get_latest = sq_star_rating_get_latest,
    .star_rating_get_history = sq_star_rating_get_history,
    .simulation_create = sq_simulation_create,
    .simulation_get = sq_simulation_get,
    .simulation_list = sq_simulation_list,
    .api_log_batch_create = sq_api_log_batch_create,
    .api_log_get_stats = sq_api_log_get_stats,
    .api_log_get_slowest = sq_api_log_get_slowest,
    .api_log_get_errors = sq_api_log_get_errors,
    .audit_create = sq_audit_create,
    .audit_get_trail = sq_audit_get_trail,
    .audit_get_recent = sq_audit_get_recent,
    .audit_verify = sq_audit_verify,
    .measure_result_upsert_batch = sq_measure_result_upsert_batch,
    .measure_result_get_by_member = sq_measure_result_get_by_member,
    .measure_result_rates = sq_measure_result_rates,
    .measure_upsert_batch = sq_measure_upsert_batch,
    .measure_list = sq_measure_list,
    .measure_get = sq_measure_get,
    .api_key_create = sq_api_key_create,
    .api_key_get_by_hash = sq_api_key_get_by_hash,
    .api_key_list = sq_api_key_list,
    .api_key_revoke = sq_api_key_revoke,
    .member_history = sq_member_history,
    .migrate_applied = sq_migrate_applied,
    .migrate_apply = sq_migrate_apply,
    .maintain = sq_maintain,
    .raw_exec = sq_raw_exec,
    /* predict block */
    .member_upsert_batch = sq_member_upsert_batch,
    .measure_result_merge_batch = sq_measure_result_merge_batch,
    .member_feature_merge_batch = sq_member_feature_merge_batch,
    .import_batch = sq_import_batch,
    .member_scan = sq_member_scan,
    .measure_result_scan = sq_measure_result_scan,
    .member_feature_scan = sq_member_feature_scan,
    .member_feature_get = sq_member_feature_get,
    .measure_result_years = sq_measure_result_years,
    .model_create = sq_model_create,
    .model_get = sq_model_get,
    .model_get_latest = sq_model_get_latest,
    .model_list = sq_model_list,
    /* decide block */
    .prediction_scan_latest = sq_prediction_scan_latest,
    .gap_scan = sq_gap_scan,
    .gap_refresh_batch = sq_gap_refresh_batch,
};
