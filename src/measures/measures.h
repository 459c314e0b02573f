/* measures.h: the measure engine: member-level status for five eCQMs from FHIR R4 data.
 *
 * CMS125 Breast Cancer Screening (BCS), CMS130 Colorectal Cancer Screening (COL), CMS165
 * Controlling High Blood Pressure (CBP), CMS122 Diabetes Glycemic Status > 9% (poor control;
 * the Star measure GSD is its complement) and CMS131 Diabetes Eye Exam (EED), each implementing
 * the QI-Core 2024 CQL (docs/MEASURES.md). Pure: libc, core and jansson; no I/O except loading
 * value sets and the input streams of meas_input_*.
 *
 * Typical use (the CLI, the API endpoints):
 *   meas_engine_new(valuesets_dir)            once; read-only afterwards, shareable by threads
 *   meas_period_parse("2025-01-01", "2025-12-31")
 *   meas_patient_from_text(engine, body) -> patient   (or _from_json, or meas_input_next)
 *   meas_evaluate(engine, patient, MEAS_CMS125, &period, &pops)
 *   meas_report_individual / meas_report_summary / meas_gaps_bundle -> json_t (caller decrefs)
 *   meas_evaluate_dated: the same with the numerator date (docs/MEASURES.md)
 *   meas_result_fill -> struct meas_result   (the row for measure_results)
 * Invalid input fails with a struct meas_error naming what is wrong; meas_error_outcome()
 * turns it into a FHIR OperationOutcome for a 400 response. */
#ifndef SG_MEASURES_H
#define SG_MEASURES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

enum meas_id { MEAS_CMS125 = 0, MEAS_CMS130, MEAS_CMS165, MEAS_CMS122, MEAS_CMS131, MEAS_COUNT };

struct meas_info {
    const char *cms;     /* "CMS125" */
    const char *code;    /* Star/HEDIS code: "BCS", "COL", "CBP", "GSD", "EED" */
    const char *library; /* CQL library / Measure name: "BreastCancerScreeningFHIR" */
    const char *title;   /* human title */
    const char *url;     /* canonical Measure url used in reports */
    int inverse;         /* 1 when a lower score is better (CMS122: numerator = poor control) */
};

/* Static description of a measure (never NULL for a valid id). */
const struct meas_info *meas_info(enum meas_id id);

/* Parses a measure name: CMS id ("CMS125", case-insensitive, "CMS125v13" accepted), code ("BCS")
 * or library name. Returns SG_OK or SG_ENOTFOUND. */
int meas_parse_id(const char *name, enum meas_id *out) SG_WUR;

/* Parses a comma-separated list or "all" into a bitmask (1u << id). SG_ENOTFOUND names the bad
 * item in err. */
int meas_parse_list(const char *list, unsigned *mask, char *err, size_t errlen) SG_WUR;

/* The four population memberships of one patient for one measure (0/1 each), with
 * numerator <= denominator <= initial population enforced and denominator_exclusion only
 * within the denominator. */
struct meas_pops {
    uint8_t initial_population, denominator, denominator_exclusion, numerator;
};

/* A measurement period: two dates, as the CQL parameter Interval[start 00:00:00.000,
 * end 23:59:59.999] in UTC. */
struct meas_period {
    char start[11], end[11]; /* "YYYY-MM-DD" */
    int16_t sy, ey;
    uint8_t sm, sd, em, ed;
};

/* Parses and validates the period (dates YYYY-MM-DD, start <= end). SG_EINVAL names the
 * parameter ("periodStart"/"periodEnd") in err. */
int meas_period_parse(const char *start, const char *end, struct meas_period *out, char *err,
                      size_t errlen) SG_WUR;

/* A validation error in FHIR input: what the endpoint turns into an OperationOutcome. */
struct meas_error {
    int code;        /* enum sg_err (SG_EPARSE, SG_EINVAL, ...) */
    int line;        /* line in the input text when known, else 0 */
    char where[256]; /* FHIRPath-like location, e.g. "Bundle.entry[3].resource.period.start" */
    char msg[512];   /* human text naming what is wrong */
};

/* Builds a FHIR OperationOutcome (issue severity error, code invalid/structure/processing,
 * diagnostics = msg, expression = where). Caller owns the result; NULL on allocation failure. */
json_t *meas_error_outcome(const struct meas_error *e);

struct meas_engine;
struct meas_patient;

/* One code of a value set: what a data generator writes into a CodeableConcept. */
struct meas_code {
    char system[160];
    char code[64];
};

/* Representative codes of the value set with canonical url `url` (one the measures use), for
 * writing test and synthetic data: the codes that belong to the fewest other value sets and
 * direct codes the measures read (so a resource written with them triggers only the intended
 * logic), sorted by system then code, at most max into out; *n is set to the count. Fails with
 * SG_ENOTFOUND (not a value set of these measures), SG_ETOOBIG (a system or code longer than
 * struct meas_code holds) or SG_ENOMEM; err says which. */
int meas_valueset_codes(const struct meas_engine *eng, const char *url, struct meas_code *out,
                        size_t max, size_t *n, char *err, size_t errlen) SG_WUR;

/* Loads the value sets from dir (valueset.h). Errors: SG_EIO, SG_EPARSE, SG_ENOTFOUND (a value
 * set the measures need is missing), SG_ENOMEM; err says which file or value set. */
int meas_engine_new(const char *valuesets_dir, struct meas_engine **out, char *err,
                    size_t errlen) SG_WUR;
/* Frees the engine (NULL is fine). */
void meas_engine_free(struct meas_engine *e);

/* A reusable patient model (empty). NULL on allocation failure. Free with meas_patient_free. */
struct meas_patient *meas_patient_new(void);
/* Frees a patient model (NULL is fine). */
void meas_patient_free(struct meas_patient *p);
/* Empties the model, keeping its memory for the next patient. */
void meas_patient_reset(struct meas_patient *p);

/* Reads one patient Bundle (type collection, transaction, batch or searchset, exactly one
 * Patient) into p (reset first). Resources the measures do not use are skipped; resources
 * without meta.profile are kept. Fails with SG_EPARSE/SG_EINVAL and fills *e (not JSON, wrong
 * resourceType or Bundle.type, no or several Patients, a bad date, a subject reference to
 * nothing). */
int meas_patient_from_json(const struct meas_engine *eng, json_t *bundle, struct meas_patient *p,
                           struct meas_error *e) SG_WUR;
/* Same from JSON text of len bytes. */
int meas_patient_from_text(const struct meas_engine *eng, const char *text, size_t len,
                           struct meas_patient *p, struct meas_error *e) SG_WUR;

/* Patient.id (borrowed; "" when unknown). */
const char *meas_patient_id(const struct meas_patient *p);
/* The member identifier: Patient.identifier with type v2-0203 "MB" (member number) when present,
 * else Patient.id (borrowed). */
const char *meas_patient_member_id(const struct meas_patient *p);

/* The patient's demographic attributes as members store them. */
struct meas_demographics {
    int birth_year; /* year of Patient.birthDate (any precision); 0 when absent */
    char sex;       /* 'F' (gender female), 'M' (male), 0 (other, unknown or absent) */
};

/* Fills *out from Patient.gender and Patient.birthDate. Never fails. */
void meas_patient_demographics(const struct meas_patient *p, struct meas_demographics *out);

/* ---- per-patient features for the gap models (features.c, docs/MODELS.md) ---------------- */

/* Number of features meas_features() computes, in the order of meas_feature_names. */
#define MEAS_FEATURES_N 18

/* The stable feature names (snake_case, "fhir_" prefix so they never collide with the model's
 * built-in or CSV feature names; each passes model_feature_name_ok):
 *   fhir_age                    AgeInYearsAt(date from end of period); missing when the
 *                               birthDate is absent or too coarse to give one age
 *   fhir_female                 1 gender female, 0 male; missing otherwise
 *   fhir_encounters             Encounters with status finished|arrived|triaged|in-progress|
 *                               onleave whose period starts during day of the period
 *   fhir_outpatient_encounters  ... of them: type in an Adult Outpatient value set (Office Visit,
 *                               Annual Wellness, Preventive Care initial/established, Home
 *                               Healthcare, Virtual, Telephone) or class AMB
 *   fhir_ed_visits              ... type in Emergency Department Evaluation and Management
 *                               Visit or class EMER
 *   fhir_inpatient_encounters   ... type in Encounter Inpatient or class IMP|ACUTE|NONAC
 *   fhir_telehealth_encounters  ... type in Virtual Encounter or Telephone Visits or class VR
 *   fhir_diabetes               1 when a Condition in Diabetes has a prevalence interval
 *                               overlapping day of the period (as the measures' "Diabetes")
 *   fhir_hypertension           ... Essential Hypertension
 *   fhir_ckd5_esrd              ... Chronic Kidney Disease Stage 5 or End Stage Renal Disease
 *   fhir_advanced_illness       ... Advanced Illness
 *   fhir_frailty_dx             ... Frailty Diagnosis
 *   fhir_diabetic_retinopathy   ... Diabetic Retinopathy
 *   fhir_active_conditions      number of Conditions (any code) with such a prevalence interval
 *   fhir_observations           Observations with status final|amended|corrected|preliminary
 *                               whose effective[x] starts during day of the period
 *   fhir_hba1c_tests            ... of them: code in HbA1c Laboratory Test
 *   fhir_bp_readings            ... code systolic BP (8480-6) or BP panel (85354-9)
 *   fhir_procedures             Procedures with status completed whose performed[x] starts
 *                               during day of the period
 * Timing is CQL's (precision-aware): an element whose start is uncertain at day precision is not
 * counted. Borrowed, static. */
extern const char *const meas_feature_names[MEAS_FEATURES_N];

/* Computes the features of patient p for the measurement period into out[0..MEAS_FEATURES_N),
 * in the order of meas_feature_names; a missing value is NAN (only fhir_age and fhir_female can
 * be missing). Pure, never fails, thread-safe for distinct outputs. */
void meas_features(const struct meas_patient *p, const struct meas_period *period,
                   double out[MEAS_FEATURES_N]);

/* Evaluates one measure for one patient over the period. Never fails on data (CQL nulls are
 * not-members); returns SG_EINVAL only for a bad id. Thread-safe for distinct patients. */
int meas_evaluate(const struct meas_engine *eng, const struct meas_patient *p, enum meas_id id,
                  const struct meas_period *period, struct meas_pops *out) SG_WUR;

/* "YYYY-MM-DD" and its terminator. */
#define MEAS_DATE_LEN 11

/* meas_evaluate that also reports the numerator date into numerator_date (MEAS_DATE_LEN bytes;
 * NULL = not wanted): the day within the period on which the numerator became what it is
 * (docs/MEASURES.md "The numerator date"). CMS125, CMS130, CMS131 (screenings): the earliest
 * qualifying event; one before the period (a lookback window) gives the period's first day.
 * CMS165: the most recent blood-pressure day. CMS122 (inverse): the most recent glycemic status
 * assessment day, for every non-excluded denominator member that has one (the day poor control
 * or control rests on). An event date coarser than a day counts as its last possible day. ""
 * when the numerator is not met (CMS122: no assessment in the period) or the patient is not in
 * the denominator or excluded. Fails as meas_evaluate. */
int meas_evaluate_dated(const struct meas_engine *eng, const struct meas_patient *p,
                        enum meas_id id, const struct meas_period *period, struct meas_pops *out,
                        char numerator_date[MEAS_DATE_LEN]) SG_WUR;

/* The Star measure's numerator of one evaluation (0/1; measure_results stores this direction)
 * and its date into date_out (MEAS_DATE_LEN bytes): the eCQM numerator and numerator_date (from
 * meas_evaluate_dated; NULL or "" = none), except for an inverse eCQM (CMS122 -> GSD) where the
 * Star numerator is "in the denominator, not excluded, not in the eCQM numerator" dated by the
 * deciding assessment. date_out is "" when the Star numerator is 0. Never fails. */
int meas_star_numerator(enum meas_id id, const struct meas_pops *pops, const char *numerator_date,
                        char date_out[MEAS_DATE_LEN]);

/* The per-patient result record for persistence (table measure_results): the storage layer
 * hashes member_id (core/hash.h sg_hmac_sha256_hex) and stores measure code, period and the four
 * populations. Plain data, no pointers. */
struct meas_result {
    char member_id[128];  /* meas_patient_member_id (raw: hash it before storing) */
    char patient_id[128]; /* Patient.id */
    char cms[8];          /* "CMS125" */
    char code[4];         /* "BCS" */
    char period_start[11], period_end[11];
    int measurement_year; /* year of period_end (store_measure_result.measurement_year) */
    struct meas_pops pops;
    char numerator_date[MEAS_DATE_LEN]; /* meas_evaluate_dated's date (eCQM direction); "" none */
};

/* Fills r from a patient and its evaluation (truncating over-long ids); numerator_date is the
 * date meas_evaluate_dated gave (NULL or "" = none). */
void meas_result_fill(const struct meas_patient *p, enum meas_id id,
                      const struct meas_period *period, const struct meas_pops *pops,
                      const char *numerator_date, struct meas_result *r);

/* Individual MeasureReport (status complete, type individual, subject Patient/<id>, the four
 * population counts, a measureScore for the patient). Caller owns it; NULL on ENOMEM. */
json_t *meas_report_individual(const struct meas_patient *p, enum meas_id id,
                               const struct meas_period *period, const struct meas_pops *pops);

/* Totals for a summary report. */
struct meas_totals {
    long initial_population, denominator, denominator_exclusion, numerator;
};
/* Adds one patient's populations to t. */
void meas_totals_add(struct meas_totals *t, const struct meas_pops *pops);

/* Summary MeasureReport: counts and measureScore = numerator / (denominator - exclusions)
 * (absent when that is 0). Caller owns it; NULL on ENOMEM. */
json_t *meas_report_summary(enum meas_id id, const struct meas_period *period,
                            const struct meas_totals *t);

/* DEQM gaps-in-care document Bundle for one patient (shape of the DEQM
 * Bundle-single-gaps-*-indv-report01 examples): Composition with one section per measure,
 * each focusing an individual MeasureReport and a DetectedIssue whose modifierExtension
 * careGapStatus is open-gap or closed-gap. Measures where the patient is not in the denominator
 * or is excluded get no section (not applicable). `ids`/`pops` are n parallel arrays.
 * Caller owns it; NULL on ENOMEM. */
json_t *meas_gaps_bundle(const struct meas_patient *p, const enum meas_id *ids,
                         const struct meas_pops *pops, size_t n, const struct meas_period *period);

/* Wraps gaps Bundles as the $care-gaps operation returns them (DEQM
 * Parameters-single-gaps-*-indv-report01): a Parameters resource with one parameter
 * {name "return", resource Bundle} per Bundle. Takes ownership of the n bundles (also on
 * failure). Caller owns the result; NULL on ENOMEM. */
json_t *meas_gaps_parameters(json_t **bundles, size_t n);

/* ---- input streams (the CLI and batch jobs) ---------------------------------------------- */

/* Iterates patients from paths, each one of: a Bundle JSON file, an NDJSON file with one Bundle
 * per line, a directory of such files (.json, .ndjson, .jsonl; not recursive), or a Bulk FHIR
 * export directory (Patient.ndjson or Patient.NNN.ndjson plus one or more NDJSON files per
 * resource type, patients in any order). Bundles and lines are read one at a time; a Bulk export
 * is first spilled to temporary partition files by a hash of each line's patient reference, then
 * grouped one partition at a time, so memory is bounded by the partition budget
 * (meas_input_set_bulk_budget) or the largest patient, not by the export (input.c). */
struct meas_input;

/* Opens the n paths (files or directories, checked now). SG_EIO names an unreadable path;
 * *out is NULL on failure. */
int meas_input_open(char *const *paths, size_t n, struct meas_input **out, char *err,
                    size_t errlen) SG_WUR;
/* Closes the input and frees it (NULL is fine). */
void meas_input_close(struct meas_input *in);

/* Reads the next patient into p. Returns 1 (a patient), 0 (end of input), or a negative sg_err:
 * SG_EPARSE/SG_EINVAL for a rejected patient (e filled, file and line say where; the caller may
 * continue with the next call), SG_EIO/SG_ETOOBIG/SG_ENOMEM for fatal errors. *file is borrowed
 * until the next call. */
int meas_input_next(struct meas_input *in, const struct meas_engine *eng, struct meas_patient *p,
                    const char **file, long *line, struct meas_error *e);

/* Largest line/file accepted (bytes). */
#define MEAS_MAX_RECORD (256u << 20)

/* ---- the published eCQM test cases ------------------------------------------------------- */

/* One test case: <dir>/<CMSnnn-Library>/<uuid>-patient-bundle.json with its
 * <uuid>-expected-MeasureReport.json (period and expected population counts). */
struct meas_case {
    enum meas_id id;
    char uuid[64];
    char title[256]; /* "series title" from expected_results.csv when present, else the
                        MeasureReport's test-case description */
    struct meas_pops expected, got;
    int agree; /* all four populations equal */
    int error; /* 0, or the sg_err of reading/evaluating the case (msg in errmsg) */
    char errmsg[512];
};

typedef void (*meas_case_fn)(const struct meas_case *c, void *ud);

/* Runs every test case under dir (the layout of the shared ecqm/tests directory), calling fn
 * for each in a stable order (measure directory, then uuid). Returns SG_OK, or SG_EIO when dir
 * cannot be read (err says which). A case that cannot be read is reported through fn with
 * `error` set, not as a failure of the run. */
int meas_run_cases(const struct meas_engine *eng, const char *dir, meas_case_fn fn, void *ud,
                   char *err, size_t errlen) SG_WUR;

#endif
