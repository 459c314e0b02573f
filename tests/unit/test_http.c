/* test_http.c: unit tests for the HTTP layer without a socket: route matching (literal beats
 * parameter, 404 vs 405 with Allow), the token bucket (capacity, refill, Retry-After worked out
 * by hand), request-id validation, key extraction, the key cache, the api_logs queue (drops
 * counted, flush), the error shape and the metrics text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "core/hash.h"
#include "http/auth.h"
#include "http/http.h"
#include "http/logq.h"
#include "http/metrics.h"
#include "http/ratelimit.h"
#include "http/router.h"

static void h_dummy(struct http_request *req, struct http_response *res)
{
    (void)req;
    (void)res;
}

static const struct http_route table[] = {
    {"GET", "/health", h_dummy, HTTP_ROLE_PUBLIC, 0},
    {"GET", "/api/v1/gaps", h_dummy, HTTP_ROLE_READER, 0},
    {"GET", "/api/v1/gaps/{id}", h_dummy, HTTP_ROLE_READER, 0},
    {"PATCH", "/api/v1/gaps/{id}", h_dummy, HTTP_ROLE_WRITER, 0},
    {"GET", "/api/v1/gaps/high-priority", h_dummy, HTTP_ROLE_READER, 0},
    {"POST", "/api/v1/gaps/{id}/close", h_dummy, HTTP_ROLE_WRITER, 0},
    {"GET", "/api/v1/members/{member_hash}/history", h_dummy, HTTP_ROLE_READER, 0},
};
#define NT (sizeof table / sizeof table[0])

static void test_router_match(void **state)
{
    (void)state;
    struct http_router r;
    char err[SG_ERRLEN];
    assert_int_equal(http_router_init(&r, table, NT, err, sizeof err), SG_OK);
    struct http_match m;

    assert_int_equal(http_router_match(&r, "GET", "/health", &m), HTTP_MATCH_OK);
    assert_int_equal(m.index, 0);
    assert_int_equal(m.nparams, 0);

    assert_int_equal(http_router_match(&r, "GET", "/api/v1/gaps/abc-123", &m), HTTP_MATCH_OK);
    assert_int_equal(m.index, 2);
    assert_int_equal(m.nparams, 1);
    assert_string_equal(m.params[0], "abc-123");

    /* the literal segment wins over {id} whatever the table order */
    assert_int_equal(http_router_match(&r, "GET", "/api/v1/gaps/high-priority", &m), HTTP_MATCH_OK);
    assert_int_equal(m.index, 4);

    assert_int_equal(http_router_match(&r, "PATCH", "/api/v1/gaps/xyz", &m), HTTP_MATCH_OK);
    assert_int_equal(m.index, 3);
    assert_string_equal(m.params[0], "xyz");

    assert_int_equal(http_router_match(&r, "POST", "/api/v1/gaps/g1/close", &m), HTTP_MATCH_OK);
    assert_int_equal(m.index, 5);
    assert_string_equal(m.params[0], "g1");

    assert_int_equal(http_router_match(&r, "GET", "/api/v1/members/ab/history", &m), HTTP_MATCH_OK);
    assert_int_equal(m.index, 6);
    assert_string_equal(m.params[0], "ab");
    assert_string_equal(http_router_param_name(&r, 6, 0), "member_hash");

    /* 405 with the methods of the path */
    assert_int_equal(http_router_match(&r, "DELETE", "/api/v1/gaps/xyz", &m), HTTP_MATCH_BAD_METHOD);
    assert_string_equal(m.allow, "GET, PATCH");
    /* POST on the literal route is 405 (only GET), not a match of a generic pattern */
    assert_int_equal(http_router_match(&r, "POST", "/api/v1/gaps/high-priority", &m), HTTP_MATCH_BAD_METHOD);
    assert_string_equal(m.allow, "GET");
    assert_int_equal(http_router_match(&r, "POST", "/health", &m), HTTP_MATCH_BAD_METHOD);

    /* 404s: unknown, trailing slash, empty segment, too deep, relative */
    assert_int_equal(http_router_match(&r, "GET", "/api/v1/nothing", &m), HTTP_MATCH_NOT_FOUND);
    assert_int_equal(http_router_match(&r, "GET", "/api/v1/gaps/", &m), HTTP_MATCH_NOT_FOUND);
    assert_int_equal(http_router_match(&r, "GET", "/api//gaps", &m), HTTP_MATCH_NOT_FOUND);
    assert_int_equal(http_router_match(&r, "GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n", &m), HTTP_MATCH_NOT_FOUND);
    assert_int_equal(http_router_match(&r, "GET", "health", &m), HTTP_MATCH_NOT_FOUND);
    assert_int_equal(http_router_match(&r, "GET", "/", &m), HTTP_MATCH_NOT_FOUND);
    http_router_fini(&r);
}

static void test_router_bad_tables(void **state)
{
    (void)state;
    struct http_router r;
    char err[SG_ERRLEN];
    const struct http_route dup[] = {{"GET", "/a/{x}", h_dummy, 0, 0}, {"GET", "/a/{x}", h_dummy, 0, 0}};
    assert_int_equal(http_router_init(&r, dup, 2, err, sizeof err), SG_EINVAL);
    assert_non_null(strstr(err, "defined twice"));
    const struct http_route bad1[] = {{"GET", "a/b", h_dummy, 0, 0}};
    assert_int_equal(http_router_init(&r, bad1, 1, err, sizeof err), SG_EINVAL);
    const struct http_route bad2[] = {{"GET", "/a/{x", h_dummy, 0, 0}};
    assert_int_equal(http_router_init(&r, bad2, 1, err, sizeof err), SG_EINVAL);
    const struct http_route bad3[] = {{"GET", "/a//b", h_dummy, 0, 0}};
    assert_int_equal(http_router_init(&r, bad3, 1, err, sizeof err), SG_EINVAL);
    const struct http_route bad4[] = {{"GET", "/a/{}", h_dummy, 0, 0}};
    assert_int_equal(http_router_init(&r, bad4, 1, err, sizeof err), SG_EINVAL);
    const struct http_route bad5[] = {{"GET", "/a/", h_dummy, 0, 0}};
    assert_int_equal(http_router_init(&r, bad5, 1, err, sizeof err), SG_EINVAL);
}

/* 60 per minute = 1 token a second, bucket of 60. */
static void test_ratelimit(void **state)
{
    (void)state;
    struct http_ratelimit *rl = http_ratelimit_new(60);
    assert_non_null(rl);
    long retry;
    for (int i = 0; i < 60; i++) assert_int_equal(http_ratelimit_take(rl, "k1", 100.0, &retry), 1);
    /* the 61st at the same instant is refused; one token comes back after 1 s */
    assert_int_equal(http_ratelimit_take(rl, "k1", 100.0, &retry), 0);
    assert_int_equal(retry, 1);
    /* another key has its own bucket */
    assert_int_equal(http_ratelimit_take(rl, "k2", 100.0, &retry), 1);
    assert_int_equal(http_ratelimit_size(rl), 2);
    /* 0.5 s later: half a token, still refused, retry 1 s (ceil 0.5) */
    assert_int_equal(http_ratelimit_take(rl, "k1", 100.5, &retry), 0);
    assert_int_equal(retry, 1);
    /* 1.0 s after the start: one whole token */
    assert_int_equal(http_ratelimit_take(rl, "k1", 101.0, &retry), 1);
    assert_int_equal(http_ratelimit_take(rl, "k1", 101.0, &retry), 0);
    /* after 10 s, exactly 10 tokens */
    int ok = 0;
    for (int i = 0; i < 20; i++) ok += http_ratelimit_take(rl, "k1", 111.0, &retry);
    assert_int_equal(ok, 10);
    /* never more than the capacity, however long the pause */
    ok = 0;
    for (int i = 0; i < 100; i++) ok += http_ratelimit_take(rl, "k1", 10000.0, &retry);
    assert_int_equal(ok, 60);
    http_ratelimit_free(rl);

    /* 6 per minute: one token every 10 s; an empty bucket waits 10 s */
    rl = http_ratelimit_new(6);
    for (int i = 0; i < 6; i++) assert_int_equal(http_ratelimit_take(rl, "k", 0.0, &retry), 1);
    assert_int_equal(http_ratelimit_take(rl, "k", 0.0, &retry), 0);
    assert_int_equal(retry, 10);
    assert_int_equal(http_ratelimit_take(rl, "k", 4.0, &retry), 0);
    assert_int_equal(retry, 6);
    http_ratelimit_free(rl);
}

static void test_request_id(void **state)
{
    (void)state;
    assert_true(http_request_id_valid("abc-123_X.y:z"));
    assert_true(http_request_id_valid("0123456789012345678901234567890123456789012345678901234567890123")); /* 64 */
    assert_false(http_request_id_valid("01234567890123456789012345678901234567890123456789012345678901234")); /* 65 */
    assert_false(http_request_id_valid(""));
    assert_false(http_request_id_valid(NULL));
    assert_false(http_request_id_valid("has space"));
    assert_false(http_request_id_valid("semi;colon"));
    assert_false(http_request_id_valid("new\nline"));
    assert_false(http_request_id_valid("caf\xc3\xa9"));
    char id[HTTP_REQID_MAX + 1], id2[HTTP_REQID_MAX + 1];
    http_request_id_new(id);
    http_request_id_new(id2);
    assert_true(sg_is_uuid(id));
    assert_true(http_request_id_valid(id));
    assert_string_not_equal(id, id2);
}

static void test_auth_extract(void **state)
{
    (void)state;
    const char *k;
    size_t n;
    char err[SG_ERRLEN];
    assert_int_equal(http_auth_extract(NULL, NULL, &k, &n, err, sizeof err), SG_EAUTH);
    assert_int_equal(http_auth_extract("sgk_abc", NULL, &k, &n, err, sizeof err), SG_OK);
    assert_int_equal(n, 7);
    assert_memory_equal(k, "sgk_abc", 7);
    assert_int_equal(http_auth_extract(NULL, "Bearer sgk_xyz", &k, &n, err, sizeof err), SG_OK);
    assert_int_equal(n, 7);
    assert_memory_equal(k, "sgk_xyz", 7);
    assert_int_equal(http_auth_extract(NULL, "bearer  sgk_xyz ", &k, &n, err, sizeof err), SG_OK);
    assert_int_equal(n, 7);
    assert_int_equal(http_auth_extract(NULL, "Basic dXNlcjpwYXNz", &k, &n, err, sizeof err), SG_EINVAL);
    assert_int_equal(http_auth_extract(NULL, "Bearer ", &k, &n, err, sizeof err), SG_EINVAL);
    assert_int_equal(http_auth_extract("", NULL, &k, &n, err, sizeof err), SG_EINVAL);
    assert_int_equal(http_auth_extract("a b", NULL, &k, &n, err, sizeof err), SG_EINVAL);
    assert_int_equal(http_auth_extract("same", "Bearer same", &k, &n, err, sizeof err), SG_OK);
    assert_int_equal(http_auth_extract("one", "Bearer two", &k, &n, err, sizeof err), SG_EINVAL);
    char big[300];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(http_auth_extract(big, NULL, &k, &n, err, sizeof err), SG_EINVAL);
}

static int lookups;
static int fake_lookup(void *ctx, const char *key_hash, char *name, enum http_role *role)
{
    (void)ctx;
    lookups++;
    if (strcmp(key_hash, "h-writer") != 0) return SG_ENOTFOUND;
    strcpy(name, "alice");
    *role = HTTP_ROLE_WRITER;
    return SG_OK;
}

static void test_keycache(void **state)
{
    (void)state;
    struct http_keycache *kc = http_keycache_new(fake_lookup, NULL);
    char name[HTTP_KEY_NAME_MAX + 1];
    enum http_role role;
    lookups = 0;
    assert_int_equal(http_keycache_get(kc, "h-writer", 10.0, name, &role), SG_OK);
    assert_string_equal(name, "alice");
    assert_int_equal(role, HTTP_ROLE_WRITER);
    assert_int_equal(http_keycache_get(kc, "h-writer", 11.0, name, &role), SG_OK);
    assert_int_equal(lookups, 1); /* served from the cache */
    assert_int_equal(http_keycache_get(kc, "h-writer", 10.0 + HTTP_KEYCACHE_TTL_S + 0.1, name, &role), SG_OK);
    assert_int_equal(lookups, 2); /* expired: looked up again */
    assert_int_equal(http_keycache_get(kc, "nope", 20.0, name, &role), SG_ENOTFOUND);
    assert_int_equal(http_keycache_get(kc, "nope", 20.0, name, &role), SG_ENOTFOUND);
    assert_int_equal(lookups, 4); /* failures are not cached */
    http_keycache_free(kc);
}

struct sink_state {
    size_t rows, calls;
    int fail;
    int sleep_ms;
};

static int test_sink(void *ctx, const struct http_log_row *rows, size_t n)
{
    struct sink_state *s = ctx;
    if (s->sleep_ms) usleep((useconds_t)s->sleep_ms * 1000);
    for (size_t i = 0; i < n; i++) assert_int_equal(rows[i].status, 200 + (int)((s->rows + i) % 3));
    s->rows += n;
    s->calls++;
    return s->fail ? SG_EDB : SG_OK;
}

static void test_logq(void **state)
{
    (void)state;
    struct sink_state ss = {0};
    char err[SG_ERRLEN];
    struct http_logq *q = http_logq_new(1000, 100, test_sink, &ss, err, sizeof err);
    assert_non_null(q);
    struct http_log_row row;
    memset(&row, 0, sizeof row);
    for (int i = 0; i < 250; i++) {
        row.status = 200 + i % 3;
        assert_int_equal(http_logq_push(q, &row), 1);
    }
    assert_int_equal(http_logq_flush(q, 5000), SG_OK);
    struct http_logq_stats st;
    http_logq_stats(q, &st);
    assert_int_equal(st.queued, 250);
    assert_int_equal(st.written, 250);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(ss.rows, 250);
    assert_true(ss.calls >= 3); /* batches of at most 100 */
    http_logq_free(q);

    /* a slow sink and a tiny queue: pushes never block, overflow is counted as dropped */
    struct sink_state slow = {.sleep_ms = 200};
    q = http_logq_new(10, 10, test_sink, &slow, err, sizeof err);
    int accepted = 0;
    for (int i = 0; i < 100; i++) {
        row.status = 200 + accepted % 3;
        accepted += http_logq_push(q, &row);
    }
    http_logq_stats(q, &st);
    assert_int_equal(st.queued + st.dropped, 100);
    assert_true(st.dropped >= 80);
    assert_int_equal((int)st.queued, accepted);
    http_logq_free(q); /* flushes what was accepted */
    assert_int_equal((int)slow.rows, accepted);
}

static void test_error_shape(void **state)
{
    (void)state;
    struct http_request req;
    memset(&req, 0, sizeof req);
    strcpy(req.request_id, "rid-1");
    struct http_response res;
    memset(&res, 0, sizeof res);
    http_error(&req, &res, 404, "not_found", "gap %s not found", "x\"y");
    assert_int_equal(res.status, 404);
    json_error_t je;
    json_t *doc = json_loads(res.body, 0, &je);
    assert_non_null(doc);
    json_t *e = json_object_get(doc, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "not_found");
    assert_string_equal(json_string_value(json_object_get(e, "message")), "gap x\"y not found");
    assert_string_equal(json_string_value(json_object_get(e, "request_id")), "rid-1");
    assert_int_equal(json_object_size(doc), 1);
    assert_int_equal(json_object_size(e), 3);
    json_decref(doc);
    free(res.body);

    /* 5xx never carries the detail */
    memset(&res, 0, sizeof res);
    http_error_from_err(&req, &res, SG_EDB, "get_gap: 57P01: terminating connection");
    assert_int_equal(res.status, 500);
    assert_null(strstr(res.body, "57P01"));
    free(res.body);
    assert_int_equal(http_status_for_err(SG_ETRANSITION), 422);
    assert_int_equal(http_status_for_err(SG_ECONFLICT), 409);
    assert_int_equal(http_status_for_err(SG_ENOTFOUND), 404);
    assert_int_equal(http_status_for_err(SG_EINVAL), 400);
    assert_int_equal(http_status_for_err(SG_EBUSY), 503);

    /* reals: 3.95 prints as 3.95, not 3.9500000000000002 */
    memset(&res, 0, sizeof res);
    http_json(&res, 200, json_pack("{s:f}", "v", 3.95));
    assert_string_equal(res.body, "{\"v\":3.95}");
    free(res.body);
}

static void test_metrics_render(void **state)
{
    (void)state;
    struct http_metrics *m = http_metrics_new(NT);
    http_metrics_record(m, 2, 200, 0.0007); /* le=0.001 */
    http_metrics_record(m, 2, 200, 0.003);  /* le=0.005 */
    http_metrics_record(m, 2, 404, 3.0);    /* +Inf */
    http_metrics_record(m, NT, 404, 0.0001);
    struct sg_buf b;
    sg_buf_init(&b, 1 << 20);
    assert_int_equal(http_metrics_render(m, table, &b), SG_OK);
    const char *t = sg_buf_str(&b);
    assert_non_null(strstr(t, "http_requests_total{route=\"/api/v1/gaps/{id}\",method=\"GET\",status=\"200\"} 2\n"));
    assert_non_null(strstr(t, "http_requests_total{route=\"/api/v1/gaps/{id}\",method=\"GET\",status=\"404\"} 1\n"));
    assert_non_null(strstr(t, "http_requests_total{route=\"unmatched\",method=\"any\",status=\"404\"} 1\n"));
    assert_non_null(strstr(t, "http_request_duration_seconds_bucket{route=\"/api/v1/gaps/{id}\",method=\"GET\",le=\"0.0005\"} 0\n"));
    assert_non_null(strstr(t, "http_request_duration_seconds_bucket{route=\"/api/v1/gaps/{id}\",method=\"GET\",le=\"0.001\"} 1\n"));
    assert_non_null(strstr(t, "http_request_duration_seconds_bucket{route=\"/api/v1/gaps/{id}\",method=\"GET\",le=\"0.005\"} 2\n"));
    assert_non_null(strstr(t, "http_request_duration_seconds_bucket{route=\"/api/v1/gaps/{id}\",method=\"GET\",le=\"2.5\"} 2\n"));
    assert_non_null(strstr(t, "http_request_duration_seconds_bucket{route=\"/api/v1/gaps/{id}\",method=\"GET\",le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(t, "http_request_duration_seconds_count{route=\"/api/v1/gaps/{id}\",method=\"GET\"} 3\n"));
    assert_non_null(strstr(t, "http_request_duration_seconds_sum{route=\"/api/v1/gaps/{id}\",method=\"GET\"} 3.0037"));
    assert_null(strstr(t, "route=\"/health\"")); /* no samples: no lines */
    sg_buf_fini(&b);
    http_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router_match),   cmocka_unit_test(test_router_bad_tables),
        cmocka_unit_test(test_ratelimit),      cmocka_unit_test(test_request_id),
        cmocka_unit_test(test_auth_extract),   cmocka_unit_test(test_keycache),
        cmocka_unit_test(test_logq),           cmocka_unit_test(test_error_shape),
        cmocka_unit_test(test_metrics_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
