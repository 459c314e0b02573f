/* engine.c: the engine object (loaded value sets), measure catalog, period parsing and the
 * evaluation entry point that turns the CQL booleans of a measure into FHIR population
 * memberships. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "measures/engine_int.h"
#include "measures/model.h"

static const struct meas_info infos[MEAS_COUNT] = {
    {"CMS125", "BCS", "BreastCancerScreeningFHIR", "Breast Cancer Screening",
     "https://madie.cms.gov/Measure/BreastCancerScreeningFHIR", 0},
    {"CMS130", "COL", "ColonCancerScreeningFHIR", "Colorectal Cancer Screening",
     "https://madie.cms.gov/Measure/ColonCancerScreeningFHIR", 0},
    {"CMS165", "CBP", "ControllingHighBloodPressureFHIR", "Controlling High Blood Pressure",
     "https://madie.cms.gov/Measure/ControllingHighBloodPressureFHIR", 0},
    {"CMS122", "GSD", "DiabetesGlycemicStatusAssessmentGreaterThan9PercentFHIR",
     "Diabetes: Glycemic Status Assessment Greater Than 9%",
     "https://madie.cms.gov/Measure/DiabetesGlycemicStatusAssessmentGreaterThan9PercentFHIR", 1},
    {"CMS131", "EED", "DiabetesEyeExamFHIR", "Diabetes: Eye Exam",
     "https://madie.cms.gov/Measure/DiabetesEyeExamFHIR", 0},
};

const struct meas_info *meas_info(enum meas_id id)
{
    return (id >= 0 && id < MEAS_COUNT) ? &infos[id] : NULL;
}

int meas_parse_id(const char *name, enum meas_id *out)
{
    *out = MEAS_CMS125;
    if (!name) return SG_ENOTFOUND;
    for (int i = 0; i < MEAS_COUNT; i++) {
        size_t cl = strlen(infos[i].cms);
        /* CMS125, cms125, CMS125v13, CMS125FHIR */
        if (!strncasecmp(name, infos[i].cms, cl) &&
            (!name[cl] || !isdigit((unsigned char)name[cl]))) {
            *out = (enum meas_id)i;
            return SG_OK;
        }
        if (!strcasecmp(name, infos[i].code) || !strcmp(name, infos[i].library) ||
            !strcmp(name, infos[i].url)) {
            *out = (enum meas_id)i;
            return SG_OK;
        }
    }
    return SG_ENOTFOUND;
}

int meas_parse_list(const char *list, unsigned *mask, char *err, size_t errlen)
{
    *mask = 0;
    if (!list || !*list) return sg_errf(err, errlen, SG_ENOTFOUND, "empty measure list");
    if (!strcasecmp(list, "all")) {
        *mask = (1u << MEAS_COUNT) - 1;
        return SG_OK;
    }
    char item[128];
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n == 0 || n >= sizeof item)
            return sg_errf(err, errlen, SG_ENOTFOUND, "bad measure list '%s'", list);
        memcpy(item, p, n);
        item[n] = '\0';
        enum meas_id id;
        if (!strcasecmp(item, "all"))
            *mask |= (1u << MEAS_COUNT) - 1;
        else if (meas_parse_id(item, &id) != SG_OK)
            return sg_errf(err, errlen, SG_ENOTFOUND,
                           "unknown measure '%s' (CMS125, CMS130, CMS165, CMS122, CMS131, BCS, "
                           "COL, CBP, GSD, EED or all)",
                           item);
        else
            *mask |= 1u << id;
        p += n;
        if (*p == ',') p++;
    }
    return SG_OK;
}

static int parse_date(const char *s, int16_t *y, uint8_t *m, uint8_t *d)
{
    struct cql_dt dt;
    if (!s || strlen(s) != 10 || cql_dt_parse(s, &dt) != SG_OK || dt.prec != CQL_PDAY) return -1;
    *y = dt.y;
    *m = dt.m;
    *d = dt.d;
    return 0;
}

int meas_period_parse(const char *start, const char *end, struct meas_period *out, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (parse_date(start, &out->sy, &out->sm, &out->sd))
        return sg_errf(err, errlen, SG_EINVAL, "periodStart: expected a date YYYY-MM-DD, got '%s'",
                       start ? start : "");
    if (parse_date(end, &out->ey, &out->em, &out->ed))
        return sg_errf(err, errlen, SG_EINVAL, "periodEnd: expected a date YYYY-MM-DD, got '%s'",
                       end ? end : "");
    struct cql_dt a = cql_date_make(out->sy, out->sm, out->sd),
                  b = cql_date_make(out->ey, out->em, out->ed);
    if (cql_dt_cmp(&a, &b, CQL_PDAY) > 0)
        return sg_errf(err, errlen, SG_EINVAL, "periodStart %s is after periodEnd %s", start, end);
    memcpy(out->start, start, 10);
    memcpy(out->end, end, 10);
    return SG_OK;
}

int meas_engine_new(const char *dir, struct meas_engine **out, char *err, size_t errlen)
{
    *out = NULL;
    struct meas_engine *e = calloc(1, sizeof *e);
    if (!e) return SG_ENOMEM;
    int rc = vs_index_load(dir, &e->vs, err, errlen);
    if (rc != SG_OK) {
        free(e);
        return rc;
    }
    *out = e;
    return SG_OK;
}

void meas_engine_free(struct meas_engine *e)
{
    if (!e) return;
    vs_index_free(e->vs);
    free(e);
}

static void make_ctx(const struct meas_patient *p, const struct meas_period *per, struct mx_ctx *c)
{
    c->mp_start = cql_dt_make(per->sy, per->sm, per->sd, 0, 0, 0, 0);
    c->mp_end = cql_dt_make(per->ey, per->em, per->ed, 23, 59, 59, 999);
    c->mp = cql_ivl_make(c->mp_start, 1, c->mp_end, 1);
    c->mp_end_date = cql_date_from(c->mp_end);
    c->age_known = cql_years_between(&p->birth, &c->mp_end_date, &c->age_lo, &c->age_hi) == CQL_T;
}

/* Formats the numerator day d clamped into the period (a lookback event before the period
 * makes the numerator met from its first day) as YYYY-MM-DD into out. */
static void format_day(struct cql_dt d, const struct meas_period *per, char out[MEAS_DATE_LEN])
{
    struct cql_dt lo = cql_date_make(per->sy, per->sm, per->sd),
                  hi = cql_date_make(per->ey, per->em, per->ed);
    if (cql_dt_cmp(&d, &lo, CQL_PDAY) < 0) d = lo;
    if (cql_dt_cmp(&d, &hi, CQL_PDAY) > 0) d = hi;
    char buf[32];
    snprintf(buf, sizeof buf, "%04d-%02d-%02d", d.y, d.m, d.d);
    memcpy(out, buf, MEAS_DATE_LEN - 1); /* years 1..9999: exactly ten characters */
    out[MEAS_DATE_LEN - 1] = '\0';
}

int meas_evaluate_dated(const struct meas_engine *eng, const struct meas_patient *p,
                        enum meas_id id, const struct meas_period *period, struct meas_pops *out,
                        char numerator_date[MEAS_DATE_LEN])
{
    (void)eng;
    memset(out, 0, sizeof *out);
    if (numerator_date) numerator_date[0] = '\0';
    if (id < 0 || id >= MEAS_COUNT) return SG_EINVAL;
    struct mx_ctx c;
    struct mx_pops o;
    memset(&o, 0, sizeof o);
    o.ip = o.denom = o.denex = o.numer = CQL_F;
    o.numer_day = cql_dt_null();
    make_ctx(p, period, &c);
    switch (id) {
    case MEAS_CMS125: mx_eval_cms125(p, &c, &o); break;
    case MEAS_CMS130: mx_eval_cms130(p, &c, &o); break;
    case MEAS_CMS165: mx_eval_cms165(p, &c, &o); break;
    case MEAS_CMS122: mx_eval_cms122(p, &c, &o); break;
    case MEAS_CMS131: mx_eval_cms131(p, &c, &o); break;
    default: return SG_EINVAL;
    }
    /* FHIR proportion scoring: each population within the previous; the numerator is counted
     * only for members of the denominator who are not excluded. */
    out->initial_population = o.ip == CQL_T;
    out->denominator = out->initial_population && o.denom == CQL_T;
    out->denominator_exclusion = out->denominator && o.denex == CQL_T;
    out->numerator = out->denominator && !out->denominator_exclusion && o.numer == CQL_T;
    /* the date: a met numerator's; for an inverse measure the status date of every
     * non-excluded denominator member with a deciding reading (its complement is the Star
     * measure's numerator) */
    int dated =
        infos[id].inverse ? out->denominator && !out->denominator_exclusion : out->numerator;
    struct cql_dt day = mx_event_day(o.numer_day);
    if (numerator_date && dated && day.prec != CQL_PNULL) format_day(day, period, numerator_date);
    return SG_OK;
}

int meas_evaluate(const struct meas_engine *eng, const struct meas_patient *p, enum meas_id id,
                  const struct meas_period *period, struct meas_pops *out)
{
    return meas_evaluate_dated(eng, p, id, period, out, NULL);
}

int meas_star_numerator(enum meas_id id, const struct meas_pops *pops, const char *numerator_date,
                        char date_out[MEAS_DATE_LEN])
{
    date_out[0] = '\0';
    const struct meas_info *mi = meas_info(id);
    if (!mi) return 0;
    int num = mi->inverse ? pops->denominator && !pops->denominator_exclusion && !pops->numerator
                          : pops->numerator;
    if (num && numerator_date && strlen(numerator_date) == MEAS_DATE_LEN - 1)
        memcpy(date_out, numerator_date, MEAS_DATE_LEN);
    return num;
}

void meas_result_fill(const struct meas_patient *p, enum meas_id id,
                      const struct meas_period *period, const struct meas_pops *pops,
                      const char *numerator_date, struct meas_result *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->member_id, sizeof r->member_id, "%s", meas_patient_member_id(p));
    snprintf(r->patient_id, sizeof r->patient_id, "%s", meas_patient_id(p));
    const struct meas_info *mi = meas_info(id);
    if (mi) {
        snprintf(r->cms, sizeof r->cms, "%s", mi->cms);
        snprintf(r->code, sizeof r->code, "%s", mi->code);
    }
    memcpy(r->period_start, period->start, sizeof r->period_start);
    memcpy(r->period_end, period->end, sizeof r->period_end);
    r->measurement_year = period->ey;
    r->pops = *pops;
    if (numerator_date && strlen(numerator_date) == MEAS_DATE_LEN - 1)
        memcpy(r->numerator_date, numerator_date, MEAS_DATE_LEN);
}

void meas_totals_add(struct meas_totals *t, const struct meas_pops *p)
{
    t->initial_population += p->initial_population;
    t->denominator += p->denominator;
    t->denominator_exclusion += p->denominator_exclusion;
    t->numerator += p->numerator;
}

int meas_valueset_codes(const struct meas_engine *eng, const char *url, struct meas_code *out,
                        size_t max, size_t *n, char *err, size_t errlen)
{
    *n = 0;
    int bit = url ? vs_bit_of_url(url) : -1;
    if (bit < 0)
        return sg_errf(err, errlen, SG_ENOTFOUND, "value set %s is not used by the measures",
                       url ? url : "(null)");
    const char *keys[64];
    if (max > sizeof keys / sizeof keys[0]) max = sizeof keys / sizeof keys[0];
    int got = vs_codes(eng->vs, (enum vs_bit)bit, keys, max);
    if (got < 0) return sg_errf(err, errlen, got, "out of memory");
    for (int i = 0; i < got; i++) {
        const char *sep = strchr(keys[i], '\x1f');
        size_t sl = (size_t)(sep - keys[i]);
        if (sl >= sizeof out[i].system || strlen(sep + 1) >= sizeof out[i].code)
            return sg_errf(err, errlen, SG_ETOOBIG, "value set %s: a code or system is too long",
                           url);
        memcpy(out[i].system, keys[i], sl);
        out[i].system[sl] = '\0';
        strcpy(out[i].code, sep + 1);
    }
    *n = (size_t)got;
    return SG_OK;
}
