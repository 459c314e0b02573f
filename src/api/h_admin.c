/* h_admin.c: request-log statistics and the audit trail (admin role). */
#include <string.h>

#include "api/api_internal.h"

static const struct api_param hours_limit[] = {
    {"hours", AP_INT, 1, 8784, NULL},
    {"limit", AP_INT, 1, STORE_MAX_LIMIT, NULL},
};

void api_h_admin_stats(struct http_request *req, struct http_response *res)
{
    static const struct api_param p[] = {
        {"hours", AP_INT, 1, 8784, NULL},
        {"endpoint", AP_NAME, 0, 0, NULL},
    };
    struct api_qv q[2];
    if (api_query(req, res, p, 2, q)) return;
    int hours = q[0].set ? (int)q[0].i : 24;
    struct store_api_stats s;
    memset(&s, 0, sizeof s);
    char err[SG_ERRLEN] = "";
    int rc = store_api_log_get_stats(APP(req)->st, hours, q[1].s, &s, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, err);
        store_api_stats_fini(&s);
        return;
    }
    json_t *by = json_array();
    for (size_t i = 0; by && i < s.n_endpoints; i++) {
        const struct store_endpoint_stats *e = &s.by_endpoint[i];
        json_array_append_new(by, json_pack("{s:s,s:I,s:o,s:o}", "endpoint", e->endpoint, "total",
                                            (json_int_t)e->total, "avg_ms", api_real(e->avg_ms),
                                            "error_rate", api_real(e->error_rate)));
    }
    http_json(res, 200, json_pack("{s:i,s:I,s:o,s:o,s:I,s:o}", "hours", hours, "total", (json_int_t)s.total,
                                  "avg_ms", api_real(s.avg_ms), "error_rate", api_real(s.error_rate),
                                  "client_errors", (json_int_t)s.client_errors, "by_endpoint",
                                  by ? by : json_array()));
    store_api_stats_fini(&s);
}

static void log_list(struct http_request *req, struct http_response *res, int errors)
{
    struct api_qv q[2];
    if (api_query(req, res, hours_limit, 2, q)) return;
    int hours = q[0].set ? (int)q[0].i : 24;
    long limit = q[1].set ? q[1].i : 50;
    struct store_api_log_list l = {0};
    char err[SG_ERRLEN] = "";
    int rc = errors ? store_api_log_get_errors(APP(req)->st, hours, limit, &l, err, sizeof err)
                    : store_api_log_get_slowest(APP(req)->st, hours, limit, &l, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, err);
        store_api_log_list_free(&l);
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; items && i < l.n; i++) json_array_append_new(items, api_enc_api_log(&l.items[i]));
    http_json(res, 200, json_pack("{s:i,s:i,s:o}", "hours", hours, "limit", (int)limit, "items",
                                  items ? items : json_array()));
    store_api_log_list_free(&l);
}

void api_h_admin_slowest(struct http_request *req, struct http_response *res) { log_list(req, res, 0); }

void api_h_admin_errors(struct http_request *req, struct http_response *res) { log_list(req, res, 1); }

static void audit_page(struct http_response *res, struct store_audit_list *l, const struct store_page *pg)
{
    json_t *items = json_array();
    for (size_t i = 0; items && i < l->n; i++) json_array_append_new(items, api_enc_audit(&l->items[i]));
    http_json(res, 200, api_page_doc(items, l->total, pg->limit, pg->offset, l->has_more));
}

void api_h_admin_audit(struct http_request *req, struct http_response *res)
{
    static const struct api_param p[] = {
        {"entity_type", AP_NAME, 0, 0, NULL},
        {"entity_id", AP_NAME, 0, 0, NULL},
        {"limit", AP_INT, 1, STORE_MAX_LIMIT, NULL},
        {"offset", AP_INT, 0, 1000000000, NULL},
    };
    struct api_qv q[4];
    if (api_query(req, res, p, 4, q)) return;
    if (!q[0].set) {
        http_error(req, res, 400, "invalid_input", "query parameter 'entity_type' is required");
        return;
    }
    struct store_page pg = {.limit = q[2].set ? q[2].i : 50, .offset = q[3].set ? q[3].i : 0};
    struct store_audit_list l = {0};
    char err[SG_ERRLEN] = "";
    int rc = store_audit_get_trail(APP(req)->st, q[0].s, q[1].s, &pg, &l, err, sizeof err);
    if (rc) api_store_error(req, res, rc, err);
    else audit_page(res, &l, &pg);
    store_audit_list_free(&l);
}

void api_h_admin_audit_recent(struct http_request *req, struct http_response *res)
{
    static const struct api_param p[] = {
        {"hours", AP_INT, 1, 87840, NULL},
        {"limit", AP_INT, 1, STORE_MAX_LIMIT, NULL},
        {"offset", AP_INT, 0, 1000000000, NULL},
    };
    struct api_qv q[3];
    if (api_query(req, res, p, 3, q)) return;
    struct store_page pg = {.limit = q[1].set ? q[1].i : 50, .offset = q[2].set ? q[2].i : 0};
    struct store_audit_list l = {0};
    char err[SG_ERRLEN] = "";
    int rc = store_audit_get_recent(APP(req)->st, q[0].set ? (int)q[0].i : 24, &pg, &l, err, sizeof err);
    if (rc) api_store_error(req, res, rc, err);
    else audit_page(res, &l, &pg);
    store_audit_list_free(&l);
}

void api_h_admin_audit_verify(struct http_request *req, struct http_response *res)
{
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q)) return;
    struct store_audit_verify v;
    memset(&v, 0, sizeof v);
    char err[SG_ERRLEN] = "";
    int rc = store_audit_verify(APP(req)->st, &v, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, err);
        return;
    }
    http_json(res, 200, json_pack("{s:b,s:I,s:o,s:o}", "ok", v.ok, "rows_checked", (json_int_t)v.rows_checked,
                                  "first_bad_id", v.ok ? json_null() : json_integer(v.first_bad_id),
                                  "reason", v.ok ? json_null() : json_string(v.reason)));
}
