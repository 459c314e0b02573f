/* h_gaps.c: the measures catalog and care gaps (list with filters and total, high priority,
 * one gap, status changes through the store's transition table). */
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/jsonw.h"

static const char *const gap_statuses[] = {"identified", "assigned", "completed", "closed", NULL};
static const char *const gap_sorts[] = {"priority", "probability", NULL};

static json_t *gap_list_items(const struct store_gap_list *l)
{
    json_t *items = json_array();
    for (size_t i = 0; items && i < l->n; i++) json_array_append_new(items, api_enc_gap(&l->items[i]));
    return items;
}

static void send_gap(const struct http_request *req, struct http_response *res, const struct store_gap *g)
{
    struct sg_buf b;
    struct jw w;
    sg_buf_init(&b, 1u << 20);
    jw_init(&w, &b);
    jw_gap(&w, g);
    api_send_buf(req, res, 200, &b, w.err);
}

void api_h_measures_list(struct http_request *req, struct http_response *res)
{
    static const struct api_param p[] = {{"star_year", AP_INT, 2000, 2100, NULL}};
    struct api_qv q[1];
    if (api_query(req, res, p, 1, q)) return;
    struct store_measure_list l = {0};
    char err[SG_ERRLEN] = "";
    int rc = store_measure_list(APP(req)->st, q[0].set ? (int)q[0].i : 0, &l, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, err);
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; items && i < l.n; i++) json_array_append_new(items, api_enc_measure(&l.items[i]));
    http_json(res, 200, json_pack("{s:o,s:I}", "items", items ? items : json_array(), "total", (json_int_t)l.n));
    store_measure_list_free(&l);
}

/* Without star_year the newest catalog year that has the code answers. */
void api_h_measure_get(struct http_request *req, struct http_response *res)
{
    static const struct api_param p[] = {{"star_year", AP_INT, 2000, 2100, NULL}};
    struct api_qv q[1];
    if (api_query(req, res, p, 1, q)) return;
    const char *code = req->params[0];
    size_t n = strlen(code);
    int ok = n > 0 && n < STORE_CODE_LEN;
    for (size_t i = 0; ok && i < n; i++)
        ok = (code[i] >= 'A' && code[i] <= 'Z') || (code[i] >= '0' && code[i] <= '9') || code[i] == '-';
    if (!ok) {
        http_error(req, res, 400, "invalid_input", "path parameter 'code' must be a measure code such as BCS");
        return;
    }
    char err[SG_ERRLEN] = "";
    struct store_measure m;
    int rc;
    if (q[0].set) {
        rc = store_measure_get(APP(req)->st, (int)q[0].i, code, &m, err, sizeof err);
    } else {
        struct store_measure_list l = {0};
        rc = store_measure_list(APP(req)->st, 0, &l, err, sizeof err);
        int found = 0;
        for (size_t i = 0; rc == SG_OK && i < l.n; i++) {
            if (!strcmp(l.items[i].code, code) && (!found || l.items[i].star_year > m.star_year)) {
                m = l.items[i];
                found = 1;
            }
        }
        store_measure_list_free(&l);
        if (rc == SG_OK && !found) rc = SG_ENOTFOUND;
    }
    if (rc) {
        api_store_error(req, res, rc, rc == SG_ENOTFOUND ? "measure not found" : err);
        return;
    }
    http_json(res, 200, api_enc_measure(&m));
}

void api_h_gaps_list(struct http_request *req, struct http_response *res)
{
    static const struct api_param p[] = {
        {"measure", AP_CODE, 0, 0, NULL},
        {"status", AP_ENUM, 0, 0, gap_statuses},
        {"min_priority", AP_REAL, 0, 1e12, NULL},
        {"contract", AP_CONTRACT, 0, 0, NULL},
        {"year", AP_INT, 2000, 2100, NULL},
        {"limit", AP_INT, 1, STORE_MAX_LIMIT, NULL},
        {"offset", AP_INT, 0, 1000000000, NULL},
        {"sort", AP_ENUM, 0, 0, gap_sorts},
    };
    struct api_qv q[8];
    if (api_query(req, res, p, 8, q)) return;
    struct store_gap_filter f = {
        .measure_code = q[0].s,
        .has_status = q[1].set,
        .status = (enum store_gap_status)q[1].i,
        .min_priority = q[2].set ? q[2].d : NAN,
        .contract_id = q[3].s,
        .measurement_year = q[4].set ? (int)q[4].i : 0,
        .sort = q[7].set ? (enum store_gap_sort)q[7].i : STORE_SORT_PRIORITY,
        .page = {.limit = q[5].set ? q[5].i : 50, .offset = q[6].set ? q[6].i : 0},
    };
    struct store_gap_list l = {0};
    char err[SG_ERRLEN] = "";
    int rc = store_gap_get_with_filters(APP(req)->st, &f, &l, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, err);
        store_gap_list_free(&l);
        return;
    }
    /* the hot path: written directly (jsonw.h), same shape as api_page_doc of api_enc_gap */
    struct sg_buf b;
    struct jw w;
    sg_buf_init(&b, 64u << 20);
    jw_init(&w, &b);
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < l.n; i++) jw_gap(&w, &l.items[i]);
    jw_arr_end(&w);
    jw_key(&w, "total"); jw_int(&w, l.total);
    jw_key(&w, "limit"); jw_int(&w, f.page.limit);
    jw_key(&w, "offset"); jw_int(&w, f.page.offset);
    jw_key(&w, "has_more"); jw_bool(&w, l.has_more);
    jw_obj_end(&w);
    api_send_buf(req, res, 200, &b, w.err);
    store_gap_list_free(&l);
}

void api_h_gaps_high_priority(struct http_request *req, struct http_response *res)
{
    static const struct api_param p[] = {
        {"min_priority", AP_REAL, 0, 1e12, NULL},
        {"contract", AP_CONTRACT, 0, 0, NULL},
        {"limit", AP_INT, 1, STORE_MAX_LIMIT, NULL},
    };
    struct api_qv q[3];
    if (api_query(req, res, p, 3, q)) return;
    struct store_gap_list l = {0};
    char err[SG_ERRLEN] = "";
    long limit = q[2].set ? q[2].i : 50;
    int rc = store_gap_get_high_priority(APP(req)->st, q[0].set ? q[0].d : NAN, q[1].s, limit, &l,
                                         err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, err);
        store_gap_list_free(&l);
        return;
    }
    json_t *items = gap_list_items(&l);
    http_json(res, 200, json_pack("{s:o,s:I,s:i}", "items", items ? items : json_array(), "total",
                                  (json_int_t)l.n, "limit", (int)limit));
    store_gap_list_free(&l);
}

void api_h_gap_get(struct http_request *req, struct http_response *res)
{
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q) || api_path_uuid(req, res, 0)) return;
    struct store_gap g;
    char err[SG_ERRLEN] = "";
    int rc = store_gap_get(APP(req)->st, req->params[0], &g, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, rc == SG_ENOTFOUND ? "gap not found" : err);
        return;
    }
    send_gap(req, res, &g);
}

/* A gap status change started on the connection thread (HTTP_DEFERRABLE routes): it joins the
 * store's group commit without a thread waiting for it, and the answer is sent once the group
 * has committed (gap_status_finish, on a connection thread). */
struct gap_status_ctx {
    struct store_actor a;
    struct store_gap g;
    int rc;
    char err[SG_ERRLEN];
    struct http_deferral *d;
};

static void gap_status_done(void *arg, int rc, const char *err)
{
    struct gap_status_ctx *c = arg;
    c->rc = rc;
    snprintf(c->err, sizeof c->err, "%s", err);
    http_deferral_done(c->d);
}

static void gap_status_finish(struct http_request *req, struct http_response *res, void *ctx)
{
    struct gap_status_ctx *c = ctx;
    if (res && c->rc) api_store_error(req, res, c->rc, c->rc == SG_ENOTFOUND ? "gap not found" : c->err);
    else if (res) send_gap(req, res, &c->g);
    free(c);
}

/* Starts the change without waiting (1: deferred or requeued, nothing more to do here; 0: the
 * store refused it at once and res holds the error). */
static int gap_status_start(struct http_request *req, struct http_response *res,
                            enum store_gap_status to)
{
    struct gap_status_ctx *c = calloc(1, sizeof *c);
    if (c) {
        c->a = (struct store_actor)ACTOR(req);
        c->d = http_defer(req, gap_status_finish, c);
        char err[SG_ERRLEN] = "";
        int rc = store_gap_update_status_submit(APP(req)->st, &c->a, req->params[0], to, &c->g,
                                                gap_status_done, c, err, sizeof err);
        if (rc == SG_OK) return 1;
        http_defer_cancel(c->d);
        free(c);
        if (rc != SG_EUNSUPPORTED) {
            api_store_error(req, res, rc, err);
            return 0;
        }
    }
    http_requeue(req); /* no asynchronous path (or no memory for one): a queue worker waits */
    return 1;
}

static void gap_set_status(struct http_request *req, struct http_response *res,
                           enum store_gap_status to)
{
    if (req->can_defer) {
        gap_status_start(req, res, to);
        return;
    }
    struct store_actor a = ACTOR(req);
    struct store_gap g;
    char err[SG_ERRLEN] = "";
    int rc = store_gap_update_status(APP(req)->st, &a, req->params[0], to, &g, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, rc == SG_ENOTFOUND ? "gap not found" : err);
        return;
    }
    send_gap(req, res, &g);
}

void api_h_gap_patch(struct http_request *req, struct http_response *res)
{
    static const char *const allowed[] = {"status", NULL};
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q) || api_path_uuid(req, res, 0)) return;
    json_t *body = api_body(req, res, allowed);
    if (!body) return;
    const char *status;
    enum store_gap_status to;
    if (api_get_str(req, res, body, "status", 1, 32, &status) < 0) goto done;
    if (store_gap_status_parse(status, &to) != SG_OK) {
        http_error(req, res, 400, "invalid_input", "status: must be one of identified, assigned, completed, closed");
        goto done;
    }
    gap_set_status(req, res, to);
done:
    json_decref(body);
}

/* POST /gaps/{id}/close takes no body (or an empty object). */
void api_h_gap_close(struct http_request *req, struct http_response *res)
{
    static const char *const allowed[] = {NULL};
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q) || api_path_uuid(req, res, 0)) return;
    if (req->body_len) {
        json_t *body = api_body(req, res, allowed);
        if (!body) return;
        json_decref(body);
    }
    gap_set_status(req, res, STORE_GAP_CLOSED);
}
