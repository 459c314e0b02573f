/* h_fhir.c: the two FHIR operations of the measure engine (docs/MEASURES.md, docs/API.md).
 *
 *   POST /api/v1/fhir/Measure/{id}/$evaluate-measure?periodStart=&periodEnd=
 *        body: one patient Bundle -> the individual MeasureReport
 *   POST /api/v1/fhir/Measure/$care-gaps?periodStart=&periodEnd=[&measureId=LIST]
 *        body: one patient Bundle -> the DEQM gaps-in-care document Bundle
 *
 * Both compute and persist nothing (role reader). The engine (value sets) is loaded once at server
 * start from valuesets_dir (default data/valuesets; api_app.meas); with valuesets_dir = none both
 * answer 503. Errors found in the
 * request itself (parameters, the Bundle, an unknown measure) are answered as FHIR clients expect:
 * a FHIR OperationOutcome naming what is wrong (meas_error_outcome), 400 or 404, with
 * Content-Type application/fhir+json; errors of the HTTP layer (401, 403, 413, 415, 429) keep the
 * service's error shape. The patient model is allocated per request: it is a few small arrays,
 * far below the cost of parsing the Bundle. Nothing here logs the Bundle or any identifier. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/api_internal.h"
#include "measures/measures.h"

#define FHIR_JSON "application/fhir+json"

/* Answers with a FHIR resource (stolen). */
static void fhir_reply(struct http_response *res, int status, json_t *doc)
{
    http_json(res, status, doc);
    if (res->status == status) res->content_type = FHIR_JSON;
}

/* Answers status with an OperationOutcome for a struct meas_error (code, where, msg). */
static void fhir_fail(struct http_response *res, int status, const struct meas_error *e)
{
    /* The message may quote the client's data (a reference 'Patient/<id>', a date): it goes to
     * the client only. The request log (api_logs) gets the location, never a value. */
    snprintf(res->error_msg, sizeof res->error_msg, "invalid FHIR input%s%.120s",
             e->where[0] ? " at " : "", e->where);
    json_t *oo = meas_error_outcome(e);
    if (!oo) {
        http_error(NULL, res, 500, "internal_error", "out of memory");
        return;
    }
    fhir_reply(res, status, oo);
}

static void fhir_failf(struct http_response *res, int status, int code, const char *where,
                       const char *fmt, ...) SG_PRINTF(5, 6);
static void fhir_failf(struct http_response *res, int status, int code, const char *where,
                       const char *fmt, ...)
{
    struct meas_error e;
    memset(&e, 0, sizeof e);
    e.code = code;
    http_copy(e.where, sizeof e.where, where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof e.msg, fmt, ap);
    va_end(ap);
    fhir_fail(res, status, &e);
}

/* The engine, or a 503 when the server runs without value sets. */
static const struct meas_engine *engine_or_503(struct http_request *req, struct http_response *res)
{
    const struct meas_engine *eng = APP(req)->meas;
    if (!eng)
        http_error(req, res, 503, "unavailable",
                   "the measure engine is switched off on this server (valuesets_dir = none): set "
                   "valuesets_dir (STARGAP_VALUESETS_DIR) to a directory of FHIR ValueSet files "
                   "and restart");
    return eng;
}

/* Reads periodStart, periodEnd (required) and, when measure_ids is non-NULL, measureId
 * (optional, default all). Any other parameter is rejected. Returns 0, or -1 with the 400 set. */
static int read_params(struct http_request *req, struct http_response *res,
                       struct meas_period *period, unsigned *measure_ids)
{
    const char *ps = NULL, *pe = NULL, *mid = NULL;
    for (size_t i = 0; i < req->nquery; i++) {
        const char *k = req->query[i].key;
        if (!strcmp(k, "periodStart"))
            ps = req->query[i].value;
        else if (!strcmp(k, "periodEnd"))
            pe = req->query[i].value;
        else if (measure_ids && !strcmp(k, "measureId"))
            mid = req->query[i].value;
        else {
            fhir_failf(res, 400, SG_EINVAL, k, "unknown query parameter '%.64s' (accepted: %s)", k,
                       measure_ids ? "periodStart, periodEnd, measureId"
                                   : "periodStart, periodEnd");
            return -1;
        }
    }
    if (!ps || !*ps) {
        fhir_failf(res, 400, SG_EINVAL, "periodStart", "%s",
                   "periodStart is required (YYYY-MM-DD)");
        return -1;
    }
    if (!pe || !*pe) {
        fhir_failf(res, 400, SG_EINVAL, "periodEnd", "%s", "periodEnd is required (YYYY-MM-DD)");
        return -1;
    }
    struct meas_error e;
    memset(&e, 0, sizeof e);
    if (meas_period_parse(ps, pe, period, e.msg, sizeof e.msg) != SG_OK) {
        e.code = SG_EINVAL;
        /* the message starts with the parameter it is about */
        http_copy(e.where, sizeof e.where,
                  !strncmp(e.msg, "periodEnd", 9) ? "periodEnd" : "periodStart");
        fhir_fail(res, 400, &e);
        return -1;
    }
    if (measure_ids) {
        *measure_ids = 0;
        if (mid && !*mid) {
            fhir_failf(res, 400, SG_EINVAL, "measureId", "%s",
                       "measureId is empty (a comma-separated list of CMS ids or codes, or all)");
            return -1;
        }
        if (meas_parse_list(mid ? mid : "all", measure_ids, e.msg, sizeof e.msg) != SG_OK ||
            !*measure_ids) {
            e.code = SG_EINVAL;
            http_copy(e.where, sizeof e.where, "measureId");
            if (!e.msg[0]) snprintf(e.msg, sizeof e.msg, "measureId names no measure");
            fhir_fail(res, 400, &e);
            return -1;
        }
    }
    return 0;
}

/* Reads the request body into a new patient, or answers 400 and returns NULL. */
static struct meas_patient *read_patient(const struct meas_engine *eng, struct http_request *req,
                                         struct http_response *res)
{
    struct meas_patient *p = meas_patient_new();
    if (!p) {
        http_error(req, res, 500, "internal_error", "out of memory");
        return NULL;
    }
    struct meas_error e;
    memset(&e, 0, sizeof e);
    if (req->body_len == 0) {
        fhir_failf(res, 400, SG_EPARSE, "Bundle", "%s",
                   "the request body must be a FHIR Bundle holding one Patient");
        meas_patient_free(p);
        return NULL;
    }
    int rc = meas_patient_from_text(eng, req->body, req->body_len, p, &e);
    if (rc != SG_OK) {
        if (rc == SG_ENOMEM) {
            http_error(req, res, 500, "internal_error", "out of memory");
        } else {
            if (!e.msg[0]) snprintf(e.msg, sizeof e.msg, "%s", sg_strerror(rc));
            fhir_fail(res, 400, &e);
        }
        meas_patient_free(p);
        return NULL;
    }
    return p;
}

/* Both handlers validate the query before anything else (the route-table test probes them with
 * an unknown parameter and no application state). */
void api_h_fhir_evaluate(struct http_request *req, struct http_response *res)
{
    struct meas_period period;
    if (read_params(req, res, &period, NULL)) return;
    const struct meas_engine *eng = engine_or_503(req, res);
    if (!eng) return;
    enum meas_id id;
    const char *name = req->params[0];
    if (meas_parse_id(name, &id) != SG_OK) {
        fhir_failf(res, 404, SG_ENOTFOUND, "Measure",
                   "unknown Measure '%.120s' (CMS125, CMS130, CMS165, CMS122, CMS131 or BCS, COL, "
                   "CBP, GSD, EED)",
                   name);
        return;
    }
    struct meas_patient *p = read_patient(eng, req, res);
    if (!p) return;
    struct meas_pops pops;
    if (meas_evaluate(eng, p, id, &period, &pops) != SG_OK) {
        http_error(req, res, 500, "internal_error", "internal error");
        meas_patient_free(p);
        return;
    }
    json_t *mr = meas_report_individual(p, id, &period, &pops);
    meas_patient_free(p);
    if (!mr) {
        http_error(req, res, 500, "internal_error", "out of memory");
        return;
    }
    fhir_reply(res, 200, mr);
}

void api_h_fhir_care_gaps(struct http_request *req, struct http_response *res)
{
    struct meas_period period;
    unsigned mask = 0;
    if (read_params(req, res, &period, &mask)) return;
    const struct meas_engine *eng = engine_or_503(req, res);
    if (!eng) return;
    struct meas_patient *p = read_patient(eng, req, res);
    if (!p) return;
    enum meas_id ids[MEAS_COUNT];
    struct meas_pops pops[MEAS_COUNT];
    size_t n = 0;
    for (int m = 0; m < MEAS_COUNT; m++) {
        if (!(mask & (1u << m))) continue;
        ids[n] = (enum meas_id)m;
        if (meas_evaluate(eng, p, ids[n], &period, &pops[n]) != SG_OK) {
            http_error(req, res, 500, "internal_error", "internal error");
            meas_patient_free(p);
            return;
        }
        n++;
    }
    json_t *b = meas_gaps_bundle(p, ids, pops, n, &period);
    meas_patient_free(p);
    if (!b) {
        http_error(req, res, 500, "internal_error", "out of memory");
        return;
    }
    fhir_reply(res, 200, b);
}
