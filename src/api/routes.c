/* routes.c: the one route table of the service and the hooks that connect the HTTP layer to the
 * store (key lookup, api_logs sink). docs/openapi.json documents exactly these routes; the unit
 * test test_http_openapi checks both directions. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_internal.h"
#include "core/log.h"
#include "db/pg_pool.h"

#define V1 "/api/v1"
#define R HTTP_ROLE_READER
#define W HTTP_ROLE_WRITER
#define A HTTP_ROLE_ADMIN
#define P HTTP_ROLE_PUBLIC
/* queued: run on a queue worker (http.h): audited writes and member-level reads, and the
 * computations that take seconds; D: started on the connection thread and finished when the
 * store's group commit is done (http.h, HTTP_DEFERRABLE), else queued */
#define Q HTTP_QUEUED
#define D HTTP_DEFERRABLE

static const struct http_route routes[] = {
    {"GET", "/health", api_h_health, P, 0},
    {"GET", "/health/live", api_h_live, P, 0},
    {"GET", "/health/ready", api_h_ready, P, 0},
    {"GET", "/metrics", api_h_metrics, R, 0},
    {"GET", V1 "/openapi.json", api_h_openapi, R, 0},

    {"POST", V1 "/members", api_h_member_create, W, Q},
    {"GET", V1 "/members/{member_hash}", api_h_member_get, R, 0},
    {"GET", V1 "/members/{member_hash}/history", api_h_member_history, R, D},
    {"GET", V1 "/members/{member_hash}/bundles", api_h_member_bundles, R, Q},

    {"GET", V1 "/measures", api_h_measures_list, R, 0},
    {"GET", V1 "/measures/{code}", api_h_measure_get, R, 0},

    {"GET", V1 "/gaps", api_h_gaps_list, R, 0},
    {"GET", V1 "/gaps/high-priority", api_h_gaps_high_priority, R, 0},
    {"GET", V1 "/gaps/{id}", api_h_gap_get, R, 0},
    {"PATCH", V1 "/gaps/{id}", api_h_gap_patch, W, D},
    {"POST", V1 "/gaps/{id}/close", api_h_gap_close, W, D},

    {"POST", V1 "/interventions", api_h_iv_create, W, Q},
    {"GET", V1 "/interventions", api_h_iv_list, R, Q},
    {"GET", V1 "/interventions/pending", api_h_iv_pending, R, 0},
    {"GET", V1 "/interventions/{id}", api_h_iv_get, R, 0},
    {"PATCH", V1 "/interventions/{id}", api_h_iv_patch, W, Q},
    {"POST", V1 "/interventions/{id}/complete", api_h_iv_complete, W, Q},

    {"GET", V1 "/portfolio/snapshots", api_h_snapshots, R, 0},
    {"GET", V1 "/portfolio/snapshots/latest", api_h_snapshot_latest, R, 0},
    {"GET", V1 "/portfolio/trends", api_h_trends, R, 0},

    {"GET", V1 "/star-ratings/latest", api_h_stars_latest, R, 0},
    {"GET", V1 "/star-ratings/history", api_h_stars_history, R, 0},
    {"GET", V1 "/simulations/{id}", api_h_sim_get, R, 0},
    {"GET", V1 "/simulations", api_h_sim_list, R, 0},
    {"POST", V1 "/simulations/compare", api_h_sim_compare, R, Q},

    {"POST", V1 "/fhir/Measure/{id}/$evaluate-measure", api_h_fhir_evaluate, R, Q},
    {"POST", V1 "/fhir/Measure/$care-gaps", api_h_fhir_care_gaps, R, Q},

    {"POST", V1 "/predict/portfolio", api_h_predict_portfolio, W, Q},
    {"POST", V1 "/predict/batch/{measure_code}", api_h_predict_batch, W, Q},
    {"POST", V1 "/predict/{measure_code}", api_h_predict, W, Q},
    {"GET", V1 "/predictions/{id}", api_h_prediction_get, R, 0},

    {"POST", V1 "/portfolio/optimize", api_h_portfolio_optimize, W, Q},
    {"GET", V1 "/portfolio/summary", api_h_portfolio_summary, R, 0},
    {"GET", V1 "/portfolio/priority-list", api_h_priority_list, R, 0},
    {"POST", V1 "/analytics/simulate", api_h_analytics_simulate, W, Q},
    {"GET", V1 "/analytics/roi", api_h_analytics_roi, R, 0},
    {"POST", V1 "/analytics/star-rating", api_h_star_rating, W, Q},
    {"GET", V1 "/measures/{code}/performance", api_h_measure_performance, R, 0},

    {"GET", V1 "/admin/api-stats", api_h_admin_stats, A, 0},
    {"GET", V1 "/admin/api-slowest", api_h_admin_slowest, A, 0},
    {"GET", V1 "/admin/api-errors", api_h_admin_errors, A, 0},
    {"GET", V1 "/admin/audit", api_h_admin_audit, A, 0},
    {"GET", V1 "/admin/audit/recent", api_h_admin_audit_recent, A, 0},
    {"GET", V1 "/admin/audit/verify", api_h_admin_audit_verify, A, 0},
};

const struct http_route *api_routes(size_t *n)
{
    *n = sizeof routes / sizeof routes[0];
    return routes;
}

void api_init(struct api_app *app, struct store *st, const struct sg_config *cfg,
              const struct sg_memberid *member)
{
    memset(app, 0, sizeof *app);
    app->st = st;
    app->cfg = cfg;
    app->member = member;
}

int api_key_lookup(void *ctx, const char *key_hash, char *name, enum http_role *role)
{
    struct api_app *app = ctx;
    struct store_api_key k;
    char err[SG_ERRLEN] = "";
    int rc = store_api_key_get_by_hash(app->st, key_hash, &k, err, sizeof err);
    if (rc) return rc;
    if (k.revoked_at[0]) return SG_ENOTFOUND;
    http_copy(name, HTTP_KEY_NAME_MAX + 1, k.name);
    *role = k.role == STORE_ROLE_ADMIN    ? HTTP_ROLE_ADMIN
            : k.role == STORE_ROLE_WRITER ? HTTP_ROLE_WRITER
                                          : HTTP_ROLE_READER;
    return SG_OK;
}

static void ts_from_ms(int64_t ms, char out[STORE_TS_LEN])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char tmp[96];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000) * 1000);
    http_copy(out, STORE_TS_LEN, tmp);
}

int api_log_sink(void *ctx, const struct http_log_row *rows, size_t n)
{
    struct api_app *app = ctx;
    struct store_api_log *out = calloc(n, sizeof *out);
    if (!out) return SG_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct http_log_row *r = &rows[i];
        struct store_api_log *l = &out[i];
        http_copy(l->request_id, sizeof l->request_id, r->request_id);
        http_copy(l->endpoint, sizeof l->endpoint, r->endpoint);
        http_copy(l->method, sizeof l->method, r->method);
        http_copy(l->api_key_hash, sizeof l->api_key_hash, r->key_hash);
        l->status_code = r->status;
        l->response_time_ms = r->latency_ms < 0 ? 0 : r->latency_ms;
        http_copy(l->error_message, sizeof l->error_message, r->error);
        ts_from_ms(r->ts_ms, l->timestamp);
    }
    char err[SG_ERRLEN] = "";
    int rc = store_api_log_batch_create(app->st, out, n, err, sizeof err);
    if (rc) LOG_WARN("api_logs batch failed rows=%zu detail=\"%s\"", n, err);
    free(out);
    return rc;
}

int api_metrics_extra(void *ctx, struct sg_buf *out)
{
    struct api_app *app = ctx;
    int rc = sg_buf_printf(out,
                           "# HELP stargap_store_info The storage backend serving the API.\n"
                           "# TYPE stargap_store_info gauge\n"
                           "stargap_store_info{backend=\"%s\"} 1\n",
                           app->st->url_scheme);
    struct pg_pool_stats ps;
    if (rc || store_pg_pool_stats(app->st, &ps) != SG_OK) return rc; /* no pool on SQLite */
    return sg_buf_printf(
        out,
        "# HELP stargap_db_pool_connections PostgreSQL pool connections by state.\n"
        "# TYPE stargap_db_pool_connections gauge\n"
        "stargap_db_pool_connections{state=\"in_use\"} %d\n"
        "stargap_db_pool_connections{state=\"idle\"} %d\n"
        "stargap_db_pool_connections{state=\"max\"} %d\n"
        "# HELP stargap_db_pool_waiting Threads waiting for a PostgreSQL connection.\n"
        "# TYPE stargap_db_pool_waiting gauge\n"
        "stargap_db_pool_waiting %d\n"
        "# HELP stargap_db_pool_events_total PostgreSQL pool events.\n"
        "# TYPE stargap_db_pool_events_total counter\n"
        "stargap_db_pool_events_total{event=\"acquire\"} %llu\n"
        "stargap_db_pool_events_total{event=\"wait\"} %llu\n"
        "stargap_db_pool_events_total{event=\"timeout\"} %llu\n"
        "stargap_db_pool_events_total{event=\"connect\"} %llu\n"
        "stargap_db_pool_events_total{event=\"broken\"} %llu\n"
        "stargap_db_pool_events_total{event=\"recycled\"} %llu\n",
        ps.in_use, ps.idle, ps.max, ps.waiting, (unsigned long long)ps.acquires,
        (unsigned long long)ps.waits, (unsigned long long)ps.timeouts,
        (unsigned long long)ps.connects, (unsigned long long)ps.broken,
        (unsigned long long)ps.recycled);
}
