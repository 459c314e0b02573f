/* test_measures.c: the measure engine beyond the published cases: value-set membership, the
 * FHIR reader's validation errors, hand-worked patients for the subtle parts of CMS125, CMS165
 * and CMS122 (window boundaries, lowest reading on the most recent day, encounter class), Bulk
 * NDJSON grouping by patient reference, and the structure of the MeasureReports and the DEQM
 * gaps Bundle against the shared DEQM example. Expected values are worked out in the comments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "measures/measures.h"
#include "measures/valueset.h"

#define VSDIR STARGAP_SOURCE_DIR "/data/valuesets"

static struct meas_engine *eng;
static struct meas_period mp;

static int setup(void **state)
{
    (void)state;
    char err[SG_ERRLEN];
    if (meas_engine_new(VSDIR, &eng, err, sizeof err) != SG_OK) return -1;
    return meas_period_parse("2025-01-01", "2025-12-31", &mp, err, sizeof err) == SG_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    meas_engine_free(eng);
    return 0;
}

/* ---- resources as JSON text ---- */
#define PAT(id, g, bd)                                                                             \
    "{\"resourceType\":\"Patient\",\"id\":\"" id "\",\"gender\":\"" g "\",\"birthDate\":\"" bd "\"}"
#define OFFICE(id, pid, date)                                                                      \
    "{\"resourceType\":\"Encounter\",\"id\":\"" id                                                 \
    "\",\"status\":\"finished\",\"class\":{\"code\":\"AMB\"},"                                     \
    "\"type\":[{\"coding\":[{\"system\":\"http://www.ama-assn.org/go/"                             \
    "cpt\",\"code\":\"99202\"}]}],"                                                                \
    "\"subject\":{\"reference\":\"Patient/" pid "\"},\"period\":{\"start\":\"" date                \
    "T09:00:00Z\",\"end\":\"" date "T10:00:00Z\"}}"
#define ENC_CLASS(id, pid, cls, date)                                                              \
    "{\"resourceType\":\"Encounter\",\"id\":\"" id                                                 \
    "\",\"status\":\"finished\",\"class\":{\"code\":\"" cls "\"},"                                 \
    "\"type\":[{\"coding\":[{\"system\":\"http://www.ama-assn.org/go/"                             \
    "cpt\",\"code\":\"99281\"}]}],"                                                                \
    "\"subject\":{\"reference\":\"Patient/" pid "\"},\"period\":{\"start\":\"" date                \
    "T09:00:00Z\"}}"
#define COND(pid, sys, code, onset)                                                                \
    "{\"resourceType\":\"Condition\",\"clinicalStatus\":{\"coding\":[{\"system\":"                 \
    "\"http://terminology.hl7.org/CodeSystem/condition-clinical\",\"code\":\"active\"}]},"         \
    "\"code\":{\"coding\":[{\"system\":\"" sys "\",\"code\":\"" code                               \
    "\"}]},\"subject\":{\"reference\":\"Patient/" pid "\"},\"onsetDateTime\":\"" onset "\"}"
#define MAMMO(pid, date)                                                                           \
    "{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"coding\":[{\"system\":"    \
    "\"http://loinc.org\","                                                                        \
    "\"code\":\"24604-1\"}]},\"subject\":{\"reference\":\"Patient/" pid                            \
    "\"},\"effectiveDateTime\":\"" date "\"}"
#define BP(pid, enc, when, s, d)                                                                   \
    "{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"coding\":[{\"system\":"    \
    "\"http://loinc.org\","                                                                        \
    "\"code\":\"85354-9\"}]},\"subject\":{\"reference\":\"Patient/" pid                            \
    "\"},\"encounter\":{\"reference\":"                                                            \
    "\"Encounter/" enc "\"},\"effectiveDateTime\":\"" when "\",\"component\":["                    \
    "{\"code\":{\"coding\":[{\"system\":\"http://"                                                 \
    "loinc.org\",\"code\":\"8480-6\"}]},\"valueQuantity\":{\"value\":" s                           \
    ",\"system\":\"http://unitsofmeasure.org\",\"code\":\"mm[Hg]\"}},"                             \
    "{\"code\":{\"coding\":[{\"system\":\"http://"                                                 \
    "loinc.org\",\"code\":\"8462-4\"}]},\"valueQuantity\":{\"value\":" d                           \
    ",\"system\":\"http://unitsofmeasure.org\",\"code\":\"mm[Hg]\"}}]}"
#define A1C(pid, when, v)                                                                          \
    "{\"resourceType\":\"Observation\",\"status\":\"final\",\"category\":[{\"coding\":[{"          \
    "\"system\":"                                                                                  \
    "\"http://terminology.hl7.org/CodeSystem/observation-category\",\"code\":\"laboratory\"}]}],"  \
    "\"code\":{\"coding\":[{\"system\":\"http://"                                                  \
    "loinc.org\",\"code\":\"17855-8\"}]},\"subject\":{\"reference\":"                              \
    "\"Patient/" pid "\"},\"effectiveDateTime\":\"" when "\",\"valueQuantity\":{\"value\":" v      \
    ",\"system\":\"http://unitsofmeasure.org\",\"code\":\"%\"}}"

/* Wraps comma-separated resources into a collection Bundle. */
static char *bundle(const char *type, const char *resources)
{
    size_t n = strlen(resources) * 2 + 256;
    char *b = malloc(n);
    assert_non_null(b);
    char *w = b + snprintf(b, n, "{\"resourceType\":\"Bundle\",\"type\":\"%s\",\"entry\":[", type);
    const char *p = resources;
    int depth = 0, first = 1;
    const char *start = p;
    for (;; p++) { /* split at top-level commas */
        if (*p == '{') depth++;
        if (*p == '}') depth--;
        if ((*p == ',' && depth == 0) || !*p) {
            w += sprintf(w, "%s{\"resource\":%.*s}", first ? "" : ",", (int)(p - start), start);
            first = 0;
            start = p + 1;
            if (!*p) break;
        }
    }
    strcpy(w, "]}");
    return b;
}

static struct meas_pops eval_text(const char *resources, enum meas_id id)
{
    char *b = bundle("collection", resources);
    struct meas_patient *p = meas_patient_new();
    struct meas_error e;
    int rc = meas_patient_from_text(eng, b, strlen(b), p, &e);
    if (rc != SG_OK) print_message("reader: %s: %s\n", e.where, e.msg);
    assert_int_equal(rc, SG_OK);
    struct meas_pops pops;
    assert_int_equal(meas_evaluate(eng, p, id, &mp, &pops), SG_OK);
    meas_patient_free(p);
    free(b);
    return pops;
}

#define ASSERT_POPS(p, a, b, c, d)                                                                 \
    do {                                                                                           \
        assert_int_equal((p).initial_population, a);                                               \
        assert_int_equal((p).denominator, b);                                                      \
        assert_int_equal((p).denominator_exclusion, c);                                            \
        assert_int_equal((p).numerator, d);                                                        \
    } while (0)

static void test_valueset_membership(void **state)
{
    (void)state;
    struct vs_index *ix;
    char err[SG_ERRLEN];
    assert_int_equal(vs_index_load(VSDIR, &ix, err, sizeof err), SG_OK);
    const char *cpt = "http://www.ama-assn.org/go/cpt";
    vs_mask m = vs_lookup(ix, cpt, strlen(cpt), "99202", 5);
    assert_true(m & VS_BIT(VS_OFFICE_VISIT));
    assert_false(m & VS_BIT(VS_MAMMOGRAPHY));
    assert_int_equal(vs_lookup(ix, cpt, strlen(cpt), "00000", 5), 0);
    const char *loinc = "http://loinc.org";
    assert_int_equal(vs_lookup(ix, loinc, strlen(loinc), "99202", 5),
                     0); /* code in another system */
    assert_true(vs_lookup(ix, loinc, strlen(loinc), "24604-1", 7) & VS_BIT(VS_MAMMOGRAPHY));
    assert_true(vs_lookup(ix, loinc, strlen(loinc), "8480-6", 6) & VS_BIT(CODE_SYSTOLIC));
    const char *icd = "http://hl7.org/fhir/sid/icd-10-cm";
    assert_true(vs_lookup(ix, icd, strlen(icd), "I10", 3) & VS_BIT(VS_ESSENTIAL_HTN));
    assert_true(vs_index_size(ix) > 1000);
    vs_index_free(ix);

    /* a directory lacking value sets the measures need fails and names one */
    char tmp[] = "/tmp/sg_vs_XXXXXX";
    assert_non_null(mkdtemp(tmp));
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp %s/ValueSet-2.16.840.1.113883.3.464.1003.101.12.1001.json %s/",
             VSDIR, tmp);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(vs_index_load(tmp, &ix, err, sizeof err), SG_ENOTFOUND);
    assert_non_null(strstr(err, "ValueSet/2.16.840.1.113883.3.464.1003"));
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(vs_index_load("/nonexistent/dir", &ix, err, sizeof err), SG_EIO);
}

/* A ValueSet without an expansion is read from its enumerated compose.include[].concept. */
static void test_valueset_compose(void **state)
{
    (void)state;
    char tmp[] = "/tmp/sg_vsc_XXXXXX";
    assert_non_null(mkdtemp(tmp));
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp %s/*.json %s/", VSDIR, tmp);
    assert_int_equal(system(cmd), 0);
    /* rewrite Office Visit as compose-only: {system: cpt, concept: [{code: 99202}]} */
    char path[512];
    snprintf(path, sizeof path, "%s/ValueSet-2.16.840.1.113883.3.464.1003.101.12.1001.json", tmp);
    json_error_t je;
    json_t *vs = json_load_file(path, 0, &je);
    assert_non_null(vs);
    assert_int_equal(json_object_del(vs, "expansion"), 0);
    json_object_set_new(vs, "compose",
                        json_pack("{s:[{s:s, s:[{s:s}]}]}", "include", "system",
                                  "http://www.ama-assn.org/go/cpt", "concept", "code", "99999"));
    assert_int_equal(json_dump_file(vs, path, 0), 0);
    json_decref(vs);
    struct vs_index *ix;
    char err[SG_ERRLEN];
    assert_int_equal(vs_index_load(tmp, &ix, err, sizeof err), SG_OK);
    const char *cpt = "http://www.ama-assn.org/go/cpt";
    assert_true(vs_lookup(ix, cpt, strlen(cpt), "99999", 5) & VS_BIT(VS_OFFICE_VISIT));
    /* 99202 was only in the removed expansion: no longer an Office Visit */
    assert_false(vs_lookup(ix, cpt, strlen(cpt), "99202", 5) & VS_BIT(VS_OFFICE_VISIT));
    vs_index_free(ix);
    /* a file that is not JSON names itself */
    snprintf(path, sizeof path, "%s/broken.json", tmp);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\n\"resourceType\": ", f);
    fclose(f);
    assert_int_equal(vs_index_load(tmp, &ix, err, sizeof err), SG_EPARSE);
    assert_non_null(strstr(err, "broken.json:2"));
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    assert_int_equal(system(cmd), 0);
}

static void test_reader_errors(void **state)
{
    (void)state;
    struct meas_patient *p = meas_patient_new();
    struct meas_error e;
    const char *notjson = "{\"resourceType\":\"Bundle\",\n\"type\":";
    assert_int_equal(meas_patient_from_text(eng, notjson, strlen(notjson), p, &e), SG_EPARSE);
    assert_int_equal(e.line, 2);

    const char *mr = "{\"resourceType\":\"MeasureReport\"}";
    assert_int_equal(meas_patient_from_text(eng, mr, strlen(mr), p, &e), SG_EINVAL);
    assert_non_null(strstr(e.msg, "MeasureReport"));

    char *b = bundle("document", PAT("a", "female", "1960-01-01"));
    assert_int_equal(meas_patient_from_text(eng, b, strlen(b), p, &e), SG_EINVAL);
    assert_string_equal(e.where, "Bundle.type");
    free(b);

    b = bundle("collection", OFFICE("e1", "a", "2025-13-01") "," PAT("a", "female", "1960-01-01"));
    assert_int_equal(meas_patient_from_text(eng, b, strlen(b), p, &e), SG_EINVAL);
    assert_string_equal(e.where, "Bundle.entry[0].resource.period.start");
    free(b);

    b = bundle("collection",
               OFFICE("e1", "other", "2025-03-01") "," PAT("a", "female", "1960-01-01"));
    assert_int_equal(meas_patient_from_text(eng, b, strlen(b), p, &e), SG_EINVAL);
    assert_string_equal(e.where, "Bundle.entry[0].resource.subject");
    assert_non_null(strstr(e.msg, "Patient/other"));
    json_t *oo = meas_error_outcome(&e);
    assert_string_equal(json_string_value(json_object_get(oo, "resourceType")), "OperationOutcome");
    json_t *issue = json_array_get(json_object_get(oo, "issue"), 0);
    assert_string_equal(json_string_value(json_object_get(issue, "severity")), "error");
    assert_string_equal(json_string_value(json_array_get(json_object_get(issue, "expression"), 0)),
                        "Bundle.entry[0].resource.subject");
    json_decref(oo);
    free(b);

    b = bundle("collection", PAT("a", "female", "1960-01-01") "," PAT("b", "male", "1960-01-01"));
    assert_int_equal(meas_patient_from_text(eng, b, strlen(b), p, &e), SG_EINVAL);
    free(b);
    b = bundle("collection", OFFICE("e1", "a", "2025-03-01"));
    assert_int_equal(meas_patient_from_text(eng, b, strlen(b), p, &e), SG_EINVAL);
    assert_non_null(strstr(e.msg, "no Patient"));
    free(b);
    /* searchset and transaction are accepted; unknown resource types are skipped */
    b = bundle("searchset", PAT("a", "female",
                                "1960-01-01") ",{\"resourceType\":\"Immunization\",\"id\":\"x\"}");
    assert_int_equal(meas_patient_from_text(eng, b, strlen(b), p, &e), SG_OK);
    assert_string_equal(meas_patient_id(p), "a");
    assert_string_equal(meas_patient_member_id(p), "a"); /* no MB identifier: the id */
    free(b);
    const char *mb = "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{"
                     "\"fullUrl\":\"urn:uuid:p1\","
                     "\"resource\":{\"resourceType\":\"Patient\",\"id\":\"a\",\"identifier\":[{"
                     "\"type\":{\"coding\":[{"
                     "\"system\":\"http://terminology.hl7.org/CodeSystem/"
                     "v2-0203\",\"code\":\"MB\"}]},\"value\":\"M123\"}]}},"
                     "{\"resource\":{\"resourceType\":\"Condition\",\"subject\":{\"reference\":"
                     "\"urn:uuid:p1\"}}}]}";
    assert_int_equal(meas_patient_from_text(eng, mb, strlen(mb), p, &e), SG_OK);
    assert_string_equal(meas_patient_member_id(p), "M123");
    struct meas_result r;
    struct meas_pops z = {0, 0, 0, 0};
    meas_result_fill(p, MEAS_CMS130, &mp, &z, NULL, &r);
    assert_string_equal(r.member_id, "M123");
    assert_string_equal(r.code, "COL");
    assert_string_equal(r.period_end, "2025-12-31");
    assert_int_equal(r.measurement_year, 2025);
    meas_patient_free(p);
}

/* CMS125: the numerator window opens on October 1 two years before the period. */
static void test_cms125_window(void **state)
{
    (void)state;
    /* 60-year-old woman, office visit in the period, mammogram on 2023-10-01: 1/1/0/1 */
    struct meas_pops p = eval_text(PAT("a", "female", "1965-03-10") "," OFFICE(
                                       "e1", "a", "2025-04-01") "," MAMMO("a", "2023-10-01"),
                                   MEAS_CMS125);
    ASSERT_POPS(p, 1, 1, 0, 1);
    /* one day earlier: not in the numerator */
    p = eval_text(PAT("a", "female", "1965-03-10") "," OFFICE("e1", "a", "2025-04-01") "," MAMMO(
                      "a", "2023-09-30"),
                  MEAS_CMS125);
    ASSERT_POPS(p, 1, 1, 0, 0);
    /* a man is not in the initial population */
    p = eval_text(PAT("a", "male", "1965-03-10") "," OFFICE("e1", "a", "2025-04-01") "," MAMMO(
                      "a", "2024-10-01"),
                  MEAS_CMS125);
    ASSERT_POPS(p, 0, 0, 0, 0);
    /* 51 on the last day of the period (born 1974-01-01 -> 51): out; born 1973-12-31 -> 52: in */
    p = eval_text(PAT("a", "female", "1974-01-01") "," OFFICE("e1", "a", "2025-04-01"),
                  MEAS_CMS125);
    ASSERT_POPS(p, 0, 0, 0, 0);
    p = eval_text(PAT("a", "female", "1973-12-31") "," OFFICE("e1", "a", "2025-04-01"),
                  MEAS_CMS125);
    ASSERT_POPS(p, 1, 1, 0, 0);
}

/* CMS165: lowest systolic and diastolic on the most recent day; emergency readings ignored. */
static void test_cms165_bp(void **state)
{
    (void)state;
    const char *base = PAT("b", "male", "1970-01-01") "," OFFICE("e1", "b", "2025-03-01") "," COND(
        "b", "http://hl7.org/fhir/sid/icd-10-cm", "I10", "2020-01-01T00:00:00Z") ",";
    char buf[8192];
    /* May: 150/95; Sept 1: 138/85 and 145/80 -> lowest 138 and 80: controlled.
     * Oct 1: 180/100 in an EMER encounter: not qualifying. */
    snprintf(buf, sizeof buf, "%s%s", base,
             BP("b", "e1", "2025-05-01T10:00:00Z", "150", "95") "," BP(
                 "b", "e1", "2025-09-01T10:00:00Z", "138",
                 "85") "," BP("b", "e1", "2025-09-01T15:00:00Z", "145",
                              "80") "," BP("b", "er", "2025-10-01T10:00:00Z", "180",
                                           "100") "," ENC_CLASS("er", "b", "EMER", "2025-10-01"));
    struct meas_pops p = eval_text(buf, MEAS_CMS165);
    ASSERT_POPS(p, 1, 1, 0, 1);
    /* the same October reading in an ambulatory encounter becomes the most recent day: 180 -> not
     * controlled */
    snprintf(buf, sizeof buf, "%s%s", base,
             BP("b", "e1", "2025-09-01T10:00:00Z", "138",
                "85") "," BP("b", "er", "2025-10-01T10:00:00Z", "180",
                             "100") "," ENC_CLASS("er", "b", "AMB", "2025-10-01"));
    p = eval_text(buf, MEAS_CMS165);
    ASSERT_POPS(p, 1, 1, 0, 0);
    /* hypertension starting after the first six months: not in the initial population */
    p = eval_text(PAT("b", "male", "1970-01-01") "," OFFICE("e1", "b", "2025-03-01") "," COND(
                      "b", "http://hl7.org/fhir/sid/icd-10-cm", "I10", "2025-07-01T00:00:00Z"),
                  MEAS_CMS165);
    ASSERT_POPS(p, 0, 0, 0, 0);
    /* starting on June 30: in */
    p = eval_text(PAT("b", "male", "1970-01-01") "," OFFICE("e1", "b", "2025-03-01") "," COND(
                      "b", "http://hl7.org/fhir/sid/icd-10-cm", "I10", "2025-06-30T23:59:59Z"),
                  MEAS_CMS165);
    ASSERT_POPS(p, 1, 1, 0, 0);
}

/* CMS122 (inverse): the lowest result on the most recent day decides. */
static void test_cms122_most_recent(void **state)
{
    (void)state;
    const char *base =
        PAT("c", "female", "1975-06-15") "," OFFICE("e1", "c", "2025-02-01") "," COND(
            "c", "http://hl7.org/fhir/sid/icd-10-cm", "E10.10", "2015-01-01T00:00:00Z") ",";
    char buf[8192];
    /* March: 10 %; Nov 1: 9.5 % and 8.5 % -> lowest 8.5: not > 9, numerator 0 */
    snprintf(buf, sizeof buf, "%s%s", base,
             A1C("c", "2025-03-01T08:00:00Z", "10") "," A1C(
                 "c", "2025-11-01T08:00:00Z", "9.5") "," A1C("c", "2025-11-01T12:00:00Z", "8.5"));
    ASSERT_POPS(eval_text(buf, MEAS_CMS122), 1, 1, 0, 0);
    /* only 9.5 on the most recent day: > 9, numerator 1 */
    snprintf(buf, sizeof buf, "%s%s", base,
             A1C("c", "2025-03-01T08:00:00Z", "7") "," A1C("c", "2025-11-01T08:00:00Z", "9.5"));
    ASSERT_POPS(eval_text(buf, MEAS_CMS122), 1, 1, 0, 1);
    /* no assessment in the period: numerator 1 (no record) */
    snprintf(buf, sizeof buf, "%s%s", base, A1C("c", "2024-12-31T08:00:00Z", "7"));
    ASSERT_POPS(eval_text(buf, MEAS_CMS122), 1, 1, 0, 1);
    /* exactly 9: not > 9 */
    snprintf(buf, sizeof buf, "%s%s", base, A1C("c", "2025-11-01T08:00:00Z", "9"));
    ASSERT_POPS(eval_text(buf, MEAS_CMS122), 1, 1, 0, 0);
}

/* prevalenceInterval(): abatement and clinical status decide the end. */
static void test_condition_prevalence(void **state)
{
    (void)state;
    const char *head = PAT("b", "male", "1970-01-01") "," OFFICE("e1", "b", "2025-03-01") ",";
    char buf[4096];
#define HTN(status, extra)                                                                         \
    "{\"resourceType\":\"Condition\",\"clinicalStatus\":{\"coding\":[{\"system\":"                 \
    "\"http://terminology.hl7.org/CodeSystem/condition-clinical\",\"code\":\"" status "\"}]},"     \
    "\"code\":{\"coding\":[{\"system\":\"http://hl7.org/fhir/sid/icd-10-cm\",\"code\":\"I10\"}]}," \
    "\"subject\":{\"reference\":\"Patient/b\"}" extra "}"
    /* resolved on 2024-12-31: [2020-01-01, 2024-12-31] misses the first half of 2025 */
    snprintf(
        buf, sizeof buf, "%s%s", head,
        HTN("resolved", ",\"onsetDateTime\":\"2020-01-01\",\"abatementDateTime\":\"2024-12-31\""));
    ASSERT_POPS(eval_text(buf, MEAS_CMS165), 0, 0, 0, 0);
    /* resolved with no abatement: [onset, null) has an unknown end -> overlaps is null -> out */
    snprintf(buf, sizeof buf, "%s%s", head, HTN("resolved", ",\"onsetDateTime\":\"2020-01-01\""));
    ASSERT_POPS(eval_text(buf, MEAS_CMS165), 0, 0, 0, 0);
    /* abatementPeriod end 2025-01-02 (day precision): Interval[low, high) ends 2025-01-01 ->
     * overlaps */
    snprintf(buf, sizeof buf, "%s%s", head,
             HTN("inactive", ",\"onsetDateTime\":\"2020-01-01\",\"abatementPeriod\":{\"start\":"
                             "\"2024-12-01\",\"end\":\"2025-01-02\"}"));
    ASSERT_POPS(eval_text(buf, MEAS_CMS165), 0, 0, 0,
                0); /* [.., 2025-01-01] vs full-precision window: null */
    snprintf(buf, sizeof buf, "%s%s", head,
             HTN("inactive", ",\"onsetDateTime\":\"2020-01-01\",\"abatementPeriod\":{\"start\":"
                             "\"2024-12-01\",\"end\":\"2025-01-03\"}"));
    ASSERT_POPS(eval_text(buf, MEAS_CMS165), 1, 1, 0,
                0); /* ends 2025-01-02: decided at day level */
    /* onsetAge 50 years for a man born 1970-01-01, abated at 51: [2020-01-01, 2022-01-01) -> out */
    snprintf(
        buf, sizeof buf, "%s%s", head,
        HTN("resolved",
            ",\"onsetAge\":{\"value\":50,\"system\":\"http://unitsofmeasure.org\",\"code\":\"a\"},"
            "\"abatementAge\":{\"value\":51,\"system\":\"http://"
            "unitsofmeasure.org\",\"code\":\"a\"}"));
    ASSERT_POPS(eval_text(buf, MEAS_CMS165), 0, 0, 0, 0);
    /* active from age 55 (2025-01-01) on: in */
    snprintf(buf, sizeof buf, "%s%s", head,
             HTN("active", ",\"onsetAge\":{\"value\":55,\"system\":\"http://"
                           "unitsofmeasure.org\",\"code\":\"a\"}"));
    ASSERT_POPS(eval_text(buf, MEAS_CMS165), 1, 1, 0, 0);
#undef HTN
}

/* CMS130: a colonoscopy recorded by age (performedAge) ends on the day before the next
 * birthday: age 50 for a man born 1970-01-01 -> [2020-01-01, 2021-01-01) ends 2020-12-31, inside
 * the 9-year window [2016-01-01, 2025-12-31]; age 40 ends 2010-12-31, outside. */
static void test_cms130_performed_age(void **state)
{
    (void)state;
#define COLO(age)                                                                                  \
    "{\"resourceType\":\"Procedure\",\"status\":\"completed\",\"code\":{\"coding\":[{\"system\":"  \
    "\"http://www.ama-assn.org/go/"                                                                \
    "cpt\",\"code\":\"44388\"}]},\"subject\":{\"reference\":\"Patient/"                            \
    "d\"},\"performedAge\":{\"value\":" age                                                        \
    ",\"system\":\"http://unitsofmeasure.org\",\"code\":\"a\"}}"
    ASSERT_POPS(
        eval_text(COLO("50") "," OFFICE("e1", "d", "2025-03-01") "," PAT("d", "male", "1970-01-01"),
                  MEAS_CMS130),
        1, 1, 0, 1);
    ASSERT_POPS(
        eval_text(COLO("40") "," OFFICE("e1", "d", "2025-03-01") "," PAT("d", "male", "1970-01-01"),
                  MEAS_CMS130),
        1, 1, 0, 0);
#undef COLO
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Bulk export: resources interleaved across patients and split over parts are grouped by
 * patient reference; a resource whose Patient is absent is one reject at the end. */
static void test_bulk_grouping(void **state)
{
    (void)state;
    char dir[] = "/tmp/sg_bulk_XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "Patient.000.ndjson",
               PAT("a", "female", "1965-03-10") "\n\n" PAT("b", "male", "1970-01-01") "\n");
    write_file(dir, "Encounter.000.ndjson",
               OFFICE("eb", "b", "2025-03-01") "\n" OFFICE("ea", "a", "2025-04-01") "\n");
    write_file(dir, "Encounter.001.ndjson", OFFICE("ez", "zz", "2025-04-01") "\n");
    write_file(dir, "Condition.ndjson",
               COND("b", "http://hl7.org/fhir/sid/icd-10-cm", "I10", "2020-01-01T00:00:00Z") "\n");
    write_file(
        dir, "Observation.ndjson",
        BP("b", "eb", "2025-09-01T10:00:00Z", "120", "80") "\n" MAMMO("a", "2024-12-01") "\n");
    write_file(dir, "log.ndjson", "{\"not\":\"a resource\"}\n");
    char *paths[] = {dir};
    struct meas_input *in;
    char err[SG_ERRLEN];
    assert_int_equal(meas_input_open(paths, 1, &in, err, sizeof err), SG_OK);
    struct meas_patient *p = meas_patient_new();
    const char *file;
    long line;
    struct meas_error e;
    struct meas_pops pops;
    assert_int_equal(meas_input_next(in, eng, p, &file, &line, &e), 1);
    assert_string_equal(meas_patient_id(p), "a");
    assert_int_equal(meas_evaluate(eng, p, MEAS_CMS125, &mp, &pops), SG_OK);
    ASSERT_POPS(pops, 1, 1, 0, 1); /* her encounter and mammogram came from two files */
    assert_int_equal(meas_input_next(in, eng, p, &file, &line, &e), 1);
    assert_string_equal(meas_patient_id(p), "b");
    assert_int_equal(line, 3); /* Patient line 3 (a blank line is skipped) */
    assert_int_equal(meas_evaluate(eng, p, MEAS_CMS165, &mp, &pops), SG_OK);
    ASSERT_POPS(pops, 1, 1, 0, 1);
    assert_int_equal(meas_input_next(in, eng, p, &file, &line, &e), SG_EINVAL);
    assert_non_null(strstr(file, "Encounter.001.ndjson"));
    assert_int_equal(line, 1);
    assert_non_null(strstr(e.msg, "zz"));
    assert_int_equal(meas_input_next(in, eng, p, &file, &line, &e), 0);
    meas_input_close(in);

    /* NDJSON of Bundles: a bad line is reported with its number and the next line is read */
    char *b1 = bundle("collection", PAT("a", "female", "1965-03-10"));
    size_t n = strlen(b1) * 2 + 64;
    char *nd = malloc(n);
    snprintf(nd, n, "%s\n{broken\n%s\n", b1, b1);
    write_file(dir, "bundles.ndjson", nd);
    char nd_path[512];
    snprintf(nd_path, sizeof nd_path, "%s/bundles.ndjson", dir);
    char *paths2[] = {nd_path};
    assert_int_equal(meas_input_open(paths2, 1, &in, err, sizeof err), SG_OK);
    assert_int_equal(meas_input_next(in, eng, p, &file, &line, &e), 1);
    assert_int_equal(meas_input_next(in, eng, p, &file, &line, &e), SG_EPARSE);
    assert_int_equal(line, 2);
    assert_int_equal(meas_input_next(in, eng, p, &file, &line, &e), 1);
    assert_int_equal(line, 3);
    assert_int_equal(meas_input_next(in, eng, p, &file, &line, &e), 0);
    meas_input_close(in);
    free(nd);
    free(b1);
    meas_patient_free(p);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static long pop_count(json_t *mr, const char *code)
{
    json_t *g = json_array_get(json_object_get(mr, "group"), 0);
    size_t i;
    json_t *pop;
    json_array_foreach(json_object_get(g, "population"), i, pop)
    {
        json_t *c = json_array_get(json_object_get(json_object_get(pop, "code"), "coding"), 0);
        if (!strcmp(json_string_value(json_object_get(c, "code")), code))
            return (long)json_integer_value(json_object_get(pop, "count"));
    }
    return -1;
}

static void test_reports(void **state)
{
    (void)state;
    char *b = bundle("collection", PAT("a", "female", "1965-03-10"));
    struct meas_patient *p = meas_patient_new();
    struct meas_error e;
    assert_int_equal(meas_patient_from_text(eng, b, strlen(b), p, &e), SG_OK);
    free(b);
    struct meas_pops pops = {1, 1, 0, 1};
    json_t *mr = meas_report_individual(p, MEAS_CMS125, &mp, &pops);
    assert_non_null(mr);
    assert_string_equal(json_string_value(json_object_get(mr, "resourceType")), "MeasureReport");
    assert_string_equal(json_string_value(json_object_get(mr, "type")), "individual");
    assert_string_equal(json_string_value(json_object_get(mr, "status")), "complete");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(mr, "subject"), "reference")),
        "Patient/a");
    assert_string_equal(json_string_value(json_object_get(json_object_get(mr, "period"), "start")),
                        "2025-01-01");
    assert_int_equal(pop_count(mr, "initial-population"), 1);
    assert_int_equal(pop_count(mr, "denominator-exclusion"), 0);
    assert_int_equal(pop_count(mr, "numerator"), 1);
    json_decref(mr);

    /* summary: 4 / (10 - 2) = 0.5 */
    struct meas_totals t = {10, 10, 2, 4};
    json_t *sm = meas_report_summary(MEAS_CMS130, &mp, &t);
    assert_string_equal(json_string_value(json_object_get(sm, "type")), "summary");
    assert_int_equal(pop_count(sm, "denominator"), 10);
    json_t *score =
        json_object_get(json_array_get(json_object_get(sm, "group"), 0), "measureScore");
    assert_true(json_real_value(json_object_get(score, "value")) == 0.5);
    json_decref(sm);

    /* gaps: BCS numerator (closed), COL not numerator (open), CBP not in the denominator (no
     * section), GSD numerator = poor control (open, inverse measure) */
    enum meas_id ids[] = {MEAS_CMS125, MEAS_CMS130, MEAS_CMS165, MEAS_CMS122};
    struct meas_pops ps[] = {{1, 1, 0, 1}, {1, 1, 0, 0}, {0, 0, 0, 0}, {1, 1, 0, 1}};
    json_t *g = meas_gaps_bundle(p, ids, ps, 4, &mp);
    assert_non_null(g);
    json_error_t je;
    json_t *ex = json_load_file(
        STARGAP_TEST_DATA "/deqm/Bundle-single-gaps-open-indv-report01.json", 0, &je);
    assert_non_null(ex);
    assert_string_equal(json_string_value(json_object_get(g, "type")),
                        json_string_value(json_object_get(ex, "type")));
    json_t *entries = json_object_get(g, "entry");
    json_t *comp = json_object_get(json_array_get(entries, 0), "resource");
    json_t *excomp = json_object_get(json_array_get(json_object_get(ex, "entry"), 0), "resource");
    assert_string_equal(json_string_value(json_object_get(comp, "resourceType")), "Composition");
    assert_true(json_equal(
        json_object_get(json_array_get(json_object_get(json_object_get(comp, "type"), "coding"), 0),
                        "code"),
        json_object_get(
            json_array_get(json_object_get(json_object_get(excomp, "type"), "coding"), 0),
            "code")));
    json_t *secs = json_object_get(comp, "section");
    assert_int_equal(json_array_size(secs), 3);
    /* the example's DetectedIssue: its gap-status extension url and code system */
    json_t *exdi = NULL, *e2;
    size_t i;
    json_array_foreach(json_object_get(ex, "entry"), i, e2)
    {
        json_t *r = json_object_get(e2, "resource");
        if (!strcmp(json_string_value(json_object_get(r, "resourceType")), "DetectedIssue"))
            exdi = r;
    }
    assert_non_null(exdi);
    json_t *exext = json_array_get(json_object_get(exdi, "modifierExtension"), 0);
    const char *want[] = {"closed-gap", "open-gap", "open-gap"};
    json_t *sec;
    json_array_foreach(secs, i, sec)
    {
        const char *focus =
            json_string_value(json_object_get(json_object_get(sec, "focus"), "reference"));
        const char *diref = json_string_value(
            json_object_get(json_array_get(json_object_get(sec, "entry"), 0), "reference"));
        json_t *mrr = NULL, *di = NULL, *en;
        size_t k;
        json_array_foreach(entries, k, en)
        {
            json_t *r = json_object_get(en, "resource");
            char ref[128];
            snprintf(ref, sizeof ref, "%s/%s",
                     json_string_value(json_object_get(r, "resourceType")),
                     json_string_value(json_object_get(r, "id")));
            if (!strcmp(ref, focus)) mrr = r;
            if (!strcmp(ref, diref)) di = r;
        }
        assert_non_null(mrr);
        assert_non_null(di);
        assert_string_equal(json_string_value(json_object_get(mrr, "type")), "individual");
        json_t *ext = json_array_get(json_object_get(di, "modifierExtension"), 0);
        assert_true(json_equal(json_object_get(ext, "url"), json_object_get(exext, "url")));
        json_t *c = json_array_get(
            json_object_get(json_object_get(ext, "valueCodeableConcept"), "coding"), 0);
        json_t *exc = json_array_get(
            json_object_get(json_object_get(exext, "valueCodeableConcept"), "coding"), 0);
        assert_true(json_equal(json_object_get(c, "system"), json_object_get(exc, "system")));
        assert_string_equal(json_string_value(json_object_get(c, "code")), want[i]);
    }
    json_decref(ex);
    /* $care-gaps output: the shared example's Parameters wrapper */
    json_t *exp = json_load_file(
        STARGAP_TEST_DATA "/deqm/Parameters-single-gaps-open-indv-report01.json", 0, &je);
    assert_non_null(exp);
    json_t *par = meas_gaps_parameters(&g, 1);
    assert_non_null(par);
    assert_true(
        json_equal(json_object_get(par, "resourceType"), json_object_get(exp, "resourceType")));
    json_t *p0 = json_array_get(json_object_get(par, "parameter"), 0);
    json_t *e0 = json_array_get(json_object_get(exp, "parameter"), 0);
    assert_true(json_equal(json_object_get(p0, "name"), json_object_get(e0, "name")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(p0, "resource"), "type")),
                        "document");
    json_decref(exp);
    json_decref(par);
    meas_patient_free(p);
}

static void test_measure_names(void **state)
{
    (void)state;
    enum meas_id id;
    assert_int_equal(meas_parse_id("GSD", &id), SG_OK);
    assert_int_equal(id, MEAS_CMS122);
    assert_int_equal(meas_parse_id("cms131v13", &id), SG_OK);
    assert_int_equal(id, MEAS_CMS131);
    assert_int_equal(meas_parse_id("CMS1250", &id), SG_ENOTFOUND);
    unsigned mask;
    char err[SG_ERRLEN];
    assert_int_equal(meas_parse_list("BCS,CMS165", &mask, err, sizeof err), SG_OK);
    assert_int_equal(mask, (1u << MEAS_CMS125) | (1u << MEAS_CMS165));
    assert_int_equal(meas_parse_list("all", &mask, err, sizeof err), SG_OK);
    assert_int_equal(mask, 31u);
    assert_int_equal(meas_parse_list("BCS,XYZ", &mask, err, sizeof err), SG_ENOTFOUND);
    assert_non_null(strstr(err, "XYZ"));
    struct meas_period per;
    assert_int_equal(meas_period_parse("2025-12-31", "2025-01-01", &per, err, sizeof err),
                     SG_EINVAL);
    assert_int_equal(meas_period_parse("2025-1-1", "2025-12-31", &per, err, sizeof err), SG_EINVAL);
    assert_non_null(strstr(err, "periodStart"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valueset_membership),
        cmocka_unit_test(test_reader_errors),
        cmocka_unit_test(test_cms125_window),
        cmocka_unit_test(test_cms165_bp),
        cmocka_unit_test(test_cms122_most_recent),
        cmocka_unit_test(test_bulk_grouping),
        cmocka_unit_test(test_reports),
        cmocka_unit_test(test_measure_names),
        cmocka_unit_test(test_condition_prevalence),
        cmocka_unit_test(test_cms130_performed_age),
        cmocka_unit_test(test_valueset_compose),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
