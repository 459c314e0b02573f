/* test_pg_partitions.c: monthly partitions and retention of api_logs and audit_log on PostgreSQL.
 *
 * Against a fresh database of the harness (SG_TEST_PG_URL): the migration creates the current and
 * next two months; store_maintain creates the month after (moving rows that had landed in the
 * DEFAULT partition into it), drops api_logs months entirely past the retention and deletes older
 * rows left in the boundary month, and never removes audit_log rows younger than 7 years even when
 * asked for 10 days. Expected values are computed here from the dates the test writes. Also here,
 * as the other PostgreSQL-only behaviours of the backend: the pool counters reachable through the
 * store (for /metrics), PHI-safe error messages, the member checks of migrations 0009 and
 * 0012, members' triggers (0015) and the plans of the gap lists over 0016's partial indexes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/migrate.h"
#include "db/pg_pool.h"
#include "db/store.h"

static const char *url(void)
{
    const char *u = getenv("SG_TEST_PG_URL");
    if (!u) fail_msg("SG_TEST_PG_URL is not set: run through pg_harness.sh exec");
    return u;
}

static PGconn *db;

static PGresult *q(const char *sql)
{
    PGresult *r = PQexec(db, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(db));
    return r;
}

static long long q_ll(const char *sql)
{
    PGresult *r = q(sql);
    long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

/* "YYYYMM" of the month `k` months from now (UTC). */
static void month_tag(int k, char out[16])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    int m = tm.tm_year * 12 + tm.tm_mon + k;
    snprintf(out, 16, "%04d%02d", m / 12 + 1900, m % 12 + 1);
}

static int partition_exists(const char *parent, int k)
{
    char tag[16], sql[256];
    month_tag(k, tag);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_class WHERE relname = '%s_p%s'", parent, tag);
    return (int)q_ll(sql);
}

static void test_partitions_and_retention(void **state)
{
    (void)state;
    char err[SG_ERRLEN];
    struct store *st;
    assert_int_equal(store_open(url(), NULL, &st, err, sizeof err), SG_OK);
    assert_int_equal(migrate_up(st, 0, NULL, err, sizeof err), SG_OK);
    db = PQconnectdb(url());
    assert_int_equal(PQstatus(db), CONNECTION_OK);
    PQclear(q("SET TimeZone = 'UTC'"));

    /* The migration made this month and the next two, for both tables. */
    for (int k = 0; k <= 2; k++) {
        assert_int_equal(partition_exists("api_logs", k), 1);
        assert_int_equal(partition_exists("audit_log", k), 1);
    }
    assert_int_equal(partition_exists("api_logs", 3), 0);

    /* api_logs rows: 100 days old (default partition: no month exists for it yet), in a month
     * partition 6 months back, one in 3 months (default partition until maintain), one now. */
    PQclear(q("SELECT stargap_ensure_month('api_logs', (now() - interval '6 months')::date)"));
    PQclear(q("INSERT INTO api_logs (request_id, endpoint, method, status_code, response_time_ms,"
              " timestamp) VALUES"
              " ('r1', '/x', 'GET', 200, 1, now() - interval '100 days'),"
              " ('r2', '/x', 'GET', 200, 1, date_trunc('month', now() - interval '6 months') + interval '1 day'),"
              " ('r3', '/x', 'GET', 200, 1, date_trunc('month', now()) + interval '3 months 2 days'),"
              " ('r4', '/x', 'GET', 200, 1, now())"));
    assert_int_equal(q_ll("SELECT count(*) FROM api_logs_default"), 2);

    /* audit_log rows 6 and 8 years old, each in its own month partition. They are outside the
     * chain (ids far above it); retention looks only at time. */
    PQclear(q("SELECT stargap_ensure_month('audit_log', (now() - interval '6 years')::date),"
              " stargap_ensure_month('audit_log', (now() - interval '8 years')::date)"));
    PQclear(q("INSERT INTO audit_log (audit_id, event_type, entity_type, action, user_id,"
              " timestamp, prev_hash, hash) VALUES"
              " (900001, 'security', 'test', 'old6', 'u', now() - interval '6 years', repeat('0', 64), repeat('a', 64)),"
              " (900002, 'security', 'test', 'old8', 'u', now() - interval '8 years', repeat('0', 64), repeat('b', 64))"));

    struct store_maintain_report rep;
    assert_int_equal(store_maintain(st, 90, 10, &rep, err, sizeof err), SG_OK);
    /* Created: month +3 for both tables (months 0..2 existed). */
    assert_int_equal(rep.partitions_created, 2);
    assert_int_equal(partition_exists("api_logs", 3), 1);
    assert_int_equal(partition_exists("audit_log", 3), 1);
    /* r3 moved out of the default partition into its month. */
    char tag[16], sql[256];
    month_tag(3, tag);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM api_logs WHERE request_id = 'r3' AND tableoid = 'api_logs_p%s'::regclass",
             tag);
    assert_int_equal(q_ll(sql), 1);
    /* api_logs: r1 (100 days) and r2 (6 months, its whole partition dropped) are gone. */
    assert_int_equal(rep.api_logs_deleted, 2);
    assert_int_equal(partition_exists("api_logs", -6), 0);
    assert_int_equal(q_ll("SELECT count(*) FROM api_logs"), 2);
    /* audit_log: asked for 10 days, clamped to 7 years: the 8-year row goes, the 6-year one and
     * today's rows stay. */
    assert_int_equal(rep.audit_deleted, 1);
    assert_int_equal(q_ll("SELECT count(*) FROM audit_log WHERE action = 'old6'"), 1);
    assert_int_equal(q_ll("SELECT count(*) FROM audit_log WHERE action = 'old8'"), 0);
    assert_int_equal(partition_exists("audit_log", -96), 0);
    assert_int_equal(partition_exists("audit_log", -72), 1);
    /* The maintenance run itself is audited (in the chain). */
    assert_int_equal(q_ll("SELECT count(*) FROM audit_log WHERE event_type = 'maintenance'"), 1);

    /* A second run creates nothing and deletes nothing. */
    assert_int_equal(store_maintain(st, 90, 10, &rep, err, sizeof err), SG_OK);
    assert_int_equal(rep.partitions_created, 0);
    assert_int_equal(rep.api_logs_deleted, 0);
    assert_int_equal(rep.audit_deleted, 0);

    PQfinish(db);
    store_close(st);
}

/* The pool counters reach the service through the store (for /metrics). */
static void test_pool_stats_through_store(void **state)
{
    (void)state;
    char err[SG_ERRLEN];
    struct sg_config cfg;
    assert_int_equal(sg_config_init(&cfg), SG_OK);
    cfg.pool_min = 2;
    cfg.pool_max = 3;
    struct store *st;
    assert_int_equal(store_open(url(), &cfg, &st, err, sizeof err), SG_OK);
    struct pg_pool_stats ps;
    assert_int_equal(store_pg_pool_stats(st, &ps), SG_OK);
    assert_int_equal(ps.total, 2);
    assert_int_equal(ps.idle, 2);
    assert_int_equal(ps.in_use, 0);
    assert_int_equal(ps.max, 3);
    store_close(st);
    assert_int_equal(store_open("sqlite::memory:", NULL, &st, err, sizeof err), SG_OK);
    assert_int_equal(store_pg_pool_stats(st, &ps), SG_EUNSUPPORTED);
    assert_int_equal(ps.total, 0);
    store_close(st);
}

/* Errors are PHI-safe: the message names the statement and the SQLSTATE, and never carries a
 * value (the server's DETAIL of a unique violation and the text of a data exception quote it). */
static void test_errors_carry_no_values(void **state)
{
    (void)state;
    char err[SG_ERRLEN];
    struct store *st;
    assert_int_equal(store_open(url(), NULL, &st, err, sizeof err), SG_OK);
    assert_int_equal(migrate_up(st, 0, NULL, err, sizeof err), SG_OK);
    int rc = st->ops->raw_exec(st, "SELECT 'member-4711-secret'::uuid", err, sizeof err);
    assert_int_equal(rc, SG_EINVAL);
    assert_null(strstr(err, "4711"));
    assert_non_null(strstr(err, "raw_exec"));
    assert_non_null(strstr(err, "22P02"));
    const char *ins = "INSERT INTO members (member_hash, contract_id, first_seen, last_updated)"
                      " VALUES (repeat('7', 64), 'H9', now(), now())";
    assert_int_equal(st->ops->raw_exec(st, ins, err, sizeof err), SG_OK);
    rc = st->ops->raw_exec(st, ins, err, sizeof err);
    assert_int_equal(rc, SG_ECONFLICT);
    assert_null(strstr(err, "7777"));
    assert_non_null(strstr(err, "members_pkey"));
    store_close(st);
}

/* Runs sql and returns its SQLSTATE ("" when it succeeded). */
static const char *state_of(const char *sql, char out[6])
{
    PGresult *r = PQexec(db, sql);
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    snprintf(out, 6, "%s", (PQresultStatus(r) == PGRES_COMMAND_OK ||
                            PQresultStatus(r) == PGRES_TUPLES_OK) ? "" : st ? st : "?????");
    PQclear(r);
    return out;
}

#define HASH_A "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'"
#define HASH_B "'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'"
#define HASH_C "'cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc'"
#define HASH_D "'dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd'"
#define MR_INS "INSERT INTO measure_results (member_hash, measure_code, measurement_year," \
    " initial_population, denominator, denominator_exclusion, numerator, evaluated_at, source) VALUES "
#define MR_ROW(h, code) "(" h ", '" code "', 2024, true, true, false, false, now(), 'test')"
#define MF_INS "INSERT INTO member_features (member_hash, measurement_year, features, source) VALUES "

/* Opens a store on a freshly migrated schema (down to 0, then up again) and connects db. */
static struct store *open_fresh(void)
{
    char err[SG_ERRLEN];
    struct store *st = NULL;
    assert_int_equal(store_open(url(), NULL, &st, err, sizeof err), SG_OK);
    assert_int_equal(migrate_down(st, 0, NULL, err, sizeof err), SG_OK);
    assert_int_equal(migrate_up(st, 0, NULL, err, sizeof err), SG_OK);
    db = PQconnectdb(url());
    assert_int_equal(PQstatus(db), CONNECTION_OK);
    return st;
}

/* Migration 0009: measure_results and member_features keep the foreign-key rule to members with
 * statement-level triggers; each case below is what the declared constraint (ON DELETE CASCADE)
 * did, with its SQLSTATE. */
static void test_member_refs(void **state)
{
    (void)state;
    char err[SG_ERRLEN], ss[6];
    struct store *st = open_fresh();
    PQclear(q("INSERT INTO members (member_hash, contract_id, first_seen, last_updated) VALUES"
              " (" HASH_A ", 'H1', now(), now()), (" HASH_B ", 'H1', now(), now())"));
    PQclear(q(MR_INS MR_ROW(HASH_A, "BCS") ", " MR_ROW(HASH_A, "COL") ", " MR_ROW(HASH_B, "BCS")));
    PQclear(q(MF_INS "(" HASH_A ", 2024, '{\"x\":1}', 'test'), (" HASH_B ", 2024, '{}', 'test')"));
    /* an unknown member, alone or with known ones: refused whole */
    assert_string_equal(state_of(MR_INS MR_ROW(HASH_C, "BCS"), ss), "23503");
    assert_string_equal(state_of(MR_INS MR_ROW(HASH_A, "CBP") ", " MR_ROW(HASH_C, "CBP"), ss),
                        "23503");
    assert_int_equal(q_ll("SELECT count(*) FROM measure_results WHERE measure_code = 'CBP'"), 0);
    assert_string_equal(state_of(MF_INS "(" HASH_C ", 2024, '{}', 'test')", ss), "23503");
    assert_string_equal(
        state_of("UPDATE measure_results SET member_hash = " HASH_C " WHERE member_hash = " HASH_B,
                 ss),
        "23503");
    assert_string_equal(
        state_of("UPDATE member_features SET member_hash = " HASH_C " WHERE member_hash = " HASH_B,
                 ss),
        "23503");
    /* an upsert that updates rows of known members passes */
    assert_string_equal(state_of(MR_INS MR_ROW(HASH_A, "BCS") " ON CONFLICT (member_hash,"
                                                             " measure_code, measurement_year)"
                                                             " DO UPDATE SET numerator = false",
                                 ss),
                        "");
    /* a referenced member keeps its hash; an unreferenced one may change it */
    assert_string_equal(
        state_of("UPDATE members SET member_hash = " HASH_D " WHERE member_hash = " HASH_A, ss),
        "23503");
    PQclear(q("INSERT INTO members (member_hash, contract_id, first_seen, last_updated) VALUES"
              " (" HASH_C ", 'H1', now(), now())"));
    assert_string_equal(
        state_of("UPDATE members SET member_hash = " HASH_D " WHERE member_hash = " HASH_C, ss), "");
    /* TRUNCATE of members while rows reference it is refused */
    assert_string_not_equal(state_of("TRUNCATE members", ss), "");
    /* deleting a member deletes its results and features, nobody else's */
    PQclear(q("DELETE FROM members WHERE member_hash = " HASH_A));
    assert_int_equal(q_ll("SELECT count(*) FROM measure_results WHERE member_hash = " HASH_A), 0);
    assert_int_equal(q_ll("SELECT count(*) FROM member_features WHERE member_hash = " HASH_A), 0);
    assert_int_equal(q_ll("SELECT count(*) FROM measure_results WHERE member_hash = " HASH_B), 1);
    assert_int_equal(q_ll("SELECT count(*) FROM member_features WHERE member_hash = " HASH_B), 1);
    /* a statement naming one member several times and a missing one (migration 0012 counts
     * distinct members: 2 named, 1 found) is refused; the known member alone passes */
    assert_string_equal(state_of(MR_INS MR_ROW(HASH_B, "CBP") ", " MR_ROW(HASH_B, "COL") ", "
                                 MR_ROW(HASH_C, "COL"), ss),
                        "23503");
    assert_string_equal(state_of(MR_INS MR_ROW(HASH_B, "CBP") ", " MR_ROW(HASH_B, "COL"), ss), "");
    assert_int_equal(q_ll("SELECT count(*) FROM measure_results WHERE member_hash = " HASH_B), 3);
    assert_int_equal(q_ll("SELECT count(*) FROM pg_proc WHERE proname = 'stargap_member_refs_check'"
                          " AND prosrc LIKE '%MATERIALIZED%'"), 1);
    /* down to 0009: its check (lock, then NOT EXISTS) again, the same rule */
    assert_int_equal(migrate_down(st, 9, NULL, err, sizeof err), SG_OK);
    assert_int_equal(q_ll("SELECT count(*) FROM pg_proc WHERE proname = 'stargap_member_refs_check'"
                          " AND prosrc LIKE '%NOT EXISTS%'"), 1);
    assert_string_equal(state_of(MR_INS MR_ROW(HASH_B, "OMW") ", " MR_ROW(HASH_C, "OMW"), ss),
                        "23503");
    PQclear(q("DELETE FROM measure_results WHERE member_hash = " HASH_B " AND measure_code <> 'BCS'"));
    /* migrating down restores the declared constraints over the same rows */
    assert_int_equal(migrate_down(st, 8, NULL, err, sizeof err), SG_OK);
    assert_int_equal(q_ll("SELECT count(*) FROM pg_constraint WHERE conname IN"
                          " ('measure_results_member_hash_fkey', 'member_features_member_hash_fkey')"),
                     2);
    assert_string_equal(state_of(MR_INS MR_ROW(HASH_C, "BCS"), ss), "23503");
    assert_int_equal(migrate_up(st, 0, NULL, err, sizeof err), SG_OK);
    assert_int_equal(q_ll("SELECT count(*) FROM pg_constraint WHERE conname IN"
                          " ('measure_results_member_hash_fkey', 'member_features_member_hash_fkey')"),
                     0);
    PQfinish(db);
    db = NULL;
    store_close(st);
}

/* Non-internal BEFORE ROW UPDATE triggers of members (tgtype: ROW 1, BEFORE 2, UPDATE 16). */
#define MEMBERS_BEFORE_UPD                                                                      \
    "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'members'::regclass AND NOT tgisinternal"  \
    " AND tgtype & 19 = 19"
/* Whether member A's updated_at moved past the value saved in temp table t. */
#define A_TOUCHED "SELECT count(*) FROM members m, t WHERE m.member_hash = " HASH_A " AND m.updated_at > t.u"
#define A_SAVE "DELETE FROM t; INSERT INTO t SELECT updated_at FROM members WHERE member_hash = " HASH_A

/* Migration 0015: members has no BEFORE ROW UPDATE trigger (each would make every update lock
 * its row first), and updated_at is still maintained: the store's statements set it, any other
 * UPDATE gets it from the AFTER trigger; an UPDATE that sets it keeps its value. Down to 0014
 * the BEFORE trigger is back and maintains it as well. */
static void test_members_touch(void **state)
{
    (void)state;
    char err[SG_ERRLEN];
    struct store *st = open_fresh();
    assert_int_equal(q_ll(MEMBERS_BEFORE_UPD), 0);
    PQclear(q("INSERT INTO members (member_hash, contract_id, first_seen, last_updated) VALUES"
              " (" HASH_A ", 'H1', now(), now())"));
    PQclear(q("CREATE TEMP TABLE t (u timestamptz)"));
    for (int version = 15; version >= 14; version--) {
        /* a statement that does not set updated_at: the trigger sets it */
        PQclear(q(A_SAVE));
        PQclear(q("SELECT pg_sleep(0.002)"));
        PQclear(q("UPDATE members SET active = NOT active WHERE member_hash = " HASH_A));
        assert_int_equal(q_ll(A_TOUCHED), 1);
        /* the store's: updated_at is the store's time, as last_updated */
        PQclear(q(A_SAVE));
        PQclear(q("SELECT pg_sleep(0.002)"));
        assert_int_equal(store_member_update_activity(st, NULL, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                                                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1,
                                                      err, sizeof err),
                         SG_OK);
        assert_int_equal(q_ll(A_TOUCHED), 1);
        if (version == 15) {
            assert_int_equal(q_ll("SELECT count(*) FROM members WHERE member_hash = " HASH_A
                                  " AND updated_at = last_updated"), 1);
            /* an UPDATE that sets updated_at keeps the value it set */
            PQclear(q("UPDATE members SET updated_at = '2020-01-02 03:04:05+00' WHERE member_hash = "
                      HASH_A));
            assert_int_equal(q_ll("SELECT count(*) FROM members WHERE member_hash = " HASH_A
                                  " AND updated_at = '2020-01-02 03:04:05+00'"), 1);
            assert_int_equal(migrate_down(st, 14, NULL, err, sizeof err), SG_OK);
            assert_int_equal(q_ll(MEMBERS_BEFORE_UPD), 2);
        }
    }
    assert_int_equal(migrate_up(st, 0, NULL, err, sizeof err), SG_OK);
    assert_int_equal(q_ll(MEMBERS_BEFORE_UPD), 0);
    PQfinish(db);
    db = NULL;
    store_close(st);
}

/* Migration 0016 and the gap list statements (store_pg_gap_list_sql): on 20,000 gaps of every
 * status, each of the 160 statements (filter combination, status or none, sort), planned as a
 * pooled connection ends up planning it (generic plan), reads gap_analysis only through its list
 * indexes: no sequential scan, an index of the gaps_ family for each status branch, read in the
 * list's order unless a minimum priority is given (no sort but the outer one of the page's rows),
 * and without a status filter the statuses' pages merged in order (Merge Append) rather than
 * sorted whole. */
static void test_gap_list_plans(void **state)
{
    (void)state;
    struct store *st = open_fresh();
    PQclear(q("INSERT INTO members (member_hash, contract_id, first_seen, last_updated)"
              " SELECT encode(sha256(i::text::bytea), 'hex'), 'H' || (i % 10), now(), now()"
              " FROM generate_series(1, 2000) i"));
    PQclear(q("INSERT INTO gap_analysis (gap_id, member_hash, contract_id, measure_code,"
              " measurement_year, gap_probability, priority_score, status)"
              " SELECT gen_random_uuid(), m.member_hash, m.contract_id, 'M' || k, 2026, random(),"
              " 100 * random(), (ARRAY['identified', 'identified', 'identified', 'identified',"
              " 'identified', 'identified', 'assigned', 'assigned', 'completed', 'closed'])"
              "[1 + (k + length(m.member_hash) + ascii(m.member_hash)) % 10]"
              " FROM members m, generate_series(0, 9) k"));
    PQclear(q("VACUUM ANALYZE gap_analysis"));
    assert_int_equal(q_ll("SELECT count(DISTINCT status) FROM gap_analysis"), 4);
    /* the list indexes are partial, one set per status */
    assert_int_equal(q_ll("SELECT count(*) FROM pg_index WHERE indrelid = 'gap_analysis'::regclass"
                          " AND indpred IS NULL AND NOT indisunique"), 0);
    assert_int_equal(q_ll("SELECT count(*) FROM pg_index WHERE indrelid = 'gap_analysis'::regclass"
                          " AND indpred IS NOT NULL"), 11);
    PQclear(q("SET plan_cache_mode = force_generic_plan"));
    static const char *const arg[] = {"'M3'", "50", "'H2'", "2026"};
    int n = 0;
    for (int sort = 0; sort < 2; sort++)
        for (int status = -1; status <= STORE_GAP_CLOSED; status++)
            for (unsigned m = 0; m < 16; m++) {
                int np = 0;
                const char *sql = store_pg_gap_list_sql(sort, status, m, &np);
                assert_non_null(sql);
                assert_int_equal(np, __builtin_popcount(m) + 2);
                char buf[8192], args[128] = "";
                size_t al = 0;
                for (int bit = 0; bit < 4; bit++)
                    if (m & (1u << bit))
                        al += (size_t)snprintf(args + al, sizeof args - al, "%s, ", arg[bit]);
                snprintf(buf, sizeof buf, "PREPARE gl%d AS %s", n, sql);
                PQclear(q(buf));
                snprintf(buf, sizeof buf, "EXPLAIN (COSTS OFF) EXECUTE gl%d(%s50, 100)", n, args);
                PGresult *r = q(buf);
                char plan[16384];
                size_t pl = 0;
                for (int i = 0; i < PQntuples(r) && pl < sizeof plan; i++)
                    pl += (size_t)snprintf(plan + pl, sizeof plan - pl, "%s\n", PQgetvalue(r, i, 0));
                PQclear(r);
                int uses = 0;
                for (const char *t = plan; (t = strstr(t, " gaps_")) != NULL; t++) uses++;
                int seq = strstr(plan, "Seq Scan on gap_analysis") != NULL;
                /* one Sort node: the outer ORDER BY of the page's at most `limit` rows */
                int sorts = !strncmp(plan, "Sort\n", 5);
                for (const char *t = plan; (t = strstr(t, "->  Sort\n")) != NULL; t++) sorts++;
                int merged = strstr(plan, "Merge Append") != NULL;
                int branches = status < 0 ? 4 : 1;
                /* (with a minimum priority the planner may also range-scan a priority index
                 * and sort the few rows that pass every filter) */
                int sorted = sorts != 1 && !(m & 2u);
                if (seq || sorted || uses < branches || (status < 0 && !merged))
                    fail_msg("sort %d status %d filters %u:\n%s", sort, status, m, plan);
                n++;
            }
    assert_int_equal(n, 160);
    /* out of range */
    assert_null(store_pg_gap_list_sql(2, 0, 0, NULL));
    assert_null(store_pg_gap_list_sql(0, 4, 0, NULL));
    assert_null(store_pg_gap_list_sql(0, 0, 16, NULL));
    PQfinish(db);
    db = NULL;
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partitions_and_retention),
        cmocka_unit_test(test_pool_stats_through_store),
        cmocka_unit_test(test_errors_carry_no_values),
        cmocka_unit_test(test_member_refs),
        cmocka_unit_test(test_members_touch),
        cmocka_unit_test(test_gap_list_plans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
