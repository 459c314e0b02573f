/* test_measures_features.c: meas_features() and meas_patient_demographics() on hand-built
 * patient Bundles, measurement period 2025-01-01..2025-12-31, with the expected values worked
 * out by hand in the comments next to each resource: boundary dates (first and last instant of
 * the period), an encounter starting the instant before the period, a condition abated the day
 * before the period, statuses that do not count, uncertain ages. Value-set codes come from the
 * copied eCQM value sets (data/valuesets): CPT 99213 Office Visit, CPT 99283
 * Emergency Department Evaluation and Management Visit, SNOMED 183452005 Encounter Inpatient,
 * SNOMED 44054006 Diabetes, SNOMED 59621000 Essential Hypertension, LOINC 4548-4 HbA1c
 * Laboratory Test, LOINC 85354-9 the blood-pressure panel code. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "measures/measures.h"
#include "model/matrix.h"

#define VSDIR STARGAP_SOURCE_DIR "/data/valuesets"

/* JSON written with ' for " (readability); converted before parsing. */
static json_t *res(const char *s)
{
    char *t = strdup(s);
    assert_non_null(t);
    for (char *q = t; *q; q++)
        if (*q == '\'') *q = '"';
    json_error_t je;
    json_t *j = json_loads(t, 0, &je);
    if (!j) fail_msg("bad test JSON: %s: %s", je.text, t);
    free(t);
    return j;
}

static json_t *bundle(const char *const *resources, size_t n)
{
    json_t *entries = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(entries, json_pack("{s:o}", "resource", res(resources[i])));
    return json_pack("{s:s,s:s,s:o}", "resourceType", "Bundle", "type", "collection", "entry",
                     entries);
}

static int feature_index(const char *name)
{
    for (int i = 0; i < MEAS_FEATURES_N; i++)
        if (!strcmp(meas_feature_names[i], name)) return i;
    fail_msg("no feature %s", name);
    return -1;
}

static double fv(const double *v, const char *name)
{
    return v[feature_index(name)];
}

#define SUBJ "'subject':{'reference':'Patient/a'}"
#define CPT "'system':'http://www.ama-assn.org/go/cpt'"
#define SCT "'system':'http://snomed.info/sct'"
#define LOINC "'system':'http://loinc.org'"
#define CLIN(st)                                                                                   \
    "'clinicalStatus':{'coding':[{'system':'http://terminology.hl7.org/CodeSystem/"                \
    "condition-clinical','code':'" st "'}]}"

static const char *const patient_a[] = {
    /* female, born 1960-12-31: 65 on 2025-12-31 (the birthday is the period's last day) */
    "{'resourceType':'Patient','id':'a','gender':'female','birthDate':'1960-12-31'}",
    /* E1 office visit + AMB at the first instant of the period: encounter, outpatient */
    "{'resourceType':'Encounter','id':'e1','status':'finished','class':{'code':'AMB'},"
    "'type':[{'coding':[{" CPT ",'code':'99213'}]}]," SUBJ ","
    "'period':{'start':'2025-01-01T00:00:00Z','end':'2025-01-01T00:30:00Z'}}",
    /* E2 ED visit + EMER starting the last second of the period, ending after: encounter, ED */
    "{'resourceType':'Encounter','id':'e2','status':'finished','class':{'code':'EMER'},"
    "'type':[{'coding':[{" CPT ",'code':'99283'}]}]," SUBJ ","
    "'period':{'start':'2025-12-31T23:59:59Z','end':'2026-01-01T03:00:00Z'}}",
    /* E3 inpatient stay starting the second before the period: not counted at all */
    "{'resourceType':'Encounter','id':'e3','status':'finished','class':{'code':'IMP'},"
    "'type':[{'coding':[{" SCT ",'code':'183452005'}]}]," SUBJ ","
    "'period':{'start':'2024-12-31T23:59:59Z','end':'2025-01-03T10:00:00Z'}}",
    /* E4 virtual (class VR, no type): encounter, telehealth */
    "{'resourceType':'Encounter','id':'e4','status':'finished','class':{'code':'VR'}," SUBJ ","
    "'period':{'start':'2025-06-01T10:00:00Z','end':'2025-06-01T10:20:00Z'}}",
    /* E5 cancelled office visit: not counted */
    "{'resourceType':'Encounter','id':'e5','status':'cancelled','class':{'code':'AMB'},"
    "'type':[{'coding':[{" CPT ",'code':'99213'}]}]," SUBJ ","
    "'period':{'start':'2025-03-01T10:00:00Z','end':'2025-03-01T10:20:00Z'}}",
    /* E6 inpatient (value set only, class absent) within the year: encounter, inpatient */
    "{'resourceType':'Encounter','id':'e6','status':'finished',"
    "'type':[{'coding':[{" SCT ",'code':'183452005'}]}]," SUBJ ","
    "'period':{'start':'2025-07-01','end':'2025-07-05'}}",
    /* E7 office visit at the first instant after the period: not counted */
    "{'resourceType':'Encounter','id':'e7','status':'finished','class':{'code':'AMB'},"
    "'type':[{'coding':[{" CPT ",'code':'99213'}]}]," SUBJ ","
    "'period':{'start':'2026-01-01T00:00:00Z','end':'2026-01-01T00:30:00Z'}}",
    /* C1 diabetes, active since 2010: diabetes 1, active condition */
    "{'resourceType':'Condition'," CLIN("active") ",'code':{'coding':[{" SCT
    ",'code':'44054006'}]}," SUBJ ",'onsetDateTime':'2010-05-01'}",
    /* C2 essential hypertension resolved 2024-12-31, the day before the period: not counted */
    "{'resourceType':'Condition'," CLIN("resolved") ",'code':{'coding':[{" SCT
    ",'code':'59621000'}]}," SUBJ ",'onsetDateTime':'2015-01-01',"
    "'abatementDateTime':'2024-12-31'}",
    /* C3 a code in no value set, resolved on the period's first day: active condition */
    "{'resourceType':'Condition'," CLIN("resolved") ",'code':{'coding':[{" SCT
    ",'code':'195967001'}]}," SUBJ ",'onsetDateTime':'2020-01-01',"
    "'abatementDateTime':'2025-01-01'}",
    /* O1 HbA1c, final, last second of the period: observation, HbA1c */
    "{'resourceType':'Observation','status':'final','code':{'coding':[{" LOINC
    ",'code':'4548-4'}]}," SUBJ ",'effectiveDateTime':'2025-12-31T23:59:59Z'}",
    /* O2 HbA1c the last second before the period: not counted */
    "{'resourceType':'Observation','status':'final','code':{'coding':[{" LOINC
    ",'code':'4548-4'}]}," SUBJ ",'effectiveDateTime':'2024-12-31T23:59:59Z'}",
    /* O3 blood-pressure panel, amended: observation, BP reading */
    "{'resourceType':'Observation','status':'amended','code':{'coding':[{" LOINC
    ",'code':'85354-9'}]}," SUBJ ",'effectiveDateTime':'2025-03-01'}",
    /* O4 HbA1c cancelled: not counted */
    "{'resourceType':'Observation','status':'cancelled','code':{'coding':[{" LOINC
    ",'code':'4548-4'}]}," SUBJ ",'effectiveDateTime':'2025-04-01'}",
    /* O5 other code, preliminary, effectivePeriod starting on the first day: observation */
    "{'resourceType':'Observation','status':'preliminary','code':{'coding':[{" LOINC
    ",'code':'2345-7'}]}," SUBJ ",'effectivePeriod':{'start':'2025-01-01','end':'2025-01-02'}}",
    /* P1 completed in the year: procedure */
    "{'resourceType':'Procedure','status':'completed','code':{'coding':[{" SCT
    ",'code':'80146002'}]}," SUBJ ",'performedDateTime':'2025-02-02'}",
    /* P2 in progress: not counted */
    "{'resourceType':'Procedure','status':'in-progress','code':{'coding':[{" SCT
    ",'code':'80146002'}]}," SUBJ ",'performedDateTime':'2025-02-02'}",
    /* P3 completed, started before the period: not counted */
    "{'resourceType':'Procedure','status':'completed','code':{'coding':[{" SCT
    ",'code':'80146002'}]}," SUBJ ",'performedPeriod':{'start':'2024-12-20','end':'2025-01-05'}}",
};

struct st {
    struct meas_engine *eng;
    struct meas_patient *p;
    struct meas_period mp;
};

static int setup(void **state)
{
    struct st *s = calloc(1, sizeof *s);
    char err[SG_ERRLEN];
    assert_int_equal(meas_engine_new(VSDIR, &s->eng, err, sizeof err), SG_OK);
    s->p = meas_patient_new();
    assert_non_null(s->p);
    assert_int_equal(meas_period_parse("2025-01-01", "2025-12-31", &s->mp, err, sizeof err), SG_OK);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    struct st *s = *state;
    meas_patient_free(s->p);
    meas_engine_free(s->eng);
    free(s);
    return 0;
}

static void load(struct st *s, const char *const *r, size_t n)
{
    json_t *b = bundle(r, n);
    struct meas_error e;
    memset(&e, 0, sizeof e);
    int rc = meas_patient_from_json(s->eng, b, s->p, &e);
    if (rc) fail_msg("bundle rejected: %s: %s", e.where, e.msg);
    json_decref(b);
}

static void test_names(void **state)
{
    (void)state;
    for (int i = 0; i < MEAS_FEATURES_N; i++) {
        assert_true(model_feature_name_ok(meas_feature_names[i]));
        assert_true(strncmp(meas_feature_names[i], "fhir_", 5) == 0);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(meas_feature_names[i], meas_feature_names[j]);
    }
}

static void test_patient_a(void **state)
{
    struct st *s = *state;
    load(s, patient_a, sizeof patient_a / sizeof patient_a[0]);
    double v[MEAS_FEATURES_N];
    meas_features(s->p, &s->mp, v);
    assert_true(fv(v, "fhir_age") == 65);
    assert_true(fv(v, "fhir_female") == 1);
    assert_true(fv(v, "fhir_encounters") == 4); /* E1 E2 E4 E6 */
    assert_true(fv(v, "fhir_outpatient_encounters") == 1);
    assert_true(fv(v, "fhir_ed_visits") == 1);
    assert_true(fv(v, "fhir_inpatient_encounters") == 1);
    assert_true(fv(v, "fhir_telehealth_encounters") == 1);
    assert_true(fv(v, "fhir_diabetes") == 1);
    assert_true(fv(v, "fhir_hypertension") == 0);
    assert_true(fv(v, "fhir_ckd5_esrd") == 0);
    assert_true(fv(v, "fhir_advanced_illness") == 0);
    assert_true(fv(v, "fhir_frailty_dx") == 0);
    assert_true(fv(v, "fhir_diabetic_retinopathy") == 0);
    assert_true(fv(v, "fhir_active_conditions") == 2); /* C1 C3 */
    assert_true(fv(v, "fhir_observations") == 3);      /* O1 O3 O5 */
    assert_true(fv(v, "fhir_hba1c_tests") == 1);
    assert_true(fv(v, "fhir_bp_readings") == 1);
    assert_true(fv(v, "fhir_procedures") == 1);
    struct meas_demographics d;
    meas_patient_demographics(s->p, &d);
    assert_int_equal(d.birth_year, 1960);
    assert_int_equal(d.sex, 'F');

    /* the same patient in 2024: E3 (starts 2024-12-31T23:59:59Z), O2 and P3 count; E1/E2/E4..E7,
     * O1/O3/O5 and P1 do not; hypertension is active through 2024-12-31; age 64 */
    struct meas_period p24;
    char err[SG_ERRLEN];
    assert_int_equal(meas_period_parse("2024-01-01", "2024-12-31", &p24, err, sizeof err), SG_OK);
    meas_features(s->p, &p24, v);
    assert_true(fv(v, "fhir_age") == 64);
    assert_true(fv(v, "fhir_encounters") == 1);
    assert_true(fv(v, "fhir_inpatient_encounters") == 1);
    assert_true(fv(v, "fhir_outpatient_encounters") == 0);
    assert_true(fv(v, "fhir_hypertension") == 1);
    assert_true(fv(v, "fhir_diabetes") == 1);
    assert_true(fv(v, "fhir_active_conditions") == 3);
    assert_true(fv(v, "fhir_observations") == 1);
    assert_true(fv(v, "fhir_hba1c_tests") == 1);
    assert_true(fv(v, "fhir_procedures") == 1);
}

static void test_demographics_missing(void **state)
{
    struct st *s = *state;
    /* male, birth year only: the age at 2025-12-31 is 74 or 75, so it is missing */
    static const char *const b[] = {
        "{'resourceType':'Patient','id':'b','gender':'male','birthDate':'1950'}"};
    load(s, b, 1);
    double v[MEAS_FEATURES_N];
    meas_features(s->p, &s->mp, v);
    assert_true(isnan(fv(v, "fhir_age")));
    assert_true(fv(v, "fhir_female") == 0);
    for (int i = 2; i < MEAS_FEATURES_N; i++)
        assert_true(v[i] == 0);
    struct meas_demographics d;
    meas_patient_demographics(s->p, &d);
    assert_int_equal(d.birth_year, 1950);
    assert_int_equal(d.sex, 'M');

    /* no gender, born 1961-01-01: 64 on 2025-12-31 (65 only the next day) */
    static const char *const c[] = {
        "{'resourceType':'Patient','id':'c','birthDate':'1961-01-01'}"};
    load(s, c, 1);
    meas_features(s->p, &s->mp, v);
    assert_true(fv(v, "fhir_age") == 64);
    assert_true(isnan(fv(v, "fhir_female")));
    meas_patient_demographics(s->p, &d);
    assert_int_equal(d.birth_year, 1961);
    assert_int_equal(d.sex, 0);

    /* gender other, no birthDate */
    static const char *const e[] = {"{'resourceType':'Patient','id':'e','gender':'other'}"};
    load(s, e, 1);
    meas_features(s->p, &s->mp, v);
    assert_true(isnan(fv(v, "fhir_age")));
    assert_true(isnan(fv(v, "fhir_female")));
    meas_patient_demographics(s->p, &d);
    assert_int_equal(d.birth_year, 0);
    assert_int_equal(d.sex, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test_setup_teardown(test_patient_a, setup, teardown),
        cmocka_unit_test_setup_teardown(test_demographics_missing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
