/* pg_pool.c: the bounded PostgreSQL connection pool (see pg_pool.h).
 *
 * One mutex guards the idle stack, the queue of waiting threads and the counters. Opening and
 * checking a connection (network round trips) happen outside the mutex: a thread first reserves
 * a slot (total++) under the lock, then connects, and gives the slot back if that fails. The idle
 * stack is LIFO so the most recently used, warmest connections are reused first and the others
 * age out through max_lifetime_s.
 *
 * Waiting is first come, first served: a thread that finds every connection in use joins a FIFO
 * queue (each waiter with its own condition variable on CLOCK_MONOTONIC), a released connection
 * (or a freed slot) is handed directly to the oldest waiter, and a thread that arrives while
 * others wait queues behind them instead of taking a connection released for them. With one
 * shared condition variable, a waiter woken by a release could find the connection already taken
 * by a newcomer and wait again, as long as newcomers kept coming (64 HTTP threads share 20
 * connections under load): its wait was bounded only by the acquire timeout.
 *
 * Written here rather than taken from a library: Debian ships no C connection pool for libpq
 * (pgbouncer is a separate server process, which would be one more thing to run). */
#include "db/pg_pool.h"

#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

#define PREP_SLOTS 1024 /* per-connection set of prepared statement names (power of two): the
                          * store has about 110 statements and 160 gap lists (one per filter
                          * combination, status and sort), at most half the slots are used */

struct pg_pool_conn {
    PGconn *pg;
    int64_t created_ms;           /* monotonic time the connection was opened */
    int64_t last_used_ms;         /* monotonic time it was last released */
    const char *prep[PREP_SLOTS]; /* open-addressed set of prepared statement names (borrowed) */
    int nprep;
};

/* A thread waiting in pg_pool_acquire (on its stack), in the queue in arrival order. */
struct pool_waiter {
    pthread_cond_t cv;
    struct pg_pool_conn *conn; /* a connection handed over by a release */
    int may_open;              /* or a slot handed over: the waiter opens a connection in it */
    struct pool_waiter *next;
};

struct pg_pool {
    char *conninfo;
    struct pg_pool_config cfg;
    pthread_mutex_t mu;
    struct pg_pool_conn **idle; /* stack of idle connections, capacity cfg.max */
    int nidle;
    int total; /* open connections plus slots reserved by threads that are connecting */
    struct pool_waiter *whead, *wtail; /* waiting threads, oldest first */
    int nwaiting;
    struct pg_pool_stats st;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Copies the first line of a libpq message (they end with a newline) into err. */
static int pq_errf(char *err, size_t errlen, int code, const char *what, const char *msg)
{
    size_t n = strcspn(msg ? msg : "", "\n");
    return sg_errf(err, errlen, code, "%s: %.*s", what, (int)n, msg ? msg : "");
}

void pg_pool_config_defaults(struct pg_pool_config *cfg, const char *conninfo)
{
    cfg->conninfo = conninfo;
    cfg->min = 5;
    cfg->max = 20;
    cfg->max_lifetime_s = 3600;
    cfg->acquire_timeout_ms = 5000;
    cfg->idle_check_ms = 1000;
}

static void conn_close(struct pg_pool_conn *c)
{
    if (!c) return;
    PQfinish(c->pg);
    free(c);
}

/* Server notices ("relation already exists, skipping") are not errors; libpq would print them
 * to stderr. They are dropped rather than logged because a notice may quote a value. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Opens one connection in UTC with ISO dates (the store parses timestamps as text). Runs without
 * the pool lock. */
static int conn_open(const char *conninfo, struct pg_pool_conn **out, char *err, size_t errlen)
{
    *out = NULL;
    struct pg_pool_conn *c = calloc(1, sizeof *c);
    if (!c) return sg_errf(err, errlen, SG_ENOMEM, "pg pool: out of memory");
    const char *keys[] = {"dbname", "options", "application_name", "connect_timeout", NULL};
    const char *vals[] = {conninfo, "-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=iso_8601",
                          "stargap", "10", NULL};
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (!c->pg) {
        free(c);
        return sg_errf(err, errlen, SG_ENOMEM, "pg pool: out of memory");
    }
    if (PQstatus(c->pg) != CONNECTION_OK) {
        int rc = pq_errf(err, errlen, SG_EDB, "pg pool: cannot connect", PQerrorMessage(c->pg));
        conn_close(c);
        return rc;
    }
    PQsetNoticeProcessor(c->pg, ignore_notice, NULL);
    c->created_ms = c->last_used_ms = now_ms();
    *out = c;
    return SG_OK;
}

/* True when an idle connection may be handed out: status OK, not past its lifetime, and (when
 * idle long enough to have possibly lost its server) answering an empty query. */
static int conn_usable(const struct pg_pool_config *cfg, struct pg_pool_conn *c, int64_t now,
                       int *expired)
{
    *expired = 0;
    if (now - c->created_ms >= (int64_t)cfg->max_lifetime_s * 1000) {
        *expired = 1;
        return 0;
    }
    if (PQstatus(c->pg) != CONNECTION_OK) return 0;
    if (PQtransactionStatus(c->pg) != PQTRANS_IDLE) return 0;
    if (now - c->last_used_ms >= cfg->idle_check_ms) {
        PGresult *r = PQexec(c->pg, "");
        int ok = r && PQresultStatus(r) == PGRES_EMPTY_QUERY;
        PQclear(r);
        if (!ok) return 0;
    }
    return 1;
}

int pg_pool_new(const struct pg_pool_config *cfg, struct pg_pool **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg->conninfo || cfg->max < 1 || cfg->min < 0 || cfg->min > cfg->max ||
        cfg->max_lifetime_s < 1 || cfg->acquire_timeout_ms < 1 || cfg->idle_check_ms < 0)
        return sg_errf(err, errlen, SG_EINVAL,
                       "pg pool: invalid bounds (need 0 <= pool_min <= pool_max, pool_max >= 1)");
    struct pg_pool *p = calloc(1, sizeof *p);
    if (!p) return sg_errf(err, errlen, SG_ENOMEM, "pg pool: out of memory");
    p->cfg = *cfg;
    p->conninfo = strdup(cfg->conninfo);
    p->idle = calloc((size_t)cfg->max, sizeof *p->idle);
    if (!p->conninfo || !p->idle) {
        free(p->conninfo);
        free(p->idle);
        free(p);
        return sg_errf(err, errlen, SG_ENOMEM, "pg pool: out of memory");
    }
    p->cfg.conninfo = p->conninfo;
    p->st.max = cfg->max;
    pthread_mutex_init(&p->mu, NULL);

    int want = cfg->min > 0 ? cfg->min : 1;
    for (int i = 0; i < want; i++) {
        struct pg_pool_conn *c;
        int rc = conn_open(p->conninfo, &c, err, errlen);
        if (rc) {
            pg_pool_free(p);
            return rc;
        }
        p->idle[p->nidle++] = c;
        p->total++;
        p->st.connects++;
    }
    *out = p;
    return SG_OK;
}

void pg_pool_free(struct pg_pool *p)
{
    if (!p) return;
    for (int i = 0; i < p->nidle; i++) conn_close(p->idle[i]);
    pthread_mutex_destroy(&p->mu);
    free(p->idle);
    free(p->conninfo);
    free(p);
}

/* The oldest waiter, taken off the queue (under mu), or NULL. */
static struct pool_waiter *waiter_pop(struct pg_pool *p)
{
    struct pool_waiter *w = p->whead;
    if (!w) return NULL;
    p->whead = w->next;
    if (!p->whead) p->wtail = NULL;
    p->nwaiting--;
    return w;
}

/* A slot given up (its connection closed, or never opened): the oldest waiter opens a connection
 * in it, or the pool has one connection fewer (under mu). */
static void slot_freed(struct pg_pool *p)
{
    struct pool_waiter *w = waiter_pop(p);
    if (!w) {
        p->total--;
        return;
    }
    w->may_open = 1;
    pthread_cond_signal(&w->cv);
}

/* Hands out c, whose slot the caller holds (without mu): checked, or replaced in the same slot by
 * a new connection when it fails the check; c NULL: a new connection in the slot. */
static int hand_out(struct pg_pool *p, struct pg_pool_conn *c, int waited,
                    struct pg_pool_conn **out, char *err, size_t errlen)
{
    int expired = 0;
    if (c && conn_usable(&p->cfg, c, now_ms(), &expired)) {
        pthread_mutex_lock(&p->mu);
        p->st.acquires++;
        if (waited) p->st.waits++;
        pthread_mutex_unlock(&p->mu);
        *out = c;
        return SG_OK;
    }
    if (c) {
        if (!expired) LOG_WARN("pg_pool connection lost; reconnecting");
        conn_close(c);
    }
    struct pg_pool_conn *n;
    int rc = conn_open(p->conninfo, &n, err, errlen);
    pthread_mutex_lock(&p->mu);
    if (c && expired) p->st.recycled++;
    else if (c) p->st.broken++;
    if (rc) {
        slot_freed(p);
        pthread_mutex_unlock(&p->mu);
        return rc;
    }
    p->st.connects++;
    p->st.acquires++;
    if (waited) p->st.waits++;
    pthread_mutex_unlock(&p->mu);
    *out = n;
    return SG_OK;
}

int pg_pool_acquire(struct pg_pool *p, struct pg_pool_conn **out, char *err, size_t errlen)
{
    *out = NULL;
    pthread_mutex_lock(&p->mu);
    if (!p->whead) { /* nobody waits: an idle connection, or a new one in a free slot */
        if (p->nidle > 0) {
            struct pg_pool_conn *c = p->idle[--p->nidle];
            pthread_mutex_unlock(&p->mu);
            return hand_out(p, c, 0, out, err, errlen);
        }
        if (p->total < p->cfg.max) {
            p->total++;
            pthread_mutex_unlock(&p->mu);
            return hand_out(p, NULL, 0, out, err, errlen);
        }
    }
    /* Every connection is in use, or others wait already: queue behind them. */
    struct pool_waiter w;
    memset(&w, 0, sizeof w);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w.cv, &ca);
    pthread_condattr_destroy(&ca);
    if (p->wtail) p->wtail->next = &w;
    else p->whead = &w;
    p->wtail = &w;
    p->nwaiting++;
    struct timespec abs;
    clock_gettime(CLOCK_MONOTONIC, &abs);
    abs.tv_sec += p->cfg.acquire_timeout_ms / 1000;
    abs.tv_nsec += (long)(p->cfg.acquire_timeout_ms % 1000) * 1000000L;
    if (abs.tv_nsec >= 1000000000L) {
        abs.tv_sec++;
        abs.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    while (!w.conn && !w.may_open && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&w.cv, &p->mu, &abs);
    if (!w.conn && !w.may_open) { /* timed out, still queued: leave the queue */
        struct pool_waiter **pp = &p->whead, *prev = NULL;
        while (*pp != &w) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        *pp = w.next;
        if (p->wtail == &w) p->wtail = prev;
        p->nwaiting--;
        p->st.timeouts++;
        p->st.waits++;
        pthread_mutex_unlock(&p->mu);
        pthread_cond_destroy(&w.cv);
        return sg_errf(err, errlen, SG_EBUSY,
                       "pg pool: all %d connections busy for %d ms (raise pool_max or "
                       "pool_acquire_timeout_ms)",
                       p->cfg.max, p->cfg.acquire_timeout_ms);
    }
    pthread_mutex_unlock(&p->mu);
    pthread_cond_destroy(&w.cv);
    return hand_out(p, w.conn, 1, out, err, errlen); /* (w.conn NULL: the slot handed over) */
}

void pg_pool_release(struct pg_pool *p, struct pg_pool_conn *c, int broken)
{
    if (!c) return;
    int64_t now = now_ms();
    int keep = !broken && PQstatus(c->pg) == CONNECTION_OK &&
               PQtransactionStatus(c->pg) == PQTRANS_IDLE;
    int expired = now - c->created_ms >= (int64_t)p->cfg.max_lifetime_s * 1000;
    if (keep && !expired) {
        c->last_used_ms = now;
        pthread_mutex_lock(&p->mu);
        struct pool_waiter *w = waiter_pop(p);
        if (w) { /* straight to the oldest waiter */
            w->conn = c;
            pthread_cond_signal(&w->cv);
        } else {
            p->idle[p->nidle++] = c;
        }
        pthread_mutex_unlock(&p->mu);
        return;
    }
    conn_close(c);
    pthread_mutex_lock(&p->mu);
    if (!keep) p->st.broken++;
    else p->st.recycled++;
    slot_freed(p);
    pthread_mutex_unlock(&p->mu);
}

struct pg_conn *pg_pool_conn_pg(struct pg_pool_conn *c)
{
    return c->pg;
}

static unsigned name_hash(const char *s)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

int pg_pool_prepare(struct pg_pool_conn *c, const char *name, const char *sql, int nparams,
                    char *err, size_t errlen)
{
    unsigned i = name_hash(name) & (PREP_SLOTS - 1);
    while (c->prep[i]) {
        if (c->prep[i] == name || !strcmp(c->prep[i], name)) return SG_OK;
        i = (i + 1) & (PREP_SLOTS - 1);
    }
    if (c->nprep >= PREP_SLOTS / 2)
        return sg_errf(err, errlen, SG_ETOOBIG, "pg pool: too many prepared statements");
    PGresult *r = PQprepare(c->pg, name, sql, nparams, NULL);
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        char what[160];
        snprintf(what, sizeof what, "%s: %s", name, state ? state : "08006");
        int rc = pq_errf(err, errlen, SG_EDB, what, msg ? msg : PQerrorMessage(c->pg));
        PQclear(r);
        return rc;
    }
    PQclear(r);
    c->prep[i] = name;
    c->nprep++;
    return SG_OK;
}

void pg_pool_stats(struct pg_pool *p, struct pg_pool_stats *st)
{
    pthread_mutex_lock(&p->mu);
    *st = p->st;
    st->total = p->total;
    st->idle = p->nidle;
    st->in_use = p->total - p->nidle;
    st->waiting = p->nwaiting;
    pthread_mutex_unlock(&p->mu);
}
