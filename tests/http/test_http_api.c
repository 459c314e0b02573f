/* test_http_api.c: black-box tests of the real `stargap serve` over HTTP.
 *
 * Usage: test_http_api DB_URL   (sqlite:PATH is created fresh in a temporary directory when the
 * argument is just "sqlite"; the PostgreSQL URL comes from the pg ctest fixture).
 *
 * The program migrates the database, creates keys with `stargap keys`, seeds rows the API has no
 * endpoint to create (gaps, snapshots, ratings, simulations) through the store API, starts the
 * server on 127.0.0.1 with a free port and drives it with libcurl and raw sockets. Expected
 * values are worked out here from the seed (counts, member hashes computed with OpenSSL's HMAC
 * directly), never copied from the server's output. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/buf.h"
#include "core/hash.h"
#include "db/store.h"
#include "http_harness.h"

#define HMAC_KEY "http-test-hmac-key-not-a-secret"
#define RAW_MEMBER_ID "RAWMEMBER-7Q4Z-99821"
#define N_MEMBERS 12
#define MEASURE_A "BCS"
#define MEASURE_B "COL"
#define YEAR 2025

static char db_url[2048];
static char tmpdir[256];
static char base_url[128];
static int port;
static pid_t server_pid;
static char server_log[512];
static char key_admin[128], key_writer[128], key_reader[128], key_revoked[128];
static struct sg_buf transcript; /* every response body and header block, searched for the raw ID */
static int is_pg;
static CURL *shared_curl; /* reused: keep-alive */

/* seeded entities */
static char member_hash[N_MEMBERS][SG_HEX64_LEN];
static char gap_id[N_MEMBERS][2][STORE_ID_LEN]; /* [member][0: MEASURE_A, 1: MEASURE_B] */
static char sim_ids[3][STORE_ID_LEN];

/* ---------------------------------------------------------------- helpers */

static void hmac_hex(const char *id, char out[SG_HEX64_LEN])
{
    unsigned char mac[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), HMAC_KEY, (int)strlen(HMAC_KEY), (const unsigned char *)id, strlen(id), mac, &len);
    for (unsigned i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", mac[i]);
}

/* ---------------------------------------------------------------- seeding */

static const struct store_actor seed_actor = {.user_id = "test-seed", .ip_address = ""};

static void seed(void)
{
    struct store *st;
    char err[SG_ERRLEN];
    int rc = store_open(db_url, NULL, &st, err, sizeof err);
    if (rc) fprintf(stderr, "store_open: %s\n", err);
    assert_int_equal(rc, SG_OK);

    /* the catalog must know the two measures for YEAR */
    struct store_measure m;
    if (store_measure_get(st, YEAR, MEASURE_A, &m, err, sizeof err) != SG_OK ||
        store_measure_get(st, YEAR, MEASURE_B, &m, err, sizeof err) != SG_OK) {
        struct store_measure rows[2];
        memset(rows, 0, sizeof rows);
        const char *codes[2] = {MEASURE_A, MEASURE_B}, *ids[2] = {"C01", "C02"};
        for (int i = 0; i < 2; i++) {
            rows[i].star_year = YEAR;
            strcpy(rows[i].code, codes[i]);
            strcpy(rows[i].cms_id, ids[i]);
            snprintf(rows[i].name, sizeof rows[i].name, "measure %s", codes[i]);
            rows[i].part = 'C';
            strcpy(rows[i].domain, "Staying Healthy");
            rows[i].weighting_category = STORE_WCAT_PROCESS;
            rows[i].weight = 1;
            rows[i].direction = STORE_HIGHER_BETTER;
            rows[i].member_level = 1;
        }
        rc = store_measure_upsert_batch(st, &seed_actor, rows, 2, err, sizeof err);
        if (rc) fprintf(stderr, "measure seed: %s\n", err);
        assert_int_equal(rc, SG_OK);
    }
    /* members 0..11: contract H0001 for even, H0002 for odd; gaps for both measures;
     * priority = member index (A) and 100 + index (B); probability 0.05 * (index + 1) */
    for (int i = 0; i < N_MEMBERS; i++) {
        char id[32];
        snprintf(id, sizeof id, "seed-member-%02d", i);
        hmac_hex(id, member_hash[i]);
        struct store_member mem;
        memset(&mem, 0, sizeof mem);
        strcpy(mem.member_hash, member_hash[i]);
        strcpy(mem.contract_id, i % 2 ? "H0002" : "H0001");
        mem.active = 1;
        mem.dual_eligible = mem.lis = mem.disabled = -1;
        rc = store_member_create(st, &seed_actor, &mem, err, sizeof err);
        if (rc) fprintf(stderr, "member seed: %s\n", err);
        assert_int_equal(rc, SG_OK);
        for (int k = 0; k < 2; k++) {
            struct store_gap g;
            memset(&g, 0, sizeof g);
            strcpy(g.member_hash, member_hash[i]);
            strcpy(g.measure_code, k ? MEASURE_B : MEASURE_A);
            g.measurement_year = YEAR;
            g.gap_probability = 0.05 * (i + 1);
            g.priority_score = k ? 100 + i : i;
            g.estimated_cost = NAN;
            g.estimated_value = NAN;
            g.status = STORE_GAP_IDENTIFIED;
            rc = store_gap_create(st, &seed_actor, &g, err, sizeof err);
            if (rc) fprintf(stderr, "gap seed: %s\n", err);
            assert_int_equal(rc, SG_OK);
            strcpy(gap_id[i][k], g.gap_id);
        }
    }
    /* two snapshots, one rating, three simulations */
    for (int i = 0; i < 2; i++) {
        struct store_snapshot s;
        memset(&s, 0, sizeof s);
        s.measurement_year = YEAR;
        s.total_members = 100 + i;
        s.total_gaps = 40 - i;
        s.gaps_by_measure = "{\"BCS\":20}";
        s.gaps_by_tier = "{\"high\":5}";
        s.star_rating_current = 3.5;
        s.star_rating_projected = 4.0;
        s.estimated_value = NAN;
        rc = store_snapshot_create(st, &seed_actor, &s, err, sizeof err);
        if (rc) fprintf(stderr, "snapshot seed: %s\n", err);
        assert_int_equal(rc, SG_OK);
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    struct store_star_rating r;
    memset(&r, 0, sizeof r);
    strcpy(r.contract_id, "H0001");
    r.star_year = 2026;
    r.measurement_year = 2024;
    r.part_c = 4.0;
    r.part_d = 3.5;
    r.overall = 4.0;
    r.measure_stars = "{\"BCS\":4}";
    r.measure_scores = "{\"BCS\":71}";
    r.reward_factor = 0.1;
    r.cai = NAN;
    rc = store_star_rating_create(st, &seed_actor, &r, err, sizeof err);
    if (rc) fprintf(stderr, "rating seed: %s\n", err);
    assert_int_equal(rc, SG_OK);
    for (int i = 0; i < 3; i++) {
        struct store_simulation s;
        memset(&s, 0, sizeof s);
        strcpy(s.contract_id, "H0001");
        s.measurement_year = YEAR;
        strcpy(s.strategy, i == 2 ? "bundled" : "greedy");
        s.closure_rate = 0.1 * (i + 1);
        s.baseline_stars = 3.5;
        s.projected_stars = 4.0;
        s.revenue_impact = 1000.0 * (i + 1);
        s.investment_required = 10.0;
        s.roi = 2.5;
        s.gaps_closed = 10 * (i + 1);
        s.members_impacted = 5;
        rc = store_simulation_create(st, &seed_actor, &s, err, sizeof err);
        if (rc) fprintf(stderr, "simulation seed: %s\n", err);
        assert_int_equal(rc, SG_OK);
        strcpy(sim_ids[i], s.simulation_id);
    }
    store_close(st);
}

/* ---------------------------------------------------------------- setup */

static int group_setup(void **state)
{
    (void)state;
    sg_buf_init(&transcript, 256u << 20);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    shared_curl = curl_easy_init();
    http_harness_bind(db_url, server_log, base_url, shared_curl);
    http_harness_set_transcript(&transcript);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sg-http-test-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    chmod(tmpdir, 0755);
    if (!is_pg) snprintf(db_url, sizeof db_url, "sqlite:%s/test.db", tmpdir);
    snprintf(server_log, sizeof server_log, "%s/server.log", tmpdir);
    setenv("STARGAP_HASH_KEY", HMAC_KEY, 1);
    setenv("STARGAP_RATE_LIMIT_PER_MIN", "1000000", 1);
    setenv("STARGAP_BODY_LIMIT", "65536", 1);
    setenv("STARGAP_HTTP_THREADS", "4", 1);
    char out[4096];
    stargap("migrate", "up", NULL, NULL, NULL, NULL, out, sizeof out, 0);
    create_key("t-admin", "admin", key_admin);
    create_key("t-writer", "writer", key_writer);
    create_key("t-reader", "reader", key_reader);
    create_key("t-revoked", "writer", key_revoked);
    stargap("keys", "revoke", "t-revoked", NULL, NULL, NULL, out, sizeof out, 0);
    stargap("keys", "list", NULL, NULL, NULL, NULL, out, sizeof out, 0);
    if (!strstr(out, "t-revoked") || !strstr(out, "t-admin")) return -1;
    seed();
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
    sg_buf_fini(&transcript);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return 0;
}

/* ---------------------------------------------------------------- tests */

/* `stargap keys`: usage errors exit 2, a failed operation 1; a revoked key stays listed. */
static void test_keys_cli(void **state)
{
    (void)state;
    char out[4096];
    stargap("keys", "create", "--name", "x-bad-role", "--role", "boss", out, sizeof out, 2);
    stargap("keys", "create", "--name", "t-admin", "--role", "reader", out, sizeof out, 2); /* duplicate */
    stargap("keys", "create", "--name", "x-missing-role", NULL, NULL, out, sizeof out, 2);
    stargap("keys", "revoke", "no-such-key", NULL, NULL, NULL, out, sizeof out, 1);
    stargap("keys", "frobnicate", NULL, NULL, NULL, NULL, out, sizeof out, 2);
    stargap("keys", "list", NULL, NULL, NULL, NULL, out, sizeof out, 0);
    const char *line = strstr(out, "t-revoked");
    assert_non_null(line);
    const char *eol = strchr(line, '\n');
    assert_non_null(eol);
    char row[256];
    snprintf(row, sizeof row, "%.*s", (int)(eol - line), line);
    assert_non_null(strstr(row, "writer"));
    const char *last = strrchr(row, ' ');
    assert_non_null(last);
    assert_string_not_equal(last + 1, "-"); /* REVOKED holds a timestamp */
    const char *admin = strstr(out, "t-admin");
    assert_non_null(admin);
    eol = strchr(admin, '\n');
    snprintf(row, sizeof row, "%.*s", (int)(eol - admin), admin);
    last = strrchr(row, ' ');
    assert_string_equal(last + 1, "-"); /* an active key */
    assert_null(strstr(out, "sgk_")); /* keys are never listed */
}

static void test_health(void **state)
{
    (void)state;
    struct resp r;
    http("GET", "/health", NULL, NULL, NULL, &r);
    expect_status(&r, 200, "health");
    assert_string_equal(jstr(r.json, "status"), "ok");
    resp_free(&r);
    http("GET", "/health/live", NULL, NULL, NULL, &r);
    expect_status(&r, 200, "live");
    resp_free(&r);
    http("GET", "/health/ready", NULL, NULL, NULL, &r);
    expect_status(&r, 200, "ready");
    assert_string_equal(jstr(r.json, "status"), "ready");
    assert_true(jint(r.json, "schema_version") >= 1);
    resp_free(&r);
    http("GET", "/health?x=1", NULL, NULL, NULL, &r);
    expect_error(&r, 400, "invalid_input", "'x'", "health unknown param");
    resp_free(&r);
}

static void test_request_id(void **state)
{
    (void)state;
    struct resp r;
    http("GET", "/health", NULL, NULL, "X-Request-ID: trace-abc.123", &r);
    assert_string_equal(r.reqid, "trace-abc.123");
    resp_free(&r);
    http("GET", "/health", NULL, NULL, "X-Request-ID: bad id with spaces", &r);
    assert_true(sg_is_uuid(r.reqid));
    resp_free(&r);
    http("GET", "/nope", NULL, NULL, "X-Request-ID: err-req-1", &r);
    expect_error(&r, 404, "not_found", NULL, "404");
    assert_string_equal(r.reqid, "err-req-1");
    resp_free(&r);
    char *end;
    http("GET", "/health", NULL, NULL, NULL, &r);
    double ms = strtod(r.ptime, &end);
    assert_true(*end == '\0' && ms >= 0 && ms < 10000);
    resp_free(&r);
}

static void test_auth_and_roles(void **state)
{
    (void)state;
    struct resp r;
    http("GET", "/api/v1/gaps", NULL, NULL, NULL, &r);
    expect_error(&r, 401, "unauthorized", "API key", "no key");
    resp_free(&r);
    http("GET", "/api/v1/gaps", "sgk_0000000000000000000000000000000000000000000000000000000000000000", NULL, NULL, &r);
    expect_error(&r, 401, "unauthorized", NULL, "invalid key");
    resp_free(&r);
    http("GET", "/api/v1/gaps", key_revoked, NULL, NULL, &r);
    expect_error(&r, 401, "unauthorized", "revoked", "revoked key");
    resp_free(&r);
    char bearer[200];
    snprintf(bearer, sizeof bearer, "Authorization: Bearer %s", key_reader);
    http("GET", "/api/v1/gaps?limit=1", NULL, NULL, bearer, &r);
    expect_status(&r, 200, "bearer");
    resp_free(&r);
    http("GET", "/api/v1/gaps", NULL, NULL, "Authorization: Basic dXNlcjpwYXNz", &r);
    expect_error(&r, 401, "unauthorized", "Bearer", "basic auth");
    resp_free(&r);
    char path[200];
    snprintf(path, sizeof path, "/api/v1/gaps/%s", gap_id[0][0]);
    http("PATCH", path, key_reader, "{\"status\":\"assigned\"}", NULL, &r);
    expect_error(&r, 403, "forbidden", "writer", "reader patch");
    resp_free(&r);
    http("GET", "/api/v1/admin/audit/verify", key_writer, NULL, NULL, &r);
    expect_error(&r, 403, "forbidden", "admin", "writer admin");
    resp_free(&r);
    http("GET", "/metrics", NULL, NULL, NULL, &r);
    expect_status(&r, 401, "metrics without key");
    resp_free(&r);
}

static void test_routing_errors(void **state)
{
    (void)state;
    struct resp r;
    http("GET", "/api/v1/unknown", key_reader, NULL, NULL, &r);
    expect_error(&r, 404, "not_found", NULL, "unknown route");
    resp_free(&r);
    http("DELETE", "/api/v1/gaps", key_admin, NULL, NULL, &r);
    expect_error(&r, 405, "method_not_allowed", NULL, "405");
    assert_string_equal(r.allow, "GET");
    resp_free(&r);
    http("PUT", "/api/v1/interventions/00000000-0000-4000-8000-000000000000", key_admin, NULL, NULL, &r);
    expect_status(&r, 405, "405 iv");
    assert_string_equal(r.allow, "GET, PATCH");
    resp_free(&r);
    http("GET", "/api/v1/gaps/not-a-uuid", key_reader, NULL, NULL, &r);
    expect_error(&r, 400, "invalid_input", "UUID", "bad uuid");
    resp_free(&r);
    http("GET", "/api/v1/gaps/00000000-0000-4000-8000-000000000000", key_reader, NULL, NULL, &r);
    expect_error(&r, 404, "not_found", NULL, "missing gap");
    resp_free(&r);
    http("GET", "/api/v1/members/abc", key_reader, NULL, NULL, &r);
    expect_error(&r, 400, "invalid_input", "member_hash", "bad hash");
    resp_free(&r);
    http("GET", "/api/v1/gaps?colour=red", key_reader, NULL, NULL, &r);
    expect_error(&r, 400, "invalid_input", "unknown query parameter 'colour'", "unknown param");
    resp_free(&r);
    http("GET", "/api/v1/gaps?limit=0", key_reader, NULL, NULL, &r);
    expect_error(&r, 400, "invalid_input", "'limit'", "limit 0");
    resp_free(&r);
    http("GET", "/api/v1/gaps?limit=1001", key_reader, NULL, NULL, &r);
    expect_error(&r, 400, "invalid_input", "'limit'", "limit 1001");
    resp_free(&r);
    http("GET", "/api/v1/gaps?limit=ten", key_reader, NULL, NULL, &r);
    expect_error(&r, 400, "invalid_input", "integer", "limit text");
    resp_free(&r);
    http("GET", "/api/v1/gaps?status=open", key_reader, NULL, NULL, &r);
    expect_error(&r, 400, "invalid_input", "identified", "bad enum");
    resp_free(&r);
    http("GET", "/api/v1/gaps?limit=1&limit=2", key_reader, NULL, NULL, &r);
    expect_error(&r, 400, "invalid_input", "more than once", "dup param");
    resp_free(&r);
    http("GET", "/api/v1/interventions/pending?date=2025-02-30", key_reader, NULL, NULL, &r);
    expect_error(&r, 400, "invalid_input", "'date'", "bad date");
    resp_free(&r);
    http("GET", "/api/v1/interventions?member=xyz", key_reader, NULL, NULL, &r);
    expect_error(&r, 400, "invalid_input", "'member'", "bad member");
    resp_free(&r);
    http("GET", "/api/v1/admin/api-stats?hours=0", key_admin, NULL, NULL, &r);
    expect_error(&r, 400, "invalid_input", "'hours'", "hours 0");
    resp_free(&r);
}

static void test_members(void **state)
{
    (void)state;
    struct resp r;
    char expect_hash[SG_HEX64_LEN];
    hmac_hex(RAW_MEMBER_ID, expect_hash);
    const char *body = "{\"member_id\":\"" RAW_MEMBER_ID "\",\"contract_id\":\"H0003\",\"birth_year\":1950,\"sex\":\"F\"}";
    http("POST", "/api/v1/members", key_writer, body, NULL, &r);
    expect_status(&r, 201, "member create");
    assert_string_equal(jstr(r.json, "member_hash"), expect_hash);
    assert_true(json_is_true(json_object_get(r.json, "created")));
    assert_string_equal(jstr(r.json, "contract_id"), "H0003");
    resp_free(&r);
    http("POST", "/api/v1/members", key_writer, body, NULL, &r);
    expect_status(&r, 200, "member get_or_create");
    assert_string_equal(jstr(r.json, "member_hash"), expect_hash);
    assert_true(json_is_false(json_object_get(r.json, "created")));
    resp_free(&r);

    char path[200];
    snprintf(path, sizeof path, "/api/v1/members/%s", expect_hash);
    http("GET", path, key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "member get");
    assert_int_equal(jint(r.json, "birth_year"), 1950);
    assert_string_equal(jstr(r.json, "sex"), "F");
    resp_free(&r);
    http("GET", "/api/v1/members/0000000000000000000000000000000000000000000000000000000000000000", key_reader,
         NULL, NULL, &r);
    expect_error(&r, 404, "not_found", NULL, "member missing");
    resp_free(&r);

    /* bad bodies: each names the problem; none echoes the raw ID */
    http("POST", "/api/v1/members", key_writer, "{\"member_id\":\"" RAW_MEMBER_ID "\",", NULL, &r);
    expect_error(&r, 400, "malformed_json", "line 1", "truncated JSON");
    resp_free(&r);
    http("POST", "/api/v1/members", key_writer, "{\"member_id\": " RAW_MEMBER_ID "}", NULL, &r);
    expect_error(&r, 400, "malformed_json", NULL, "bare word");
    resp_free(&r);
    http("POST", "/api/v1/members", key_writer, "{\"member_id\":42,\"contract_id\":\"H1\"}", NULL, &r);
    expect_error(&r, 400, "invalid_input", "member_id: expected a string, got an integer", "wrong type");
    resp_free(&r);
    http("POST", "/api/v1/members", key_writer, "{\"member_id\":\"a\",\"contract_id\":\"H1\",\"ssn\":\"x\"}", NULL, &r);
    expect_error(&r, 400, "invalid_input", "unknown field 'ssn'", "unknown field");
    resp_free(&r);
    http("POST", "/api/v1/members", key_writer, "{\"member_id\":\"a\",\"member_id\":\"b\",\"contract_id\":\"H1\"}", NULL, &r);
    expect_error(&r, 400, "malformed_json", "duplicate", "duplicate key");
    resp_free(&r);
    http("POST", "/api/v1/members", key_writer, "{\"member_id\":\"\xff\xfe\",\"contract_id\":\"H1\"}", NULL, &r);
    expect_error(&r, 400, "malformed_json", NULL, "invalid UTF-8");
    resp_free(&r);
    http("POST", "/api/v1/members", key_writer, "[1,2]", NULL, &r);
    expect_error(&r, 400, "invalid_input", "object", "array body");
    resp_free(&r);
    http("POST", "/api/v1/members", key_writer, "{\"member_id\":\"a\",\"contract_id\":\"H1\",\"birth_year\":1800}", NULL, &r);
    expect_error(&r, 400, "invalid_input", "birth_year", "out of range");
    resp_free(&r);
    http("POST", "/api/v1/members", key_writer, "{\"contract_id\":\"H1\"}", NULL, &r);
    expect_error(&r, 400, "invalid_input", "member_id: is required", "missing field");
    resp_free(&r);
    http("POST", "/api/v1/members", key_writer, "member_id=a", "Content-Type: application/x-www-form-urlencoded", &r);
    expect_error(&r, 415, "unsupported_media_type", NULL, "415");
    resp_free(&r);
    /* body limit is 65536 in this server */
    size_t big = 70000;
    char *huge = malloc(big + 64);
    strcpy(huge, "{\"member_id\":\"");
    memset(huge + strlen(huge), 'x', big);
    strcpy(huge + 14 + big, "\",\"contract_id\":\"H1\"}");
    http("POST", "/api/v1/members", key_writer, huge, NULL, &r);
    expect_error(&r, 413, "too_large", NULL, "413");
    resp_free(&r);
    free(huge);
}

/* Expected totals from the seed: 12 members x 2 measures = 24 identified gaps; contract H0001
 * has the even members (6) -> 12 gaps; priority of MEASURE_A gaps is the member index. */
static void test_gaps(void **state)
{
    (void)state;
    struct resp r;
    http("GET", "/api/v1/gaps?year=2025&limit=5", key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "gaps list");
    assert_int_equal(jint(r.json, "total"), 2 * N_MEMBERS);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 5);
    assert_true(json_is_true(json_object_get(r.json, "has_more")));
    /* sorted by priority, highest first: member 11 measure B (111), then 110, ... */
    json_t *first = json_array_get(json_object_get(r.json, "items"), 0);
    assert_string_equal(jstr(first, "gap_id"), gap_id[N_MEMBERS - 1][1]);
    assert_true(fabs(json_real_value(json_object_get(first, "priority_score")) - 111.0) < 1e-9);
    resp_free(&r);
    http("GET", "/api/v1/gaps?measure=" MEASURE_A "&contract=H0001&limit=50", key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "gaps filtered");
    assert_int_equal(jint(r.json, "total"), N_MEMBERS / 2);
    assert_true(json_is_false(json_object_get(r.json, "has_more")));
    resp_free(&r);
    http("GET", "/api/v1/gaps?measure=" MEASURE_A "&min_priority=8&limit=50", key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "gaps min priority");
    assert_int_equal(jint(r.json, "total"), 4); /* members 8, 9, 10, 11 */
    resp_free(&r);
    http("GET", "/api/v1/gaps?measure=" MEASURE_A "&sort=probability&limit=1&offset=1", key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "gaps by probability");
    first = json_array_get(json_object_get(r.json, "items"), 0);
    assert_string_equal(jstr(first, "gap_id"), gap_id[N_MEMBERS - 2][0]);
    assert_true(fabs(json_real_value(json_object_get(first, "gap_probability")) - 0.55) < 1e-9);
    resp_free(&r);
    http("GET", "/api/v1/gaps/high-priority?min_priority=110&limit=10", key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "high priority");
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 2); /* 110, 111 */
    resp_free(&r);

    char path[200];
    snprintf(path, sizeof path, "/api/v1/gaps/%s", gap_id[3][0]);
    http("GET", path, key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "gap get");
    assert_string_equal(jstr(r.json, "member_hash"), member_hash[3]);
    assert_string_equal(jstr(r.json, "status"), "identified");
    assert_true(json_is_null(json_object_get(r.json, "assigned_date")));
    resp_free(&r);

    http("PATCH", path, key_writer, "{\"status\":\"assigned\"}", NULL, &r);
    expect_status(&r, 200, "gap assign");
    assert_string_equal(jstr(r.json, "status"), "assigned");
    assert_true(json_is_string(json_object_get(r.json, "assigned_date")));
    resp_free(&r);
    http("PATCH", path, key_writer, "{\"status\":\"identified\"}", NULL, &r);
    expect_error(&r, 422, "invalid_transition", NULL, "backwards transition");
    resp_free(&r);
    http("PATCH", path, key_writer, "{\"status\":\"assigned\"}", NULL, &r);
    expect_error(&r, 422, "invalid_transition", NULL, "no-op transition");
    resp_free(&r);
    http("PATCH", path, key_writer, "{\"status\":\"done\"}", NULL, &r);
    expect_error(&r, 400, "invalid_input", "status", "bad status");
    resp_free(&r);
    http("PATCH", path, key_writer, "{\"status\":1}", NULL, &r);
    expect_error(&r, 400, "invalid_input", "status: expected a string", "status type");
    resp_free(&r);
    http("PATCH", path, key_writer, "{\"status\":\"completed\",\"note\":\"x\"}", NULL, &r);
    expect_error(&r, 400, "invalid_input", "unknown field 'note'", "extra field");
    resp_free(&r);
    http("PATCH", path, key_writer, "", NULL, &r);
    expect_error(&r, 400, "invalid_input", "body", "empty body");
    resp_free(&r);

    snprintf(path, sizeof path, "/api/v1/gaps/%s/close", gap_id[3][0]);
    http("POST", path, key_writer, NULL, NULL, &r);
    expect_status(&r, 200, "gap close");
    assert_string_equal(jstr(r.json, "status"), "closed");
    resp_free(&r);
    http("POST", path, key_writer, NULL, NULL, &r);
    expect_error(&r, 422, "invalid_transition", NULL, "close twice");
    resp_free(&r);

    /* one audit row per write, with the writer's key name: create (seed) + assign + close */
    snprintf(path, sizeof path, "/api/v1/admin/audit?entity_type=gap&entity_id=%s", gap_id[3][0]);
    http("GET", path, key_admin, NULL, NULL, &r);
    expect_status(&r, 200, "gap audit");
    json_t *items = json_object_get(r.json, "items");
    int by_writer = 0, by_seed = 0;
    for (size_t i = 0; i < json_array_size(items); i++) {
        const char *u = jstr(json_array_get(items, i), "user_id");
        by_writer += !strcmp(u, "t-writer");
        by_seed += !strcmp(u, "test-seed");
    }
    assert_int_equal(by_writer, 2);
    assert_int_equal(by_seed, 1);
    assert_int_equal(json_array_size(items), 3);
    resp_free(&r);
}

static void test_member_reads_audited(void **state)
{
    (void)state;
    struct resp r;
    char path[300];
    snprintf(path, sizeof path, "/api/v1/members/%s/history?limit=10", member_hash[5]);
    http("GET", path, key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "history");
    assert_int_equal(jint(r.json, "total"), 2); /* two gaps */
    json_t *items = json_object_get(r.json, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(jstr(json_array_get(items, 0), "kind"), "gap");
    resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/members/%s/bundles", member_hash[5]);
    http("GET", path, key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "bundles");
    assert_int_equal(jint(r.json, "total"), 0);
    resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/admin/audit?entity_type=member&entity_id=%s", member_hash[5]);
    http("GET", path, key_admin, NULL, NULL, &r);
    expect_status(&r, 200, "member audit");
    items = json_object_get(r.json, "items");
    int reads = 0;
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *a = json_array_get(items, i);
        if (!strncmp(jstr(a, "action"), "read", 4) && !strcmp(jstr(a, "user_id"), "t-reader")) reads++;
    }
    assert_int_equal(reads, 2); /* history + bundles */
    resp_free(&r);
}

static void test_interventions(void **state)
{
    (void)state;
    struct resp r;
    char body[600], path[200], iv1[64], iv2[64];
    /* single gap: member 6, measure A */
    snprintf(body, sizeof body,
             "{\"gap_id\":\"%s\",\"member_hash\":\"%s\",\"intervention_type\":\"outreach_call\","
             "\"estimated_cost\":25.5,\"scheduled_date\":\"2025-03-01\"}",
             gap_id[6][0], member_hash[6]);
    http("POST", "/api/v1/interventions", key_writer, body, NULL, &r);
    expect_status(&r, 201, "iv create");
    strcpy(iv1, jstr(r.json, "intervention_id"));
    assert_string_equal(jstr(r.json, "status"), "planned");
    assert_string_equal(json_string_value(json_array_get(json_object_get(r.json, "measure_codes"), 0)), MEASURE_A);
    assert_true(fabs(json_real_value(json_object_get(r.json, "estimated_cost")) - 25.5) < 1e-9);
    resp_free(&r);
    /* bundle: member 7, both measures */
    snprintf(body, sizeof body,
             "{\"member_hash\":\"%s\",\"measure_codes\":[\"%s\",\"%s\"],\"intervention_type\":\"home_visit\","
             "\"scheduled_date\":\"2025-04-01\"}",
             member_hash[7], MEASURE_A, MEASURE_B);
    http("POST", "/api/v1/interventions", key_writer, body, NULL, &r);
    expect_status(&r, 201, "bundle create");
    strcpy(iv2, jstr(r.json, "intervention_id"));
    assert_true(json_is_null(json_object_get(r.json, "gap_id")));
    resp_free(&r);
    /* bad inputs */
    http("POST", "/api/v1/interventions", key_writer, "{\"member_hash\":\"zz\",\"intervention_type\":\"x\",\"measure_codes\":[\"BCS\"]}", NULL, &r);
    expect_error(&r, 400, "invalid_input", "member_hash", "bad hash");
    resp_free(&r);
    snprintf(body, sizeof body, "{\"member_hash\":\"%s\",\"intervention_type\":\"x\"}", member_hash[7]);
    http("POST", "/api/v1/interventions", key_writer, body, NULL, &r);
    expect_error(&r, 400, "invalid_input", "measure_codes", "bundle without codes");
    resp_free(&r);
    snprintf(body, sizeof body, "{\"member_hash\":\"%s\",\"intervention_type\":\"x\",\"measure_codes\":\"BCS\"}", member_hash[7]);
    http("POST", "/api/v1/interventions", key_writer, body, NULL, &r);
    expect_error(&r, 400, "invalid_input", "measure_codes: expected an array", "codes type");
    resp_free(&r);
    snprintf(body, sizeof body, "{\"member_hash\":\"%s\",\"intervention_type\":\"x\",\"measure_codes\":[\"BCS\"],\"estimated_cost\":-1}", member_hash[7]);
    http("POST", "/api/v1/interventions", key_writer, body, NULL, &r);
    expect_error(&r, 400, "invalid_input", "estimated_cost", "negative cost");
    resp_free(&r);
    snprintf(body, sizeof body, "{\"gap_id\":\"%s\",\"member_hash\":\"%s\",\"intervention_type\":\"x\"}", gap_id[6][0], member_hash[8]);
    http("POST", "/api/v1/interventions", key_writer, body, NULL, &r);
    assert_true(r.status == 400 || r.status == 422 || r.status == 409);
    resp_free(&r);

    snprintf(path, sizeof path, "/api/v1/interventions/%s", iv1);
    http("GET", path, key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "iv get");
    assert_string_equal(jstr(r.json, "gap_id"), gap_id[6][0]);
    resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/interventions?member=%s", member_hash[7]);
    http("GET", path, key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "iv list member");
    assert_int_equal(jint(r.json, "total"), 1);
    resp_free(&r);
    http("GET", "/api/v1/interventions/pending?date=2025-03-15", key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "pending");
    assert_int_equal(jint(r.json, "total"), 1); /* iv1 (03-01); iv2 is 04-01 */
    assert_string_equal(jstr(json_array_get(json_object_get(r.json, "items"), 0), "intervention_id"), iv1);
    resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/members/%s/bundles", member_hash[7]);
    http("GET", path, key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "bundles");
    assert_int_equal(jint(r.json, "total"), 1);
    resp_free(&r);

    snprintf(path, sizeof path, "/api/v1/interventions/%s", iv1);
    http("PATCH", path, key_writer, "{\"status\":\"in_progress\",\"scheduled_date\":\"2025-03-02\"}", NULL, &r);
    expect_status(&r, 200, "iv patch");
    assert_string_equal(jstr(r.json, "status"), "in_progress");
    assert_string_equal(jstr(r.json, "scheduled_date"), "2025-03-02");
    resp_free(&r);
    http("PATCH", path, key_writer, "{\"status\":\"planned\"}", NULL, &r);
    expect_error(&r, 422, "invalid_transition", NULL, "iv back to planned");
    resp_free(&r);
    http("PATCH", path, key_writer, "{}", NULL, &r);
    expect_error(&r, 400, "invalid_input", "nothing to change", "iv empty patch");
    resp_free(&r);

    /* completing the bundle with success closes member 7's two open gaps */
    snprintf(path, sizeof path, "/api/v1/interventions/%s/complete", iv2);
    http("POST", path, key_writer, "{\"outcome\":\"maybe\"}", NULL, &r);
    expect_error(&r, 400, "invalid_input", "outcome", "bad outcome");
    resp_free(&r);
    http("POST", path, key_writer, "{\"outcome\":\"success\"}", NULL, &r);
    expect_status(&r, 200, "complete");
    assert_string_equal(jstr(r.json, "status"), "completed");
    assert_string_equal(jstr(r.json, "outcome"), "success");
    assert_int_equal(jint(r.json, "gaps_closed"), 2);
    resp_free(&r);
    http("POST", path, key_writer, "{\"outcome\":\"success\"}", NULL, &r);
    expect_error(&r, 422, "invalid_transition", NULL, "complete twice");
    resp_free(&r);
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "/api/v1/gaps/%s", gap_id[7][k]);
        http("GET", path, key_reader, NULL, NULL, &r);
        assert_string_equal(jstr(r.json, "status"), "closed");
        resp_free(&r);
        /* the closing is audited on the gap, by the writer: seed create + close */
        snprintf(path, sizeof path, "/api/v1/admin/audit?entity_type=gap&entity_id=%s", gap_id[7][k]);
        http("GET", path, key_admin, NULL, NULL, &r);
        expect_status(&r, 200, "closed gap audit");
        assert_int_equal(jint(r.json, "total"), 2);
        assert_string_equal(jstr(json_array_get(json_object_get(r.json, "items"), 0), "user_id"), "t-writer");
        resp_free(&r);
    }
    /* iv1: created and updated once (the rejected PATCHes wrote nothing), both by the writer */
    snprintf(path, sizeof path, "/api/v1/admin/audit?entity_type=intervention&entity_id=%s", iv1);
    http("GET", path, key_admin, NULL, NULL, &r);
    expect_status(&r, 200, "iv audit");
    json_t *items = json_object_get(r.json, "items");
    assert_int_equal(json_array_size(items), 2);
    for (size_t i = 0; i < 2; i++) assert_string_equal(jstr(json_array_get(items, i), "user_id"), "t-writer");
    assert_string_equal(jstr(json_array_get(items, 1), "action"), "create");
    assert_string_equal(jstr(json_array_get(items, 0), "ip_address"), "127.0.0.1");
    resp_free(&r);
}

static void test_portfolio_stars_sims(void **state)
{
    (void)state;
    struct resp r;
    http("GET", "/api/v1/portfolio/snapshots?year=2025", key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "snapshots");
    assert_int_equal(jint(r.json, "total"), 2);
    assert_int_equal(jint(json_array_get(json_object_get(r.json, "items"), 0), "total_members"), 101);
    resp_free(&r);
    http("GET", "/api/v1/portfolio/snapshots/latest?year=2025", key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "snapshot latest");
    assert_int_equal(jint(r.json, "total_gaps"), 39);
    assert_int_equal(jint(json_object_get(r.json, "gaps_by_measure"), "BCS"), 20);
    resp_free(&r);
    http("GET", "/api/v1/portfolio/snapshots/latest?year=2031", key_reader, NULL, NULL, &r);
    expect_error(&r, 404, "not_found", NULL, "no snapshot");
    resp_free(&r);
    http("GET", "/api/v1/portfolio/trends?year=2025&days=30", key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "trends");
    assert_int_equal(json_array_size(json_object_get(r.json, "points")), 2);
    assert_int_equal(jint(json_array_get(json_object_get(r.json, "points"), 0), "total_members"), 100); /* oldest first */
    resp_free(&r);
    http("GET", "/api/v1/star-ratings/latest?contract=H0001", key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "stars latest");
    assert_true(fabs(json_real_value(json_object_get(r.json, "overall")) - 4.0) < 1e-9);
    assert_true(json_is_null(json_object_get(r.json, "cai")));
    resp_free(&r);
    http("GET", "/api/v1/star-ratings/history", key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "stars history");
    assert_int_equal(jint(r.json, "total"), 1);
    resp_free(&r);
    char path[200];
    snprintf(path, sizeof path, "/api/v1/simulations/%s", sim_ids[1]);
    http("GET", path, key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "sim get");
    assert_int_equal(jint(r.json, "gaps_closed"), 20);
    resp_free(&r);
    http("GET", "/api/v1/simulations?strategy=greedy", key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "sim list");
    assert_int_equal(jint(r.json, "total"), 2);
    resp_free(&r);
    char body[200];
    snprintf(body, sizeof body, "{\"ids\":[\"%s\",\"%s\"]}", sim_ids[2], sim_ids[0]);
    http("POST", "/api/v1/simulations/compare", key_reader, body, NULL, &r);
    expect_status(&r, 200, "compare");
    json_t *items = json_object_get(r.json, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(jstr(json_array_get(items, 0), "simulation_id"), sim_ids[2]);
    assert_string_equal(jstr(json_array_get(items, 1), "simulation_id"), sim_ids[0]);
    resp_free(&r);
    snprintf(body, sizeof body, "{\"ids\":[\"%s\"]}", sim_ids[2]);
    http("POST", "/api/v1/simulations/compare", key_reader, body, NULL, &r);
    expect_error(&r, 400, "invalid_input", "ids", "compare one");
    resp_free(&r);
    http("POST", "/api/v1/simulations/compare", key_reader, "{\"ids\":[\"x\",\"y\"]}", NULL, &r);
    expect_error(&r, 400, "invalid_input", "ids[0]", "compare bad ids");
    resp_free(&r);
    http("GET", "/api/v1/measures?star_year=2025", key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "measures");
    assert_true(jint(r.json, "total") >= 2);
    resp_free(&r);
    http("GET", "/api/v1/measures/" MEASURE_A "?star_year=2025", key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "measure");
    assert_string_equal(jstr(r.json, "code"), MEASURE_A);
    resp_free(&r);
    http("GET", "/api/v1/measures/NOPE?star_year=2025", key_reader, NULL, NULL, &r);
    expect_error(&r, 404, "not_found", NULL, "measure missing");
    resp_free(&r);
}

static void test_admin_and_metrics(void **state)
{
    (void)state;
    struct resp r;
    /* the request log is written asynchronously (a batch every 200 ms): wait for the rows of the
     * 100+ requests made so far to appear */
    long long total = 0;
    for (int i = 0; i < 50 && total <= 50; i++) {
        http("GET", "/api/v1/admin/api-stats?hours=1", key_admin, NULL, NULL, &r);
        expect_status(&r, 200, "api-stats");
        total = jint(r.json, "total");
        resp_free(&r);
        if (total <= 50) usleep(100000);
    }
    assert_true(total > 50);
    http("GET", "/api/v1/admin/api-errors?hours=1&limit=5", key_admin, NULL, NULL, &r);
    expect_status(&r, 200, "api-errors");
    json_t *items = json_object_get(r.json, "items");
    assert_int_equal(json_array_size(items), 5);
    assert_true(jint(json_array_get(items, 0), "status_code") >= 400);
    resp_free(&r);
    http("GET", "/api/v1/admin/api-slowest?hours=1&limit=3", key_admin, NULL, NULL, &r);
    expect_status(&r, 200, "api-slowest");
    items = json_object_get(r.json, "items");
    assert_int_equal(json_array_size(items), 3);
    assert_true(json_real_value(json_object_get(json_array_get(items, 0), "response_time_ms")) >=
                json_real_value(json_object_get(json_array_get(items, 2), "response_time_ms")));
    resp_free(&r);
    http("GET", "/api/v1/admin/audit/recent?hours=1&limit=5", key_admin, NULL, NULL, &r);
    expect_status(&r, 200, "audit recent");
    assert_true(jint(r.json, "total") > 10);
    resp_free(&r);
    http("GET", "/api/v1/admin/audit/verify", key_admin, NULL, NULL, &r);
    expect_status(&r, 200, "audit verify");
    assert_true(json_is_true(json_object_get(r.json, "ok")));
    assert_true(jint(r.json, "rows_checked") > 10);
    resp_free(&r);
    http("GET", "/api/v1/admin/audit", key_admin, NULL, NULL, &r);
    expect_error(&r, 400, "invalid_input", "entity_type", "audit without type");
    resp_free(&r);
    http("GET", "/metrics", key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "metrics");
    assert_non_null(strstr(r.ctype, "text/plain"));
    const char *t = sg_buf_str(&r.body);
    assert_non_null(strstr(t, "http_requests_total{route=\"/api/v1/gaps/{id}\",method=\"PATCH\",status=\"422\"}"));
    assert_non_null(strstr(t, "http_request_duration_seconds_bucket{route=\"/health\",method=\"GET\",le=\"+Inf\"}"));
    assert_non_null(strstr(t, "api_log_rows_dropped_total 0\n"));
    assert_non_null(strstr(t, "http_connections "));
    /* queued routes (POST /members, interventions) ran on the queue workers; the PATCHes above
     * were deferred on PostgreSQL (answered when their group committed, no worker waiting) and
     * requeued to the workers on SQLite (no asynchronous path) */
    assert_non_null(strstr(t, "http_queue_workers 128\n"));
    const char *qh = strstr(t, "\nhttp_queue_handled_total ");
    assert_non_null(qh);
    assert_true(strtoull(qh + strlen("\nhttp_queue_handled_total "), NULL, 10) > 0);
    const char *dh = strstr(t, "\nhttp_deferred_total ");
    assert_non_null(dh);
    unsigned long long deferred = strtoull(dh + strlen("\nhttp_deferred_total "), NULL, 10);
    if (is_pg) assert_true(deferred > 0);
    else assert_int_equal(deferred, 0);
    assert_non_null(strstr(t, is_pg ? "stargap_store_info{backend=\"postgres\"} 1" : "stargap_store_info{backend=\"sqlite\"} 1"));
    /* pool usage on PostgreSQL: the server has served requests, so it has acquired connections */
    const char *acq = strstr(t, "stargap_db_pool_events_total{event=\"acquire\"} ");
    if (is_pg) {
        assert_non_null(strstr(t, "stargap_db_pool_connections{state=\"max\"} "));
        assert_non_null(strstr(t, "\nstargap_db_pool_waiting "));
        assert_non_null(acq);
        assert_true(strtoull(acq + strlen("stargap_db_pool_events_total{event=\"acquire\"} "), NULL, 10) > 0);
    } else {
        assert_null(acq);
    }
    resp_free(&r);
}

/* The served document is the one in the repository, and documents exactly the route table
 * (the route-table side is checked by test_http_openapi). */
static void test_openapi_served(void **state)
{
    (void)state;
    struct resp r;
    http("GET", "/api/v1/openapi.json", key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "openapi");
    json_error_t je;
    json_t *file = json_load_file(STARGAP_SOURCE_DIR "/docs/openapi.json", 0, &je);
    assert_non_null(file);
    assert_true(json_equal(file, r.json));
    assert_string_equal(jstr(r.json, "openapi"), "3.1.0");
    json_decref(file);
    resp_free(&r);
}

static void test_keepalive_and_pipelining(void **state)
{
    (void)state;
    struct resp r;
    http("GET", "/health", NULL, NULL, NULL, &r);
    resp_free(&r);
    http("GET", "/health/live", NULL, NULL, NULL, &r);
    assert_int_equal(r.connects, 0); /* reused the open connection */
    resp_free(&r);

    /* four pipelined requests in one write, answered in order on one connection; the second
     * is a queued route (run by a queue worker with the connection suspended) */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const char *member = "{\"member_id\":\"pipelined-member-1\",\"contract_id\":\"H9999\"}";
    char reqs[2048];
    snprintf(reqs, sizeof reqs,
             "GET /health HTTP/1.1\r\nHost: x\r\nX-Request-ID: pipe-1\r\n\r\n"
             "POST /api/v1/members HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\nX-Request-ID: pipe-q\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s"
             "GET /api/v1/gaps?limit=1 HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\nX-Request-ID: pipe-2\r\n\r\n"
             "GET /nope HTTP/1.1\r\nHost: x\r\nX-Request-ID: pipe-3\r\n\r\n",
             key_writer, strlen(member), member, key_reader);
    assert_int_equal(write(fd, reqs, strlen(reqs)), (ssize_t)strlen(reqs));
    char buf[65536];
    size_t used = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (used < sizeof buf - 1) {
        buf[used] = '\0';
        const char *third = strstr(buf, "X-Request-ID: pipe-3");
        if (third && strstr(third, "}")) break;
        if (poll(&p, 1, 5000) <= 0) break;
        ssize_t n = read(fd, buf + used, sizeof buf - 1 - used);
        if (n <= 0) break;
        used += (size_t)n;
    }
    buf[used] = '\0';
    close(fd);
    const char *a = strstr(buf, "X-Request-ID: pipe-1"), *q = strstr(buf, "X-Request-ID: pipe-q"),
               *b = strstr(buf, "X-Request-ID: pipe-2"), *c = strstr(buf, "X-Request-ID: pipe-3");
    assert_non_null(a);
    assert_non_null(q);
    assert_non_null(b);
    assert_non_null(c);
    assert_true(a < q && q < b && b < c);
    assert_int_equal(strncmp(buf, "HTTP/1.1 200", 12), 0);
    const char *qs = strstr(a, "HTTP/1.1 "); /* the status line after pipe-1's is the queued one's */
    assert_non_null(qs);
    assert_true(qs < q);
    assert_true(!strncmp(qs, "HTTP/1.1 201", 12) || !strncmp(qs, "HTTP/1.1 200", 12));
    assert_non_null(strstr(buf, "HTTP/1.1 404"));
}

/* A declared body far above the limit is refused at once with 413, without reading it. */
static void test_huge_declared_body(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[512];
    snprintf(req, sizeof req,
             "POST /api/v1/members HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\nContent-Type: application/json\r\n"
             "Content-Length: 100000000\r\n\r\n{\"member_id\":\"",
             key_writer);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    char buf[4096];
    size_t used = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (used < sizeof buf - 1 && poll(&p, 1, 5000) > 0) {
        ssize_t n = read(fd, buf + used, sizeof buf - 1 - used);
        if (n <= 0) break;
        used += (size_t)n;
    }
    buf[used] = '\0';
    close(fd);
    assert_int_equal(strncmp(buf, "HTTP/1.1 413", 12), 0);
    assert_non_null(strstr(buf, "\"too_large\""));
    assert_non_null(strstr(buf, "X-Request-ID: "));
}

static void test_raw_member_id_never_kept(void **state)
{
    (void)state;
    /* responses */
    assert_null(memmem(transcript.data, transcript.len, RAW_MEMBER_ID, strlen(RAW_MEMBER_ID)));
    /* the server's log so far */
    char *log = NULL;
    size_t n = 0;
    FILE *f = fopen(server_log, "r");
    assert_non_null(f);
    log = malloc(64u << 20);
    n = fread(log, 1, (64u << 20) - 1, f);
    fclose(f);
    assert_true(n > 0);
    assert_null(memmem(log, n, RAW_MEMBER_ID, strlen(RAW_MEMBER_ID)));
    free(log);
}

/* Many clients at once: PATCH walks (valid and invalid transitions) on their own gaps and audited
 * history reads, so the server's group commit mixes writes, rejected writes and reads in the
 * same groups. Afterwards every acknowledged change has exactly one audit row, every rejected one
 * none, every read one, and the chain verifies. */
#define CC_THREADS 12
static size_t on_null_write(char *p, size_t sz, size_t n, void *ud);

struct cc_thread {
    int idx;
    char gap[STORE_ID_LEN], member[SG_HEX64_LEN];
    int bad; /* responses other than the expected ones */
};

static long cc_req(CURL *c, const char *method, const char *path, const char *key, const char *body)
{
    char url[300], kh[200];
    snprintf(url, sizeof url, "%s%s", base_url, path);
    snprintf(kh, sizeof kh, "X-API-Key: %s", key);
    struct curl_slist *h = curl_slist_append(NULL, kh);
    if (body) h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    else curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_null_write);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    return status;
}

static void *cc_main(void *arg)
{
    struct cc_thread *t = arg;
    CURL *c = curl_easy_init();
    char gp[200], hp[200];
    snprintf(gp, sizeof gp, "/api/v1/gaps/%s", t->gap);
    snprintf(hp, sizeof hp, "/api/v1/members/%s/history", t->member);
    /* identified -> assigned ok; assigned -> assigned and completed -> identified rejected (422,
     * store.h's transition table); then completed, closed. */
    static const char *const to[] = {"assigned", "assigned", "completed", "identified", "closed"};
    static const long want[] = {200, 422, 200, 422, 200};
    for (int i = 0; i < 5; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"status\":\"%s\"}", to[i]);
        if (cc_req(c, "PATCH", gp, key_writer, body) != want[i]) t->bad++;
        if (cc_req(c, "GET", hp, key_reader, NULL) != 200) t->bad++;
    }
    curl_easy_cleanup(c);
    return NULL;
}

/* Creates (through the store) the member of raw id `id` in `contract` and one identified gap of
 * MEASURE_A/YEAR for it; hash and gap_id receive the member hash and the gap id. */
static void member_with_gap(struct store *st, const char *id, const char *contract,
                            char hash[SG_HEX64_LEN], char gap_id_out[STORE_ID_LEN])
{
    char err[SG_ERRLEN];
    hmac_hex(id, hash);
    struct store_member mem;
    memset(&mem, 0, sizeof mem);
    strcpy(mem.member_hash, hash);
    strcpy(mem.contract_id, contract);
    mem.active = 1;
    mem.dual_eligible = mem.lis = mem.disabled = -1;
    assert_int_equal(store_member_create(st, &seed_actor, &mem, err, sizeof err), SG_OK);
    struct store_gap g;
    memset(&g, 0, sizeof g);
    strcpy(g.member_hash, hash);
    strcpy(g.measure_code, MEASURE_A);
    g.measurement_year = YEAR;
    g.gap_probability = 0.5;
    g.priority_score = 1;
    g.estimated_cost = NAN;
    g.estimated_value = NAN;
    g.status = STORE_GAP_IDENTIFIED;
    assert_int_equal(store_gap_create(st, &seed_actor, &g, err, sizeof err), SG_OK);
    strcpy(gap_id_out, g.gap_id);
}

static void test_concurrent_audited(void **state)
{
    (void)state;
    struct store *st;
    char err[SG_ERRLEN];
    assert_int_equal(store_open(db_url, NULL, &st, err, sizeof err), SG_OK);
    struct cc_thread t[CC_THREADS];
    for (int i = 0; i < CC_THREADS; i++) {
        memset(&t[i], 0, sizeof t[i]);
        t[i].idx = i;
        char id[32];
        snprintf(id, sizeof id, "cc-member-%02d", i);
        member_with_gap(st, id, "H0001", t[i].member, t[i].gap);
    }
    pthread_t th[CC_THREADS];
    for (int i = 0; i < CC_THREADS; i++) assert_int_equal(pthread_create(&th[i], NULL, cc_main, &t[i]), 0);
    for (int i = 0; i < CC_THREADS; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < CC_THREADS; i++) {
        assert_int_equal(t[i].bad, 0);
        struct store_gap g;
        assert_int_equal(store_gap_get(st, t[i].gap, &g, err, sizeof err), SG_OK);
        assert_int_equal((int)g.status, (int)STORE_GAP_CLOSED);
        /* create + the three accepted changes, in order, by the writer key */
        struct store_audit_list l;
        struct store_page pg = {10, 0};
        assert_int_equal(store_audit_get_trail(st, "gap", t[i].gap, &pg, &l, err, sizeof err), SG_OK);
        assert_int_equal((long long)l.n, 4);
        static const char *const actions[] = {"close", "update", "update", "create"}; /* newest first */
        for (size_t k = 0; k < 4; k++) assert_string_equal(l.items[k].action, actions[k]);
        store_audit_list_free(&l);
        /* the member's create row and one row per read */
        assert_int_equal(store_audit_get_trail(st, "member", t[i].member, &pg, &l, err, sizeof err), SG_OK);
        int reads = 0;
        for (size_t k = 0; k < l.n; k++) reads += !strcmp(l.items[k].action, "read_history");
        assert_int_equal(reads, 5);
        assert_int_equal((long long)l.n, 6);
        store_audit_list_free(&l);
    }
    store_close(st);
    struct resp r;
    http("GET", "/api/v1/admin/audit/verify", key_admin, NULL, NULL, &r);
    expect_status(&r, 200, "audit verify after concurrent writes");
    assert_true(json_is_true(json_object_get(r.json, "ok")));
    resp_free(&r);
}

/* Writers keep creating members (a queued route) and moving gaps (PATCH: a deferrable route,
 * answered after its group commit without a waiting thread on PostgreSQL) while the server
 * receives SIGTERM; every acknowledged member and gap change must be in the database
 * afterwards, and the server must exit 0. */
#define SD_THREADS 4
#define SD_PER_THREAD 400
#define SD_PATCH_THREADS 2
#define SD_GAPS 150
struct sd_thread {
    int idx;
    int acked[SD_PER_THREAD];
    _Atomic int sent; /* read by the main thread while the writers run */
    char gaps[SD_GAPS][STORE_ID_LEN]; /* PATCH writers: their gaps, moved to assigned in order */
};

static size_t on_null_write(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

static void *sd_main(void *arg)
{
    struct sd_thread *t = arg;
    CURL *c = curl_easy_init();
    char url[200], kh[200], body[200];
    snprintf(url, sizeof url, "%s/api/v1/members", base_url);
    snprintf(kh, sizeof kh, "X-API-Key: %s", key_writer);
    struct curl_slist *h = curl_slist_append(NULL, kh);
    h = curl_slist_append(h, "Content-Type: application/json");
    for (int i = 0; i < SD_PER_THREAD; i++) {
        snprintf(body, sizeof body, "{\"member_id\":\"shutdown-%d-%d\",\"contract_id\":\"H0009\"}", t->idx, i);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_null_write);
        long status = 0;
        if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        t->acked[i] = status == 201 || status == 200;
        t->sent = i + 1;
        if (status == 0) break; /* server gone */
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
}

static void *sd_patch_main(void *arg)
{
    struct sd_thread *t = arg;
    CURL *c = curl_easy_init();
    char url[200], kh[200];
    snprintf(kh, sizeof kh, "X-API-Key: %s", key_writer);
    struct curl_slist *h = curl_slist_append(NULL, kh);
    h = curl_slist_append(h, "Content-Type: application/json");
    for (int i = 0; i < SD_GAPS; i++) {
        snprintf(url, sizeof url, "%s/api/v1/gaps/%s", base_url, t->gaps[i]);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PATCH");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{\"status\":\"assigned\"}");
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_null_write);
        long status = 0;
        if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        t->acked[i] = status == 200;
        t->sent = i + 1;
        if (status == 0) break; /* server gone */
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
}

static void test_graceful_shutdown(void **state)
{
    (void)state;
    struct store *st;
    char err[SG_ERRLEN];
    pthread_t th[SD_THREADS + SD_PATCH_THREADS];
    struct sd_thread *t = calloc(SD_THREADS + SD_PATCH_THREADS, sizeof *t);
    /* the PATCH writers' gaps, one member each */
    assert_int_equal(store_open(db_url, NULL, &st, err, sizeof err), SG_OK);
    for (int i = SD_THREADS; i < SD_THREADS + SD_PATCH_THREADS; i++) {
        for (int k = 0; k < SD_GAPS; k++) {
            char id[64], hash[SG_HEX64_LEN];
            snprintf(id, sizeof id, "sd-gap-member-%d-%d", i, k);
            member_with_gap(st, id, "H0009", hash, t[i].gaps[k]);
        }
    }
    store_close(st);
    for (int i = 0; i < SD_THREADS + SD_PATCH_THREADS; i++) {
        t[i].idx = i;
        pthread_create(&th[i], NULL, i < SD_THREADS ? sd_main : sd_patch_main, &t[i]);
    }
    /* let writes flow: wait until at least 40 members and 20 PATCHes have been sent (at most
     * 10 s) */
    for (int w = 0; w < 100; w++) {
        int sent = 0, patched = 0;
        for (int i = 0; i < SD_THREADS; i++) sent += t[i].sent;
        for (int i = SD_THREADS; i < SD_THREADS + SD_PATCH_THREADS; i++) patched += t[i].sent;
        if (sent >= 40 && patched >= 20) break;
        usleep(100000);
    }
    int rc = stop_server(server_pid);
    server_pid = 0;
    for (int i = 0; i < SD_THREADS + SD_PATCH_THREADS; i++) pthread_join(th[i], NULL);
    assert_int_equal(rc, 0);

    assert_int_equal(store_open(db_url, NULL, &st, err, sizeof err), SG_OK);
    int moved = 0, lost = 0;
    for (int i = SD_THREADS; i < SD_THREADS + SD_PATCH_THREADS; i++) {
        for (int k = 0; k < t[i].sent; k++) {
            if (!t[i].acked[k]) continue;
            moved++;
            struct store_gap g;
            if (store_gap_get(st, t[i].gaps[k], &g, err, sizeof err) != SG_OK ||
                g.status != STORE_GAP_ASSIGNED)
                lost++;
        }
    }
    fprintf(stderr, "graceful shutdown: %d acknowledged gap changes, %d lost\n", moved, lost);
    assert_true(moved > 0);
    assert_int_equal(lost, 0);
    int acked = 0, missing = 0;
    for (int i = 0; i < SD_THREADS; i++) {
        for (int k = 0; k < t[i].sent; k++) {
            if (!t[i].acked[k]) continue;
            acked++;
            char id[64], h[SG_HEX64_LEN];
            snprintf(id, sizeof id, "shutdown-%d-%d", i, k);
            hmac_hex(id, h);
            struct store_member m;
            if (store_member_get(st, h, &m, err, sizeof err) != SG_OK) missing++;
        }
    }
    fprintf(stderr, "graceful shutdown: %d acknowledged writes, %d missing\n", acked, missing);
    assert_true(acked > 0);
    assert_int_equal(missing, 0);
    /* the request log was flushed: its last rows are the members POSTs */
    struct store_api_log_list l = {0};
    assert_int_equal(store_api_log_get_slowest(st, 1, 1000, &l, err, sizeof err), SG_OK);
    assert_true(l.n > 0);
    store_api_log_list_free(&l);
    store_close(st);
    free(t);

    /* the log ends with the orderly stop */
    FILE *f = fopen(server_log, "r");
    char line[1024], last[1024] = "";
    while (fgets(line, sizeof line, f)) strcpy(last, line);
    fclose(f);
    assert_non_null(strstr(last, "server stopped"));
}

/* A raw member ID sent to POST /members appears nowhere in the database. */
static void test_raw_member_id_not_in_db(void **state)
{
    (void)state;
    char cmd[4096], path[600];
    if (is_pg) {
        snprintf(path, sizeof path, "%s/dump.sql", tmpdir);
        snprintf(cmd, sizeof cmd, "pg_dump --no-owner '%s' > '%s'", db_url, path);
        assert_int_equal(system(cmd), 0);
    } else {
        snprintf(path, sizeof path, "%s/all.bin", tmpdir);
        snprintf(cmd, sizeof cmd, "cat '%s'/test.db* > '%s'", tmpdir, path);
        assert_int_equal(system(cmd), 0);
    }
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 512u << 20, n;
    char *data = malloc(cap);
    n = fread(data, 1, cap, f);
    fclose(f);
    assert_true(n > 1000);
    char expect_hash[SG_HEX64_LEN];
    hmac_hex(RAW_MEMBER_ID, expect_hash);
    if (is_pg) assert_non_null(memmem(data, n, expect_hash, 64)); /* the dump holds the member */
    assert_null(memmem(data, n, RAW_MEMBER_ID, strlen(RAW_MEMBER_ID)));
    free(data);
    /* and the full server log, now that it has stopped */
    f = fopen(server_log, "r");
    data = malloc(64u << 20);
    n = fread(data, 1, (64u << 20) - 1, f);
    fclose(f);
    assert_null(memmem(data, n, RAW_MEMBER_ID, strlen(RAW_MEMBER_ID)));
    free(data);
}

/* A server with 3 requests per minute: the 4th gets 429 with Retry-After (20 s: one token per
 * 20 s); another key keeps its own budget. */
static void test_rate_limit(void **state)
{
    (void)state;
    static const char *env[] = {"STARGAP_RATE_LIMIT_PER_MIN=3", NULL};
    int p2;
    pid_t pid = start_server(env, &p2);
    snprintf(base_url, sizeof base_url, "http://127.0.0.1:%d", p2);
    struct resp r;
    for (int i = 0; i < 3; i++) {
        http("GET", "/api/v1/gaps?limit=1", key_reader, NULL, NULL, &r);
        expect_status(&r, 200, "within limit");
        resp_free(&r);
    }
    http("GET", "/api/v1/gaps?limit=1", key_reader, NULL, NULL, &r);
    expect_error(&r, 429, "rate_limited", NULL, "over limit");
    long ra = atol(r.retry_after);
    assert_true(ra >= 15 && ra <= 20); /* 20 s minus the time the three requests took */
    resp_free(&r);
    http("GET", "/api/v1/gaps?limit=1", key_admin, NULL, NULL, &r);
    expect_status(&r, 200, "other key");
    resp_free(&r);
    /* health endpoints are not limited */
    for (int i = 0; i < 5; i++) {
        http("GET", "/health", NULL, NULL, NULL, &r);
        expect_status(&r, 200, "health unlimited");
        resp_free(&r);
    }
    assert_int_equal(stop_server(pid), 0);
}

#include "http_predict.inc.c" /* issue 6: prediction endpoints */

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
        cmocka_unit_test(test_keys_cli),
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_request_id),
        cmocka_unit_test(test_auth_and_roles),
        cmocka_unit_test(test_routing_errors),
        cmocka_unit_test(test_members),
        cmocka_unit_test(test_gaps),
        cmocka_unit_test(test_member_reads_audited),
        cmocka_unit_test(test_interventions),
        cmocka_unit_test(test_portfolio_stars_sims),
        cmocka_unit_test(test_admin_and_metrics),
        cmocka_unit_test(test_openapi_served),
        cmocka_unit_test(test_keepalive_and_pipelining),
        cmocka_unit_test(test_huge_declared_body),
        cmocka_unit_test(test_raw_member_id_never_kept),
        cmocka_unit_test(test_concurrent_audited),
        cmocka_unit_test(test_graceful_shutdown),
        cmocka_unit_test(test_raw_member_id_not_in_db),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_predict_endpoints),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
