/* test_http_validate.c: the API's input rules without a server: strict JSON bodies (malformed,
 * invalid UTF-8, duplicate keys, non-object, unknown fields, wrong types named, ranges) and
 * query parameters (unknown ones named, integers, reals, enumerations, dates, hashes, UUIDs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api/api_internal.h"
#include "api/jsonw.h"

static struct http_request req;
static struct http_response res;

static void reset(const char *body)
{
    free(res.body);
    memset(&res, 0, sizeof res);
    memset(&req, 0, sizeof req);
    strcpy(req.request_id, "t");
    req.body = body ? body : "";
    req.body_len = body ? strlen(body) : 0;
}

/* The error message of the response in res (static copy). */
static const char *message(void)
{
    static char msg[512];
    json_t *d = json_loads(res.body, 0, NULL);
    assert_non_null(d);
    snprintf(msg, sizeof msg, "%s", json_string_value(json_object_get(json_object_get(d, "error"), "message")));
    json_decref(d);
    return msg;
}

static const char *const allowed[] = {"name", "count", "ratio", NULL};

static void expect_body_rejected(const char *body, const char *needle)
{
    reset(body);
    json_t *d = api_body(&req, &res, allowed);
    if (d) fprintf(stderr, "accepted: %s\n", body);
    assert_null(d);
    assert_int_equal(res.status, 400);
    if (needle && !strstr(message(), needle)) fprintf(stderr, "'%s' lacks '%s'\n", message(), needle);
    if (needle) assert_non_null(strstr(message(), needle));
}

static void test_body_strict(void **state)
{
    (void)state;
    expect_body_rejected(NULL, "required");
    expect_body_rejected("{", "line 1");
    expect_body_rejected("{\"name\":\"a\"} trailing", "malformed JSON");
    expect_body_rejected("{\"name\":\"a\",\"name\":\"b\"}", "duplicate");
    expect_body_rejected("{\"name\":\"\xc3\x28\"}", "malformed JSON");      /* invalid UTF-8 */
    expect_body_rejected("{\"name\":\"\xed\xa0\x80\"}", "malformed JSON"); /* UTF-16 surrogate */
    expect_body_rejected("{\"name\":\"a\\u0000b\"}", "malformed JSON");    /* NUL */
    expect_body_rejected("[]", "object");
    expect_body_rejected("\"x\"", NULL);
    expect_body_rejected("{\"name\":\"a\",\"other\":1}", "unknown field 'other'");
    /* the parse error never quotes the input (it may hold a raw member ID) */
    expect_body_rejected("{\"name\": SECRET123}", "malformed JSON");
    assert_null(strstr(message(), "SECRET123"));

    reset("{\"name\":\"abc\",\"count\":3,\"ratio\":0.5}");
    json_t *d = api_body(&req, &res, allowed);
    assert_non_null(d);
    const char *s;
    long n;
    double r;
    assert_int_equal(api_get_str(&req, &res, d, "name", 1, 10, &s), 1);
    assert_string_equal(s, "abc");
    assert_int_equal(api_get_int(&req, &res, d, "count", 1, 0, 10, &n), 1);
    assert_int_equal(n, 3);
    assert_int_equal(api_get_real(&req, &res, d, "ratio", 1, 0, 1, &r), 1);
    assert_true(r == 0.5);
    /* an integer is a valid number; a number is not a valid integer */
    assert_int_equal(api_get_real(&req, &res, d, "count", 1, 0, 10, &r), 1);
    assert_true(r == 3.0);
    assert_int_equal(api_get_int(&req, &res, d, "ratio", 1, 0, 10, &n), -1);
    assert_non_null(strstr(message(), "ratio: expected an integer, got a number"));
    assert_int_equal(api_get_str(&req, &res, d, "count", 1, 10, &s), -1);
    assert_non_null(strstr(message(), "count: expected a string, got an integer"));
    assert_int_equal(api_get_int(&req, &res, d, "count", 1, 4, 10, &n), -1);
    assert_non_null(strstr(message(), "count: must be between 4 and 10"));
    assert_int_equal(api_get_str(&req, &res, d, "name", 1, 2, &s), -1);
    assert_int_equal(api_get_str(&req, &res, d, "absent", 0, 2, &s), 0);
    assert_int_equal(api_get_str(&req, &res, d, "absent", 1, 2, &s), -1);
    assert_non_null(strstr(message(), "absent: is required"));
    json_decref(d);
}

static const char *const colours[] = {"red", "green", NULL};
static const struct api_param specs[] = {
    {"limit", AP_INT, 1, 1000, NULL},    {"min", AP_REAL, 0, 1, NULL},     {"id", AP_UUID, 0, 0, NULL},
    {"member", AP_HEX64, 0, 0, NULL},    {"date", AP_DATE, 0, 0, NULL},    {"colour", AP_ENUM, 0, 0, colours},
    {"measure", AP_CODE, 0, 0, NULL},    {"contract", AP_CONTRACT, 0, 0, NULL},
};
#define NS (sizeof specs / sizeof specs[0])

static int query1(const char *k, const char *v, struct api_qv *out)
{
    reset(NULL);
    req.query[0].key = k;
    req.query[0].value = v;
    req.nquery = 1;
    return api_query(&req, &res, specs, NS, out);
}

static void test_query(void **state)
{
    (void)state;
    struct api_qv q[NS];
    assert_int_equal(query1("limit", "50", q), 0);
    assert_true(q[0].set);
    assert_int_equal(q[0].i, 50);
    assert_false(q[1].set);
    assert_int_equal(query1("limit", "0", q), -1);
    assert_non_null(strstr(message(), "'limit': must be between 1 and 1000"));
    assert_int_equal(query1("limit", "1001", q), -1);
    assert_int_equal(query1("limit", "5x", q), -1);
    assert_int_equal(query1("limit", " 5", q), -1);
    assert_int_equal(query1("limit", "", q), -1);
    assert_int_equal(query1("limit", "99999999999999999999", q), -1);
    assert_int_equal(query1("min", "0.25", q), 0);
    assert_true(q[1].d == 0.25);
    assert_int_equal(query1("min", "nan", q), -1);
    assert_int_equal(query1("min", "1.5", q), -1);
    assert_int_equal(query1("id", "123e4567-e89b-42d3-a456-426614174000", q), 0);
    assert_int_equal(query1("id", "123e4567e89b42d3a456426614174000", q), -1);
    assert_int_equal(query1("member", "ab", q), -1);
    assert_int_equal(query1("date", "2024-02-29", q), 0); /* leap year */
    assert_int_equal(query1("date", "2025-02-29", q), -1);
    assert_int_equal(query1("date", "2025-13-01", q), -1);
    assert_int_equal(query1("date", "2025-1-01", q), -1);
    assert_int_equal(query1("colour", "green", q), 0);
    assert_int_equal(q[5].i, 1);
    assert_int_equal(query1("colour", "blue", q), -1);
    assert_non_null(strstr(message(), "must be one of red, green"));
    assert_int_equal(query1("measure", "PDC-RASA", q), 0);
    assert_int_equal(query1("measure", "bcs", q), -1);
    assert_int_equal(query1("contract", "H1234", q), 0);
    assert_int_equal(query1("contract", "H-1234", q), -1);
    assert_int_equal(query1("sort", "x", q), -1);
    assert_non_null(strstr(message(), "unknown query parameter 'sort'"));
    free(res.body);
    res.body = NULL;
}

/* The streaming writer produces the same JSON value as the jansson encoder, escapes included. */
static void test_jsonw_matches_jansson(void **state)
{
    (void)state;
    struct store_gap g;
    memset(&g, 0, sizeof g);
    strcpy(g.gap_id, "06ae5a38-5e1b-4cf5-8c93-f5f2b4372e54");
    memset(g.member_hash, 'a', 64);
    strcpy(g.contract_id, "H0020");
    strcpy(g.measure_code, "BCS");
    g.measurement_year = 2025;
    g.gap_probability = 0.1 + 0.2; /* 0.30000000000000004: printed as 0.3 with 10 digits */
    g.priority_score = 100;
    strcpy(g.intervention_type, "say \"hi\"\\ \n\t\x01 caf\xc3\xa9");
    g.estimated_cost = NAN;
    g.estimated_value = 1e-7;
    g.status = STORE_GAP_ASSIGNED;
    strcpy(g.assigned_date, "2026-11-25");
    strcpy(g.created_at, "2026-11-25T18:52:00.123456Z");
    struct sg_buf b;
    struct jw w;
    sg_buf_init(&b, 1 << 20);
    jw_init(&w, &b);
    jw_arr(&w);
    jw_gap(&w, &g);
    jw_gap(&w, &g);
    jw_arr_end(&w);
    assert_int_equal(w.err, SG_OK);
    json_error_t je;
    json_t *mine = json_loads(sg_buf_str(&b), 0, &je);
    if (!mine) fprintf(stderr, "jsonw output invalid: %s in %s\n", je.text, sg_buf_str(&b));
    assert_non_null(mine);
    json_t *ref_doc = api_enc_gap(&g);
    char *ref_text = json_dumps(ref_doc, JSON_REAL_PRECISION(10));
    json_decref(ref_doc);
    json_t *ref = json_loads(ref_text, 0, &je);
    assert_true(json_equal(json_array_get(mine, 1), ref));
    assert_non_null(strstr(sg_buf_str(&b), "\"gap_probability\":0.3,"));
    assert_non_null(strstr(sg_buf_str(&b), "\"priority_score\":100.0,"));
    assert_non_null(strstr(sg_buf_str(&b), "\"estimated_cost\":null,"));
    assert_non_null(strstr(sg_buf_str(&b), "\\u0001"));
    free(ref_text);
    json_decref(ref);
    json_decref(mine);
    sg_buf_fini(&b);

    struct store_history_item h;
    memset(&h, 0, sizeof h);
    h.kind = STORE_HIST_INTERVENTION;
    strcpy(h.measure_code, "COL");
    strcpy(h.at, "2026-11-25T18:52:00.123456Z");
    strcpy(h.status, "planned");
    h.value = NAN;
    sg_buf_init(&b, 1 << 20);
    jw_init(&w, &b);
    jw_history_item(&w, &h);
    mine = json_loads(sg_buf_str(&b), 0, &je);
    assert_non_null(mine);
    json_t *href = api_enc_history_item(&h);
    assert_true(json_equal(mine, href));
    assert_true(json_is_null(json_object_get(mine, "measurement_year")));
    json_decref(href);
    json_decref(mine);
    sg_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jsonw_matches_jansson),
        cmocka_unit_test(test_body_strict),
        cmocka_unit_test(test_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
