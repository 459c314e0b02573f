/* test_synth_asof.c: the generator's in-progress last year (issue 7).
 *
 * The same seed is generated twice: as of the default day (09-30) and complete (as of 12-31).
 * Checks: the years before the last are identical in both; every met row carries a date in its
 * year and no open or excluded row does; in the last year no date after the as-of day is shown,
 * a member shown as met has the same date in the complete run, and the members shown open are
 * exactly those open at year end plus those met after the day. The truth file's
 * p_open_at_year_end is given exactly for the rows open on the as-of day, and it is the
 * conditional probability: summed per measure it matches the number of those gaps the complete
 * run shows still open within four Poisson-binomial standard deviations, while the
 * unconditional 1 - p_compliance falls short of it by more than that; and the mean of the last
 * year's p_open matches the share of the PRIOR year's gaps open on 09-30 that stayed open (that
 * year's dates are complete), within four standard errors of the two. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/fileio.h"
#include "synth/synth.h"

#define NK SYNTH_N_MEASURES
static const struct synth_params PRM = {30000, 6, 2023, 2025, 21, 0, 0}; /* default as-of */

static char dir_a[64], dir_f[64];
static const char *const FILES[] = {"members.csv", "measure_results.csv", "member_features.csv",
                                    "true_probabilities.csv"};

static int setup(void **state)
{
    (void)state;
    strcpy(dir_a, "/tmp/sg_asof_a_XXXXXX");
    strcpy(dir_f, "/tmp/sg_asof_f_XXXXXX");
    return mkdtemp(dir_a) && mkdtemp(dir_f) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char p[256];
    for (int k = 0; k < 4; k++) {
        snprintf(p, sizeof p, "%s/%s", dir_a, FILES[k]);
        remove(p);
        snprintf(p, sizeof p, "%s/%s", dir_f, FILES[k]);
        remove(p);
    }
    rmdir(dir_a);
    rmdir(dir_f);
    return 0;
}

static char *slurp(const char *d, const char *name)
{
    char p[256], err[256], *s = NULL;
    size_t len;
    snprintf(p, sizeof p, "%s/%s", d, name);
    assert_int_equal(sg_read_file(p, (size_t)1 << 30, &s, &len, err, sizeof err), 0);
    return s;
}

static int measure_k(const char *code)
{
    size_t n;
    const struct synth_measure *ms = synth_measures(&n);
    for (size_t k = 0; k < n; k++)
        if (!strcmp(ms[k].code, code)) return (int)k;
    return -1;
}

/* last-year status per (member, measure): 0 none, 1 open, 2 met, 3 excluded; date "MM-DD" */
struct last {
    unsigned char st;
    char md[6];
};

/* Reads measure_results.csv: checks the date rules of every row, fills last[] for 2025, returns
 * the lines of the other years concatenated (for comparison), and the prior year's (2024)
 * counts of gaps open on 09-30 (open[k]) and of those still open at year end (still[k]). */
static char *read_results(const char *dir, struct last *last, const char *as_of_max, size_t *open24,
                          size_t *still24)
{
    char *s = slurp(dir, FILES[1]), *save = NULL;
    char *other = calloc(strlen(s) + 1, 1);
    size_t olen = 0;
    char *line = strtok_r(s, "\n", &save);
    assert_string_equal(line, "member_id,measure,year,initial_population,denominator,"
                              "denominator_exclusion,numerator,numerator_date");
    while ((line = strtok_r(NULL, "\n", &save))) {
        unsigned id;
        char code[16], date[16] = "";
        int y, ip, dn, ex, nu;
        int nf = sscanf(line, "M%u,%15[^,],%d,%d,%d,%d,%d,%15s", &id, code, &y, &ip, &dn, &ex, &nu,
                        date);
        assert_true(nf == 7 || nf == 8);
        int k = measure_k(code);
        assert_true(k >= 0 && id >= 1 && id <= PRM.members);
        if (nu) { /* a met row has a date in its year */
            assert_int_equal(nf, 8);
            assert_int_equal(strlen(date), 10);
            assert_int_equal(atoi(date), y);
        } else {
            assert_int_equal(nf, 7);
        }
        if (y == 2025) {
            struct last *l = &last[(size_t)id * NK + (size_t)k];
            l->st = (unsigned char)(ex ? 3 : nu ? 2 : 1);
            if (nu) {
                memcpy(l->md, date + 5, 5); /* "MM-DD" (length checked above) */
                l->md[5] = '\0';
                if (as_of_max) assert_true(strcmp(date, as_of_max) <= 0);
            }
        } else {
            size_t n = strlen(line);
            memcpy(other + olen, line, n);
            other[olen + n] = '\n';
            olen += n + 1;
            if (y == 2024 && !ex && open24 && (!nu || strcmp(date + 5, "09-30") > 0)) {
                open24[k]++;
                still24[k] += !nu;
            }
        }
    }
    free(s);
    return other;
}

static void test_as_of(void **state)
{
    (void)state;
    char err[256];
    struct synth_summary sa, sf;
    struct synth_params full = PRM;
    full.as_of_month = 12;
    full.as_of_day = 31;
    assert_int_equal(synth_write_csv(&PRM, dir_a, &sa, err, sizeof err), SG_OK);
    assert_int_equal(synth_write_csv(&full, dir_f, &sf, err, sizeof err), SG_OK);
    assert_int_equal(sa.as_of_month, 9);
    assert_int_equal(sa.as_of_day, 30);

    size_t nl = (PRM.members + 1) * NK;
    struct last *la = calloc(nl, sizeof *la), *lf = calloc(nl, sizeof *lf);
    size_t open24[NK] = {0}, still24[NK] = {0};
    char *oa = read_results(dir_a, la, "2025-09-30", open24, still24);
    char *of = read_results(dir_f, lf, NULL, NULL, NULL);
    assert_string_equal(oa, of); /* 2023 and 2024 identical */
    free(oa);
    free(of);

    size_t shown[NK] = {0}, late[NK] = {0};
    for (size_t i = 0; i < nl; i++) {
        assert_int_equal(la[i].st == 0, lf[i].st == 0);
        assert_int_equal(la[i].st == 3, lf[i].st == 3);
        if (la[i].st == 2) { /* shown met: met with the same date in the complete year */
            assert_int_equal(lf[i].st, 2);
            assert_string_equal(la[i].md, lf[i].md);
            shown[i % NK]++;
        }
        if (lf[i].st == 2 && strcmp(lf[i].md, "09-30") <= 0) assert_int_equal(la[i].st, 2);
        if (lf[i].st == 2 && strcmp(lf[i].md, "09-30") > 0) {
            assert_int_equal(la[i].st, 1);
            late[i % NK]++;
        }
    }
    for (int k = 0; k < NK; k++) {
        assert_int_equal(shown[k], sa.numerator_as_of[k]);
        assert_int_equal(sa.numerator[k], sf.numerator[k]); /* same year-end outcome */
        assert_int_equal(shown[k] + late[k], sf.numerator[k]);
        assert_true(late[k] > 0);
    }

    /* the truth file */
    char *ts = slurp(dir_a, FILES[3]), *save = NULL;
    char *line = strtok_r(ts, "\n", &save);
    assert_string_equal(line, "member_id,measure,year,p_compliance,p_open_at_year_end");
    double sum_c[NK] = {0}, sum_u[NK] = {0}, var_c[NK] = {0}, var_u[NK] = {0};
    size_t rows[NK] = {0}, still[NK] = {0};
    while ((line = strtok_r(NULL, "\n", &save))) {
        unsigned id;
        char code[16];
        int y;
        double p, q = -1;
        int nf = sscanf(line, "M%u,%15[^,],%d,%lf,%lf", &id, code, &y, &p, &q);
        int k = measure_k(code);
        assert_true(k >= 0 && y == 2025);
        const struct last *a = &la[(size_t)id * NK + (size_t)k];
        const struct last *f = &lf[(size_t)id * NK + (size_t)k];
        if (a->st == 2) { /* met on the as-of day: no conditional probability */
            assert_int_equal(nf, 4);
            continue;
        }
        assert_int_equal(a->st, 1);
        assert_int_equal(nf, 5);
        assert_true(q >= 1.0 - p - 1e-8 && q <= 1.0); /* conditioning raises P(open) */
        rows[k]++;
        still[k] += f->st == 1;
        sum_c[k] += q;
        var_c[k] += q * (1 - q);
        sum_u[k] += 1 - p;
        var_u[k] += p * (1 - p);
    }
    free(ts);
    size_t nm;
    const struct synth_measure *ms = synth_measures(&nm);
    for (int k = 0; k < NK; k++) {
        assert_int_equal(rows[k], sa.denominator[k] - sa.numerator_as_of[k]);
        assert_true(fabs(sum_c[k] - sa.expected_open[k]) < 1e-6 * (double)rows[k] + 1e-6);
        double z = ((double)still[k] - sum_c[k]) / sqrt(var_c[k]);
        double zu = ((double)still[k] - sum_u[k]) / sqrt(var_u[k]);
        printf("%-9s open on 09-30 %6zu  still open %6zu  E[cond] %8.1f (z %+.2f)  "
               "E[uncond] %8.1f (z %+.2f)\n",
               ms[k].code, rows[k], still[k], sum_c[k], z, sum_u[k], zu);
        if (fabs(z) > 4.0) fail_msg("%s: conditional truth off by z = %.2f", ms[k].code, z);
        if (zu < 4.0)
            fail_msg("%s: the unconditional 1 - p is not rejected (z = %.2f)", ms[k].code, zu);
        /* the prior year: share of its 09-30 open gaps that stayed open */
        double sh = (double)still24[k] / (double)open24[k], m = sum_c[k] / (double)rows[k];
        double se = sqrt(sh * (1 - sh) / (double)open24[k] +
                         var_c[k] / ((double)rows[k] * (double)rows[k]));
        printf("          2024: open on 09-30 %6zu, stayed open %.4f; 2025 mean p_open %.4f "
               "(z %+.2f)\n",
               open24[k], sh, m, (m - sh) / se);
        if (fabs(m - sh) > 4.0 * se)
            fail_msg("%s: 2025 mean p_open %.4f vs 2024 share %.4f", ms[k].code, m, sh);
    }
    free(la);
    free(lf);
}

static void test_bad_as_of(void **state)
{
    (void)state;
    char err[256];
    struct synth_params p = PRM;
    p.as_of_month = 2;
    p.as_of_day = 29; /* 2025 is not a leap year */
    assert_int_equal(synth_write_csv(&p, dir_a, NULL, err, sizeof err), SG_EINVAL);
    assert_non_null(strstr(err, "--as-of"));
    p.as_of_month = 13;
    p.as_of_day = 1;
    assert_int_equal(synth_params_check(&p, err, sizeof err), SG_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_as_of),
        cmocka_unit_test(test_bad_as_of),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
