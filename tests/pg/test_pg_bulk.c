/* test_pg_bulk.c: the PostgreSQL backend's bulk paths of the gap refresh and the prediction
 * batch (store_pg.c, "bulk writes").
 *
 * A gap refresh whose new rows at least double gap_analysis (and are at least 10,000) drops
 * the table's secondary indexes inside its transaction and re-creates them from their stored
 * definitions before COMMIT. A prediction batch of at least 10,000 rows into a table holding
 * fewer rows than the batch also drops and re-adds the table's keys (primary, unique, foreign). The tests watch the database through a second, plain libpq
 * connection: a re-created index has a new OID (so the OIDs tell whether the bulk path ran), its
 * definition comes from pg_indexes, and amcheck's bt_index_check(heapallindexed) proves that
 * every index holds exactly the table's rows. Expected counts are the rows each test writes;
 * gap_counts is checked against a GROUP BY over gap_analysis. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/hash.h"
#include "db/migrate.h"
#include "db/store.h"

#define N_BULK 12000 /* above the bulk threshold (10,000 rows) */

static const struct store_actor ACTOR = {"tester", "127.0.0.1"};

struct fx {
    struct store *st;
    PGconn *raw; /* an independent connection */
    char err[SG_ERRLEN];
};

#include "../store/store_test_ok.h"

static const char *url(void)
{
    const char *u = getenv("SG_TEST_PG_URL");
    if (!u) fail_msg("SG_TEST_PG_URL is not set: run through pg_harness.sh exec");
    return u;
}

static void member_hash_of(int i, char out[STORE_HASH_LEN])
{
    char id[32];
    snprintf(id, sizeof id, "pg-bulk-member-%d", i);
    assert_int_equal(sg_sha256_hex(id, strlen(id), out), SG_OK);
}

static PGresult *q(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    return r;
}

/* Every row of a query as text ('|' between columns, '\n' between rows), malloc'd. */
static char *q_text(PGconn *c, const char *sql)
{
    PGresult *r = q(c, sql);
    size_t cap = 256, len = 0;
    for (int i = 0; i < PQntuples(r); i++)
        for (int j = 0; j < PQnfields(r); j++) cap += (size_t)PQgetlength(r, i, j) + 2;
    char *out = calloc(cap, 1);
    assert_non_null(out);
    for (int i = 0; i < PQntuples(r); i++)
        for (int j = 0; j < PQnfields(r); j++)
            len += (size_t)snprintf(out + len, cap - len, "%s%c", PQgetvalue(r, i, j),
                                    j + 1 < PQnfields(r) ? '|' : '\n');
    PQclear(r);
    return out;
}

static long long q_ll(PGconn *c, const char *sql)
{
    PGresult *r = q(c, sql);
    assert_int_equal(PQntuples(r), 1);
    long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

/* The definitions of gap_analysis's indexes (constraint indexes included). */
static const char *DEFS_SQL =
    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
    " AND tablename = 'gap_analysis' ORDER BY indexname";
/* Name and OID of each index: a re-created index has a new OID. */
static const char *OIDS_SQL =
    "SELECT c.relname, i.indexrelid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
    " WHERE i.indrelid = 'gap_analysis'::regclass ORDER BY c.relname";
/* The secondary indexes (no constraint behind them) whose OID is in the text $OIDS. */
static const char *SECONDARY_SQL =
    "SELECT count(*) FROM pg_index i WHERE i.indrelid = 'gap_analysis'::regclass"
    " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)";
/* Indexes failing amcheck's check that every heap tuple is in them (raises on corruption). */
static const char *AMCHECK_SQL =
    "SELECT count(*) FROM (SELECT bt_index_check(i.indexrelid, true) FROM pg_index i"
    " WHERE i.indrelid = 'gap_analysis'::regclass) t";
/* gap_counts rows that differ from a count over gap_analysis (either side) */
static const char *COUNTS_DIFF =
    "WITH c AS (SELECT status, measure_code, measurement_year, contract_id, n FROM gap_counts"
    " WHERE n > 0), g AS (SELECT status, measure_code, measurement_year, contract_id, count(*)"
    " FROM gap_analysis GROUP BY 1, 2, 3, 4)"
    " SELECT (SELECT count(*) FROM (SELECT * FROM c EXCEPT SELECT * FROM g) a) +"
    " (SELECT count(*) FROM (SELECT * FROM g EXCEPT SELECT * FROM c) b)";

/* How many lines of two q_text outputs of OIDS_SQL differ (same names in the same order). */
static int changed_oids(const char *a, const char *b)
{
    int n = 0;
    while (*a && *b) {
        size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
        if (la != lb || memcmp(a, b, la) != 0) n++;
        a += la + (a[la] ? 1 : 0);
        b += lb + (b[lb] ? 1 : 0);
    }
    assert_true(!*a && !*b);
    return n;
}

static void seed_measures(struct fx *f)
{
    static const char *codes[2] = {"BCS", "COL"};
    struct store_measure rows[2];
    memset(rows, 0, sizeof rows);
    for (int i = 0; i < 2; i++) {
        rows[i].star_year = 2026;
        snprintf(rows[i].code, sizeof rows[i].code, "%s", codes[i]);
        snprintf(rows[i].cms_id, sizeof rows[i].cms_id, "C0%d", i + 1);
        snprintf(rows[i].name, sizeof rows[i].name, "Measure %s", codes[i]);
        rows[i].part = 'C';
        snprintf(rows[i].domain, sizeof rows[i].domain, "Domain");
        rows[i].weighting_category = STORE_WCAT_PROCESS;
        rows[i].weight = 1;
        rows[i].direction = STORE_HIGHER_BETTER;
        rows[i].member_level = 1;
    }
    OK(store_measure_upsert_batch(f->st, NULL, rows, 2, f->err, sizeof f->err));
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    if (store_open(url(), NULL, &f->st, f->err, sizeof f->err) != SG_OK ||
        migrate_down(f->st, 0, NULL, f->err, sizeof f->err) != SG_OK ||
        migrate_up(f->st, 0, NULL, f->err, sizeof f->err) != SG_OK) {
        fprintf(stderr, "setup: %s\n", f->err);
        return -1;
    }
    seed_measures(f);
    struct store_member *m = calloc(N_BULK + 1, sizeof *m);
    assert_non_null(m);
    for (int i = 0; i <= N_BULK; i++) {
        m[i] = (struct store_member){.active = 1, .dual_eligible = -1, .lis = -1, .disabled = -1};
        member_hash_of(i, m[i].member_hash);
        snprintf(m[i].contract_id, sizeof m[i].contract_id, "H0001");
    }
    struct store_merge_counts k;
    OK(store_member_upsert_batch(f->st, &ACTOR, m, N_BULK + 1, &k, f->err, sizeof f->err));
    free(m);
    f->raw = PQconnectdb(url());
    if (PQstatus(f->raw) != CONNECTION_OK) return -1;
    PQclear(q(f->raw, "CREATE EXTENSION IF NOT EXISTS amcheck"));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    PQfinish(f->raw);
    store_close(f->st);
    free(f);
    return 0;
}

/* Gap rows of members [from, from + n) for measure code in contract H0001, year. */
static struct store_gap *gaps(int from, int n, const char *code, int year)
{
    struct store_gap *g = calloc((size_t)n, sizeof *g);
    assert_non_null(g);
    for (int i = 0; i < n; i++) {
        struct store_gap *r = &g[i];
        member_hash_of(from + i, r->member_hash);
        snprintf(r->contract_id, sizeof r->contract_id, "H0001");
        snprintf(r->measure_code, sizeof r->measure_code, "%s", code);
        r->measurement_year = year;
        r->gap_probability = (double)((from + i) % 100) / 100.0;
        r->priority_score = (double)((from + i) % 37);
        snprintf(r->intervention_type, sizeof r->intervention_type, "screening_order");
        r->estimated_cost = 40;
        r->estimated_value = 1.5;
    }
    return g;
}

/* A refresh whose new rows at least double the table rebuilds the secondary indexes: same
 * definitions after it, new OIDs for exactly those indexes, every index complete (amcheck),
 * gap_counts exact; a re-run (updates), a small batch and a batch of fewer new rows than the
 * table holds keep the indexes as they are. */
static void test_bulk_refresh_keeps_indexes(void **state)
{
    struct fx *f = *state;
    struct store_refresh_counts k;
    long long secondary = q_ll(f->raw, SECONDARY_SQL);
    assert_true(secondary >= 6); /* migrations 0001 and 0004: six sort indexes */
    char *defs0 = q_text(f->raw, DEFS_SQL), *oids0 = q_text(f->raw, OIDS_SQL);
    /* 100 gaps of 2023: under 10,000 rows, the ordinary path */
    struct store_gap *small = gaps(0, 100, "BCS", 2023);
    OK(store_gap_refresh_batch(f->st, &ACTOR, 2023, "H0001", small, 100, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, 100);
    char *oids1 = q_text(f->raw, OIDS_SQL);
    assert_int_equal(changed_oids(oids0, oids1), 0);
    /* N_BULK gaps of 2024: the bulk path */
    struct store_gap *big = gaps(0, N_BULK, "COL", 2024);
    OK(store_gap_refresh_batch(f->st, &ACTOR, 2024, "H0001", big, N_BULK, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, N_BULK);
    assert_int_equal(k.updated + k.kept + k.closed, 0);
    char *defs2 = q_text(f->raw, DEFS_SQL), *oids2 = q_text(f->raw, OIDS_SQL);
    assert_string_equal(defs2, defs0);
    assert_int_equal(changed_oids(oids1, oids2), (int)secondary); /* exactly the secondary ones */
    assert_int_equal(q_ll(f->raw, AMCHECK_SQL), q_ll(f->raw, "SELECT count(*) FROM pg_index"
                                                             " WHERE indrelid = 'gap_analysis'::regclass"));
    assert_int_equal(q_ll(f->raw, "SELECT count(*) FROM gap_analysis"), N_BULK + 100);
    assert_int_equal(q_ll(f->raw, COUNTS_DIFF), 0);
    assert_int_equal(q_ll(f->raw, "SELECT sum(n) FROM gap_counts WHERE measurement_year = 2024"
                                  " AND status = 'identified'"), N_BULK);
    assert_int_equal(q_ll(f->raw, "SELECT count(*) FROM audit_log WHERE entity_type = 'gap'"
                                  " AND action = 'refresh'"), 2);
    /* reads through a rebuilt index find the new rows */
    PQclear(q(f->raw, "SET enable_seqscan = off"));
    assert_int_equal(q_ll(f->raw, "SELECT count(*) FROM gap_analysis WHERE status = 'identified'"
                                  " AND measure_code = 'COL' AND contract_id = 'H0001'"), N_BULK);
    PQclear(q(f->raw, "RESET enable_seqscan"));
    /* the same rows again, one left out: updates, no new rows, the ordinary path */
    for (int i = 0; i < N_BULK; i++) big[i].gap_probability = 0.5;
    OK(store_gap_refresh_batch(f->st, &ACTOR, 2024, "H0001", big, N_BULK - 1, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, 0);
    assert_int_equal(k.updated, N_BULK - 1);
    assert_int_equal(k.closed, 1);
    char *oids3 = q_text(f->raw, OIDS_SQL);
    assert_int_equal(changed_oids(oids2, oids3), 0);
    assert_int_equal(q_ll(f->raw, COUNTS_DIFF), 0);
    /* a new scope (2025) of 10,000 gaps into 12,100 rows: fewer new rows than the table holds,
     * the ordinary path */
    struct store_gap *more = gaps(0, 10000, "BCS", 2025);
    OK(store_gap_refresh_batch(f->st, &ACTOR, 2025, "H0001", more, 10000, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, 10000);
    char *defs4 = q_text(f->raw, DEFS_SQL), *oids4 = q_text(f->raw, OIDS_SQL);
    assert_string_equal(defs4, defs0);
    assert_int_equal(changed_oids(oids3, oids4), 0);
    assert_int_equal(q_ll(f->raw, COUNTS_DIFF), 0);
    assert_int_equal(q_ll(f->raw, "SELECT count(*) FROM pg_index WHERE indrelid = 'gap_analysis'::regclass"
                                  " AND NOT (indisvalid AND indisready)"), 0);
    assert_int_equal(q_ll(f->raw, AMCHECK_SQL), q_ll(f->raw, "SELECT count(*) FROM pg_index"
                                                             " WHERE indrelid = 'gap_analysis'::regclass"));
    free(defs0); free(oids0); free(oids1); free(defs2); free(oids2); free(oids3);
    free(defs4); free(oids4);
    free(small); free(big); free(more);
}

/* A bulk refresh that fails on its last row (a member that does not exist: only the database
 * knows) writes nothing: no gap, no count, no audit row, and every index exactly as before (same
 * definitions, same OIDs: the drops were rolled back). */
static void test_bulk_refresh_failure_writes_nothing(void **state)
{
    struct fx *f = *state;
    struct store_refresh_counts k;
    char *defs0 = q_text(f->raw, DEFS_SQL), *oids0 = q_text(f->raw, OIDS_SQL);
    struct store_gap *big = gaps(0, N_BULK, "BCS", 2024);
    member_hash_of(N_BULK + 7, big[N_BULK - 1].member_hash); /* not a member */
    int rc = store_gap_refresh_batch(f->st, &ACTOR, 2024, "H0001", big, N_BULK, &k, f->err,
                                     sizeof f->err);
    assert_int_equal(rc, SG_EINVAL);
    assert_non_null(strstr(f->err, "member_hash"));
    assert_int_equal(k.inserted, 0);
    assert_int_equal(q_ll(f->raw, "SELECT count(*) FROM gap_analysis"), 0);
    assert_int_equal(q_ll(f->raw, "SELECT count(*) FROM gap_counts WHERE n > 0"), 0);
    assert_int_equal(q_ll(f->raw, "SELECT count(*) FROM audit_log WHERE entity_type = 'gap'"), 0);
    char *defs1 = q_text(f->raw, DEFS_SQL), *oids1 = q_text(f->raw, OIDS_SQL);
    assert_string_equal(defs1, defs0);
    assert_string_equal(oids1, oids0);
    /* the store's connection still works, and the batch without the bad row goes in */
    OK(store_gap_refresh_batch(f->st, &ACTOR, 2024, "H0001", big, N_BULK - 1, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, N_BULK - 1);
    char *oids2 = q_text(f->raw, OIDS_SQL);
    assert_true(changed_oids(oids0, oids2) > 0);
    assert_int_equal(q_ll(f->raw, AMCHECK_SQL), q_ll(f->raw, "SELECT count(*) FROM pg_index"
                                                             " WHERE indrelid = 'gap_analysis'::regclass"));
    assert_int_equal(q_ll(f->raw, COUNTS_DIFF), 0);
    free(defs0); free(oids0); free(defs1); free(oids1); free(oids2);
    free(big);
}

/* While another session holds gap_analysis (an open transaction that read it), the refresh does
 * not queue for the exclusive lock: it takes the ordinary path (indexes untouched) and stores the
 * same rows as the bulk path does. */
static void test_bulk_refresh_yields_to_readers(void **state)
{
    struct fx *f = *state;
    struct store_refresh_counts k;
    PGconn *reader = PQconnectdb(url());
    assert_int_equal(PQstatus(reader), CONNECTION_OK);
    PQclear(q(reader, "BEGIN"));
    assert_int_equal(q_ll(reader, "SELECT count(*) FROM gap_analysis"), 0);
    char *oids0 = q_text(f->raw, OIDS_SQL);
    struct store_gap *a = gaps(0, N_BULK, "BCS", 2024);
    OK(store_gap_refresh_batch(f->st, &ACTOR, 2024, "H0001", a, N_BULK, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, N_BULK);
    char *oids1 = q_text(f->raw, OIDS_SQL);
    assert_string_equal(oids1, oids0); /* the ordinary path */
    PQclear(q(reader, "COMMIT"));
    PQfinish(reader);
    /* the same gaps for 2025, nobody else holding the table: the bulk path */
    struct store_gap *b = gaps(0, N_BULK, "BCS", 2025);
    OK(store_gap_refresh_batch(f->st, &ACTOR, 2025, "H0001", b, N_BULK, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, N_BULK);
    char *oids2 = q_text(f->raw, OIDS_SQL);
    assert_int_equal(changed_oids(oids1, oids2), (int)q_ll(f->raw, SECONDARY_SQL));
    /* both paths stored the same rows */
    static const char *cols = "member_hash, contract_id, measure_code, gap_probability,"
                              " priority_score, intervention_type, estimated_cost, estimated_value,"
                              " status, assigned_date, completed_date, closed_date";
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) FROM (SELECT %s FROM gap_analysis WHERE measurement_year = 2024"
             " EXCEPT SELECT %s FROM gap_analysis WHERE measurement_year = 2025) x) +"
             " (SELECT count(*) FROM (SELECT %s FROM gap_analysis WHERE measurement_year = 2025"
             " EXCEPT SELECT %s FROM gap_analysis WHERE measurement_year = 2024) y)",
             cols, cols, cols, cols);
    assert_int_equal(q_ll(f->raw, sql), 0);
    assert_int_equal(q_ll(f->raw, "SELECT count(*) FROM gap_analysis"), 2 * N_BULK);
    assert_int_equal(q_ll(f->raw, COUNTS_DIFF), 0);
    assert_int_equal(q_ll(f->raw, AMCHECK_SQL), q_ll(f->raw, "SELECT count(*) FROM pg_index"
                                                             " WHERE indrelid = 'gap_analysis'::regclass"));
    free(oids0); free(oids1); free(oids2);
    free(a); free(b);
}

/* ---- predictions ---- */

/* Every constraint of predictions with its definition, and every index with its definition. */
static const char *PRED_DEFS_SQL =
    "SELECT conname, contype, convalidated, pg_get_constraintdef(oid) FROM pg_constraint"
    " WHERE conrelid = 'predictions'::regclass UNION ALL"
    " SELECT indexname, 'i', true, indexdef FROM pg_indexes WHERE schemaname = 'public'"
    " AND tablename = 'predictions' ORDER BY 1, 2";
static const char *PRED_OIDS_SQL =
    "SELECT c.relname, i.indexrelid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
    " WHERE i.indrelid = 'predictions'::regclass UNION ALL"
    " SELECT conname, oid FROM pg_constraint WHERE conrelid = 'predictions'::regclass ORDER BY 1";
/* amcheck over every b-tree of predictions: the count of b-trees checked */
static const char *PRED_AMCHECK_SQL =
    "SELECT count(*) FROM (SELECT bt_index_check(i.indexrelid, true) FROM pg_index i"
    " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam"
    " WHERE i.indrelid = 'predictions'::regclass AND a.amname = 'btree') t";
static const char *PRED_BTREES_SQL =
    "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
    " JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = 'predictions'::regclass"
    " AND a.amname = 'btree'";
/* members whose total_predictions differs from their count of predictions */
static const char *PRED_TOTALS_DIFF =
    "SELECT count(*) FROM members m WHERE m.total_predictions <>"
    " (SELECT count(*) FROM predictions p WHERE p.member_hash = m.member_hash)";

/* Predictions of members [from, from + n) for BCS, year, model version v (ids left empty: the
 * store generates them). */
static struct store_prediction *preds(int from, int n, int year, const char *v)
{
    struct store_prediction *p = calloc((size_t)n, sizeof *p);
    assert_non_null(p);
    for (int i = 0; i < n; i++) {
        member_hash_of(from + i, p[i].member_hash);
        snprintf(p[i].measure_code, sizeof p[i].measure_code, "BCS");
        p[i].measurement_year = year;
        p[i].gap_probability = (double)((from + i) % 100) / 100.0;
        p[i].risk_tier = p[i].gap_probability >= 0.7   ? STORE_TIER_HIGH
                         : p[i].gap_probability >= 0.4 ? STORE_TIER_MEDIUM
                                                       : STORE_TIER_LOW;
        p[i].risk_score = p[i].gap_probability * 100;
        p[i].shap_values = NULL;
        p[i].top_features = NULL;
        snprintf(p[i].model_version, sizeof p[i].model_version, "%s", v);
    }
    return p;
}

/* After a failed batch: predictions holds `rows` rows, the members' totals add up to them, the
 * predictions' audit rows number `audits`, and every constraint and index of predictions is
 * the one it was (definitions defs0, OIDs oids0). */
static void assert_preds_as_before(struct fx *f, long long rows, long long audits,
                                   const char *defs0, const char *oids0)
{
    assert_int_equal(q_ll(f->raw, "SELECT count(*) FROM predictions"), rows);
    assert_int_equal(q_ll(f->raw, "SELECT coalesce(sum(total_predictions), 0) FROM members"), rows);
    assert_int_equal(q_ll(f->raw, "SELECT count(*) FROM audit_log WHERE entity_type = 'prediction'"),
                     audits);
    char *defs1 = q_text(f->raw, PRED_DEFS_SQL), *oids1 = q_text(f->raw, PRED_OIDS_SQL);
    assert_string_equal(defs1, defs0);
    assert_string_equal(oids1, oids0);
    free(defs1);
    free(oids1);
}

/* A batch of N_BULK predictions into an empty table drops and re-adds its keys: the same
 * constraint and index definitions after it (every key validated), new OIDs, every b-tree
 * complete (amcheck), the counters exact; the keys work afterwards (a duplicate and a prediction
 * of no member are refused, deleting a member cascades); a small batch leaves the keys as they
 * are. */
static void test_bulk_predictions_rebuild_keys(void **state)
{
    struct fx *f = *state;
    char *defs0 = q_text(f->raw, PRED_DEFS_SQL), *oids0 = q_text(f->raw, PRED_OIDS_SQL);
    assert_non_null(strstr(defs0, "FOREIGN KEY (member_hash) REFERENCES members(member_hash)"));
    struct store_prediction *big = preds(0, N_BULK, 2025, "BCS-v1");
    OK(store_prediction_batch_create(f->st, &ACTOR, big, N_BULK, f->err, sizeof f->err));
    char *defs1 = q_text(f->raw, PRED_DEFS_SQL), *oids1 = q_text(f->raw, PRED_OIDS_SQL);
    assert_string_equal(defs1, defs0);
    assert_true(changed_oids(oids0, oids1) >= 5); /* pkey, unique, fkey and their two indexes */
    assert_int_equal(q_ll(f->raw, PRED_AMCHECK_SQL), q_ll(f->raw, PRED_BTREES_SQL));
    assert_int_equal(q_ll(f->raw, "SELECT count(*) FROM predictions"), N_BULK);
    assert_int_equal(q_ll(f->raw, PRED_TOTALS_DIFF), 0);
    assert_int_equal(q_ll(f->raw, "SELECT sum(total_predictions) FROM members"), N_BULK);
    assert_int_equal(q_ll(f->raw, "SELECT count(*) FROM audit_log WHERE entity_type = 'prediction'"
                                  " AND action = 'batch_create'"), 1);
    /* reads through the re-added unique key find the rows */
    struct store_prediction got;
    OK(store_prediction_get_latest(f->st, big[77].member_hash, "BCS", &got, f->err, sizeof f->err));
    assert_string_equal(got.prediction_id, big[77].prediction_id);
    store_prediction_fini(&got);
    /* the keys are in force: a repeated key, a repeated id, a member that does not exist */
    struct store_prediction *one = preds(5, 1, 2025, "BCS-v1");
    assert_int_equal(store_prediction_batch_create(f->st, &ACTOR, one, 1, f->err, sizeof f->err),
                     SG_ECONFLICT);
    PGresult *r = PQexec(f->raw, "INSERT INTO predictions (prediction_id, member_hash, measure_code,"
                                 " measurement_year, gap_probability, risk_tier, model_version,"
                                 " prediction_date) VALUES (gen_random_uuid(), repeat('0', 64),"
                                 " 'BCS', 2025, 0.5, 'low', 'x', now())");
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23503");
    PQclear(r);
    char del[256];
    snprintf(del, sizeof del, "DELETE FROM members WHERE member_hash = '%s'", big[3].member_hash);
    PQclear(q(f->raw, del));
    assert_int_equal(q_ll(f->raw, "SELECT count(*) FROM predictions"), N_BULK - 1);
    /* a small batch (under 10,000 rows): the ordinary path */
    struct store_prediction *small = preds(10, 100, 2026, "BCS-v1");
    OK(store_prediction_batch_create(f->st, &ACTOR, small, 100, f->err, sizeof f->err));
    char *oids2 = q_text(f->raw, PRED_OIDS_SQL);
    assert_int_equal(changed_oids(oids1, oids2), 0);
    assert_int_equal(q_ll(f->raw, PRED_TOTALS_DIFF), 0);
    free(defs0); free(oids0); free(defs1); free(oids1); free(oids2);
    free(big); free(one); free(small);
}

/* A bulk batch whose last row repeats an earlier row's key, or one whose row repeats a stored
 * prediction, fails naming that row and writes nothing: no prediction, no counter, no audit row,
 * and every key and index as before (same definitions, same OIDs). */
static void test_bulk_predictions_duplicate_writes_nothing(void **state)
{
    struct fx *f = *state;
    struct store_prediction *stored = preds(0, 50, 2024, "BCS-v1");
    OK(store_prediction_batch_create(f->st, &ACTOR, stored, 50, f->err, sizeof f->err));
    char *defs0 = q_text(f->raw, PRED_DEFS_SQL), *oids0 = q_text(f->raw, PRED_OIDS_SQL);
    /* in-batch: the last row is member 17's again */
    struct store_prediction *big = preds(0, N_BULK, 2025, "BCS-v1");
    member_hash_of(17, big[N_BULK - 1].member_hash);
    int rc = store_prediction_batch_create(f->st, &ACTOR, big, N_BULK, f->err, sizeof f->err);
    assert_int_equal(rc, SG_ECONFLICT);
    char want[64];
    snprintf(want, sizeof want, "rows[%d]", N_BULK - 1);
    assert_non_null(strstr(f->err, want));
    /* against a stored prediction: row 9 is member 9's of 2024 (stored above) */
    struct store_prediction *big2 = preds(0, N_BULK, 2025, "BCS-v1");
    big2[9].measurement_year = 2024;
    rc = store_prediction_batch_create(f->st, &ACTOR, big2, N_BULK, f->err, sizeof f->err);
    assert_int_equal(rc, SG_ECONFLICT);
    assert_non_null(strstr(f->err, "rows[9]"));
    assert_preds_as_before(f, 50, 1, defs0, oids0);
    /* the batch without the bad row goes in, through the bulk path */
    struct store_prediction *good = preds(0, N_BULK, 2025, "BCS-v1");
    OK(store_prediction_batch_create(f->st, &ACTOR, good, N_BULK, f->err, sizeof f->err));
    char *oids2 = q_text(f->raw, PRED_OIDS_SQL);
    assert_true(changed_oids(oids0, oids2) >= 5);
    assert_int_equal(q_ll(f->raw, PRED_TOTALS_DIFF), 0);
    assert_int_equal(q_ll(f->raw, PRED_AMCHECK_SQL), q_ll(f->raw, PRED_BTREES_SQL));
    free(defs0); free(oids0); free(oids2);
    free(stored); free(big); free(big2); free(good);
}

/* The rows of a batch are checked while the members' counter update runs (store_check): a bulk
 * batch with a bad field, a malformed member hash (the update is then not sent) or a member
 * that does not exist fails naming the row, and writes nothing: no prediction, no counter, no
 * audit row, every key and index as before. */
static void test_bulk_predictions_bad_row_writes_nothing(void **state)
{
    struct fx *f = *state;
    char *defs0 = q_text(f->raw, PRED_DEFS_SQL), *oids0 = q_text(f->raw, PRED_OIDS_SQL);
    for (int k = 0; k < 4; k++) {
        struct store_prediction *big = preds(0, N_BULK, 2025, "BCS-v1");
        const char *want = NULL;
        char w[96];
        switch (k) {
        case 0: /* a probability out of range near the end */
            big[N_BULK - 2].gap_probability = 1.5;
            snprintf(w, sizeof w, "rows[%d].gap_probability", N_BULK - 2);
            break;
        case 1: /* a member hash that is not lower-case hex */
            big[123].member_hash[5] = 'G';
            snprintf(w, sizeof w, "rows[123].member_hash");
            break;
        case 2: /* an unknown measure */
            snprintf(big[4567].measure_code, sizeof big[4567].measure_code, "NOPE");
            snprintf(w, sizeof w, "rows[4567].measure_code");
            break;
        default: /* a member that does not exist */
            member_hash_of(N_BULK + 7, big[N_BULK / 2].member_hash);
            snprintf(w, sizeof w, "rows[%d].member_hash: no such member", N_BULK / 2);
            break;
        }
        want = w;
        int rc = store_prediction_batch_create(f->st, &ACTOR, big, N_BULK, f->err, sizeof f->err);
        assert_int_equal(rc, SG_EINVAL);
        if (!strstr(f->err, want)) fail_msg("case %d: '%s' does not name '%s'", k, f->err, want);
        free(big);
    }
    assert_preds_as_before(f, 0, 0, defs0, oids0);
    /* the same store then loads a good batch */
    struct store_prediction *good = preds(0, N_BULK, 2025, "BCS-v1");
    OK(store_prediction_batch_create(f->st, &ACTOR, good, N_BULK, f->err, sizeof f->err));
    assert_int_equal(q_ll(f->raw, PRED_TOTALS_DIFF), 0);
    assert_int_equal(q_ll(f->raw, "SELECT sum(total_predictions) FROM members"), N_BULK);
    free(defs0); free(oids0); free(good);
}

/* While another session holds predictions (an open transaction that read it), or has written a
 * member (the re-added foreign key needs members' SHARE ROW EXCLUSIVE lock), the batch does not
 * queue: it takes the ordinary path, keys untouched, and stores its rows. */
static void test_bulk_predictions_yield(void **state)
{
    struct fx *f = *state;
    const char *hold[2] = {"SELECT count(*) FROM predictions", NULL};
    char upd[256];
    char h[STORE_HASH_LEN];
    member_hash_of(N_BULK, h); /* a member the batches below do not name */
    snprintf(upd, sizeof upd, "UPDATE members SET active = active WHERE member_hash = '%s'", h);
    hold[1] = upd;
    for (int k = 0; k < 2; k++) {
        PGconn *other = PQconnectdb(url());
        assert_int_equal(PQstatus(other), CONNECTION_OK);
        PQclear(q(other, "BEGIN"));
        PQclear(q(other, hold[k]));
        char *oids0 = q_text(f->raw, PRED_OIDS_SQL);
        struct store_prediction *p = preds(0, N_BULK, 2020 + k, "BCS-v1");
        OK(store_prediction_batch_create(f->st, &ACTOR, p, N_BULK, f->err, sizeof f->err));
        char *oids1 = q_text(f->raw, PRED_OIDS_SQL);
        assert_string_equal(oids1, oids0); /* the ordinary path */
        PQclear(q(other, "COMMIT"));
        PQfinish(other);
        assert_int_equal(q_ll(f->raw, PRED_TOTALS_DIFF), 0);
        free(oids0); free(oids1); free(p);
        if (k == 0) PQclear(q(f->raw, "DELETE FROM predictions")); /* empty again for k = 1 */
        if (k == 0) PQclear(q(f->raw, "UPDATE members SET total_predictions = 0"));
    }
    assert_int_equal(q_ll(f->raw, "SELECT count(*) FROM predictions"), N_BULK);
}

/* A submitted gap move's result (submit_done). */
struct moved {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, rc;
};

static void submit_done(void *arg, int rc, const char *err)
{
    (void)err;
    struct moved *m = arg;
    pthread_mutex_lock(&m->mu);
    m->done = 1;
    m->rc = rc;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

/* The group's set statement reads the gaps it moves without locking them and moves a row only if
 * it is still the version it read: here another session moves the gap (identified -> assigned)
 * and commits while the group's move (-> completed, valid only from assigned) is under way; the
 * move must still succeed, from the committed status, and its audit row must say so. */
static void test_gap_move_after_concurrent_change(void **state)
{
    struct fx *f = *state;
    struct store_gap *g = gaps(0, 1, "BCS", 2025);
    struct store_refresh_counts k;
    OK(store_gap_refresh_batch(f->st, &ACTOR, 2025, "H0001", g, 1, &k, f->err, sizeof f->err));
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE gap_analysis SET status = 'assigned', assigned_date ="
             " current_date WHERE member_hash = '%s'", g[0].member_hash);
    char id[STORE_ID_LEN];
    char *gid = q_text(f->raw, "SELECT gap_id FROM gap_analysis LIMIT 1");
    snprintf(id, sizeof id, "%.36s", gid);
    free(gid);
    PGconn *other = PQconnectdb(url());
    assert_int_equal(PQstatus(other), CONNECTION_OK);
    PQclear(q(other, "BEGIN"));
    PQclear(q(other, sql));
    struct moved m = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    struct store_gap out;
    OK(store_gap_update_status_submit(f->st, &ACTOR, id, STORE_GAP_COMPLETED, &out, submit_done,
                                      &m, f->err, sizeof f->err));
    struct timespec pause = {0, 200 * 1000 * 1000};
    nanosleep(&pause, NULL); /* the move waits for the other session's row lock */
    pthread_mutex_lock(&m.mu);
    assert_int_equal(m.done, 0);
    pthread_mutex_unlock(&m.mu);
    PQclear(q(other, "COMMIT"));
    PQfinish(other);
    pthread_mutex_lock(&m.mu);
    while (!m.done) pthread_cond_wait(&m.cv, &m.mu);
    pthread_mutex_unlock(&m.mu);
    assert_int_equal(m.rc, SG_OK);
    assert_int_equal((int)out.status, (int)STORE_GAP_COMPLETED);
    char want[160];
    snprintf(want, sizeof want, "SELECT count(*) FROM audit_log WHERE entity_id = '%s' AND"
             " changes::jsonb -> 'before' ->> 'status' = 'assigned'", id);
    assert_int_equal(q_ll(f->raw, want), 1);
    assert_int_equal(q_ll(f->raw, COUNTS_DIFF), 0);
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bulk_refresh_keeps_indexes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bulk_refresh_failure_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bulk_refresh_yields_to_readers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bulk_predictions_rebuild_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bulk_predictions_duplicate_writes_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bulk_predictions_bad_row_writes_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bulk_predictions_yield, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_move_after_concurrent_change, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
