/* pg_pool.h: a bounded pool of PostgreSQL connections for the PostgreSQL store backend.
 *
 * The pool keeps at least `min` connections open and never more than `max`. A thread takes a
 * connection with pg_pool_acquire() and gives it back with pg_pool_release(); when every
 * connection is in use the caller waits, first come first served, up to `acquire_timeout_ms` and
 * then gets SG_EBUSY. Before a connection is handed out it is checked: PQstatus must be OK, and a
 * connection idle for longer than `idle_check_ms` must answer an empty query; a connection that
 * fails either check (the server restarted, the network dropped) is closed and a new one opened.
 * Connections older than `max_lifetime_s` are closed instead of being reused. Each connection
 * remembers which named prepared statements it holds, so callers prepare lazily by name.
 *
 * The header does not include libpq-fe.h (only pg_pool.c and store_pg.c do): a pooled connection
 * exposes its libpq handle as `struct pg_conn *`, which is libpq's own tag for PGconn. */
#ifndef SG_DB_PG_POOL_H
#define SG_DB_PG_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct pg_conn; /* libpq's PGconn */
struct pg_pool;
struct pg_pool_conn;

struct pg_pool_config {
    const char *conninfo;   /* libpq URL or key=value string (borrowed during pg_pool_new) */
    int min;                /* connections opened at start and kept (0..max) */
    int max;                /* most connections at once (>= 1) */
    int max_lifetime_s;     /* close a connection once it is this old (>= 1) */
    int acquire_timeout_ms; /* how long pg_pool_acquire waits for a free connection (>= 1) */
    int idle_check_ms;      /* ping a connection idle longer than this before reuse (>= 0) */
};

struct pg_pool_stats {
    int total;            /* open connections (in use + idle) */
    int in_use;           /* connections held by callers */
    int idle;             /* open connections waiting in the pool */
    int max;              /* configured maximum */
    int waiting;          /* threads waiting for a connection */
    uint64_t acquires;    /* successful pg_pool_acquire calls */
    uint64_t waits;       /* acquires that had to wait for a connection */
    uint64_t timeouts;    /* acquires that gave up with SG_EBUSY */
    uint64_t connects;    /* connections opened (including reconnects) */
    uint64_t broken;      /* connections closed because they failed a check or a query */
    uint64_t recycled;    /* connections closed because they reached max_lifetime_s */
};

/* Fills cfg with the defaults (min 5, max 20, lifetime 3600 s, acquire timeout 5000 ms, idle
 * check 1000 ms) for conninfo (borrowed). */
void pg_pool_config_defaults(struct pg_pool_config *cfg, const char *conninfo);

/* Creates a pool and opens cfg->min connections (at least one, so that a wrong URL fails here).
 * *out is NULL on failure. Fails with SG_EINVAL (bad bounds), SG_ENOMEM, or SG_EDB with the
 * server's message in err when the first connection cannot be opened. Free with pg_pool_free. */
int pg_pool_new(const struct pg_pool_config *cfg, struct pg_pool **out, char *err,
                size_t errlen) SG_WUR;

/* Closes every connection and frees the pool. Every connection must have been released. NULL is
 * a no-op. */
void pg_pool_free(struct pg_pool *p);

/* Hands out a checked connection (*out; give it back with pg_pool_release). Waits up to the
 * acquire timeout when all `max` connections are in use or other threads wait already (in
 * arrival order). Fails with SG_EBUSY (timed out), or
 * SG_EDB with the server's message when a new connection cannot be opened. *out is NULL on
 * failure. Thread-safe. */
int pg_pool_acquire(struct pg_pool *p, struct pg_pool_conn **out, char *err, size_t errlen) SG_WUR;

/* Gives a connection back. `broken` nonzero (or a connection whose status is no longer OK, or
 * one left inside a transaction) closes it instead of keeping it. The connection (or, when it is
 * closed, its slot) goes to the thread that has waited longest, if any. */
void pg_pool_release(struct pg_pool *p, struct pg_pool_conn *c, int broken);

/* Returns the libpq handle of a pooled connection (borrowed; valid until released). */
struct pg_conn *pg_pool_conn_pg(struct pg_pool_conn *c);

/* Makes sure the named statement is prepared on this connection, preparing `sql` with nparams
 * untyped parameters the first time the name is seen on it. `name` must be a string that lives
 * as long as the pool (a literal). Fails with SG_EDB naming the statement and the server's
 * SQLSTATE and message, or SG_ENOMEM. */
int pg_pool_prepare(struct pg_pool_conn *c, const char *name, const char *sql, int nparams,
                    char *err, size_t errlen) SG_WUR;

/* Copies the current counters into *st. Thread-safe. */
void pg_pool_stats(struct pg_pool *p, struct pg_pool_stats *st);

struct store;
/* The pool counters of an open store (for /metrics): SG_OK for a PostgreSQL store (store_pg.c),
 * SG_EUNSUPPORTED with *out zeroed for any other backend. Thread-safe. */
int store_pg_pool_stats(struct store *st, struct pg_pool_stats *out) SG_WUR;

#endif
