/* test_store_json.c: the JSON checks store.c applies to JSON columns (here a prediction's
 * shap_values, which must be a JSON object, and top_features, which must be an array).
 *
 * store.c decides common texts with its own allocation-free scanner and hands everything else to
 * jansson; the cases below cover both paths and their border (escaped keys, \u escapes, non-ASCII,
 * number sizes, nesting), each with the verdict RFC 8259 and jansson's documented rules give:
 * duplicate object keys rejected (JSON_REJECT_DUPLICATES), integers must fit 64 bits, reals must
 * not overflow, strings must be valid UTF-8 without lone surrogates or control characters. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/err.h"
#include "core/hash.h"
#include "db/migrate.h"
#include "db/store.h"

static const struct store_actor ACTOR = {"test", "127.0.0.1"};

struct fx {
    struct store *st;
    char member[SG_HEX64_LEN];
    int n; /* model versions used so far: one row per case, no UNIQUE collision */
    char err[SG_ERRLEN];
};

static int setup(void **state)
{
    static struct fx f;
    struct sg_config cfg;
    memset(&f, 0, sizeof f);
    assert_int_equal(sg_config_init(&cfg), SG_OK);
    assert_int_equal(store_open("sqlite::memory:", &cfg, &f.st, f.err, sizeof f.err), SG_OK);
    assert_int_equal(migrate_up(f.st, 0, NULL, f.err, sizeof f.err), SG_OK);
    struct store_measure m;
    memset(&m, 0, sizeof m);
    m.star_year = 2026;
    snprintf(m.code, sizeof m.code, "BCS");
    snprintf(m.cms_id, sizeof m.cms_id, "C01");
    snprintf(m.name, sizeof m.name, "Breast Cancer Screening");
    m.part = 'C';
    snprintf(m.domain, sizeof m.domain, "Staying Healthy");
    m.weighting_category = STORE_WCAT_PROCESS;
    m.weight = 1;
    m.direction = STORE_HIGHER_BETTER;
    m.member_level = 1;
    assert_int_equal(store_measure_upsert_batch(f.st, NULL, &m, 1, f.err, sizeof f.err), SG_OK);
    struct store_member mb = {.active = 1, .dual_eligible = -1, .lis = -1, .disabled = -1};
    assert_int_equal(sg_sha256_hex("json-member", 11, mb.member_hash), SG_OK);
    snprintf(mb.contract_id, sizeof mb.contract_id, "H0001");
    assert_int_equal(store_member_create(f.st, &ACTOR, &mb, f.err, sizeof f.err), SG_OK);
    memcpy(f.member, mb.member_hash, sizeof f.member);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->st);
    return 0;
}

/* Creates a prediction with the given JSON texts; returns the store's code. */
static int create(struct fx *f, const char *shap, const char *top)
{
    struct store_prediction p;
    memset(&p, 0, sizeof p);
    memcpy(p.member_hash, f->member, sizeof p.member_hash);
    snprintf(p.measure_code, sizeof p.measure_code, "BCS");
    p.measurement_year = 2026;
    p.gap_probability = 0.5;
    p.risk_tier = STORE_TIER_MEDIUM;
    p.risk_score = NAN;
    p.shap_values = (char *)shap;
    p.top_features = (char *)top;
    snprintf(p.model_version, sizeof p.model_version, "v%d", f->n++);
    f->err[0] = '\0';
    return store_prediction_create(f->st, &ACTOR, &p, f->err, sizeof f->err);
}

static void expect_ok(struct fx *f, const char *shap, const char *top)
{
    int rc = create(f, shap, top);
    if (rc) fail_msg("rejected %s / %s: %s", shap ? shap : "NULL", top ? top : "NULL", f->err);
}

static void expect_bad(struct fx *f, const char *shap, const char *top, const char *prefix)
{
    int rc = create(f, shap, top);
    if (rc != SG_EINVAL || strncmp(f->err, prefix, strlen(prefix)))
        fail_msg("%s / %s: got %d \"%s\", want SG_EINVAL \"%s...\"", shap ? shap : "NULL",
                 top ? top : "NULL", rc, f->err, prefix);
}

static void test_valid(void **state)
{
    struct fx *f = *state;
    expect_ok(f, "{}", "[]");
    expect_ok(f, "{\"age\":0.12,\"prior_gap\":0.31,\"visits\":-0.05}", "[\"prior_gap\",\"age\"]");
    expect_ok(
        f, " \t{ \"a\" : 1 ,\n\"b\":[true,false,null,\"x\\\"y\\\\z\\/\\n\"],\"c\":{\"d\":{}}} \r\n",
        " [ ] ");
    expect_ok(f, "{\"n\":-0,\"m\":1.5E+07,\"k\":123456789012345678,\"r\":2.5e-300}", "[0]");
    expect_ok(f, "{\"a\":{\"a\":1},\"b\":{\"a\":2}}", NULL); /* same key at different objects */
    expect_ok(f, "{\"caf\xc3\xa9\":1,\"x\":\"\\u00e9\"}", "[\"\xe2\x82\xac\"]"); /* UTF-8 and \u */
    expect_ok(f, "{\"a/b\":1,\"a\\nb\":2}", NULL);                               /* distinct keys */
    /* Integers up to 64 bits and deep nesting are valid beyond the scanner's subset. */
    expect_ok(f, "{\"big\":9223372036854775807}", NULL);
    expect_ok(f, "{\"d\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}", NULL); /* depth 21 */
}

static void test_malformed(void **state)
{
    struct fx *f = *state;
    expect_bad(f, "{\"a\":1,}", NULL, "shap_values: malformed JSON");
    expect_bad(f, "{\"a\":01}", NULL, "shap_values: malformed JSON");
    expect_bad(f, "{\"a\":1}x", NULL, "shap_values: malformed JSON");
    expect_bad(f, "{\"a\":truex}", NULL, "shap_values: malformed JSON");
    expect_bad(f, "{'a':1}", NULL, "shap_values: malformed JSON");
    expect_bad(f, "{\"a\":\"tab\there\"}", NULL, "shap_values: malformed JSON"); /* control char */
    expect_bad(f, "{\"a\":\"\\x\"}", NULL, "shap_values: malformed JSON");       /* bad escape */
    expect_bad(f, "{\"a\":\"\\ud800\"}", NULL, "shap_values: malformed JSON"); /* lone surrogate */
    expect_bad(f, "{\"a\":\"\xff\"}", NULL, "shap_values: malformed JSON");    /* not UTF-8 */
    expect_bad(f, "{\"a\":1e400}", NULL, "shap_values: malformed JSON");       /* real overflow */
    expect_bad(f, "{\"a\":92233720368547758070}", NULL,
               "shap_values: malformed JSON"); /* > 64 bits */
    expect_bad(f, "{\"a\":-}", NULL, "shap_values: malformed JSON");
    expect_bad(f, "{\"a\":1.}", NULL, "shap_values: malformed JSON");
    expect_bad(f, "{\"a\" 1}", NULL, "shap_values: malformed JSON");
    expect_bad(f, "[1,2", "[1,2", "shap_values: malformed JSON");
    expect_bad(f, NULL, "[1 2]", "top_features: malformed JSON");
}

static void test_duplicates(void **state)
{
    struct fx *f = *state;
    expect_bad(f, "{\"a\":1,\"a\":2}", NULL, "shap_values: malformed JSON");
    expect_bad(f, "{\"a\":1,\"b\":2,\"a\":3}", NULL, "shap_values: malformed JSON");
    expect_bad(f, "{\"x\":{\"b\":1,\"b\":1}}", NULL, "shap_values: malformed JSON"); /* nested */
    expect_bad(f, NULL, "[{\"k\":1,\"k\":2}]", "top_features: malformed JSON");      /* in array */
    expect_bad(f, "{\"a/\":1,\"a\\/\":2}", NULL, "shap_values: malformed JSON");     /* \/ is / */
    expect_bad(f, "{\"\\u0061\":1,\"a\":2}", NULL, "shap_values: malformed JSON"); /* \u0061 is a */
}

static void test_types(void **state)
{
    struct fx *f = *state;
    expect_bad(f, "[1,2]", NULL, "shap_values: must be a JSON object");
    expect_bad(f, "\"text\"", NULL, "shap_values: must be a JSON object");
    expect_bad(f, "42", NULL, "shap_values: must be a JSON object");
    expect_bad(f, NULL, "{\"a\":1}", "top_features: must be a JSON array");
    expect_bad(f, NULL, "null", "top_features: must be a JSON array");
}

/* Merges one member_features row with the given JSON text; returns the store's code. */
static int merge_features(struct fx *f, const char *json)
{
    struct store_member_feature r;
    memset(&r, 0, sizeof r);
    memcpy(r.member_hash, f->member, sizeof r.member_hash);
    r.measurement_year = 2025 - f->n++ % 20; /* a fresh (member, year) key most times */
    r.features = (char *)json;
    snprintf(r.source, sizeof r.source, "csv");
    f->err[0] = '\0';
    return store_member_feature_merge_batch(f->st, &ACTOR, &r, 1, NULL, f->err, sizeof f->err);
}

/* member_features.features: a JSON object of feature names (1..63 of A-Z a-z 0-9 _ . -) to
 * finite numbers. store.c decides the flat common case with its own scanner; the rest (and every
 * rejection's wording) is jansson's. Verdicts from RFC 8259 and jansson's documented rules. */
static void test_features(void **state)
{
    struct fx *f = *state;
    static const char *const good[] = {
        "{}",
        "{\"a\":1}",
        " { \"pcp_visits\" : 5 , \"risk_score\" : 0.846 } ",
        "{\"x.y-z_1\":-1.5e-3,\"B\":0,\"c\":-0}",
        "{\"big\":1e99,\"neg\":-123456789012345678}",
        "{\"wide\":12345678901234567890.5}", /* 20 integer digits: jansson decides, a finite real */
        "{\"esc\\u0061ped\":1}",             /* an escaped key: jansson decides ("escaped") */
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (merge_features(f, good[i]) != SG_OK) fail_msg("rejected %s: %s", good[i], f->err);
    static const char *const bad[] = {
        "{\"a\":1,\"a\":2}",  /* duplicate key */
        "{\"a\":\"x\"}",      /* not a number */
        "{\"a\":null}",
        "{\"a\":true}",
        "{\"a\":{\"b\":1}}",  /* nested */
        "{\"bad name\":1}",   /* space in a name */
        "{\"\":1}",           /* empty name */
        "{\"a\":1e999}",      /* overflows a double */
        "{\"a\":01}",         /* leading zero */
        "{\"a\":1,}",         /* trailing comma */
        "{\"a\":1} x",        /* text after the object */
        "[1]",
        "1",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = merge_features(f, bad[i]);
        if (rc != SG_EINVAL || strncmp(f->err, "rows[0].features", 16))
            fail_msg("%s: got %d \"%s\", want SG_EINVAL \"rows[0].features...\"", bad[i], rc,
                     f->err);
    }
    char name[80], json[128];
    memset(name, 'n', sizeof name);
    name[63] = '\0'; /* 63 characters: the longest name */
    snprintf(json, sizeof json, "{\"%s\":1}", name);
    if (merge_features(f, json) != SG_OK) fail_msg("63-character name rejected: %s", f->err);
    name[63] = 'n';
    name[64] = '\0';
    snprintf(json, sizeof json, "{\"%s\":1}", name);
    assert_int_equal(merge_features(f, json), SG_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_features),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
