/* http_bench_load.c: fills a database for the HTTP benchmark through the store API:
 * 100,000 members, 1,000,000 predictions (10 per member: 5 measures x 2 model versions) and
 * 200,000 gaps (2 per member; 85% identified, 15% assigned), then writes the gap ids of the
 * identified gaps and the member hashes to OUTDIR (one per line) for the wrk scripts.
 *
 * usage: http_bench_load DB_URL OUTDIR [MEMBERS]   (the database must be migrated)
 * Member hashes are SHA-256 of "bench-member-N": the loader never sees raw member IDs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/hash.h"
#include "db/store.h"

static const char *const measures[] = {"BCS", "COL", "CBP", "GSD", "EED"};
static const struct store_actor actor = {.user_id = "bench-loader", .ip_address = ""};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Deterministic pseudo-random numbers (xorshift64*), so every run loads the same data. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double urand(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static void die(const char *what, const char *err)
{
    fprintf(stderr, "http_bench_load: %s: %s\n", what, err);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s DB_URL OUTDIR [MEMBERS]\n", argv[0]);
        return 2;
    }
    long nmem = argc == 4 ? atol(argv[3]) : 100000;
    if (nmem < 1) return 2;
    char err[SG_ERRLEN];
    struct store *st;
    if (store_open(argv[1], NULL, &st, err, sizeof err)) die("open", err);

    /* Predictions and gaps must name catalog measures. When the catalog has not been seeded for
     * 2025 (the seeding command belongs to the measures work), the five measures the benchmark
     * uses are added (CMS 2025 ids; names marked as benchmark rows). */
    struct store_measure cat[5];
    memset(cat, 0, sizeof cat);
    static const char *const cms_ids[5] = {"C01", "C02", "C11", "C10", "C09"}; /* 2025 cut-point table */
    static const double weights[5] = {1, 1, 3, 3, 1};      /* process 1, intermediate outcome 3 */
    static const int intermediate[5] = {0, 0, 1, 1, 0};
    size_t ncat = 0;
    for (int k = 0; k < 5; k++) {
        struct store_measure m;
        if (store_measure_get(st, 2025, measures[k], &m, err, sizeof err) == SG_OK) continue;
        struct store_measure *c = &cat[ncat++];
        c->star_year = 2025;
        snprintf(c->code, sizeof c->code, "%s", measures[k]);
        snprintf(c->cms_id, sizeof c->cms_id, "%s", cms_ids[k]);
        snprintf(c->name, sizeof c->name, "%s (benchmark catalog row)", measures[k]);
        c->part = 'C';
        snprintf(c->domain, sizeof c->domain, "%s", "Managing Chronic (Long Term) Conditions");
        c->weighting_category = intermediate[k] ? STORE_WCAT_INTERMEDIATE_OUTCOME : STORE_WCAT_PROCESS;
        c->weight = weights[k];
        c->direction = STORE_HIGHER_BETTER;
        c->member_level = 1;
    }
    if (ncat && store_measure_upsert_batch(st, &actor, cat, ncat, err, sizeof err)) die("measures", err);

    char path[4096];
    snprintf(path, sizeof path, "%s/members.txt", argv[2]);
    FILE *fm = fopen(path, "w");
    snprintf(path, sizeof path, "%s/gaps.txt", argv[2]);
    FILE *fg = fopen(path, "w");
    if (!fm || !fg) die("output", "cannot create members.txt/gaps.txt in OUTDIR");

    char (*hashes)[SG_HEX64_LEN] = calloc((size_t)nmem, SG_HEX64_LEN);
    double t0 = now_s();
    for (long i = 0; i < nmem; i++) {
        char id[64];
        snprintf(id, sizeof id, "bench-member-%ld", i);
        if (sg_sha256_hex(id, strlen(id), hashes[i])) die("hash", "sha256");
        struct store_member m;
        memset(&m, 0, sizeof m);
        memcpy(m.member_hash, hashes[i], SG_HEX64_LEN);
        snprintf(m.contract_id, sizeof m.contract_id, "H%04ld", 1 + i % 20);
        m.active = 1;
        m.birth_year = 1930 + (int)(i % 40);
        m.dual_eligible = m.lis = m.disabled = -1;
        if (store_member_create(st, &actor, &m, err, sizeof err)) die("member", err);
        fprintf(fm, "%s\n", hashes[i]);
    }
    double t1 = now_s();
    fprintf(stderr, "members: %ld in %.1f s\n", nmem, t1 - t0);

    /* predictions in batches of 10,000 rows (1,000 members) */
    const long per = 10, batch_members = 1000;
    struct store_prediction *rows = calloc((size_t)(batch_members * per), sizeof *rows);
    long npred = 0;
    for (long b = 0; b < nmem; b += batch_members) {
        size_t n = 0;
        for (long i = b; i < b + batch_members && i < nmem; i++) {
            for (long k = 0; k < per; k++) {
                struct store_prediction *p = &rows[n++];
                memset(p, 0, sizeof *p);
                memcpy(p->member_hash, hashes[i], SG_HEX64_LEN);
                snprintf(p->measure_code, sizeof p->measure_code, "%s", measures[k % 5]);
                p->measurement_year = 2025;
                p->gap_probability = urand();
                p->risk_tier = p->gap_probability > 0.7 ? STORE_TIER_HIGH
                               : p->gap_probability > 0.3 ? STORE_TIER_MEDIUM
                                                          : STORE_TIER_LOW;
                p->risk_score = p->gap_probability * 100.0;
                snprintf(p->model_version, sizeof p->model_version, "gbdt-v%ld", 1 + k / 5);
            }
        }
        if (store_prediction_batch_create(st, &actor, rows, n, err, sizeof err)) die("predictions", err);
        npred += (long)n;
    }
    free(rows);
    double t2 = now_s();
    fprintf(stderr, "predictions: %ld in %.1f s (%.0f rows/s)\n", npred, t2 - t1, (double)npred / (t2 - t1));

    long ngap = 0, nident = 0;
    for (long i = 0; i < nmem; i++) {
        for (int k = 0; k < 2; k++) {
            struct store_gap g;
            memset(&g, 0, sizeof g);
            memcpy(g.member_hash, hashes[i], SG_HEX64_LEN);
            snprintf(g.measure_code, sizeof g.measure_code, "%s", measures[(i + k) % 5]);
            g.measurement_year = 2025;
            g.gap_probability = urand();
            g.priority_score = round(g.gap_probability * 1000.0) / 10.0;
            g.estimated_cost = 25.0 + 5.0 * k;
            g.estimated_value = 100.0 * g.gap_probability;
            g.status = urand() < 0.85 ? STORE_GAP_IDENTIFIED : STORE_GAP_ASSIGNED;
            if (store_gap_create(st, &actor, &g, err, sizeof err)) die("gap", err);
            ngap++;
            if (g.status == STORE_GAP_IDENTIFIED) {
                fprintf(fg, "%s\n", g.gap_id);
                nident++;
            }
        }
    }
    double t3 = now_s();
    fprintf(stderr, "gaps: %ld (%ld identified) in %.1f s\n", ngap, nident, t3 - t2);
    fclose(fm);
    fclose(fg);
    free(hashes);
    store_close(st);
    return 0;
}
