/* h_predict.c: the prediction endpoints (issue 6).
 *
 *   POST /api/v1/predict/{measure_code}         one member, one measure
 *   POST /api/v1/predict/batch/{measure_code}   up to 1,000 members, one measure
 *   POST /api/v1/predict/portfolio              one member, every modelled measure
 *   GET  /api/v1/predictions/{id}
 *
 * A prediction comes from the measure's latest stored model (stargap train) applied to the
 * member's data in the store (features from measurement_year - 1, built by src/pipeline exactly
 * as for `stargap predict`) and is stored in predictions (UNIQUE per member, measure, year and
 * model version: asking again returns the stored row). An unknown measure or member, a member
 * outside the measure's denominator, or a measure without a trained model is a 4xx, never a
 * made-up number. A raw member_id is hashed at once and never logged, stored or returned. */
#include <string.h>
#include <time.h>

#include "api/api_internal.h"
#include "core/hash.h"
#include "core/memberid.h"
#include "model/features.h"
#include "pipeline/pipeline.h"

#define BATCH_MAX 1000

/* Risk-tier thresholds from the configuration (risk_high_pct, risk_medium_pct). */
static struct pl_tiers tiers_of(const struct http_request *req)
{
    const struct sg_config *c = APP(req)->cfg;
    struct pl_tiers t = {0.7, 0.4};
    if (c && c->risk_medium_pct <= c->risk_high_pct) {
        t.high = (double)c->risk_high_pct / 100.0;
        t.medium = (double)c->risk_medium_pct / 100.0;
    }
    return t;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The measure code of path parameter 0: 404 unless it is one of the modelled measures. */
static const char *path_measure(const struct http_request *req, struct http_response *res)
{
    const char *code = req->params[0];
    if (!code || features_measure_index(code) < 0) {
        http_error(req, res, 404, "not_found",
                   "measure_code: unknown measure (modelled: BCS COL CBP GSD EED KED BPD SUPD "
                   "PDC-DR PDC-RASA PDC-STA)");
        return NULL;
    }
    return code;
}

static int get_bool(const struct http_request *req, struct http_response *res, json_t *body,
                    const char *name, int *out)
{
    json_t *v = json_object_get(body, name);
    *out = 0;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) {
        http_error(req, res, 400, "invalid_input", "%s: expected a boolean", name);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

/* member_hash from a JSON string that is a raw member_id (hashed, then wiped) or a hash. */
static int member_of(const struct http_request *req, struct http_response *res, json_t *v,
                     int is_raw, const char *field, char hash[STORE_HASH_LEN])
{
    const char *s = json_string_value(v);
    if (!s) {
        http_error(req, res, 400, "invalid_input", "%s: expected a string", field);
        return -1;
    }
    if (is_raw) {
        char err[SG_ERRLEN] = "";
        int rc = sg_memberid_hash(APP(req)->member, s, hash, err, sizeof err);
        memset((char *)s, 0, json_string_length(v)); /* the raw ID is not kept */
        if (rc) {
            http_error(req, res, 400, "invalid_input", "%s: not a valid member ID", field);
            return -1;
        }
        return 0;
    }
    if (!sg_is_hex64(s)) {
        http_error(req, res, 400, "invalid_input", "%s: must be 64 hex characters", field);
        return -1;
    }
    for (int i = 0; i < 64; i++)
        hash[i] = (char)((s[i] >= 'A' && s[i] <= 'F') ? s[i] + 32 : s[i]);
    hash[64] = '\0';
    return 0;
}

/* Exactly one of member_id / member_hash. */
static int body_member(const struct http_request *req, struct http_response *res, json_t *body,
                       char hash[STORE_HASH_LEN])
{
    json_t *id = json_object_get(body, "member_id"), *h = json_object_get(body, "member_hash");
    if ((id && h) || (!id && !h)) {
        http_error(req, res, 400, "invalid_input",
                   "member_id or member_hash: exactly one is required");
        return -1;
    }
    return member_of(req, res, id ? id : h, id != NULL, id ? "member_id" : "member_hash", hash);
}

static json_t *enc_prediction(const struct store_prediction *p, int include_shap)
{
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "prediction_id", json_string(p->prediction_id));
    json_object_set_new(o, "member_hash", json_string(p->member_hash));
    json_object_set_new(o, "measure_code", json_string(p->measure_code));
    json_object_set_new(o, "measurement_year", json_integer(p->measurement_year));
    json_object_set_new(o, "gap_probability", api_real(p->gap_probability));
    json_object_set_new(o, "risk_tier", json_string(store_risk_tier_name((int)p->risk_tier)));
    json_object_set_new(o, "risk_score", api_real(p->risk_score));
    if (include_shap) json_object_set_new(o, "shap_values", api_json_text(p->shap_values));
    json_object_set_new(o, "top_features", api_json_text(p->top_features));
    json_object_set_new(o, "recommendation", api_strn(p->recommendation));
    json_object_set_new(o, "model_version", json_string(p->model_version));
    json_object_set_new(o, "prediction_date", api_strn(p->prediction_date));
    return o;
}

/* The stored prediction of (member, measure, year, model version), if any. */
static int find_existing(struct store *st, const struct store_prediction *p,
                         struct store_prediction *out, char *err, size_t errlen)
{
    struct store_prediction_list l;
    struct store_page pg = {STORE_MAX_LIMIT, 0};
    int rc = store_prediction_get_by_member(st, p->member_hash, p->measure_code,
                                            p->measurement_year, &pg, &l, err, errlen);
    if (rc) return rc;
    rc = SG_ENOTFOUND;
    for (size_t i = 0; i < l.n && rc == SG_ENOTFOUND; i++)
        if (!strcmp(l.items[i].model_version, p->model_version)) {
            *out = l.items[i];
            memset(&l.items[i], 0, sizeof l.items[i]); /* ownership of the JSON moves to out */
            rc = SG_OK;
        }
    store_prediction_list_free(&l);
    return rc;
}

/* Scores one member and stores the prediction (or takes the stored one). *created says which.
 * On a client-side failure (unknown member, outside the denominator) returns the store code with
 * err set; the caller decides how to answer. */
static int predict_one(struct http_request *req, const struct pl_model *pm, const char *hash,
                       const char *code, int year, struct store_prediction *out, int *created,
                       char *err, size_t errlen)
{
    struct api_app *app = APP(req);
    struct pl_member_score sc;
    *created = 0;
    memset(out, 0, sizeof *out);
    struct pl_tiers tiers = tiers_of(req);
    int rc = pl_score_member(app->st, pm, hash, code, year, &tiers, 1, &sc, err, errlen);
    if (rc == SG_ENOTFOUND)
        return sg_errf(err, errlen, SG_ENOTFOUND, "member_hash: no such member");
    if (rc) return rc;
    struct store_actor a = ACTOR(req);
    struct store_prediction existing;
    memset(&existing, 0, sizeof existing);
    rc = find_existing(app->st, &sc.pred, &existing, err, errlen);
    if (rc == SG_OK) {
        store_prediction_fini(&sc.pred);
        *out = existing;
        return SG_OK;
    }
    if (rc != SG_ENOTFOUND) {
        store_prediction_fini(&sc.pred);
        return rc;
    }
    rc = store_prediction_create(app->st, &a, &sc.pred, err, errlen);
    if (rc) {
        store_prediction_fini(&sc.pred);
        return rc;
    }
    *created = 1;
    *out = sc.pred;
    return SG_OK;
}

static int load_model(const struct http_request *req, struct http_response *res, const char *code,
                      struct pl_model *pm)
{
    char err[SG_ERRLEN] = "";
    int rc = pl_model_load_latest(APP(req)->st, code, pm, err, sizeof err);
    if (rc == SG_ENOTFOUND) {
        http_error(req, res, 404, "model_not_found", "%s: no trained model (run stargap train)",
                   code);
        return -1;
    }
    if (rc) {
        api_store_error(req, res, rc, err);
        return -1;
    }
    return 0;
}

/* Answers a predict_one failure: outside the denominator is 422, unknown member 404. */
static void predict_error(const struct http_request *req, struct http_response *res, int rc,
                          const char *err)
{
    if (rc == SG_EINVAL && strstr(err, "not in the"))
        http_error(req, res, 422, "not_in_denominator", "%s", err);
    else if (rc == SG_ECONFLICT && strstr(err, "already closed"))
        http_error(req, res, 422, "gap_closed", "%s", err);
    else
        api_store_error(req, res, rc, err);
}

void api_h_predict(struct http_request *req, struct http_response *res)
{
    static const char *const allowed[] = {"member_id", "member_hash", "measurement_year",
                                          "include_shap", NULL};
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q)) return;
    const char *code = path_measure(req, res);
    if (!code) return;
    json_t *body = api_body(req, res, allowed);
    if (!body) return;
    char hash[STORE_HASH_LEN];
    long year;
    int shap;
    struct pl_model pm = {0};
    if (body_member(req, res, body, hash) ||
        api_get_int(req, res, body, "measurement_year", 1, 2001, 2100, &year) < 0 ||
        get_bool(req, res, body, "include_shap", &shap) || load_model(req, res, code, &pm))
        goto done;
    struct store_prediction p;
    char err[SG_ERRLEN] = "";
    int created;
    int rc = predict_one(req, &pm, hash, code, (int)year, &p, &created, err, sizeof err);
    if (rc) {
        predict_error(req, res, rc, err);
        goto done;
    }
    json_t *doc = enc_prediction(&p, shap);
    if (doc) json_object_set_new(doc, "created", json_boolean(created));
    store_prediction_fini(&p);
    http_json(res, created ? 201 : 200, doc);
done:
    pl_model_fini(&pm);
    json_decref(body);
}

void api_h_predict_batch(struct http_request *req, struct http_response *res)
{
    static const char *const allowed[] = {"member_ids", "member_hashes", "measurement_year",
                                          "include_shap", NULL};
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q)) return;
    const char *code = path_measure(req, res);
    if (!code) return;
    double t0 = mono_ms();
    json_t *body = api_body(req, res, allowed);
    if (!body) return;
    long year;
    int shap;
    struct pl_model pm = {0};
    json_t *ids = json_object_get(body, "member_ids"),
           *hashes = json_object_get(body, "member_hashes");
    json_t *list = ids ? ids : hashes;
    const char *field = ids ? "member_ids" : "member_hashes";
    if ((ids && hashes) || !list) {
        http_error(req, res, 400, "invalid_input",
                   "member_ids or member_hashes: exactly one is required");
        goto done;
    }
    if (!json_is_array(list) || json_array_size(list) < 1 || json_array_size(list) > BATCH_MAX) {
        http_error(req, res, 400, "invalid_input", "%s: an array of 1..%d members", field,
                   BATCH_MAX);
        goto done;
    }
    if (api_get_int(req, res, body, "measurement_year", 1, 2001, 2100, &year) < 0 ||
        get_bool(req, res, body, "include_shap", &shap))
        goto done;
    size_t n = json_array_size(list);
    char(*h)[STORE_HASH_LEN] = malloc(n * sizeof *h);
    if (!h) {
        http_error_from_err(req, res, SG_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        char f[48];
        snprintf(f, sizeof f, "%s[%zu]", field, i);
        if (member_of(req, res, json_array_get(list, i), ids != NULL, f, h[i])) {
            free(h);
            goto done;
        }
    }
    if (load_model(req, res, code, &pm)) {
        free(h);
        goto done;
    }
    json_t *preds = json_array(), *errors = json_array();
    long tier_count[3] = {0, 0, 0};
    long created_n = 0;
    int fatal = 0;
    for (size_t i = 0; i < n && !fatal; i++) {
        struct store_prediction p;
        char err[SG_ERRLEN] = "";
        int created;
        int rc = predict_one(req, &pm, h[i], code, (int)year, &p, &created, err, sizeof err);
        if (rc == SG_EINVAL || rc == SG_ENOTFOUND ||
            (rc == SG_ECONFLICT && strstr(err, "already closed"))) {
            json_t *e = json_object();
            json_object_set_new(e, "index", json_integer((json_int_t)i));
            json_object_set_new(e, "member_hash", json_string(h[i]));
            json_object_set_new(e, "code",
                                json_string(rc == SG_ENOTFOUND          ? "not_found"
                                            : rc == SG_ECONFLICT        ? "gap_closed"
                                            : strstr(err, "not in the") ? "not_in_denominator"
                                                                        : "invalid_input"));
            json_object_set_new(e, "message", json_string(err));
            json_array_append_new(errors, e);
            continue;
        }
        if (rc) {
            api_store_error(req, res, rc, err);
            fatal = 1;
            break;
        }
        tier_count[p.risk_tier]++;
        created_n += created;
        json_array_append_new(preds, enc_prediction(&p, shap));
        store_prediction_fini(&p);
    }
    free(h);
    if (fatal) {
        json_decref(preds);
        json_decref(errors);
        goto done;
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "measure_code", json_string(code));
    json_object_set_new(doc, "measurement_year", json_integer(year));
    json_object_set_new(doc, "model_version", json_string(pm.version));
    json_object_set_new(doc, "requested", json_integer((json_int_t)n));
    json_object_set_new(doc, "count", json_integer((json_int_t)json_array_size(preds)));
    json_object_set_new(doc, "created", json_integer(created_n));
    json_t *bt = json_object();
    json_object_set_new(bt, "high", json_integer(tier_count[STORE_TIER_HIGH]));
    json_object_set_new(bt, "medium", json_integer(tier_count[STORE_TIER_MEDIUM]));
    json_object_set_new(bt, "low", json_integer(tier_count[STORE_TIER_LOW]));
    json_object_set_new(doc, "by_tier", bt);
    json_object_set_new(doc, "predictions", preds);
    json_object_set_new(doc, "errors", errors);
    json_object_set_new(doc, "processing_time_ms", api_real(mono_ms() - t0));
    http_json(res, 200, doc);
done:
    pl_model_fini(&pm);
    json_decref(body);
}

/* Star weight of a measure for the star year that uses measurement year `year` (year + 2), or
 * the newest catalog year that has it; BPD (not a Star measure) has weight 0 and gets 1 so an
 * open BPD gap still counts. */
static double measure_weight(struct store *st, const char *code, int year)
{
    struct store_measure m;
    char err[SG_ERRLEN];
    if (store_measure_get(st, year + 2, code, &m, err, sizeof err) == SG_OK)
        return m.weight > 0 ? m.weight : 1.0;
    struct store_measure_list l;
    double w = 1.0;
    if (store_measure_list(st, 0, &l, err, sizeof err) == SG_OK) {
        for (size_t i = 0; i < l.n; i++)
            if (!strcmp(l.items[i].code, code) && l.items[i].weight > 0) w = l.items[i].weight;
        store_measure_list_free(&l);
    }
    return w;
}

void api_h_predict_portfolio(struct http_request *req, struct http_response *res)
{
    static const char *const allowed[] = {"member_id", "member_hash", "measurement_year",
                                          "include_shap", NULL};
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q)) return;
    json_t *body = api_body(req, res, allowed);
    if (!body) return;
    char hash[STORE_HASH_LEN];
    long year;
    int shap;
    if (body_member(req, res, body, hash) ||
        api_get_int(req, res, body, "measurement_year", 1, 2001, 2100, &year) < 0 ||
        get_bool(req, res, body, "include_shap", &shap))
        goto done;
    struct api_app *app = APP(req);
    char err[SG_ERRLEN] = "";
    struct store_member mem;
    int rc = store_member_get(app->st, hash, &mem, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, rc == SG_ENOTFOUND ? "member_hash: no such member" : err);
        goto done;
    }
    struct store_measure_result_list cur;
    if ((rc =
             store_measure_result_get_by_member(app->st, hash, (int)year, &cur, err, sizeof err))) {
        api_store_error(req, res, rc, err);
        goto done;
    }
    json_t *preds = json_array(), *skipped = json_array();
    double priority = 0;
    long gaps = 0, eligible = 0;
    int fatal = 0;
    for (int k = 0; k < FEATURES_N_MEASURES && !fatal; k++) {
        const char *code = features_measures[k];
        const char *why = "not_in_denominator";
        for (size_t i = 0; i < cur.n; i++)
            if (!strcmp(cur.items[i].measure_code, code) && cur.items[i].denominator &&
                !cur.items[i].denominator_exclusion)
                why = cur.items[i].numerator ? "gap_closed" : NULL;
        if (why && strcmp(why, "gap_closed") == 0) eligible++;
        struct pl_model pm = {0};
        if (!why) {
            eligible++;
            int lrc = pl_model_load_latest(app->st, code, &pm, err, sizeof err);
            if (lrc == SG_ENOTFOUND)
                why = "no_trained_model";
            else if (lrc) {
                api_store_error(req, res, lrc, err);
                fatal = 1;
                break;
            }
        }
        if (why) {
            json_t *s = json_object();
            json_object_set_new(s, "measure_code", json_string(code));
            json_object_set_new(s, "reason", json_string(why));
            json_array_append_new(skipped, s);
            continue;
        }
        struct store_prediction p;
        int created;
        rc = predict_one(req, &pm, hash, code, (int)year, &p, &created, err, sizeof err);
        pl_model_fini(&pm);
        if (rc) {
            api_store_error(req, res, rc, err);
            fatal = 1;
            break;
        }
        gaps++;
        double w = measure_weight(app->st, code, (int)year);
        priority += p.gap_probability * w;
        json_t *e = enc_prediction(&p, shap);
        json_object_set_new(e, "star_weight", api_real(w));
        json_array_append_new(preds, e);
        store_prediction_fini(&p);
    }
    store_measure_result_list_free(&cur);
    if (fatal) {
        json_decref(preds);
        json_decref(skipped);
        goto done;
    }
    if (eligible == 0) {
        json_decref(preds);
        json_decref(skipped);
        http_error(req, res, 422, "not_in_denominator",
                   "member_hash: member in no measure's denominator for %ld", year);
        goto done;
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "member_hash", json_string(hash));
    json_object_set_new(doc, "measurement_year", json_integer(year));
    json_object_set_new(doc, "total_gaps", json_integer(gaps));
    json_object_set_new(doc, "priority_score", api_real(priority));
    json_object_set_new(doc, "priority_tier",
                        json_string(priority >= 3.0   ? "high"
                                    : priority >= 1.0 ? "medium"
                                                      : "low"));
    json_object_set_new(doc, "predictions", preds);
    json_object_set_new(doc, "skipped", skipped);
    http_json(res, 200, doc);
done:
    json_decref(body);
}

void api_h_prediction_get(struct http_request *req, struct http_response *res)
{
    static const char *const bools[] = {"true", "false", NULL};
    static const struct api_param params[] = {{"include_shap", AP_ENUM, 0, 0, bools}};
    struct api_qv q[1];
    if (api_query(req, res, params, 1, q)) return;
    if (api_path_uuid(req, res, 0)) return;
    struct store_prediction p;
    char err[SG_ERRLEN] = "";
    int rc = store_prediction_get(APP(req)->st, req->params[0], &p, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, err);
        return;
    }
    int shap = !q[0].set || !strcmp(q[0].s, "true");
    http_json(res, 200, enc_prediction(&p, shap));
    store_prediction_fini(&p);
}
