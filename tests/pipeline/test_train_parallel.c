/* test_train_parallel.c: pl_train_workers trains the measures on several threads; the stored
 * models must not depend on how many. A small generated portfolio (2,000 members, 2022-2024,
 * through the real binary) is imported, then all 11 measures are trained for 2023 once with one
 * worker and once with two (and once with more workers than measures). Each training run stores a
 * new version of every model; the model texts (learner, coefficients or trees, calibration,
 * metrics, data fingerprint) of the runs must be byte-identical, the versions must go 1, 2, 3 in
 * measure order, and the per-measure results must agree. Then pl_predict scores COL's open gaps
 * of 2024 (with SHAP, on two threads, each taking half of the rows); every stored prediction,
 * from both halves, must match the one-member path pl_score_member (probability within 1e-12,
 * same tier) and its SHAP values must add up with the base value to its log-odds margin. */
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
#include <math.h>
#include <sqlite3.h>

#include "db/store.h"
#include "model/features.h"
#include "pipeline/pipeline.h"

#define BIN STARGAP_BINARY
#define ENV "STARGAP_HASH_KEY=train-parallel-test-key-0123 STARGAP_LOG_LEVEL=warn "

static void test_workers_same_models(void **state)
{
    (void)state;
    char dir[] = "/tmp/sg_train_par_XXXXXX", url[512], err[SG_ERRLEN];
    assert_non_null(mkdtemp(dir));
    assert_int_equal(sh(ENV "%s generate --members 2000 --contracts 3 --years 2022-2024 --seed 7 "
                            "--out %s/in > /dev/null",
                        BIN, dir),
                     0);
    assert_int_equal(sh(ENV "%s --db sqlite:%s/t.db import --quiet %s/in > /dev/null", BIN, dir,
                        dir),
                     0);
    snprintf(url, sizeof url, "sqlite:%s/t.db", dir);
    struct store *st;
    assert_int_equal(store_open(url, NULL, &st, err, sizeof err), SG_OK);
    const struct store_actor a = {"test", ""};
    static const int workers[3] = {1, 2, 16};
    struct pl_train_result res[3][FEATURES_N_MEASURES];
    size_t n[3];
    for (int r = 0; r < 3; r++) {
        int rc = pl_train_workers(st, &a, 2023, PL_AS_OF_START, NULL, NULL, workers[r], res[r],
                                  &n[r], err, sizeof err);
        if (rc) fail_msg("workers %d: %s", workers[r], err);
        assert_int_equal(n[r], FEATURES_N_MEASURES);
    }
    int trained = 0;
    for (size_t q = 0; q < FEATURES_N_MEASURES; q++) {
        const char *code = features_measures[q];
        for (int r = 0; r < 3; r++) {
            assert_string_equal(res[r][q].measure, code);
            assert_int_equal(res[r][q].skipped, res[0][q].skipped);
        }
        if (res[0][q].skipped) continue;
        trained++;
        struct store_model_list l;
        assert_int_equal(store_model_list(st, code, &l, err, sizeof err), SG_OK);
        assert_int_equal(l.n, 3);
        struct store_model m[3];
        for (int r = 0; r < 3; r++) {
            assert_int_equal(res[r][q].version, r + 1);
            assert_int_equal(store_model_get(st, res[r][q].model_id, &m[r], err, sizeof err),
                             SG_OK);
            assert_int_equal(m[r].version, r + 1);
            assert_string_equal(res[r][q].fingerprint, res[0][q].fingerprint);
            assert_string_equal(res[r][q].learner, res[0][q].learner);
            assert_true(res[r][q].test.auc == res[0][q].test.auc);
            assert_int_equal(res[r][q].rows, res[0][q].rows);
        }
        assert_string_equal(m[1].model_text, m[0].model_text);
        assert_string_equal(m[2].model_text, m[0].model_text);
        assert_string_equal(m[1].metrics, m[0].metrics);
        for (int r = 0; r < 3; r++)
            store_model_fini(&m[r]);
        store_model_list_free(&l);
    }
    assert_true(trained >= 8); /* 2,000 members give most measures enough rows */
    /* predictions of both scoring threads against the one-member path */
    struct pl_tiers tiers = {0.7, 0.4};
    struct pl_score_result sr[FEATURES_N_MEASURES];
    size_t nsr = 0;
    int prc = pl_predict(st, &a, 2024, "COL", &tiers, sr, &nsr, err, sizeof err);
    if (prc) fail_msg("predict: %s", err);
    assert_int_equal(nsr, 1);
    assert_true(sr[0].open_gaps >= 256); /* enough rows to be split over the two threads */
    struct pl_model pm;
    assert_int_equal(pl_model_load_latest(st, "COL", &pm, err, sizeof err), SG_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/t.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT member_hash, gap_probability, risk_tier, risk_score, "
                                        "shap_values FROM predictions WHERE measure_code = 'COL' "
                                        "AND measurement_year = 2024 ORDER BY member_hash",
                                        -1, &q, NULL),
                     SQLITE_OK);
    size_t rows = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(q, 0);
        struct pl_member_score sc;
        int rc = pl_score_member(st, &pm, h, "COL", 2024, &tiers, 0, &sc, err, sizeof err);
        if (rc) fail_msg("pl_score_member: %s", err);
        assert_true(fabs(sc.pred.gap_probability - sqlite3_column_double(q, 1)) <= 1e-12);
        assert_string_equal(store_risk_tier_name((int)sc.pred.risk_tier),
                            (const char *)sqlite3_column_text(q, 2));
        store_prediction_fini(&sc.pred);
        json_t *j = json_loads((const char *)sqlite3_column_text(q, 4), 0, NULL);
        assert_non_null(j);
        double total = json_number_value(json_object_get(j, "base_value"));
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(j, "values"), k, v) total += json_number_value(v);
        json_decref(j);
        assert_true(fabs(total - sqlite3_column_double(q, 3)) <= 1e-9);
        rows++;
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    pl_model_fini(&pm);
    assert_int_equal(rows, sr[0].open_gaps);
    /* a bad worker count is an argument error */
    assert_int_equal(pl_train_workers(st, &a, 2023, PL_AS_OF_START, NULL, NULL, 0, res[0], &n[0],
                                      err, sizeof err),
                     SG_EINVAL);
    assert_non_null(strstr(err, "workers"));
    store_close(st);
    assert_int_equal(sh("rm -rf %s", dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workers_same_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
