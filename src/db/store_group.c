/* store_group.c: the group-commit combiner of audited operations (see store_group.h).
 *
 * Written here rather than taken from a library: flat combining over a database transaction
 * needs the backend's savepoint and commit primitives in the loop, which no Debian library
 * offers; the queue itself is a plain mutex-protected list, and each waiting operation has its
 * own mutex and condition variable (on the caller's stack), so that waking the operations of a
 * group does not make them all contend for the queue's mutex. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "db/store_group.h"

#define GROUP_ERRLEN 512

struct store_group_op {
    store_group_send send;
    store_group_body body;
    void *arg;
    int rc;
    int done; /* result is final (under the operation's mu) */
    int lead; /* this operation's thread was made the leader (under g->mu and the op's mu) */
    int ran;  /* body ran (leader only) */
    int committing; /* the group this operation leads let the next one begin (under mu) */
    /* store_group_submit: no thread waits; done(done_arg, ...) gets the result and the group's
     * leader frees the operation */
    store_group_done done_fn;
    void *done_arg;
    pthread_mutex_t mu; /* guards done and lead for the waiting thread (taken after g->mu) */
    pthread_cond_t cv;
    struct store_group_op *next;
    char err[GROUP_ERRLEN];
};

void store_group_init(struct store_group *g, size_t max, const struct store_group_tx *tx, void *ctx)
{
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->ccv, NULL);
    g->max = max ? max : 1;
    g->tx = tx;
    g->ctx = ctx;
}

void store_group_fini(struct store_group *g)
{
    pthread_mutex_lock(&g->mu);
    g->stop = 1;
    pthread_cond_broadcast(&g->ccv);
    pthread_mutex_unlock(&g->mu);
    for (int i = 0; i < g->ncommitters; i++) pthread_join(g->committer[i], NULL);
    pthread_cond_destroy(&g->ccv);
    if (g->groups)
        LOG_DEBUG("event=group_commit groups=%llu ops=%llu reruns=%llu", g->groups, g->ops,
                 g->reruns);
    pthread_mutex_destroy(&g->mu);
}

void store_group_counts(struct store_group *g, unsigned long long *groups, unsigned long long *ops)
{
    pthread_mutex_lock(&g->mu);
    if (groups) *groups = g->groups;
    if (ops) *ops = g->ops;
    pthread_mutex_unlock(&g->mu);
}

size_t store_group_queued(struct store_group *g)
{
    pthread_mutex_lock(&g->mu);
    size_t n = g->queued;
    pthread_mutex_unlock(&g->mu);
    return n;
}

unsigned long long store_group_reruns(struct store_group *g)
{
    pthread_mutex_lock(&g->mu);
    unsigned long long n = g->reruns;
    pthread_mutex_unlock(&g->mu);
    return n;
}

/* Makes the oldest waiting operation the leader when no group is running its bodies and fewer
 * than two groups are in flight (under mu). */
static void promote(struct store_group *g)
{
    if (g->leader || !g->head || g->inflight >= 2 || g->head->lead) return;
    g->leader = 1;
    g->inflight++;
    struct store_group_op *o = g->head;
    pthread_mutex_lock(&o->mu);
    o->lead = 1;
    if (o->done_fn) { /* nobody waits on it: a committer thread leads its group */
        g->want++;
        pthread_cond_signal(&g->ccv);
    } else {
        pthread_cond_signal(&o->cv);
    }
    pthread_mutex_unlock(&o->mu);
}

/* Commits the group led by `first`: the backend's commit_start, then (when it allows) the next
 * group may begin, then the commit. */
static int commit_group(struct store_group *g, struct store_group_op *first, void *conn,
                        char *terr, size_t terrlen)
{
    int overlap = 0, rc = SG_OK;
    if (g->tx->commit_start) rc = g->tx->commit_start(conn, &overlap, terr, terrlen);
    if (!rc && overlap) {
        pthread_mutex_lock(&g->mu);
        first->committing = 1;
        g->leader = 0;
        promote(g);
        pthread_mutex_unlock(&g->mu);
    }
    if (!rc) rc = g->tx->commit(conn, terr, terrlen);
    return rc;
}

/* Gives every operation of the group that has no result of its own yet (not run, or run and
 * succeeded before the transaction failed) the transaction's failure. */
static void fail_rest(struct store_group_op *first, size_t n, int rc, const char *msg)
{
    struct store_group_op *o = first;
    for (size_t i = 0; i < n; i++, o = o->next) {
        if (o->ran && o->rc) continue; /* failed on its own: keeps its own error */
        o->rc = rc;
        snprintf(o->err, sizeof o->err, "%s", msg);
    }
}

/* The optimistic pass: the n operations in one transaction without savepoints. Returns 1 when
 * the group is done (committed, or every operation has the transaction's failure), 0 when a
 * body failed: the transaction has been rolled back whole and every operation is as before the
 * pass, to be run again with savepoints. */
static int run_optimistic(struct store_group *g, struct store_group_op *first, size_t n)
{
    char terr[GROUP_ERRLEN] = "";
    void *conn = NULL;
    int rc = g->tx->begin(g->ctx, &conn, terr, sizeof terr);
    if (rc) {
        fail_rest(first, n, rc, terr);
        return 1;
    }
    struct store_group_op *o = first;
    int sent = 0;
    if (g->tx->pipeline_end) {
        for (size_t i = 0; i < n && !rc; i++, o = o->next)
            if (o->send) {
                rc = o->send(conn, o->arg, terr, sizeof terr);
                sent = 1;
            }
        if (!rc && sent) rc = g->tx->pipeline_end(conn, terr, sizeof terr);
    }
    o = first;
    for (size_t i = 0; i < n && !rc; i++, o = o->next) {
        o->ran = 1;
        o->rc = rc = o->body(conn, o->arg, o->err, sizeof o->err);
    }
    if (rc) { /* roll everything back; the savepoint pass gives each its own result */
        g->tx->end(g->ctx, conn);
        o = first;
        for (size_t j = 0; j < n; j++, o = o->next) {
            o->ran = 0;
            o->rc = 0;
            o->err[0] = '\0';
        }
        return 0;
    }
    rc = commit_group(g, first, conn, terr, sizeof terr);
    if (rc) fail_rest(first, n, rc, terr);
    g->tx->end(g->ctx, conn);
    return 1;
}

/* Runs n operations starting at first in one transaction (leader, without the mutex). */
static void run_group(struct store_group *g, struct store_group_op *first, size_t n)
{
    char terr[GROUP_ERRLEN] = "";
    void *conn = NULL;
    if (n > 1 && g->tx->optimistic) {
        if (run_optimistic(g, first, n)) return;
        pthread_mutex_lock(&g->mu);
        g->reruns++;
        pthread_mutex_unlock(&g->mu);
    }
    int rc = g->tx->begin(g->ctx, &conn, terr, sizeof terr);
    if (rc) {
        fail_rest(first, n, rc, terr);
        return;
    }
    /* A lone operation needs no savepoint: its failure rolls back the whole transaction. */
    int sp = n > 1;
    struct store_group_op *o = first;
    for (size_t i = 0; i < n; i++, o = o->next) {
        if (sp && (rc = g->tx->savepoint(conn, terr, sizeof terr))) goto fail;
        o->ran = 1;
        o->rc = o->body(conn, o->arg, o->err, sizeof o->err);
        if (!sp) continue;
        if (o->rc == 0) rc = g->tx->release(conn, terr, sizeof terr);
        else rc = g->tx->rollback_to(conn, terr, sizeof terr);
        if (rc) goto fail;
    }
    if (n == 1 && first->rc) { /* the lone operation failed: nothing to commit */
        g->tx->end(g->ctx, conn);
        return;
    }
    rc = commit_group(g, first, conn, terr, sizeof terr);
    if (rc) goto fail;
    g->tx->end(g->ctx, conn);
    return;
fail:
    fail_rest(first, n, rc, terr);
    g->tx->end(g->ctx, conn);
}

int store_group_run(struct store_group *g, store_group_body body, void *arg, char *err,
                    size_t errlen)
{
    return store_group_run_send(g, NULL, body, arg, err, errlen);
}

/* Whether an operation lost a deadlock or a serialization conflict: the database rolled its
 * statement back so that another transaction could go on, and the same operation, run again,
 * normally succeeds. (Two processes' groups can lock shared counter rows, gap_counts, in
 * opposite orders.) Recognised by the SQLSTATE in the store's message ("stmt: 40P01: ..."). */
static int transient(const struct store_group_op *o)
{
    return o->rc == SG_EBUSY && (strstr(o->err, ": 40P01:") || strstr(o->err, ": 40001:"));
}

#define GROUP_RETRIES 3 /* runs of an operation alone after it lost a conflict */

/* Runs o alone in a transaction of its own (no savepoint, no overlap with a next group): the
 * retry of an operation that lost a deadlock in its group. The rest of its group has committed
 * or failed on its own already, so only o runs again. */
static void run_lone(struct store_group *g, struct store_group_op *o)
{
    char terr[GROUP_ERRLEN] = "";
    void *conn = NULL;
    int rc = g->tx->begin(g->ctx, &conn, terr, sizeof terr);
    if (rc) {
        o->rc = rc;
        snprintf(o->err, sizeof o->err, "%s", terr);
        return;
    }
    o->ran = 1;
    o->err[0] = '\0';
    o->rc = o->body(conn, o->arg, o->err, sizeof o->err);
    if (!o->rc && (rc = g->tx->commit(conn, terr, sizeof terr))) {
        o->rc = rc;
        snprintf(o->err, sizeof o->err, "%s", terr);
    }
    g->tx->end(g->ctx, conn);
}

/* Leads one group: takes up to max operations from the head of the queue (the head is the
 * operation promote() made the leader: `self` when a waiting caller leads, an operation of
 * store_group_submit when a committer thread does), runs them, and hands out the results:
 * waiting callers are woken, submitted operations get their done call and are freed. */
static void lead(struct store_group *g, struct store_group_op *self)
{
    pthread_mutex_lock(&g->mu);
    struct store_group_op *first = g->head, *last = first;
    size_t n = 1;
    while (n < g->max && last->next) {
        last = last->next;
        n++;
    }
    g->head = last->next;
    if (!g->head) g->tail = NULL;
    g->queued -= n;
    last->next = NULL;
    pthread_mutex_unlock(&g->mu);

    run_group(g, first, n);
    for (struct store_group_op *o = first; o; o = o->next)
        for (int k = 0; k < GROUP_RETRIES && transient(o); k++) run_lone(g, o);

    pthread_mutex_lock(&g->mu);
    g->groups++;
    g->ops += n;
    if (!first->committing) g->leader = 0; /* (else it was passed on at commit_start) */
    g->inflight--;
    promote(g); /* the oldest waiting operation leads the next group */
    pthread_mutex_unlock(&g->mu);
    for (struct store_group_op *o = first, *next; o; o = next) {
        next = o->next; /* o may be gone once its lock is released or its done call made */
        if (o->done_fn) {
            o->done_fn(o->done_arg, o->rc, o->rc ? o->err : "");
            pthread_cond_destroy(&o->cv);
            pthread_mutex_destroy(&o->mu);
            free(o);
            continue;
        }
        if (o == self) continue;
        pthread_mutex_lock(&o->mu);
        o->done = 1;
        pthread_cond_signal(&o->cv);
        pthread_mutex_unlock(&o->mu);
    }
}

/* A committer thread: leads the groups whose first operation was submitted without a waiting
 * caller, until store_group_fini. */
static void *committer_main(void *arg)
{
    struct store_group *g = arg;
    pthread_mutex_lock(&g->mu);
    for (;;) {
        while (!g->want && !g->stop) pthread_cond_wait(&g->ccv, &g->mu);
        if (!g->want) break; /* stopping, nothing to lead */
        g->want--;
        pthread_mutex_unlock(&g->mu);
        lead(g, NULL);
        pthread_mutex_lock(&g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* Queues op (under g->mu) and lets promote() decide whether a leader starts. */
static void enqueue(struct store_group *g, struct store_group_op *op)
{
    if (g->tail) g->tail->next = op;
    else g->head = op;
    g->tail = op;
    g->queued++;
    promote(g); /* no group running its bodies: lead one now (this operation is the head) */
}

int store_group_submit(struct store_group *g, store_group_send send, store_group_body body,
                       void *arg, store_group_done done, void *done_arg)
{
    struct store_group_op *op = calloc(1, sizeof *op);
    if (!op) return SG_ENOMEM;
    op->send = send;
    op->body = body;
    op->arg = arg;
    op->done_fn = done;
    op->done_arg = done_arg;
    pthread_mutex_init(&op->mu, NULL);
    pthread_cond_init(&op->cv, NULL);
    pthread_mutex_lock(&g->mu);
    /* Two committer threads (two groups may be in flight), started with the first submit. */
    while (g->ncommitters < 2 && !g->stop) {
        if (pthread_create(&g->committer[g->ncommitters], NULL, committer_main, g) != 0) break;
        g->ncommitters++;
    }
    if (g->ncommitters == 0 || g->stop) {
        pthread_mutex_unlock(&g->mu);
        pthread_cond_destroy(&op->cv);
        pthread_mutex_destroy(&op->mu);
        free(op);
        return SG_EBUSY;
    }
    enqueue(g, op);
    pthread_mutex_unlock(&g->mu);
    return SG_OK;
}

int store_group_run_send(struct store_group *g, store_group_send send, store_group_body body,
                         void *arg, char *err, size_t errlen)
{
    struct store_group_op op;
    memset(&op, 0, sizeof op);
    op.send = send;
    op.body = body;
    op.arg = arg;
    pthread_mutex_init(&op.mu, NULL);
    pthread_cond_init(&op.cv, NULL);

    pthread_mutex_lock(&g->mu);
    enqueue(g, &op);
    pthread_mutex_unlock(&g->mu);

    /* Wait on this operation's own lock: the leader wakes the operations of its group one by
     * one without making them all queue for the store's lock. */
    pthread_mutex_lock(&op.mu);
    while (!op.done && !op.lead) pthread_cond_wait(&op.cv, &op.mu);
    int leads = !op.done;
    pthread_mutex_unlock(&op.mu);
    if (leads) lead(g, &op); /* (promote() counted this group in flight) */
    pthread_cond_destroy(&op.cv);
    pthread_mutex_destroy(&op.mu);
    if (op.rc && err && errlen) snprintf(err, errlen, "%s", op.err);
    return op.rc;
}
