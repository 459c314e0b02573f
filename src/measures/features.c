/* features.c: per-patient numeric features for the gap models, computed from the compact patient
 * model the measures evaluate (model.h), over one measurement period: age and sex, encounter
 * counts by kind, chronic conditions active in the period and counts of observations and
 * procedures. The names, order and definitions are documented at meas_feature_names in
 * measures.h and in docs/MODELS.md; `stargap import --fhir` stores them per member and year.
 * Encounter kinds use the value sets the engine already indexes (Encounter.type) and, as the
 * standard FHIR signal of the setting, Encounter.class (v3 ActCode AMB, EMER, IMP/ACUTE/NONAC,
 * VR); either one is enough. */
#include <math.h>

#include "measures/model.h"

#define PD CQL_PDAY

const char *const meas_feature_names[MEAS_FEATURES_N] = {
    "fhir_age",
    "fhir_female",
    "fhir_encounters",
    "fhir_outpatient_encounters",
    "fhir_ed_visits",
    "fhir_inpatient_encounters",
    "fhir_telehealth_encounters",
    "fhir_diabetes",
    "fhir_hypertension",
    "fhir_ckd5_esrd",
    "fhir_advanced_illness",
    "fhir_frailty_dx",
    "fhir_diabetic_retinopathy",
    "fhir_active_conditions",
    "fhir_observations",
    "fhir_hba1c_tests",
    "fhir_bp_readings",
    "fhir_procedures",
};

enum {
    F_AGE,
    F_FEMALE,
    F_ENC,
    F_OUTPAT,
    F_ED,
    F_INPAT,
    F_TELE,
    F_DIABETES,
    F_HTN,
    F_CKD5,
    F_ADV_ILL,
    F_FRAIL,
    F_RETINOPATHY,
    F_ACTIVE_COND,
    F_OBS,
    F_HBA1C,
    F_BP,
    F_PROC,
    F_COUNT
};
_Static_assert(F_COUNT == MEAS_FEATURES_N, "feature table and enum disagree");

void meas_patient_demographics(const struct meas_patient *p, struct meas_demographics *out)
{
    out->birth_year = p->birth.prec != CQL_PNULL ? p->birth.y : 0;
    out->sex = p->gender == MX_GENDER_FEMALE ? 'F' : p->gender == MX_GENDER_MALE ? 'M' : 0;
}

/* Conditions whose codes count as each chronic-condition flag. */
static const struct {
    int feature;
    vs_mask bits;
} cond_flags[] = {
    {F_DIABETES, VS_BIT(VS_DIABETES)},
    {F_HTN, VS_BIT(VS_ESSENTIAL_HTN)},
    {F_CKD5, VS_BIT(VS_CKD_STAGE5) | VS_BIT(VS_ESRD)},
    {F_ADV_ILL, VS_BIT(VS_ADVANCED_ILLNESS)},
    {F_FRAIL, VS_BIT(VS_FRAILTY_DIAGNOSIS)},
    {F_RETINOPATHY, VS_BIT(VS_DIABETIC_RETINOPATHY)},
};

void meas_features(const struct meas_patient *p, const struct meas_period *period,
                   double out[MEAS_FEATURES_N])
{
    for (int i = 0; i < MEAS_FEATURES_N; i++)
        out[i] = 0;
    struct cql_dt start = cql_dt_make(period->sy, period->sm, period->sd, 0, 0, 0, 0);
    struct cql_dt end = cql_dt_make(period->ey, period->em, period->ed, 23, 59, 59, 999);
    struct cql_ivl mp = cql_ivl_make(start, 1, end, 1);
    struct cql_dt end_date = cql_date_from(end);

    int lo = 0, hi = 0;
    out[F_AGE] =
        cql_years_between(&p->birth, &end_date, &lo, &hi) == CQL_T && lo == hi ? (double)lo : NAN;
    out[F_FEMALE] = p->gender == MX_GENDER_FEMALE ? 1.0 : p->gender == MX_GENDER_MALE ? 0.0 : NAN;

    for (size_t i = 0; i < p->enc.n; i++) {
        const struct mx_enc *e = &p->enc.v[i];
        if (!e->performed || cql_starts_during(&e->period, &mp, PD) != CQL_T) continue;
        out[F_ENC]++;
        if ((e->type & MX_ADULT_OUTPATIENT) || e->cls == ENC_CLS_AMB) out[F_OUTPAT]++;
        if ((e->type & VS_BIT(VS_ED_VISIT)) || e->cls == ENC_CLS_EMER) out[F_ED]++;
        if ((e->type & VS_BIT(VS_ENCOUNTER_INPATIENT)) || e->cls == ENC_CLS_INPAT) out[F_INPAT]++;
        if ((e->type & (VS_BIT(VS_VIRTUAL) | VS_BIT(VS_TELEPHONE))) || e->cls == ENC_CLS_VR)
            out[F_TELE]++;
    }
    for (size_t i = 0; i < p->cond.n; i++) {
        const struct mx_cond *c = &p->cond.v[i];
        if (cql_overlaps(&c->prev, &mp, PD) != CQL_T) continue;
        out[F_ACTIVE_COND]++;
        for (size_t k = 0; k < sizeof cond_flags / sizeof cond_flags[0]; k++)
            if (c->code & cond_flags[k].bits) out[cond_flags[k].feature] = 1;
    }
    for (size_t i = 0; i < p->obs.n; i++) {
        const struct mx_obs *o = &p->obs.v[i];
        if (!o->status || cql_starts_during(&o->eff, &mp, PD) != CQL_T) continue;
        out[F_OBS]++;
        if (o->code & VS_BIT(VS_HBA1C)) out[F_HBA1C]++;
        if (o->code & (VS_BIT(CODE_SYSTOLIC) | VS_BIT(CODE_BP_PANEL))) out[F_BP]++;
    }
    for (size_t i = 0; i < p->proc.n; i++) {
        const struct mx_proc *pr = &p->proc.v[i];
        if (pr->completed && cql_starts_during(&pr->performed, &mp, PD) == CQL_T) out[F_PROC]++;
    }
}
