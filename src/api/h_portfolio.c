/* h_portfolio.c: portfolio snapshots and trends, star ratings and simulations (read side). */
#include <string.h>
#include <strings.h>

#include "api/api_internal.h"
#include "core/hash.h"

void api_h_snapshots(struct http_request *req, struct http_response *res)
{
    static const struct api_param p[] = {
        {"year", AP_INT, 2000, 2100, NULL},
        {"contract", AP_CONTRACT, 0, 0, NULL},
        {"limit", AP_INT, 1, STORE_MAX_LIMIT, NULL},
        {"offset", AP_INT, 0, 1000000000, NULL},
    };
    struct api_qv q[4];
    if (api_query(req, res, p, 4, q)) return;
    struct store_page pg = {.limit = q[2].set ? q[2].i : 50, .offset = q[3].set ? q[3].i : 0};
    struct store_snapshot_list l = {0};
    char err[SG_ERRLEN] = "";
    int rc = store_snapshot_get_history(APP(req)->st, q[1].s, q[0].set ? (int)q[0].i : 0, &pg, &l, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, err);
        store_snapshot_list_free(&l);
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; items && i < l.n; i++) json_array_append_new(items, api_enc_snapshot(&l.items[i]));
    http_json(res, 200, api_page_doc(items, l.total, pg.limit, pg.offset, l.has_more));
    store_snapshot_list_free(&l);
}

void api_h_snapshot_latest(struct http_request *req, struct http_response *res)
{
    static const struct api_param p[] = {
        {"year", AP_INT, 2000, 2100, NULL},
        {"contract", AP_CONTRACT, 0, 0, NULL},
    };
    struct api_qv q[2];
    if (api_query(req, res, p, 2, q)) return;
    struct store_snapshot s;
    memset(&s, 0, sizeof s);
    char err[SG_ERRLEN] = "";
    int rc = store_snapshot_get_latest(APP(req)->st, q[1].s, q[0].set ? (int)q[0].i : 0, &s, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, rc == SG_ENOTFOUND ? "no snapshot matches" : err);
        store_snapshot_fini(&s);
        return;
    }
    http_json(res, 200, api_enc_snapshot(&s));
    store_snapshot_fini(&s);
}

void api_h_trends(struct http_request *req, struct http_response *res)
{
    static const struct api_param p[] = {
        {"year", AP_INT, 2000, 2100, NULL},
        {"days", AP_INT, 1, 3660, NULL},
        {"contract", AP_CONTRACT, 0, 0, NULL},
    };
    struct api_qv q[3];
    if (api_query(req, res, p, 3, q)) return;
    int days = q[1].set ? (int)q[1].i : 90;
    struct store_snapshot_list l = {0};
    char err[SG_ERRLEN] = "";
    int rc = store_snapshot_get_trends(APP(req)->st, q[2].s, q[0].set ? (int)q[0].i : 0, days, &l, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, err);
        store_snapshot_list_free(&l);
        return;
    }
    json_t *points = json_array();
    for (size_t i = 0; points && i < l.n; i++) {
        const struct store_snapshot *s = &l.items[i];
        json_array_append_new(points, json_pack("{s:s,s:I,s:I,s:o,s:o,s:o}", "snapshot_date", s->snapshot_date,
                                                "total_members", (json_int_t)s->total_members, "total_gaps",
                                                (json_int_t)s->total_gaps, "star_rating_current",
                                                api_real(s->star_rating_current), "star_rating_projected",
                                                api_real(s->star_rating_projected), "estimated_value",
                                                api_real(s->estimated_value)));
    }
    http_json(res, 200, json_pack("{s:i,s:o,s:o}", "days", days, "year",
                                  q[0].set ? json_integer(q[0].i) : json_null(), "points",
                                  points ? points : json_array()));
    store_snapshot_list_free(&l);
}

void api_h_stars_latest(struct http_request *req, struct http_response *res)
{
    static const struct api_param p[] = {
        {"year", AP_INT, 2000, 2100, NULL},
        {"contract", AP_CONTRACT, 0, 0, NULL},
    };
    struct api_qv q[2];
    if (api_query(req, res, p, 2, q)) return;
    struct store_star_rating r;
    memset(&r, 0, sizeof r);
    char err[SG_ERRLEN] = "";
    int rc = store_star_rating_get_latest(APP(req)->st, q[1].s, q[0].set ? (int)q[0].i : 0, &r, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, rc == SG_ENOTFOUND ? "no star rating matches" : err);
        store_star_rating_fini(&r);
        return;
    }
    http_json(res, 200, api_enc_star_rating(&r));
    store_star_rating_fini(&r);
}

void api_h_stars_history(struct http_request *req, struct http_response *res)
{
    static const struct api_param p[] = {
        {"contract", AP_CONTRACT, 0, 0, NULL},
        {"limit", AP_INT, 1, STORE_MAX_LIMIT, NULL},
        {"offset", AP_INT, 0, 1000000000, NULL},
    };
    struct api_qv q[3];
    if (api_query(req, res, p, 3, q)) return;
    struct store_page pg = {.limit = q[1].set ? q[1].i : 50, .offset = q[2].set ? q[2].i : 0};
    struct store_star_rating_list l = {0};
    char err[SG_ERRLEN] = "";
    int rc = store_star_rating_get_history(APP(req)->st, q[0].s, &pg, &l, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, err);
        store_star_rating_list_free(&l);
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; items && i < l.n; i++) json_array_append_new(items, api_enc_star_rating(&l.items[i]));
    http_json(res, 200, api_page_doc(items, l.total, pg.limit, pg.offset, l.has_more));
    store_star_rating_list_free(&l);
}

void api_h_sim_get(struct http_request *req, struct http_response *res)
{
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q) || api_path_uuid(req, res, 0)) return;
    struct store_simulation s;
    memset(&s, 0, sizeof s);
    char err[SG_ERRLEN] = "";
    int rc = store_simulation_get(APP(req)->st, req->params[0], &s, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, rc == SG_ENOTFOUND ? "simulation not found" : err);
        store_simulation_fini(&s);
        return;
    }
    http_json(res, 200, api_enc_simulation(&s));
    store_simulation_fini(&s);
}

void api_h_sim_list(struct http_request *req, struct http_response *res)
{
    static const struct api_param p[] = {
        {"year", AP_INT, 2000, 2100, NULL},
        {"strategy", AP_NAME, 0, 0, NULL},
        {"contract", AP_CONTRACT, 0, 0, NULL},
        {"limit", AP_INT, 1, STORE_MAX_LIMIT, NULL},
        {"offset", AP_INT, 0, 1000000000, NULL},
    };
    struct api_qv q[5];
    if (api_query(req, res, p, 5, q)) return;
    struct store_sim_filter f = {.measurement_year = q[0].set ? (int)q[0].i : 0, .strategy = q[1].s,
                                 .contract_id = q[2].s,
                                 .page = {.limit = q[3].set ? q[3].i : 50, .offset = q[4].set ? q[4].i : 0}};
    struct store_simulation_list l = {0};
    char err[SG_ERRLEN] = "";
    int rc = store_simulation_get_recent(APP(req)->st, &f, &l, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, err);
        store_simulation_list_free(&l);
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; items && i < l.n; i++) json_array_append_new(items, api_enc_simulation(&l.items[i]));
    http_json(res, 200, api_page_doc(items, l.total, f.page.limit, f.page.offset, l.has_more));
    store_simulation_list_free(&l);
}

void api_h_sim_compare(struct http_request *req, struct http_response *res)
{
    static const char *const allowed[] = {"ids", NULL};
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q)) return;
    json_t *body = api_body(req, res, allowed);
    if (!body) return;
    const char *ids[20];
    json_t *arr = json_object_get(body, "ids");
    if (!arr) {
        http_error(req, res, 400, "invalid_input", "ids: is required");
        goto done;
    }
    if (!json_is_array(arr) || json_array_size(arr) < 2 || json_array_size(arr) > 20) {
        http_error(req, res, 400, "invalid_input", "ids: expected an array of 2 to 20 simulation ids");
        goto done;
    }
    size_t n = json_array_size(arr);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_string(v) || !sg_is_uuid(json_string_value(v))) {
            http_error(req, res, 400, "invalid_input", "ids[%zu]: expected a UUID", i);
            goto done;
        }
        ids[i] = json_string_value(v);
        for (size_t j = 0; j < i; j++) {
            if (!strcasecmp(ids[j], ids[i])) {
                http_error(req, res, 400, "invalid_input", "ids[%zu]: repeats ids[%zu]", i, j);
                goto done;
            }
        }
    }
    struct store_simulation_list l = {0};
    char err[SG_ERRLEN] = "";
    int rc = store_simulation_compare(APP(req)->st, ids, n, &l, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, err);
        store_simulation_list_free(&l);
        goto done;
    }
    json_t *items = json_array();
    for (size_t i = 0; items && i < l.n; i++) json_array_append_new(items, api_enc_simulation(&l.items[i]));
    http_json(res, 200, json_pack("{s:o}", "items", items ? items : json_array()));
    store_simulation_list_free(&l);
done:
    json_decref(body);
}
