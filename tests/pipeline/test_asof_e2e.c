/* test_asof_e2e.c: issue 7 end to end through the real binary. `stargap generate` writes
 * 2022-2025 with 2025 observed as of 09-30 (and, for the realized outcome, the same seed
 * complete); `stargap run --year 2025` imports, trains on the 2024 gaps open on 09-30 and
 * projects 2025.
 *
 * Checked against the generator's truth, per measure: the projection the pipeline makes
 * (compliant as of 09-30 + sum of (1 - p) over the scored open gaps, read from the database) is
 * within four standard deviations of the truth's expectation (compliant as of 09-30 + sum of
 * (1 - p_open_at_year_end)), where the variance adds the Poisson-binomial variance of the
 * closures, sum q (1 - q) over the truth's q, and that of the model's level learnt from n_level
 * labels of the prior year, n_open^2 * qbar (1 - qbar) / n_level (n_level = the training rows,
 * or the validation rows when Platt scaling set the level: 0.1 of the 0.8 not held out);
 * summed over all measures
 * within four pooled standard deviations. The truth itself agrees with the complete run's
 * year-end count within four Poisson-binomial standard deviations. (Before issue 7 the
 * projection added the closures to final counts and sat tens of standard deviations above.) The run
 * prints the as-of day it used, and the snapshot shows a spread of projected ratings (not every
 * contract at 5 stars) and a positive estimated value. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pipeline/pl_test_util.h"

#include <sqlite3.h>

#include "core/fileio.h"
#include "model/features.h"

#define NM FEATURES_N_MEASURES
#define BIN STARGAP_BINARY
#define ENV "STARGAP_HASH_KEY=asof-e2e-key-0123456789 STARGAP_LOG_LEVEL=warn "

static char g_dir[256];

/* Year-2025 numerators (denominator, not excluded) per measure from a measure_results.csv. */
static void count_met(const char *path, long *met, long *den)
{
    char *s = slurp(path), *save = NULL, *line = strtok_r(s, "\n", &save);
    while ((line = strtok_r(NULL, "\n", &save))) {
        char id[32], code[16];
        int y, ip, dn, ex, nu;
        assert_true(
            sscanf(line, "%31[^,],%15[^,],%d,%d,%d,%d,%d", id, code, &y, &ip, &dn, &ex, &nu) == 7);
        int k = features_measure_index(code);
        if (y != 2025 || !dn || ex || k < 0) continue;
        met[k] += nu;
        den[k]++;
    }
    free(s);
}

static void test_asof_projection(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/sg_asof_e2e_%d", (int)getpid());
    assert_int_equal(sh("rm -rf %s && mkdir -p %s", g_dir, g_dir), 0);
    const char *gen = ENV "%s generate --members 15000 --contracts 4 --years 2022-2025 --seed 5 "
                          "%s --out %s/%s > /dev/null";
    assert_int_equal(sh(gen, BIN, "", g_dir, "in"), 0);
    assert_int_equal(sh(gen, BIN, "--as-of 12-31", g_dir, "full"), 0);
    assert_int_equal(sh(ENV "%s --db sqlite:%s/db.sqlite run --quiet --input %s/in --year 2025 "
                            "--star-year 2026 > %s/run.txt 2>&1",
                        BIN, g_dir, g_dir, g_dir),
                     0);
    char path[512];
    snprintf(path, sizeof path, "%s/run.txt", g_dir);
    char *out = slurp(path);
    printf("%s", out);
    assert_non_null(strstr(out, "year 2025 observed as of 09-30 (the latest numerator_date"));
    free(out);

    /* the truth: as-of numerators, year-end numerators, E and Var of the closures */
    long met_asof[NM] = {0}, den[NM] = {0}, met_end[NM] = {0}, den_end[NM] = {0};
    snprintf(path, sizeof path, "%s/in/measure_results.csv", g_dir);
    count_met(path, met_asof, den);
    snprintf(path, sizeof path, "%s/full/measure_results.csv", g_dir);
    count_met(path, met_end, den_end);
    double e_close[NM] = {0}, v_close[NM] = {0};
    snprintf(path, sizeof path, "%s/in/true_probabilities.csv", g_dir);
    char *ts = slurp(path), *save = NULL, *line = strtok_r(ts, "\n", &save);
    while ((line = strtok_r(NULL, "\n", &save))) {
        char id[32], code[16];
        int y;
        double p, q;
        if (sscanf(line, "%31[^,],%15[^,],%d,%lf,%lf", id, code, &y, &p, &q) != 5) continue;
        int k = features_measure_index(code);
        assert_true(k >= 0);
        e_close[k] += 1.0 - q;
        v_close[k] += q * (1.0 - q);
    }
    free(ts);

    /* the pipeline's projection from the database */
    sqlite3 *db;
    snprintf(path, sizeof path, "%s/db.sqlite", g_dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s;
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           "SELECT r.measure_code, sum(r.numerator), count(*), "
                           "(SELECT coalesce(sum(1 - p.gap_probability), 0) FROM predictions p "
                           " WHERE p.measure_code = r.measure_code AND p.measurement_year = 2025), "
                           "(SELECT json_extract(metrics, '$.n_rows') FROM models m "
                           " WHERE m.measure_code = r.measure_code ORDER BY version DESC LIMIT 1), "
                           "(SELECT json_extract(hyperparams, '$.calibrated') FROM models m "
                           " WHERE m.measure_code = r.measure_code ORDER BY version DESC LIMIT 1) "
                           "FROM measure_results r WHERE r.measurement_year = 2025 AND "
                           "r.denominator = 1 AND r.denominator_exclusion = 0 "
                           "GROUP BY r.measure_code",
                           -1, &s, NULL),
        SQLITE_OK);
    int seen = 0;
    double d_all = 0, v_all = 0, allow_all = 0; /* allow_all: the models' variance */
    while (sqlite3_step(s) == SQLITE_ROW) {
        int k = features_measure_index((const char *)sqlite3_column_text(s, 0));
        assert_true(k >= 0);
        long met = sqlite3_column_int64(s, 1), n = sqlite3_column_int64(s, 2);
        double closures = sqlite3_column_double(s, 3);
        double n_train = sqlite3_column_double(s, 4);
        int calibrated = sqlite3_column_int(s, 5);
        assert_true(n_train > 0);
        /* model_train: 20% test, 10% of the rest validation (default parameters) */
        double n_level = calibrated ? floor((n_train - floor(n_train * 0.2)) * 0.1) : n_train;
        assert_int_equal(met, met_asof[k]);
        assert_int_equal(n, den[k]);
        double proj = (double)met + closures, truth = (double)met_asof[k] + e_close[k];
        double sd = sqrt(v_close[k]), n_open = (double)(n - met);
        double qbar = 1.0 - e_close[k] / n_open;
        double sd_all = sqrt(v_close[k] + n_open * n_open * qbar * (1 - qbar) / n_level);
        printf("%-9s n %6ld  as-of %6ld  projected %8.1f  truth %8.1f  year-end %6ld  "
               "(proj-truth)/sd %+.2f%s  (year-end-truth)/sd_pb %+.2f\n",
               features_measures[k], n, met, proj, truth, met_end[k], (proj - truth) / sd_all,
               calibrated ? " (Platt)" : "", ((double)met_end[k] - truth) / sd);
        if (fabs(proj - truth) > 4.0 * sd_all)
            fail_msg("%s: projection %.1f vs truth %.1f: more than 4 sd (%.1f)",
                     features_measures[k], proj, truth, sd_all);
        if (fabs((double)met_end[k] - truth) > 4.0 * sd)
            fail_msg("%s: year-end %ld vs truth %.1f: more than 4 sd (%.1f)", features_measures[k],
                     met_end[k], truth, sd);
        d_all += proj - truth;
        v_all += v_close[k];
        allow_all += n_open * n_open * qbar * (1 - qbar) / n_level;
        seen++;
    }
    sqlite3_finalize(s);
    assert_int_equal(seen, NM);
    double sd_pool = sqrt(v_all + allow_all);
    printf("all measures: projection - truth %+.1f, pooled sd %.1f (z %+.2f)\n", d_all, sd_pool,
           d_all / sd_pool);
    assert_true(fabs(d_all) <= 4.0 * sd_pool);

    /* the snapshot: projected ratings spread, value positive */
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT contract_id, star_rating_projected, "
                                        "estimated_value FROM portfolio_snapshots "
                                        "WHERE measurement_year = 2025",
                                        -1, &s, NULL),
                     SQLITE_OK);
    int rows = 0, five = 0;
    double value_all = -1;
    while (sqlite3_step(s) == SQLITE_ROW) {
        rows++;
        five += sqlite3_column_double(s, 1) >= 5.0;
        if (sqlite3_column_type(s, 0) == SQLITE_NULL) value_all = sqlite3_column_double(s, 2);
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    assert_int_equal(rows, 5); /* 4 contracts and the overall row */
    assert_true(five < rows);
    assert_true(value_all > 0);
    assert_int_equal(sh("rm -rf %s", g_dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_asof_projection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
