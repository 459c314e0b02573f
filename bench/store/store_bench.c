/* store_bench.c: storage layer benchmark (issue 2). Usage:
 *   store_bench [URL] [PREDICTIONS] [GAPS] [CALLS]
 * defaults: sqlite:/tmp/stargap_store_bench.db, 1000000, 200000. The database is migrated down to
 * 0 and up first, so point it at a database you may wipe. Prints batch-insert rows/s and the
 * p50/p99 latency of get_by_member, get_latest, gaps get_with_filters (status=identified, limit 50,
 * with total) and interventions get_pending, each over 20,000 random calls. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/hash.h"
#include "core/log.h"
#include "db/migrate.h"
#include "db/store.h"

static int CALLS = 20000; /* read calls per query (4th argument) */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, double *lat, size_t n)
{
    qsort(lat, n, sizeof *lat, cmp_d);
    printf("%-34s p50 %8.1f us   p99 %8.1f us   (%zu calls)\n", name, lat[n / 2] * 1e6,
           lat[(size_t)((double)n * 0.99)] * 1e6, n);
}

static void hash_of(long i, char out[STORE_HASH_LEN])
{
    char id[48];
    snprintf(id, sizeof id, "bench-member-%ld", i);
    if (sg_sha256_hex(id, strlen(id), out) != SG_OK) abort();
}

static void die(const char *what, const char *err)
{
    fprintf(stderr, "store_bench: %s: %s\n", what, err);
    exit(1);
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "sqlite:/tmp/stargap_store_bench.db";
    long npred = argc > 2 ? atol(argv[2]) : 1000000, ngaps = argc > 3 ? atol(argv[3]) : 200000;
    long nmembers = ngaps / 2 > 0 ? ngaps / 2 : 1;
    if (argc > 4) CALLS = atoi(argv[4]);
    if (CALLS < 1) CALLS = 1;
    char err[SG_ERRLEN];
    struct store *st;
    struct store_actor a = {"bench", NULL};
    sg_log_set_level(SG_LOG_WARN);
    if (store_open(url, NULL, &st, err, sizeof err) || migrate_down(st, 0, NULL, err, sizeof err) ||
        migrate_up(st, 0, NULL, err, sizeof err))
        die("open/migrate", err);

    static const char *codes[] = {"BCS", "COL", "CBP", "PCR", "PDC-DR"};
    struct store_measure ms[5];
    memset(ms, 0, sizeof ms);
    for (int i = 0; i < 5; i++) {
        ms[i].star_year = 2026;
        snprintf(ms[i].code, sizeof ms[i].code, "%s", codes[i]);
        snprintf(ms[i].cms_id, sizeof ms[i].cms_id, "C%02d", i + 1);
        snprintf(ms[i].name, sizeof ms[i].name, "%s", codes[i]);
        ms[i].part = 'C';
        snprintf(ms[i].domain, sizeof ms[i].domain, "d");
        ms[i].weight = 1;
    }
    if (store_measure_upsert_batch(st, &a, ms, 5, err, sizeof err)) die("measures", err);

    double t0 = now_s();
    for (long i = 0; i < nmembers; i++) {
        struct store_member m = {.active = 1, .dual_eligible = -1, .lis = -1, .disabled = -1};
        hash_of(i, m.member_hash);
        snprintf(m.contract_id, sizeof m.contract_id, "H%04ld", i % 20);
        if (store_member_create(st, &a, &m, err, sizeof err)) die("member", err);
    }
    double t1 = now_s();
    printf("members: %ld in %.2f s (%.0f/s, one transaction + audit row each)\n", nmembers, t1 - t0,
           (double)nmembers / (t1 - t0));

    /* Predictions: batches of 10,000, each member gets rows for several measures/models. */
    enum { BATCH = 10000 };
    struct store_prediction *rows = calloc(BATCH, sizeof *rows);
    if (!rows) die("alloc", "out of memory");
    long done = 0;
    double tp = 0;
    while (done < npred) {
        long n = npred - done < BATCH ? npred - done : BATCH;
        for (long k = 0; k < n; k++) {
            long r = done + k; /* row r: member r/10 % nmembers, measure r%5, model (r/5)%2 + 2*(r/(10*nmembers)) */
            struct store_prediction *p = &rows[k];
            memset(p, 0, sizeof *p);
            hash_of((r / 10) % nmembers, p->member_hash);
            snprintf(p->measure_code, sizeof p->measure_code, "%s", codes[r % 5]);
            p->measurement_year = 2025;
            p->gap_probability = (double)(r % 1000) / 1000.0;
            p->risk_tier = STORE_TIER_MEDIUM;
            p->risk_score = NAN;
            snprintf(p->model_version, sizeof p->model_version, "m%ld", (r / 5) % 2 + 2 * (r / (10 * nmembers)));
            store_ts_ago(r % 86400, p->prediction_date);
        }
        double s = now_s();
        if (store_prediction_batch_create(st, &a, rows, (size_t)n, err, sizeof err)) die("predictions", err);
        tp += now_s() - s;
        done += n;
    }
    printf("predictions batch insert: %ld rows in %.2f s = %.0f rows/s (batches of %d)\n", npred, tp,
           (double)npred / tp, BATCH);

    t0 = now_s();
    long open_gaps = 0;
    for (long i = 0; i < ngaps; i++) {
        struct store_gap g = {.measurement_year = 2025, .estimated_cost = NAN, .estimated_value = NAN};
        hash_of(i / 2, g.member_hash);
        snprintf(g.measure_code, sizeof g.measure_code, "%s", codes[i % 2]);
        g.gap_probability = (double)(i % 997) / 997.0;
        g.priority_score = (double)(i % 10007);
        g.status = i % 100 < 85 ? STORE_GAP_IDENTIFIED : (enum store_gap_status)(1 + i % 3);
        open_gaps += g.status == STORE_GAP_IDENTIFIED;
        if (store_gap_create(st, &a, &g, err, sizeof err)) die("gap", err);
        if (i % 10 == 0) { /* one intervention per 10 gaps, scheduled over a year */
            struct store_intervention iv = {.estimated_cost = NAN, .estimated_value = NAN, .roi = NAN};
            memcpy(iv.gap_id, g.gap_id, STORE_ID_LEN);
            memcpy(iv.member_hash, g.member_hash, STORE_HASH_LEN);
            snprintf(iv.intervention_type, sizeof iv.intervention_type, "call");
            snprintf(iv.scheduled_date, sizeof iv.scheduled_date, "2025-%02d-%02d", (int)(1 + i % 12), (int)(1 + i % 28));
            if (store_intervention_create(st, &a, &iv, err, sizeof err)) die("intervention", err);
        }
    }
    t1 = now_s();
    printf("gaps: %ld (%ld identified) + %ld interventions in %.2f s\n", ngaps, open_gaps, (ngaps + 9) / 10, t1 - t0);

    double *lat = calloc((size_t)CALLS, sizeof *lat);
    if (!lat) die("alloc", "out of memory");
    srand(42);
    for (int k = 0; k < CALLS; k++) {
        char h[STORE_HASH_LEN];
        struct store_prediction_list l;
        struct store_page pg = {20, 0};
        hash_of(rand() % nmembers, h);
        double s = now_s();
        if (store_prediction_get_by_member(st, h, NULL, 0, &pg, &l, err, sizeof err)) die("get_by_member", err);
        lat[k] = now_s() - s;
        store_prediction_list_free(&l);
    }
    report("predictions get_by_member (20)", lat, (size_t)CALLS);
    for (int k = 0; k < CALLS; k++) {
        char h[STORE_HASH_LEN];
        struct store_prediction p;
        hash_of(rand() % nmembers, h);
        double s = now_s();
        int rc = store_prediction_get_latest(st, h, codes[rand() % 5], &p, err, sizeof err);
        lat[k] = now_s() - s;
        if (rc && rc != SG_ENOTFOUND) die("get_latest", err);
        store_prediction_fini(&p);
    }
    report("predictions get_latest", lat, (size_t)CALLS);
    for (int k = 0; k < CALLS; k++) {
        struct store_gap_filter f = {.has_status = 1, .status = STORE_GAP_IDENTIFIED, .min_priority = NAN,
                                     .page = {50, (rand() % 20) * 50}};
        struct store_gap_list l;
        double s = now_s();
        if (store_gap_get_with_filters(st, &f, &l, err, sizeof err)) die("gaps", err);
        lat[k] = now_s() - s;
        if (l.total != open_gaps) die("gaps", "total differs from the number of identified gaps");
        store_gap_list_free(&l);
    }
    report("gaps status=identified limit 50", lat, (size_t)CALLS);
    for (int k = 0; k < CALLS; k++) {
        struct store_gap_filter f = {.has_status = 1, .status = STORE_GAP_IDENTIFIED, .measure_code = "COL",
                                     .contract_id = "H0003", .min_priority = NAN, .sort = STORE_SORT_PROBABILITY,
                                     .page = {50, 0}};
        struct store_gap_list l;
        double s = now_s();
        if (store_gap_get_with_filters(st, &f, &l, err, sizeof err)) die("gaps", err);
        lat[k] = now_s() - s;
        store_gap_list_free(&l);
    }
    report("gaps status+measure+contract by prob", lat, (size_t)CALLS);
    for (int k = 0; k < CALLS; k++) {
        char date[STORE_DATE_LEN];
        struct store_intervention_list l;
        struct store_page pg = {50, 0};
        snprintf(date, sizeof date, "2025-%02d-15", 1 + (rand() & 0x7fff) % 12);
        double s = now_s();
        if (store_intervention_get_pending(st, date, &pg, &l, err, sizeof err)) die("pending", err);
        lat[k] = now_s() - s;
        store_intervention_list_free(&l);
    }
    report("interventions get_pending (50)", lat, (size_t)CALLS);
    free(lat);
    free(rows);
    store_close(st);
    return 0;
}
