/* api_internal.h: helpers shared by the handler files of src/api/ (not a public interface):
 * strict JSON bodies, query parameter validation and row encoders. Every helper that rejects
 * input has already filled the response with a 400 naming the field or parameter; the handler
 * just returns. */
#ifndef SG_API_INTERNAL_H
#define SG_API_INTERNAL_H

#include <jansson.h>
#include <math.h>

#include "api/api.h"
#include "db/store.h"
#include "http/http.h"

#define APP(req) ((struct api_app *)(req)->app)
#define ACTOR(req) {.user_id = (req)->key_name, .ip_address = (req)->client_ip}

/* ---- query parameters ---- */

enum api_ptype {
    AP_INT,      /* decimal integer within [min, max] */
    AP_REAL,     /* decimal number within [min, max] */
    AP_UUID,     /* canonical UUID */
    AP_HEX64,    /* 64 hex characters */
    AP_DATE,     /* YYYY-MM-DD, a real calendar date */
    AP_ENUM,     /* one of choices (NULL-terminated) */
    AP_CODE,     /* measure code: 1..15 of [A-Z0-9-] */
    AP_CONTRACT, /* contract id: 1..15 of [A-Z0-9] */
    AP_NAME,     /* 1..127 of [A-Za-z0-9_.:/{}-] (endpoint templates, strategies, entity types) */
};

struct api_param {
    const char *name;
    enum api_ptype type;
    double min, max;
    const char *const *choices;
};

struct api_qv {
    int set;
    long i;
    double d;
    const char *s; /* borrowed from the request */
};

/* Validates every query parameter against specs (n entries); out[i] describes specs[i]. An
 * unknown parameter, an empty value or a bad value gives 400 naming it and returns -1. */
int api_query(const struct http_request *req, struct http_response *res,
              const struct api_param *specs, size_t n, struct api_qv *out);

/* True when s is a valid YYYY-MM-DD calendar date. */
int api_is_date(const char *s);

/* Validates a path parameter: 400 naming it unless it is a UUID / 64-hex hash. Returns -1 on
 * rejection, 0 when valid. */
int api_path_uuid(const struct http_request *req, struct http_response *res, size_t i);
int api_path_hex64(const struct http_request *req, struct http_response *res, size_t i);

/* ---- JSON bodies ---- */

/* Decodes the request body as one JSON object: rejects an empty body, malformed JSON, invalid
 * UTF-8, duplicate keys, a top level other than an object, and any member not listed in
 * `allowed` (NULL-terminated). Returns the object (caller json_decref) or NULL with 400 set. */
json_t *api_body(const struct http_request *req, struct http_response *res,
                 const char *const *allowed);

/* Field getters. `required`: absent -> 400. Present with the wrong type or out of range -> 400
 * naming the field and the expected type. Return 1 when set, 0 when absent (optional), -1 on a
 * rejected value. A JSON null counts as absent for optional fields. */
int api_get_str(const struct http_request *req, struct http_response *res, json_t *obj,
                const char *field, int required, size_t maxlen, const char **out);
int api_get_real(const struct http_request *req, struct http_response *res, json_t *obj,
                 const char *field, int required, double min, double max, double *out);
int api_get_int(const struct http_request *req, struct http_response *res, json_t *obj,
                const char *field, int required, long min, long max, long *out);

/* ---- responses ---- */

/* Answers from a store error: 400/404/409/422 with the store's message, 500/503 generic. */
void api_store_error(const struct http_request *req, struct http_response *res, int rc,
                     const char *err);

/* Encoders: new JSON values (caller owns). NAN reals and "" strings become null. */
json_t *api_real(double v);
json_t *api_strn(const char *s); /* "" -> null */
json_t *api_json_text(const char *text); /* embedded JSON column text -> value; NULL -> null */
json_t *api_enc_member(const struct store_member *m);
json_t *api_enc_gap(const struct store_gap *g);
json_t *api_enc_intervention(const struct store_intervention *iv);
json_t *api_enc_snapshot(const struct store_snapshot *s);
json_t *api_enc_star_rating(const struct store_star_rating *r);
json_t *api_enc_simulation(const struct store_simulation *s);
json_t *api_enc_measure(const struct store_measure *m);
json_t *api_enc_audit(const struct store_audit *a);
json_t *api_enc_api_log(const struct store_api_log *l);
json_t *api_enc_history_item(const struct store_history_item *h);

/* Sends the text written into b (a struct jw's buffer) as JSON with `status`; a writer error
 * (jw_err != SG_OK) becomes a 500. b is emptied either way. */
void api_send_buf(const struct http_request *req, struct http_response *res, int status,
                  struct sg_buf *b, int jw_err);

/* {"items":[...],"total":T,"limit":L,"offset":O,"has_more":B} taking items (stolen). */
json_t *api_page_doc(json_t *items, long long total, long limit, long offset, int has_more);

/* Handlers, one group per file. */
void api_h_health(struct http_request *req, struct http_response *res);
void api_h_live(struct http_request *req, struct http_response *res);
void api_h_ready(struct http_request *req, struct http_response *res);
void api_h_metrics(struct http_request *req, struct http_response *res);
void api_h_openapi(struct http_request *req, struct http_response *res);

void api_h_member_create(struct http_request *req, struct http_response *res);
void api_h_member_get(struct http_request *req, struct http_response *res);
void api_h_member_history(struct http_request *req, struct http_response *res);
void api_h_member_bundles(struct http_request *req, struct http_response *res);

void api_h_measures_list(struct http_request *req, struct http_response *res);
void api_h_measure_get(struct http_request *req, struct http_response *res);

void api_h_gaps_list(struct http_request *req, struct http_response *res);
void api_h_gaps_high_priority(struct http_request *req, struct http_response *res);
void api_h_gap_get(struct http_request *req, struct http_response *res);
void api_h_gap_patch(struct http_request *req, struct http_response *res);
void api_h_gap_close(struct http_request *req, struct http_response *res);

void api_h_iv_create(struct http_request *req, struct http_response *res);
void api_h_iv_list(struct http_request *req, struct http_response *res);
void api_h_iv_pending(struct http_request *req, struct http_response *res);
void api_h_iv_get(struct http_request *req, struct http_response *res);
void api_h_iv_patch(struct http_request *req, struct http_response *res);
void api_h_iv_complete(struct http_request *req, struct http_response *res);

void api_h_snapshots(struct http_request *req, struct http_response *res);
void api_h_snapshot_latest(struct http_request *req, struct http_response *res);
void api_h_trends(struct http_request *req, struct http_response *res);

void api_h_stars_latest(struct http_request *req, struct http_response *res);
void api_h_stars_history(struct http_request *req, struct http_response *res);
void api_h_sim_get(struct http_request *req, struct http_response *res);
void api_h_sim_list(struct http_request *req, struct http_response *res);
void api_h_sim_compare(struct http_request *req, struct http_response *res);

void api_h_fhir_evaluate(struct http_request *req, struct http_response *res);
void api_h_fhir_care_gaps(struct http_request *req, struct http_response *res);

void api_h_admin_stats(struct http_request *req, struct http_response *res);
void api_h_admin_slowest(struct http_request *req, struct http_response *res);
void api_h_admin_errors(struct http_request *req, struct http_response *res);
void api_h_admin_audit(struct http_request *req, struct http_response *res);
void api_h_admin_audit_recent(struct http_request *req, struct http_response *res);
void api_h_admin_audit_verify(struct http_request *req, struct http_response *res);

/* h_decide.c (issue 7, and the issue-4 star-rating endpoint) */
void api_h_portfolio_optimize(struct http_request *req, struct http_response *res);
void api_h_analytics_simulate(struct http_request *req, struct http_response *res);
void api_h_portfolio_summary(struct http_request *req, struct http_response *res);
void api_h_priority_list(struct http_request *req, struct http_response *res);
void api_h_analytics_roi(struct http_request *req, struct http_response *res);
void api_h_measure_performance(struct http_request *req, struct http_response *res);
void api_h_star_rating(struct http_request *req, struct http_response *res);
/* h_predict.c (issue 6) */
void api_h_predict(struct http_request *req, struct http_response *res);
void api_h_predict_batch(struct http_request *req, struct http_response *res);
void api_h_predict_portfolio(struct http_request *req, struct http_response *res);
void api_h_prediction_get(struct http_request *req, struct http_response *res);

/* The common head of a handler's context while its store operation runs without a waiting
 * thread (HTTP_DEFERRABLE routes, http.h): the operation's result and the deferral to finish.
 * A context struct embeds it as its FIRST member. */
struct api_deferred {
    int rc;
    char err[SG_ERRLEN];
    struct http_deferral *d;
};

/* store_done_fn for a context that begins with struct api_deferred: records rc and err and lets
 * the server finish the request (http_deferral_done). */
void api_deferred_done(void *arg, int rc, const char *err);

#endif
