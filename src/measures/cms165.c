/* cms165.c: CMS165 Controlling High Blood Pressure (ControllingHighBloodPressureFHIR 0.1.000).
 * Adults 18-85 with essential hypertension overlapping the first six months of the period and a
 * qualifying encounter, whose lowest systolic (< 140) and lowest diastolic (< 90) readings on
 * the most recent blood-pressure day of the period are controlled. Readings taken in emergency,
 * inpatient, pre-admission or short-stay encounters do not count. Exclusions: hospice,
 * pregnancy/ESRD/kidney transplant/CKD 5, dialysis or transplant procedures, ESRD monthly
 * services, age 66-80 frailty with advanced illness or 81+ frailty, nursing home, palliative. */
#include <string.h>

#include "measures/model.h"

/* "Qualifying ... Blood Pressure Reading": the observation-bp profile (its fixed code
 * 85354-9), isObservationBP, encounter class not in {EMER, IMP, ACUTE, NONAC, PRENC, SS},
 * effective.latest() during day of MP. A reference to an Encounter that is not in the data gives
 * `null in {...}`, which CQL defines as false, so the reading qualifies. */
static int qualifying_bp(const struct meas_patient *p, const struct mx_ctx *c,
                         const struct mx_obs *o, struct cql_dt *date)
{
    if (!(o->code & VS_BIT(CODE_BP_PANEL)) || !(o->status & OBS_FINAL)) return 0;
    if (o->enc >= 0 && p->enc.v[o->enc].class_inpat) return 0;
    struct cql_dt latest = cql_ivl_latest(&o->eff);
    if (cql_in(&latest, &c->mp, CQL_PDAY) != CQL_T) return 0;
    *date = cql_date_from(latest);
    return 1;
}

/* First(readings on the day, value sorted asc): null if any reading lacks the component. */
static enum cql_bool lowest_below(const struct meas_patient *p, const struct mx_ctx *c,
                                  const struct cql_dt *day, int systolic, double limit)
{
    int any = 0;
    double low = 0;
    for (size_t i = 0; i < p->obs.n; i++) {
        const struct mx_obs *o = &p->obs.v[i];
        struct cql_dt d;
        if (!qualifying_bp(p, c, o, &d) || cql_dt_same(&d, day, CQL_PDAY) != CQL_T) continue;
        const struct mx_qty *q = systolic ? &o->sys : &o->dia;
        if (!q->ok) return CQL_N;                    /* nulls sort first */
        if (strcmp(q->unit, "mm[Hg]")) return CQL_N; /* not comparable with 'mm[Hg]' */
        if (!any || q->v < low) low = q->v;
        any = 1;
    }
    if (!any) return CQL_N;
    return low < limit ? CQL_T : CQL_F;
}

void mx_eval_cms165(const struct meas_patient *p, const struct mx_ctx *c, struct mx_pops *o)
{
    struct cql_ivl first6 = cql_ivl_make(c->mp_start, 1, cql_dt_add_months(c->mp_start, 6), 0);
    enum cql_bool htn = CQL_F;
    for (size_t i = 0; i < p->cond.n; i++) {
        const struct mx_cond *d = &p->cond.v[i];
        if ((d->code & VS_BIT(VS_ESSENTIAL_HTN)) &&
            cql_overlaps(&d->prev, &first6, CQL_PTIME) == CQL_T)
            htn = CQL_T;
    }
    o->ip = cql_and(cql_and(mx_age_in(c, 18, 85), htn),
                    mx_qualifying_encounters(p, c, MX_ADULT_OUTPATIENT));
    o->denom = o->ip;

    enum cql_bool ex = mx_has_hospice(p, c);
    const vs_mask renal = VS_BIT(VS_PREGNANCY) | VS_BIT(VS_ESRD) |
                          VS_BIT(VS_KIDNEY_TRANSPLANT_RECIPIENT) | VS_BIT(VS_CKD_STAGE5);
    for (size_t i = 0; i < p->cond.n && ex != CQL_T; i++) {
        const struct mx_cond *d = &p->cond.v[i];
        if ((d->code & renal) && cql_overlaps(&d->prev, &c->mp, CQL_PTIME) == CQL_T) ex = CQL_T;
    }
    for (size_t i = 0; i < p->proc.n && ex != CQL_T; i++) {
        const struct mx_proc *pr = &p->proc.v[i];
        if ((pr->code & (VS_BIT(VS_KIDNEY_TRANSPLANT) | VS_BIT(VS_DIALYSIS))) && pr->completed &&
            cql_ends_on_or_before(&pr->performed, &c->mp_end, CQL_PTIME) == CQL_T)
            ex = CQL_T;
    }
    for (size_t i = 0; i < p->enc.n && ex != CQL_T; i++) {
        const struct mx_enc *e = &p->enc.v[i];
        if ((e->type & VS_BIT(VS_ESRD_MONTHLY)) && e->performed &&
            cql_starts_on_or_before(&e->period, &c->mp_end, CQL_PTIME) == CQL_T)
            ex = CQL_T;
    }
    ex = cql_or(ex, mx_age66_80_aif_or_81_frail(p, c));
    ex = cql_or(ex, mx_age66_ltc(p, c));
    o->denex = cql_or(ex, mx_has_palliative(p, c));

    /* "Most Recent Blood Pressure Day": the latest date with a qualifying reading (the
     * intersect of the systolic and diastolic reading dates is one set: both queries agree). */
    struct cql_dt day = cql_dt_null();
    for (size_t i = 0; i < p->obs.n; i++) {
        struct cql_dt d;
        if (qualifying_bp(p, c, &p->obs.v[i], &d) &&
            (day.prec == CQL_PNULL || cql_dt_cmp(&d, &day, CQL_PDAY) == 1))
            day = d;
    }
    if (day.prec == CQL_PNULL) {
        o->numer = CQL_N;
        return;
    }
    o->numer = cql_and(lowest_below(p, c, &day, 1, 140), lowest_below(p, c, &day, 0, 90));
    o->numer_day = day; /* the most recent day decides the status */
}
