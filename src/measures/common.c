/* common.c: the definitions the five measures share, one function per CQL definition of the
 * included libraries: AdultOutpatientEncounters 4.11 "Qualifying Encounters", Hospice 6.12
 * "Has Hospice Services", PalliativeCare 1.11 "Has Palliative Care in the Measurement Period",
 * AdvancedIllnessandFrailty 1.16 (frailty, advanced illness, dementia medications, long-term
 * nursing home), with the Status 1.8 filters applied through the model's flags. Each `exists`
 * keeps only elements whose where-clause is true (CQL null filters out). */
#include "measures/model.h"

#define PD CQL_PDAY

enum cql_bool mx_age_in(const struct mx_ctx *c, int lo, int hi)
{
    if (!c->age_known) return CQL_N;
    if (c->age_lo >= lo && c->age_hi <= hi) return CQL_T;
    if (c->age_hi < lo || c->age_lo > hi) return CQL_F;
    return CQL_N;
}

enum cql_bool mx_age_ge(const struct mx_ctx *c, int lo)
{
    if (!c->age_known) return CQL_N;
    if (c->age_lo >= lo) return CQL_T;
    if (c->age_hi < lo) return CQL_F;
    return CQL_N;
}

/* ValidEncounter.period.toInterval() during day of "Measurement Period", isEncounterPerformed */
enum cql_bool mx_qualifying_encounters(const struct meas_patient *p, const struct mx_ctx *c,
                                       vs_mask types)
{
    for (size_t i = 0; i < p->enc.n; i++) {
        const struct mx_enc *e = &p->enc.v[i];
        if ((e->type & types) && e->performed && cql_during(&e->period, &c->mp, PD) == CQL_T)
            return CQL_T;
    }
    return CQL_F;
}

static int assessment(const struct mx_obs *o)
{
    return (o->status & OBS_FINAL) && (o->cat & CAT_SURVEY);
}

enum cql_bool mx_has_hospice(const struct meas_patient *p, const struct mx_ctx *c)
{
    const vs_mask disch =
        VS_BIT(CODE_DISCHARGE_HOME_HOSPICE) | VS_BIT(CODE_DISCHARGE_FACILITY_HOSPICE);
    for (size_t i = 0; i < p->enc.n; i++) {
        const struct mx_enc *e = &p->enc.v[i];
        if (!e->performed) continue;
        if ((e->type & VS_BIT(VS_ENCOUNTER_INPATIENT)) && (e->discharge & disch) &&
            cql_ends_during(&e->period, &c->mp, PD) == CQL_T)
            return CQL_T;
        if ((e->type & VS_BIT(VS_HOSPICE_ENCOUNTER)) &&
            cql_overlaps(&e->period, &c->mp, PD) == CQL_T)
            return CQL_T;
    }
    for (size_t i = 0; i < p->obs.n; i++) {
        const struct mx_obs *o = &p->obs.v[i];
        if ((o->code & VS_BIT(CODE_HOSPICE_MDS)) && assessment(o) && o->value_kind == VAL_CONCEPT &&
            (o->vconcept & VS_BIT(CODE_YES)) && cql_overlaps(&o->eff, &c->mp, PD) == CQL_T)
            return CQL_T;
    }
    for (size_t i = 0; i < p->sreq.n; i++) {
        const struct mx_sreq *s = &p->sreq.v[i];
        if ((s->code & VS_BIT(VS_HOSPICE_CARE_AMBULATORY)) && s->order &&
            cql_during(&s->authored, &c->mp, PD) == CQL_T)
            return CQL_T;
    }
    for (size_t i = 0; i < p->proc.n; i++) {
        const struct mx_proc *pr = &p->proc.v[i];
        if ((pr->code & VS_BIT(VS_HOSPICE_CARE_AMBULATORY)) && pr->completed &&
            cql_overlaps(&pr->performed, &c->mp, PD) == CQL_T)
            return CQL_T;
    }
    for (size_t i = 0; i < p->cond.n; i++) {
        const struct mx_cond *d = &p->cond.v[i];
        if ((d->code & VS_BIT(VS_HOSPICE_DIAGNOSIS)) && cql_overlaps(&d->prev, &c->mp, PD) == CQL_T)
            return CQL_T;
    }
    return CQL_F;
}

enum cql_bool mx_has_palliative(const struct meas_patient *p, const struct mx_ctx *c)
{
    for (size_t i = 0; i < p->obs.n; i++) {
        const struct mx_obs *o = &p->obs.v[i];
        if ((o->code & VS_BIT(CODE_FACIT_PAL)) && assessment(o) &&
            cql_overlaps(&o->eff, &c->mp, PD) == CQL_T)
            return CQL_T;
    }
    for (size_t i = 0; i < p->cond.n; i++) {
        const struct mx_cond *d = &p->cond.v[i];
        if ((d->code & VS_BIT(VS_PALLIATIVE_DIAGNOSIS)) &&
            cql_overlaps(&d->prev, &c->mp, PD) == CQL_T)
            return CQL_T;
    }
    for (size_t i = 0; i < p->enc.n; i++) {
        const struct mx_enc *e = &p->enc.v[i];
        if ((e->type & VS_BIT(VS_PALLIATIVE_ENCOUNTER)) && e->performed &&
            cql_overlaps(&e->period, &c->mp, PD) == CQL_T)
            return CQL_T;
    }
    for (size_t i = 0; i < p->proc.n; i++) {
        const struct mx_proc *pr = &p->proc.v[i];
        if ((pr->code & VS_BIT(VS_PALLIATIVE_INTERVENTION)) && pr->completed &&
            cql_overlaps(&pr->performed, &c->mp, PD) == CQL_T)
            return CQL_T;
    }
    return CQL_F;
}

/* "Has Criteria Indicating Frailty" */
enum cql_bool mx_frailty(const struct meas_patient *p, const struct mx_ctx *c)
{
    for (size_t i = 0; i < p->dreq.n; i++) {
        const struct mx_dreq *d = &p->dreq.v[i];
        if ((d->code & VS_BIT(VS_FRAILTY_DEVICE)) && d->order && d->dnp != 1 &&
            cql_during(&d->authored, &c->mp, PD) == CQL_T)
            return CQL_T;
    }
    for (size_t i = 0; i < p->obs.n; i++) {
        const struct mx_obs *o = &p->obs.v[i];
        if ((o->code & VS_BIT(CODE_MEDICAL_EQUIPMENT_USED)) && assessment(o) &&
            o->value_kind == VAL_CONCEPT && (o->vconcept & VS_BIT(VS_FRAILTY_DEVICE)) &&
            cql_ends_during(&o->eff, &c->mp, PD) == CQL_T)
            return CQL_T;
        if ((o->code & VS_BIT(VS_FRAILTY_SYMPTOM)) && (o->status & (OBS_FINAL | OBS_PRELIM)) &&
            cql_overlaps(&o->eff, &c->mp, PD) == CQL_T)
            return CQL_T;
    }
    for (size_t i = 0; i < p->cond.n; i++) {
        const struct mx_cond *d = &p->cond.v[i];
        if ((d->code & VS_BIT(VS_FRAILTY_DIAGNOSIS)) && cql_overlaps(&d->prev, &c->mp, PD) == CQL_T)
            return CQL_T;
    }
    for (size_t i = 0; i < p->enc.n; i++) {
        const struct mx_enc *e = &p->enc.v[i];
        if ((e->type & VS_BIT(VS_FRAILTY_ENCOUNTER)) && e->performed &&
            cql_overlaps(&e->period, &c->mp, PD) == CQL_T)
            return CQL_T;
    }
    return CQL_F;
}

/* "Has Advanced Illness in Year Before or During Measurement Period" or
 * "Has Dementia Medications in Year Before or During Measurement Period" */
enum cql_bool mx_advanced_illness_or_dementia(const struct meas_patient *p, const struct mx_ctx *c)
{
    struct cql_ivl win = cql_ivl_make(cql_dt_add_years(c->mp_start, -1), 1, c->mp_end, 1);
    for (size_t i = 0; i < p->cond.n; i++) {
        const struct mx_cond *d = &p->cond.v[i];
        if ((d->code & VS_BIT(VS_ADVANCED_ILLNESS)) &&
            cql_starts_during(&d->prev, &win, PD) == CQL_T)
            return CQL_T;
    }
    for (size_t i = 0; i < p->mreq.n; i++) {
        const struct mx_mreq *m = &p->mreq.v[i];
        if ((m->med & VS_BIT(VS_DEMENTIA_MEDS)) && m->active &&
            cql_overlaps(&m->period, &win, PD) == CQL_T)
            return CQL_T;
    }
    return CQL_F;
}

enum cql_bool mx_age66_aif(const struct meas_patient *p, const struct mx_ctx *c)
{
    enum cql_bool age = mx_age_ge(c, 66);
    if (age == CQL_F) return CQL_F;
    return cql_and(age, cql_and(mx_frailty(p, c), mx_advanced_illness_or_dementia(p, c)));
}

enum cql_bool mx_age66_80_aif_or_81_frail(const struct meas_patient *p, const struct mx_ctx *c)
{
    enum cql_bool a1 = mx_age_in(c, 66, 80), a2 = mx_age_ge(c, 81);
    if (a1 == CQL_F && a2 == CQL_F) return CQL_F;
    enum cql_bool frail = mx_frailty(p, c);
    return cql_or(cql_and(a1, cql_and(frail, mx_advanced_illness_or_dementia(p, c))),
                  cql_and(a2, frail));
}

/* "Is Age 66 or Older Living Long Term in a Nursing Home": the last housing-status assessment
 * ending on or before the day of the end of the period says "lives in a nursing home". */
enum cql_bool mx_age66_ltc(const struct meas_patient *p, const struct mx_ctx *c)
{
    enum cql_bool age = mx_age_ge(c, 66);
    if (age == CQL_F) return CQL_F;
    const struct mx_obs *last = NULL;
    struct cql_dt last_end = cql_dt_null();
    for (size_t i = 0; i < p->obs.n; i++) {
        const struct mx_obs *o = &p->obs.v[i];
        if (!(o->code & VS_BIT(CODE_HOUSING_STATUS)) || !assessment(o)) continue;
        if (cql_ends_on_or_before(&o->eff, &c->mp_end, PD) != CQL_T) continue;
        struct cql_dt e = cql_ivl_end(&o->eff);
        /* sort by end asc, stable; Last = greatest end, the later one on ties */
        int cmp = last ? cql_dt_cmp(&e, &last_end, CQL_PTIME) : 1;
        if (cmp == CQL_CMP_NULL) /* differing precision: order by the fields present */
            cmp = (e.y != last_end.y)   ? (e.y > last_end.y ? 1 : -1)
                  : (e.m != last_end.m) ? (e.m > last_end.m ? 1 : -1)
                  : (e.d != last_end.d) ? (e.d > last_end.d ? 1 : -1)
                                        : (e.ms >= last_end.ms ? 1 : -1);
        if (cmp >= 0) {
            last = o;
            last_end = e;
        }
    }
    enum cql_bool nh = (last && last->value_kind == VAL_CONCEPT &&
                        (last->vconcept & VS_BIT(CODE_LIVES_IN_NURSING_HOME)))
                           ? CQL_T
                           : CQL_F;
    return cql_and(age, nh);
}

enum cql_bool mx_diabetes_overlaps_mp(const struct meas_patient *p, const struct mx_ctx *c)
{
    for (size_t i = 0; i < p->cond.n; i++) {
        const struct mx_cond *d = &p->cond.v[i];
        if ((d->code & VS_BIT(VS_DIABETES)) && cql_overlaps(&d->prev, &c->mp, PD) == CQL_T)
            return CQL_T;
    }
    return CQL_F;
}

struct cql_dt mx_event_day(struct cql_dt d)
{
    if (d.prec == CQL_PNULL) return d;
    if (d.prec == CQL_PYEAR) return cql_date_make(d.y, 12, 31);
    if (d.prec == CQL_PMONTH) /* the month's last day: the first of the next month, minus one */
        return cql_dt_add_days(cql_dt_add_months(cql_date_make(d.y, d.m, 1), 1), -1);
    return cql_date_make(d.y, d.m, d.d);
}

void mx_keep_earliest(struct cql_dt *best, struct cql_dt d)
{
    struct cql_dt e = mx_event_day(d);
    if (e.prec == CQL_PNULL) return;
    if (best->prec == CQL_PNULL || cql_dt_cmp(&e, best, CQL_PDAY) < 0) *best = e;
}
