/* model.h: the compact per-patient model the measures evaluate (internal to sg_measures).
 *
 * The FHIR reader (fhir.c) turns a patient's resources into these records: only the elements the
 * five measures' CQL reads, with every CodeableConcept reduced to a value-set mask (valueset.h),
 * every timing element to a CQL interval (cqltime.h) and every status to the flags of the Status
 * library's filters. Records live in growable arrays owned by the patient and reused across
 * patients (meas_patient_reset), so a stream of patients allocates only while it grows. */
#ifndef SG_MEASURES_MODEL_H
#define SG_MEASURES_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "measures/cqltime.h"
#include "measures/measures.h"
#include "measures/valueset.h"

enum { OBS_FINAL = 1, OBS_PRELIM = 2 };                 /* final|amended|corrected, preliminary */
enum { CAT_SURVEY = 1, CAT_LAB = 2, CAT_EXAM = 4 };     /* observation-category codes */
enum { VAL_NONE = 0, VAL_QTY, VAL_CONCEPT, VAL_OTHER }; /* Observation.value[x] kind */

struct mx_qty {
    double v;
    char unit[16]; /* CQL unit after ToCalendarUnit; "" = null quantity */
    uint8_t ok;    /* 1 when the quantity is not null */
};

/* Encounter.class.code (v3 ActCode) as the feature extractor groups it. */
enum mx_enc_class { ENC_CLS_OTHER = 0, ENC_CLS_AMB, ENC_CLS_EMER, ENC_CLS_INPAT, ENC_CLS_VR };

/* Patient.gender. */
enum mx_gender { MX_GENDER_UNKNOWN = 0, MX_GENDER_FEMALE, MX_GENDER_MALE, MX_GENDER_OTHER };

struct mx_enc {
    vs_mask type;      /* Encounter.type */
    vs_mask discharge; /* hospitalization.dischargeDisposition */
    struct cql_ivl period;
    uint8_t performed;   /* status in finished|arrived|triaged|in-progress|onleave */
    uint8_t class_inpat; /* class.code in EMER|IMP|ACUTE|NONAC|PRENC|SS */
    uint8_t cls;         /* enum mx_enc_class of class.code (features.c) */
    uint32_t id;         /* offset of the id in the patient's string pool */
};

struct mx_cond {
    vs_mask code;
    vs_mask body_site;   /* OR of bodySite concepts */
    struct cql_ivl prev; /* QICoreCommon prevalenceInterval() */
};

struct mx_obs {
    vs_mask code;
    vs_mask vconcept;       /* valueCodeableConcept */
    struct cql_ivl eff;     /* effective.toInterval() */
    struct mx_qty qty;      /* value as Quantity */
    struct mx_qty sys, dia; /* singleton component value as Quantity (BP) */
    uint8_t status;         /* OBS_* */
    uint8_t cat;            /* CAT_* */
    uint8_t value_kind;     /* VAL_* */
    uint8_t enc_state;      /* 0 no reference, 1 resolved, 2 unresolved */
    uint32_t enc_ref;       /* offset of the referenced Encounter id in the string pool */
    int32_t enc;            /* index of the referenced Encounter, -1 when none */
};

struct mx_proc {
    vs_mask code;
    struct cql_ivl performed;
    uint8_t completed;
    uint8_t age_kind; /* performedAge/performedRange: resolved once the birthDate is known */
    struct mx_qty age_lo, age_hi;
};

struct mx_sreq {
    vs_mask code;
    struct cql_ivl authored;
    uint8_t order; /* status active|completed and intent order */
};

struct mx_dreq {
    vs_mask code;
    struct cql_ivl authored;
    uint8_t order; /* status active|completed and intent order */
    int8_t dnp;    /* doNotPerform(): -1 null, 0 false, 1 true */
};

struct mx_mreq {
    vs_mask med;           /* medication[x] concept (or the referenced Medication.code) */
    struct cql_ivl period; /* CumulativeMedicationDuration medicationRequestPeriod() */
    uint8_t active;        /* status active and intent order */
    uint32_t med_ref;      /* string-pool offset of a medicationReference id, 0 = none */
};

struct mx_med {
    uint32_t id;  /* pool offset of Medication.id */
    vs_mask code; /* Medication.code */
};

struct mx_ref {
    uint32_t ref, where; /* pool offsets: reference text, element location */
};

/* A Condition's raw onset[x]/abatement[x] (Age and Range need the birthDate). */
struct mx_pending_cond {
    size_t idx;                       /* index in cond */
    uint8_t on_kind, ab_kind, active; /* TK_* kinds; clinicalStatus active|recurrence|relapse */
    struct cql_ivl on, ab;
    struct mx_qty on_lo, on_hi, ab_lo, ab_hi;
};

#define MX_ARRAY(T, name)                                                                          \
    struct {                                                                                       \
        T *v;                                                                                      \
        size_t n, cap;                                                                             \
    } name

struct meas_patient {
    char *pool;
    size_t pool_len, pool_cap;       /* string pool: ids (offset 0 = "") */
    uint32_t id, member_id, fullurl; /* pool offsets */
    uint8_t gender_female, has_patient;
    uint8_t gender; /* enum mx_gender */
    struct cql_dt birth;
    MX_ARRAY(struct mx_enc, enc);
    MX_ARRAY(struct mx_cond, cond);
    MX_ARRAY(struct mx_obs, obs);
    MX_ARRAY(struct mx_proc, proc);
    MX_ARRAY(struct mx_sreq, sreq);
    MX_ARRAY(struct mx_dreq, dreq);
    MX_ARRAY(struct mx_mreq, mreq);
    MX_ARRAY(struct mx_med, med);           /* Medication resources */
    MX_ARRAY(struct mx_ref, refs);          /* subject references to check */
    MX_ARRAY(struct mx_pending_cond, pend); /* onset/abatement until the birthDate is known */
};

static inline const char *mx_str(const struct meas_patient *p, uint32_t off)
{
    return p->pool + off;
}

/* The measurement period and the intervals derived from it once per evaluation. */
struct mx_ctx {
    struct cql_ivl mp; /* Interval[start, end] closed */
    struct cql_dt mp_start, mp_end, mp_end_date;
    int age_lo, age_hi; /* AgeInYearsAt(date from end of MP) range; age_known */
    int age_known;
};

/* Age predicates over the (possibly uncertain) age range. */
enum cql_bool mx_age_in(const struct mx_ctx *c, int lo, int hi);
enum cql_bool mx_age_ge(const struct mx_ctx *c, int lo);

/* Shared library definitions (common.c). */
enum cql_bool mx_qualifying_encounters(const struct meas_patient *p, const struct mx_ctx *c,
                                       vs_mask types);
enum cql_bool mx_has_hospice(const struct meas_patient *p, const struct mx_ctx *c);
enum cql_bool mx_has_palliative(const struct meas_patient *p, const struct mx_ctx *c);
enum cql_bool mx_frailty(const struct meas_patient *p, const struct mx_ctx *c);
enum cql_bool mx_advanced_illness_or_dementia(const struct meas_patient *p, const struct mx_ctx *c);
enum cql_bool mx_age66_aif(const struct meas_patient *p, const struct mx_ctx *c);
enum cql_bool mx_age66_80_aif_or_81_frail(const struct meas_patient *p, const struct mx_ctx *c);
enum cql_bool mx_age66_ltc(const struct meas_patient *p, const struct mx_ctx *c);
enum cql_bool mx_diabetes_overlaps_mp(const struct meas_patient *p, const struct mx_ctx *c);

/* Adult outpatient "Qualifying Encounters" value sets. */
#define MX_ADULT_OUTPATIENT                                                                        \
    (VS_BIT(VS_OFFICE_VISIT) | VS_BIT(VS_ANNUAL_WELLNESS) | VS_BIT(VS_PREV_ESTABLISHED) |          \
     VS_BIT(VS_PREV_INITIAL) | VS_BIT(VS_HOME_HEALTHCARE) | VS_BIT(VS_VIRTUAL) |                   \
     VS_BIT(VS_TELEPHONE))

/* Per-measure evaluation (one file each): fills the four populations as CQL booleans and
 * numer_day, the day the numerator status rests on (docs/MEASURES.md "The numerator date"):
 * screening measures the earliest qualifying event (before the period for a lookback event; the
 * engine clamps it into the period), CMS165 and CMS122 the most recent reading day that decides
 * the status; null when there is none. Set whatever the populations; the engine keeps it only
 * for a met numerator (CMS122: for the non-excluded denominator). */
struct mx_pops {
    enum cql_bool ip, denom, denex, numer;
    struct cql_dt numer_day;
};

/* The concrete day of an event date for the numerator date: its day at day precision or finer;
 * for a month or year precision date the last day it can be (the event is certain to have
 * happened by then). Null stays null. */
struct cql_dt mx_event_day(struct cql_dt d);
/* Keeps in *best the earlier of *best and the event day of d (a null *best takes d). */
void mx_keep_earliest(struct cql_dt *best, struct cql_dt d);
void mx_eval_cms125(const struct meas_patient *p, const struct mx_ctx *c, struct mx_pops *o);
void mx_eval_cms130(const struct meas_patient *p, const struct mx_ctx *c, struct mx_pops *o);
void mx_eval_cms165(const struct meas_patient *p, const struct mx_ctx *c, struct mx_pops *o);
void mx_eval_cms122(const struct meas_patient *p, const struct mx_ctx *c, struct mx_pops *o);
void mx_eval_cms131(const struct meas_patient *p, const struct mx_ctx *c, struct mx_pops *o);

#endif
