/* cms131.c: CMS131 Diabetes: Eye Exam (DiabetesEyeExamFHIR 0.0.002).
 * Diabetics 18-75 with a qualifying encounter (the adult outpatient list with Ophthalmological
 * Services instead of Virtual Encounter) who had a retinal or dilated eye exam in the period, or,
 * without diabetic retinopathy overlapping the period, in the period or the year before.
 * Exclusions: hospice, age 66+ frailty/advanced illness or nursing home, palliative care. */
#include "measures/model.h"

#define EED_ENCOUNTERS                                                                             \
    (VS_BIT(VS_OFFICE_VISIT) | VS_BIT(VS_ANNUAL_WELLNESS) | VS_BIT(VS_PREV_ESTABLISHED) |          \
     VS_BIT(VS_PREV_INITIAL) | VS_BIT(VS_HOME_HEALTHCARE) | VS_BIT(VS_OPHTHALMOLOGICAL) |          \
     VS_BIT(VS_TELEPHONE))

void mx_eval_cms131(const struct meas_patient *p, const struct mx_ctx *c, struct mx_pops *o)
{
    o->ip = cql_and(cql_and(mx_age_in(c, 18, 75), mx_qualifying_encounters(p, c, EED_ENCOUNTERS)),
                    mx_diabetes_overlaps_mp(p, c));
    o->denom = o->ip;
    enum cql_bool ex = mx_has_hospice(p, c);
    ex = cql_or(ex, mx_age66_aif(p, c));
    ex = cql_or(ex, mx_age66_ltc(p, c));
    o->denex = cql_or(ex, mx_has_palliative(p, c));

    int retinopathy = 0;
    for (size_t i = 0; i < p->cond.n; i++) {
        const struct mx_cond *d = &p->cond.v[i];
        if ((d->code & VS_BIT(VS_DIABETIC_RETINOPATHY)) &&
            cql_overlaps(&d->prev, &c->mp, CQL_PDAY) == CQL_T)
            retinopathy = 1;
    }
    /* with retinopathy an exam in the period counts, without it one in the period or the year
     * before; the earliest counting exam dates the numerator */
    struct cql_ivl w = cql_ivl_make(cql_dt_add_years(c->mp_start, -1), 1, c->mp_end, 1);
    const struct cql_ivl *win = retinopathy ? &c->mp : &w;
    o->numer = CQL_F;
    for (size_t i = 0; i < p->obs.n; i++) {
        const struct mx_obs *ob = &p->obs.v[i];
        if (!(ob->code & VS_BIT(VS_RETINAL_EXAM)) || !(ob->status & OBS_FINAL) ||
            !(ob->cat & CAT_EXAM))
            continue;
        if (cql_during(&ob->eff, win, CQL_PDAY) == CQL_T) {
            o->numer = CQL_T;
            mx_keep_earliest(&o->numer_day, cql_ivl_end(&ob->eff));
        }
    }
}
