/* cms130.c: CMS130 Colorectal Cancer Screening (ColonCancerScreeningFHIR 0.1.000).
 * Adults 46-75 at the end of the period with a qualifying outpatient encounter, screened by FOBT
 * (in the period), sDNA-FIT (period or 2 years before), flexible sigmoidoscopy or CT colonography
 * (period or 4 years before) or colonoscopy (period or 9 years before). Exclusions: hospice,
 * colorectal cancer, total colectomy, age 66+ frailty/advanced illness or nursing home,
 * palliative care. */
#include "measures/model.h"

static struct cql_ivl back(const struct mx_ctx *c, int years)
{
    return cql_ivl_make(cql_dt_add_years(c->mp_start, -years), 1, c->mp_end, 1);
}

static int lab_with_value(const struct mx_obs *o)
{
    return (o->status & OBS_FINAL) && (o->cat & CAT_LAB) && o->value_kind != VAL_NONE;
}

void mx_eval_cms130(const struct meas_patient *p, const struct mx_ctx *c, struct mx_pops *o)
{
    o->ip = cql_and(mx_age_in(c, 46, 75), mx_qualifying_encounters(p, c, MX_ADULT_OUTPATIENT));
    o->denom = o->ip;

    enum cql_bool ex = mx_has_hospice(p, c);
    for (size_t i = 0; i < p->cond.n && ex != CQL_T; i++) {
        const struct mx_cond *d = &p->cond.v[i];
        if ((d->code & VS_BIT(VS_MALIGNANT_NEOPLASM_COLON)) &&
            cql_starts_on_or_before(&d->prev, &c->mp_end, CQL_PDAY) == CQL_T)
            ex = CQL_T;
    }
    for (size_t i = 0; i < p->proc.n && ex != CQL_T; i++) {
        const struct mx_proc *pr = &p->proc.v[i];
        if ((pr->code & VS_BIT(VS_TOTAL_COLECTOMY)) && pr->completed &&
            cql_ends_on_or_before(&pr->performed, &c->mp_end, CQL_PDAY) == CQL_T)
            ex = CQL_T;
    }
    ex = cql_or(ex, mx_age66_aif(p, c));
    ex = cql_or(ex, mx_age66_ltc(p, c));
    o->denex = cql_or(ex, mx_has_palliative(p, c));

    /* every qualifying screening: the earliest dates the numerator */
    struct cql_ivl w2 = back(c, 2), w4 = back(c, 4), w9 = back(c, 9);
    o->numer = CQL_F;
    for (size_t i = 0; i < p->obs.n; i++) {
        const struct mx_obs *ob = &p->obs.v[i];
        struct cql_dt latest = cql_ivl_latest(&ob->eff);
        if (((ob->code & VS_BIT(VS_FOBT)) && lab_with_value(ob) &&
             cql_in(&latest, &c->mp, CQL_PDAY) == CQL_T) ||
            ((ob->code & VS_BIT(VS_SDNA_FIT)) && lab_with_value(ob) &&
             cql_in(&latest, &w2, CQL_PDAY) == CQL_T)) {
            o->numer = CQL_T;
            mx_keep_earliest(&o->numer_day, latest);
        } else if ((ob->code & VS_BIT(VS_CT_COLONOGRAPHY)) && (ob->status & OBS_FINAL) &&
                   cql_ends_during(&ob->eff, &w4, CQL_PDAY) == CQL_T) {
            o->numer = CQL_T;
            mx_keep_earliest(&o->numer_day, cql_ivl_end(&ob->eff));
        }
    }
    for (size_t i = 0; i < p->proc.n; i++) {
        const struct mx_proc *pr = &p->proc.v[i];
        if (!pr->completed) continue;
        if (((pr->code & VS_BIT(VS_FLEX_SIGMOIDOSCOPY)) &&
             cql_ends_during(&pr->performed, &w4, CQL_PDAY) == CQL_T) ||
            ((pr->code & VS_BIT(VS_COLONOSCOPY)) &&
             cql_ends_during(&pr->performed, &w9, CQL_PDAY) == CQL_T)) {
            o->numer = CQL_T;
            mx_keep_earliest(&o->numer_day, cql_ivl_end(&pr->performed));
        }
    }
}
