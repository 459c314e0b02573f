/* test_pipeline_e2e.c: the issue-6 flow end to end on a small generated portfolio, through the
 * real binary: `stargap generate` (2022-2025), `import`, `train --year 2024`, `predict --year
 * 2025`, `train --year 2025`. Checks real properties rather than copied numbers:
 *   - predictions: one per open gap of 2025 (denominator, not excluded, numerator 0), counted
 *     from the generated measure_results.csv; every SHAP vector sums with its base value to the
 *     log-odds of the stored gap probability; top_features are the 5 largest |SHAP| values;
 *     the risk tier follows the 0.7 / 0.4 thresholds;
 *   - quality: for each measure the held-out AUC of the 2025 model captures at least half of the
 *     discrimination the generator's true probabilities achieve on 2025 (AUC - 0.5 >=
 *     (Bayes AUC - 0.5) / 2), and all measures together at least 80% of it;
 *   - predicting the same year with the same model again is refused (UNIQUE per model version);
 *   - the one-member path of the endpoints (pl_score_member) gives the same probabilities as the
 *     command's bulk path for 90 stored predictions. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pipeline/pl_test_util.h"

#include <jansson.h>
#include <sqlite3.h>

#include "model/features.h"
#include "model/metrics.h"
#include "pipeline/pipeline.h"

static char g_dir[256];

#define BIN STARGAP_BINARY
#define ENV "STARGAP_HASH_KEY=e2e-test-key-0123456789 STARGAP_LOG_LEVEL=warn "

/* Reads the generator's CSVs back: 2025 statuses by (member id, measure) and true p. */
struct truth {
    int n;
    char id[20000][32];
    double p[20000];
    int k[20000];
};

static int measure_k(const char *code)
{
    return features_measure_index(code);
}

static long count_predictions(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/e2e.db", g_dir);
    sqlite3 *db;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM predictions", -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    long n = (long)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

/* The endpoints score one member through pl_score_member (per-member store reads); the command
 * scores all open gaps from bulk scans. Both must give the same numbers: re-score 30 stored
 * predictions of each of three measures one member at a time and compare. */
static void same_as_single_member_path(void)
{
    char url[600], err[SG_ERRLEN], path[512];
    snprintf(url, sizeof url, "sqlite:%s/e2e.db", g_dir);
    snprintf(path, sizeof path, "%s/e2e.db", g_dir);
    struct store *st;
    assert_int_equal(store_open(url, NULL, &st, err, sizeof err), SG_OK);
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    static const char *const codes[] = {"COL", "CBP", "PDC-STA"};
    struct pl_tiers t = {0.7, 0.4};
    int compared = 0;
    for (int q = 0; q < 3; q++) {
        struct pl_model pm;
        assert_int_equal(pl_model_load_latest(st, codes[q], &pm, err, sizeof err), SG_OK);
        sqlite3_stmt *s;
        assert_int_equal(
            sqlite3_prepare_v2(db,
                               "SELECT member_hash, gap_probability, model_version FROM "
                               "predictions WHERE measure_code = ?1 AND "
                               "measurement_year = 2025 ORDER BY member_hash LIMIT 30",
                               -1, &s, NULL),
            SQLITE_OK);
        sqlite3_bind_text(s, 1, codes[q], -1, SQLITE_STATIC);
        while (sqlite3_step(s) == SQLITE_ROW) {
            struct pl_member_score sc;
            const char *h = (const char *)sqlite3_column_text(s, 0);
            int rc = pl_score_member(st, &pm, h, codes[q], 2025, &t, 0, &sc, err, sizeof err);
            if (rc) fprintf(stderr, "pl_score_member: %s\n", err);
            assert_int_equal(rc, SG_OK);
            assert_string_equal(sc.pred.model_version, (const char *)sqlite3_column_text(s, 2));
            double want = sqlite3_column_double(s, 1);
            if (fabs(sc.pred.gap_probability - want) > 1e-12)
                fprintf(stderr, "%s: single %.15g, batch %.15g\n", codes[q],
                        sc.pred.gap_probability, want);
            assert_true(fabs(sc.pred.gap_probability - want) <= 1e-12);
            store_prediction_fini(&sc.pred);
            compared++;
        }
        sqlite3_finalize(s);
        pl_model_fini(&pm);
    }
    assert_int_equal(compared, 90);
    sqlite3_close(db);
    store_close(st);
}

static void test_e2e(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/sg_e2e_%d", (int)getpid());
    assert_int_equal(sh("rm -rf %s && mkdir -p %s", g_dir, g_dir), 0);
    /* 2025 complete (as of 12-31) and unconditional models ("start"): this test measures the
     * models against the generator's year-end probabilities; test_asof_e2e.c covers the
     * in-progress year */
    assert_int_equal(sh(ENV "%s generate --members 4000 --contracts 6 --years 2022-2025 --seed 11 "
                            "--as-of 12-31 --out %s > %s/gen.txt",
                        BIN, g_dir, g_dir),
                     0);
    assert_int_equal(sh(ENV "%s --db sqlite:%s/e2e.db import --quiet %s > %s/import.txt", BIN,
                        g_dir, g_dir, g_dir),
                     0);
    assert_int_equal(
        sh(ENV "%s --db sqlite:%s/e2e.db train --year 2024 --as-of start > %s/train24.txt", BIN,
           g_dir, g_dir),
        0);
    assert_int_equal(
        sh(ENV "%s --db sqlite:%s/e2e.db predict --year 2025 > %s/predict.txt", BIN, g_dir, g_dir),
        0);
    /* the same model cannot score the same year twice */
    assert_int_not_equal(
        sh(ENV "%s --db sqlite:%s/e2e.db predict --year 2025 --measure BCS > /dev/null 2>&1", BIN,
           g_dir),
        0);
    /* every measure again: the first measure's write is refused (while the next measure is
     * scored beside it), nothing at all is written and the error names the first measure */
    long before = count_predictions();
    assert_int_not_equal(sh(ENV "%s --db sqlite:%s/e2e.db predict --year 2025 > /dev/null"
                                " 2> %s/predict_again.txt",
                            BIN, g_dir, g_dir),
                         0);
    assert_int_equal(count_predictions(), before);
    {
        char path[512], text[4096] = "", want[64];
        snprintf(path, sizeof path, "%s/predict_again.txt", g_dir);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        size_t got = fread(text, 1, sizeof text - 1, f);
        text[got] = '\0';
        fclose(f);
        snprintf(want, sizeof want, "%s: model %s-v1 already scored 2025", features_measures[0],
                 features_measures[0]);
        if (!strstr(text, want)) fail_msg("expected '%s' in: %s", want, text);
    }
    same_as_single_member_path();
    assert_int_equal(
        sh(ENV "%s --db sqlite:%s/e2e.db train --year 2025 > %s/train25.txt", BIN, g_dir, g_dir),
        0);

    /* open gaps of 2025 per measure, and 2025 labels, from the generated file */
    char path[512], line[256];
    long open[FEATURES_N_MEASURES] = {0};
    snprintf(path, sizeof path, "%s/measure_results.csv", g_dir);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(line, sizeof line, fp));
    static struct truth lab; /* label (gap open) for 2025 denominator rows */
    lab.n = 0;
    while (fgets(line, sizeof line, fp)) {
        char id[32], code[16];
        int y, ip, den, ex, num;
        assert_int_equal(
            sscanf(line, "%31[^,],%15[^,],%d,%d,%d,%d,%d", id, code, &y, &ip, &den, &ex, &num), 7);
        if (y != 2025 || !den || ex) continue;
        int k = measure_k(code);
        assert_true(k >= 0);
        if (!num) open[k]++;
        assert_true(lab.n < 20000);
        snprintf(lab.id[lab.n], sizeof lab.id[0], "%s", id);
        lab.k[lab.n] = k;
        lab.p[lab.n] = num ? 0.0 : 1.0;
        lab.n++;
    }
    fclose(fp);

    /* Bayes-optimal AUC per measure from true_probabilities.csv (p of compliance in 2025) */
    static struct truth tp;
    tp.n = 0;
    snprintf(path, sizeof path, "%s/true_probabilities.csv", g_dir);
    fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(line, sizeof line, fp));
    while (fgets(line, sizeof line, fp)) {
        char id[32], code[16];
        int y;
        double p;
        assert_int_equal(sscanf(line, "%31[^,],%15[^,],%d,%lf", id, code, &y, &p), 4);
        assert_true(tp.n < 20000);
        snprintf(tp.id[tp.n], sizeof tp.id[0], "%s", id);
        tp.k[tp.n] = measure_k(code);
        tp.p[tp.n] = p;
        tp.n++;
    }
    fclose(fp);
    assert_int_equal(tp.n, lab.n); /* one true probability per 2025 denominator row */

    double bayes[FEATURES_N_MEASURES];
    for (int k = 0; k < FEATURES_N_MEASURES; k++) {
        double *s = malloc((size_t)lab.n * sizeof *s);
        uint8_t *y = malloc((size_t)lab.n);
        size_t n = 0;
        for (int i = 0; i < lab.n; i++) {
            if (lab.k[i] != k) continue;
            /* both files list rows in the same (member, measure) order: find the match */
            int j = i < tp.n && tp.k[i] == k && !strcmp(tp.id[i], lab.id[i]) ? i : -1;
            for (int q = 0; j < 0 && q < tp.n; q++)
                if (tp.k[q] == k && !strcmp(tp.id[q], lab.id[i])) j = q;
            assert_true(j >= 0);
            s[n] = 1.0 - tp.p[j]; /* probability the gap stays open */
            y[n] = (uint8_t)lab.p[i];
            n++;
        }
        assert_int_equal(metric_auc(s, y, n, &bayes[k]), 0);
        free(s);
        free(y);
    }

    sqlite3 *db;
    snprintf(path, sizeof path, "%s/e2e.db", g_dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);

    /* model quality: the 2025 models (version 2) against Bayes */
    sqlite3_stmt *st;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT measure_code, metrics FROM models WHERE trained_year = 2025",
                           -1, &st, NULL),
        SQLITE_OK);
    double sum_gain = 0, sum_bayes_gain = 0;
    int nmodels = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *code = (const char *)sqlite3_column_text(st, 0);
        json_t *m = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
        assert_non_null(m);
        double auc = json_number_value(json_object_get(m, "auc"));
        int n_test = (int)json_integer_value(json_object_get(m, "n_test"));
        int k = measure_k(code);
        printf("%-9s n_test %4d  AUC %.4f  Bayes AUC %.4f\n", code, n_test, auc, bayes[k]);
        assert_true(auc - 0.5 >= 0.5 * (bayes[k] - 0.5));
        sum_gain += auc - 0.5;
        sum_bayes_gain += bayes[k] - 0.5;
        nmodels++;
        json_decref(m);
    }
    sqlite3_finalize(st);
    assert_int_equal(nmodels, FEATURES_N_MEASURES);
    assert_true(sum_gain >= 0.8 * sum_bayes_gain);

    /* predictions: count per measure = open gaps; SHAP additivity; top features; tiers */
    long got[FEATURES_N_MEASURES] = {0};
    assert_int_equal(
        sqlite3_prepare_v2(
            db,
            "SELECT measure_code, gap_probability, risk_tier, risk_score, shap_values, "
            "top_features, model_version, recommendation FROM predictions "
            "WHERE measurement_year = 2025",
            -1, &st, NULL),
        SQLITE_OK);
    long checked = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *code = (const char *)sqlite3_column_text(st, 0);
        int k = measure_k(code);
        assert_true(k >= 0);
        got[k]++;
        double p = sqlite3_column_double(st, 1);
        const char *tier = (const char *)sqlite3_column_text(st, 2);
        assert_string_equal(tier, p >= 0.7 ? "high" : p >= 0.4 ? "medium" : "low");
        char want_version[32];
        snprintf(want_version, sizeof want_version, "%s-v1", code); /* the 2024 model */
        assert_string_equal((const char *)sqlite3_column_text(st, 6), want_version);
        assert_true(strlen((const char *)sqlite3_column_text(st, 7)) > 0);
        json_t *shap = json_loads((const char *)sqlite3_column_text(st, 4), 0, NULL);
        json_t *top = json_loads((const char *)sqlite3_column_text(st, 5), 0, NULL);
        assert_non_null(shap);
        assert_non_null(top);
        double base = json_number_value(json_object_get(shap, "base_value"));
        json_t *vals = json_object_get(shap, "values");
        const char *name;
        json_t *v;
        double total = base;
        double mags[64];
        size_t nv = 0;
        json_object_foreach(vals, name, v)
        {
            total += json_number_value(v);
            if (nv < 64) mags[nv++] = fabs(json_number_value(v));
        }
        double logit = log(p / (1.0 - p));
        if (fabs(total - logit) > 1e-6 * (1 + fabs(logit)))
            fprintf(stderr, "SHAP sum %.12g, log-odds %.12g\n", total, logit);
        assert_true(fabs(total - logit) <= 1e-6 * (1 + fabs(logit)));
        assert_true(fabs(total - sqlite3_column_double(st, 3)) <= 1e-9 * (1 + fabs(total)));
        /* top features: 5 entries, each the SHAP value of its feature, |impact| descending and
         * no other feature larger in magnitude than the smallest of them */
        assert_int_equal(json_array_size(top), 5);
        double prev = INFINITY, smallest = INFINITY;
        for (size_t i = 0; i < json_array_size(top); i++) {
            json_t *t = json_array_get(top, i);
            double imp = json_number_value(json_object_get(t, "impact"));
            const char *fn = json_string_value(json_object_get(t, "name"));
            assert_true(fabs(imp - json_number_value(json_object_get(vals, fn))) < 1e-12);
            assert_true(fabs(imp) <= prev + 1e-15);
            prev = fabs(imp);
            smallest = fabs(imp);
        }
        size_t larger = 0;
        for (size_t i = 0; i < nv; i++)
            larger += mags[i] > smallest + 1e-15;
        assert_true(larger <= 4);
        json_decref(shap);
        json_decref(top);
        checked++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    for (int k = 0; k < FEATURES_N_MEASURES; k++) {
        if (got[k] != open[k])
            fprintf(stderr, "%s: %ld predictions, %ld open gaps\n", features_measures[k], got[k],
                    open[k]);
        assert_int_equal(got[k], open[k]);
    }
    printf("predictions checked: %ld\n", checked);
    assert_true(checked > 0);
    assert_int_equal(sh("rm -rf %s", g_dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_e2e)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
