/* store_group.h: group commit of audited operations (flat combining), shared by the backends.
 *
 * Every audited write and audited read appends one row to the single audit hash chain, which the
 * database serializes (PostgreSQL: the audit_head row lock; SQLite: the one writer). With durable
 * commits a transaction holds the chain while its WAL flush completes, so one operation per
 * transaction caps audited operations at 1 / (flush time). The combiner runs many operations in
 * one transaction instead:
 *
 *   - a caller describes its operation as a `body` (the statements of the write and its audit
 *     row, run on a connection inside an open transaction) and calls store_group_run();
 *   - the operation is queued; when no leader is active the caller becomes the leader, otherwise it
 *     sleeps until its operation has been done or leadership is free;
 *   - the leader takes up to `max` queued operations (whatever is queued: no timer, a lone
 *     operation runs at once), opens ONE transaction, runs each body inside its own SAVEPOINT
 *     (a failing body is rolled back to its savepoint and keeps its own error; the others go on),
 *     and commits once: one WAL flush for the whole group; with `optimistic` transaction
 *     primitives the group first runs without savepoints and is run again with them only when
 *     one of its bodies failed (the failed attempt is rolled back whole, nothing of it stays);
 *   - with a backend's `commit_start`, the next group may begin as soon as the previous one
 *     has appended its audit rows and starts its COMMIT (two groups in flight at most), so one
 *     group's statements overlap the other's WAL flush;
 *   - every operation of the group then gets its result: the body's own on success of the commit,
 *     or the commit's (or transaction's) failure for every operation when that fails. A caller
 *     returns only after its group's COMMIT returned, so an acknowledged write is durable and
 *     its audit row committed with it.
 *
 * The backend supplies the transaction primitives (struct store_group_tx); this file only does
 * the queueing, leadership and result fan-out. Bodies run on the leader's thread: they must use
 * only their `arg` and the connection passed in, write their outputs into `arg`, and report
 * errors through the err buffer they are given. Callers must not hold a connection of the same
 * store while waiting (the leader needs one). */
#ifndef SG_DB_STORE_GROUP_H
#define SG_DB_STORE_GROUP_H

#include <pthread.h>
#include <stddef.h>

#include "core/err.h"

/* One operation's statements: run on connection `conn` inside the group's transaction and inside
 * the operation's own savepoint. Returns SG_OK or a negative sg_err with err filled. */
typedef int (*store_group_body)(void *conn, void *arg, char *err, size_t errlen);

/* Optional first half of a body, for backends that pipeline (send statements without waiting
 * for their results): in the optimistic pass every operation's `send` is called first, in
 * group order, then the backend's `pipeline_end`, then every body in the same order, which
 * takes its statement's result from where the backend kept it. Returns SG_OK or a negative
 * sg_err (the group then runs again with savepoints, without sends: a body must also work
 * alone). */
typedef int (*store_group_send)(void *conn, void *arg, char *err, size_t errlen);

/* Transaction primitives of a backend. `ctx` is the backend store. Each returns SG_OK or a
 * negative sg_err (err filled). */
struct store_group_tx {
    /* Takes a connection and opens a write transaction on it (*conn receives it). */
    int (*begin)(void *ctx, void **conn, char *err, size_t errlen);
    /* SAVEPOINT / RELEASE SAVEPOINT / ROLLBACK TO SAVEPOINT of the (single) name the backend uses. */
    int (*savepoint)(void *conn, char *err, size_t errlen);
    int (*release)(void *conn, char *err, size_t errlen);
    int (*rollback_to)(void *conn, char *err, size_t errlen);
    /* Commits the transaction. */
    int (*commit)(void *conn, char *err, size_t errlen);
    /* Gives the connection back; rolls back a transaction left open (after a failure). */
    void (*end)(void *ctx, void *conn);
    /* Nonzero: run a group of several operations first without savepoints (saves two round
     * trips per operation); when any body fails, roll the whole transaction back and run the
     * group again with a savepoint per operation. The backend's bodies must then be re-runnable:
     * they write only into their arg, overwriting (not appending to) their outputs. */
    int optimistic;
    /* NULL, or: waits for the results of the statements the sends of the optimistic pass
     * queued and keeps them for the bodies. A failure (including a failed statement) makes the
     * group run again with savepoints. */
    int (*pipeline_end)(void *conn, char *err, size_t errlen);
    /* NULL, or the first half of `commit`, called right before it: it does what must precede
     * the next group (PostgreSQL: appends the group's audit rows, which takes the chain head's
     * row lock) and sets *overlap to 1 when the next group may begin while this one finishes
     * its `commit` (at most two groups in flight), so the next group's statements run while this
     * one waits for its WAL flush. The backend must make that safe: after commit_start the
     * group takes no lock a running group could hold, so a second group can wait for the first
     * but never the reverse, and the second's audit rows queue behind the first's on the head's
     * row lock. Returns SG_OK or a negative sg_err (the group then fails as when `commit`
     * fails). */
    int (*commit_start)(void *conn, int *overlap, char *err, size_t errlen);
};

struct store_group_op; /* store_group.c */

/* The combiner of one store. */
struct store_group {
    pthread_mutex_t mu;
    struct store_group_op *head, *tail; /* queued, not yet taken by a leader */
    int leader;                         /* a leader is running a group's bodies */
    int inflight;                       /* groups begun and not finished (<= 2) */
    size_t max;                         /* most operations per group (>= 1) */
    const struct store_group_tx *tx;
    void *ctx;
    /* counters (under mu) for benchmarks and metrics: groups committed, operations run, groups
     * run a second time with savepoints after a body failed in the optimistic pass */
    unsigned long long groups, ops, reruns;
    size_t queued; /* operations queued and not yet taken by a leader (under mu) */
    /* committer threads for store_group_submit (started with the first submit): `want` groups
     * to lead, signalled on ccv; `stop` set by store_group_fini */
    pthread_t committer[2];
    int ncommitters, want, stop;
    pthread_cond_t ccv;
};

/* The result of a submitted operation: rc (SG_OK or the body's or the transaction's failure)
 * and its message (valid during the call only). */
typedef void (*store_group_done)(void *done_arg, int rc, const char *err);

/* Initializes g with at most `max` operations per group (0 is taken as 1). */
void store_group_init(struct store_group *g, size_t max, const struct store_group_tx *tx, void *ctx);
/* Destroys g (logging its counters at debug level), after stopping its committer threads; no
 * operation may be running or queued. */
void store_group_fini(struct store_group *g);

/* Runs body(conn, arg) in a group transaction as described above and returns its result (or the
 * group's transaction failure). err receives the operation's own message. */
int store_group_run(struct store_group *g, store_group_body body, void *arg, char *err,
                    size_t errlen) SG_WUR;

/* store_group_run with a `send` half (see store_group_send; NULL = none). */
int store_group_run_send(struct store_group *g, store_group_send send, store_group_body body,
                         void *arg, char *err, size_t errlen) SG_WUR;

/* Queues body(conn, arg) (with its optional send half) like store_group_run_send without
 * waiting for it: done(done_arg, rc, err) is called exactly once, after the group's COMMIT (or
 * failure), on the thread that led the group (one of the group's two committer threads, or a
 * caller of store_group_run that led it); arg must stay valid until then, and done must not
 * call into this group. Returns SG_OK (queued), SG_ENOMEM, or SG_EBUSY (no committer thread
 * could be started, or the group is being destroyed); then done is not called. */
int store_group_submit(struct store_group *g, store_group_send send, store_group_body body,
                       void *arg, store_group_done done, void *done_arg) SG_WUR;

/* Groups committed and operations run so far (for benchmarks). */
void store_group_counts(struct store_group *g, unsigned long long *groups, unsigned long long *ops);

/* Operations waiting in the queue for a leader right now (for metrics and tests). */
size_t store_group_queued(struct store_group *g);

/* Groups run a second time (with savepoints) after a body failed in the optimistic pass. */
unsigned long long store_group_reruns(struct store_group *g);

#endif
