/* test_synth_fhir.c: the FHIR round trip of the synthetic portfolio generator. A portfolio is
 * generated twice from the same parameters, as CSV and as FHIR R4 Bulk NDJSON (codes from the
 * copied eCQM value sets); the Bulk directory is evaluated by the measure engine (CMS125, CMS130,
 * CMS165, CMS122, CMS131 over the last year) and every member's four populations are compared
 * with the CSV measure_results rows of BCS, COL, CBP, GSD (the complement of CMS122's numerator
 * among the non-excluded denominator) and EED of that year. The expected values are the
 * generator's CSV statuses and numerator dates (the engine's numerator date in the Star
 * direction must equal the CSV numerator_date), for the complete year and as of the default
 * as-of day (then nothing of the year is dated after it); the engine is an independent
 * implementation of the CQL, so any clinical fact the writer gets wrong (a code outside the value
 * set, a date outside a window, a missing encounter, a wrong BP or HbA1c value) shows up as a
 * disagreement. The one documented difference: CMS130 starts at age 46, the Star measure COL at 50
 * (members 46-49 are in CMS130's initial population and have no COL row). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h> /* after the headers it needs (stdarg, stddef, setjmp) */

#include "core/fileio.h"
#include "measures/measures.h"
#include "synth/synth.h"

#define VSDIR STARGAP_SOURCE_DIR "/data/valuesets"
#define NF 5 /* BCS, COL, CBP, GSD, EED in enum meas_id order */

static const struct synth_params PRM = {6000, 5, 2023, 2025, 11, 12, 31}; /* complete Y2 */
/* the default as-of day (SYNTH_AS_OF_DEFAULT: September 30): Y2 as observed on that day */
static const struct synth_params PRM_ASOF = {3000, 5, 2023, 2025, 11, 0, 0};
static const char *const CODES[NF] = {"BCS", "COL", "CBP", "GSD", "EED"};
static char dir_csv[64], dir_fhir[64], dir_cli[64];

static const char *const CSV_FILES[] = {"members.csv", "measure_results.csv", "member_features.csv",
                                        "true_probabilities.csv"};
static const char *const FHIR_FILES[] = {"Patient.ndjson", "Condition.ndjson", "Encounter.ndjson",
                                         "Observation.ndjson", "Procedure.ndjson"};

static void rm_dir(const char *d)
{
    char p[256];
    for (size_t k = 0; k < 4; k++) {
        snprintf(p, sizeof p, "%s/%s", d, CSV_FILES[k]);
        remove(p);
    }
    for (size_t k = 0; k < 5; k++) {
        snprintf(p, sizeof p, "%s/%s", d, FHIR_FILES[k]);
        remove(p);
    }
    rmdir(d);
}

static int setup(void **state)
{
    (void)state;
    strcpy(dir_csv, "/tmp/sg_sfhir_c_XXXXXX");
    strcpy(dir_fhir, "/tmp/sg_sfhir_f_XXXXXX");
    strcpy(dir_cli, "/tmp/sg_sfhir_x_XXXXXX");
    return mkdtemp(dir_csv) && mkdtemp(dir_fhir) && mkdtemp(dir_cli) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    rm_dir(dir_csv);
    rm_dir(dir_fhir);
    rm_dir(dir_cli);
    return 0;
}

_Static_assert(sizeof(struct synth_code) == sizeof(struct meas_code) &&
                   sizeof((struct synth_code){0}.system) == sizeof((struct meas_code){0}.system),
               "synth_code and meas_code hold the same strings");

static int engine_codes(void *ud, const char *url, struct synth_code *out, size_t max, size_t *n,
                        char *err, size_t errlen)
{
    struct meas_code mc[SYNTH_FHIR_MAX_CODES];
    if (max > SYNTH_FHIR_MAX_CODES) max = SYNTH_FHIR_MAX_CODES;
    int rc = meas_valueset_codes(ud, url, mc, max, n, err, errlen);
    for (size_t i = 0; rc == SG_OK && i < *n; i++) {
        memcpy(out[i].system, mc[i].system, sizeof out[i].system);
        memcpy(out[i].code, mc[i].code, sizeof out[i].code);
    }
    return rc;
}

static char *slurp(const char *d, const char *name)
{
    char p[256], err[256];
    snprintf(p, sizeof p, "%s/%s", d, name);
    char *s = NULL;
    size_t len;
    assert_int_equal(sg_read_file(p, (size_t)1 << 30, &s, &len, err, sizeof err), 0);
    return s;
}

struct pops4 {
    uint8_t has, ip, den, ex, num;
    char date[MEAS_DATE_LEN]; /* numerator_date of the CSV row ("" none) */
};

/* Every effective, performed, onset and period start/end dateTime of year y in an NDJSON file is on
 * or before month-day md (month * 100 + day); returns how many dates of y it saw. */
static size_t check_dates_upto(const char *dir, const char *file, int y, int md)
{
    char *s = slurp(dir, file);
    size_t seen = 0;
    static const char *const keys[] = {"\"effectiveDateTime\":\"", "\"performedDateTime\":\"",
                                       "\"onsetDateTime\":\"", "\"start\":\"", "\"end\":\""};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        for (const char *q = strstr(s, keys[k]); q; q = strstr(q + 1, keys[k])) {
            int yy, mm, dd;
            assert_int_equal(sscanf(q + strlen(keys[k]), "%4d-%2d-%2d", &yy, &mm, &dd), 3);
            if (yy != y) continue;
            seen++;
            if (mm * 100 + dd > md)
                fail_msg("%s: %04d-%02d-%02d after the as-of day %02d-%02d", file, yy, mm, dd,
                         md / 100, md % 100);
        }
    free(s);
    return seen;
}

static void round_trip(const struct synth_params *prm_in)
{
    const struct synth_params *const PRMX = prm_in;
#define PRM (*PRMX)
    char err[512];
    struct meas_engine *eng = NULL;
    assert_int_equal(meas_engine_new(VSDIR, &eng, err, sizeof err), SG_OK);

    struct synth_summary sc, sf;
    assert_int_equal(synth_write_csv(&PRM, dir_csv, &sc, err, sizeof err), SG_OK);
    if (synth_write_fhir(&PRM, engine_codes, eng, dir_fhir, &sf, err, sizeof err) != SG_OK)
        fail_msg("synth_write_fhir: %s", err);
    /* the same portfolio: identical statuses on all eleven measures, not only the five */
    assert_int_equal(sf.result_rows, sc.result_rows);
    for (int k = 0; k < SYNTH_N_MEASURES; k++) {
        assert_int_equal(sf.denominator[k], sc.denominator[k]);
        assert_int_equal(sf.numerator[k], sc.numerator[k]);
        assert_int_equal(sf.numerator_as_of[k], sc.numerator_as_of[k]);
    }
    /* nothing of the last year dated after the as-of day */
    int asof_md = sc.as_of_month * 100 + sc.as_of_day;
    size_t ev = check_dates_upto(dir_fhir, "Observation.ndjson", PRM.year_last, asof_md) +
                check_dates_upto(dir_fhir, "Procedure.ndjson", PRM.year_last, asof_md) +
                check_dates_upto(dir_fhir, "Condition.ndjson", PRM.year_last, asof_md) +
                check_dates_upto(dir_fhir, "Encounter.ndjson", PRM.year_last, asof_md);
    assert_true(ev > 1000);
    assert_int_equal(sf.fhir_patients, PRM.members);

    /* members.csv: birth years; measure_results.csv: the five measures of the last year */
    size_t n = PRM.members;
    int *birth = calloc(n + 1, sizeof *birth);
    struct pops4 *want = calloc((n + 1) * NF, sizeof *want);
    assert_non_null(birth);
    assert_non_null(want);
    char *s = slurp(dir_csv, "members.csv"), *save = NULL;
    char *line = strtok_r(s, "\n", &save);
    while ((line = strtok_r(NULL, "\n", &save))) {
        unsigned id, con;
        int by;
        assert_int_equal(sscanf(line, "M%u,H%u,%d-", &id, &con, &by), 3);
        birth[id] = by;
    }
    free(s);
    s = slurp(dir_csv, "measure_results.csv");
    save = NULL;
    line = strtok_r(s, "\n", &save);
    size_t rows = 0;
    while ((line = strtok_r(NULL, "\n", &save))) {
        unsigned id;
        char code[16];
        int year, ip, dn, ex, nu;
        assert_int_equal(
            sscanf(line, "M%u,%15[^,],%d,%d,%d,%d,%d", &id, code, &year, &ip, &dn, &ex, &nu), 7);
        if (year != PRM.year_last) continue;
        const char *date = strrchr(line, ',') + 1; /* the eighth column, numerator_date */
        for (int k = 0; k < NF; k++)
            if (!strcmp(code, CODES[k])) {
                struct pops4 *w = &want[id * NF + (size_t)k];
                *w = (struct pops4){1, (uint8_t)ip, (uint8_t)dn, (uint8_t)ex, (uint8_t)nu, ""};
                assert_true(strlen(date) < sizeof w->date);
                strcpy(w->date, date);
                assert_int_equal(w->date[0] != 0, nu); /* a date exactly on met rows */
                rows++;
            }
    }
    free(s);

    /* evaluate the Bulk directory */
    struct meas_period per;
    assert_int_equal(meas_period_parse("2025-01-01", "2025-12-31", &per, err, sizeof err), SG_OK);
    char *paths[1] = {dir_fhir};
    struct meas_input *in = NULL;
    assert_int_equal(meas_input_open(paths, 1, &in, err, sizeof err), SG_OK);
    struct meas_patient *p = meas_patient_new();
    assert_non_null(p);
    uint8_t *seen = calloc(n + 1, 1);
    size_t patients = 0, agree = 0, disagree = 0, extra_col = 0, rejects = 0, dated = 0;
    size_t cnt[NF][4] = {{0}}; /* per measure: rows, excluded, met, open */
    for (;;) {
        const char *file;
        long ln;
        struct meas_error me;
        int rc = meas_input_next(in, eng, p, &file, &ln, &me);
        if (rc == 0) break;
        if (rc < 0) {
            rejects++;
            print_message("reject %s:%ld: %s\n", file ? file : "?", ln, me.msg);
            if (rc != SG_EPARSE && rc != SG_EINVAL) break;
            continue;
        }
        unsigned id = 0;
        const char *mid = meas_patient_member_id(p);
        assert_int_equal(sscanf(mid, "M%u", &id), 1);
        assert_true(id >= 1 && id <= n);
        assert_int_equal(seen[id], 0);
        assert_string_not_equal(meas_patient_id(p), mid); /* the identifier, not Patient.id */
        seen[id] = 1;
        patients++;
        for (int k = 0; k < NF; k++) {
            struct meas_pops g;
            char nd[MEAS_DATE_LEN], sd[MEAS_DATE_LEN];
            assert_int_equal(meas_evaluate_dated(eng, p, (enum meas_id)k, &per, &g, nd), SG_OK);
            /* the Star direction (GSD = denominator, not excluded, not poor control), dated */
            int star = meas_star_numerator((enum meas_id)k, &g, nd, sd);
            if (k == MEAS_CMS122) /* checked independently of meas_star_numerator */
                assert_int_equal(star, g.denominator && !g.denominator_exclusion && !g.numerator);
            g.numerator = (uint8_t)star;
            const struct pops4 *w = &want[id * NF + (size_t)k];
            if (!w->has) {
                if (!g.initial_population) continue;
                int age = PRM.year_last - birth[id];
                if (k == MEAS_CMS130 && age >= 46 && age <= 49) {
                    extra_col++; /* CMS130's 46-49 band, outside the Star measure */
                    continue;
                }
                disagree++;
                print_message("%s %s: engine in the initial population, no CSV row\n", mid,
                              CODES[k]);
                continue;
            }
            cnt[k][0]++;
            cnt[k][1] += w->ex;
            cnt[k][2] += w->num;
            cnt[k][3] += !w->ex && !w->num;
            if (g.initial_population == w->ip && g.denominator == w->den &&
                g.denominator_exclusion == w->ex && g.numerator == w->num && !strcmp(sd, w->date)) {
                agree++;
                dated += sd[0] != 0;
            } else {
                disagree++;
                print_message("%s %s: engine %d%d%d%d %s, CSV %d%d%d%d %s\n", mid, CODES[k],
                              g.initial_population, g.denominator, g.denominator_exclusion,
                              g.numerator, sd, w->ip, w->den, w->ex, w->num, w->date);
            }
        }
    }
    meas_input_close(in);
    meas_patient_free(p);
    print_message("FHIR round trip, %d as of %02d-%02d: %zu of %zu CSV rows agree on all four "
                  "populations and numerator_date (%zu dated; %zu disagreements); %zu patients; "
                  "%zu rejects; %zu CMS130-only members aged 46-49\n",
                  PRM.year_last, sc.as_of_month, sc.as_of_day, agree, rows, dated, disagree,
                  patients, rejects, extra_col);
    for (int k = 0; k < NF; k++)
        print_message("  %s: %zu rows, %zu excluded, %zu met, %zu open\n", CODES[k], cnt[k][0],
                      cnt[k][1], cnt[k][2], cnt[k][3]);
    assert_int_equal(rejects, 0);
    assert_int_equal(patients, n);
    assert_int_equal(disagree, 0);
    assert_int_equal(agree, rows);
    /* every path exercised: exclusions, met and open gaps for each measure */
    for (int k = 0; k < NF; k++)
        assert_true(cnt[k][1] >= 3 && cnt[k][2] >= 50 && cnt[k][3] >= 10);
    assert_true(extra_col > 0);
    assert_true(dated >= 5 * 50);
    free(seen);
    free(birth);
    free(want);
    meas_engine_free(eng);
#undef PRM
}

static void test_round_trip(void **state)
{
    (void)state;
    round_trip(&PRM);
}

/* The default as-of day: members met by September 30 have their qualifying event on their
 * compliance day, the others none up to it, and nothing of the year is dated after it. */
static void test_round_trip_as_of(void **state)
{
    (void)state;
    round_trip(&PRM_ASOF);
}

/* meas_valueset_codes: the HbA1c Laboratory Test expansion (copied file) lists five LOINC codes
 * that are in no other value set; sorted as strings they are 17855-8, 17856-6, 4548-4, 4549-2,
 * 96595-4, and four are asked for. A value set the measures do not use is not found. */
static void test_valueset_codes(void **state)
{
    (void)state;
    char err[512];
    struct meas_engine *eng = NULL;
    assert_int_equal(meas_engine_new(VSDIR, &eng, err, sizeof err), SG_OK);
    struct meas_code c[4];
    size_t n = 0;
    assert_int_equal(meas_valueset_codes(eng,
                                         "http://cts.nlm.nih.gov/fhir/ValueSet/"
                                         "2.16.840.1.113883.3.464.1003.198.12.1013|20240101",
                                         c, 4, &n, err, sizeof err),
                     SG_OK);
    assert_int_equal(n, 4);
    static const char *const want[4] = {"17855-8", "17856-6", "4548-4", "4549-2"};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(c[i].system, "http://loinc.org");
        assert_string_equal(c[i].code, want[i]);
    }
    assert_int_equal(
        meas_valueset_codes(eng, "http://example.org/ValueSet/x", c, 4, &n, err, sizeof err),
        SG_ENOTFOUND);
    assert_int_equal(n, 0);
    meas_engine_free(eng);
}

/* Same seed, same bytes; a missing value-set directory fails before anything is written. */
static void test_determinism_and_errors(void **state)
{
    (void)state;
    char err[512];
    struct meas_engine *eng = NULL;
    assert_int_equal(meas_engine_new(VSDIR, &eng, err, sizeof err), SG_OK);
    struct synth_params small = {800, 3, 2024, 2025, 3, 12, 31};
    assert_int_equal(synth_write_fhir(&small, engine_codes, eng, dir_cli, NULL, err, sizeof err),
                     SG_OK);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s generate --members 800 --contracts 3 --years 2024-2025 --seed 3 --as-of 12-31 --format fhir "
             "--valuesets %s --out %s/cli >/dev/null 2>&1",
             STARGAP_BINARY, VSDIR, dir_cli);
    int rc = system(cmd);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
    for (size_t k = 0; k < 5; k++) {
        char sub[128];
        snprintf(sub, sizeof sub, "%s/cli", dir_cli);
        char *a = slurp(dir_cli, FHIR_FILES[k]), *b = slurp(sub, FHIR_FILES[k]);
        assert_string_equal(a, b);
        free(a);
        free(b);
        char p[256];
        snprintf(p, sizeof p, "%s/%s", sub, FHIR_FILES[k]);
        remove(p);
    }
    char sub[128];
    snprintf(sub, sizeof sub, "%s/cli", dir_cli);
    rmdir(sub);
    /* the CLI without value sets, and a resolver that fails */
    snprintf(cmd, sizeof cmd,
             "%s generate --members 10 --contracts 1 --years 2025 --seed 3 --format fhir "
             "--valuesets /nonexistent --out %s/none >/dev/null 2>&1",
             STARGAP_BINARY, dir_cli);
    rc = system(cmd);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
    snprintf(sub, sizeof sub, "%s/none", dir_cli);
    assert_int_equal(access(sub, F_OK) == 0 ? rmdir(sub) : 0, 0);
    assert_int_equal(synth_write_fhir(&small, NULL, NULL, dir_cli, NULL, err, sizeof err),
                     SG_EINVAL);
    meas_engine_free(eng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_round_trip_as_of),
        cmocka_unit_test(test_determinism_and_errors),
        cmocka_unit_test(test_valueset_codes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
