/* h_interventions.c: interventions for one gap or a bundle of measures of one member; listing,
 * pending by date, status/outcome/schedule changes and completion (which closes the linked gaps
 * in the same transaction, inside the store). */
#include <string.h>
#include <time.h>

#include "api/api_internal.h"
#include "core/hash.h"

static const char *const iv_statuses[] = {"planned", "in_progress", "completed", "cancelled", NULL};

static int code_ok(const char *c)
{
    size_t n = strlen(c);
    if (n == 0 || n >= STORE_CODE_LEN) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((c[i] >= 'A' && c[i] <= 'Z') || (c[i] >= '0' && c[i] <= '9') || c[i] == '-')) return 0;
    return 1;
}

static json_t *iv_items(const struct store_intervention_list *l)
{
    json_t *items = json_array();
    for (size_t i = 0; items && i < l->n; i++) json_array_append_new(items, api_enc_intervention(&l->items[i]));
    return items;
}

void api_h_iv_create(struct http_request *req, struct http_response *res)
{
    static const char *const allowed[] = {"gap_id", "member_hash", "measure_codes", "intervention_type",
                                          "description", "estimated_cost", "estimated_value", "roi",
                                          "status", "scheduled_date", NULL};
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q)) return;
    json_t *body = api_body(req, res, allowed);
    if (!body) return;
    struct store_intervention iv;
    memset(&iv, 0, sizeof iv);
    const char *gap_id = NULL, *member, *type, *desc = NULL, *status = NULL, *sched = NULL;
    if (api_get_str(req, res, body, "gap_id", 0, 36, &gap_id) < 0 ||
        api_get_str(req, res, body, "member_hash", 1, 64, &member) < 0 ||
        api_get_str(req, res, body, "intervention_type", 1, STORE_NAME_LEN - 1, &type) < 0 ||
        api_get_str(req, res, body, "description", 0, STORE_TEXT_LEN - 1, &desc) < 0 ||
        api_get_real(req, res, body, "estimated_cost", 0, 0, 1e12, &iv.estimated_cost) < 0 ||
        api_get_real(req, res, body, "estimated_value", 0, 0, 1e12, &iv.estimated_value) < 0 ||
        api_get_real(req, res, body, "roi", 0, -1e6, 1e6, &iv.roi) < 0 ||
        api_get_str(req, res, body, "status", 0, 32, &status) < 0 ||
        api_get_str(req, res, body, "scheduled_date", 0, 10, &sched) < 0)
        goto done;
    if (gap_id && !sg_is_uuid(gap_id)) {
        http_error(req, res, 400, "invalid_input", "gap_id: expected a UUID");
        goto done;
    }
    if (!sg_is_hex64(member)) {
        http_error(req, res, 400, "invalid_input", "member_hash: expected 64 hexadecimal characters");
        goto done;
    }
    if (sched && !api_is_date(sched)) {
        http_error(req, res, 400, "invalid_input", "scheduled_date: expected a date YYYY-MM-DD");
        goto done;
    }
    iv.status = STORE_IV_PLANNED;
    if (status && (store_iv_status_parse(status, &iv.status) != SG_OK ||
                   (iv.status != STORE_IV_PLANNED && iv.status != STORE_IV_IN_PROGRESS))) {
        http_error(req, res, 400, "invalid_input", "status: a new intervention is planned or in_progress");
        goto done;
    }
    json_t *codes = json_object_get(body, "measure_codes");
    if (codes && !json_is_null(codes)) {
        if (!json_is_array(codes)) {
            http_error(req, res, 400, "invalid_input", "measure_codes: expected an array of strings");
            goto done;
        }
        size_t n = json_array_size(codes);
        if (n < 1 || n > STORE_MAX_CODES) {
            http_error(req, res, 400, "invalid_input", "measure_codes: must hold 1 to %d codes", STORE_MAX_CODES);
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            json_t *c = json_array_get(codes, i);
            if (!json_is_string(c) || !code_ok(json_string_value(c))) {
                http_error(req, res, 400, "invalid_input", "measure_codes[%zu]: expected a measure code such as BCS", i);
                goto done;
            }
            for (size_t j = 0; j < i; j++) {
                if (!strcmp(iv.measure_codes[j], json_string_value(c))) {
                    http_error(req, res, 400, "invalid_input", "measure_codes[%zu]: repeats a code", i);
                    goto done;
                }
            }
            http_copy(iv.measure_codes[i], STORE_CODE_LEN, json_string_value(c));
        }
        iv.n_measure_codes = (int)n;
    } else if (!gap_id) {
        http_error(req, res, 400, "invalid_input", "measure_codes: is required for a bundle (no gap_id)");
        goto done;
    }
    if (gap_id) http_copy(iv.gap_id, sizeof iv.gap_id, gap_id);
    http_copy(iv.member_hash, sizeof iv.member_hash, member);
    http_copy(iv.intervention_type, sizeof iv.intervention_type, type);
    if (desc) http_copy(iv.description, sizeof iv.description, desc);
    if (sched) http_copy(iv.scheduled_date, sizeof iv.scheduled_date, sched);
    iv.outcome = STORE_OUTCOME_NONE;

    struct store_actor a = ACTOR(req);
    char err[SG_ERRLEN] = "";
    int rc = store_intervention_create(APP(req)->st, &a, &iv, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, err);
        goto done;
    }
    struct store_intervention out;
    rc = store_intervention_get(APP(req)->st, iv.intervention_id, &out, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, err);
        goto done;
    }
    http_json(res, 201, api_enc_intervention(&out));
done:
    json_decref(body);
}

void api_h_iv_list(struct http_request *req, struct http_response *res)
{
    static const struct api_param p[] = {
        {"member", AP_HEX64, 0, 0, NULL},
        {"status", AP_ENUM, 0, 0, iv_statuses},
        {"limit", AP_INT, 1, STORE_MAX_LIMIT, NULL},
        {"offset", AP_INT, 0, 1000000000, NULL},
    };
    struct api_qv q[4];
    if (api_query(req, res, p, 4, q)) return;
    struct store_iv_filter f = {.member_hash = q[0].s, .has_status = q[1].set,
                                .status = (enum store_iv_status)q[1].i,
                                .page = {.limit = q[2].set ? q[2].i : 50, .offset = q[3].set ? q[3].i : 0}};
    struct store_actor a = ACTOR(req);
    struct store_intervention_list l = {0};
    char err[SG_ERRLEN] = "";
    int rc = store_intervention_list(APP(req)->st, &a, &f, &l, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, err);
        store_intervention_list_free(&l);
        return;
    }
    http_json(res, 200, api_page_doc(iv_items(&l), l.total, f.page.limit, f.page.offset, l.has_more));
    store_intervention_list_free(&l);
}

void api_h_iv_pending(struct http_request *req, struct http_response *res)
{
    static const struct api_param p[] = {
        {"date", AP_DATE, 0, 0, NULL},
        {"limit", AP_INT, 1, STORE_MAX_LIMIT, NULL},
        {"offset", AP_INT, 0, 1000000000, NULL},
    };
    struct api_qv q[3];
    if (api_query(req, res, p, 3, q)) return;
    char today[STORE_DATE_LEN];
    if (!q[0].set) {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(today, sizeof today, "%Y-%m-%d", &tm);
    }
    struct store_page pg = {.limit = q[1].set ? q[1].i : 50, .offset = q[2].set ? q[2].i : 0};
    struct store_intervention_list l = {0};
    char err[SG_ERRLEN] = "";
    int rc = store_intervention_get_pending(APP(req)->st, q[0].set ? q[0].s : today, &pg, &l, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, err);
        store_intervention_list_free(&l);
        return;
    }
    json_t *doc = api_page_doc(iv_items(&l), l.total, pg.limit, pg.offset, l.has_more);
    if (doc) json_object_set_new(doc, "date", json_string(q[0].set ? q[0].s : today));
    http_json(res, 200, doc);
    store_intervention_list_free(&l);
}

void api_h_iv_get(struct http_request *req, struct http_response *res)
{
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q) || api_path_uuid(req, res, 0)) return;
    struct store_intervention iv;
    char err[SG_ERRLEN] = "";
    int rc = store_intervention_get(APP(req)->st, req->params[0], &iv, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, rc == SG_ENOTFOUND ? "intervention not found" : err);
        return;
    }
    http_json(res, 200, api_enc_intervention(&iv));
}

void api_h_iv_patch(struct http_request *req, struct http_response *res)
{
    static const char *const allowed[] = {"status", "outcome", "scheduled_date", NULL};
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q) || api_path_uuid(req, res, 0)) return;
    json_t *body = api_body(req, res, allowed);
    if (!body) return;
    struct store_iv_update u;
    memset(&u, 0, sizeof u);
    const char *status = NULL, *outcome = NULL;
    if (api_get_str(req, res, body, "status", 0, 32, &status) < 0 ||
        api_get_str(req, res, body, "outcome", 0, 32, &outcome) < 0)
        goto done;
    if (status) {
        u.set_status = 1;
        if (store_iv_status_parse(status, &u.status) != SG_OK) {
            http_error(req, res, 400, "invalid_input", "status: must be one of planned, in_progress, completed, cancelled");
            goto done;
        }
        if (u.status == STORE_IV_COMPLETED) {
            http_error(req, res, 422, "invalid_transition",
                       "status: completion goes through POST /api/v1/interventions/{id}/complete");
            goto done;
        }
    }
    if (outcome) {
        u.set_outcome = 1;
        if (store_outcome_parse(outcome, &u.outcome) != SG_OK || u.outcome == STORE_OUTCOME_NONE) {
            http_error(req, res, 400, "invalid_input", "outcome: must be one of success, partial, failed");
            goto done;
        }
    }
    json_t *sd = json_object_get(body, "scheduled_date");
    if (sd) {
        u.set_scheduled_date = 1;
        if (json_is_null(sd)) {
            u.scheduled_date[0] = '\0';
        } else if (!json_is_string(sd) || !api_is_date(json_string_value(sd))) {
            http_error(req, res, 400, "invalid_input", "scheduled_date: expected a date YYYY-MM-DD or null");
            goto done;
        } else {
            http_copy(u.scheduled_date, sizeof u.scheduled_date, json_string_value(sd));
        }
    }
    if (!u.set_status && !u.set_outcome && !u.set_scheduled_date) {
        http_error(req, res, 400, "invalid_input", "nothing to change: give status, outcome or scheduled_date");
        goto done;
    }
    struct store_actor a = ACTOR(req);
    struct store_intervention out;
    char err[SG_ERRLEN] = "";
    int rc = store_intervention_update(APP(req)->st, &a, req->params[0], &u, &out, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, rc == SG_ENOTFOUND ? "intervention not found" : err);
        goto done;
    }
    http_json(res, 200, api_enc_intervention(&out));
done:
    json_decref(body);
}

void api_h_iv_complete(struct http_request *req, struct http_response *res)
{
    static const char *const allowed[] = {"outcome", NULL};
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q) || api_path_uuid(req, res, 0)) return;
    json_t *body = api_body(req, res, allowed);
    if (!body) return;
    const char *outcome;
    enum store_outcome o;
    if (api_get_str(req, res, body, "outcome", 1, 32, &outcome) < 0) goto done;
    if (store_outcome_parse(outcome, &o) != SG_OK || o == STORE_OUTCOME_NONE) {
        http_error(req, res, 400, "invalid_input", "outcome: must be one of success, partial, failed");
        goto done;
    }
    struct store_actor a = ACTOR(req);
    struct store_intervention out;
    int closed = 0;
    char err[SG_ERRLEN] = "";
    int rc = store_intervention_complete(APP(req)->st, &a, req->params[0], o, &out, &closed, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, rc == SG_ENOTFOUND ? "intervention not found" : err);
        goto done;
    }
    json_t *doc = api_enc_intervention(&out);
    if (doc) json_object_set_new(doc, "gaps_closed", json_integer(closed));
    http_json(res, 200, doc);
done:
    json_decref(body);
}
