/* test_asof_label.c: the conditional training label of issue 7 (src/pipeline/dataset.c) on
 * hand-built data.
 *
 * pl_as_of_label on single rows (cases worked out by hand from the rule: open at year end = 1;
 * met after the as-of day = 0; met on/before it or on an unknown day = not a row; "start" keeps
 * every row), then pl_train_as_of on a small store whose 2024 BCS rows are: 120 open at year end
 * (dual), 60 met after 09-30 (not dual), 90 met on or before 09-30 (dual) and 30 met without a
 * date (dual). Dual separates the rows of the 09-30 model exactly (open = dual, closed later = not
 * dual), so a held-out AUC near 1 shows the labels and the row choice are right; at "start" the
 * 120 dual early closers (label 0) are rows too and the AUC drops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/log.h"
#include "db/migrate.h"
#include "db/store.h"
#include "pipeline/pipeline.h"

static const struct store_actor ACTOR = {"asof-test", ""};

static void test_label_rule(void **state)
{
    (void)state;
    assert_int_equal(pl_as_of_label(0, 0, 930), 1);      /* open at year end */
    assert_int_equal(pl_as_of_label(1, 1001, 930), 0);   /* open on 09-30, met 10-01 */
    assert_int_equal(pl_as_of_label(1, 930, 930), -1);   /* met on the day itself */
    assert_int_equal(pl_as_of_label(1, 115, 930), -1);   /* met in January */
    assert_int_equal(pl_as_of_label(1, 0, 930), -1);     /* met, day unknown */
    assert_int_equal(pl_as_of_label(1, 1231, 1231), -1); /* complete year: no closer left */
    assert_int_equal(pl_as_of_label(1, 229, 228), 0);    /* leap day after 02-28 */
    assert_int_equal(pl_as_of_label(1, 0, PL_AS_OF_START), 0);
    assert_int_equal(pl_as_of_label(1, 101, PL_AS_OF_START), 0);
    assert_int_equal(pl_as_of_label(0, 0, PL_AS_OF_START), 1);
    int a = -1;
    assert_int_equal(pl_as_of_parse("09-30", &a), 0);
    assert_int_equal(a, 930);
    assert_int_equal(pl_as_of_parse("start", &a), 0);
    assert_int_equal(a, PL_AS_OF_START);
    assert_int_equal(pl_as_of_parse("02-29", &a), 0);
    assert_int_equal(a, 229);
    assert_int_equal(pl_as_of_parse("02-30", &a), -1);
    assert_int_equal(pl_as_of_parse("9-30", &a), -1);
    assert_int_equal(pl_as_of_parse("13-01", &a), -1);
    assert_int_equal(pl_month_day("2024-10-01"), 1001);
    assert_int_equal(pl_month_day(""), 0);
    char t[16];
    pl_as_of_text(930, t, sizeof t);
    assert_string_equal(t, "09-30");
    pl_as_of_text(PL_AS_OF_START, t, sizeof t);
    assert_string_equal(t, "start");
}

#define N_OPEN 120
#define N_LATE 60
#define N_EARLY 90
#define N_NODATE 30
#define N_ALL (N_OPEN + N_LATE + N_EARLY + N_NODATE)

static void fill_store(struct store *st)
{
    char err[SG_ERRLEN];
    static struct store_member mem[N_ALL];
    static struct store_measure_result res[2 * N_ALL];
    memset(mem, 0, sizeof mem);
    memset(res, 0, sizeof res);
    for (int i = 0; i < N_ALL; i++) {
        struct store_member *m = &mem[i];
        snprintf(m->member_hash, sizeof m->member_hash, "%064x", i + 1);
        snprintf(m->contract_id, sizeof m->contract_id, "H0001");
        m->active = 1;
        m->birth_year = 1955;
        m->sex = STORE_SEX_FEMALE;
        m->dual_eligible = !(i >= N_OPEN && i < N_OPEN + N_LATE); /* the late closers: not dual */
        m->lis = 0;
        m->disabled = 0;
        for (int y = 0; y < 2; y++) {
            struct store_measure_result *r = &res[2 * i + y];
            memcpy(r->member_hash, m->member_hash, STORE_HASH_LEN);
            snprintf(r->measure_code, sizeof r->measure_code, "BCS");
            r->measurement_year = 2023 + y;
            r->initial_population = r->denominator = 1;
            snprintf(r->source, sizeof r->source, "csv");
            if (y == 0) continue; /* 2023: every gap open (constant prior features) */
            if (i < N_OPEN) continue;
            r->numerator = 1;
            if (i < N_OPEN + N_LATE) /* met October 1 .. November 29 */
                snprintf(r->numerator_date, sizeof r->numerator_date, "2024-%02d-%02d",
                         10 + (i % 2), 1 + (i % 29));
            else if (i < N_OPEN + N_LATE + N_EARLY) /* met January 1 .. September 30 */
                snprintf(r->numerator_date, sizeof r->numerator_date, "2024-%02d-%02d", 1 + (i % 9),
                         i % 3 == 0 ? 30 : 1 + (i % 28));
        }
    }
    struct store_merge_counts k[3];
    int rc =
        store_import_batch(st, &ACTOR, mem, N_ALL, res, 2 * N_ALL, NULL, 0, k, err, sizeof err);
    if (rc) fprintf(stderr, "import: %s\n", err);
    assert_int_equal(rc, SG_OK);
}

static void test_train_rows(void **state)
{
    (void)state;
    char path[256], url[300], err[SG_ERRLEN];
    snprintf(path, sizeof path, "/tmp/sg_asof_label_%d.db", (int)getpid());
    snprintf(url, sizeof url, "sqlite:%s", path);
    unlink(path);
    struct store *st;
    assert_int_equal(store_open(url, NULL, &st, err, sizeof err), SG_OK);
    assert_int_equal(migrate_up(st, 0, NULL, err, sizeof err), SG_OK);
    assert_int_equal(
        pl_catalog_ensure(st, &ACTOR, STARGAP_SOURCE_DIR "/data", NULL, err, sizeof err), SG_OK);
    fill_store(st);

    /* the data's as-of day of 2024: the latest date, November 29 (i % 29 = 28, i odd) */
    int as_of = -1;
    long long dated, met;
    assert_int_equal(pl_data_as_of(st, 2024, &as_of, &dated, &met, err, sizeof err), SG_OK);
    assert_int_equal(dated, N_LATE + N_EARLY);
    assert_int_equal(met, N_LATE + N_EARLY + N_NODATE);
    int from_data = 0;
    assert_int_equal(pl_scoring_as_of(st, 2024, 930, &as_of, &from_data, err, sizeof err),
                     SG_EINVAL); /* the data is observed later than 09-30 */
    assert_int_equal(pl_scoring_as_of(st, 2024, -1, &as_of, &from_data, err, sizeof err), SG_OK);
    assert_true(from_data);
    assert_true(as_of >= 1101 && as_of <= 1130);

    struct pl_train_result r[11];
    size_t n = 0;
    assert_int_equal(pl_train_as_of(st, &ACTOR, 2024, 930, "BCS", NULL, r, &n, err, sizeof err),
                     SG_OK);
    assert_int_equal(n, 1);
    assert_false(r[0].skipped);
    assert_int_equal(r[0].rows, N_OPEN + N_LATE);
    assert_true(r[0].test.auc > 0.99);
    struct store_model sm;
    assert_int_equal(store_model_get_latest(st, "BCS", &sm, err, sizeof err), SG_OK);
    assert_non_null(strstr(sm.hyperparams, "\"as_of\":\"09-30\""));
    store_model_fini(&sm);

    assert_int_equal(
        pl_train_as_of(st, &ACTOR, 2024, PL_AS_OF_START, "BCS", NULL, r, &n, err, sizeof err),
        SG_OK);
    assert_false(r[0].skipped);
    assert_int_equal(r[0].rows, N_ALL);
    assert_true(r[0].test.auc < 0.9);

    /* complete year: only the open gaps are rows, one class -> skipped, not an error */
    assert_int_equal(pl_train_as_of(st, &ACTOR, 2024, 1231, "BCS", NULL, r, &n, err, sizeof err),
                     SG_OK);
    assert_true(r[0].skipped);
    store_close(st);
    char p[300];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

int main(void)
{
    sg_log_set_level(SG_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_rule),
        cmocka_unit_test(test_train_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
