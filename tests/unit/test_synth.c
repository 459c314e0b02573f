/* test_synth.c: unit tests for the synthetic portfolio generator (src/synth): byte-identical
 * output for a seed, calibration of the last year's rates to the CMS 2026 national averages
 * (typed in here from the Technical Notes, Attachment C), each measure's age/sex/diagnosis
 * rules, member structure, the true-probability file, and errors that leave nothing behind. */
#include <math.h>
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
#include "synth/synth.h"

static char dir_a[64], dir_b[64], dir_c[64];

static int setup(void **state)
{
    (void)state;
    strcpy(dir_a, "/tmp/sg_synth_a_XXXXXX");
    strcpy(dir_b, "/tmp/sg_synth_b_XXXXXX");
    strcpy(dir_c, "/tmp/sg_synth_c_XXXXXX");
    if (!mkdtemp(dir_a) || !mkdtemp(dir_b) || !mkdtemp(dir_c)) return -1;
    return 0;
}

static const char *const FILES[] = {"members.csv", "measure_results.csv", "member_features.csv",
                                    "true_probabilities.csv"};

static void rmdir_all(const char *d)
{
    char p[256];
    for (int k = 0; k < 4; k++) {
        snprintf(p, sizeof p, "%s/%s", d, FILES[k]);
        remove(p);
    }
    rmdir(d);
}

static int teardown(void **state)
{
    (void)state;
    rmdir_all(dir_a);
    rmdir_all(dir_b);
    rmdir_all(dir_c);
    return 0;
}

static char *slurp(const char *d, const char *name, size_t *len)
{
    char p[256], err[256];
    snprintf(p, sizeof p, "%s/%s", d, name);
    char *s = NULL;
    assert_int_equal(sg_read_file(p, (size_t)1 << 30, &s, len, err, sizeof err), 0);
    return s;
}

/* the last year complete (as of 12-31): its rates are the year-end rates (test_synth_asof.c
 * covers the default as-of truncation) */
static const struct synth_params PRM = {60000, 8, 2023, 2025, 7, 12, 31};

static void test_determinism(void **state)
{
    (void)state;
    char err[256];
    struct synth_summary s1, s2;
    assert_int_equal(synth_write_csv(&PRM, dir_a, &s1, err, sizeof err), SG_OK);
    assert_int_equal(synth_write_csv(&PRM, dir_b, &s2, err, sizeof err), SG_OK);
    for (int k = 0; k < 4; k++) {
        size_t la, lb;
        char *a = slurp(dir_a, FILES[k], &la), *b = slurp(dir_b, FILES[k], &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(a, b, la);
        free(a);
        free(b);
    }
    struct synth_params other = PRM;
    other.seed = 8;
    assert_int_equal(synth_write_csv(&other, dir_c, NULL, err, sizeof err), SG_OK);
    size_t la, lc;
    char *a = slurp(dir_a, FILES[1], &la), *c = slurp(dir_c, FILES[1], &lc);
    assert_true(la != lc || memcmp(a, c, la) != 0);
    free(a);
    free(c);
}

/* CMS 2026 Star Ratings Technical Notes, Attachment C (Tables C-1, C-2, MA-PD): BCS 74%,
 * COL 71%, CBP 79%, blood sugar controlled 84%, eye exam 77%, KED 61%, SUPD 88%, adherence
 * 87/89/89%. BPD has no CMS average; the generator documents 70% as an assumption. */
static const struct {
    const char *code;
    double rate;
} NATIONAL[] = {{"BCS", 0.74},    {"COL", 0.71},      {"CBP", 0.79},    {"GSD", 0.84},
                {"EED", 0.77},    {"KED", 0.61},      {"BPD", 0.70},    {"SUPD", 0.88},
                {"PDC-DR", 0.87}, {"PDC-RASA", 0.89}, {"PDC-STA", 0.89}};

struct memrow {
    int birth_year, female, dual, lis, disability;
};

static void test_calibration_and_rules(void **state)
{
    (void)state;
    size_t len;
    /* members */
    char *ms = slurp(dir_a, FILES[0], &len);
    struct memrow *mem = calloc(PRM.members + 1, sizeof *mem);
    char *save = NULL, *line = strtok_r(ms, "\n", &save);
    assert_string_equal(line, "member_id,contract_id,birth_date,sex,dual,lis,disability,"
                              "enrollment_start,enrollment_end");
    size_t n = 0, dual = 0, under65 = 0, disab = 0;
    while ((line = strtok_r(NULL, "\n", &save))) {
        unsigned id, con;
        int by, bm, bd;
        char sex;
        int d, l, ds;
        assert_int_equal(sscanf(line, "M%u,H%u,%d-%d-%d,%c,%d,%d,%d,", &id, &con, &by, &bm, &bd,
                                &sex, &d, &l, &ds),
                         9);
        assert_true(id >= 1 && id <= PRM.members);
        assert_true(con >= 1000 && con < 1000 + PRM.contracts);
        assert_true(sex == 'F' || sex == 'M');
        assert_true(!d || l); /* full duals receive the LIS */
        /* enrollment_end, when present, is never before enrollment_start */
        int sy, smo, sdd, ey, emo, edd;
        const char *en = strrchr(line, ',');
        const char *st = en - 10;
        assert_int_equal(sscanf(st, "%d-%d-%d", &sy, &smo, &sdd), 3);
        if (en[1]) {
            assert_int_equal(sscanf(en + 1, "%d-%d-%d", &ey, &emo, &edd), 3);
            assert_true(ey * 10000 + emo * 100 + edd >= sy * 10000 + smo * 100 + sdd);
        }
        mem[id] = (struct memrow){by, sex == 'F', d, l, ds};
        n++;
        dual += (size_t)d;
        disab += (size_t)ds;
        if (2025 - by < 65) {
            under65++;
            assert_int_equal(ds, 1); /* under 65 in Medicare means disability entitlement */
        }
    }
    assert_int_equal(n, PRM.members);
    /* MA structure: duals roughly one in five, about one in eight under 65 */
    double nd = (double)n;
    assert_true((double)dual / nd > 0.15 && (double)dual / nd < 0.30);
    assert_true((double)under65 / nd > 0.08 && (double)under65 / nd < 0.16);
    assert_true(disab >= under65);
    free(ms);

    /* measure results: rules and last-year rates */
    char *rs = slurp(dir_a, FILES[1], &len);
    size_t den[11] = {0}, num[11] = {0};
    save = NULL;
    line = strtok_r(rs, "\n", &save);
    assert_string_equal(line, "member_id,measure,year,initial_population,denominator,"
                              "denominator_exclusion,numerator,numerator_date");
    while ((line = strtok_r(NULL, "\n", &save))) {
        unsigned id;
        char code[16];
        int year, ip, dn, ex, nu;
        assert_int_equal(
            sscanf(line, "M%u,%15[^,],%d,%d,%d,%d,%d", &id, code, &year, &ip, &dn, &ex, &nu), 7);
        assert_true(ip == 1 && dn == 1 && (ex == 0 || ex == 1) && (nu == 0 || nu == 1));
        assert_true(!(ex && nu));
        const struct memrow *m = &mem[id];
        int age = year - m->birth_year;
        int k = -1;
        for (int q = 0; q < 11; q++)
            if (!strcmp(NATIONAL[q].code, code)) k = q;
        assert_true(k >= 0);
        if (!strcmp(code, "BCS")) assert_true(m->female && age >= 52 && age <= 74);
        if (!strcmp(code, "COL")) assert_true(age >= 50 && age <= 75);
        if (!strcmp(code, "CBP") || !strcmp(code, "KED")) assert_true(age >= 18 && age <= 85);
        if (!strcmp(code, "GSD") || !strcmp(code, "EED") || !strcmp(code, "BPD"))
            assert_true(age >= 18 && age <= 75);
        if (!strcmp(code, "SUPD")) assert_true(age >= 40 && age <= 75);
        if (year == 2025 && !ex) {
            den[k]++;
            num[k] += (size_t)nu;
        }
    }
    free(rs);
    for (int k = 0; k < 11; k++) {
        double t = NATIONAL[k].rate, r = (double)num[k] / (double)den[k];
        double tol = 4.0 * sqrt(t * (1 - t) / (double)den[k]) + 0.002;
        assert_true(den[k] > 2000);
        if (fabs(r - t) > tol)
            fail_msg("%s: rate %.4f, national %.2f, n %zu", NATIONAL[k].code, r, t, den[k]);
    }

    /* true probabilities: one per last-year denominator row, mean equal to the target */
    char *ts = slurp(dir_a, FILES[3], &len);
    double ps[11] = {0};
    size_t pc[11] = {0};
    save = NULL;
    line = strtok_r(ts, "\n", &save);
    assert_string_equal(line, "member_id,measure,year,p_compliance,p_open_at_year_end");
    while ((line = strtok_r(NULL, "\n", &save))) {
        unsigned id;
        char code[16];
        int year;
        double p;
        assert_int_equal(sscanf(line, "M%u,%15[^,],%d,%lf", &id, code, &year, &p), 4);
        assert_int_equal(year, 2025);
        assert_true(p >= 0.0 && p <= 1.0);
        for (int q = 0; q < 11; q++)
            if (!strcmp(NATIONAL[q].code, code)) {
                ps[q] += p;
                pc[q]++;
            }
    }
    free(ts);
    for (int k = 0; k < 11; k++) {
        assert_int_equal(pc[k], den[k]);
        if (fabs(ps[k] / (double)pc[k] - NATIONAL[k].rate) > 1e-6)
            fail_msg("%s: mean true probability %.6f", NATIONAL[k].code, ps[k] / (double)pc[k]);
    }
    free(mem);
}

static void test_errors(void **state)
{
    (void)state;
    char err[256];
    struct synth_params p = PRM;
    p.year_last = 2020;
    assert_int_equal(synth_write_csv(&p, dir_c, NULL, err, sizeof err), SG_EINVAL);
    assert_non_null(strstr(err, "--years"));
    p = PRM;
    p.contracts = 0;
    assert_int_equal(synth_write_csv(&p, dir_c, NULL, err, sizeof err), SG_EINVAL);
    assert_non_null(strstr(err, "--contracts"));
    p = PRM;
    p.members = 100;
    assert_int_equal(synth_write_csv(&p, "/nonexistent/dir", NULL, err, sizeof err), SG_EIO);
    assert_non_null(strstr(err, "/nonexistent/dir"));
    assert_int_equal(access("/nonexistent/dir/members.csv", F_OK), -1);
}

/* The command: writes the four files, refuses --format fhir without value sets and bad
 * arguments. */
static void test_cli(void **state)
{
    (void)state;
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s generate --members 2000 --contracts 3 --years 2024-2025 "
             "--seed 5 --out %s >/dev/null 2>&1",
             STARGAP_BINARY, dir_c);
    int rc = system(cmd);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
    for (int k = 0; k < 4; k++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", dir_c, FILES[k]);
        assert_int_equal(access(p, R_OK), 0);
    }
    snprintf(cmd, sizeof cmd,
             "STARGAP_VALUESETS_DIR=none %s generate --members 20 --contracts 3 --years 2024-2025 "
             "--seed 5 --out %s/fhir --format fhir >/dev/null 2>&1",
             STARGAP_BINARY, dir_c);
    rc = system(cmd); /* value sets switched off: a usage error (test_synth_fhir tests the output) */
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
    snprintf(cmd, sizeof cmd,
             "STARGAP_VALUESETS_DIR= %s generate --members 20 --contracts 3 --years 2024-2025 "
             "--seed 5 --out %s/fhir --format fhir >/dev/null 2>&1",
             STARGAP_BINARY, dir_c);
    rc = system(cmd); /* no setting: the shipped value sets (data/valuesets) */
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
    snprintf(cmd, sizeof cmd, "%s/fhir/Patient.ndjson", dir_c);
    assert_int_equal(access(cmd, R_OK), 0);
    snprintf(cmd, sizeof cmd,
             "%s generate --members 20 --contracts 3 --years 2024 "
             "--out %s >/dev/null 2>&1",
             STARGAP_BINARY, dir_c);
    rc = system(cmd);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_calibration_and_rules),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
