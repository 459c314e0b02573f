/* test_store_group.c: the group-commit combiner (src/db/store_group.c) against a fake backend.
 *
 * The fake transaction keeps the writes of the open transaction in a list that SAVEPOINT marks,
 * ROLLBACK TO cuts back, COMMIT applies to the "database" and `end` without a commit discards,
 * and records every primitive it is asked for in a log. A first operation blocks in its body
 * until three more are queued behind it, so the second group is exactly those three, one of
 * which fails: the log, the committed values and each caller's result are checked against the
 * sequences worked out by hand from store_group.h's contract. A second fake, whose COMMITs block
 * until released, checks the overlap a backend's commit_start allows: the next group's bodies
 * run while the previous group commits, and never more than two groups are in flight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "db/store_group.h"

struct fake {
    char log[1024];
    int pending[16], npending, sp;
    int committed[16], ncommitted;
    int fail_commit;
};

static void logf_(struct fake *f, const char *s)
{
    size_t n = strlen(f->log);
    snprintf(f->log + n, sizeof f->log - n, "%s%s", n ? " " : "", s);
}

static int f_begin(void *ctx, void **conn, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct fake *f = ctx;
    f->npending = 0;
    logf_(f, "BEGIN");
    *conn = f;
    return SG_OK;
}
static int f_savepoint(void *conn, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct fake *f = conn;
    f->sp = f->npending;
    logf_(f, "SP");
    return SG_OK;
}
static int f_release(void *conn, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    logf_(conn, "REL");
    return SG_OK;
}
static int f_rollback_to(void *conn, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct fake *f = conn;
    f->npending = f->sp;
    logf_(f, "RBSP");
    return SG_OK;
}
static int f_commit(void *conn, char *err, size_t errlen)
{
    struct fake *f = conn;
    logf_(f, "COMMIT");
    if (f->fail_commit) return sg_errf(err, errlen, SG_EDB, "commit failed");
    for (int i = 0; i < f->npending; i++) f->committed[f->ncommitted++] = f->pending[i];
    f->npending = 0;
    return SG_OK;
}
static void f_end(void *ctx, void *conn)
{
    (void)conn;
    struct fake *f = ctx;
    f->npending = 0; /* an uncommitted transaction is rolled back */
    logf_(f, "END");
}

static int f_pipeline_end(void *conn, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    logf_(conn, "SYNC");
    return SG_OK;
}

static const struct store_group_tx fake_tx_pipe = {f_begin, f_savepoint, f_release, f_rollback_to,
                                                   f_commit, f_end, 1, f_pipeline_end, NULL};
static const struct store_group_tx fake_tx_opt = {f_begin, f_savepoint, f_release, f_rollback_to,
                                                  f_commit, f_end, 1, NULL, NULL};
static const struct store_group_tx fake_tx_sp = {f_begin, f_savepoint, f_release, f_rollback_to,
                                                 f_commit, f_end, 0, NULL, NULL};

/* One operation: writes its value, or fails after writing it (a failing op's write must not
 * survive); the first one waits on `gate` inside its body. */
struct op {
    struct store_group *g;
    struct fake *f;
    int value, fail;
    volatile int *gate, *in_body;
    int rc;
    char err[128];
};

static int body(void *conn, void *arg, char *err, size_t errlen)
{
    struct op *o = arg;
    struct fake *f = conn;
    char ev[16];
    snprintf(ev, sizeof ev, "op%d", o->value);
    logf_(f, ev);
    f->pending[f->npending++] = o->value;
    if (o->in_body) *o->in_body = 1;
    while (o->gate && !__atomic_load_n(o->gate, __ATOMIC_ACQUIRE)) usleep(1000);
    if (o->fail) return sg_errf(err, errlen, SG_ETRANSITION, "op %d: not allowed", o->value);
    return SG_OK;
}

static int send(void *conn, void *arg, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    char ev[16];
    snprintf(ev, sizeof ev, "send%d", ((struct op *)arg)->value);
    logf_(conn, ev);
    return SG_OK;
}

static void *run_op(void *arg)
{
    struct op *o = arg;
    o->rc = store_group_run_send(o->g, o->g->tx->pipeline_end ? send : NULL, body, o, o->err,
                                 sizeof o->err);
    return NULL;
}

/* Runs op 1 (blocking in its body, so it is a group of its own) then ops 2, 3, 4 queued behind
 * it in that order (op 3 fails), releases op 1 and returns after all returned. */
static void run_scenario(struct store_group *g, struct fake *f, struct op ops[4])
{
    volatile int gate = 0, in_body = 0;
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        memset(&ops[i], 0, sizeof ops[i]);
        ops[i].g = g;
        ops[i].f = f;
        ops[i].value = i + 1;
        ops[i].fail = i == 2;
    }
    ops[0].gate = &gate;
    ops[0].in_body = &in_body;
    assert_int_equal(pthread_create(&t[0], NULL, run_op, &ops[0]), 0);
    while (!__atomic_load_n(&in_body, __ATOMIC_ACQUIRE)) usleep(1000);
    for (int i = 1; i < 4; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, run_op, &ops[i]), 0);
        while (store_group_queued(g) < (size_t)i) usleep(1000); /* queued: order 2, 3, 4 */
    }
    __atomic_store_n(&gate, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
}

static void check_results(const struct fake *f, const struct op ops[4])
{
    /* Ops 1, 2 and 4 committed, op 3 reports its own error and left nothing. */
    assert_int_equal(ops[0].rc, SG_OK);
    assert_int_equal(ops[1].rc, SG_OK);
    assert_int_equal(ops[2].rc, SG_ETRANSITION);
    assert_string_equal(ops[2].err, "op 3: not allowed");
    assert_int_equal(ops[3].rc, SG_OK);
    assert_int_equal(f->ncommitted, 3);
    assert_int_equal(f->committed[0], 1);
    assert_int_equal(f->committed[1], 2);
    assert_int_equal(f->committed[2], 4);
}

/* Optimistic: the three-operation group runs without savepoints, op 3 fails, the transaction is
 * rolled back whole (END without COMMIT) and the group runs again with a savepoint per op. */
static void test_optimistic_rerun(void **state)
{
    (void)state;
    struct fake f;
    memset(&f, 0, sizeof f);
    struct store_group g;
    store_group_init(&g, 64, &fake_tx_opt, &f);
    struct op ops[4];
    run_scenario(&g, &f, ops);
    check_results(&f, ops);
    assert_string_equal(f.log, "BEGIN op1 COMMIT END"
                               " BEGIN op2 op3 END"
                               " BEGIN SP op2 REL SP op3 RBSP SP op4 REL COMMIT END");
    unsigned long long groups, nops;
    store_group_counts(&g, &groups, &nops);
    assert_int_equal(groups, 2);
    assert_int_equal(nops, 4);
    assert_int_equal(store_group_reruns(&g), 1);
    assert_int_equal(store_group_queued(&g), 0);
    store_group_fini(&g);
}

/* Pipelined: the optimistic pass sends every operation's statement first, waits once, then
 * runs the bodies; the savepoint pass after the failure runs without sends. A lone operation
 * (op 1) is not pipelined. */
static void test_pipelined_rerun(void **state)
{
    (void)state;
    struct fake f;
    memset(&f, 0, sizeof f);
    struct store_group g;
    store_group_init(&g, 64, &fake_tx_pipe, &f);
    struct op ops[4];
    run_scenario(&g, &f, ops);
    check_results(&f, ops);
    assert_string_equal(f.log, "BEGIN op1 COMMIT END"
                               " BEGIN send2 send3 send4 SYNC op2 op3 END"
                               " BEGIN SP op2 REL SP op3 RBSP SP op4 REL COMMIT END");
    assert_int_equal(store_group_reruns(&g), 1);
    store_group_fini(&g);
}

/* Not optimistic (the SQLite backend): savepoints from the start, no second run. */
static void test_savepoints_only(void **state)
{
    (void)state;
    struct fake f;
    memset(&f, 0, sizeof f);
    struct store_group g;
    store_group_init(&g, 64, &fake_tx_sp, &f);
    struct op ops[4];
    run_scenario(&g, &f, ops);
    check_results(&f, ops);
    assert_string_equal(f.log, "BEGIN op1 COMMIT END"
                               " BEGIN SP op2 REL SP op3 RBSP SP op4 REL COMMIT END");
    assert_int_equal(store_group_reruns(&g), 0);
    store_group_fini(&g);
}

/* A group without failures commits in the optimistic pass; a failing COMMIT gives every
 * operation of the group the commit's error and nothing is stored. */
static void test_optimistic_commit_failure(void **state)
{
    (void)state;
    struct fake f;
    memset(&f, 0, sizeof f);
    f.fail_commit = 1;
    struct store_group g;
    store_group_init(&g, 64, &fake_tx_opt, &f);
    volatile int gate = 0, in_body = 0;
    struct op ops[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        memset(&ops[i], 0, sizeof ops[i]);
        ops[i].g = &g;
        ops[i].f = &f;
        ops[i].value = i + 1;
    }
    ops[0].gate = &gate;
    ops[0].in_body = &in_body;
    assert_int_equal(pthread_create(&t[0], NULL, run_op, &ops[0]), 0);
    while (!__atomic_load_n(&in_body, __ATOMIC_ACQUIRE)) usleep(1000);
    for (int i = 1; i < 3; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, run_op, &ops[i]), 0);
        while (store_group_queued(&g) < (size_t)i) usleep(1000);
    }
    __atomic_store_n(&gate, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 3; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ops[i].rc, SG_EDB);
        assert_string_equal(ops[i].err, "commit failed");
    }
    assert_int_equal(f.ncommitted, 0);
    assert_string_equal(f.log, "BEGIN op1 COMMIT END BEGIN op2 op3 COMMIT END");
    assert_int_equal(store_group_reruns(&g), 0);
    store_group_fini(&g);
}

/* ---- overlap: a backend whose groups each have their own connection ---- */

struct ofake {
    volatile int release;   /* COMMITs block until set */
    volatile int in_commit; /* COMMITs entered */
    volatile int ran[8];    /* body of op i ran */
    volatile int committed; /* operations committed */
};
struct oconn {
    struct ofake *f;
    int n; /* operations in this transaction */
};

static int o_begin(void *ctx, void **conn, char *err, size_t errlen)
{
    struct oconn *c = calloc(1, sizeof *c);
    if (!c) return sg_errf(err, errlen, SG_ENOMEM, "oom");
    c->f = ctx;
    *conn = c;
    return SG_OK;
}
static int o_nop(void *conn, char *err, size_t errlen)
{
    (void)conn;
    (void)err;
    (void)errlen;
    return SG_OK;
}
static int o_commit(void *conn, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct oconn *c = conn;
    __atomic_add_fetch(&c->f->in_commit, 1, __ATOMIC_ACQ_REL);
    while (!__atomic_load_n(&c->f->release, __ATOMIC_ACQUIRE)) usleep(1000);
    __atomic_add_fetch(&c->f->committed, c->n, __ATOMIC_ACQ_REL);
    return SG_OK;
}
static int o_commit_start(void *conn, int *overlap, char *err, size_t errlen)
{
    (void)conn;
    (void)err;
    (void)errlen;
    *overlap = 1;
    return SG_OK;
}
static void o_end(void *ctx, void *conn)
{
    (void)ctx;
    free(conn);
}
static const struct store_group_tx fake_tx_overlap = {o_begin, o_nop, o_nop, o_nop, o_commit,
                                                      o_end, 1, NULL, o_commit_start};

struct oop {
    struct store_group *g;
    struct ofake *f;
    int i, rc;
    char err[64];
};
static int o_body(void *conn, void *arg, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct oop *o = arg;
    ((struct oconn *)conn)->n++;
    __atomic_store_n(&o->f->ran[o->i], 1, __ATOMIC_RELEASE);
    return SG_OK;
}
static void *o_run(void *arg)
{
    struct oop *o = arg;
    o->rc = store_group_run(o->g, o_body, o, o->err, sizeof o->err);
    return NULL;
}
/* Waits (up to 5 s) until *v reaches want; returns whether it did. */
static int wait_for(volatile int *v, int want)
{
    for (int i = 0; i < 5000; i++) {
        if (__atomic_load_n(v, __ATOMIC_ACQUIRE) >= want) return 1;
        usleep(1000);
    }
    return 0;
}

static void test_overlap(void **state)
{
    (void)state;
    struct ofake f;
    memset(&f, 0, sizeof f);
    struct store_group g;
    store_group_init(&g, 64, &fake_tx_overlap, &f);
    struct oop ops[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        memset(&ops[i], 0, sizeof ops[i]);
        ops[i].g = &g;
        ops[i].f = &f;
        ops[i].i = i;
    }
    /* group 1 (op 0) reaches its COMMIT and waits there */
    assert_int_equal(pthread_create(&t[0], NULL, o_run, &ops[0]), 0);
    assert_true(wait_for(&f.in_commit, 1));
    /* group 2 (op 1) runs its body meanwhile and reaches its own COMMIT */
    assert_int_equal(pthread_create(&t[1], NULL, o_run, &ops[1]), 0);
    assert_true(wait_for(&f.ran[1], 1));
    assert_true(wait_for(&f.in_commit, 2));
    /* two groups in flight: op 2 waits in the queue, its body not run */
    assert_int_equal(pthread_create(&t[2], NULL, o_run, &ops[2]), 0);
    for (int i = 0; i < 5000 && store_group_queued(&g) < 1; i++) usleep(1000);
    assert_int_equal(store_group_queued(&g), 1);
    usleep(50000);
    assert_int_equal(__atomic_load_n(&f.ran[2], __ATOMIC_ACQUIRE), 0);
    __atomic_store_n(&f.release, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(ops[i].rc, SG_OK);
    }
    assert_int_equal(f.ran[2], 1);
    assert_int_equal(f.committed, 3);
    unsigned long long groups, nops;
    store_group_counts(&g, &groups, &nops);
    assert_int_equal(groups, 3);
    assert_int_equal(nops, 3);
    store_group_fini(&g);
}

/* ---- submit: operations queued without a waiting caller ---- */

struct sub {
    struct op op;
    volatile int called, rc;
    char err[128];
};
static void sub_done(void *arg, int rc, const char *err)
{
    struct sub *u = arg;
    u->rc = rc;
    snprintf(u->err, sizeof u->err, "%s", err);
    __atomic_store_n(&u->called, __atomic_load_n(&u->called, __ATOMIC_ACQUIRE) + 1, __ATOMIC_RELEASE);
}

/* Op 1 (a waiting caller) blocks in its body; ops 2, 3, 4 are submitted behind it (op 3 fails):
 * they form the next group, led by a committer thread, and each done call gets its own
 * result, exactly once; a caller-led group can also carry submitted operations. */
static void test_submit(void **state)
{
    (void)state;
    struct fake f;
    memset(&f, 0, sizeof f);
    struct store_group g;
    store_group_init(&g, 64, &fake_tx_opt, &f);
    volatile int gate = 0, in_body = 0;
    struct op first;
    memset(&first, 0, sizeof first);
    first.g = &g;
    first.f = &f;
    first.value = 1;
    first.gate = &gate;
    first.in_body = &in_body;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run_op, &first), 0);
    while (!__atomic_load_n(&in_body, __ATOMIC_ACQUIRE)) usleep(1000);
    struct sub u[3];
    for (int i = 0; i < 3; i++) {
        memset(&u[i], 0, sizeof u[i]);
        u[i].op.g = &g;
        u[i].op.f = &f;
        u[i].op.value = i + 2;
        u[i].op.fail = i == 1;
        assert_int_equal(store_group_submit(&g, NULL, body, &u[i].op, sub_done, &u[i]), SG_OK);
    }
    assert_int_equal(store_group_queued(&g), 3);
    __atomic_store_n(&gate, 1, __ATOMIC_RELEASE);
    assert_int_equal(pthread_join(t, NULL), 0);
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 5000 && !__atomic_load_n(&u[i].called, __ATOMIC_ACQUIRE); k++) usleep(1000);
    assert_int_equal(first.rc, SG_OK);
    for (int i = 0; i < 3; i++) assert_int_equal(u[i].called, 1);
    assert_int_equal(u[0].rc, SG_OK);
    assert_int_equal(u[1].rc, SG_ETRANSITION);
    assert_string_equal(u[1].err, "op 3: not allowed");
    assert_int_equal(u[2].rc, SG_OK);
    assert_string_equal(u[2].err, "");
    assert_int_equal(f.ncommitted, 3);
    assert_int_equal(f.committed[0], 1);
    assert_int_equal(f.committed[1], 2);
    assert_int_equal(f.committed[2], 4);
    unsigned long long groups, nops;
    store_group_counts(&g, &groups, &nops);
    assert_int_equal(groups, 2);
    assert_int_equal(nops, 4);
    store_group_fini(&g);
}

/* An operation that loses a deadlock (the store's message carries SQLSTATE 40P01) or a
 * serialization conflict (40001) is run again alone, up to three more times; any other failure,
 * SG_EBUSY without such a code included, is final. */
struct flaky {
    int value, losses, runs, code; /* losses: how many runs fail; code: 0 40P01, 1 40001, 2 none */
};

static int flaky_body(void *conn, void *arg, char *err, size_t errlen)
{
    struct flaky *fl = arg;
    struct fake *f = conn;
    f->pending[f->npending++] = fl->value;
    if (fl->runs++ < fl->losses) {
        static const char *msg[3] = {"gap_move_fast: 40P01: deadlock detected",
                                     "gap_move_fast: 40001: could not serialize access",
                                     "pool: all connections busy"};
        return sg_errf(err, errlen, SG_EBUSY, "%s", msg[fl->code]);
    }
    return SG_OK;
}

static void test_deadlock_retry(void **state)
{
    (void)state;
    struct fake f;
    struct store_group g;
    char err[128];
    struct flaky cases[5] = {{1, 1, 0, 0}, {2, 3, 0, 1}, {3, 4, 0, 0}, {4, 1, 0, 2}, {5, 0, 0, 0}};
    const int want_rc[5] = {SG_OK, SG_OK, SG_EBUSY, SG_EBUSY, SG_OK};
    const int want_runs[5] = {2, 4, 4, 1, 1};
    for (int i = 0; i < 5; i++) {
        memset(&f, 0, sizeof f);
        store_group_init(&g, 64, &fake_tx_sp, &f);
        int rc = store_group_run(&g, flaky_body, &cases[i], err, sizeof err);
        assert_int_equal(rc, want_rc[i]);
        assert_int_equal(cases[i].runs, want_runs[i]);
        /* committed once when it succeeded, never when it failed */
        assert_int_equal(f.ncommitted, rc == SG_OK ? 1 : 0);
        if (rc == SG_OK) assert_int_equal(f.committed[0], cases[i].value);
        store_group_fini(&g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_optimistic_rerun),
        cmocka_unit_test(test_savepoints_only),
        cmocka_unit_test(test_pipelined_rerun),
        cmocka_unit_test(test_optimistic_commit_failure),
        cmocka_unit_test(test_overlap),
        cmocka_unit_test(test_submit),
        cmocka_unit_test(test_deadlock_retry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
