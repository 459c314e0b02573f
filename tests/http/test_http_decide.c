/* test_http_decide.c: black-box tests of the issue-7 endpoints (and the issue-4 star-rating
 * endpoint) against the real server: `stargap generate` a small portfolio, `stargap run` it
 * (import, train, predict, gaps, stars, snapshot), then `stargap serve`. Expected values are
 * computed independently: rates and counts from the store's own aggregate query
 * (store_measure_result_rates) and member scan, stars from CMS's published 2026 cut points
 * written into this file, investment and ratings by hand from the documented formulas. Error
 * paths check the status, the field named in the message, and that nothing was persisted. */
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

/* cmocka.h needs the headers above */
#include <cmocka.h>

#include "core/buf.h"
#include "db/store.h"
#include "http_harness.h"

#define YEAR 2024

static char db_url[2048];
static char tmpdir[256];
static char base_url[128];
static int port;
static pid_t server_pid;
static char server_log[512];
static char key_writer[128], key_reader[128];
static int is_pg;
static CURL *shared_curl; /* reused: keep-alive */

static double jnum(json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

/* ---------------------------------------------------------------- independent expectations */

/* CMS's published 2026 MA cut points (thresholds of 2..5 stars) for the measures used here. */
static const struct {
    const char *code;
    double cut[4];
} CUTS[] = {
    {"GSD", {54, 77, 87, 91}},
    {"CBP", {67, 75, 80, 86}},
    {"BCS", {58, 71, 76, 84}},
};

static const double *cuts_of(const char *code)
{
    for (size_t i = 0; i < sizeof CUTS / sizeof CUTS[0]; i++)
        if (!strcmp(CUTS[i].code, code)) return CUTS[i].cut;
    return NULL;
}

/* Star of a count: the rate rounded half-up to whole percent against the cut points. */
static int star_of(long num, long den, const double *cut)
{
    double shown = floor(100.0 * (double)num / (double)den + 0.5 + 1e-9);
    int s = 1;
    for (int k = 0; k < 4; k++)
        if (shown >= cut[k]) s = k + 2;
    return s;
}

/* Eligible and numerator of a measure in a contract from the store's aggregate query. */
static void rate_of(const char *code, const char *contract, long *den, long *num)
{
    struct store *st;
    char err[SG_ERRLEN];
    assert_int_equal(store_open(db_url, NULL, &st, err, sizeof err), SG_OK);
    struct store_measure_rate_list l;
    assert_int_equal(store_measure_result_rates(st, code, contract, YEAR, &l, err, sizeof err),
                     SG_OK);
    assert_int_equal(l.n, 1);
    *den = (long)l.items[0].eligible;
    *num = (long)l.items[0].numerator;
    store_measure_rate_list_free(&l);
    store_close(st);
}

struct mcount {
    char contract[8][STORE_CONTRACT_LEN];
    long n[8];
    int k;
};

static int count_member(void *ctx, const struct store_member *m)
{
    struct mcount *c = ctx;
    if (!m->active) return 0;
    int i = 0;
    while (i < c->k && strcmp(c->contract[i], m->contract_id))
        i++;
    if (i == c->k && c->k < 8)
        snprintf(c->contract[c->k++], STORE_CONTRACT_LEN, "%s", m->contract_id);
    if (i < 8) c->n[i]++;
    return 0;
}

/* Copies tpl into out replacing each "@C" by the contract id. */
static void subst(char *out, size_t n, const char *tpl, const char *c)
{
    size_t used = 0;
    for (const char *p = tpl; *p && used + 1 < n; p++) {
        if (p[0] == '@' && p[1] == 'C') {
            used += (size_t)snprintf(out + used, n - used, "%s", c);
            p++;
        } else {
            out[used++] = *p;
        }
    }
    out[used < n ? used : n - 1] = '\0';
}

static long count_table(const char *path, const char *key, const char *list_field)
{
    struct resp r;
    http("GET", path, key, NULL, NULL, &r);
    expect_status(&r, 200, path);
    long t = (long)jint(r.json, list_field);
    resp_free(&r);
    return t;
}

/* ---------------------------------------------------------------- setup */

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    shared_curl = curl_easy_init();
    http_harness_bind(db_url, server_log, base_url, shared_curl);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sg-decide-test-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    if (!is_pg) snprintf(db_url, sizeof db_url, "sqlite:%s/test.db", tmpdir);
    snprintf(server_log, sizeof server_log, "%s/server.log", tmpdir);
    setenv("STARGAP_HASH_KEY", "decide-test-hmac-key-not-a-secret", 1);
    setenv("STARGAP_RATE_LIMIT_PER_MIN", "1000000", 1);
    setenv("STARGAP_LOG_LEVEL", "warn", 1);
    char out[1 << 16], in[400];
    snprintf(in, sizeof in, "%s/in", tmpdir);
    const char *gen[] = {
        STARGAP_BINARY, "generate", "--members", "1500", "--contracts", "2", "--years", "2021-2024",
        "--seed",       "11",       "--out",     in,     NULL};
    if (run_cmd(gen, out, sizeof out) != 0) return -1;
    stargap("run", "--input", in, "--year", "2024", NULL, out, sizeof out, 0);
    create_key("d-writer", "writer", key_writer);
    create_key("d-reader", "reader", key_reader);
    server_pid = start_server(NULL, &port);
    snprintf(base_url, sizeof base_url, "http://127.0.0.1:%d", port);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (server_pid > 0) stop_server(server_pid);
    curl_easy_cleanup(shared_curl);
    curl_global_cleanup();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return 0;
}

/* ---------------------------------------------------------------- tests */

static void test_measure_performance(void **state)
{
    (void)state;
    struct resp r;
    for (size_t i = 0; i < sizeof CUTS / sizeof CUTS[0]; i++) {
        char path[200];
        snprintf(path, sizeof path, "/api/v1/measures/%s/performance?year=%d", CUTS[i].code, YEAR);
        http("GET", path, key_reader, NULL, NULL, &r);
        expect_status(&r, 200, path);
        json_t *cs = json_object_get(r.json, "contracts");
        assert_true(json_array_size(cs) >= 2);
        for (size_t k = 0; k < json_array_size(cs); k++) {
            json_t *c = json_array_get(cs, k);
            long den, num;
            rate_of(CUTS[i].code, jstr(c, "contract_id"), &den, &num);
            assert_int_equal(jint(c, "denominator"), den);
            assert_int_equal(jint(c, "numerator"), num);
            assert_true(fabs(jnum(c, "rate") - 100.0 * (double)num / (double)den) < 1e-6);
            int star = star_of(num, den, cuts_of(CUTS[i].code));
            assert_int_equal(jint(c, "star"), star);
            if (star < 5) {
                long need = num;
                while (need <= den && star_of(need, den, cuts_of(CUTS[i].code)) <= star)
                    need++;
                if (need <= den) assert_int_equal(jint(c, "closures_to_next_star"), need - num);
            }
            json_t *cp = json_object_get(c, "cut_points");
            for (int t = 0; t < 4; t++)
                assert_true(
                    fabs(json_number_value(json_array_get(cp, (size_t)t)) - CUTS[i].cut[t]) < 1e-9);
        }
        resp_free(&r);
    }
    http("GET", "/api/v1/measures/ZZZ/performance?year=2024", key_reader, NULL, NULL, &r);
    expect_error(&r, 404, "not_found", "code", "unknown measure");
    resp_free(&r);
    http("GET", "/api/v1/measures/GSD/performance", key_reader, NULL, NULL, &r);
    expect_error(&r, 400, "invalid_input", "year", "year missing");
    resp_free(&r);
    http("GET", "/api/v1/measures/GSD/performance?year=2031", key_reader, NULL, NULL, &r);
    expect_error(&r, 400, "invalid_input", "star_year", "year without data");
    resp_free(&r);
}

/* This server runs with the default http_threads (this file sets none): on PostgreSQL as many
 * connection threads as the pool has connections (pool_max, default 20), on SQLite 32 per core
 * (at most 128); /metrics reports them. */
static void test_default_threads(void **state)
{
    (void)state;
    struct resp r;
    http("GET", "/metrics", key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "/metrics");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long want = is_pg ? 20 : (cores > 0 ? 32 * cores : 32);
    if (want > 128) want = 128;
    char line[64];
    snprintf(line, sizeof line, "\nhttp_worker_threads %ld\n", want);
    if (!strstr(sg_buf_str(&r.body), line)) fail_msg("no '%s' in /metrics", line + 1);
    resp_free(&r);
}

static void test_summary_and_priority(void **state)
{
    (void)state;
    struct mcount mc;
    memset(&mc, 0, sizeof mc);
    struct store *st;
    char err[SG_ERRLEN];
    assert_int_equal(store_open(db_url, NULL, &st, err, sizeof err), SG_OK);
    assert_int_equal(store_member_scan(st, count_member, &mc, err, sizeof err), SG_OK);
    store_close(st);
    struct resp r;
    http("GET", "/api/v1/portfolio/summary?year=2024", key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "summary");
    json_t *cs = json_object_get(r.json, "contracts");
    assert_int_equal(json_array_size(cs), (size_t)mc.k);
    long total = 0;
    for (size_t k = 0; k < json_array_size(cs); k++) {
        json_t *c = json_array_get(cs, k);
        int i = 0;
        while (i < mc.k && strcmp(mc.contract[i], jstr(c, "contract_id")))
            i++;
        assert_true(i < mc.k);
        assert_int_equal(jint(c, "members"), mc.n[i]);
        total += mc.n[i];
        /* GSD open gaps = eligible - numerator */
        long den, num;
        rate_of("GSD", jstr(c, "contract_id"), &den, &num);
        assert_int_equal(jint(json_object_get(c, "gaps_by_measure"), "GSD"), den - num);
        json_t *t = json_object_get(c, "gaps_by_tier");
        assert_int_equal(jint(t, "high") + jint(t, "medium") + jint(t, "low"),
                         jint(c, "open_gaps"));
    }
    assert_int_equal(jint(r.json, "members"), total);
    resp_free(&r);
    http("GET", "/api/v1/portfolio/summary?year=2024&contract=H9999", key_reader, NULL, NULL, &r);
    expect_error(&r, 400, "invalid_input", "contract", "unknown contract");
    resp_free(&r);
    http("GET", "/api/v1/portfolio/summary?year=2024&bogus=1", key_reader, NULL, NULL, &r);
    expect_error(&r, 400, "invalid_input", "bogus", "unknown parameter");
    resp_free(&r);
    /* priority list: at most limit, best first, min_gaps respected */
    http("GET", "/api/v1/portfolio/priority-list?year=2024&limit=7&min_gaps=2", key_reader, NULL,
         NULL, &r);
    expect_status(&r, 200, "priority-list");
    json_t *it = json_object_get(r.json, "items");
    assert_true(json_array_size(it) >= 1 && json_array_size(it) <= 7);
    for (size_t i = 0; i < json_array_size(it); i++) {
        json_t *m = json_array_get(it, i);
        assert_true(jint(m, "open_gaps") >= 2);
        assert_int_equal(strlen(jstr(m, "member_hash")), 64);
        if (i)
            assert_true(jnum(json_array_get(it, i - 1), "total_value") >= jnum(m, "total_value"));
    }
    resp_free(&r);
    http("GET", "/api/v1/portfolio/priority-list?year=2024&limit=0", key_reader, NULL, NULL, &r);
    expect_error(&r, 400, "invalid_input", "limit", "limit 0");
    resp_free(&r);
    http("GET", "/api/v1/analytics/roi?year=2024", key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "roi");
    json_t *c0 = json_array_get(json_object_get(r.json, "contracts"), 0);
    json_t *lv = json_object_get(c0, "revenue_by_rating");
    assert_int_equal(json_array_size(lv), 5);
    /* the quality bonus starts at 4 stars: payment per member-month rises from 3.5 to 4.0 */
    assert_true(jnum(json_array_get(lv, 2), "payment_pmpm") >
                jnum(json_array_get(lv, 1), "payment_pmpm"));
    assert_true(jnum(json_array_get(lv, 2), "bonus_pct") == 5.0);
    resp_free(&r);
}

static const char *first_contract(char out[STORE_CONTRACT_LEN])
{
    struct resp r;
    http("GET", "/api/v1/portfolio/summary?year=2024", key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "summary");
    snprintf(out, STORE_CONTRACT_LEN, "%s",
             jstr(json_array_get(json_object_get(r.json, "contracts"), 0), "contract_id"));
    resp_free(&r);
    return out;
}

static void test_optimize(void **state)
{
    (void)state;
    char c[STORE_CONTRACT_LEN], body[512];
    first_contract(c);
    long ivs0 = count_table("/api/v1/interventions?limit=1", key_reader, "total");
    struct resp r;
    snprintf(
        body, sizeof body,
        "{\"year\":2024,\"contract\":\"%s\",\"budget\":3000,\"objective\":\"stars\",\"max\":40}",
        c);
    http("POST", "/api/v1/portfolio/optimize", key_writer, body, NULL, &r);
    expect_status(&r, 200, "optimize");
    json_t *plan = json_object_get(r.json, "plan");
    assert_true(jnum(plan, "spend") <= 3000 + 1e-9);
    assert_true(jint(plan, "interventions") <= 40);
    assert_true(jnum(plan, "gain") >= -1e-12); /* never worse than doing nothing */
    double p4 = jnum(plan, "p_overall_ge_4");
    assert_true(p4 >= 0 && p4 <= 1 + 1e-12);
    assert_non_null(json_object_get(r.json, "naive_by_probability"));
    assert_non_null(json_object_get(r.json, "naive_by_weight"));
    assert_int_equal(jint(r.json, "interventions_created"), 0);
    resp_free(&r);
    assert_int_equal(count_table("/api/v1/interventions?limit=1", key_reader, "total"), ivs0);
    /* bad input names the field; nothing persisted */
    const char *bad[][2] = {
        {"{\"year\":2024,\"contract\":\"@C\",\"budget\":0,\"create\":true}", "budget"},
        {"{\"year\":2024,\"contract\":\"@C\",\"budget\":100,\"objective\":\"fame\",\"create\":"
         "true}",
         "objective"},
        {"{\"year\":2024,\"contract\":\"@C\",\"budget\":100,\"create\":1}", "create"},
        {"{\"year\":2024,\"budget\":100,\"create\":true,\"x\":\"y\"}", "x"},
        {"{\"year\":2024,\"contract\":\"H9999\",\"budget\":100,\"create\":true}", "contract"},
        {"{\"year\":2031,\"contract\":\"@C\",\"budget\":100,\"create\":true}", "star_year"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        subst(body, sizeof body, bad[i][0], c);
        http("POST", "/api/v1/portfolio/optimize", key_writer, body, NULL, &r);
        expect_error(&r, 400, "invalid_input", bad[i][1], body);
        resp_free(&r);
    }
    snprintf(body, sizeof body, "{\"year\":2024,\"contract\":\"%s\",\"budget\":100}", c);
    http("POST", "/api/v1/portfolio/optimize", key_reader, body, NULL, &r);
    expect_status(&r, 403, "reader may not optimize");
    resp_free(&r);
    assert_int_equal(count_table("/api/v1/interventions?limit=1", key_reader, "total"), ivs0);
    /* create: the chosen interventions become planned, once */
    snprintf(body, sizeof body,
             "{\"year\":2024,\"contract\":\"%s\",\"budget\":800,\"create\":true}", c);
    http("POST", "/api/v1/portfolio/optimize", key_writer, body, NULL, &r);
    expect_status(&r, 200, "optimize create");
    long made = (long)jint(r.json, "interventions_created");
    assert_int_equal(made + jint(r.json, "interventions_already_planned"),
                     jint(json_object_get(r.json, "plan"), "interventions"));
    assert_true(made > 0);
    resp_free(&r);
    assert_int_equal(count_table("/api/v1/interventions?limit=1", key_reader, "total"),
                     ivs0 + made);
    http("POST", "/api/v1/portfolio/optimize", key_writer, body, NULL, &r);
    expect_status(&r, 200, "optimize create again");
    assert_int_equal(jint(r.json, "interventions_created"), 0);
    resp_free(&r);
    assert_int_equal(count_table("/api/v1/interventions?limit=1", key_reader, "total"),
                     ivs0 + made);
}

static void test_simulate(void **state)
{
    (void)state;
    char c[STORE_CONTRACT_LEN], body[512], path[200];
    first_contract(c);
    long sims0 = count_table("/api/v1/simulations?limit=1", key_reader, "total");
    struct resp r;
    /* closure rate 0.5 for GSD: every open GSD gap is attempted (0.5 > the 0.35 success rate), at
     * $45 each (data/portfolio/interventions.csv) */
    snprintf(body, sizeof body,
             "{\"year\":2024,\"contract\":\"%s\",\"closure_rates\":{\"GSD\":0.5},\"runs\":2000,"
             "\"seed\":3}",
             c);
    http("POST", "/api/v1/analytics/simulate", key_writer, body, NULL, &r);
    expect_status(&r, 201, "simulate closure");
    long den, num;
    rate_of("GSD", c, &den, &num);
    assert_true(fabs(jnum(r.json, "investment") - 45.0 * (double)(den - num)) < 1e-6);
    json_t *ms = json_object_get(r.json, "measures");
    for (size_t i = 0; i < json_array_size(ms); i++) {
        json_t *m = json_array_get(ms, i);
        json_t *ps = json_object_get(m, "p_star_exact");
        double sum = 0;
        for (size_t k = 0; k < 5; k++)
            sum += json_number_value(json_array_get(ps, k));
        assert_true(fabs(sum - 1) < 1e-9);
        if (!strcmp(jstr(m, "code"), "GSD")) {
            assert_int_equal(jint(m, "open_gaps"), den - num);
            assert_true(fabs(jnum(m, "rate_current") - 100.0 * (double)num / (double)den) < 1e-6);
        }
    }
    char id[STORE_ID_LEN];
    snprintf(id, sizeof id, "%s", jstr(r.json, "simulation_id"));
    resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/simulations/%s", id);
    http("GET", path, key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "simulation persisted");
    assert_string_equal(jstr(r.json, "strategy"), "closure");
    assert_true(fabs(jnum(r.json, "closure_rate") - 0.5) < 1e-12);
    resp_free(&r);
    snprintf(body, sizeof body,
             "{\"year\":2024,\"contract\":\"%s\",\"strategy\":\"balanced\",\"budget\":2000,"
             "\"runs\":1000}",
             c);
    http("POST", "/api/v1/analytics/simulate", key_writer, body, NULL, &r);
    expect_status(&r, 201, "simulate balanced");
    assert_true(jnum(r.json, "investment") <= 2000 + 1e-6);
    resp_free(&r);
    assert_int_equal(count_table("/api/v1/simulations?limit=1", key_reader, "total"), sims0 + 2);
    const char *bad[][2] = {
        {"{\"year\":2024,\"contract\":\"@C\",\"closure_rates\":{\"GSD\":1.5}}",
         "closure_rate[GSD]"},
        {"{\"year\":2024,\"contract\":\"@C\",\"closure_rates\":{\"ZZZ\":0.5}}",
         "closure_rates.ZZZ"},
        {"{\"year\":2024,\"contract\":\"@C\",\"strategy\":\"hope\"}", "strategy"},
        {"{\"year\":2024,\"contract\":\"@C\",\"strategy\":\"balanced\"}", "budget"},
        {"{\"year\":2024,\"contract\":\"@C\",\"strategy\":\"optimizer\",\"budget\":-5}", "budget"},
        {"{\"year\":2024,\"contract\":\"@C\",\"strategy\":\"balanced\",\"budget\":5,\"closure_"
         "rates\":{\"GSD\":0.1}}",
         "strategy"},
        {"{\"year\":2024,\"contract\":\"@C\",\"strategy\":\"balanced\",\"budget\":5,\"runs\":"
         "2000000}",
         "runs"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        subst(body, sizeof body, bad[i][0], c);
        http("POST", "/api/v1/analytics/simulate", key_writer, body, NULL, &r);
        expect_error(&r, 400, "invalid_input", bad[i][1], body);
        resp_free(&r);
    }
    assert_int_equal(count_table("/api/v1/simulations?limit=1", key_reader, "total"), sims0 + 2);
}

/* The non-improvement measures of the 2026 parameter file, each given `star`. */
static void all_measures_body(char *out, size_t n, int star, const char *contract)
{
    FILE *f = fopen(STARGAP_SOURCE_DIR "/data/stars/2026.txt", "r");
    assert_non_null(f);
    char line[1024];
    int in = 0;
    size_t used = (size_t)snprintf(
        out, n,
        "{\"star_year\":2026,\"contract_id\":\"%s\",\"contract_type\":\"ccp\",\"measures\":{",
        contract);
    int first = 1;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '[') in = !strncmp(line, "[measures]", 10);
        if (!in || (line[0] != 'C' && line[0] != 'D') || line[1] < '0' || line[1] > '9') continue;
        char id[8], code[64], part[4], dom[8], cat[32];
        if (sscanf(line, "%7s | %63s | %3s | %7s | %31s", id, code, part, dom, cat) != 5) continue;
        if (!strcmp(cat, "improvement")) continue;
        used += (size_t)snprintf(out + used, n - used, "%s\"%s\":{\"star\":%d}", first ? "" : ",",
                                 code, star);
        first = 0;
    }
    fclose(f);
    snprintf(out + used, n - used, "}}");
}

static void test_star_rating(void **state)
{
    (void)state;
    static char body[16384];
    struct resp r;
    /* every measure at 3 stars: mean 3, variance 0 (no reward factor), no CAI without an
     * adjustment category, so Part C, Part D and overall are 3.0 */
    all_measures_body(body, sizeof body, 3, "H7777");
    http("POST", "/api/v1/analytics/star-rating", key_writer, body, NULL, &r);
    expect_status(&r, 201, "star rating");
    assert_true(jnum(json_object_get(r.json, "part_c"), "rating") == 3.0);
    assert_true(jnum(json_object_get(r.json, "part_d"), "rating") == 3.0);
    assert_true(jnum(json_object_get(r.json, "overall"), "rating") == 3.0);
    assert_true(jnum(json_object_get(r.json, "overall"), "reward") == 0.0);
    resp_free(&r);
    http("GET", "/api/v1/star-ratings/latest?contract=H7777", key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "star rating persisted");
    assert_true(jnum(r.json, "overall") == 3.0);
    resp_free(&r);
    /* a score against the published cut points: GSD 88% is 4 stars (87 <= 88 < 91) */
    http("POST", "/api/v1/analytics/star-rating", key_writer,
         "{\"star_year\":2026,\"contract_id\":\"H7778\",\"measures\":{\"GSD\":{\"score\":88},"
         "\"CBP\":{\"star\":2}}}",
         NULL, &r);
    expect_status(&r, 201, "score");
    json_t *g = json_object_get(json_object_get(r.json, "measures"), "GSD");
    assert_int_equal(jint(g, "star"), 4);
    assert_string_equal(jstr(g, "source"), "score");
    assert_int_equal(jint(g, "next_star"), 5);
    assert_true(fabs(jnum(g, "distance_to_next") - 3.0) < 1e-9);
    resp_free(&r);
    long n0 = count_table("/api/v1/star-ratings/history?limit=1", key_reader, "total");
    const char *bad[][2] = {
        {"{\"star_year\":2026,\"contract_id\":\"H7779\",\"measures\":{\"GSD\":{\"star\":7}}}",
         "measures.GSD.star"},
        {"{\"star_year\":2026,\"contract_id\":\"H7779\",\"measures\":{\"ZZZ\":{\"star\":3}}}",
         "measures.ZZZ"},
        {"{\"contract_id\":\"H7779\",\"measures\":{\"GSD\":{\"star\":3}}}", "star_year"},
        {"{\"star_year\":2019,\"contract_id\":\"H7779\",\"measures\":{\"GSD\":{\"star\":3}}}",
         "star_year"},
        {"{\"star_year\":2026,\"contract_id\":\"H7779\",\"contract_type\":\"big\",\"measures\":{"
         "\"GSD\":{\"star\":3}}}",
         "contract_type"},
        {"{\"star_year\":2026,\"contract_id\":\"H7779\",\"measures\":{\"GSD\":{\"star\":3}},"
         "\"adjustment_categories\":{\"part_x\":1}}",
         "adjustment_categories.part_x"},
        {"{\"star_year\":2026,\"contract_id\":\"H7779\",\"measures\":{\"GSD\":{\"star\":3}},"
         "\"disaster_percentage\":140}",
         "disaster_percentage"},
        {"{\"star_year\":2026,\"contract_id\":\"H7779\",\"measures\":{}}", "measures"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        http("POST", "/api/v1/analytics/star-rating", key_writer, bad[i][0], NULL, &r);
        expect_error(&r, 400, "invalid_input", bad[i][1], bad[i][0]);
        resp_free(&r);
    }
    http("POST", "/api/v1/analytics/star-rating", key_reader, bad[0][0], NULL, &r);
    expect_status(&r, 403, "reader may not rate");
    resp_free(&r);
    assert_int_equal(count_table("/api/v1/star-ratings/history?limit=1", key_reader, "total"), n0);
}

/* `stargap gaps` through the binary: re-running refreshes in place, a member who became
 * compliant has the gap closed, an assigned gap keeps its status (history left alone). */
static void test_gaps_idempotent(void **state)
{
    (void)state;
    char out[8192];
    stargap("gaps", "--year", "2024", NULL, NULL, NULL, out, sizeof out, 0);
    assert_non_null(strstr(out, "inserted 0,"));
    assert_non_null(strstr(out, "closed 0"));
    struct resp r;
    http("GET", "/api/v1/gaps?status=identified&year=2024&limit=2", key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "open gaps");
    json_t *items = json_object_get(r.json, "items");
    assert_int_equal(json_array_size(items), 2);
    char g0[STORE_ID_LEN], g1[STORE_ID_LEN], m0[STORE_HASH_LEN], c0[STORE_CODE_LEN];
    snprintf(g0, sizeof g0, "%s", jstr(json_array_get(items, 0), "gap_id"));
    snprintf(g1, sizeof g1, "%s", jstr(json_array_get(items, 1), "gap_id"));
    snprintf(m0, sizeof m0, "%s", jstr(json_array_get(items, 0), "member_hash"));
    snprintf(c0, sizeof c0, "%s", jstr(json_array_get(items, 0), "measure_code"));
    resp_free(&r);
    /* gap 1 is assigned by a care manager */
    char path[200];
    snprintf(path, sizeof path, "/api/v1/gaps/%s", g1);
    http("PATCH", path, key_writer, "{\"status\":\"assigned\"}", NULL, &r);
    expect_status(&r, 200, "assign");
    resp_free(&r);
    /* the member of gap 0 meets the measure now */
    struct store *st;
    char err[SG_ERRLEN];
    assert_int_equal(store_open(db_url, NULL, &st, err, sizeof err), SG_OK);
    struct store_measure_result mr = {
        .measurement_year = 2024, .initial_population = 1, .denominator = 1, .numerator = 1};
    snprintf(mr.member_hash, sizeof mr.member_hash, "%s", m0);
    snprintf(mr.measure_code, sizeof mr.measure_code, "%s", c0);
    snprintf(mr.source, sizeof mr.source, "test");
    struct store_actor a = {"test", ""};
    assert_int_equal(store_measure_result_upsert_batch(st, &a, &mr, 1, err, sizeof err), SG_OK);
    store_close(st);
    stargap("gaps", "--year", "2024", NULL, NULL, NULL, out, sizeof out, 0);
    assert_non_null(strstr(out, "inserted 0,"));
    assert_non_null(strstr(out, "closed 1"));
    snprintf(path, sizeof path, "/api/v1/gaps/%s", g0);
    http("GET", path, key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "closed gap");
    assert_string_equal(jstr(r.json, "status"), "closed");
    resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/gaps/%s", g1);
    http("GET", path, key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "assigned gap");
    assert_string_equal(jstr(r.json, "status"), "assigned");
    resp_free(&r);
    /* bad input exits non-zero and names the field */
    stargap("gaps", "--year", "2031", NULL, NULL, NULL, out, sizeof out, 1);
    stargap("gaps", "--year", "2024", "--contract", "H9999", NULL, out, sizeof out, 1);
    stargap("optimize", "--year", "2024", "--budget", "-4", NULL, out, sizeof out, 2);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s sqlite|POSTGRES_URL\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "sqlite") != 0) {
        is_pg = 1;
        snprintf(db_url, sizeof db_url, "%s", argv[1]);
    }
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_measure_performance),
        cmocka_unit_test(test_default_threads),
        cmocka_unit_test(test_summary_and_priority),
        cmocka_unit_test(test_optimize),
        cmocka_unit_test(test_simulate),
        cmocka_unit_test(test_star_rating),
        cmocka_unit_test(test_gaps_idempotent),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
