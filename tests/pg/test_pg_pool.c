/* test_pg_pool.c: the PostgreSQL connection pool against the harness's private server.
 *
 * Checks the bounds (never more than pool_max connections, an exhausted pool times out with
 * SG_EBUSY after about the configured wait, a release wakes a waiter, waiters are served in
 * arrival order and newcomers queue behind them), lazy prepared statements
 * (prepared once per connection), recycling after max lifetime (a new backend process), and
 * reconnection after the server restarts (the harness restarts it). The URL comes from
 * SG_TEST_PG_URL, set by pg_harness.sh exec. */
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
#include <unistd.h>

#include "db/migrate.h"
#include "db/pg_pool.h"
#include "db/store.h"

static const char *url(void)
{
    const char *u = getenv("SG_TEST_PG_URL");
    if (!u) fail_msg("SG_TEST_PG_URL is not set: run through pg_harness.sh exec");
    return u;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A pool on the harness's server with the defaults but for min and max connections, the acquire
 * timeout (ms) and the lifetime (s) when not 0, and the idle check (ms) when not negative. */
static struct pg_pool *new_pool(int min, int max, int timeout_ms, int lifetime_s,
                                int idle_check_ms)
{
    struct pg_pool_config cfg;
    struct pg_pool *p = NULL;
    char err[SG_ERRLEN];
    pg_pool_config_defaults(&cfg, url());
    cfg.min = min;
    cfg.max = max;
    if (timeout_ms) cfg.acquire_timeout_ms = timeout_ms;
    if (lifetime_s) cfg.max_lifetime_s = lifetime_s;
    if (idle_check_ms >= 0) cfg.idle_check_ms = idle_check_ms;
    int rc = pg_pool_new(&cfg, &p, err, sizeof err);
    if (rc) fail_msg("pg_pool_new: %s", err);
    return p;
}

static int backend_pid(struct pg_pool_conn *c)
{
    return PQbackendPID((PGconn *)pg_pool_conn_pg(c));
}

/* Number of this server's client backends running as application "stargap" in this database. */
static int server_connections(struct pg_pool_conn *c)
{
    PGresult *r = PQexec((PGconn *)pg_pool_conn_pg(c),
                         "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'stargap'"
                         " AND datname = current_database()");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    int n = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

static void test_bad_config_and_url(void **state)
{
    (void)state;
    struct pg_pool_config cfg;
    struct pg_pool *p = (struct pg_pool *)1;
    char err[SG_ERRLEN];
    pg_pool_config_defaults(&cfg, url());
    cfg.min = 5;
    cfg.max = 2;
    assert_int_equal(pg_pool_new(&cfg, &p, err, sizeof err), SG_EINVAL);
    assert_null(p);
    pg_pool_config_defaults(&cfg, "postgres://stargap@/no_such_db_xyz?host=/nonexistent-dir");
    assert_int_equal(pg_pool_new(&cfg, &p, err, sizeof err), SG_EDB);
    assert_null(p);
    assert_non_null(strstr(err, "cannot connect"));
}

static void test_bounds_and_timeout(void **state)
{
    (void)state;
    struct pg_pool *p;
    char err[SG_ERRLEN];
    p = new_pool(1, 3, 300, 0, -1);
    struct pg_pool_stats st;
    pg_pool_stats(p, &st);
    assert_int_equal(st.total, 1);
    assert_int_equal(st.idle, 1);

    struct pg_pool_conn *c[3];
    for (int i = 0; i < 3; i++) assert_int_equal(pg_pool_acquire(p, &c[i], err, sizeof err), SG_OK);
    assert_int_equal(server_connections(c[0]), 3);
    assert_int_not_equal(backend_pid(c[0]), backend_pid(c[1]));
    assert_int_not_equal(backend_pid(c[1]), backend_pid(c[2]));
    pg_pool_stats(p, &st);
    assert_int_equal(st.in_use, 3);
    assert_int_equal(st.idle, 0);

    struct pg_pool_conn *extra = (struct pg_pool_conn *)1;
    double t0 = mono_s();
    assert_int_equal(pg_pool_acquire(p, &extra, err, sizeof err), SG_EBUSY);
    double waited = mono_s() - t0;
    assert_null(extra);
    assert_true(waited >= 0.29 && waited < 2.0);
    pg_pool_stats(p, &st);
    assert_int_equal(st.timeouts, 1);
    assert_int_equal(st.waits, 1);
    assert_int_equal(server_connections(c[0]), 3); /* the failed acquire opened nothing */

    /* A released connection is reused (same backend), not reopened. */
    int pid = backend_pid(c[2]);
    pg_pool_release(p, c[2], 0);
    assert_int_equal(pg_pool_acquire(p, &c[2], err, sizeof err), SG_OK);
    assert_int_equal(backend_pid(c[2]), pid);
    /* A connection released as broken is closed; the next acquire opens a new one. */
    pg_pool_release(p, c[2], 1);
    assert_int_equal(pg_pool_acquire(p, &c[2], err, sizeof err), SG_OK);
    assert_int_not_equal(backend_pid(c[2]), pid);
    pg_pool_stats(p, &st);
    assert_int_equal(st.broken, 1);
    assert_int_equal(st.total, 3);
    for (int i = 0; i < 3; i++) pg_pool_release(p, c[i], 0);
    pg_pool_stats(p, &st);
    assert_int_equal(st.in_use, 0);
    assert_int_equal(st.idle, 3);
    pg_pool_free(p);
}

struct waiter {
    struct pg_pool *p;
    int rc;
    double waited;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    struct pg_pool_conn *c;
    char err[SG_ERRLEN];
    double t0 = mono_s();
    w->rc = pg_pool_acquire(w->p, &c, err, sizeof err);
    w->waited = mono_s() - t0;
    if (w->rc == SG_OK) pg_pool_release(w->p, c, 0);
    return NULL;
}

static void test_release_wakes_waiter(void **state)
{
    (void)state;
    struct pg_pool *p;
    char err[SG_ERRLEN];
    p = new_pool(1, 1, 5000, 0, -1);
    struct pg_pool_conn *c;
    assert_int_equal(pg_pool_acquire(p, &c, err, sizeof err), SG_OK);
    struct waiter w = {p, -100, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, waiter_main, &w), 0);
    usleep(200 * 1000);
    pg_pool_release(p, c, 0);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, SG_OK);
    assert_true(w.waited >= 0.15 && w.waited < 4.0); /* woken by the release, not the timeout */
    struct pg_pool_stats st;
    pg_pool_stats(p, &st);
    assert_int_equal(st.waits, 1);
    assert_int_equal(st.timeouts, 0);
    assert_int_equal(st.total, 1);
    pg_pool_free(p);
}

/* A thread of test_waiters_in_order: takes a connection, notes its turn, holds it briefly. */
struct in_order {
    struct pg_pool *p;
    pthread_mutex_t *mu;
    int *next_turn;
    int turn; /* out: the order in which it got a connection (0 = first) */
    int rc;
};

static void *in_order_main(void *arg)
{
    struct in_order *o = arg;
    struct pg_pool_conn *c = NULL;
    char err[SG_ERRLEN];
    o->rc = pg_pool_acquire(o->p, &c, err, sizeof err);
    pthread_mutex_lock(o->mu);
    o->turn = (*o->next_turn)++;
    pthread_mutex_unlock(o->mu);
    usleep(20 * 1000);
    if (o->rc == SG_OK) pg_pool_release(o->p, c, 0);
    return NULL;
}

/* Waits until n threads wait in the pool (pg_pool_stats). */
static void wait_for_waiting(struct pg_pool *p, int n)
{
    struct pg_pool_stats st;
    double t0 = mono_s();
    do {
        usleep(1000);
        pg_pool_stats(p, &st);
    } while (st.waiting < n && mono_s() - t0 < 5.0);
    assert_int_equal(st.waiting, n);
}

/* Waiting threads get connections in the order they came (first come, first served: a release
 * hands its connection to the oldest waiter, so no waiter is overtaken by later ones), and a
 * released connection's slot, when the connection is closed (broken), passes to the oldest
 * waiter, which opens a new connection in it. */
static void test_waiters_in_order(void **state)
{
    (void)state;
    struct pg_pool *p;
    char err[SG_ERRLEN];
    p = new_pool(1, 1, 10000, 0, -1);
    struct pg_pool_conn *c;
    assert_int_equal(pg_pool_acquire(p, &c, err, sizeof err), SG_OK);
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    int next_turn = 0;
    enum { N = 5 };
    struct in_order o[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) { /* each one queued before the next starts */
        o[i] = (struct in_order){p, &mu, &next_turn, -1, -100};
        assert_int_equal(pthread_create(&th[i], NULL, in_order_main, &o[i]), 0);
        wait_for_waiting(p, i + 1);
    }
    pg_pool_release(p, c, 1); /* broken: its slot goes to the first waiter */
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        assert_int_equal(o[i].rc, SG_OK);
        assert_int_equal(o[i].turn, i);
    }
    struct pg_pool_stats st;
    pg_pool_stats(p, &st);
    assert_int_equal(st.waiting, 0);
    assert_int_equal(st.timeouts, 0);
    assert_int_equal(st.waits, N);
    assert_int_equal(st.broken, 1);
    assert_int_equal(st.connects, 2); /* the first, and the one opened in the broken one's slot */
    assert_true(st.total <= 1);
    pg_pool_free(p);
}

static void test_prepare_lazily(void **state)
{
    (void)state;
    struct pg_pool *p;
    char err[SG_ERRLEN];
    p = new_pool(1, 1, 0, 0, -1);
    struct pg_pool_conn *c;
    assert_int_equal(pg_pool_acquire(p, &c, err, sizeof err), SG_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pg_pool_prepare(c, "t_add", "SELECT $1::int + $2::int", 2, err, sizeof err),
                         SG_OK);
    PGconn *pg = (PGconn *)pg_pool_conn_pg(c);
    const char *vals[2] = {"40", "2"};
    PGresult *r = PQexecPrepared(pg, "t_add", 2, vals, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "42");
    PQclear(r);
    r = PQexec(pg, "SELECT count(*) FROM pg_prepared_statements WHERE name = 't_add'");
    assert_string_equal(PQgetvalue(r, 0, 0), "1");
    PQclear(r);
    /* A syntax error names the statement and the SQLSTATE (42601), not the parameters. */
    assert_int_equal(pg_pool_prepare(c, "t_bad", "SELEC 1", 0, err, sizeof err), SG_EDB);
    assert_non_null(strstr(err, "t_bad"));
    assert_non_null(strstr(err, "42601"));
    pg_pool_release(p, c, 0);
    pg_pool_free(p);
}

static void test_max_lifetime(void **state)
{
    (void)state;
    struct pg_pool *p;
    char err[SG_ERRLEN];
    p = new_pool(1, 2, 0, 1, -1);
    struct pg_pool_conn *c;
    assert_int_equal(pg_pool_acquire(p, &c, err, sizeof err), SG_OK);
    int pid = backend_pid(c);
    pg_pool_release(p, c, 0);
    usleep(1100 * 1000);
    assert_int_equal(pg_pool_acquire(p, &c, err, sizeof err), SG_OK);
    assert_int_not_equal(backend_pid(c), pid);
    struct pg_pool_stats st;
    pg_pool_stats(p, &st);
    assert_int_equal(st.recycled, 1);
    assert_int_equal(st.total, 1);
    pg_pool_release(p, c, 0);
    pg_pool_free(p);
}

static void test_reconnect_after_restart(void **state)
{
    (void)state;
    const char *harness = getenv("SG_PG_HARNESS"), *st_dir = getenv("SG_PG_STATE");
    if (!harness || !st_dir) fail_msg("SG_PG_HARNESS/SG_PG_STATE not set: run through pg_harness.sh");
    struct pg_pool *p;
    char err[SG_ERRLEN];
    p = new_pool(2, 2, 0, 0, 0);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' restart '%s'", harness, st_dir);
    assert_int_equal(system(cmd), 0);
    for (int i = 0; i < 2; i++) {
        struct pg_pool_conn *c;
        assert_int_equal(pg_pool_acquire(p, &c, err, sizeof err), SG_OK);
        PGresult *r = PQexec((PGconn *)pg_pool_conn_pg(c), "SELECT 6 * 7");
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        assert_string_equal(PQgetvalue(r, 0, 0), "42");
        PQclear(r);
        pg_pool_release(p, c, 0);
    }
    struct pg_pool_stats st;
    pg_pool_stats(p, &st);
    assert_true(st.broken >= 1);
    assert_int_equal(st.total, 2);
    pg_pool_free(p);
}

/* Through the store: a server restart between two operations, faster than the idle check, is
 * absorbed by the one retry on a fresh connection (the first statement failed, nothing done). */
static void test_store_survives_restart(void **state)
{
    (void)state;
    const char *harness = getenv("SG_PG_HARNESS"), *st_dir = getenv("SG_PG_STATE");
    if (!harness || !st_dir) fail_msg("SG_PG_HARNESS/SG_PG_STATE not set: run through pg_harness.sh");
    char err[SG_ERRLEN];
    struct store *st;
    struct sg_config cfg;
    assert_int_equal(sg_config_init(&cfg), SG_OK);
    cfg.pool_min = 2;
    cfg.pool_max = 2;
    assert_int_equal(store_open(url(), &cfg, &st, err, sizeof err), SG_OK);
    assert_int_equal(migrate_up(st, 0, NULL, err, sizeof err), SG_OK);
    struct store_member m = {.active = 1, .dual_eligible = -1, .lis = -1, .disabled = -1}, got;
    memset(m.member_hash, 'a', 64);
    m.member_hash[64] = '\0';
    snprintf(m.contract_id, sizeof m.contract_id, "H0001");
    struct store_actor actor = {"tester", NULL};
    assert_int_equal(store_member_create(st, &actor, &m, err, sizeof err), SG_OK);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' restart '%s'", harness, st_dir);
    assert_int_equal(system(cmd), 0);
    /* Both pooled connections are dead now; each operation must still succeed. */
    for (int i = 0; i < 3; i++) {
        int rc = store_member_get(st, m.member_hash, &got, err, sizeof err);
        if (rc) fail_msg("member_get after restart: %s", err);
        assert_string_equal(got.contract_id, "H0001");
    }
    assert_int_equal(store_member_update_activity(st, &actor, m.member_hash, 0, err, sizeof err), SG_OK);
    struct store_audit_verify v;
    assert_int_equal(store_audit_verify(st, &v, err, sizeof err), SG_OK);
    assert_true(v.ok);
    assert_int_equal(v.rows_checked, 2);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_config_and_url),
        cmocka_unit_test(test_bounds_and_timeout),
        cmocka_unit_test(test_release_wakes_waiter),
        cmocka_unit_test(test_waiters_in_order),
        cmocka_unit_test(test_prepare_lazily),
        cmocka_unit_test(test_max_lifetime),
        cmocka_unit_test(test_reconnect_after_restart),
        cmocka_unit_test(test_store_survives_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
