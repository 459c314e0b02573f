/* test_store_contract.c: the storage contract suite. One program, run once per backend: the
 * database URL comes from the first argument, `--url-file FILE` (a file whose first line is the
 * URL, written by a test harness), or the STARGAP_TEST_DB_URL environment variable. Without a
 * URL the program exits 77 (ctest SKIP_RETURN_CODE).
 *
 * Every test starts from an empty schema (migrate down to 0, then up) and a small measure
 * catalog, so tests are independent and the suite needs nothing but the URL. Expected values are
 * worked out in the tests from the rows they insert. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "core/config.h"
#include "core/hash.h"
#include "core/log.h"
#include "db/migrate.h"
#include "db/store.h"

static char g_url[4096];
static const struct store_actor ACTOR = {"tester", "127.0.0.1"};

struct fx {
    struct store *st;
    char err[SG_ERRLEN];
};

/* ---- helpers ---- */

static void member_hash_of(int i, char out[STORE_HASH_LEN])
{
    char id[32];
    snprintf(id, sizeof id, "member-%d", i);
    assert_int_equal(sg_sha256_hex(id, strlen(id), out), SG_OK);
}

static void seed_measures(struct fx *f)
{
    static const struct { const char *code, *cms; char part; int wcat; double w; int dir; } m[] = {
        {"BCS", "C01", 'C', STORE_WCAT_PROCESS, 1, STORE_HIGHER_BETTER},
        {"COL", "C02", 'C', STORE_WCAT_PROCESS, 1, STORE_HIGHER_BETTER},
        {"CBP", "C12", 'C', STORE_WCAT_INTERMEDIATE_OUTCOME, 3, STORE_HIGHER_BETTER},
        {"PCR", "C17", 'C', STORE_WCAT_OUTCOME, 3, STORE_LOWER_BETTER},
        {"PDC-DR", "D08", 'D', STORE_WCAT_INTERMEDIATE_OUTCOME, 3, STORE_HIGHER_BETTER},
    };
    struct store_measure rows[10];
    size_t n = 0;
    memset(rows, 0, sizeof rows);
    for (int y = 2025; y <= 2026; y++)
        for (size_t i = 0; i < 5; i++, n++) {
            rows[n].star_year = y;
            snprintf(rows[n].code, sizeof rows[n].code, "%s", m[i].code);
            snprintf(rows[n].cms_id, sizeof rows[n].cms_id, "%s", m[i].cms);
            snprintf(rows[n].name, sizeof rows[n].name, "Measure %s", m[i].code);
            rows[n].part = m[i].part;
            snprintf(rows[n].domain, sizeof rows[n].domain, "Domain");
            rows[n].weighting_category = (enum store_weight_cat)m[i].wcat;
            rows[n].weight = m[i].w;
            rows[n].direction = (enum store_direction)m[i].dir;
            rows[n].display_precision = 0;
            rows[n].member_level = 1;
        }
    assert_int_equal(store_measure_upsert_batch(f->st, NULL, rows, n, f->err, sizeof f->err), SG_OK);
}

static void add_member(struct fx *f, int i, const char *contract)
{
    struct store_member m = {.active = 1, .dual_eligible = -1, .lis = -1, .disabled = -1};
    member_hash_of(i, m.member_hash);
    snprintf(m.contract_id, sizeof m.contract_id, "%s", contract);
    int rc = store_member_create(f->st, &ACTOR, &m, f->err, sizeof f->err);
    if (rc) fprintf(stderr, "add_member: %s\n", f->err);
    assert_int_equal(rc, SG_OK);
}

static struct store_prediction pred(int member, const char *code, int year, double p, const char *model,
                                    const char *date)
{
    struct store_prediction x = {.measurement_year = year, .gap_probability = p,
                                 .risk_tier = p >= 0.7 ? STORE_TIER_HIGH : p >= 0.4 ? STORE_TIER_MEDIUM : STORE_TIER_LOW,
                                 .risk_score = p * 100};
    member_hash_of(member, x.member_hash);
    snprintf(x.measure_code, sizeof x.measure_code, "%s", code);
    snprintf(x.model_version, sizeof x.model_version, "%s", model);
    if (date) snprintf(x.prediction_date, sizeof x.prediction_date, "%s", date);
    return x;
}

static struct store_gap gap(int member, const char *code, int year, double p, double prio)
{
    struct store_gap g = {.measurement_year = year, .gap_probability = p, .priority_score = prio,
                          .estimated_cost = NAN, .estimated_value = NAN, .status = STORE_GAP_IDENTIFIED};
    member_hash_of(member, g.member_hash);
    snprintf(g.measure_code, sizeof g.measure_code, "%s", code);
    return g;
}

/* The error message must start with the expected field name (when one is given). */
static void check_prefix(const char *msg, const char *prefix)
{
    if (prefix && strncmp(msg, prefix, strlen(prefix)) != 0) {
        fprintf(stderr, "message '%s' does not start with '%s'\n", msg, prefix);
        fail();
    }
}

#define ASSERT_ERR(call, code, prefix)                                                         \
    do {                                                                                       \
        int rc_ = (call);                                                                      \
        if (rc_ != (code)) fprintf(stderr, "got %d (%s), want %d\n", rc_, f->err, (code));     \
        assert_int_equal(rc_, (code));                                                         \
        check_prefix(f->err, (prefix));                                                        \
    } while (0)
#include "store_test_ok.h"

static const char *today(char buf[STORE_DATE_LEN])
{
    char ts[STORE_TS_LEN];
    store_now(ts);
    store_date_of(ts, buf);
    return buf;
}

static long long audit_count(struct fx *f, const char *type, const char *id)
{
    struct store_audit_list l;
    struct store_page pg = {1, 0};
    OK(store_audit_get_trail(f->st, type, id, &pg, &l, f->err, sizeof f->err));
    long long n = l.total;
    store_audit_list_free(&l);
    return n;
}

static void assert_chain_ok(struct fx *f)
{
    struct store_audit_verify v;
    OK(store_audit_verify(f->st, &v, f->err, sizeof f->err));
    if (!v.ok) fprintf(stderr, "chain broken at %lld: %s\n", v.first_bad_id, v.reason);
    assert_true(v.ok);
}

/* ---- fixture ---- */

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    if (store_open(g_url, NULL, &f->st, f->err, sizeof f->err) != SG_OK ||
        migrate_down(f->st, 0, NULL, f->err, sizeof f->err) != SG_OK ||
        migrate_up(f->st, 0, NULL, f->err, sizeof f->err) != SG_OK) {
        fprintf(stderr, "setup: %s\n", f->err);
        store_close(f->st);
        free(f);
        return -1;
    }
    seed_measures(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->st);
    free(f);
    return 0;
}

/* ---- migrations ---- */

static void test_migrate_cycle(void **state)
{
    struct fx *f = *state;
    struct store_schema_status s;
    struct store_member m;
    int n = -1;
    OK(store_schema_status(f->st, &s, f->err, sizeof f->err));
    assert_true(s.latest_version >= 1);
    assert_int_equal(s.current_version, s.latest_version);
    assert_int_equal(s.pending, 0);
    add_member(f, 1, "H1111");

    OK(migrate_down(f->st, 0, &n, f->err, sizeof f->err));
    assert_true(n >= 1);
    int n_down = n; /* the number of migrations (versions may skip a number: 0004 before 0003) */
    OK(store_schema_status(f->st, &s, f->err, sizeof f->err));
    assert_int_equal(s.current_version, 0);
    assert_int_equal(s.pending, n_down);
    char h[STORE_HASH_LEN];
    member_hash_of(1, h);
    ASSERT_ERR(store_member_get(f->st, h, &m, f->err, sizeof f->err), SG_EDB, "member_get");

    OK(migrate_up(f->st, 0, &n, f->err, sizeof f->err));
    assert_int_equal(n, n_down);
    ASSERT_ERR(store_member_get(f->st, h, &m, f->err, sizeof f->err), SG_ENOTFOUND, NULL);
    OK(migrate_up(f->st, 0, &n, f->err, sizeof f->err)); /* idempotent */
    assert_int_equal(n, 0);
    ASSERT_ERR(migrate_up(f->st, 9999, &n, f->err, sizeof f->err), SG_EINVAL, "--to");

    /* An applied migration whose recorded checksum differs: up and down refuse. */
    OK(f->st->ops->raw_exec(f->st, "UPDATE schema_migrations SET checksum = "
                            "'0000000000000000000000000000000000000000000000000000000000000000' "
                            "WHERE version = 1", f->err, sizeof f->err));
    ASSERT_ERR(migrate_up(f->st, 0, &n, f->err, sizeof f->err), SG_ECHANGED, "migration 0001");
    ASSERT_ERR(migrate_down(f->st, 0, &n, f->err, sizeof f->err), SG_ECHANGED, "migration 0001");
    OK(store_schema_status(f->st, &s, f->err, sizeof f->err));
    assert_int_equal(s.changed, 1);
    /* Repair so teardown and the next setup can proceed. */
    size_t nm;
    const struct store_migration *ms = migrate_for_backend(f->st->ops->name, &nm);
    char sum[STORE_HASH_LEN], sql[256];
    assert_int_equal(sg_sha256_hex(ms[0].up, strlen(ms[0].up), sum), SG_OK);
    snprintf(sql, sizeof sql, "UPDATE schema_migrations SET checksum = '%s' WHERE version = 1", sum);
    OK(f->st->ops->raw_exec(f->st, sql, f->err, sizeof f->err));
    OK(migrate_up(f->st, 0, &n, f->err, sizeof f->err));
}

static void test_open_errors(void **state)
{
    struct fx *f = *state;
    struct store *st = (struct store *)1;
    ASSERT_ERR(store_open("mysql://x", NULL, &st, f->err, sizeof f->err), SG_EINVAL, "db:");
    assert_null(st);
    ASSERT_ERR(store_open("", NULL, &st, f->err, sizeof f->err), SG_EINVAL, "db:");
    ASSERT_ERR(store_open("sqlite:", NULL, &st, f->err, sizeof f->err), SG_EINVAL, "db:");
}

/* ---- members ---- */

static void test_members(void **state)
{
    struct fx *f = *state;
    struct store_member m = {.active = 1, .birth_year = 1950, .sex = STORE_SEX_FEMALE,
                             .dual_eligible = 1, .lis = 0, .disabled = -1}, got;
    member_hash_of(1, m.member_hash);
    snprintf(m.contract_id, sizeof m.contract_id, "H1234");
    OK(store_member_create(f->st, &ACTOR, &m, f->err, sizeof f->err));
    OK(store_member_get(f->st, m.member_hash, &got, f->err, sizeof f->err));
    assert_string_equal(got.member_hash, m.member_hash);
    assert_string_equal(got.contract_id, "H1234");
    assert_int_equal(got.birth_year, 1950);
    assert_int_equal(got.sex, STORE_SEX_FEMALE);
    assert_int_equal(got.dual_eligible, 1);
    assert_int_equal(got.lis, 0);
    assert_int_equal(got.disabled, -1);
    assert_int_equal(got.active, 1);
    assert_int_equal(got.total_predictions, 0);
    assert_true(got.first_seen[0] && got.created_at[0]);

    ASSERT_ERR(store_member_create(f->st, &ACTOR, &m, f->err, sizeof f->err), SG_ECONFLICT, "member_hash");

    /* get_or_create: existing member returned unchanged; a new one created. */
    struct store_member m2 = m;
    int created = -1;
    snprintf(m2.contract_id, sizeof m2.contract_id, "H9999");
    OK(store_member_get_or_create(f->st, &ACTOR, &m2, &got, &created, f->err, sizeof f->err));
    assert_int_equal(created, 0);
    assert_string_equal(got.contract_id, "H1234");
    member_hash_of(2, m2.member_hash);
    OK(store_member_get_or_create(f->st, &ACTOR, &m2, &got, &created, f->err, sizeof f->err));
    assert_int_equal(created, 1);
    assert_string_equal(got.contract_id, "H9999");

    OK(store_member_update_activity(f->st, &ACTOR, m.member_hash, 0, f->err, sizeof f->err));
    OK(store_member_get(f->st, m.member_hash, &got, f->err, sizeof f->err));
    assert_int_equal(got.active, 0);

    /* Audit: create + update for member 1, create for member 2, with the actor. */
    assert_int_equal(audit_count(f, "member", m.member_hash), 2);
    struct store_audit_list al;
    struct store_page pg = {10, 0};
    OK(store_audit_get_trail(f->st, "member", m.member_hash, &pg, &al, f->err, sizeof f->err));
    assert_int_equal(al.n, 2);
    assert_string_equal(al.items[0].action, "update"); /* newest first */
    assert_string_equal(al.items[1].action, "create");
    assert_string_equal(al.items[0].user_id, "tester");
    assert_string_equal(al.items[0].ip_address, "127.0.0.1");
    assert_non_null(strstr(al.items[0].changes, "\"before\":{\"active\":1}"));
    store_audit_list_free(&al);

    /* Bad input. */
    char missing[STORE_HASH_LEN];
    member_hash_of(99, missing);
    ASSERT_ERR(store_member_get(f->st, missing, &got, f->err, sizeof f->err), SG_ENOTFOUND, NULL);
    ASSERT_ERR(store_member_get(f->st, "abc", &got, f->err, sizeof f->err), SG_EINVAL, "member_hash");
    struct store_member bad = m;
    member_hash_of(3, bad.member_hash);
    bad.member_hash[0] = 'A'; /* upper case is not a canonical hash */
    ASSERT_ERR(store_member_create(f->st, &ACTOR, &bad, f->err, sizeof f->err), SG_EINVAL, "member_hash");
    member_hash_of(3, bad.member_hash);
    bad.birth_year = 1800;
    ASSERT_ERR(store_member_create(f->st, &ACTOR, &bad, f->err, sizeof f->err), SG_EINVAL, "birth_year");
    bad.birth_year = 0;
    bad.contract_id[0] = '\0';
    ASSERT_ERR(store_member_create(f->st, &ACTOR, &bad, f->err, sizeof f->err), SG_EINVAL, "contract_id");
    snprintf(bad.contract_id, sizeof bad.contract_id, "h12;");
    ASSERT_ERR(store_member_create(f->st, &ACTOR, &bad, f->err, sizeof f->err), SG_EINVAL, "contract_id");
    snprintf(bad.contract_id, sizeof bad.contract_id, "H1");
    bad.lis = 2;
    ASSERT_ERR(store_member_create(f->st, &ACTOR, &bad, f->err, sizeof f->err), SG_EINVAL, "lis");
    bad.lis = 0;
    struct store_actor noname = {"", NULL};
    ASSERT_ERR(store_member_create(f->st, &noname, &bad, f->err, sizeof f->err), SG_EINVAL, "actor.user_id");
    ASSERT_ERR(store_member_update_activity(f->st, &ACTOR, missing, 1, f->err, sizeof f->err), SG_ENOTFOUND, NULL);
    assert_chain_ok(f);
}

/* ---- predictions ---- */

static void test_predictions(void **state)
{
    struct fx *f = *state;
    add_member(f, 1, "H1111");
    add_member(f, 2, "H1111");
    struct store_prediction p = pred(1, "BCS", 2025, 0.8, "m1", "2025-03-01T10:00:00Z"), got;
    p.shap_values = "{\"age\":0.12,\"prior_gap\":-0.3}";
    p.top_features = "[\"age\",\"prior_gap\"]";
    snprintf(p.recommendation, sizeof p.recommendation, "schedule mammogram");
    OK(store_prediction_create(f->st, &ACTOR, &p, f->err, sizeof f->err));
    assert_true(sg_is_uuid(p.prediction_id)); /* generated */
    OK(store_prediction_get(f->st, p.prediction_id, &got, f->err, sizeof f->err));
    assert_string_equal(got.measure_code, "BCS");
    assert_int_equal(got.measurement_year, 2025);
    assert_true(fabs(got.gap_probability - 0.8) < 1e-12);
    assert_int_equal(got.risk_tier, STORE_TIER_HIGH);
    assert_true(fabs(got.risk_score - 80.0) < 1e-9);
    assert_string_equal(got.prediction_date, "2025-03-01T10:00:00.000000Z"); /* normalized */
    assert_string_equal(got.recommendation, "schedule mammogram");
    json_t *j = json_loads(got.shap_values, 0, NULL);
    assert_non_null(j);
    assert_true(fabs(json_real_value(json_object_get(j, "prior_gap")) + 0.3) < 1e-12);
    json_decref(j);
    assert_non_null(strstr(got.top_features, "prior_gap"));
    store_prediction_fini(&got);

    /* Duplicate (member, measure, year, model) -> conflict. */
    struct store_prediction dup = pred(1, "BCS", 2025, 0.5, "m1", NULL);
    ASSERT_ERR(store_prediction_create(f->st, &ACTOR, &dup, f->err, sizeof f->err), SG_ECONFLICT, NULL);
    /* Bad input. */
    struct store_prediction b = pred(1, "XYZ", 2025, 0.5, "m2", NULL);
    ASSERT_ERR(store_prediction_create(f->st, &ACTOR, &b, f->err, sizeof f->err), SG_EINVAL, "measure_code");
    b = pred(1, "BCS", 2025, 1.5, "m2", NULL);
    ASSERT_ERR(store_prediction_create(f->st, &ACTOR, &b, f->err, sizeof f->err), SG_EINVAL, "gap_probability");
    b = pred(1, "BCS", 2025, NAN, "m2", NULL);
    ASSERT_ERR(store_prediction_create(f->st, &ACTOR, &b, f->err, sizeof f->err), SG_EINVAL, "gap_probability");
    b = pred(1, "BCS", 2025, -0.01, "m2", NULL);
    ASSERT_ERR(store_prediction_create(f->st, &ACTOR, &b, f->err, sizeof f->err), SG_EINVAL, "gap_probability");
    b = pred(1, "BCS", 1999, 0.5, "m2", NULL);
    ASSERT_ERR(store_prediction_create(f->st, &ACTOR, &b, f->err, sizeof f->err), SG_EINVAL, "measurement_year");
    b = pred(1, "BCS", 2025, 0.5, "m2", NULL);
    b.shap_values = "{\"age\":";
    ASSERT_ERR(store_prediction_create(f->st, &ACTOR, &b, f->err, sizeof f->err), SG_EINVAL, "shap_values");
    b.shap_values = "[1,2]";
    ASSERT_ERR(store_prediction_create(f->st, &ACTOR, &b, f->err, sizeof f->err), SG_EINVAL, "shap_values");
    b.shap_values = "{\"a\":1,\"a\":2}";
    ASSERT_ERR(store_prediction_create(f->st, &ACTOR, &b, f->err, sizeof f->err), SG_EINVAL, "shap_values");
    b.shap_values = NULL;
    b.model_version[0] = '\0';
    ASSERT_ERR(store_prediction_create(f->st, &ACTOR, &b, f->err, sizeof f->err), SG_EINVAL, "model_version");
    b = pred(77, "BCS", 2025, 0.5, "m2", NULL);
    ASSERT_ERR(store_prediction_create(f->st, &ACTOR, &b, f->err, sizeof f->err), SG_EINVAL, "rows[0].member_hash");
    b = pred(1, "BCS", 2025, 0.5, "m2", "2025-02-30T00:00:00Z");
    ASSERT_ERR(store_prediction_create(f->st, &ACTOR, &b, f->err, sizeof f->err), SG_EINVAL, "prediction_date");
    b = pred(1, "BCS", 2025, 0.5, "m2", NULL);
    snprintf(b.prediction_id, sizeof b.prediction_id, "not-a-uuid");
    ASSERT_ERR(store_prediction_create(f->st, &ACTOR, &b, f->err, sizeof f->err), SG_EINVAL, "prediction_id");
    ASSERT_ERR(store_prediction_get(f->st, "nope", &got, f->err, sizeof f->err), SG_EINVAL, "prediction_id");
    ASSERT_ERR(store_prediction_get(f->st, "00000000-0000-4000-8000-000000000000", &got, f->err, sizeof f->err),
               SG_ENOTFOUND, NULL);

    /* get_by_member: newest first, filters, pagination. Member 1 gets 5 more predictions. */
    static const struct { const char *code; int year; const char *model, *date; } rows[] = {
        {"BCS", 2025, "m2", "2025-04-01T00:00:00Z"}, {"COL", 2025, "m1", "2025-05-01T00:00:00Z"},
        {"COL", 2026, "m1", "2026-01-15T00:00:00Z"}, {"BCS", 2026, "m1", "2025-12-01T00:00:00Z"},
        {"CBP", 2025, "m1", "2025-01-01T00:00:00Z"},
    };
    struct store_prediction batch[5];
    for (int i = 0; i < 5; i++) batch[i] = pred(1, rows[i].code, rows[i].year, 0.1 * (i + 1), rows[i].model, rows[i].date);
    OK(store_prediction_batch_create(f->st, &ACTOR, batch, 5, f->err, sizeof f->err));
    struct store_prediction_list l;
    struct store_page pg = {3, 0};
    OK(store_prediction_get_by_member(f->st, batch[0].member_hash, NULL, 0, &pg, &l, f->err, sizeof f->err));
    assert_int_equal(l.total, 6);
    assert_int_equal(l.n, 3);
    assert_true(l.has_more);
    assert_string_equal(l.items[0].prediction_date, "2026-01-15T00:00:00.000000Z");
    assert_string_equal(l.items[1].prediction_date, "2025-12-01T00:00:00.000000Z");
    assert_string_equal(l.items[2].prediction_date, "2025-05-01T00:00:00.000000Z");
    store_prediction_list_free(&l);
    pg.offset = 3;
    OK(store_prediction_get_by_member(f->st, batch[0].member_hash, NULL, 0, &pg, &l, f->err, sizeof f->err));
    assert_int_equal(l.n, 3);
    assert_false(l.has_more);
    assert_string_equal(l.items[2].prediction_date, "2025-01-01T00:00:00.000000Z");
    store_prediction_list_free(&l);
    pg = (struct store_page){10, 0};
    OK(store_prediction_get_by_member(f->st, batch[0].member_hash, "BCS", 0, &pg, &l, f->err, sizeof f->err));
    assert_int_equal(l.total, 3); /* m1 2025, m2 2025, m1 2026 */
    store_prediction_list_free(&l);
    OK(store_prediction_get_by_member(f->st, batch[0].member_hash, "BCS", 2025, &pg, &l, f->err, sizeof f->err));
    assert_int_equal(l.total, 2);
    assert_string_equal(l.items[0].model_version, "m2"); /* 2025-04-01 newer than 2025-03-01 */
    store_prediction_list_free(&l);
    OK(store_prediction_get_by_member(f->st, batch[0].member_hash, "PDC-DR", 0, &pg, &l, f->err, sizeof f->err));
    assert_int_equal(l.total, 0);
    assert_int_equal(l.n, 0);
    store_prediction_list_free(&l);
    pg.limit = 0;
    ASSERT_ERR(store_prediction_get_by_member(f->st, batch[0].member_hash, NULL, 0, &pg, &l, f->err, sizeof f->err),
               SG_EINVAL, "limit");
    pg.limit = STORE_MAX_LIMIT + 1;
    ASSERT_ERR(store_prediction_get_by_member(f->st, batch[0].member_hash, NULL, 0, &pg, &l, f->err, sizeof f->err),
               SG_EINVAL, "limit");
    pg = (struct store_page){10, -1};
    ASSERT_ERR(store_prediction_get_by_member(f->st, batch[0].member_hash, NULL, 0, &pg, &l, f->err, sizeof f->err),
               SG_EINVAL, "offset");

    /* get_latest. */
    OK(store_prediction_get_latest(f->st, batch[0].member_hash, "BCS", &got, f->err, sizeof f->err));
    assert_string_equal(got.prediction_date, "2025-12-01T00:00:00.000000Z");
    store_prediction_fini(&got);
    ASSERT_ERR(store_prediction_get_latest(f->st, batch[0].member_hash, "PCR", &got, f->err, sizeof f->err),
               SG_ENOTFOUND, NULL);

    /* total_predictions is maintained. */
    struct store_member m;
    OK(store_member_get(f->st, batch[0].member_hash, &m, f->err, sizeof f->err));
    assert_int_equal(m.total_predictions, 6);

    /* delete_old: the three predictions dated before 2025-04-15. */
    long long deleted = -1;
    OK(store_prediction_delete_old(f->st, &ACTOR, "2025-04-15T00:00:00Z", &deleted, f->err, sizeof f->err));
    assert_int_equal(deleted, 3);
    pg = (struct store_page){10, 0};
    OK(store_prediction_get_by_member(f->st, batch[0].member_hash, NULL, 0, &pg, &l, f->err, sizeof f->err));
    assert_int_equal(l.total, 3);
    store_prediction_list_free(&l);
    ASSERT_ERR(store_prediction_delete_old(f->st, &ACTOR, "yesterday", &deleted, f->err, sizeof f->err),
               SG_EINVAL, "before");
    assert_chain_ok(f);
}

static void test_prediction_batch_atomic(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 10; i++) add_member(f, i, "H2222");
    enum { N = 1000 };
    struct store_prediction *rows = calloc(N, sizeof *rows);
    assert_non_null(rows);
    static const char *codes[] = {"BCS", "COL", "CBP", "PCR", "PDC-DR"};
    for (int i = 0; i < N; i++) /* 10 members x 5 measures x 20 model versions */
    {
        char model[16];
        snprintf(model, sizeof model, "v%d", i / 50);
        rows[i] = pred((i / 5) % 10, codes[i % 5], 2025, (double)(i % 100) / 100.0, model, NULL);
    }
    /* A duplicate key late in the batch: nothing is written. */
    struct store_prediction saved = rows[777];
    rows[777] = rows[3];
    rows[777].prediction_id[0] = '\0';
    ASSERT_ERR(store_prediction_batch_create(f->st, &ACTOR, rows, N, f->err, sizeof f->err), SG_ECONFLICT, "rows[777]");
    struct store_prediction_list l;
    struct store_page pg = {1, 0};
    OK(store_prediction_get_by_member(f->st, rows[0].member_hash, NULL, 0, &pg, &l, f->err, sizeof f->err));
    assert_int_equal(l.total, 0);
    store_prediction_list_free(&l);
    struct store_member m;
    OK(store_member_get(f->st, rows[0].member_hash, &m, f->err, sizeof f->err));
    assert_int_equal(m.total_predictions, 0);
    rows[777] = saved;
    /* An invalid row: validation names it, nothing written. */
    rows[10].gap_probability = 2.0;
    ASSERT_ERR(store_prediction_batch_create(f->st, &ACTOR, rows, N, f->err, sizeof f->err), SG_EINVAL,
               "rows[10].gap_probability");
    rows[10].gap_probability = 0.1;
    /* A row of an unknown member (only found by the database): nothing written. */
    char keep[STORE_HASH_LEN];
    memcpy(keep, rows[500].member_hash, sizeof keep);
    member_hash_of(4242, rows[500].member_hash);
    ASSERT_ERR(store_prediction_batch_create(f->st, &ACTOR, rows, N, f->err, sizeof f->err), SG_EINVAL,
               "rows[500].member_hash");
    memcpy(rows[500].member_hash, keep, sizeof keep);
    long long audits = audit_count(f, "prediction", NULL);
    assert_int_equal(audits, 0);

    for (int i = 0; i < N; i++) rows[i].prediction_id[0] = '\0';
    OK(store_prediction_batch_create(f->st, &ACTOR, rows, N, f->err, sizeof f->err));
    long long sum = 0;
    for (int i = 0; i < 10; i++) {
        char h[STORE_HASH_LEN];
        member_hash_of(i, h);
        OK(store_prediction_get_by_member(f->st, h, NULL, 0, &pg, &l, f->err, sizeof f->err));
        assert_int_equal(l.total, 100); /* 5 measures x 20 versions */
        sum += l.total;
        store_prediction_list_free(&l);
        OK(store_member_get(f->st, h, &m, f->err, sizeof f->err));
        assert_int_equal(m.total_predictions, 100);
    }
    assert_int_equal(sum, N);
    assert_int_equal(audit_count(f, "prediction", NULL), 1); /* one row for the batch */
    ASSERT_ERR(store_prediction_batch_create(f->st, &ACTOR, rows, 0, f->err, sizeof f->err), SG_EINVAL, "rows");
    free(rows);
    assert_chain_ok(f);
}

/* ---- gaps ---- */

/* 12 gaps: members 0..5 (contracts H1 for even, H2 for odd), measures BCS/COL, years 2025/2026.
 * priority = 10 * index + 5, probability = 0.95 - 0.05 * index (reverse order of priority). */
static void make_gaps(struct fx *f, struct store_gap *out)
{
    for (int i = 0; i < 6; i++) add_member(f, i, i % 2 ? "H2" : "H1");
    for (int i = 0; i < 12; i++) {
        out[i] = gap(i % 6, i < 6 ? "BCS" : "COL", i % 4 < 2 ? 2025 : 2026, 0.95 - 0.05 * i, 10.0 * i + 5);
        OK(store_gap_create(f->st, &ACTOR, &out[i], f->err, sizeof f->err));
    }
}

/* The reference order of a gap list: key descending, then gap_id ascending. */
static int fp_sort_key; /* 0 priority, 1 probability */
static int fp_cmp(const void *pa, const void *pb)
{
    const struct store_gap *a = *(const struct store_gap *const *)pa;
    const struct store_gap *b = *(const struct store_gap *const *)pb;
    double ka = fp_sort_key ? a->gap_probability : a->priority_score;
    double kb = fp_sort_key ? b->gap_probability : b->priority_score;
    if (ka != kb) return ka > kb ? -1 : 1;
    return strcmp(a->gap_id, b->gap_id);
}

/* Every combination of the list's filters (status or none, measure, contract, year, minimum
 * priority), both sort orders and pages that start inside each status's rows and across them
 * returns exactly the reference page computed here from the rows: the rows, their order (ties
 * broken by gap_id), the total and has_more. Gaps of all four statuses share priorities and
 * probabilities, so a list without a status filter interleaves them. */
static void test_gaps_filter_pages(void **state)
{
    struct fx *f = *state;
    enum { NG = 32 };
    struct store_gap g[NG];
    static const char *const codes[] = {"BCS", "COL"};
    for (int i = 0; i < 8; i++) add_member(f, i, i % 2 ? "H2" : "H1");
    for (int i = 0; i < NG; i++) {
        /* member i % 8, measure (i / 8) % 2, year 2025 + i / 16: unique; keys repeat */
        g[i] = gap(i % 8, codes[(i / 8) % 2], 2025 + i / 16, 0.05 * (double)(1 + (i * 7) % 9),
                   10.0 * (double)((i * 5) % 7));
        OK(store_gap_create(f->st, &ACTOR, &g[i], f->err, sizeof f->err));
        g[i].contract_id[0] = '\0';
        snprintf(g[i].contract_id, sizeof g[i].contract_id, "%s", (i % 8) % 2 ? "H2" : "H1");
        int to = (i * 3) % 4; /* 0 identified, 1 assigned, 2 completed, 3 closed */
        if (to >= 1)
            OK(store_gap_update_status(f->st, &ACTOR, g[i].gap_id, STORE_GAP_ASSIGNED, NULL, f->err,
                                       sizeof f->err));
        if (to >= 2)
            OK(store_gap_update_status(f->st, &ACTOR, g[i].gap_id, STORE_GAP_COMPLETED, NULL,
                                       f->err, sizeof f->err));
        if (to == 3)
            OK(store_gap_close(f->st, &ACTOR, g[i].gap_id, NULL, f->err, sizeof f->err));
        g[i].status = (enum store_gap_status)to;
    }
    long queries = 0;
    for (int st = -1; st <= STORE_GAP_CLOSED; st++)
        for (int fm = 0; fm < 16; fm++)
            for (int sort = 0; sort < 2; sort++)
                for (long off = 0; off <= 12; off += 4) {
                    struct store_gap_filter flt = {
                        .has_status = st >= 0, .status = st >= 0 ? (enum store_gap_status)st : 0,
                        .measure_code = fm & 1 ? "COL" : NULL, .contract_id = fm & 2 ? "H2" : NULL,
                        .measurement_year = fm & 4 ? 2026 : 0, .min_priority = fm & 8 ? 20.0 : NAN,
                        .sort = sort ? STORE_SORT_PROBABILITY : STORE_SORT_PRIORITY,
                        .page = {3, off}};
                    const struct store_gap *want[NG];
                    size_t nw = 0;
                    for (int i = 0; i < NG; i++) {
                        if (flt.has_status && g[i].status != flt.status) continue;
                        if (flt.measure_code && strcmp(g[i].measure_code, flt.measure_code)) continue;
                        if (flt.contract_id && strcmp(g[i].contract_id, flt.contract_id)) continue;
                        if (flt.measurement_year && g[i].measurement_year != flt.measurement_year)
                            continue;
                        if (!isnan(flt.min_priority) && g[i].priority_score < flt.min_priority)
                            continue;
                        want[nw++] = &g[i];
                    }
                    fp_sort_key = sort;
                    qsort(want, nw, sizeof want[0], fp_cmp);
                    struct store_gap_list l;
                    OK(store_gap_get_with_filters(f->st, &flt, &l, f->err, sizeof f->err));
                    queries++;
                    size_t first = (size_t)off < nw ? (size_t)off : nw;
                    size_t n = nw - first < 3 ? nw - first : 3;
                    if (l.total != (long long)nw || l.n != n)
                        fprintf(stderr, "status %d filters %d sort %d offset %ld: total %lld n %zu,"
                                " want %zu %zu\n", st, fm, sort, off, l.total, l.n, nw, n);
                    assert_int_equal(l.total, (long long)nw);
                    assert_int_equal(l.n, n);
                    assert_int_equal(l.has_more, first + n < nw);
                    for (size_t k = 0; k < n; k++) {
                        assert_string_equal(l.items[k].gap_id, want[first + k]->gap_id);
                        assert_int_equal(l.items[k].status, want[first + k]->status);
                    }
                    store_gap_list_free(&l);
                }
    assert_int_equal(queries, 5 * 16 * 2 * 4);
}

static void test_gaps_filters(void **state)
{
    struct fx *f = *state;
    struct store_gap g[12], got;
    struct store_gap_list l;
    make_gaps(f, g);
    OK(store_gap_get(f->st, g[3].gap_id, &got, f->err, sizeof f->err));
    assert_string_equal(got.member_hash, g[3].member_hash);
    assert_string_equal(got.contract_id, "H2"); /* copied from the member */
    assert_int_equal(got.status, STORE_GAP_IDENTIFIED);
    assert_true(fabs(got.priority_score - 35.0) < 1e-9);
    assert_true(isnan(got.estimated_cost));

    /* No filter: all 12 by priority descending. */
    struct store_gap_filter flt = {.min_priority = NAN, .page = {5, 0}};
    OK(store_gap_get_with_filters(f->st, &flt, &l, f->err, sizeof f->err));
    assert_int_equal(l.total, 12);
    assert_int_equal(l.n, 5);
    assert_true(l.has_more);
    assert_string_equal(l.items[0].gap_id, g[11].gap_id);
    assert_string_equal(l.items[4].gap_id, g[7].gap_id);
    store_gap_list_free(&l);
    flt.page.offset = 10;
    OK(store_gap_get_with_filters(f->st, &flt, &l, f->err, sizeof f->err));
    assert_int_equal(l.n, 2);
    assert_false(l.has_more);
    assert_string_equal(l.items[1].gap_id, g[0].gap_id);
    store_gap_list_free(&l);

    /* Sort by probability: highest first = g[0]. */
    flt.page = (struct store_page){3, 0};
    flt.sort = STORE_SORT_PROBABILITY;
    OK(store_gap_get_with_filters(f->st, &flt, &l, f->err, sizeof f->err));
    assert_string_equal(l.items[0].gap_id, g[0].gap_id);
    assert_string_equal(l.items[2].gap_id, g[2].gap_id);
    store_gap_list_free(&l);
    flt.sort = STORE_SORT_PRIORITY;

    /* Move some gaps: g1, g4, g7 -> assigned; g4 -> completed; g10 -> closed. */
    OK(store_gap_update_status(f->st, &ACTOR, g[1].gap_id, STORE_GAP_ASSIGNED, NULL, f->err, sizeof f->err));
    OK(store_gap_update_status(f->st, &ACTOR, g[4].gap_id, STORE_GAP_ASSIGNED, NULL, f->err, sizeof f->err));
    OK(store_gap_update_status(f->st, &ACTOR, g[7].gap_id, STORE_GAP_ASSIGNED, NULL, f->err, sizeof f->err));
    OK(store_gap_update_status(f->st, &ACTOR, g[4].gap_id, STORE_GAP_COMPLETED, NULL, f->err, sizeof f->err));
    OK(store_gap_close(f->st, &ACTOR, g[10].gap_id, NULL, f->err, sizeof f->err));

    /* Expected counts from the data: identified = 12 - 3 assigned/completed - 1 closed = 8. */
    struct { int has_status; enum store_gap_status status; const char *measure, *contract; int year;
             double minp; long long want; } cases[] = {
        {1, STORE_GAP_IDENTIFIED, NULL, NULL, 0, NAN, 8},
        {1, STORE_GAP_ASSIGNED, NULL, NULL, 0, NAN, 2},   /* g1, g7 */
        {1, STORE_GAP_COMPLETED, NULL, NULL, 0, NAN, 1},  /* g4 */
        {1, STORE_GAP_CLOSED, NULL, NULL, 0, NAN, 1},     /* g10 */
        {0, 0, "BCS", NULL, 0, NAN, 6},
        {1, STORE_GAP_IDENTIFIED, "BCS", NULL, 0, NAN, 4}, /* g0, g2, g3, g5 */
        {1, STORE_GAP_IDENTIFIED, "COL", "H1", 0, NAN, 2}, /* g6, g8 (g10 closed): H1 = even member */
        {0, 0, NULL, NULL, 2026, NAN, 6},                  /* i%4 in {2,3}: 2,3,6,7,10,11 */
        {1, STORE_GAP_IDENTIFIED, NULL, NULL, 2026, NAN, 4}, /* 2,3,6,11 */
        {1, STORE_GAP_IDENTIFIED, NULL, NULL, 0, 60.0, 4},  /* priority >= 60 (i >= 6), identified: 6, 8, 9, 11 */
        {0, 0, NULL, "H2", 0, 50.0, 4},                    /* odd member, priority >= 50: 5, 7, 9, 11 */
    };
    /* Each expected total is also recounted from the rows' properties. */
    enum store_gap_status st_now[12];
    for (int i = 0; i < 12; i++) st_now[i] = STORE_GAP_IDENTIFIED;
    st_now[1] = st_now[7] = STORE_GAP_ASSIGNED;
    st_now[4] = STORE_GAP_COMPLETED;
    st_now[10] = STORE_GAP_CLOSED;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        long long want = 0;
        for (int i = 0; i < 12; i++) {
            const char *code = i < 6 ? "BCS" : "COL";
            const char *contract = (i % 6) % 2 ? "H2" : "H1";
            int year = i % 4 < 2 ? 2025 : 2026;
            if (cases[c].has_status && st_now[i] != cases[c].status) continue;
            if (cases[c].measure && strcmp(cases[c].measure, code)) continue;
            if (cases[c].contract && strcmp(cases[c].contract, contract)) continue;
            if (cases[c].year && cases[c].year != year) continue;
            if (!isnan(cases[c].minp) && 10.0 * i + 5 < cases[c].minp) continue;
            want++;
        }
        assert_int_equal(want, cases[c].want); /* the hand count agrees with the rows */
        struct store_gap_filter fc = {.has_status = cases[c].has_status, .status = cases[c].status,
                                      .measure_code = cases[c].measure, .contract_id = cases[c].contract,
                                      .measurement_year = cases[c].year, .min_priority = cases[c].minp,
                                      .page = {2, 0}};
        OK(store_gap_get_with_filters(f->st, &fc, &l, f->err, sizeof f->err));
        if (l.total != want) fprintf(stderr, "case %zu: total %lld want %lld\n", c, l.total, want);
        assert_int_equal(l.total, want);
        assert_int_equal((long long)l.n, want < 2 ? want : 2);
        assert_int_equal(l.has_more, want > 2);
        for (size_t k = 0; k < l.n; k++) {
            if (cases[c].has_status) assert_int_equal(l.items[k].status, cases[c].status);
            if (cases[c].measure) assert_string_equal(l.items[k].measure_code, cases[c].measure);
            if (cases[c].contract) assert_string_equal(l.items[k].contract_id, cases[c].contract);
            if (k) assert_true(l.items[k - 1].priority_score >= l.items[k].priority_score);
        }
        store_gap_list_free(&l);
    }

    /* Bad filters. */
    struct store_gap_filter bad = {.min_priority = -1, .page = {10, 0}};
    ASSERT_ERR(store_gap_get_with_filters(f->st, &bad, &l, f->err, sizeof f->err), SG_EINVAL, "min_priority");
    bad.min_priority = NAN;
    bad.has_status = 1;
    bad.status = (enum store_gap_status)9;
    ASSERT_ERR(store_gap_get_with_filters(f->st, &bad, &l, f->err, sizeof f->err), SG_EINVAL, "status");
    bad.has_status = 0;
    bad.measure_code = "bcs'--";
    ASSERT_ERR(store_gap_get_with_filters(f->st, &bad, &l, f->err, sizeof f->err), SG_EINVAL, "measure");
    bad.measure_code = NULL;
    bad.page.limit = 0;
    ASSERT_ERR(store_gap_get_with_filters(f->st, &bad, &l, f->err, sizeof f->err), SG_EINVAL, "limit");

    /* Create errors. */
    struct store_gap d = gap(0, "BCS", 2025, 0.5, 1);
    ASSERT_ERR(store_gap_create(f->st, &ACTOR, &d, f->err, sizeof f->err), SG_ECONFLICT, NULL);
    d = gap(99, "BCS", 2025, 0.5, 1);
    ASSERT_ERR(store_gap_create(f->st, &ACTOR, &d, f->err, sizeof f->err), SG_EINVAL, "member_hash");
    d = gap(0, "PCR", 2025, 0.5, -1);
    ASSERT_ERR(store_gap_create(f->st, &ACTOR, &d, f->err, sizeof f->err), SG_EINVAL, "priority_score");
    d = gap(0, "PCR", 2025, 0.5, 1);
    d.estimated_cost = -5;
    ASSERT_ERR(store_gap_create(f->st, &ACTOR, &d, f->err, sizeof f->err), SG_EINVAL, "estimated_cost");
    d.estimated_cost = NAN;
    snprintf(d.assigned_date, sizeof d.assigned_date, "2025-13-01");
    ASSERT_ERR(store_gap_create(f->st, &ACTOR, &d, f->err, sizeof f->err), SG_EINVAL, "assigned_date");
    ASSERT_ERR(store_gap_get(f->st, "00000000-0000-4000-8000-000000000000", &got, f->err, sizeof f->err),
               SG_ENOTFOUND, NULL);

    /* Upper-case id is accepted and normalized. */
    char upper[STORE_ID_LEN];
    for (int i = 0; i < 37; i++) upper[i] = (char)(g[2].gap_id[i] >= 'a' && g[2].gap_id[i] <= 'f' ? g[2].gap_id[i] - 32 : g[2].gap_id[i]);
    OK(store_gap_get(f->st, upper, &got, f->err, sizeof f->err));
    assert_string_equal(got.gap_id, g[2].gap_id);

    /* high priority: open gaps (identified/assigned) with priority >= 50, highest first. */
    OK(store_gap_get_high_priority(f->st, 50, NULL, 100, &l, f->err, sizeof f->err));
    /* >= 50: 5(55),6,7,8,9,10,11; open: 5,6,7,8,9,11 (10 is closed) */
    assert_int_equal(l.n, 6);
    assert_string_equal(l.items[0].gap_id, g[11].gap_id);
    assert_string_equal(l.items[5].gap_id, g[5].gap_id);
    store_gap_list_free(&l);
    OK(store_gap_get_high_priority(f->st, 50, "H1", 100, &l, f->err, sizeof f->err));
    assert_int_equal(l.n, 2); /* even member idx among 5,6,7,8,9,11: 6 (0), 8 (2) */
    store_gap_list_free(&l);

    /* by member: member 0 has g0 (BCS 2025) and g6 (COL 2026): newest year first. */
    OK(store_gap_get_by_member(f->st, &ACTOR, g[0].member_hash, &l, f->err, sizeof f->err));
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].gap_id, g[6].gap_id);
    store_gap_list_free(&l);
    struct store_audit_list al;
    struct store_page pg = {5, 0};
    OK(store_audit_get_trail(f->st, "member", g[0].member_hash, &pg, &al, f->err, sizeof f->err));
    assert_string_equal(al.items[0].event_type, "data_access");
    assert_string_equal(al.items[0].action, "read_gaps");
    store_audit_list_free(&al);
    assert_chain_ok(f);
}

static void test_gap_transitions(void **state)
{
    struct fx *f = *state;
    struct store_gap g[12], out;
    char d[STORE_DATE_LEN];
    make_gaps(f, g);
    today(d);
    OK(store_gap_update_status(f->st, &ACTOR, g[0].gap_id, STORE_GAP_ASSIGNED, &out, f->err, sizeof f->err));
    assert_int_equal(out.status, STORE_GAP_ASSIGNED);
    assert_string_equal(out.assigned_date, d);
    assert_string_equal(out.completed_date, "");
    OK(store_gap_update_status(f->st, &ACTOR, g[0].gap_id, STORE_GAP_COMPLETED, &out, f->err, sizeof f->err));
    assert_string_equal(out.completed_date, d);
    assert_string_equal(out.assigned_date, d);
    OK(store_gap_update_status(f->st, &ACTOR, g[0].gap_id, STORE_GAP_CLOSED, &out, f->err, sizeof f->err));
    assert_string_equal(out.closed_date, d);
    ASSERT_ERR(store_gap_update_status(f->st, &ACTOR, g[0].gap_id, STORE_GAP_ASSIGNED, &out, f->err, sizeof f->err),
               SG_ETRANSITION, "status: closed -> assigned");
    ASSERT_ERR(store_gap_update_status(f->st, &ACTOR, g[1].gap_id, STORE_GAP_COMPLETED, &out, f->err, sizeof f->err),
               SG_ETRANSITION, "status: identified -> completed");
    ASSERT_ERR(store_gap_update_status(f->st, &ACTOR, g[1].gap_id, STORE_GAP_IDENTIFIED, &out, f->err, sizeof f->err),
               SG_ETRANSITION, NULL);
    OK(store_gap_update_status(f->st, &ACTOR, g[1].gap_id, STORE_GAP_ASSIGNED, &out, f->err, sizeof f->err));
    ASSERT_ERR(store_gap_update_status(f->st, &ACTOR, g[1].gap_id, STORE_GAP_ASSIGNED, &out, f->err, sizeof f->err),
               SG_ETRANSITION, NULL);
    ASSERT_ERR(store_gap_update_status(f->st, &ACTOR, g[1].gap_id, STORE_GAP_IDENTIFIED, &out, f->err, sizeof f->err),
               SG_ETRANSITION, NULL);
    OK(store_gap_close(f->st, &ACTOR, g[1].gap_id, &out, f->err, sizeof f->err)); /* assigned -> closed */
    OK(store_gap_close(f->st, &ACTOR, g[2].gap_id, &out, f->err, sizeof f->err)); /* identified -> closed */
    ASSERT_ERR(store_gap_close(f->st, &ACTOR, g[2].gap_id, &out, f->err, sizeof f->err), SG_ETRANSITION, NULL);
    ASSERT_ERR(store_gap_close(f->st, &ACTOR, "00000000-0000-4000-8000-000000000000", &out, f->err, sizeof f->err),
               SG_ENOTFOUND, NULL);
    ASSERT_ERR(store_gap_update_status(f->st, &ACTOR, g[3].gap_id, (enum store_gap_status)7, &out, f->err, sizeof f->err),
               SG_EINVAL, "status");

    /* The transition table itself (store.c, shared by both backends). */
    int allowed = 0;
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) allowed += store_gap_transition_ok((enum store_gap_status)a, (enum store_gap_status)b);
    assert_int_equal(allowed, 5);

    /* Audit rows carry before/after. g0: create, update, update, close. */
    struct store_audit_list al;
    struct store_page pg = {10, 0};
    OK(store_audit_get_trail(f->st, "gap", g[0].gap_id, &pg, &al, f->err, sizeof f->err));
    assert_int_equal(al.n, 4);
    assert_string_equal(al.items[0].action, "close");
    assert_string_equal(al.items[3].action, "create");
    json_t *j = json_loads(al.items[1].changes, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "before"), "status")), "assigned");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "after"), "status")), "completed");
    json_decref(j);
    store_audit_list_free(&al);
    /* Failed transitions wrote nothing: g2 has create + close only. */
    assert_int_equal(audit_count(f, "gap", g[2].gap_id), 2);
    assert_chain_ok(f);
}

/* ---- interventions ---- */

static void test_interventions(void **state)
{
    struct fx *f = *state;
    struct store_gap g[12], gg;
    struct store_intervention iv, got, out;
    struct store_intervention_list l;
    make_gaps(f, g);
    /* Single-gap intervention on g0 (member 0, BCS 2025). */
    memset(&iv, 0, sizeof iv);
    iv.estimated_cost = 25; iv.estimated_value = 300; iv.roi = NAN;
    memcpy(iv.gap_id, g[0].gap_id, STORE_ID_LEN);
    memcpy(iv.member_hash, g[0].member_hash, STORE_HASH_LEN);
    snprintf(iv.intervention_type, sizeof iv.intervention_type, "outreach_call");
    snprintf(iv.scheduled_date, sizeof iv.scheduled_date, "2025-06-10");
    OK(store_intervention_create(f->st, &ACTOR, &iv, f->err, sizeof f->err));
    OK(store_intervention_get(f->st, iv.intervention_id, &got, f->err, sizeof f->err));
    assert_int_equal(got.n_measure_codes, 1);
    assert_string_equal(got.measure_codes[0], "BCS");
    assert_string_equal(got.gap_id, g[0].gap_id);
    assert_int_equal(got.status, STORE_IV_PLANNED);
    assert_true(fabs(got.estimated_cost - 25) < 1e-9);

    /* Bundle for member 0: BCS + COL -> links g0 and g6 (its open gaps of those measures). */
    struct store_intervention b;
    memset(&b, 0, sizeof b);
    b.estimated_cost = b.estimated_value = b.roi = NAN;
    memcpy(b.member_hash, g[0].member_hash, STORE_HASH_LEN);
    snprintf(b.measure_codes[0], STORE_CODE_LEN, "BCS");
    snprintf(b.measure_codes[1], STORE_CODE_LEN, "COL");
    b.n_measure_codes = 2;
    snprintf(b.intervention_type, sizeof b.intervention_type, "home_visit");
    snprintf(b.scheduled_date, sizeof b.scheduled_date, "2025-06-01");
    b.status = STORE_IV_IN_PROGRESS;
    OK(store_intervention_create(f->st, &ACTOR, &b, f->err, sizeof f->err));
    OK(store_intervention_get(f->st, b.intervention_id, &got, f->err, sizeof f->err));
    assert_string_equal(got.gap_id, "");
    assert_int_equal(got.n_measure_codes, 2);
    assert_string_equal(got.measure_codes[1], "COL");

    /* Intervention for member 1 on g1, unscheduled; and member 2's g2 scheduled late. */
    struct store_intervention c = iv, d = iv;
    c.intervention_id[0] = d.intervention_id[0] = '\0';
    c.n_measure_codes = d.n_measure_codes = 0;
    memcpy(c.gap_id, g[1].gap_id, STORE_ID_LEN);
    memcpy(c.member_hash, g[1].member_hash, STORE_HASH_LEN);
    c.scheduled_date[0] = '\0';
    OK(store_intervention_create(f->st, &ACTOR, &c, f->err, sizeof f->err));
    memcpy(d.gap_id, g[2].gap_id, STORE_ID_LEN);
    memcpy(d.member_hash, g[2].member_hash, STORE_HASH_LEN);
    snprintf(d.scheduled_date, sizeof d.scheduled_date, "2025-09-01");
    OK(store_intervention_create(f->st, &ACTOR, &d, f->err, sizeof f->err));

    /* Bad creates. */
    struct store_intervention e = iv;
    e.intervention_id[0] = '\0';
    memcpy(e.member_hash, g[1].member_hash, STORE_HASH_LEN); /* g0 belongs to member 0 */
    e.n_measure_codes = 0;
    ASSERT_ERR(store_intervention_create(f->st, &ACTOR, &e, f->err, sizeof f->err), SG_EINVAL, "gap_id");
    e = b;
    e.intervention_id[0] = '\0';
    snprintf(e.measure_codes[1], STORE_CODE_LEN, "BCS");
    ASSERT_ERR(store_intervention_create(f->st, &ACTOR, &e, f->err, sizeof f->err), SG_EINVAL, "measure_codes[1]");
    snprintf(e.measure_codes[1], STORE_CODE_LEN, "NOPE");
    ASSERT_ERR(store_intervention_create(f->st, &ACTOR, &e, f->err, sizeof f->err), SG_EINVAL, "measure_codes[1]");
    e.n_measure_codes = 0;
    ASSERT_ERR(store_intervention_create(f->st, &ACTOR, &e, f->err, sizeof f->err), SG_EINVAL, "measure_codes");
    e = b;
    e.intervention_id[0] = '\0';
    e.status = STORE_IV_COMPLETED;
    ASSERT_ERR(store_intervention_create(f->st, &ACTOR, &e, f->err, sizeof f->err), SG_EINVAL, "status");
    e.status = STORE_IV_PLANNED;
    e.intervention_type[0] = '\0';
    ASSERT_ERR(store_intervention_create(f->st, &ACTOR, &e, f->err, sizeof f->err), SG_EINVAL, "intervention_type");
    e = b;
    e.intervention_id[0] = '\0';
    member_hash_of(99, e.member_hash);
    ASSERT_ERR(store_intervention_create(f->st, &ACTOR, &e, f->err, sizeof f->err), SG_EINVAL, "member_hash");

    /* Pending on 2025-06-30: planned/in_progress with scheduled_date <= date, earliest first:
     * bundle (06-01), iv (06-10); c unscheduled, d later. */
    struct store_page pg = {10, 0};
    OK(store_intervention_get_pending(f->st, "2025-06-30", &pg, &l, f->err, sizeof f->err));
    assert_int_equal(l.total, 2);
    assert_string_equal(l.items[0].intervention_id, b.intervention_id);
    assert_string_equal(l.items[1].intervention_id, iv.intervention_id);
    store_intervention_list_free(&l);
    OK(store_intervention_get_pending(f->st, "2025-12-31", &pg, &l, f->err, sizeof f->err));
    assert_int_equal(l.total, 3);
    store_intervention_list_free(&l);
    ASSERT_ERR(store_intervention_get_pending(f->st, "30/06/2025", &pg, &l, f->err, sizeof f->err), SG_EINVAL, "date");

    /* List filters. */
    struct store_iv_filter flt = {.member_hash = g[0].member_hash, .page = {10, 0}};
    OK(store_intervention_list(f->st, &ACTOR, &flt, &l, f->err, sizeof f->err));
    assert_int_equal(l.total, 2);
    store_intervention_list_free(&l);
    flt = (struct store_iv_filter){.has_status = 1, .status = STORE_IV_PLANNED, .page = {10, 0}};
    OK(store_intervention_list(f->st, &ACTOR, &flt, &l, f->err, sizeof f->err));
    assert_int_equal(l.total, 3);
    for (size_t k = 0; k < l.n; k++) assert_int_equal(l.items[k].status, STORE_IV_PLANNED);
    store_intervention_list_free(&l);
    OK(store_intervention_get_bundles(f->st, &ACTOR, g[0].member_hash, &l, f->err, sizeof f->err));
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].intervention_id, b.intervention_id);
    store_intervention_list_free(&l);
    OK(store_intervention_get_by_member(f->st, NULL, g[1].member_hash, &l, f->err, sizeof f->err));
    assert_int_equal(l.n, 1);
    store_intervention_list_free(&l);

    /* Updates. */
    struct store_iv_update u = {.set_status = 1, .status = STORE_IV_IN_PROGRESS};
    OK(store_intervention_update(f->st, &ACTOR, iv.intervention_id, &u, &out, f->err, sizeof f->err));
    assert_int_equal(out.status, STORE_IV_IN_PROGRESS);
    u.status = STORE_IV_PLANNED;
    ASSERT_ERR(store_intervention_update(f->st, &ACTOR, iv.intervention_id, &u, &out, f->err, sizeof f->err),
               SG_ETRANSITION, "status");
    u = (struct store_iv_update){.set_outcome = 1, .outcome = STORE_OUTCOME_SUCCESS};
    ASSERT_ERR(store_intervention_update(f->st, &ACTOR, iv.intervention_id, &u, &out, f->err, sizeof f->err),
               SG_EINVAL, "outcome");
    u = (struct store_iv_update){.set_scheduled_date = 1};
    snprintf(u.scheduled_date, sizeof u.scheduled_date, "2025-07-04");
    OK(store_intervention_update(f->st, &ACTOR, iv.intervention_id, &u, &out, f->err, sizeof f->err));
    assert_string_equal(out.scheduled_date, "2025-07-04");
    u = (struct store_iv_update){0};
    ASSERT_ERR(store_intervention_update(f->st, &ACTOR, iv.intervention_id, &u, &out, f->err, sizeof f->err),
               SG_EINVAL, "update");
    u = (struct store_iv_update){.set_status = 1, .status = STORE_IV_COMPLETED};
    ASSERT_ERR(store_intervention_update(f->st, &ACTOR, iv.intervention_id, &u, &out, f->err, sizeof f->err),
               SG_EINVAL, "status");

    /* Complete the bundle with success: closes g0 and g6. */
    int closed = -1;
    char day[STORE_DATE_LEN];
    OK(store_intervention_complete(f->st, &ACTOR, b.intervention_id, STORE_OUTCOME_SUCCESS, &out, &closed,
                                   f->err, sizeof f->err));
    assert_int_equal(closed, 2);
    assert_int_equal(out.status, STORE_IV_COMPLETED);
    assert_int_equal(out.outcome, STORE_OUTCOME_SUCCESS);
    assert_string_equal(out.completed_date, today(day));
    OK(store_gap_get(f->st, g[0].gap_id, &gg, f->err, sizeof f->err));
    assert_int_equal(gg.status, STORE_GAP_CLOSED);
    OK(store_gap_get(f->st, g[6].gap_id, &gg, f->err, sizeof f->err));
    assert_int_equal(gg.status, STORE_GAP_CLOSED);
    ASSERT_ERR(store_intervention_complete(f->st, &ACTOR, b.intervention_id, STORE_OUTCOME_SUCCESS, &out, &closed,
                                           f->err, sizeof f->err), SG_ETRANSITION, NULL);
    /* The single intervention on g0 completes; its gap is already closed: 0 closed. */
    OK(store_intervention_complete(f->st, &ACTOR, iv.intervention_id, STORE_OUTCOME_PARTIAL, &out, &closed,
                                   f->err, sizeof f->err));
    assert_int_equal(closed, 0);
    /* A failed outcome leaves the gap open. */
    OK(store_intervention_complete(f->st, &ACTOR, c.intervention_id, STORE_OUTCOME_FAILED, &out, &closed,
                                   f->err, sizeof f->err));
    assert_int_equal(closed, 0);
    OK(store_gap_get(f->st, g[1].gap_id, &gg, f->err, sizeof f->err));
    assert_int_equal(gg.status, STORE_GAP_IDENTIFIED);
    ASSERT_ERR(store_intervention_complete(f->st, &ACTOR, d.intervention_id, STORE_OUTCOME_NONE, &out, &closed,
                                           f->err, sizeof f->err), SG_EINVAL, "outcome");
    /* Outcome can be corrected on a completed intervention; its schedule cannot. */
    u = (struct store_iv_update){.set_outcome = 1, .outcome = STORE_OUTCOME_SUCCESS};
    OK(store_intervention_update(f->st, &ACTOR, c.intervention_id, &u, &out, f->err, sizeof f->err));
    assert_int_equal(out.outcome, STORE_OUTCOME_SUCCESS);
    u = (struct store_iv_update){.set_scheduled_date = 1};
    ASSERT_ERR(store_intervention_update(f->st, &ACTOR, c.intervention_id, &u, &out, f->err, sizeof f->err),
               SG_EINVAL, "scheduled_date");
    /* Cancel d; cancelled is final. */
    u = (struct store_iv_update){.set_status = 1, .status = STORE_IV_CANCELLED};
    OK(store_intervention_update(f->st, &ACTOR, d.intervention_id, &u, &out, f->err, sizeof f->err));
    ASSERT_ERR(store_intervention_complete(f->st, &ACTOR, d.intervention_id, STORE_OUTCOME_SUCCESS, &out, &closed,
                                           f->err, sizeof f->err), SG_ETRANSITION, NULL);
    ASSERT_ERR(store_intervention_get(f->st, "00000000-0000-4000-8000-000000000000", &got, f->err, sizeof f->err),
               SG_ENOTFOUND, NULL);
    assert_chain_ok(f);
}

/* ---- snapshots, star ratings, simulations ---- */

static void test_snapshots(void **state)
{
    struct fx *f = *state;
    struct store_snapshot s = {.measurement_year = 2025, .total_members = 100, .total_gaps = 40,
                               .gaps_by_measure = "{\"BCS\":25,\"COL\":15}", .gaps_by_tier = "{\"high\":10}",
                               .star_rating_current = 3.5, .star_rating_projected = 4.0, .estimated_value = NAN};
    struct store_snapshot got;
    /* Three portfolio snapshots 30, 20 and 10 days ago, one for H1 5 days ago, one 400 days ago. */
    int ago[] = {30, 20, 10, 400};
    char ids[4][STORE_ID_LEN];
    for (int i = 0; i < 4; i++) {
        s.snapshot_id[0] = '\0';
        store_ts_ago((long long)ago[i] * 86400, s.snapshot_date);
        s.total_gaps = 40 - i;
        OK(store_snapshot_create(f->st, &ACTOR, &s, f->err, sizeof f->err));
        memcpy(ids[i], s.snapshot_id, STORE_ID_LEN);
    }
    s.snapshot_id[0] = '\0';
    snprintf(s.contract_id, sizeof s.contract_id, "H1");
    store_ts_ago(5 * 86400, s.snapshot_date);
    OK(store_snapshot_create(f->st, &ACTOR, &s, f->err, sizeof f->err));

    OK(store_snapshot_get_latest(f->st, NULL, 0, &got, f->err, sizeof f->err));
    assert_string_equal(got.snapshot_id, ids[2]);
    assert_string_equal(got.contract_id, "");
    assert_int_equal(got.total_gaps, 38);
    assert_true(fabs(got.star_rating_current - 3.5) < 1e-9);
    assert_true(isnan(got.estimated_value));
    assert_non_null(strstr(got.gaps_by_measure, "BCS"));
    store_snapshot_fini(&got);
    OK(store_snapshot_get_latest(f->st, "H1", 2025, &got, f->err, sizeof f->err));
    assert_string_equal(got.contract_id, "H1");
    store_snapshot_fini(&got);
    ASSERT_ERR(store_snapshot_get_latest(f->st, "H2", 0, &got, f->err, sizeof f->err), SG_ENOTFOUND, NULL);
    ASSERT_ERR(store_snapshot_get_latest(f->st, NULL, 2024, &got, f->err, sizeof f->err), SG_ENOTFOUND, NULL);

    struct store_snapshot_list l;
    struct store_page pg = {2, 0};
    OK(store_snapshot_get_history(f->st, NULL, 2025, &pg, &l, f->err, sizeof f->err));
    assert_int_equal(l.total, 4);
    assert_true(l.has_more);
    assert_string_equal(l.items[0].snapshot_id, ids[2]);
    assert_string_equal(l.items[1].snapshot_id, ids[1]);
    store_snapshot_list_free(&l);
    /* Trends: last 25 days, oldest first -> 20 days ago, 10 days ago. */
    OK(store_snapshot_get_trends(f->st, NULL, 2025, 25, &l, f->err, sizeof f->err));
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].snapshot_id, ids[1]);
    assert_string_equal(l.items[1].snapshot_id, ids[2]);
    store_snapshot_list_free(&l);
    ASSERT_ERR(store_snapshot_get_trends(f->st, NULL, 2025, 0, &l, f->err, sizeof f->err), SG_EINVAL, "days");

    s.snapshot_id[0] = '\0';
    s.gaps_by_tier = "{bad";
    ASSERT_ERR(store_snapshot_create(f->st, &ACTOR, &s, f->err, sizeof f->err), SG_EINVAL, "gaps_by_tier");
    s.gaps_by_tier = "{}";
    s.star_rating_projected = 6;
    ASSERT_ERR(store_snapshot_create(f->st, &ACTOR, &s, f->err, sizeof f->err), SG_EINVAL, "star_rating_projected");
    s.star_rating_projected = NAN;
    s.total_gaps = -1;
    ASSERT_ERR(store_snapshot_create(f->st, &ACTOR, &s, f->err, sizeof f->err), SG_EINVAL, "total_gaps");
    s.total_gaps = 1;
    s.gaps_by_measure = NULL;
    ASSERT_ERR(store_snapshot_create(f->st, &ACTOR, &s, f->err, sizeof f->err), SG_EINVAL, "gaps_by_measure");
    assert_chain_ok(f);
}

static void test_star_ratings(void **state)
{
    struct fx *f = *state;
    struct store_star_rating r = {.star_year = 2025, .measurement_year = 2023, .part_c = 4.0, .part_d = 3.5,
                                  .overall = 4.0, .measure_stars = "{\"C01\":4}", .measure_scores = "{\"C01\":78}",
                                  .reward_factor = 0.1, .cai = -0.012, .details = NULL}, got;
    snprintf(r.contract_id, sizeof r.contract_id, "H1234");
    snprintf(r.calculation_date, sizeof r.calculation_date, "2025-01-01T00:00:00Z");
    OK(store_star_rating_create(f->st, &ACTOR, &r, f->err, sizeof f->err));
    struct store_star_rating r2 = r;
    r2.rating_id[0] = '\0';
    r2.star_year = 2026;
    r2.overall = 4.5;
    snprintf(r2.calculation_date, sizeof r2.calculation_date, "2026-01-01T00:00:00Z");
    r2.details = "{\"note\":\"hold harmless\"}";
    OK(store_star_rating_create(f->st, &ACTOR, &r2, f->err, sizeof f->err));
    struct store_star_rating r3 = r;
    r3.rating_id[0] = '\0';
    snprintf(r3.contract_id, sizeof r3.contract_id, "H5678");
    snprintf(r3.calculation_date, sizeof r3.calculation_date, "2025-06-01T00:00:00Z");
    OK(store_star_rating_create(f->st, &ACTOR, &r3, f->err, sizeof f->err));

    OK(store_star_rating_get_latest(f->st, "H1234", 0, &got, f->err, sizeof f->err));
    assert_string_equal(got.rating_id, r2.rating_id);
    assert_true(fabs(got.overall - 4.5) < 1e-9);
    assert_non_null(strstr(got.details, "hold harmless"));
    store_star_rating_fini(&got);
    OK(store_star_rating_get_latest(f->st, "H1234", 2025, &got, f->err, sizeof f->err));
    assert_string_equal(got.rating_id, r.rating_id);
    assert_true(fabs(got.cai + 0.012) < 1e-12);
    assert_null(got.details);
    store_star_rating_fini(&got);
    ASSERT_ERR(store_star_rating_get_latest(f->st, "H0000", 0, &got, f->err, sizeof f->err), SG_ENOTFOUND, NULL);
    struct store_star_rating_list l;
    struct store_page pg = {10, 0};
    OK(store_star_rating_get_history(f->st, NULL, &pg, &l, f->err, sizeof f->err));
    assert_int_equal(l.total, 3);
    assert_int_equal(l.items[0].star_year, 2026);
    assert_string_equal(l.items[1].contract_id, "H5678"); /* 2025, later calculation */
    store_star_rating_list_free(&l);

    r.rating_id[0] = '\0';
    r.overall = 3.7;
    ASSERT_ERR(store_star_rating_create(f->st, &ACTOR, &r, f->err, sizeof f->err), SG_EINVAL, "overall");
    r.overall = 4;
    r.reward_factor = 1.5;
    ASSERT_ERR(store_star_rating_create(f->st, &ACTOR, &r, f->err, sizeof f->err), SG_EINVAL, "reward_factor");
    r.reward_factor = NAN;
    r.measure_stars = "[]";
    ASSERT_ERR(store_star_rating_create(f->st, &ACTOR, &r, f->err, sizeof f->err), SG_EINVAL, "measure_stars");
    assert_chain_ok(f);
}

static void test_simulations(void **state)
{
    struct fx *f = *state;
    struct store_simulation s = {.measurement_year = 2025, .closure_rate = 0.3, .baseline_stars = 3.5,
                                 .projected_stars = 4.0, .revenue_impact = 1.5e6, .investment_required = 2e5,
                                 .roi = 6.5, .gaps_closed = 120, .members_impacted = 90,
                                 .scenario_details = "{\"budget\":200000}"}, got;
    char ids[3][STORE_ID_LEN];
    const char *strategies[] = {"greedy", "roi", "greedy"};
    const char *dates[] = {"2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z", "2025-03-01T00:00:00Z"};
    for (int i = 0; i < 3; i++) {
        s.simulation_id[0] = '\0';
        snprintf(s.strategy, sizeof s.strategy, "%s", strategies[i]);
        snprintf(s.simulation_date, sizeof s.simulation_date, "%s", dates[i]);
        s.gaps_closed = 100 + i;
        OK(store_simulation_create(f->st, &ACTOR, &s, f->err, sizeof f->err));
        memcpy(ids[i], s.simulation_id, STORE_ID_LEN);
    }
    OK(store_simulation_get(f->st, ids[1], &got, f->err, sizeof f->err));
    assert_string_equal(got.strategy, "roi");
    assert_int_equal(got.gaps_closed, 101);
    assert_true(fabs(got.revenue_impact - 1.5e6) < 1e-6);
    assert_non_null(strstr(got.scenario_details, "budget"));
    store_simulation_fini(&got);
    struct store_simulation_list l;
    struct store_sim_filter flt = {.strategy = "greedy", .page = {10, 0}};
    OK(store_simulation_get_recent(f->st, &flt, &l, f->err, sizeof f->err));
    assert_int_equal(l.total, 2);
    assert_string_equal(l.items[0].simulation_id, ids[2]);
    store_simulation_list_free(&l);
    flt = (struct store_sim_filter){.measurement_year = 2024, .page = {10, 0}};
    OK(store_simulation_get_recent(f->st, &flt, &l, f->err, sizeof f->err));
    assert_int_equal(l.total, 0);
    store_simulation_list_free(&l);
    const char *cmp[] = {ids[2], ids[0]};
    OK(store_simulation_compare(f->st, cmp, 2, &l, f->err, sizeof f->err));
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].simulation_id, ids[2]);
    assert_string_equal(l.items[1].simulation_id, ids[0]);
    store_simulation_list_free(&l);
    const char *missing[] = {ids[0], "00000000-0000-4000-8000-000000000000"};
    ASSERT_ERR(store_simulation_compare(f->st, missing, 2, &l, f->err, sizeof f->err), SG_ENOTFOUND, "ids[1]");
    const char *dup[] = {ids[0], ids[0]};
    ASSERT_ERR(store_simulation_compare(f->st, dup, 2, &l, f->err, sizeof f->err), SG_EINVAL, "ids[1]");
    ASSERT_ERR(store_simulation_compare(f->st, dup, 1, &l, f->err, sizeof f->err), SG_EINVAL, "ids");
    s.simulation_id[0] = '\0';
    s.closure_rate = 1.2;
    ASSERT_ERR(store_simulation_create(f->st, &ACTOR, &s, f->err, sizeof f->err), SG_EINVAL, "closure_rate");
    s.closure_rate = 0.2;
    snprintf(s.strategy, sizeof s.strategy, "Drop Table");
    ASSERT_ERR(store_simulation_create(f->st, &ACTOR, &s, f->err, sizeof f->err), SG_EINVAL, "strategy");
    assert_chain_ok(f);
}

/* ---- api logs ---- */

static void test_api_logs(void **state)
{
    struct fx *f = *state;
    struct store_api_log rows[6];
    memset(rows, 0, sizeof rows);
    /* endpoint, status, latency: /a 200 10, /a 200 30, /a 500 50, /b 404 5, /b 200 15, old /a 200 999 */
    const char *eps[] = {"/a", "/a", "/a", "/b", "/b", "/a"};
    int codes[] = {200, 200, 500, 404, 200, 200};
    double ms[] = {10, 30, 50, 5, 15, 999};
    for (int i = 0; i < 6; i++) {
        snprintf(rows[i].request_id, sizeof rows[i].request_id, "req-%d", i);
        snprintf(rows[i].endpoint, sizeof rows[i].endpoint, "%s", eps[i]);
        snprintf(rows[i].method, sizeof rows[i].method, "GET");
        rows[i].status_code = codes[i];
        rows[i].response_time_ms = ms[i];
        store_ts_ago(i == 5 ? 48 * 3600 : 60 * (6 - i), rows[i].timestamp);
    }
    snprintf(rows[3].error_message, sizeof rows[3].error_message, "not found");
    /* A bad row anywhere: nothing written. */
    snprintf(rows[4].method, sizeof rows[4].method, "BREW");
    ASSERT_ERR(store_api_log_batch_create(f->st, rows, 6, f->err, sizeof f->err), SG_EINVAL, "rows[4].method");
    snprintf(rows[4].method, sizeof rows[4].method, "POST");
    OK(store_api_log_batch_create(f->st, rows, 6, f->err, sizeof f->err));

    struct store_api_stats s;
    OK(store_api_log_get_stats(f->st, 24, NULL, &s, f->err, sizeof f->err));
    assert_int_equal(s.total, 5);
    assert_true(fabs(s.avg_ms - (10 + 30 + 50 + 5 + 15) / 5.0) < 1e-9);
    assert_true(fabs(s.error_rate - 1.0 / 5) < 1e-12);
    assert_int_equal(s.client_errors, 1);
    assert_int_equal(s.n_endpoints, 2);
    assert_string_equal(s.by_endpoint[0].endpoint, "/a");
    assert_int_equal(s.by_endpoint[0].total, 3);
    assert_true(fabs(s.by_endpoint[0].avg_ms - 30.0) < 1e-9);
    assert_true(fabs(s.by_endpoint[0].error_rate - 1.0 / 3) < 1e-12);
    store_api_stats_fini(&s);
    OK(store_api_log_get_stats(f->st, 72, "/a", &s, f->err, sizeof f->err));
    assert_int_equal(s.total, 4);
    store_api_stats_fini(&s);

    struct store_api_log_list l;
    OK(store_api_log_get_slowest(f->st, 24, 2, &l, f->err, sizeof f->err));
    assert_int_equal(l.n, 2);
    assert_true(fabs(l.items[0].response_time_ms - 50) < 1e-9);
    assert_true(fabs(l.items[1].response_time_ms - 30) < 1e-9);
    store_api_log_list_free(&l);
    OK(store_api_log_get_errors(f->st, 24, 10, &l, f->err, sizeof f->err));
    assert_int_equal(l.n, 2);
    assert_int_equal(l.items[0].status_code, 404); /* newest first: row 3 is newer than row 2 */
    assert_string_equal(l.items[0].error_message, "not found");
    store_api_log_list_free(&l);
    ASSERT_ERR(store_api_log_get_stats(f->st, 0, NULL, &s, f->err, sizeof f->err), SG_EINVAL, "hours");
    ASSERT_ERR(store_api_log_get_slowest(f->st, 1, 0, &l, f->err, sizeof f->err), SG_EINVAL, "limit");

    /* Retention: api_log_retention 1 day drops the 48-hour-old row only. */
    struct store_maintain_report rep;
    OK(store_maintain(f->st, 1, 10, &rep, f->err, sizeof f->err));
    assert_int_equal(rep.api_logs_deleted, 1);
    assert_int_equal(rep.audit_deleted, 0);
    OK(store_api_log_get_stats(f->st, 72, NULL, &s, f->err, sizeof f->err));
    assert_int_equal(s.total, 5);
    store_api_stats_fini(&s);
    assert_int_equal(audit_count(f, "database", NULL), 1);
    assert_chain_ok(f);
}

/* ---- audit ---- */

static void test_audit_chain(void **state)
{
    struct fx *f = *state;
    add_member(f, 1, "H1");
    add_member(f, 2, "H1");
    struct store_audit_event ev = {"security", "api_key", "key-a", "auth_failed", "{\"reason\":\"bad key\"}"};
    OK(store_audit_create(f->st, &ACTOR, &ev, f->err, sizeof f->err));
    ASSERT_ERR(store_audit_create(f->st, NULL, &ev, f->err, sizeof f->err), SG_EINVAL, "actor");
    ev.event_type = "gossip";
    ASSERT_ERR(store_audit_create(f->st, &ACTOR, &ev, f->err, sizeof f->err), SG_EINVAL, "event_type");
    ev.event_type = "security";
    ev.changes = "{oops";
    ASSERT_ERR(store_audit_create(f->st, &ACTOR, &ev, f->err, sizeof f->err), SG_EINVAL, "changes");
    add_member(f, 3, "H1");

    struct store_audit_list l;
    struct store_page pg = {10, 0};
    OK(store_audit_get_recent(f->st, 1, &pg, &l, f->err, sizeof f->err));
    /* 5 measure seeding rows? No: seeding is one batch row. seed + 3 members + 1 event = 5 rows */
    assert_int_equal(l.total, 5);
    assert_int_equal(l.items[0].audit_id, 5);
    assert_string_equal(l.items[1].entity_type, "api_key");
    /* The chain links: each row's prev_hash is the previous row's hash; recompute one hash. */
    for (size_t i = 0; i + 1 < l.n; i++) assert_string_equal(l.items[i].prev_hash, l.items[i + 1].hash);
    char h[STORE_HASH_LEN];
    assert_int_equal(store_audit_hash(&l.items[1], h), SG_OK);
    assert_string_equal(h, l.items[1].hash);
    store_audit_list_free(&l);
    assert_chain_ok(f);

    /* The audit log is append-only through SQL too. */
    char e2[SG_ERRLEN];
    assert_int_not_equal(f->st->ops->raw_exec(f->st, "UPDATE audit_log SET user_id = 'mallory' WHERE audit_id = 3",
                                              e2, sizeof e2), SG_OK);
    assert_chain_ok(f);

    /* Someone with database access disables the guard and alters row 3: verify finds row 3. */
    const char *tamper = !strcmp(f->st->ops->name, "sqlite")
        ? "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET user_id = 'mallory' WHERE audit_id = 3"
        : "ALTER TABLE audit_log DISABLE TRIGGER USER; UPDATE audit_log SET user_id = 'mallory' WHERE audit_id = 3";
    OK(f->st->ops->raw_exec(f->st, tamper, f->err, sizeof f->err));
    struct store_audit_verify v;
    OK(store_audit_verify(f->st, &v, f->err, sizeof f->err));
    assert_false(v.ok);
    assert_int_equal(v.first_bad_id, 3);
    assert_non_null(strstr(v.reason, "hash"));
}

static void test_audit_deletion_detected(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 4; i++) add_member(f, i, "H1"); /* audit rows 1 (seed) .. 5 */
    assert_chain_ok(f);
    OK(f->st->ops->raw_exec(f->st, "DELETE FROM audit_log WHERE audit_id = 3", f->err, sizeof f->err));
    struct store_audit_verify v;
    OK(store_audit_verify(f->st, &v, f->err, sizeof f->err));
    assert_false(v.ok);
    assert_int_equal(v.first_bad_id, 4);
    /* Truncating the tail is detected through the chain head. */
    OK(f->st->ops->raw_exec(f->st, "DELETE FROM audit_log WHERE audit_id >= 3", f->err, sizeof f->err));
    OK(store_audit_verify(f->st, &v, f->err, sizeof f->err));
    assert_false(v.ok);
    assert_non_null(strstr(v.reason, "head"));
}

/* ---- measure results and catalog ---- */

static void test_measure_results(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 5; i++) add_member(f, i, i < 4 ? "H1" : "H2");
    /* BCS 2025 in H1: m0 num, m1 denom only, m2 excluded, m3 population only; H2: m4 num. */
    int flags[5][4] = {{1, 1, 0, 1}, {1, 1, 0, 0}, {1, 1, 1, 0}, {1, 0, 0, 0}, {1, 1, 0, 1}};
    struct store_measure_result r[6];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 5; i++) {
        member_hash_of(i, r[i].member_hash);
        snprintf(r[i].measure_code, sizeof r[i].measure_code, "BCS");
        r[i].measurement_year = 2025;
        r[i].initial_population = flags[i][0];
        r[i].denominator = flags[i][1];
        r[i].denominator_exclusion = flags[i][2];
        r[i].numerator = flags[i][3];
        snprintf(r[i].source, sizeof r[i].source, "ecqm");
    }
    r[5] = r[0];
    snprintf(r[5].measure_code, sizeof r[5].measure_code, "COL");
    r[5].numerator = 0;
    OK(store_measure_result_upsert_batch(f->st, &ACTOR, r, 6, f->err, sizeof f->err));
    struct store_measure_rate_list l;
    OK(store_measure_result_rates(f->st, "BCS", NULL, 2025, &l, f->err, sizeof f->err));
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].contract_id, "H1");
    assert_int_equal(l.items[0].eligible, 2);   /* m0, m1 */
    assert_int_equal(l.items[0].numerator, 1);  /* m0 */
    assert_int_equal(l.items[0].exclusions, 1); /* m2 */
    assert_true(fabs(l.items[0].rate - 0.5) < 1e-12);
    assert_int_equal(l.items[1].eligible, 1);
    assert_true(fabs(l.items[1].rate - 1.0) < 1e-12);
    store_measure_rate_list_free(&l);
    /* Upsert replaces: m1 now meets the numerator. */
    r[1].numerator = 1;
    OK(store_measure_result_upsert_batch(f->st, &ACTOR, &r[1], 1, f->err, sizeof f->err));
    OK(store_measure_result_rates(f->st, "BCS", "H1", 0, &l, f->err, sizeof f->err));
    assert_int_equal(l.n, 1);
    assert_true(fabs(l.items[0].rate - 1.0) < 1e-12);
    store_measure_rate_list_free(&l);
    struct store_measure_result_list ml;
    OK(store_measure_result_get_by_member(f->st, r[0].member_hash, 0, &ml, f->err, sizeof f->err));
    assert_int_equal(ml.n, 2);
    assert_string_equal(ml.items[0].measure_code, "BCS");
    assert_int_equal(ml.items[0].numerator, 1);
    store_measure_result_list_free(&ml);
    /* Inconsistent flags, unknown member: nothing written. */
    struct store_measure_result bad[2] = {r[3], r[3]};
    snprintf(bad[0].measure_code, sizeof bad[0].measure_code, "CBP");
    bad[1].numerator = 1; /* without denominator */
    ASSERT_ERR(store_measure_result_upsert_batch(f->st, &ACTOR, bad, 2, f->err, sizeof f->err), SG_EINVAL,
               "rows[1].numerator");
    bad[1] = r[3];
    member_hash_of(50, bad[1].member_hash);
    ASSERT_ERR(store_measure_result_upsert_batch(f->st, &ACTOR, bad, 2, f->err, sizeof f->err), SG_EINVAL,
               "rows[1].member_hash");
    OK(store_measure_result_get_by_member(f->st, r[3].member_hash, 0, &ml, f->err, sizeof f->err));
    assert_int_equal(ml.n, 1); /* the CBP row of the failed batch is not there */
    store_measure_result_list_free(&ml);
}

static void test_measures_catalog(void **state)
{
    struct fx *f = *state;
    struct store_measure_list l;
    struct store_measure m;
    OK(store_measure_list(f->st, 2026, &l, f->err, sizeof f->err));
    assert_int_equal(l.n, 5);
    assert_string_equal(l.items[0].cms_id, "C01"); /* ordered by cms_id */
    assert_string_equal(l.items[4].cms_id, "D08");
    store_measure_list_free(&l);
    OK(store_measure_list(f->st, 0, &l, f->err, sizeof f->err));
    assert_int_equal(l.n, 10);
    store_measure_list_free(&l);
    OK(store_measure_get(f->st, 2025, "PCR", &m, f->err, sizeof f->err));
    assert_int_equal(m.direction, STORE_LOWER_BETTER);
    assert_int_equal(m.weighting_category, STORE_WCAT_OUTCOME);
    assert_int_equal(m.part, 'C');
    assert_true(fabs(m.weight - 3) < 1e-12);
    ASSERT_ERR(store_measure_get(f->st, 2024, "PCR", &m, f->err, sizeof f->err), SG_ENOTFOUND, NULL);
    assert_int_equal(m.star_year, 0); /* out-parameters are cleared on failure */
    /* Upsert replaces the weight. */
    OK(store_measure_get(f->st, 2025, "PCR", &m, f->err, sizeof f->err));
    m.weight = 1;
    OK(store_measure_upsert_batch(f->st, &ACTOR, &m, 1, f->err, sizeof f->err));
    OK(store_measure_get(f->st, 2025, "PCR", &m, f->err, sizeof f->err));
    assert_true(fabs(m.weight - 1) < 1e-12);
    /* A new code becomes usable at once (the code cache is refreshed). */
    struct store_measure n = m;
    snprintf(n.code, sizeof n.code, "EED");
    snprintf(n.cms_id, sizeof n.cms_id, "C13");
    add_member(f, 1, "H1");
    struct store_prediction p = pred(1, "EED", 2025, 0.5, "m", NULL);
    ASSERT_ERR(store_prediction_create(f->st, &ACTOR, &p, f->err, sizeof f->err), SG_EINVAL, "measure_code");
    OK(store_measure_upsert_batch(f->st, &ACTOR, &n, 1, f->err, sizeof f->err));
    OK(store_prediction_create(f->st, &ACTOR, &p, f->err, sizeof f->err));
    /* Bad rows. */
    n.part = 'E';
    ASSERT_ERR(store_measure_upsert_batch(f->st, &ACTOR, &n, 1, f->err, sizeof f->err), SG_EINVAL, "rows[0].part");
    n.part = 'C';
    n.weight = -1;
    ASSERT_ERR(store_measure_upsert_batch(f->st, &ACTOR, &n, 1, f->err, sizeof f->err), SG_EINVAL, "rows[0].weight");
    n.weight = 1;
    n.weighting_category = (enum store_weight_cat)17;
    ASSERT_ERR(store_measure_upsert_batch(f->st, &ACTOR, &n, 1, f->err, sizeof f->err), SG_EINVAL,
               "rows[0].weighting_category");
    n.weighting_category = STORE_WCAT_PROCESS;
    snprintf(n.cms_id, sizeof n.cms_id, "C01"); /* taken by BCS in 2025 */
    ASSERT_ERR(store_measure_upsert_batch(f->st, &ACTOR, &n, 1, f->err, sizeof f->err), SG_ECONFLICT, "rows[0].cms_id");
}

/* ---- api keys ---- */

static void test_api_keys(void **state)
{
    struct fx *f = *state;
    struct store_api_key k = {.role = STORE_ROLE_ADMIN}, got;
    assert_int_equal(sg_sha256_hex("secret-1", 8, k.key_hash), SG_OK);
    snprintf(k.name, sizeof k.name, "ops-admin");
    OK(store_api_key_create(f->st, &ACTOR, &k, f->err, sizeof f->err));
    struct store_api_key k2 = {.role = STORE_ROLE_READER};
    assert_int_equal(sg_sha256_hex("secret-2", 8, k2.key_hash), SG_OK);
    snprintf(k2.name, sizeof k2.name, "dashboard");
    OK(store_api_key_create(f->st, &ACTOR, &k2, f->err, sizeof f->err));
    OK(store_api_key_get_by_hash(f->st, k.key_hash, &got, f->err, sizeof f->err));
    assert_string_equal(got.name, "ops-admin");
    assert_int_equal(got.role, STORE_ROLE_ADMIN);
    assert_string_equal(got.revoked_at, "");
    struct store_api_key_list l;
    OK(store_api_key_list(f->st, &l, f->err, sizeof f->err));
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].name, "dashboard");
    store_api_key_list_free(&l);
    struct store_api_key dup = k2;
    assert_int_equal(sg_sha256_hex("secret-3", 8, dup.key_hash), SG_OK);
    ASSERT_ERR(store_api_key_create(f->st, &ACTOR, &dup, f->err, sizeof f->err), SG_ECONFLICT, "name");
    snprintf(dup.name, sizeof dup.name, "bad name");
    ASSERT_ERR(store_api_key_create(f->st, &ACTOR, &dup, f->err, sizeof f->err), SG_EINVAL, "name");
    snprintf(dup.name, sizeof dup.name, "x");
    dup.role = (enum store_role)5;
    ASSERT_ERR(store_api_key_create(f->st, &ACTOR, &dup, f->err, sizeof f->err), SG_EINVAL, "role");
    OK(store_api_key_revoke(f->st, &ACTOR, "dashboard", f->err, sizeof f->err));
    OK(store_api_key_get_by_hash(f->st, k2.key_hash, &got, f->err, sizeof f->err));
    assert_true(got.revoked_at[0] != '\0');
    ASSERT_ERR(store_api_key_revoke(f->st, &ACTOR, "dashboard", f->err, sizeof f->err), SG_ECONFLICT, NULL);
    ASSERT_ERR(store_api_key_revoke(f->st, &ACTOR, "nobody", f->err, sizeof f->err), SG_ENOTFOUND, NULL);
    char none[STORE_HASH_LEN];
    assert_int_equal(sg_sha256_hex("nope", 4, none), SG_OK);
    ASSERT_ERR(store_api_key_get_by_hash(f->st, none, &got, f->err, sizeof f->err), SG_ENOTFOUND, NULL);
    assert_int_equal(audit_count(f, "api_key", "dashboard"), 2);
    assert_chain_ok(f);
}

/* ---- member history ---- */

static void test_member_history(void **state)
{
    struct fx *f = *state;
    add_member(f, 1, "H1");
    add_member(f, 2, "H1");
    char h[STORE_HASH_LEN];
    member_hash_of(1, h);
    struct store_measure_result r = {.measurement_year = 2024, .initial_population = 1, .denominator = 1,
                                     .numerator = 1};
    memcpy(r.member_hash, h, sizeof r.member_hash);
    snprintf(r.measure_code, sizeof r.measure_code, "BCS");
    snprintf(r.evaluated_at, sizeof r.evaluated_at, "2020-01-01T00:00:00Z");
    snprintf(r.source, sizeof r.source, "ecqm");
    OK(store_measure_result_upsert_batch(f->st, &ACTOR, &r, 1, f->err, sizeof f->err));
    struct store_prediction p1 = pred(1, "COL", 2025, 0.66, "m1", "2021-01-01T00:00:00Z");
    struct store_prediction p2 = pred(1, "BCS", 2025, 0.2, "m1", "2022-01-01T00:00:00Z");
    struct store_prediction p3 = pred(2, "BCS", 2025, 0.2, "m1", "2023-01-01T00:00:00Z"); /* other member */
    OK(store_prediction_create(f->st, &ACTOR, &p1, f->err, sizeof f->err));
    OK(store_prediction_create(f->st, &ACTOR, &p2, f->err, sizeof f->err));
    OK(store_prediction_create(f->st, &ACTOR, &p3, f->err, sizeof f->err));
    struct store_gap g = gap(1, "COL", 2025, 0.66, 12.5); /* created now: the newest item */
    OK(store_gap_create(f->st, &ACTOR, &g, f->err, sizeof f->err));

    struct store_history_list l;
    struct store_page pg = {2, 0};
    OK(store_member_history(f->st, &ACTOR, h, &pg, &l, f->err, sizeof f->err));
    assert_int_equal(l.total, 4);
    assert_int_equal(l.n, 2);
    assert_true(l.has_more);
    assert_int_equal(l.items[0].kind, STORE_HIST_GAP);
    assert_string_equal(l.items[0].id, g.gap_id);
    assert_string_equal(l.items[0].status, "identified");
    assert_true(fabs(l.items[0].value - 12.5) < 1e-9);
    assert_int_equal(l.items[1].kind, STORE_HIST_PREDICTION);
    assert_string_equal(l.items[1].id, p2.prediction_id);
    store_history_list_free(&l);
    pg.offset = 2;
    OK(store_member_history(f->st, NULL, h, &pg, &l, f->err, sizeof f->err));
    assert_int_equal(l.n, 2);
    assert_false(l.has_more);
    assert_string_equal(l.items[0].id, p1.prediction_id);
    assert_string_equal(l.items[0].status, "medium");
    assert_int_equal(l.items[1].kind, STORE_HIST_MEASURE_RESULT);
    assert_string_equal(l.items[1].status, "numerator");
    assert_int_equal(l.items[1].measurement_year, 2024);
    assert_int_equal(l.total, 4);
    store_history_list_free(&l);
    /* A page shorter than its limit: the rest of the history, and the same total. */
    struct store_page pg_short = {10, 1};
    OK(store_member_history(f->st, NULL, h, &pg_short, &l, f->err, sizeof f->err));
    assert_int_equal(l.n, 3);
    assert_int_equal(l.total, 4);
    assert_false(l.has_more);
    assert_string_equal(l.items[0].id, p2.prediction_id);
    store_history_list_free(&l);
    /* Only the audited read (actor given) left a data_access row. */
    struct store_audit_list al;
    struct store_page ap = {10, 0};
    OK(store_audit_get_trail(f->st, "member", h, &ap, &al, f->err, sizeof f->err));
    int reads = 0;
    for (size_t i = 0; i < al.n; i++) reads += !strcmp(al.items[i].action, "read_history");
    assert_int_equal(reads, 1);
    store_audit_list_free(&al);
    /* An offset past the end: an empty page that still knows the total of 4. */
    pg.offset = 10;
    OK(store_member_history(f->st, NULL, h, &pg, &l, f->err, sizeof f->err));
    assert_int_equal(l.n, 0);
    assert_int_equal(l.total, 4);
    assert_false(l.has_more);
    store_history_list_free(&l);
    /* A member without any history: found, empty. */
    add_member(f, 4, "H1");
    char bare[STORE_HASH_LEN];
    member_hash_of(4, bare);
    pg.offset = 0;
    OK(store_member_history(f->st, &ACTOR, bare, &pg, &l, f->err, sizeof f->err));
    assert_int_equal(l.n, 0);
    assert_int_equal(l.total, 0);
    store_history_list_free(&l);
    char none[STORE_HASH_LEN];
    member_hash_of(3, none);
    ASSERT_ERR(store_member_history(f->st, &ACTOR, none, &pg, &l, f->err, sizeof f->err), SG_ENOTFOUND, NULL);
    assert_chain_ok(f);
}

/* ---- concurrency ---- */

enum { NTHREADS = 4, PER_THREAD_BATCHES = 15, BATCH = 20, GAPS_PER_THREAD = 10 };

struct worker {
    struct store *st;
    int id;
    char gap_ids[GAPS_PER_THREAD][STORE_ID_LEN];
    int acked_batches;      /* prediction batches acknowledged */
    int acked_transitions;  /* gap status changes acknowledged */
    int final_status[GAPS_PER_THREAD];
    int failures;           /* unexpected errors */
};

static void *work(void *arg)
{
    struct worker *w = arg;
    char err[SG_ERRLEN];
    struct store_actor a = {"worker", "10.0.0.1"};
    static const char *codes[] = {"BCS", "COL", "CBP", "PCR", "PDC-DR"};
    for (int g = 0; g < GAPS_PER_THREAD; g++) w->final_status[g] = STORE_GAP_IDENTIFIED;
    for (int b = 0; b < PER_THREAD_BATCHES; b++) {
        struct store_prediction rows[BATCH];
        for (int i = 0; i < BATCH; i++) {
            char model[32];
            snprintf(model, sizeof model, "t%d-b%d", w->id, b);
            rows[i] = pred(i % 4, codes[i % 5], 2025 + i / 5 % 2, 0.5, model, NULL);
            /* (member i%4, code i%5, year) distinct within a batch for i < 20 */
        }
        int rc = store_prediction_batch_create(w->st, &a, rows, BATCH, err, sizeof err);
        if (rc == SG_OK) w->acked_batches++;
        else if (rc != SG_EBUSY) { fprintf(stderr, "worker %d batch: %s\n", w->id, err); w->failures++; }
        /* Walk one gap one step along identified -> assigned -> completed -> closed. */
        int g = b % GAPS_PER_THREAD;
        if (w->final_status[g] < STORE_GAP_CLOSED) {
            rc = store_gap_update_status(w->st, &a, w->gap_ids[g], (enum store_gap_status)(w->final_status[g] + 1),
                                         NULL, err, sizeof err);
            if (rc == SG_OK) { w->final_status[g]++; w->acked_transitions++; }
            else if (rc != SG_EBUSY) { fprintf(stderr, "worker %d gap: %s\n", w->id, err); w->failures++; }
        }
    }
    return NULL;
}

static void test_concurrency(void **state)
{
    struct fx *f = *state;
    struct worker w[NTHREADS];
    pthread_t t[NTHREADS];
    for (int i = 0; i < 4; i++) add_member(f, i, "H7");
    for (int k = 0; k < NTHREADS; k++) {
        memset(&w[k], 0, sizeof w[k]);
        w[k].st = f->st;
        w[k].id = k;
        for (int g = 0; g < GAPS_PER_THREAD; g++) {
            add_member(f, 100 + k * GAPS_PER_THREAD + g, "H8");
            struct store_gap x = gap(100 + k * GAPS_PER_THREAD + g, "BCS", 2025, 0.5, 1.0 + g);
            OK(store_gap_create(f->st, &ACTOR, &x, f->err, sizeof f->err));
            memcpy(w[k].gap_ids[g], x.gap_id, STORE_ID_LEN);
        }
    }
    struct store_audit_list al;
    struct store_page pg = {1, 0};
    OK(store_audit_get_recent(f->st, 1, &pg, &al, f->err, sizeof f->err));
    long long audit_before = al.total;
    store_audit_list_free(&al);

    for (int k = 0; k < NTHREADS; k++) assert_int_equal(pthread_create(&t[k], NULL, work, &w[k]), 0);
    for (int k = 0; k < NTHREADS; k++) assert_int_equal(pthread_join(t[k], NULL), 0);

    long long batches = 0, transitions = 0;
    for (int k = 0; k < NTHREADS; k++) {
        assert_int_equal(w[k].failures, 0);
        batches += w[k].acked_batches;
        transitions += w[k].acked_transitions;
    }
    /* Every acknowledged prediction is present: member i%4 got BATCH/4 rows per batch. */
    long long total = 0;
    for (int i = 0; i < 4; i++) {
        char h[STORE_HASH_LEN];
        struct store_prediction_list l;
        struct store_member m;
        member_hash_of(i, h);
        OK(store_prediction_get_by_member(f->st, h, NULL, 0, &pg, &l, f->err, sizeof f->err));
        assert_int_equal(l.total, batches * (BATCH / 4));
        total += l.total;
        store_prediction_list_free(&l);
        OK(store_member_get(f->st, h, &m, f->err, sizeof f->err));
        assert_int_equal(m.total_predictions, batches * (BATCH / 4));
    }
    assert_int_equal(total, batches * BATCH);
    /* Every acknowledged transition is present; the gap counters add up. */
    long long per_status[4] = {0};
    for (int k = 0; k < NTHREADS; k++)
        for (int g = 0; g < GAPS_PER_THREAD; g++) {
            struct store_gap x;
            OK(store_gap_get(f->st, w[k].gap_ids[g], &x, f->err, sizeof f->err));
            assert_int_equal((int)x.status, w[k].final_status[g]);
            per_status[x.status]++;
        }
    for (int s = 0; s < 4; s++) {
        struct store_gap_filter flt = {.has_status = 1, .status = (enum store_gap_status)s, .min_priority = NAN,
                                       .page = {1, 0}};
        struct store_gap_list gl;
        OK(store_gap_get_with_filters(f->st, &flt, &gl, f->err, sizeof f->err));
        assert_int_equal(gl.total, per_status[s]);
        store_gap_list_free(&gl);
    }
    /* One audit row per acknowledged write, and the chain verifies. */
    OK(store_audit_get_recent(f->st, 1, &pg, &al, f->err, sizeof f->err));
    assert_int_equal(al.total - audit_before, batches + transitions);
    store_audit_list_free(&al);
    assert_chain_ok(f);
    assert_true(batches > 0 && transitions > 0);
}

/* ---- main ---- */

static int read_url_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp) return -1;
    int ok = fgets(g_url, sizeof g_url, fp) != NULL;
    fclose(fp);
    g_url[strcspn(g_url, "\r\n")] = '\0';
    return ok && g_url[0] ? 0 : -1;
}

#include "contract_predict.inc.c" /* issue 6: merges, scans, models */
#include "contract_decide.inc.c"  /* issue 7: latest predictions, gap scan and refresh */
#include "contract_batch.inc.c"   /* issue 2: prediction batch values (binary COPY), id order */

/* ---- group commit: many threads, valid and invalid gap transitions, audited reads ---- */

enum { GC_THREADS = 16, GC_GAPS = 6, GC_STEPS = 7 };

/* The attempts made on every gap, in order, and whether each is allowed by the gap transition
 * table of store.h (worked out by hand: identified -> assigned | closed; assigned -> completed |
 * closed; completed -> closed; closed -> nothing). */
static const enum store_gap_status gc_try[GC_STEPS] = {
    STORE_GAP_COMPLETED, /* identified -> completed: rejected */
    STORE_GAP_ASSIGNED,  /* identified -> assigned: ok */
    STORE_GAP_IDENTIFIED,/* assigned -> identified: rejected */
    STORE_GAP_COMPLETED, /* assigned -> completed: ok */
    STORE_GAP_ASSIGNED,  /* completed -> assigned: rejected */
    STORE_GAP_CLOSED,    /* completed -> closed: ok */
    STORE_GAP_CLOSED,    /* closed -> closed: rejected */
};
static const int gc_ok[GC_STEPS] = {0, 1, 0, 1, 0, 1, 0};

struct gc_worker {
    struct store *st;
    int id;
    pthread_barrier_t *start;
    const char *shared_gap;
    char gap_ids[GC_GAPS][STORE_ID_LEN];
    char member[STORE_HASH_LEN];
    int acked[GC_GAPS], rejected[GC_GAPS];
    int shared_acked, shared_rejected, reads;
    int failures; /* a result other than the expected one */
};

static void *gc_work(void *arg)
{
    struct gc_worker *w = arg;
    char err[SG_ERRLEN];
    char user[32];
    snprintf(user, sizeof user, "gc-%d", w->id);
    struct store_actor a = {user, "10.0.0.2"};
    pthread_barrier_wait(w->start);
    /* Everyone tries to assign the shared gap at once: exactly one may succeed. */
    struct store_gap out;
    int rc = store_gap_update_status(w->st, &a, w->shared_gap, STORE_GAP_ASSIGNED, &out, err, sizeof err);
    if (rc == SG_OK && out.status == STORE_GAP_ASSIGNED) w->shared_acked++;
    else if (rc == SG_ETRANSITION) w->shared_rejected++;
    else { fprintf(stderr, "gc %d shared: %d %s\n", w->id, rc, err); w->failures++; }
    for (int step = 0; step < GC_STEPS; step++)
        for (int g = 0; g < GC_GAPS; g++) {
            rc = store_gap_update_status(w->st, &a, w->gap_ids[g], gc_try[step], &out, err, sizeof err);
            if (rc == SG_OK && gc_ok[step] && out.status == gc_try[step]) w->acked[g]++;
            else if (rc == SG_ETRANSITION && !gc_ok[step] && out.gap_id[0] == '\0') w->rejected[g]++;
            else { fprintf(stderr, "gc %d gap %d step %d: %d %s\n", w->id, g, step, rc, err); w->failures++; }
            if (g == 0) { /* an audited read between the writes */
                struct store_history_list hl;
                struct store_page pg = {10, 0};
                rc = store_member_history(w->st, &a, w->member, &pg, &hl, err, sizeof err);
                if (rc == SG_OK) w->reads++;
                else { fprintf(stderr, "gc %d history: %d %s\n", w->id, rc, err); w->failures++; }
                store_history_list_free(&hl);
            }
        }
    return NULL;
}

static void test_group_commit(void **state)
{
    struct fx *f = *state;
    struct gc_worker w[GC_THREADS];
    pthread_t t[GC_THREADS];
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, GC_THREADS), 0);
    add_member(f, 900, "H9");
    struct store_gap shared = gap(900, "COL", 2025, 0.5, 1.0);
    OK(store_gap_create(f->st, &ACTOR, &shared, f->err, sizeof f->err));
    for (int k = 0; k < GC_THREADS; k++) {
        memset(&w[k], 0, sizeof w[k]);
        w[k].st = f->st;
        w[k].id = k;
        w[k].start = &start;
        w[k].shared_gap = shared.gap_id;
        add_member(f, 1000 + k, "H9");
        member_hash_of(1000 + k, w[k].member);
        for (int g = 0; g < GC_GAPS; g++) {
            static const char *codes[] = {"BCS", "COL", "CBP", "PCR", "PDC-DR"};
            struct store_gap x = gap(1000 + k, codes[g % 5], 2025 + g / 5, 0.5, 1.0 + g);
            OK(store_gap_create(f->st, &ACTOR, &x, f->err, sizeof f->err));
            memcpy(w[k].gap_ids[g], x.gap_id, STORE_ID_LEN);
        }
    }
    struct store_audit_list al;
    struct store_page pg1 = {1, 0};
    OK(store_audit_get_recent(f->st, 1, &pg1, &al, f->err, sizeof f->err));
    long long audit_before = al.total;
    store_audit_list_free(&al);

    for (int k = 0; k < GC_THREADS; k++) assert_int_equal(pthread_create(&t[k], NULL, gc_work, &w[k]), 0);
    for (int k = 0; k < GC_THREADS; k++) assert_int_equal(pthread_join(t[k], NULL), 0);
    pthread_barrier_destroy(&start);

    long long acked = 0, reads = 0, shared_acked = 0;
    for (int k = 0; k < GC_THREADS; k++) {
        assert_int_equal(w[k].failures, 0);
        shared_acked += w[k].shared_acked;
        assert_int_equal(w[k].shared_acked + w[k].shared_rejected, 1);
        reads += w[k].reads;
        for (int g = 0; g < GC_GAPS; g++) {
            /* 3 allowed and 4 rejected attempts per gap, each reported as such. */
            assert_int_equal(w[k].acked[g], 3);
            assert_int_equal(w[k].rejected[g], 4);
            acked += w[k].acked[g];
            /* Every acknowledged change is stored, with exactly one audit row each (plus the
             * create row); the rejected ones left nothing. */
            struct store_gap x;
            OK(store_gap_get(f->st, w[k].gap_ids[g], &x, f->err, sizeof f->err));
            assert_int_equal((int)x.status, (int)STORE_GAP_CLOSED);
            assert_true(x.assigned_date[0] && x.completed_date[0] && x.closed_date[0]);
            struct store_audit_list tl;
            struct store_page pg = {10, 0};
            OK(store_audit_get_trail(f->st, "gap", w[k].gap_ids[g], &pg, &tl, f->err, sizeof f->err));
            assert_int_equal(tl.total, 4);
            assert_int_equal((long long)tl.n, 4);
            static const char *actions[] = {"close", "update", "update", "create"}; /* newest first */
            for (size_t i = 0; i < 4; i++) assert_string_equal(tl.items[i].action, actions[i]);
            /* The changes of one gap were made by its own thread. */
            char user[32];
            snprintf(user, sizeof user, "gc-%d", k);
            for (size_t i = 0; i < 3; i++) assert_string_equal(tl.items[i].user_id, user);
            store_audit_list_free(&tl);
        }
        assert_int_equal(audit_count(f, "member", w[k].member), 1 + w[k].reads); /* create + reads */
    }
    assert_int_equal(shared_acked, 1);
    assert_int_equal(reads, (long long)GC_THREADS * GC_STEPS);
    assert_int_equal(audit_count(f, "gap", shared.gap_id), 2);
    struct store_gap sg;
    OK(store_gap_get(f->st, shared.gap_id, &sg, f->err, sizeof f->err));
    assert_int_equal((int)sg.status, (int)STORE_GAP_ASSIGNED);
    /* Nothing else was appended: acknowledged writes + the shared one + the reads. */
    OK(store_audit_get_recent(f->st, 1, &pg1, &al, f->err, sizeof f->err));
    assert_int_equal(al.total - audit_before, acked + shared_acked + reads);
    store_audit_list_free(&al);
    /* The gap counters add up (every gap closed but the shared one, assigned). */
    struct store_gap_filter flt = {.has_status = 1, .status = STORE_GAP_CLOSED, .min_priority = NAN,
                                   .page = {1, 0}};
    struct store_gap_list gl;
    OK(store_gap_get_with_filters(f->st, &flt, &gl, f->err, sizeof f->err));
    assert_int_equal(gl.total, (long long)GC_THREADS * GC_GAPS);
    store_gap_list_free(&gl);
    assert_chain_ok(f);
}

/* ---- one group of mixed gap status changes (PostgreSQL: one set-based statement) ---- */

enum { GS_GAPS = 6, GS_OPS = 8 };

struct gs_op {
    struct store *st;
    const char *gap_id;
    enum store_gap_status to;
    int rc;
    struct store_gap out;
    char err[SG_ERRLEN];
};

static void *gs_work(void *arg)
{
    struct gs_op *o = arg;
    struct store_actor a = {"gs", "10.0.0.4"};
    o->rc = store_gap_update_status(o->st, &a, o->gap_id, o->to, &o->out, o->err, sizeof o->err);
    return NULL;
}

struct gs_block {
    struct store *st;
    char sql[256];
    int rc;
    char err[SG_ERRLEN];
};

static void *gs_hold(void *arg)
{
    struct gs_block *b = arg;
    b->rc = b->st->ops->raw_exec(b->st, b->sql, b->err, sizeof b->err);
    return NULL;
}

static void gs_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Runs the n operations at once. On PostgreSQL a first update of `blocker` is made to wait for
 * a row lock held by another session (an UPDATE and pg_sleep in one implicit transaction), so
 * the n operations queue behind it and its successor leads them as one group: one set-based
 * statement with valid and invalid transitions, a missing gap and repeated ids. On SQLite they
 * simply run concurrently (in whatever groups form). */
static void gs_round(struct fx *f, const char *blocker, enum store_gap_status blocker_to,
                     struct gs_op *ops, size_t n)
{
    pthread_t t[GS_OPS + 2];
    int pg = strcmp(f->st->ops->name, "sqlite") != 0;
    struct gs_block b = {.st = f->st};
    struct gs_op lead = {.st = f->st, .gap_id = blocker, .to = blocker_to};
    if (pg) {
        snprintf(b.sql, sizeof b.sql,
                 "UPDATE gap_analysis SET priority_score = priority_score WHERE gap_id = '%s';"
                 " SELECT pg_sleep(1.0)", blocker);
        assert_int_equal(pthread_create(&t[GS_OPS], NULL, gs_hold, &b), 0);
        gs_sleep_ms(150);
        assert_int_equal(pthread_create(&t[GS_OPS + 1], NULL, gs_work, &lead), 0);
        gs_sleep_ms(150);
    }
    for (size_t i = 0; i < n; i++) { /* queued in this order, unless a thread starts late */
        ops[i].st = f->st;
        assert_int_equal(pthread_create(&t[i], NULL, gs_work, &ops[i]), 0);
        gs_sleep_ms(30);
    }
    for (size_t i = 0; i < n; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
    if (pg) {
        assert_int_equal(pthread_join(t[GS_OPS + 1], NULL), 0);
        assert_int_equal(pthread_join(t[GS_OPS], NULL), 0);
        assert_int_equal(b.rc, SG_OK);
        assert_int_equal(lead.rc, SG_OK);
        assert_int_equal((int)lead.out.status, (int)blocker_to);
    }
}

/* The audit changes record `before` and `after` with these statuses. */
static void gs_check_change(const char *changes, const char *before, const char *after)
{
    json_error_t je;
    json_t *o = json_loads(changes, 0, &je);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "before"), "status")), before);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "after"), "status")), after);
    json_decref(o);
}

/* Of two identical changes of one gap, exactly one succeeds and the other is rejected (the
 * gap is already in the target status, which is never a transition). */
static void gs_check_pair(const struct gs_op *a, const struct gs_op *b)
{
    const struct gs_op *ok = a->rc == SG_OK ? a : b, *no = a->rc == SG_OK ? b : a;
    assert_int_equal(ok->rc, SG_OK);
    assert_int_equal((int)ok->out.status, (int)ok->to);
    assert_int_equal(no->rc, SG_ETRANSITION);
}

/* The total of every (status, measure, year, contract) filter, from gap_counts (no
 * min_priority) and from a count of the rows (min_priority 0 matches every gap), equals the
 * number of gaps expected there. */
static void gs_check_counts(struct fx *f, const struct store_gap *g, const enum store_gap_status *want,
                            size_t n)
{
    static const char *contracts[] = {"H7001", "H7002"};
    static const char *codes[] = {"BCS", "COL", "CBP"};
    for (int st = STORE_GAP_IDENTIFIED; st <= STORE_GAP_CLOSED; st++)
        for (size_t c = 0; c < 2; c++)
            for (size_t m = 0; m < 3; m++)
                for (int y = 2025; y <= 2027; y++) {
                    long long expect = 0;
                    for (size_t i = 0; i < n; i++)
                        if ((int)want[i] == st && !strcmp(g[i].contract_id, contracts[c]) &&
                            !strcmp(g[i].measure_code, codes[m]) && g[i].measurement_year == y)
                            expect++;
                    struct store_gap_filter flt = {.measure_code = codes[m], .has_status = 1,
                                                   .status = (enum store_gap_status)st,
                                                   .min_priority = NAN,
                                                   .contract_id = contracts[c],
                                                   .measurement_year = y, .page = {1, 0}};
                    struct store_gap_list gl;
                    OK(store_gap_get_with_filters(f->st, &flt, &gl, f->err, sizeof f->err));
                    long long from_counts = gl.total;
                    store_gap_list_free(&gl);
                    flt.min_priority = 0.0;
                    OK(store_gap_get_with_filters(f->st, &flt, &gl, f->err, sizeof f->err));
                    long long from_rows = gl.total;
                    store_gap_list_free(&gl);
                    if (from_counts != expect || from_rows != expect)
                        fprintf(stderr, "%d %s %s %d: counts %lld rows %lld want %lld\n", st,
                                contracts[c], codes[m], y, from_counts, from_rows, expect);
                    assert_int_equal(from_counts, expect);
                    assert_int_equal(from_rows, expect);
                }
}

static void test_group_set_mixed(void **state)
{
    struct fx *f = *state;
    /* Gaps 0-5 of two members in two contracts; gap 6 is the blocker of the rounds. */
    struct store_gap g[GS_GAPS + 1];
    static const char *codes[] = {"BCS", "COL", "CBP"};
    add_member(f, 7001, "H7001");
    add_member(f, 7002, "H7002");
    for (int i = 0; i <= GS_GAPS; i++) {
        g[i] = gap(i % 2 ? 7002 : 7001, codes[i % 3], 2025 + (i == GS_GAPS), 0.5, 1.0 + i);
        OK(store_gap_create(f->st, &ACTOR, &g[i], f->err, sizeof f->err));
        struct store_gap stored; /* with the contract the store took from the member */
        OK(store_gap_get(f->st, g[i].gap_id, &stored, f->err, sizeof f->err));
        g[i] = stored;
    }
    const char *missing = "00000000-0000-4000-8000-00000000beef";
    /* Round 1 (all gaps identified): 0 assigned twice (one wins), 1 completed (rejected:
     * identified -> completed), a missing gap, 2 closed, 3 assigned, 5 closed twice. */
    struct gs_op r1[GS_OPS] = {
        {.gap_id = g[0].gap_id, .to = STORE_GAP_ASSIGNED},
        {.gap_id = g[1].gap_id, .to = STORE_GAP_COMPLETED},
        {.gap_id = missing, .to = STORE_GAP_ASSIGNED},
        {.gap_id = g[0].gap_id, .to = STORE_GAP_ASSIGNED},
        {.gap_id = g[2].gap_id, .to = STORE_GAP_CLOSED},
        {.gap_id = g[3].gap_id, .to = STORE_GAP_ASSIGNED},
        {.gap_id = g[5].gap_id, .to = STORE_GAP_CLOSED},
        {.gap_id = g[5].gap_id, .to = STORE_GAP_CLOSED},
    };
    gs_round(f, g[GS_GAPS].gap_id, STORE_GAP_ASSIGNED, r1, GS_OPS);
    gs_check_pair(&r1[0], &r1[3]);
    assert_int_equal(r1[1].rc, SG_ETRANSITION);
    assert_int_equal(r1[2].rc, SG_ENOTFOUND);
    assert_int_equal(r1[4].rc, SG_OK);
    assert_int_equal(r1[5].rc, SG_OK);
    gs_check_pair(&r1[6], &r1[7]);
    /* Round 2: 0 completed (assigned -> completed), 1 assigned, 2 assigned (rejected: closed),
     * the missing gap, 3 completed twice (one wins), 4 closed. */
    struct gs_op r2[GS_OPS] = {
        {.gap_id = g[0].gap_id, .to = STORE_GAP_COMPLETED},
        {.gap_id = g[1].gap_id, .to = STORE_GAP_ASSIGNED},
        {.gap_id = g[2].gap_id, .to = STORE_GAP_ASSIGNED},
        {.gap_id = missing, .to = STORE_GAP_CLOSED},
        {.gap_id = g[3].gap_id, .to = STORE_GAP_COMPLETED},
        {.gap_id = g[3].gap_id, .to = STORE_GAP_COMPLETED},
        {.gap_id = g[4].gap_id, .to = STORE_GAP_CLOSED},
    };
    gs_round(f, g[GS_GAPS].gap_id, STORE_GAP_COMPLETED, r2, GS_OPS - 1);
    assert_int_equal(r2[0].rc, SG_OK);
    assert_int_equal(r2[1].rc, SG_OK);
    assert_int_equal(r2[2].rc, SG_ETRANSITION);
    assert_int_equal(r2[3].rc, SG_ENOTFOUND);
    gs_check_pair(&r2[4], &r2[5]);
    assert_int_equal(r2[6].rc, SG_OK);

    /* The audit row of gap 0's completion records its before and after status. */
    struct store_audit_list tl;
    struct store_page pg1 = {1, 0};
    OK(store_audit_get_trail(f->st, "gap", g[0].gap_id, &pg1, &tl, f->err, sizeof f->err));
    assert_int_equal((long long)tl.n, 1);
    gs_check_change(tl.items[0].changes, "assigned", "completed");
    store_audit_list_free(&tl);
    /* Round 3, every change valid in queue order, so the group normally commits in one pass:
     * 0 closed, 1 completed then closed (the same gap twice: the second runs after the set
     * statement, on the first's result), 3 closed. Should the second change of gap 1 queue
     * first, it closes the gap (assigned -> closed) and the first is rejected (closed ->
     * completed): gap 1 ends closed either way. */
    struct gs_op r3[GS_OPS] = {
        {.gap_id = g[0].gap_id, .to = STORE_GAP_CLOSED},
        {.gap_id = g[1].gap_id, .to = STORE_GAP_COMPLETED},
        {.gap_id = g[1].gap_id, .to = STORE_GAP_CLOSED},
        {.gap_id = g[3].gap_id, .to = STORE_GAP_CLOSED},
    };
    gs_round(f, g[GS_GAPS].gap_id, STORE_GAP_CLOSED, r3, 4);
    assert_int_equal(r3[0].rc, SG_OK);
    assert_int_equal(r3[2].rc, SG_OK);
    assert_int_equal(r3[3].rc, SG_OK);
    assert_true(r3[1].rc == SG_OK || r3[1].rc == SG_ETRANSITION);
    if (r3[1].rc == SG_OK) assert_int_equal((int)r3[1].out.status, (int)STORE_GAP_COMPLETED);
    assert_int_equal((int)r3[2].out.status, (int)STORE_GAP_CLOSED);

    int pg = strcmp(f->st->ops->name, "sqlite") != 0;
    enum store_gap_status want[GS_GAPS + 1] = {STORE_GAP_CLOSED, STORE_GAP_CLOSED,
                                               STORE_GAP_CLOSED, STORE_GAP_CLOSED,
                                               STORE_GAP_CLOSED, STORE_GAP_CLOSED,
                                               pg ? STORE_GAP_CLOSED : STORE_GAP_IDENTIFIED};
    /* Successful changes per gap (each one audit row, plus the create row). */
    long long changes[GS_GAPS] = {3, 2 + (r3[1].rc == SG_OK), 1, 3, 1, 1};
    char day[STORE_DATE_LEN];
    today(day);
    for (int i = 0; i <= GS_GAPS; i++) {
        struct store_gap x;
        OK(store_gap_get(f->st, g[i].gap_id, &x, f->err, sizeof f->err));
        assert_int_equal((int)x.status, (int)want[i]);
        if (i < GS_GAPS) assert_int_equal(audit_count(f, "gap", g[i].gap_id), 1 + changes[i]);
        if (want[i] == STORE_GAP_CLOSED) assert_string_equal(x.closed_date, day);
        if (want[i] == STORE_GAP_COMPLETED) assert_string_equal(x.completed_date, day);
        if (want[i] == STORE_GAP_ASSIGNED || (i == 0 || i == 3))
            assert_string_equal(x.assigned_date, day);
    }
    assert_int_equal(audit_count(f, "gap", missing), 0);
    /* The last audit row of gap 1 records the close, from completed (or assigned). */
    OK(store_audit_get_trail(f->st, "gap", g[1].gap_id, &pg1, &tl, f->err, sizeof f->err));
    assert_int_equal((long long)tl.n, 1);
    assert_string_equal(tl.items[0].action, "close");
    gs_check_change(tl.items[0].changes, r3[1].rc == SG_OK ? "completed" : "assigned", "closed");
    store_audit_list_free(&tl);
    gs_check_counts(f, g, want, GS_GAPS + 1);

    /* Statements moving many gaps between groups at once (outside stargap's own writes). */
    OK(f->st->ops->raw_exec(f->st, "UPDATE gap_analysis SET status = 'identified' WHERE status = 'closed'",
                            f->err, sizeof f->err));
    OK(f->st->ops->raw_exec(f->st, "UPDATE gap_analysis SET measurement_year = 2027 WHERE measure_code <> 'CBP' AND measurement_year = 2025",
                            f->err, sizeof f->err));
    for (int i = 0; i <= GS_GAPS; i++) {
        if (want[i] == STORE_GAP_CLOSED) want[i] = STORE_GAP_IDENTIFIED;
        if (strcmp(g[i].measure_code, "CBP") && g[i].measurement_year == 2025) g[i].measurement_year = 2027;
    }
    gs_check_counts(f, g, want, GS_GAPS + 1);
    assert_chain_ok(f);
}

/* ---- group commit across two stores: a stale cached chain head, concurrent appenders ---- */

enum { TS_THREADS = 8, TS_GAPS = 3 };

struct ts_worker {
    struct store *st;
    int id;
    char gap_ids[TS_GAPS][STORE_ID_LEN];
    char member[STORE_HASH_LEN];
    int acked, rejected, reads, events, failures;
};

/* Waits for one asynchronous store operation (store_*_submit). */
struct ts_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, rc;
    char err[SG_ERRLEN];
};
static void ts_done(void *arg, int rc, const char *err)
{
    struct ts_wait *t = arg;
    pthread_mutex_lock(&t->mu);
    t->rc = rc;
    snprintf(t->err, sizeof t->err, "%s", err);
    t->done = 1;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
}
/* rc of a submit that was queued: its done result; SG_EUNSUPPORTED: sync(). */
static int ts_finish(struct ts_wait *t, int rc, char *err, size_t errlen)
{
    if (rc == SG_OK) {
        pthread_mutex_lock(&t->mu);
        while (!t->done) pthread_cond_wait(&t->cv, &t->mu);
        pthread_mutex_unlock(&t->mu);
        rc = t->rc;
        snprintf(err, errlen, "%s", t->err);
    }
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    return rc;
}
static void ts_wait_init(struct ts_wait *t)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
}

/* Odd workers submit their changes and reads asynchronously (store_*_submit) where the backend
 * can, and wait for the done call; even workers call the synchronous forms. */
static void *ts_work(void *arg)
{
    struct ts_worker *w = arg;
    char err[SG_ERRLEN], user[32];
    snprintf(user, sizeof user, "ts-%d", w->id);
    struct store_actor a = {user, "10.0.0.3"};
    static const enum store_gap_status path[] = {STORE_GAP_ASSIGNED, STORE_GAP_ASSIGNED,
                                                 STORE_GAP_COMPLETED, STORE_GAP_CLOSED};
    static const int ok[] = {1, 0, 1, 1}; /* assigned -> assigned is not a transition */
    for (int step = 0; step < 4; step++)
        for (int g = 0; g < TS_GAPS; g++) {
            struct store_gap out;
            struct ts_wait t;
            int rc = SG_EUNSUPPORTED;
            if (w->id % 2) {
                ts_wait_init(&t);
                rc = store_gap_update_status_submit(w->st, &a, w->gap_ids[g], path[step], &out,
                                                    ts_done, &t, err, sizeof err);
                rc = ts_finish(&t, rc, err, sizeof err);
                if (rc == SG_OK && out.status != path[step]) rc = SG_EINTERNAL;
            }
            if (rc == SG_EUNSUPPORTED)
                rc = store_gap_update_status(w->st, &a, w->gap_ids[g], path[step], &out, err, sizeof err);
            if (rc == SG_OK && ok[step]) w->acked++;
            else if (rc == SG_ETRANSITION && !ok[step]) w->rejected++;
            else { fprintf(stderr, "ts %d: %d %s\n", w->id, rc, err); w->failures++; }
            struct store_history_list hl;
            struct store_page pg = {5, 0};
            rc = SG_EUNSUPPORTED;
            if (w->id % 2) {
                ts_wait_init(&t);
                rc = store_member_history_submit(w->st, &a, w->member, &pg, &hl, ts_done, &t, err,
                                                 sizeof err);
                rc = ts_finish(&t, rc, err, sizeof err);
            }
            if (rc == SG_EUNSUPPORTED)
                rc = store_member_history(w->st, &a, w->member, &pg, &hl, err, sizeof err);
            if (rc == SG_OK && hl.total == TS_GAPS) w->reads++;
            else { fprintf(stderr, "ts %d history: %d %s\n", w->id, rc, err); w->failures++; }
            store_history_list_free(&hl);
            if (g == 0) { /* an audited write outside the group commit moves the head too */
                struct store_audit_event ev = {"security", "api_key", user, "login_failed", NULL};
                rc = store_audit_create(w->st, &a, &ev, err, sizeof err);
                if (rc == SG_OK) w->events++;
                else { fprintf(stderr, "ts %d event: %d %s\n", w->id, rc, err); w->failures++; }
            }
        }
    return NULL;
}

/* Two stores on one database (two servers): each group commit appends against the chain head
 * its store committed last, which the other store (and non-group writes) keep moving; the chain
 * must stay one unbroken chain, every acknowledged change with its own row. The second store
 * runs two group commits at once (store_group_overlap) and its workers submit asynchronously
 * where the backend can (PostgreSQL). */
static void test_group_two_stores(void **state)
{
    struct fx *f = *state;
    if (!strcmp(g_url, "sqlite::memory:")) skip(); /* a second store would be another database */
    struct store *st2 = NULL;
    struct sg_config cfg2;
    OK(sg_config_init(&cfg2));
    OK(sg_config_set(&cfg2, "store_group_overlap", "1", "test", f->err, sizeof f->err));
    OK(store_open(g_url, &cfg2, &st2, f->err, sizeof f->err));

    /* Sequential: store 1 moves a gap (caches the head), store 2 moves another (store 1's cache
     * is now stale), store 1 again: its append must notice and lock the head. */
    add_member(f, 2000, "H9");
    struct store_gap g1 = gap(2000, "BCS", 2025, 0.5, 1.0), g2 = gap(2000, "COL", 2025, 0.5, 1.0);
    OK(store_gap_create(f->st, &ACTOR, &g1, f->err, sizeof f->err));
    OK(store_gap_create(f->st, &ACTOR, &g2, f->err, sizeof f->err));
    struct store_gap out;
    OK(store_gap_update_status(f->st, &ACTOR, g1.gap_id, STORE_GAP_ASSIGNED, &out, f->err, sizeof f->err));
    OK(store_gap_update_status(st2, &ACTOR, g2.gap_id, STORE_GAP_ASSIGNED, &out, f->err, sizeof f->err));
    OK(store_gap_update_status(f->st, &ACTOR, g1.gap_id, STORE_GAP_COMPLETED, &out, f->err, sizeof f->err));
    assert_int_equal((int)out.status, (int)STORE_GAP_COMPLETED);
    assert_int_equal(audit_count(f, "gap", g1.gap_id), 3);
    assert_int_equal(audit_count(f, "gap", g2.gap_id), 2);
    assert_chain_ok(f);
    /* The same with audited reads alone (a group that runs no statement but its audit rows):
     * store 1, store 2, then store 1 against its stale head. */
    char h2000[STORE_HASH_LEN];
    member_hash_of(2000, h2000);
    for (int i = 0; i < 3; i++) {
        struct store_history_list hl;
        struct store_page hp = {5, 0};
        OK(store_member_history(i == 1 ? st2 : f->st, &ACTOR, h2000, &hp, &hl, f->err, sizeof f->err));
        assert_int_equal(hl.total, 2);
        store_history_list_free(&hl);
    }
    assert_int_equal(audit_count(f, "member", h2000), 1 + 3);
    assert_chain_ok(f);
    /* The update row holds the state before and after (keys sorted, hand-written expectation). */
    struct store_audit_list tl;
    struct store_page pg = {10, 0};
    OK(store_audit_get_trail(f->st, "gap", g2.gap_id, &pg, &tl, f->err, sizeof f->err));
    assert_int_equal((long long)tl.n, 2);
    assert_string_equal(tl.items[0].action, "update");
    char td[STORE_DATE_LEN], frag[128];
    snprintf(frag, sizeof frag, "{\"after\":{\"assigned_date\":\"%s\",\"closed_date\":null", today(td));
    assert_non_null(strstr(tl.items[0].changes, frag));
    assert_non_null(strstr(tl.items[0].changes, "\"status\":\"assigned\"},\"before\":{\"assigned_date\":null"));
    const char *tail = "\"status\":\"identified\"}}";
    size_t cl = strlen(tl.items[0].changes), tlen = strlen(tail);
    assert_true(cl > tlen && !strcmp(tl.items[0].changes + cl - tlen, tail));
    store_audit_list_free(&tl);

    /* Concurrent: half the threads on each store. */
    struct ts_worker w[TS_THREADS];
    pthread_t t[TS_THREADS];
    for (int k = 0; k < TS_THREADS; k++) {
        memset(&w[k], 0, sizeof w[k]);
        w[k].st = k % 2 ? st2 : f->st;
        w[k].id = k;
        add_member(f, 2100 + k, "H9");
        member_hash_of(2100 + k, w[k].member);
        for (int g = 0; g < TS_GAPS; g++) {
            static const char *codes[] = {"BCS", "COL", "CBP"};
            struct store_gap x = gap(2100 + k, codes[g], 2025, 0.5, 1.0);
            OK(store_gap_create(f->st, &ACTOR, &x, f->err, sizeof f->err));
            memcpy(w[k].gap_ids[g], x.gap_id, STORE_ID_LEN);
        }
    }
    struct store_audit_list al;
    struct store_page pg1 = {1, 0};
    OK(store_audit_get_recent(f->st, 1, &pg1, &al, f->err, sizeof f->err));
    long long audit_before = al.total;
    store_audit_list_free(&al);
    for (int k = 0; k < TS_THREADS; k++) assert_int_equal(pthread_create(&t[k], NULL, ts_work, &w[k]), 0);
    for (int k = 0; k < TS_THREADS; k++) assert_int_equal(pthread_join(t[k], NULL), 0);
    long long rows = 0;
    for (int k = 0; k < TS_THREADS; k++) {
        assert_int_equal(w[k].failures, 0);
        assert_int_equal(w[k].acked, 3 * TS_GAPS);
        assert_int_equal(w[k].rejected, TS_GAPS);
        assert_int_equal(w[k].reads, 4 * TS_GAPS);
        assert_int_equal(w[k].events, 4);
        rows += w[k].acked + w[k].reads + w[k].events;
        for (int g = 0; g < TS_GAPS; g++) {
            struct store_gap x;
            OK(store_gap_get(f->st, w[k].gap_ids[g], &x, f->err, sizeof f->err));
            assert_int_equal((int)x.status, (int)STORE_GAP_CLOSED);
            assert_int_equal(audit_count(f, "gap", w[k].gap_ids[g]), 4); /* create + 3 moves */
        }
        assert_int_equal(audit_count(f, "member", w[k].member), 1 + 4 * TS_GAPS);
    }
    OK(store_audit_get_recent(f->st, 1, &pg1, &al, f->err, sizeof f->err));
    assert_int_equal(al.total - audit_before, rows);
    store_audit_list_free(&al);
    assert_chain_ok(f);
    store_close(st2);
}

int main(int argc, char **argv)
{
    const char *env = getenv("STARGAP_TEST_DB_URL");
    if (argc > 2 && !strcmp(argv[1], "--url-file")) {
        if (read_url_file(argv[2]) != 0) {
            fprintf(stderr, "store contract: no URL in %s; skipping\n", argv[2]);
            return 77;
        }
    } else if (argc > 1) {
        snprintf(g_url, sizeof g_url, "%s", argv[1]);
    } else if (env && *env) {
        snprintf(g_url, sizeof g_url, "%s", env);
    } else {
        fprintf(stderr, "store contract: no database URL (argument, --url-file or STARGAP_TEST_DB_URL); skipping\n");
        return 77;
    }
    /* A sqlite: URL to a file starts from a fresh file. */
    if (!strncmp(g_url, "sqlite:", 7) && strcmp(g_url, "sqlite::memory:")) {
        char p[4200];
        unlink(g_url + 7);
        snprintf(p, sizeof p, "%s-wal", g_url + 7);
        unlink(p);
        snprintf(p, sizeof p, "%s-shm", g_url + 7);
        unlink(p);
    }
    sg_log_set_level(SG_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_cycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_predictions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prediction_batch_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prediction_batch_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_total, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gaps_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gaps_filter_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_transitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interventions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_star_ratings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_simulations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_deletion_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_measure_results, setup, teardown),
        cmocka_unit_test_setup_teardown(test_measures_catalog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_member_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_two_stores, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_set_mixed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_member_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_measure_result_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_member_features, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_new_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_batch_new_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_models, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prediction_scan_latest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_refresh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_refresh_atomic, setup, teardown),
    };
    /* The group is named by backend only: a PostgreSQL URL may hold a password. */
    int rc = cmocka_run_group_tests_name(!strncmp(g_url, "sqlite:", 7) ? "store_contract_sqlite"
                                                                        : "store_contract_postgres",
                                         tests, NULL, NULL);
    if (!strncmp(g_url, "sqlite:", 7) && strcmp(g_url, "sqlite::memory:")) {
        char p[4200];
        unlink(g_url + 7);
        snprintf(p, sizeof p, "%s-wal", g_url + 7);
        unlink(p);
        snprintf(p, sizeof p, "%s-shm", g_url + 7);
        unlink(p);
    }
    return rc;
}
