/* cms125.c: CMS125 Breast Cancer Screening (BreastCancerScreeningFHIR 0.0.001, QI-Core 4.1.1).
 * Women 52-74 at the end of the period with a qualifying outpatient encounter, who had a
 * mammogram from October 1 two years before the period through its end. Exclusions: hospice,
 * bilateral mastectomy (or right and left unilateral), age 66+ with advanced illness and frailty
 * or living long term in a nursing home, palliative care. */
#include "measures/model.h"

/* "... starts on or before end of MP": full precision, as written in the CQL. */
static int mastectomy_dx(const struct meas_patient *p, const struct mx_ctx *c, vs_mask direct,
                         vs_mask side)
{
    for (size_t i = 0; i < p->cond.n; i++) {
        const struct mx_cond *d = &p->cond.v[i];
        int hit =
            (d->code & direct) ||
            (side && (d->code & VS_BIT(VS_UNILATERAL_MASTECTOMY_UNSPEC)) && (d->body_site & side));
        if (hit && cql_starts_on_or_before(&d->prev, &c->mp_end, CQL_PTIME) == CQL_T) return 1;
    }
    return 0;
}

static int mastectomy_proc(const struct meas_patient *p, const struct mx_ctx *c, vs_mask code)
{
    for (size_t i = 0; i < p->proc.n; i++) {
        const struct mx_proc *pr = &p->proc.v[i];
        if ((pr->code & code) && pr->completed &&
            cql_ends_on_or_before(&pr->performed, &c->mp_end, CQL_PTIME) == CQL_T)
            return 1;
    }
    return 0;
}

void mx_eval_cms125(const struct meas_patient *p, const struct mx_ctx *c, struct mx_pops *o)
{
    o->ip = cql_and(cql_and(mx_age_in(c, 52, 74), p->gender_female ? CQL_T : CQL_F),
                    mx_qualifying_encounters(p, c, MX_ADULT_OUTPATIENT));
    o->denom = o->ip;
    int right = mastectomy_dx(p, c, VS_BIT(VS_STATUS_POST_RIGHT_MASTECTOMY), VS_BIT(CODE_RIGHT)) ||
                mastectomy_proc(p, c, VS_BIT(VS_UNILATERAL_MASTECTOMY_RIGHT));
    int left = mastectomy_dx(p, c, VS_BIT(VS_STATUS_POST_LEFT_MASTECTOMY), VS_BIT(CODE_LEFT)) ||
               mastectomy_proc(p, c, VS_BIT(VS_UNILATERAL_MASTECTOMY_LEFT));
    enum cql_bool ex = mx_has_hospice(p, c);
    ex = cql_or(ex, (right && left) ? CQL_T : CQL_F);
    ex =
        cql_or(ex, mastectomy_dx(p, c, VS_BIT(VS_HISTORY_BILATERAL_MASTECTOMY), 0) ? CQL_T : CQL_F);
    ex = cql_or(ex, mastectomy_proc(p, c, VS_BIT(VS_BILATERAL_MASTECTOMY)) ? CQL_T : CQL_F);
    ex = cql_or(ex, mx_age66_aif(p, c));
    ex = cql_or(ex, mx_age66_ltc(p, c));
    o->denex = cql_or(ex, mx_has_palliative(p, c));

    /* "October 1 Two Years Prior to the Measurement Period" .. end of MP, ends during day of */
    struct cql_ivl win =
        cql_ivl_make(cql_dt_make(c->mp_start.y - 2, 10, 1, 0, 0, 0, 0), 1, c->mp_end, 1);
    o->numer = CQL_F;
    for (size_t i = 0; i < p->obs.n; i++) { /* all of them: the earliest dates the numerator */
        const struct mx_obs *ob = &p->obs.v[i];
        if ((ob->code & VS_BIT(VS_MAMMOGRAPHY)) && (ob->status & OBS_FINAL) &&
            cql_ends_during(&ob->eff, &win, CQL_PDAY) == CQL_T) {
            o->numer = CQL_T;
            mx_keep_earliest(&o->numer_day, cql_ivl_end(&ob->eff));
        }
    }
}
