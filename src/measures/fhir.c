/* fhir.c: the FHIR R4 reader: a patient Bundle (or, for Bulk exports, a patient's loose
 * resources) into the compact model of model.h.
 *
 * Only the elements the measures' CQL reads are kept. Codes become value-set masks through the
 * engine's index; timing elements become CQL intervals exactly as QICoreCommon.toInterval(),
 * abatementInterval(), prevalenceInterval() and CumulativeMedicationDuration
 * medicationRequestPeriod() define them; statuses become the flags of the Status library.
 * Bad input (unparseable dates, wrong types, a subject that is not the bundle's Patient) is
 * rejected with a meas_error naming the element. Resource types the measures do not read are
 * skipped. Where a CQL expression would raise a run-time error (a Timing-valued effective, a
 * Quantity with a comparator, `singleton from` over several elements), the element is null. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "measures/engine_int.h"
#include "measures/model.h"

/* ---- growable storage ------------------------------------------------------------------- */

static int grow_arr(void **v, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return SG_OK;
    size_t nc = *cap ? *cap * 2 : 8;
    while (nc < need)
        nc *= 2;
    void *nv = realloc(*v, nc * elem);
    if (!nv) return SG_ENOMEM;
    *v = nv;
    *cap = nc;
    return SG_OK;
}
#define PUSH(arr, out)                                                                             \
    (grow_arr((void **)&(arr).v, &(arr).cap, (arr).n + 1, sizeof *(arr).v) == SG_OK                \
         ? ((out) = &(arr).v[(arr).n++], memset((out), 0, sizeof *(out)), SG_OK)                   \
         : SG_ENOMEM)

static int pool_add(struct meas_patient *p, const char *s, size_t n, uint32_t *off)
{
    *off = 0;
    if (!s || !n) return SG_OK;
    if (p->pool_len + n + 1 > UINT32_MAX) return SG_ETOOBIG;
    void *v = p->pool;
    if (grow_arr(&v, &p->pool_cap, p->pool_len + n + 1, 1) != SG_OK) return SG_ENOMEM;
    p->pool = v;
    memcpy(p->pool + p->pool_len, s, n);
    p->pool[p->pool_len + n] = '\0';
    *off = (uint32_t)p->pool_len;
    p->pool_len += n + 1;
    return SG_OK;
}

struct meas_patient *meas_patient_new(void)
{
    struct meas_patient *p = calloc(1, sizeof *p);
    if (p) meas_patient_reset(p);
    return p;
}

void meas_patient_reset(struct meas_patient *p)
{
    p->enc.n = p->cond.n = p->obs.n = p->proc.n = p->sreq.n = p->dreq.n = p->mreq.n = 0;
    p->med.n = p->refs.n = p->pend.n = 0;
    p->pool_len = 0;
    if (!p->pool) {
        p->pool = malloc(256);
        p->pool_cap = p->pool ? 256 : 0;
    }
    if (p->pool) { /* offset 0 is always "" */
        p->pool[0] = '\0';
        p->pool_len = 1;
    }
    p->id = p->member_id = p->fullurl = 0;
    p->gender_female = p->has_patient = p->gender = 0;
    p->birth = cql_dt_null();
}

void meas_patient_free(struct meas_patient *p)
{
    if (!p) return;
    free(p->pool);
    free(p->enc.v);
    free(p->cond.v);
    free(p->obs.v);
    free(p->proc.v);
    free(p->sreq.v);
    free(p->dreq.v);
    free(p->mreq.v);
    free(p->med.v);
    free(p->refs.v);
    free(p->pend.v);
    free(p);
}

const char *meas_patient_id(const struct meas_patient *p)
{
    return p->pool ? mx_str(p, p->id) : "";
}
const char *meas_patient_member_id(const struct meas_patient *p)
{
    if (!p->pool) return "";
    return p->member_id ? mx_str(p, p->member_id) : mx_str(p, p->id);
}

/* ---- errors ------------------------------------------------------------------------------ */

struct rd {
    const struct meas_engine *eng;
    struct meas_patient *p;
    struct meas_error *e;
    const char *where; /* location of the current resource (borrowed) */
};

static int fail(struct rd *r, int code, const char *field, const char *fmt, ...) SG_PRINTF(4, 5);
static int fail(struct rd *r, int code, const char *field, const char *fmt, ...)
{
    if (!r->e) return code;
    r->e->code = code;
    r->e->line = 0;
    snprintf(r->e->where, sizeof r->e->where, "%s%s%s", r->where, field && *field ? "." : "",
             field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->e->msg, sizeof r->e->msg, fmt, ap);
    va_end(ap);
    return code;
}

/* ---- element readers --------------------------------------------------------------------- */

static vs_mask concept_mask(const struct rd *r, json_t *cc)
{
    vs_mask m = 0;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(cc, "coding"), i, c)
    {
        json_t *js = json_object_get(c, "system"), *jc = json_object_get(c, "code");
        if (!json_is_string(js) || !json_is_string(jc)) continue;
        m |= vs_lookup(r->eng->vs, json_string_value(js), json_string_length(js),
                       json_string_value(jc), json_string_length(jc));
    }
    return m;
}

static vs_mask concept_list_mask(const struct rd *r, json_t *arr)
{
    vs_mask m = 0;
    size_t i;
    json_t *cc;
    json_array_foreach(arr, i, cc) m |= concept_mask(r, cc);
    return m;
}

static int concept_has(json_t *cc, const char *system, const char *code)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(cc, "coding"), i, c)
    {
        const char *s = json_string_value(json_object_get(c, "system"));
        const char *k = json_string_value(json_object_get(c, "code"));
        if (s && k && !strcmp(s, system) && !strcmp(k, code)) return 1;
    }
    return 0;
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int str_in(const char *s, const char *const *list)
{
    if (!s) return 0;
    for (; *list; list++)
        if (!strcmp(s, *list)) return 1;
    return 0;
}

/* A dateTime element obj.key: absent -> null (SG_OK); present but malformed -> an error naming
 * parent.key (or key when parent is NULL). The name is only built on the error path. */
static int read_dt(struct rd *r, json_t *obj, const char *key, const char *parent,
                   struct cql_dt *out)
{
    *out = cql_dt_null();
    json_t *v = json_object_get(obj, key);
    if (!v) return SG_OK;
    if (json_is_string(v) && cql_dt_parse(json_string_value(v), out) == SG_OK) return SG_OK;
    char field[128];
    snprintf(field, sizeof field, "%s%s%s", parent ? parent : "", parent ? "." : "", key);
    if (!json_is_string(v))
        return fail(r, SG_EINVAL, field, "invalid date/dateTime (not a string)");
    return fail(r, SG_EINVAL, field, "invalid date/dateTime '%s'", json_string_value(v));
}

/* FHIRHelpers.ToInterval(Period): Interval[start, end], or Interval(null, end] without a start. */
static int read_period(struct rd *r, json_t *per, const char *field, struct cql_ivl *out)
{
    *out = cql_ivl_null();
    if (!per) return SG_OK;
    if (!json_is_object(per)) return fail(r, SG_EINVAL, field, "Period must be an object");
    struct cql_dt s, e;
    if (read_dt(r, per, "start", field, &s) != SG_OK) return SG_EINVAL;
    if (read_dt(r, per, "end", field, &e) != SG_OK) return SG_EINVAL;
    if (s.prec != CQL_PNULL && e.prec != CQL_PNULL && cql_dt_cmp(&s, &e, CQL_PTIME) == 1)
        return fail(r, SG_EINVAL, field, "Period start is after its end");
    *out = cql_ivl_make(s, s.prec != CQL_PNULL, e, 1);
    return SG_OK;
}

/* FHIRHelpers.ToQuantity: null without a value; comparator or a non-UCUM system is a CQL
 * run-time error, read as null; unit = ToCalendarUnit(Coalesce(code, unit, '1')). */
static void read_qty(json_t *q, struct mx_qty *out)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(q)) return;
    json_t *v = json_object_get(q, "value");
    if (!json_is_number(v) || json_object_get(q, "comparator")) return;
    const char *sys = str(q, "system");
    if (sys && strcmp(sys, "http://unitsofmeasure.org") &&
        strcmp(sys, "http://hl7.org/fhirpath/CodeSystem/calendar-units"))
        return;
    const char *u = str(q, "code");
    if (!u) u = str(q, "unit");
    if (!u) u = "1";
    static const char *const ucum[][2] = {{"ms", "millisecond"}, {"s", "second"}, {"min", "minute"},
                                          {"h", "hour"},         {"d", "day"},    {"wk", "week"},
                                          {"mo", "month"},       {"a", "year"}};
    for (size_t i = 0; i < sizeof ucum / sizeof ucum[0]; i++)
        if (!strcmp(u, ucum[i][0])) {
            u = ucum[i][1];
            break;
        }
    out->v = json_number_value(v);
    snprintf(out->unit, sizeof out->unit, "%s", u);
    out->ok = 1;
}

/* A calendar quantity added to a date (Date + Quantity): years, months, weeks, days. */
static struct cql_dt add_qty(struct cql_dt d, const struct mx_qty *q, int extra_years)
{
    if (!q->ok || d.prec == CQL_PNULL) return cql_dt_null();
    long n = (long)q->v; /* CQL truncates a decimal quantity added to a Date */
    const char *u = q->unit;
    if (!strcmp(u, "year") || !strcmp(u, "years"))
        d = cql_dt_add_years(d, (int)n);
    else if (!strcmp(u, "month") || !strcmp(u, "months"))
        d = cql_dt_add_months(d, (int)n);
    else if (!strcmp(u, "week") || !strcmp(u, "weeks"))
        d = cql_dt_add_days(d, n * 7);
    else if (!strcmp(u, "day") || !strcmp(u, "days"))
        d = cql_dt_add_days(d, n);
    else
        return cql_dt_null();
    return cql_dt_add_years(d, extra_years);
}

/* Choice kinds of a timing element before the birthDate is known. */
enum { TK_NONE = 0, TK_IVL, TK_PERIOD, TK_AGE, TK_RANGE }; /* TK_IVL: a dateTime point */

/* Reads prefix[x] (DateTime, Instant, Period, Age, Range; Timing -> null) as a kind + data. */
static int read_timing(struct rd *r, json_t *res, const char *prefix, uint8_t *kind,
                       struct cql_ivl *ivl, struct mx_qty *lo, struct mx_qty *hi)
{
    *kind = TK_NONE;
    *ivl = cql_ivl_null();
    memset(lo, 0, sizeof *lo);
    memset(hi, 0, sizeof *hi);
    /* one pass over the keys for prefix[x] (valid FHIR has at most one) */
    size_t pl = strlen(prefix);
    const char *key;
    json_t *v;
    json_object_foreach(res, key, v)
    {
        if (strncmp(key, prefix, pl)) continue;
        const char *x = key + pl;
        if (!strcmp(x, "DateTime") || !strcmp(x, "Instant")) {
            struct cql_dt d;
            if (read_dt(r, res, key, NULL, &d) != SG_OK) return SG_EINVAL;
            *ivl = cql_ivl_point(d);
            *kind = TK_IVL;
            return SG_OK;
        }
        if (!strcmp(x, "Period")) {
            *kind = TK_PERIOD;
            return read_period(r, v, key, ivl);
        }
        if (!strcmp(x, "Age")) {
            read_qty(v, lo);
            *kind = TK_AGE;
            return SG_OK;
        }
        if (!strcmp(x, "Range")) {
            read_qty(json_object_get(v, "low"), lo);
            read_qty(json_object_get(v, "high"), hi);
            *kind = TK_RANGE;
            return SG_OK;
        }
    }
    return SG_OK;
}

/* toInterval() of an Age / Range choice, once the birthDate is known. */
static struct cql_ivl age_interval(const struct cql_dt *birth, uint8_t kind,
                                   const struct mx_qty *lo, const struct mx_qty *hi)
{
    if (kind == TK_AGE) {
        struct cql_dt a = add_qty(*birth, lo, 0), b = add_qty(*birth, lo, 1);
        if (a.prec == CQL_PNULL && b.prec == CQL_PNULL) return cql_ivl_null();
        return cql_ivl_make(a, 1, b, 0);
    }
    if (kind == TK_RANGE) {
        struct cql_dt a = add_qty(*birth, lo, 0), b = add_qty(*birth, hi, 1);
        return cql_ivl_make(a, 1, b, 0);
    }
    return cql_ivl_null();
}

/* Resolves a reference string to an id: "Type/id", ".../Type/id/_history/n", "urn:uuid:x". */
static void ref_id(const char *ref, const char **id, size_t *n)
{
    const char *h = strstr(ref, "/_history/");
    size_t len = h ? (size_t)(h - ref) : strlen(ref);
    const char *slash = NULL;
    for (size_t i = 0; i < len; i++)
        if (ref[i] == '/') slash = ref + i;
    *id = slash ? slash + 1 : ref;
    *n = len - (size_t)(*id - ref);
}

static int refers_to_patient(const struct meas_patient *p, const char *ref);

static int note_subject(struct rd *r, json_t *res, const char *key)
{
    json_t *s = json_object_get(res, key);
    if (!s) return SG_OK;
    const char *ref = str(s, "reference");
    if (!ref) return SG_OK;  /* identifier-only or display-only references cannot be checked */
    if (r->p->has_patient) { /* check now; keep only references seen before the Patient */
        if (refers_to_patient(r->p, ref)) return SG_OK;
        return fail(r, SG_EINVAL, key,
                    "reference '%s' does not resolve to the Patient of this input", ref);
    }
    uint32_t off, where;
    struct mx_ref *slot;
    if (pool_add(r->p, ref, strlen(ref), &off) != SG_OK) return SG_ENOMEM;
    char w[200];
    snprintf(w, sizeof w, "%s.%s", r->where, key);
    if (pool_add(r->p, w, strlen(w), &where) != SG_OK) return SG_ENOMEM;
    if (PUSH(r->p->refs, slot) != SG_OK) return SG_ENOMEM;
    slot->ref = off;
    slot->where = where;
    return SG_OK;
}

/* ---- resources --------------------------------------------------------------------------- */

static int rd_patient(struct rd *r, json_t *res, const char *fullurl)
{
    struct meas_patient *p = r->p;
    if (p->has_patient) return fail(r, SG_EINVAL, NULL, "more than one Patient in the input");
    p->has_patient = 1;
    const char *id = str(res, "id");
    if (!id || !*id) return fail(r, SG_EINVAL, "id", "Patient has no id");
    if (pool_add(p, id, strlen(id), &p->id) != SG_OK) return SG_ENOMEM;
    if (fullurl && pool_add(p, fullurl, strlen(fullurl), &p->fullurl) != SG_OK) return SG_ENOMEM;
    const char *g = str(res, "gender");
    p->gender_female = g && !strcmp(g, "female");
    p->gender = (uint8_t)(!g                     ? MX_GENDER_UNKNOWN
                          : !strcmp(g, "female") ? MX_GENDER_FEMALE
                          : !strcmp(g, "male")   ? MX_GENDER_MALE
                          : !strcmp(g, "other")  ? MX_GENDER_OTHER
                                                 : MX_GENDER_UNKNOWN);
    json_t *bd = json_object_get(res, "birthDate");
    if (bd) {
        if (!json_is_string(bd) || cql_dt_parse(json_string_value(bd), &p->birth) != SG_OK ||
            p->birth.prec > CQL_PDAY)
            return fail(r, SG_EINVAL, "birthDate",
                        "invalid birthDate (expected YYYY, YYYY-MM or YYYY-MM-DD)");
    }
    size_t i;
    json_t *ident;
    json_array_foreach(json_object_get(res, "identifier"), i, ident)
    {
        const char *v = str(ident, "value");
        if (v && concept_has(json_object_get(ident, "type"),
                             "http://terminology.hl7.org/CodeSystem/v2-0203", "MB")) {
            if (pool_add(p, v, strlen(v), &p->member_id) != SG_OK) return SG_ENOMEM;
            break;
        }
    }
    return SG_OK;
}

static int rd_encounter(struct rd *r, json_t *res)
{
    static const char *const perf[] = {"finished",    "arrived", "triaged",
                                       "in-progress", "onleave", NULL};
    static const char *const inpat[] = {"EMER", "IMP", "ACUTE", "NONAC", "PRENC", "SS", NULL};
    struct mx_enc *e;
    if (PUSH(r->p->enc, e) != SG_OK) return SG_ENOMEM;
    e->type = concept_list_mask(r, json_object_get(res, "type"));
    e->discharge = concept_mask(
        r, json_object_get(json_object_get(res, "hospitalization"), "dischargeDisposition"));
    e->performed = (uint8_t)str_in(str(res, "status"), perf);
    const char *cls = str(json_object_get(res, "class"), "code");
    e->class_inpat = (uint8_t)str_in(cls, inpat);
    static const char *const inpat_only[] = {"IMP", "ACUTE", "NONAC", NULL};
    e->cls = (uint8_t)(!cls                      ? ENC_CLS_OTHER
                       : !strcmp(cls, "AMB")     ? ENC_CLS_AMB
                       : !strcmp(cls, "EMER")    ? ENC_CLS_EMER
                       : str_in(cls, inpat_only) ? ENC_CLS_INPAT
                       : !strcmp(cls, "VR")      ? ENC_CLS_VR
                                                 : ENC_CLS_OTHER);
    const char *id = str(res, "id");
    if (id && pool_add(r->p, id, strlen(id), &e->id) != SG_OK) return SG_ENOMEM;
    return read_period(r, json_object_get(res, "period"), "period", &e->period);
}

static int rd_condition(struct rd *r, json_t *res)
{
    struct mx_cond *c;
    struct mx_pending_cond *pc;
    if (PUSH(r->p->cond, c) != SG_OK) return SG_ENOMEM;
    c->code = concept_mask(r, json_object_get(res, "code"));
    c->body_site = concept_list_mask(r, json_object_get(res, "bodySite"));
    if (PUSH(r->p->pend, pc) != SG_OK) return SG_ENOMEM;
    pc->idx = r->p->cond.n - 1;
    const char *cs = "http://terminology.hl7.org/CodeSystem/condition-clinical";
    json_t *st = json_object_get(res, "clinicalStatus");
    pc->active = (uint8_t)(concept_has(st, cs, "active") || concept_has(st, cs, "recurrence") ||
                           concept_has(st, cs, "relapse"));
    if (read_timing(r, res, "onset", &pc->on_kind, &pc->on, &pc->on_lo, &pc->on_hi) != SG_OK)
        return SG_EINVAL;
    if (read_timing(r, res, "abatement", &pc->ab_kind, &pc->ab, &pc->ab_lo, &pc->ab_hi) != SG_OK)
        return SG_EINVAL;
    return SG_OK;
}

/* prevalenceInterval(), after the birthDate is known. */
static void finish_condition(struct meas_patient *p, const struct mx_pending_cond *pc)
{
    struct cql_ivl on = (pc->on_kind == TK_IVL || pc->on_kind == TK_PERIOD)
                            ? pc->on
                            : age_interval(&p->birth, pc->on_kind, &pc->on_lo, &pc->on_hi);
    struct cql_ivl ab = cql_ivl_null();
    if (pc->ab_kind == TK_IVL) {
        ab = pc->ab; /* abatementDateTime: Interval[dt, dt] */
    } else if (pc->ab_kind == TK_PERIOD) {
        if (!pc->ab.null) ab = cql_ivl_make(pc->ab.lo, 1, pc->ab.hi, 0); /* Interval[low, high) */
    } else if (pc->ab_kind != TK_NONE) {
        ab = age_interval(&p->birth, pc->ab_kind, &pc->ab_lo, &pc->ab_hi);
    }
    struct cql_dt start = on.null ? cql_dt_null() : cql_ivl_start(&on);
    struct cql_dt abend = ab.null ? cql_dt_null() : cql_ivl_end(&ab);
    struct cql_ivl *out = &p->cond.v[pc->idx].prev;
    if (pc->active)
        *out = cql_ivl_make(start, 1, abend, 1);
    else if (abend.prec == CQL_PNULL)
        *out = cql_ivl_make(start, 1, abend, 0);
    else
        *out = cql_ivl_make(start, 1, abend, 1);
}

/* The single component whose code has `bit`, as Quantity (singleton from: several -> null). */
static void bp_component(const struct rd *r, json_t *res, enum vs_bit bit, struct mx_qty *out)
{
    memset(out, 0, sizeof *out);
    size_t i, found = 0;
    json_t *c;
    json_array_foreach(json_object_get(res, "component"), i, c)
    {
        if (!(concept_mask(r, json_object_get(c, "code")) & VS_BIT(bit))) continue;
        if (++found > 1) {
            memset(out, 0, sizeof *out);
            return;
        }
        read_qty(json_object_get(c, "valueQuantity"), out);
    }
}

static int rd_observation(struct rd *r, json_t *res)
{
    static const char *const fin[] = {"final", "amended", "corrected", NULL};
    struct mx_obs *o;
    if (PUSH(r->p->obs, o) != SG_OK) return SG_ENOMEM;
    o->enc = -1;
    o->code = concept_mask(r, json_object_get(res, "code"));
    const char *st = str(res, "status");
    o->status = (uint8_t)(str_in(st, fin)                      ? OBS_FINAL
                          : (st && !strcmp(st, "preliminary")) ? OBS_PRELIM
                                                               : 0);
    size_t i;
    json_t *cat;
    const char *cs = "http://terminology.hl7.org/CodeSystem/observation-category";
    json_array_foreach(json_object_get(res, "category"), i, cat)
    {
        if (concept_has(cat, cs, "survey")) o->cat |= CAT_SURVEY;
        if (concept_has(cat, cs, "laboratory")) o->cat |= CAT_LAB;
        if (concept_has(cat, cs, "exam")) o->cat |= CAT_EXAM;
    }
    uint8_t kind;
    struct mx_qty lo, hi;
    if (json_object_get(res, "effectiveTiming"))
        o->eff = cql_ivl_null(); /* Timing: CQL error -> null */
    else if (read_timing(r, res, "effective", &kind, &o->eff, &lo, &hi) != SG_OK)
        return SG_EINVAL;
    /* value[x] */
    const char *key;
    json_t *v;
    json_object_foreach(res, key, v)
    {
        if (strncmp(key, "value", 5) || !key[5]) continue;
        if (!strcmp(key, "valueQuantity")) {
            o->value_kind = VAL_QTY;
            read_qty(v, &o->qty);
        } else if (!strcmp(key, "valueCodeableConcept")) {
            o->value_kind = VAL_CONCEPT;
            o->vconcept = concept_mask(r, v);
        } else {
            o->value_kind = VAL_OTHER;
        }
    }
    if (o->code & VS_BIT(CODE_BP_PANEL)) {
        bp_component(r, res, CODE_SYSTOLIC, &o->sys);
        bp_component(r, res, CODE_DIASTOLIC, &o->dia);
    }
    const char *er = str(json_object_get(res, "encounter"), "reference");
    if (er) {
        const char *id;
        size_t n;
        ref_id(er, &id, &n);
        if (pool_add(r->p, id, n, &o->enc_ref) != SG_OK) return SG_ENOMEM;
        o->enc_state = 2;
    }
    return SG_OK;
}

static int rd_procedure(struct rd *r, json_t *res)
{
    struct mx_proc *pr;
    if (PUSH(r->p->proc, pr) != SG_OK) return SG_ENOMEM;
    pr->code = concept_mask(r, json_object_get(res, "code"));
    const char *st = str(res, "status");
    pr->completed = st && !strcmp(st, "completed");
    uint8_t kind;
    struct mx_qty lo, hi;
    if (read_timing(r, res, "performed", &kind, &pr->performed, &lo, &hi) != SG_OK)
        return SG_EINVAL;
    if (kind == TK_AGE || kind == TK_RANGE) { /* needs the birthDate: resolved in mx_finish */
        pr->age_kind = kind;
        pr->age_lo = lo;
        pr->age_hi = hi;
    }
    return SG_OK;
}

static int is_order(json_t *res)
{
    static const char *const ac[] = {"active", "completed", NULL};
    const char *in = str(res, "intent");
    return str_in(str(res, "status"), ac) && in && !strcmp(in, "order");
}

static int rd_servicerequest(struct rd *r, json_t *res)
{
    struct mx_sreq *s;
    if (PUSH(r->p->sreq, s) != SG_OK) return SG_ENOMEM;
    s->code = concept_mask(r, json_object_get(res, "code"));
    s->order = (uint8_t)is_order(res);
    struct cql_dt d;
    if (read_dt(r, res, "authoredOn", NULL, &d) != SG_OK) return SG_EINVAL;
    s->authored = cql_ivl_point(d);
    return SG_OK;
}

static int rd_devicerequest(struct rd *r, json_t *res)
{
    struct mx_dreq *d;
    if (PUSH(r->p->dreq, d) != SG_OK) return SG_ENOMEM;
    d->code = concept_mask(r, json_object_get(res, "codeCodeableConcept"));
    d->order = (uint8_t)is_order(res);
    d->dnp = -1;
    size_t i, n = 0;
    json_t *x;
    json_array_foreach(json_object_get(res, "modifierExtension"), i, x)
    {
        const char *u = str(x, "url");
        if (!u ||
            strcmp(u, "http://hl7.org/fhir/us/qicore/StructureDefinition/qicore-doNotPerform"))
            continue;
        json_t *vb = json_object_get(x, "valueBoolean");
        d->dnp = json_is_boolean(vb) ? (int8_t)json_is_true(vb) : -1;
        if (++n > 1) d->dnp = -1; /* singleton from: several -> error, read as null */
    }
    struct cql_dt a;
    if (read_dt(r, res, "authoredOn", NULL, &a) != SG_OK) return SG_EINVAL;
    d->authored = cql_ivl_point(a);
    return SG_OK;
}

/* CumulativeMedicationDuration.ToDaily(frequency, period); NAN for null/unknown units. */
static double to_daily(double freq, double per, const char *unit)
{
    static const struct {
        const char *u;
        double hours;
    } t[] = {{"h", 1},
             {"hour", 1},
             {"hours", 1},
             {"min", 1.0 / 60},
             {"minute", 1.0 / 60},
             {"minutes", 1.0 / 60},
             {"s", 1.0 / 3600},
             {"second", 1.0 / 3600},
             {"seconds", 1.0 / 3600},
             {"d", 24},
             {"day", 24},
             {"days", 24},
             {"wk", 168},
             {"week", 168},
             {"weeks", 168},
             {"mo", 720},
             {"month", 720},
             {"months", 720},
             {"a", 8760},
             {"year", 8760},
             {"years", 8760}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(unit, t[i].u)) return freq * (24.0 / per) / t[i].hours;
    return NAN;
}

/* medicationRequestPeriod() of CumulativeMedicationDuration 4.1.000, as Interval<Date>. */
static int med_request_period(struct rd *r, json_t *res, struct cql_ivl *out)
{
    *out = cql_ivl_null();
    json_t *dis = json_object_get(res, "dosageInstruction");
    json_t *dosage = NULL, *dar = NULL;
    if (json_array_size(dis) > 1) return SG_OK; /* singleton from: error -> null */
    dosage = json_array_get(dis, 0);
    json_t *dars = json_object_get(dosage, "doseAndRate");
    if (json_array_size(dars) > 1) return SG_OK;
    dar = json_array_get(dars, 0);
    json_t *rep = json_object_get(json_object_get(dosage, "timing"), "repeat");
    json_t *jf = json_object_get(rep, "frequencyMax");
    if (!json_is_integer(jf)) jf = json_object_get(rep, "frequency");
    json_t *jp = json_object_get(rep, "period");
    const char *pu = str(rep, "periodUnit");
    double doses_per_day;
    if (json_is_integer(jf) && json_is_number(jp) && pu && json_number_value(jp) != 0) {
        doses_per_day = to_daily((double)json_integer_value(jf), json_number_value(jp), pu);
        if (isnan(doses_per_day)) return SG_OK; /* unknown unit: CQL Message error -> null */
    } else {
        /* Coalesce(ToDaily(null..), Count(timeOfDay), 1.0): Count of a missing list is 0 */
        doses_per_day = (double)json_array_size(json_object_get(rep, "timeOfDay"));
    }
    struct cql_ivl bounds = cql_ivl_null();
    if (read_period(r, json_object_get(rep, "boundsPeriod"),
                    "dosageInstruction[0].timing.repeat.boundsPeriod", &bounds) != SG_OK)
        return SG_EINVAL;
    json_t *dr = json_object_get(res, "dispenseRequest");
    struct mx_qty esd, qty, dose;
    read_qty(json_object_get(dr, "expectedSupplyDuration"), &esd);
    read_qty(json_object_get(dr, "quantity"), &qty);
    json_t *drange = json_object_get(dar, "doseRange");
    if (drange)
        read_qty(json_object_get(drange, "high"), &dose);
    else
        read_qty(json_object_get(dar, "doseQuantity"), &dose);
    json_t *jr = json_object_get(dr, "numberOfRepeatsAllowed");
    double refills = json_is_integer(jr) ? (double)json_integer_value(jr) : 0;
    double days = NAN;
    if (esd.ok) { /* convert to days */
        const char *u = esd.unit;
        if (!strcmp(u, "day") || !strcmp(u, "days"))
            days = esd.v;
        else if (!strcmp(u, "week") || !strcmp(u, "weeks"))
            days = esd.v * 7;
        else if (!strcmp(u, "hour") || !strcmp(u, "hours"))
            days = esd.v / 24;
    }
    if (isnan(days) && qty.ok && dose.ok && dose.v * doses_per_day != 0)
        days = qty.v / (dose.v * doses_per_day);
    struct cql_dt start = cql_dt_null(), a, vs;
    if (!bounds.null && bounds.lo.prec != CQL_PNULL) start = cql_date_from(cql_ivl_start(&bounds));
    if (read_dt(r, res, "authoredOn", NULL, &a) != SG_OK) return SG_EINVAL;
    if (start.prec == CQL_PNULL) start = cql_date_from(a);
    struct cql_ivl validity;
    if (read_period(r, json_object_get(dr, "validityPeriod"), "dispenseRequest.validityPeriod",
                    &validity) != SG_OK)
        return SG_EINVAL;
    vs = validity.null ? cql_dt_null() : cql_date_from(cql_ivl_start(&validity));
    if (start.prec == CQL_PNULL && !validity.null && validity.lo.prec != CQL_PNULL) start = vs;
    if (start.prec == CQL_PNULL) return SG_OK;
    if (!isnan(days)) {
        double total = days * (1 + refills);
        *out = cql_ivl_make(start, 1, cql_dt_add_days(start, (long)(total - 1)), 1);
    } else if (!bounds.null && bounds.hi.prec != CQL_PNULL) {
        *out = cql_ivl_make(start, 1, cql_date_from(bounds.hi), 1);
    }
    return SG_OK;
}

static int rd_medicationrequest(struct rd *r, json_t *res)
{
    struct mx_mreq *m;
    if (PUSH(r->p->mreq, m) != SG_OK) return SG_ENOMEM;
    m->med = concept_mask(r, json_object_get(res, "medicationCodeableConcept"));
    const char *mr = str(json_object_get(res, "medicationReference"), "reference");
    if (mr) {
        const char *id;
        size_t n;
        ref_id(mr[0] == '#' ? mr + 1 : mr, &id, &n);
        if (pool_add(r->p, id, n, &m->med_ref) != SG_OK) return SG_ENOMEM;
        /* contained Medication */
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(res, "contained"), i, c)
        {
            const char *cid = str(c, "id"), *rt = str(c, "resourceType");
            if (cid && rt && !strcmp(rt, "Medication") && strlen(cid) == n && !strncmp(cid, id, n))
                m->med |= concept_mask(r, json_object_get(c, "code"));
        }
    }
    const char *st = str(res, "status"), *in = str(res, "intent");
    m->active = st && in && !strcmp(st, "active") && !strcmp(in, "order");
    return med_request_period(r, res, &m->period);
}

static int rd_medication(struct rd *r, json_t *res)
{
    const char *id = str(res, "id");
    if (!id) return SG_OK;
    struct mx_med *m;
    if (PUSH(r->p->med, m) != SG_OK) return SG_ENOMEM;
    m->code = concept_mask(r, json_object_get(res, "code"));
    return pool_add(r->p, id, strlen(id), &m->id);
}

/* ---- assembly ---------------------------------------------------------------------------- */

int mx_add_resource(const struct meas_engine *eng, struct meas_patient *p, json_t *res,
                    const char *fullurl, const char *where, struct meas_error *e)
{
    struct rd r = {eng, p, e, where};
    if (!json_is_object(res)) return fail(&r, SG_EINVAL, NULL, "resource is not a JSON object");
    const char *rt = str(res, "resourceType");
    if (!rt) return fail(&r, SG_EINVAL, "resourceType", "resource has no resourceType");
    int rc;
    if (!strcmp(rt, "Patient")) return rd_patient(&r, res, fullurl);
    if (!strcmp(rt, "Encounter"))
        rc = rd_encounter(&r, res);
    else if (!strcmp(rt, "Condition"))
        rc = rd_condition(&r, res);
    else if (!strcmp(rt, "Observation"))
        rc = rd_observation(&r, res);
    else if (!strcmp(rt, "Procedure"))
        rc = rd_procedure(&r, res);
    else if (!strcmp(rt, "ServiceRequest"))
        rc = rd_servicerequest(&r, res);
    else if (!strcmp(rt, "DeviceRequest"))
        rc = rd_devicerequest(&r, res);
    else if (!strcmp(rt, "MedicationRequest"))
        rc = rd_medicationrequest(&r, res);
    else if (!strcmp(rt, "Medication"))
        return rd_medication(&r, res);
    else
        return SG_OK; /* not read by these measures */
    if (rc != SG_OK) return rc;
    return note_subject(&r, res, "subject"); /* all seven types name the patient in subject */
}

/* Does a subject reference point at this patient? */
static int refers_to_patient(const struct meas_patient *p, const char *ref)
{
    const char *pid = mx_str(p, p->id), *fu = mx_str(p, p->fullurl);
    if (*fu && !strcmp(ref, fu)) return 1;
    if (!strncmp(ref, "urn:", 4)) return 0;
    const char *id;
    size_t n;
    ref_id(ref, &id, &n);
    if (strlen(pid) != n || strncmp(id, pid, n)) return 0;
    /* the segment before the id must be Patient */
    size_t off = (size_t)(id - ref);
    return off >= 8 && !strncmp(ref + off - 8, "Patient/", 8);
}

int mx_finish(const struct meas_engine *eng, struct meas_patient *p, struct meas_error *e)
{
    (void)eng;
    struct rd r = {eng, p, e, "Bundle"};
    if (!p->has_patient) return fail(&r, SG_EINVAL, NULL, "no Patient resource in the input");
    for (size_t i = 0; i < p->refs.n; i++) {
        const char *ref = mx_str(p, p->refs.v[i].ref);
        if (!refers_to_patient(p, ref)) {
            r.where = mx_str(p, p->refs.v[i].where);
            return fail(&r, SG_EINVAL, NULL,
                        "reference '%s' does not resolve to the Patient of this input", ref);
        }
    }
    for (size_t i = 0; i < p->pend.n; i++)
        finish_condition(p, &p->pend.v[i]);
    for (size_t i = 0; i < p->proc.n; i++) {
        struct mx_proc *pr = &p->proc.v[i];
        if (pr->age_kind)
            pr->performed = age_interval(&p->birth, pr->age_kind, &pr->age_lo, &pr->age_hi);
    }
    /* Observation.encounter -> Encounter index (getEncounter: E.id = reference.getId()) */
    for (size_t i = 0; i < p->obs.n; i++) {
        struct mx_obs *o = &p->obs.v[i];
        if (!o->enc_state) continue;
        const char *want = mx_str(p, o->enc_ref);
        for (size_t k = 0; k < p->enc.n; k++)
            if (!strcmp(mx_str(p, p->enc.v[k].id), want)) {
                o->enc = (int32_t)k;
                o->enc_state = 1;
                break;
            }
    }
    /* medicationReference -> Medication.code */
    for (size_t i = 0; i < p->mreq.n; i++) {
        struct mx_mreq *m = &p->mreq.v[i];
        if (!m->med_ref) continue;
        for (size_t k = 0; k < p->med.n; k++)
            if (!strcmp(mx_str(p, p->med.v[k].id), mx_str(p, m->med_ref)))
                m->med |= p->med.v[k].code;
    }
    return SG_OK;
}

/* "Bundle.entry[i].resource" without snprintf (called for every entry). */
static void entry_where(char out[64], size_t i)
{
    static const char pre[] = "Bundle.entry[", post[] = "].resource";
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + i % 10);
        i /= 10;
    } while (i && n < 20);
    memcpy(out, pre, sizeof pre - 1);
    char *w = out + sizeof pre - 1;
    while (n)
        *w++ = digits[--n];
    memcpy(w, post, sizeof post);
}

int meas_patient_from_json(const struct meas_engine *eng, json_t *b, struct meas_patient *p,
                           struct meas_error *e)
{
    static const char *const types[] = {"collection", "transaction", "batch", "searchset", NULL};
    struct rd r = {eng, p, e, "Bundle"};
    meas_patient_reset(p);
    if (e) memset(e, 0, sizeof *e);
    if (!json_is_object(b)) return fail(&r, SG_EPARSE, NULL, "input is not a JSON object");
    const char *rt = str(b, "resourceType");
    if (!rt || strcmp(rt, "Bundle")) {
        r.where = "resourceType";
        return fail(&r, SG_EINVAL, NULL, "resourceType is '%s', expected 'Bundle'",
                    rt ? rt : "(missing)");
    }
    const char *bt = str(b, "type");
    if (!str_in(bt, types))
        return fail(&r, SG_EINVAL, "type",
                    "Bundle.type is '%s', expected collection, transaction, batch or searchset",
                    bt ? bt : "(missing)");
    json_t *entries = json_object_get(b, "entry");
    if (entries && !json_is_array(entries))
        return fail(&r, SG_EINVAL, "entry", "Bundle.entry is not an array");
    size_t i;
    json_t *en;
    char where[64];
    json_array_foreach(entries, i, en)
    {
        json_t *res = json_object_get(en, "resource");
        entry_where(where, i);
        if (!res) continue; /* e.g. a DELETE in a transaction */
        int rc = mx_add_resource(eng, p, res, str(en, "fullUrl"), where, e);
        if (rc != SG_OK) return rc;
    }
    return mx_finish(eng, p, e);
}

int meas_patient_from_text(const struct meas_engine *eng, const char *text, size_t len,
                           struct meas_patient *p, struct meas_error *e)
{
    json_error_t je;
    json_t *b = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!b) {
        meas_patient_reset(p);
        if (e) {
            memset(e, 0, sizeof *e);
            e->code = SG_EPARSE;
            e->line = je.line;
            e->where[0] = '\0'; /* the position is in line and msg */
            snprintf(e->msg, sizeof e->msg, "not valid JSON (line %d, column %d): %s", je.line,
                     je.column, je.text);
        }
        return SG_EPARSE;
    }
    int rc = meas_patient_from_json(eng, b, p, e);
    json_decref(b);
    return rc;
}

json_t *meas_error_outcome(const struct meas_error *e)
{
    const char *code = e->code == SG_EPARSE   ? "structure"
                       : e->code == SG_ENOMEM ? "exception"
                                              : "invalid";
    json_t *issue =
        json_pack("{s:s, s:s, s:s}", "severity", "error", "code", code, "diagnostics", e->msg);
    if (!issue) return NULL;
    if (e->where[0]) json_object_set_new(issue, "expression", json_pack("[s]", e->where));
    return json_pack("{s:s, s:[o]}", "resourceType", "OperationOutcome", "issue", issue);
}
