/* test_store_sqlite_bulk.c: the SQLite backend's bulk-write path (store_sqlite.c, "bulk writes").
 *
 * A batch that at least doubles its table (and has at least 10,000 rows: a gap refresh, an
 * import merge, a prediction batch) drops the table's secondary indexes inside its transaction
 * and re-creates them before COMMIT. These tests
 * watch the database through a second, plain SQLite connection: the schema version tells whether
 * the bulk path ran (DDL bumps it), sqlite_schema gives the indexes' SQL, sqlite_stat1 the planner
 * statistics, and PRAGMA integrity_check compares every index with the table. Expected counts are
 * the rows each test writes; the gap_counts rows are checked against a GROUP BY over gap_analysis. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "core/hash.h"
#include "db/migrate.h"
#include "db/store.h"

#define N_BULK 12000 /* above the bulk threshold (10,000 rows) */

static const struct store_actor ACTOR = {"tester", "127.0.0.1"};

struct fx {
    char dir[64];
    char path[128];
    struct store *st;
    sqlite3 *raw; /* an independent reader connection */
    char err[SG_ERRLEN];
};

#include "store_test_ok.h"

static void member_hash_of(int i, char out[STORE_HASH_LEN])
{
    char id[32];
    snprintf(id, sizeof id, "bulk-member-%d", i);
    assert_int_equal(sg_sha256_hex(id, strlen(id), out), SG_OK);
}

/* One text value of a query on the raw connection (joined rows, '|' between columns, '\n'
 * between rows), malloc'd. */
static char *raw_text(struct fx *f, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(f->raw, sql, -1, &s, NULL) != SQLITE_OK)
        fprintf(stderr, "raw_text: %s: %s\n", sql, sqlite3_errmsg(f->raw));
    assert_non_null(s);
    size_t cap = 1024, len = 0;
    char *out = calloc(cap, 1);
    assert_non_null(out);
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(s); i++) {
            const char *v = (const char *)sqlite3_column_text(s, i);
            size_t need = len + (v ? strlen(v) : 4) + 2;
            if (need >= cap) {
                while (need >= cap) cap *= 2;
                out = realloc(out, cap);
                assert_non_null(out);
            }
            len += (size_t)sprintf(out + len, "%s%c", v ? v : "NULL",
                                   i + 1 < sqlite3_column_count(s) ? '|' : '\n');
        }
    }
    assert_int_equal(r, SQLITE_DONE);
    sqlite3_finalize(s);
    return out;
}

static long long raw_int(struct fx *f, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(f->raw, sql, -1, &s, NULL) != SQLITE_OK)
        fprintf(stderr, "raw_int: %s: %s\n", sql, sqlite3_errmsg(f->raw));
    assert_non_null(s);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    long long v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static const char *INDEX_SQL =
    "SELECT name, sql FROM sqlite_schema WHERE tbl_name = 'gap_analysis' ORDER BY type, name";
static const char *STATS_SQL =
    "SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'gap_analysis' ORDER BY idx";
/* gap_counts rows that differ from a count over gap_analysis (either side) */
static const char *COUNTS_DIFF =
    "WITH c AS (SELECT status, measure_code, measurement_year, contract_id, n FROM gap_counts "
    "WHERE n > 0), g AS (SELECT status, measure_code, measurement_year, contract_id, count(*) "
    "FROM gap_analysis GROUP BY 1, 2, 3, 4) "
    "SELECT (SELECT count(*) FROM (SELECT * FROM c EXCEPT SELECT * FROM g)) + "
    "(SELECT count(*) FROM (SELECT * FROM g EXCEPT SELECT * FROM c))";

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
    snprintf(f->dir, sizeof f->dir, "/tmp/sg-bulk-test-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->path, sizeof f->path, "%s/bulk.db", f->dir);
    char url[160];
    snprintf(url, sizeof url, "sqlite:%s", f->path);
    if (store_open(url, NULL, &f->st, f->err, sizeof f->err) != SG_OK ||
        migrate_up(f->st, 0, NULL, f->err, sizeof f->err) != SG_OK) {
        fprintf(stderr, "setup: %s\n", f->err);
        return -1;
    }
    seed_measures(f);
    /* members 0..N_BULK of contract H0001 */
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
    if (sqlite3_open_v2(f->path, &f->raw, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) return -1;
    sqlite3_busy_timeout(f->raw, 5000);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    sqlite3_close(f->raw);
    store_close(f->st);
    char p[160];
    static const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    rmdir(f->dir);
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

/* A refresh that doubles the table rebuilds the indexes: same SQL and statistics after it, every
 * index consistent with the table, gap_counts exact, and a reader prepared before it still works. */
static void test_bulk_refresh_keeps_indexes(void **state)
{
    struct fx *f = *state;
    struct store_refresh_counts k;
    /* 100 gaps of 2023 (no bulk: under 10,000 rows), then planner statistics */
    struct store_gap *small = gaps(0, 100, "BCS", 2023);
    long long v0 = raw_int(f, "PRAGMA schema_version");
    OK(store_gap_refresh_batch(f->st, &ACTOR, 2023, "H0001", small, 100, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, 100);
    assert_int_equal(raw_int(f, "PRAGMA schema_version"), v0); /* no DDL on the ordinary path */
    assert_int_equal(sqlite3_exec(f->raw, "ANALYZE", NULL, NULL, NULL), SQLITE_OK);
    char *idx_before = raw_text(f, INDEX_SQL), *stat_before = raw_text(f, STATS_SQL);
    assert_non_null(strstr(idx_before, "gaps_priority_idx"));
    assert_non_null(strstr(idx_before, "gap_counts_ins")); /* triggers are compared too */
    assert_non_null(strstr(stat_before, "gaps_priority_idx|100"));
    /* a reader statement prepared before the bulk refresh, on an index it drops */
    sqlite3_stmt *rd = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->raw,
                                        "SELECT count(*) FROM gap_analysis INDEXED BY gaps_priority_idx "
                                        "WHERE priority_score >= 0", -1, &rd, NULL), SQLITE_OK);
    long long v1 = raw_int(f, "PRAGMA schema_version");
    /* N_BULK gaps of 2024: at least doubles the table */
    struct store_gap *big = gaps(0, N_BULK, "COL", 2024);
    OK(store_gap_refresh_batch(f->st, &ACTOR, 2024, "H0001", big, N_BULK, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, N_BULK);
    assert_int_equal(k.updated + k.kept + k.closed, 0);
    assert_true(raw_int(f, "PRAGMA schema_version") > v1); /* the bulk path ran */
    char *idx_after = raw_text(f, INDEX_SQL), *stat_after = raw_text(f, STATS_SQL);
    assert_string_equal(idx_after, idx_before);
    assert_string_equal(stat_after, stat_before);
    char *ic = raw_text(f, "PRAGMA integrity_check");
    assert_string_equal(ic, "ok\n");
    assert_int_equal(raw_int(f, COUNTS_DIFF), 0);
    assert_int_equal(raw_int(f, "SELECT sum(n) FROM gap_counts WHERE measurement_year = 2024 "
                                "AND status = 'identified'"), N_BULK);
    assert_int_equal(sqlite3_step(rd), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(rd, 0), N_BULK + 100);
    sqlite3_finalize(rd);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM audit_log WHERE entity_type = 'gap' "
                                "AND action = 'refresh'"), 2);
    /* the same rows again (update first, no bulk: it does not double the table) */
    long long v2 = raw_int(f, "PRAGMA schema_version");
    for (int i = 0; i < N_BULK; i++) big[i].gap_probability = 0.5;
    OK(store_gap_refresh_batch(f->st, &ACTOR, 2024, "H0001", big, N_BULK - 1, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, 0);
    assert_int_equal(k.updated, N_BULK - 1);
    assert_int_equal(k.closed, 1); /* the row left out */
    assert_int_equal(raw_int(f, "PRAGMA schema_version"), v2);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM gap_analysis WHERE measurement_year = 2024 "
                                "AND gap_probability = 0.5"), N_BULK - 1);
    assert_int_equal(raw_int(f, COUNTS_DIFF), 0);
    /* a new scope (2025) of 10,000 gaps: fewer than the table holds, but more than a quarter of
     * it, takes the bulk path too (the pipeline's later contracts of a year) */
    long long v3 = raw_int(f, "PRAGMA schema_version");
    struct store_gap *more = gaps(0, 10000, "BCS", 2025);
    OK(store_gap_refresh_batch(f->st, &ACTOR, 2025, "H0001", more, 10000, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, 10000);
    assert_true(raw_int(f, "PRAGMA schema_version") > v3);
    char *idx_third = raw_text(f, INDEX_SQL), *stat_third = raw_text(f, STATS_SQL);
    assert_string_equal(idx_third, idx_before);
    assert_string_equal(stat_third, stat_before);
    char *ic3 = raw_text(f, "PRAGMA integrity_check");
    assert_string_equal(ic3, "ok\n");
    assert_int_equal(raw_int(f, COUNTS_DIFF), 0);
    assert_int_equal(raw_int(f, "SELECT sum(n) FROM gap_counts WHERE measurement_year = 2025"), 10000);
    free(ic3);
    free(idx_third);
    free(stat_third);
    free(more);
    free(ic);
    free(idx_before);
    free(idx_after);
    free(stat_before);
    free(stat_after);
    free(small);
    free(big);
}

/* A bulk refresh that fails on its last row (a member that does not exist: only the database
 * knows) writes nothing: no gap, no count, no audit row, every index in place. */
static void test_bulk_refresh_failure_writes_nothing(void **state)
{
    struct fx *f = *state;
    struct store_refresh_counts k;
    char *idx_before = raw_text(f, INDEX_SQL);
    long long v0 = raw_int(f, "PRAGMA schema_version");
    struct store_gap *big = gaps(0, N_BULK, "BCS", 2024);
    member_hash_of(N_BULK + 7, big[N_BULK - 1].member_hash); /* not a member */
    int rc = store_gap_refresh_batch(f->st, &ACTOR, 2024, "H0001", big, N_BULK, &k, f->err,
                                     sizeof f->err);
    assert_int_equal(rc, SG_EINVAL);
    char want[64];
    snprintf(want, sizeof want, "rows[%d].member_hash", N_BULK - 1);
    assert_non_null(strstr(f->err, want));
    assert_int_equal(k.inserted, 0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM gap_analysis"), 0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM gap_counts WHERE n > 0"), 0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM audit_log WHERE entity_type = 'gap'"), 0);
    assert_int_equal(raw_int(f, "PRAGMA schema_version"), v0);
    char *idx_after = raw_text(f, INDEX_SQL);
    assert_string_equal(idx_after, idx_before);
    /* the store's connection still works, and the same batch without the bad row goes in */
    OK(store_gap_refresh_batch(f->st, &ACTOR, 2024, "H0001", big, N_BULK - 1, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, N_BULK - 1);
    char *ic = raw_text(f, "PRAGMA integrity_check");
    assert_string_equal(ic, "ok\n");
    assert_int_equal(raw_int(f, COUNTS_DIFF), 0);
    assert_int_equal(raw_int(f, "SELECT n FROM gap_counts WHERE status = 'identified' AND "
                                "measure_code = 'BCS' AND measurement_year = 2024 AND contract_id = 'H0001'"),
                     N_BULK - 1);
    /* the insert trigger is back: an ordinary refresh of another year is counted row by row */
    struct store_gap *one = gaps(5, 1, "COL", 2023);
    OK(store_gap_refresh_batch(f->st, &ACTOR, 2023, "H0001", one, 1, &k, f->err, sizeof f->err));
    assert_int_equal(raw_int(f, "SELECT n FROM gap_counts WHERE measurement_year = 2023"), 1);
    assert_int_equal(raw_int(f, COUNTS_DIFF), 0);
    free(one);
    free(ic);
    free(idx_before);
    free(idx_after);
    free(big);
}

/* Import merges take the same path: the setup's 12,001 members went into an empty members table
 * (members_contract_idx rebuilt); a measure-result batch into the empty measure_results table
 * that fails on its last row writes nothing and leaves both secondary indexes; without the bad
 * row it goes in with its indexes complete. */
static void test_bulk_import(void **state)
{
    struct fx *f = *state;
    char *ic = raw_text(f, "PRAGMA integrity_check");
    assert_string_equal(ic, "ok\n");
    free(ic);
    /* the statement of migrations/sqlite/0001_schema.up.sql */
    char *mi = raw_text(f, "SELECT sql FROM sqlite_schema WHERE name = 'members_contract_idx'");
    assert_string_equal(mi, "CREATE INDEX members_contract_idx ON members (contract_id)\n");
    free(mi);
    const char *mr_idx = "SELECT name, sql FROM sqlite_schema WHERE tbl_name = 'measure_results' ORDER BY name";
    char *before = raw_text(f, mr_idx);
    assert_non_null(strstr(before, "measure_results_measure_year_idx"));
    assert_non_null(strstr(before, "measure_results_year_idx"));
    struct store_measure_result *r = calloc(N_BULK, sizeof *r);
    assert_non_null(r);
    for (int i = 0; i < N_BULK; i++) {
        member_hash_of(i, r[i].member_hash);
        snprintf(r[i].measure_code, sizeof r[i].measure_code, "BCS");
        r[i].measurement_year = 2024;
        r[i].initial_population = r[i].denominator = 1;
        r[i].numerator = i % 3 == 0;
        snprintf(r[i].source, sizeof r[i].source, "claims");
    }
    member_hash_of(N_BULK + 3, r[N_BULK - 1].member_hash); /* not a member */
    long long v0 = raw_int(f, "PRAGMA schema_version");
    struct store_merge_counts k;
    assert_int_equal(store_measure_result_merge_batch(f->st, &ACTOR, r, N_BULK, &k, f->err, sizeof f->err),
                     SG_EINVAL);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM measure_results"), 0);
    assert_int_equal(raw_int(f, "PRAGMA schema_version"), v0);
    char *after = raw_text(f, mr_idx);
    assert_string_equal(after, before);
    free(after);
    OK(store_measure_result_merge_batch(f->st, &ACTOR, r, N_BULK - 1, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, N_BULK - 1);
    assert_true(raw_int(f, "PRAGMA schema_version") > v0); /* rebuilt */
    after = raw_text(f, mr_idx);
    assert_string_equal(after, before);
    ic = raw_text(f, "PRAGMA integrity_check");
    assert_string_equal(ic, "ok\n");
    /* the rebuilt index answers: members 0, 3, ..., N_BULK - 3 are met */
    assert_int_equal(raw_int(f, "SELECT count(*) FROM measure_results INDEXED BY "
                                "measure_results_measure_year_idx WHERE measure_code = 'BCS' "
                                "AND measurement_year = 2024 AND numerator = 1"), (N_BULK - 1 + 2) / 3);
    free(ic);
    free(after);
    free(before);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bulk_refresh_keeps_indexes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bulk_refresh_failure_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bulk_import, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
