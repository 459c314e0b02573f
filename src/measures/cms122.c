/* cms122.c: CMS122 Diabetes: Glycemic Status Assessment Greater Than 9%
 * (DiabetesGlycemicStatusAssessmentGreaterThan9PercentFHIR 0.1.002). An inverse measure: the
 * numerator is poor control. Diabetics 18-75 with a qualifying encounter whose most recent HbA1c
 * or GMI (lowest value on the most recent day) is > 9 %, has no result, or who have none in the
 * period. The Star measure GSD (control) is its complement. Exclusions: hospice, age 66+
 * nursing home or frailty/advanced illness, palliative care. */
#include <string.h>

#include "measures/model.h"

static int glycemic(const struct mx_obs *o, const struct mx_ctx *c, struct cql_dt *date)
{
    if (!(o->code & (VS_BIT(VS_HBA1C) | VS_BIT(CODE_GMI))) || !(o->status & OBS_FINAL) ||
        !(o->cat & CAT_LAB))
        return 0;
    struct cql_dt latest = cql_ivl_latest(&o->eff);
    if (cql_in(&latest, &c->mp, CQL_PDAY) != CQL_T) return 0;
    *date = cql_date_from(latest);
    return 1;
}

void mx_eval_cms122(const struct meas_patient *p, const struct mx_ctx *c, struct mx_pops *o)
{
    o->ip =
        cql_and(cql_and(mx_age_in(c, 18, 75), mx_qualifying_encounters(p, c, MX_ADULT_OUTPATIENT)),
                mx_diabetes_overlaps_mp(p, c));
    o->denom = o->ip;
    enum cql_bool ex = mx_has_hospice(p, c);
    ex = cql_or(ex, mx_age66_ltc(p, c));
    ex = cql_or(ex, mx_age66_aif(p, c));
    o->denex = cql_or(ex, mx_has_palliative(p, c));

    struct cql_dt day = cql_dt_null(), d;
    for (size_t i = 0; i < p->obs.n; i++)
        if (glycemic(&p->obs.v[i], c, &d) &&
            (day.prec == CQL_PNULL || cql_dt_cmp(&d, &day, CQL_PDAY) == 1))
            day = d;
    if (day.prec == CQL_PNULL) { /* "Has No Record Of Glycemic Status Assessment" */
        o->numer = CQL_T;
        return;
    }
    o->numer_day = day; /* the most recent day decides the status, either way */
    /* "Lowest ... on Most Recent Day": sort by value as Quantity, nulls first, stable; First */
    const struct mx_obs *lowest = NULL;
    for (size_t i = 0; i < p->obs.n; i++) {
        const struct mx_obs *ob = &p->obs.v[i];
        if (!glycemic(ob, c, &d) || cql_dt_same(&d, &day, CQL_PDAY) != CQL_T) continue;
        int qnull = !(ob->value_kind == VAL_QTY && ob->qty.ok);
        if (!lowest) {
            lowest = ob;
            continue;
        }
        int lnull = !(lowest->value_kind == VAL_QTY && lowest->qty.ok);
        if (lnull) continue; /* the first null stays first */
        if (qnull || ob->qty.v < lowest->qty.v) lowest = ob;
    }
    /* "Has Most Recent Glycemic Status Assessment Without Result" */
    if (lowest->value_kind == VAL_NONE) {
        o->numer = CQL_T;
        return;
    }
    /* "Has Most Recent Elevated Glycemic Status Assessment": value as Quantity > 9 '%' */
    if (lowest->value_kind != VAL_QTY || !lowest->qty.ok || strcmp(lowest->qty.unit, "%")) {
        o->numer = CQL_N;
        return;
    }
    o->numer = lowest->qty.v > 9 ? CQL_T : CQL_F;
}
