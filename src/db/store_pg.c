/* store_pg.c: the PostgreSQL backend of the storage interface (store.h).
 *
 * Every statement is a named prepared statement (prepared lazily per pooled connection, see
 * pg_pool.h) executed with PQexecPrepared: no SQL text is ever built from input. Writes run in
 * one transaction together with their audit_log row. The audit chain is serialized by the row
 * lock on the single audit_head row: the writer that holds it (SELECT ... FOR UPDATE) reads the
 * chain head, computes the next row's hash (store_audit_hash, shared with the SQLite backend) and
 * appends; the lock is released at COMMIT/ROLLBACK, so concurrent writers form one chain.
 * Batches of predictions go through COPY inside the same transaction, so a failed batch writes
 * nothing. Errors name the statement and the server's SQLSTATE and primary message; the DETAIL
 * and CONTEXT fields (which can quote row values) are never read, and for data exceptions
 * (class 22, whose messages quote the offending input) only the SQLSTATE is reported.
 *
 * Timestamps travel as text: the pool sets TimeZone=UTC and DateStyle=ISO, and
 * ts_from_pg() turns "YYYY-MM-DD HH:MM:SS[.f]+00" into store.h's "YYYY-MM-DDTHH:MM:SS.ffffffZ". */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/hash.h"
#include "core/log.h"
#include "db/pg_pool.h"
#include "db/store.h"
#include "db/store_group.h"

#define MAX_PARAMS 40
#define NUMLEN 40

struct pg_store {
    struct store base; /* must be first */
    struct pg_pool *pool;
    struct store_group group; /* group commit of audited operations (store_group.h) */
    /* The chain head as the last group of this store appended it (under head_mu: two group
     * leaders may run at once, store_group.h "commit_start"): a group's audit rows are appended
     * against it without a FOR UPDATE round trip. It is published when the rows are sent, before
     * their COMMIT, so the next group appends behind them: its conditional head update waits
     * for that COMMIT on the head's row lock. When the head is not what the cache says (another
     * writer, or a group that failed) the append matches no head row and the group locks the
     * head and appends again (audit_flush). */
    int overlap; /* config store_group_overlap: gx_commit_start lets the next group begin */
    pthread_mutex_t head_mu;
    int head_known;
    long long head_id;
    char head_hash[STORE_HASH_LEN];
    /* Staged merges (stage_merge): set once a direct COPY of that kind (enum merge_kind) met a
     * key that exists already; that kind then goes straight to the staged upsert. */
    int direct_off[3];
    long bulk_maint_mb; /* maintenance_work_mem of a bulk batch's index rebuild (pg_bulk_restore) */
};

/* A named statement: prepared under `name` on each connection the first time it is used. */
struct stmt {
    const char *name;
    int nparams;
    const char *sql;
    int ro; /* a plain read: in a group it needs no transaction (STMT_RO) */
};
#define STMT(id, n, text) static const struct stmt id = {#id, n, text, 0}
/* A statement that only reads (no lock, no write, no volatile function that writes). In a group
 * (store_group.h) it does not open the group's transaction: a group of audited reads then reads
 * outside any transaction and writes its audit rows with BEGIN, the append and COMMIT in one
 * round trip (audit_pipe_commit) instead of three. */
#define STMT_RO(id, n, text) static const struct stmt id = {#id, n, text, 1}

/* One operation's hold on a pooled connection. */
struct px {
    struct pg_store *s;
    struct pg_pool_conn *c;
    PGconn *pg;
    int used;   /* a statement succeeded on this connection in this operation */
    int tx;     /* inside BEGIN */
    int broken; /* the connection failed: close it on release */
    char *err;
    size_t errlen;
    /* Group commit (store_group.h): the chain head this transaction holds (locked FOR UPDATE and
     * moved by its own appends), so later operations of the group skip the lock round trip; its
     * value at the current savepoint, restored by ROLLBACK TO; a RELEASE owed before the next
     * SAVEPOINT (sent together with it). */
    int head_valid, sp_head_valid, release_owed;
    long long head_id, sp_head_id;
    char head_hash[STORE_HASH_LEN], sp_head_hash[STORE_HASH_LEN];
    /* Group transactions only (defer): the audit rows of the group's operations, in order, kept
     * here by px_audit and appended with one statement before COMMIT (audit_flush); the count at
     * the current savepoint (ROLLBACK TO drops the rows after it); the head the flush moved the
     * chain to (the store's cached head once COMMIT succeeds). */
    int defer, flushed, flush_started; /* flush_started: gx_commit_start appended the rows */
    int begin_owed; /* group transaction not yet begun on the server (px_ensure_begin) */
    struct store_audit *pend;
    size_t npend, cappend, sp_npend;
    long long flush_id;
    /* Pipelining (store_group_send): in pipeline mode; statements sent and not yet read; their
     * results once read (gx_pipeline_end; the set statements' are then kept apart). */
    int pipe, pipe_begin; /* pipe_begin: the pipeline holds this transaction's BEGIN, */
    size_t begin_at;      /* sent after begin_at statements (read-only ones go before it) */
    size_t nsent;
    PGresult **stash;
    size_t nstash;
    /* Set-based gap status changes (gap_status_send): the group's gap status operations, in
     * order, sent as ONE statement by gx_pipeline_end (gap_set_send); its result, from which each
     * body takes its own row (matched by its ordinal in gset). */
    void **gset; /* struct gap_status_arg * */
    size_t ngset, capgset;
    int gset_sent;
    size_t gset_idx; /* its position among the statements sent */
    PGresult *gset_res;
    /* Set-based member history reads (hist_send): the group's audited history reads, in order,
     * read by ONE statement (hist_set, sent by gx_pipeline_end before gap_move_set); its result
     * is shared with the bodies (struct hist_shared), each taking its own rows. */
    void **hset; /* struct hist_arg * */
    size_t nhset, caphset;
    int hset_sent;
    size_t hset_idx;
    struct hist_shared *hset_res;
};

/* ---- parameters ---- */

struct params {
    const char *v[MAX_PARAMS];
    char num[MAX_PARAMS][NUMLEN];
    int n;
    /* binary values (p_bin): their lengths and formats; fmt 0 = text */
    int len[MAX_PARAMS], fmt[MAX_PARAMS];
    int has_bin;
};

static void p_init(struct params *p)
{
    p->n = 0;
    p->has_bin = 0;
}

static void p_raw(struct params *p, const char *s)
{
    if (p->n >= MAX_PARAMS) return;
    p->fmt[p->n] = 0;
    p->len[p->n] = 0;
    p->v[p->n++] = s;
}

/* A value in PostgreSQL's binary format (len bytes at s, borrowed). */
static void p_bin(struct params *p, const char *s, size_t len)
{
    if (p->n >= MAX_PARAMS) return;
    p->fmt[p->n] = 1;
    p->len[p->n] = (int)len;
    p->v[p->n++] = s;
    p->has_bin = 1;
}

/* libpq's paramLengths / paramFormats for p (NULL when every value is text). */
static const int *p_lens(const struct params *p) { return p && p->has_bin ? p->len : NULL; }
static const int *p_fmts(const struct params *p) { return p && p->has_bin ? p->fmt : NULL; }
/* A required text value ("" stays ""). */
static void p_str(struct params *p, const char *s) { p_raw(p, s ? s : ""); }
/* An optional text value: NULL or "" is SQL NULL. */
static void p_opt(struct params *p, const char *s) { p_raw(p, (s && *s) ? s : NULL); }
static void p_ll(struct params *p, long long x)
{
    if (p->n >= MAX_PARAMS) return;
    snprintf(p->num[p->n], NUMLEN, "%lld", x);
    p_raw(p, p->num[p->n]);
}
/* A real; NAN is SQL NULL. %.17g round-trips every double. */
static void p_dbl(struct params *p, double x)
{
    if (p->n >= MAX_PARAMS) return;
    if (isnan(x)) {
        p_raw(p, NULL);
        return;
    }
    snprintf(p->num[p->n], NUMLEN, "%.17g", x);
    p_raw(p, p->num[p->n]);
}
static void p_bool(struct params *p, int b) { p_raw(p, b ? "t" : "f"); }
/* A tri-state flag: -1 is NULL. */
static void p_tri(struct params *p, int b) { p_raw(p, b < 0 ? NULL : b ? "t" : "f"); }

/* ---- results ---- */

static int g_null(const PGresult *r, int row, int col) { return PQgetisnull(r, row, col); }
static const char *g_str(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col);
}
static void g_copy(char *dst, size_t cap, const PGresult *r, int row, int col)
{
    snprintf(dst, cap, "%s", g_str(r, row, col));
}
static long long g_ll(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}
static int g_int(const PGresult *r, int row, int col) { return (int)g_ll(r, row, col); }
static double g_dbl(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NAN : strtod(PQgetvalue(r, row, col), NULL);
}
static int g_bool(const PGresult *r, int row, int col)
{
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}
static int g_tri(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? -1 : PQgetvalue(r, row, col)[0] == 't';
}
/* JSON column as a heap string (NULL for SQL NULL); sets *oom on allocation failure. */
static char *g_json(const PGresult *r, int row, int col, int *oom)
{
    if (PQgetisnull(r, row, col)) return NULL;
    char *s = strdup(PQgetvalue(r, row, col));
    if (!s) *oom = 1;
    return s;
}

/* "2026-11-25 18:30:59.1234+00" -> "2026-11-25T18:30:59.123400Z"; "" for NULL. */
static void ts_from_pg(const char *in, char out[STORE_TS_LEN])
{
    out[0] = '\0';
    if (!in || strlen(in) < 19) return;
    char frac[7] = "000000";
    const char *p = in + 19;
    if (*p == '.') {
        p++;
        for (int i = 0; i < 6 && isdigit((unsigned char)*p); i++, p++) frac[i] = *p;
    }
    snprintf(out, STORE_TS_LEN, "%.10sT%.8s.%sZ", in, in + 11, frac);
}
static void g_ts(char out[STORE_TS_LEN], const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col)) out[0] = '\0';
    else ts_from_pg(PQgetvalue(r, row, col), out);
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- statements and errors ---- */

/* Maps a failed result to an sg_err through store_db_error (PHI-safe message, logged). */
static int px_fail(struct px *x, const char *what, const PGresult *r)
{
    if (PQstatus(x->pg) == CONNECTION_BAD) x->broken = 1;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char line[256];
    if (!msg) { /* connection-level failure: libpq's own message has no row data */
        const char *m = PQerrorMessage(x->pg);
        snprintf(line, sizeof line, "%.*s", (int)strcspn(m, "\n"), m);
        msg = line;
    }
    int kind = 0;
    if (state && !strcmp(state, "23505")) kind = 1;
    else if (state && (!strcmp(state, "40001") || !strcmp(state, "40P01") ||
                       !strcmp(state, "55P03") || !strcmp(state, "57014")))
        kind = 3;
    else if (state && (!strcmp(state, "23503") || !strcmp(state, "23514") ||
                       !strcmp(state, "23502") || !strncmp(state, "22", 2)))
        kind = 2;
    if (state && !strncmp(state, "22", 2)) msg = "data exception (value not shown)";
    return store_db_error(x->err, x->errlen, kind, what, state ? state : "08006", msg);
}

/* Acquires a connection for one operation. */
static int px_open(struct pg_store *s, struct px *x, char *err, size_t errlen)
{
    memset(x, 0, sizeof *x);
    x->s = s;
    x->err = err;
    x->errlen = errlen;
    int rc = pg_pool_acquire(s->pool, &x->c, err, errlen);
    if (rc) return rc;
    x->pg = (PGconn *)pg_pool_conn_pg(x->c);
    return SG_OK;
}

/* Releases the connection, rolling back a transaction left open by a failure. */
static void px_close(struct px *x)
{
    if (!x->c) return;
    if (x->tx && !x->broken) {
        PGresult *r = PQexec(x->pg, "ROLLBACK");
        if (PQresultStatus(r) != PGRES_COMMAND_OK) x->broken = 1;
        PQclear(r);
    }
    pg_pool_release(x->s->pool, x->c, x->broken);
    x->c = NULL;
}

/* When the first statement of an operation fails because the connection is gone (the server
 * restarted since the connection was last checked), nothing of the operation has happened:
 * swap in a fresh connection and let the caller retry once. Returns 1 (retry), 0 (not a lost
 * connection, or not the first statement), or a negative sg_err when no new connection could be
 * had (err is set; x holds no connection any more). */
static int px_reconnect(struct px *x)
{
    if (x->used || PQstatus(x->pg) != CONNECTION_BAD) return 0;
    pg_pool_release(x->s->pool, x->c, 1);
    x->c = NULL;
    x->pg = NULL;
    int rc = pg_pool_acquire(x->s->pool, &x->c, x->err, x->errlen);
    if (rc) return rc;
    x->pg = (PGconn *)pg_pool_conn_pg(x->c);
    x->broken = 0;
    return 1;
}

/* Runs a plain command (BEGIN, COMMIT, ROLLBACK). */
static int px_cmd(struct px *x, const char *sql)
{
    for (int attempt = 0;; attempt++) {
        PGresult *r = PQexec(x->pg, sql);
        if (PQresultStatus(r) == PGRES_COMMAND_OK) {
            PQclear(r);
            x->used = 1;
            return SG_OK;
        }
        int again = attempt == 0 ? px_reconnect(x) : 0;
        if (again) {
            PQclear(r);
            if (again < 0) return again;
            continue;
        }
        int rc = px_fail(x, sql, r);
        PQclear(r);
        return rc;
    }
}

static int px_begin(struct px *x)
{
    x->head_valid = 0; /* a new transaction holds no chain head yet */
    int rc = px_cmd(x, "BEGIN");
    if (!rc) x->tx = 1;
    return rc;
}

/* A group transaction begins lazily, with its first statement: a group whose bodies ran no
 * statement (audited reads) sends BEGIN together with its audit append and COMMIT (gx_commit). */
static int px_ensure_begin(struct px *x)
{
    if (!x->begin_owed) return SG_OK;
    x->begin_owed = 0;
    return px_begin(x);
}

static int px_commit(struct px *x)
{
    int rc = px_cmd(x, "COMMIT");
    x->tx = 0;
    x->head_valid = 0;
    if (rc && x->pg) x->broken = x->broken || PQstatus(x->pg) == CONNECTION_BAD;
    return rc;
}

/* SG_OK when p binds exactly the parameters st takes (p NULL: none), else SG_EINTERNAL. */
static int px_bound(struct px *x, const struct stmt *st, const struct params *p)
{
    int n = p ? p->n : 0;
    if (n == st->nparams) return SG_OK;
    return sg_errf(x->err, x->errlen, SG_EINTERNAL, "%s: %d parameters bound, %d expected",
                   st->name, n, st->nparams);
}

/* Executes a prepared statement with p's parameters; *out (may be NULL) receives the result on
 * success (PQclear it). */
static int px_exec(struct px *x, const struct stmt *st, const struct params *p, PGresult **out)
{
    if (out) *out = NULL;
    if (x->begin_owed && !st->ro) {
        int rc = px_ensure_begin(x);
        if (rc) return rc;
    }
    int n = p ? p->n : 0;
    int brc = px_bound(x, st, p);
    if (brc) return brc;
    for (int attempt = 0;; attempt++) {
        int rc = pg_pool_prepare(x->c, st->name, st->sql, st->nparams, x->err, x->errlen);
        if (rc) {
            int again = attempt == 0 ? px_reconnect(x) : 0;
            if (again < 0) return again;
            if (again) continue;
            if (PQstatus(x->pg) == CONNECTION_BAD) x->broken = 1;
            LOG_ERROR("event=db_prepare_error stmt=%s", st->name);
            return rc;
        }
        PGresult *r = PQexecPrepared(x->pg, st->name, n, p ? p->v : NULL, p_lens(p), p_fmts(p), 0);
        ExecStatusType es = PQresultStatus(r);
        if (es == PGRES_TUPLES_OK || es == PGRES_COMMAND_OK) {
            x->used = 1;
            if (out) *out = r;
            else PQclear(r);
            return SG_OK;
        }
        int again = attempt == 0 ? px_reconnect(x) : 0;
        if (again) {
            PQclear(r);
            if (again < 0) return again;
            continue;
        }
        rc = px_fail(x, st->name, r);
        PQclear(r);
        return rc;
    }
}

/* Sends a prepared statement without waiting for it (inside a transaction: no reconnect);
 * px_wait collects its answer. Nothing else may be sent on the connection in between. */
static int px_send(struct px *x, const struct stmt *st, const struct params *p)
{
    int rc = px_bound(x, st, p);
    if (rc) return rc;
    rc = pg_pool_prepare(x->c, st->name, st->sql, st->nparams, x->err, x->errlen);
    if (rc) {
        if (PQstatus(x->pg) == CONNECTION_BAD) x->broken = 1;
        return rc;
    }
    if (!PQsendQueryPrepared(x->pg, st->name, p->n, p->v, p_lens(p), p_fmts(p), 0)) {
        x->broken = 1;
        return sg_errf(x->err, x->errlen, SG_EDB, "%s: could not be sent", st->name);
    }
    x->used = 1;
    return SG_OK;
}

/* The answer of the statement px_send sent: *out (may be NULL) receives it on success (PQclear
 * it). Reads every result, so the connection is free for the next statement either way. */
static int px_wait(struct px *x, const struct stmt *st, PGresult **out)
{
    if (out) *out = NULL;
    int rc = SG_OK;
    PGresult *r, *keep = NULL;
    while ((r = PQgetResult(x->pg))) {
        ExecStatusType es = PQresultStatus(r);
        if (!rc && !keep && (es == PGRES_TUPLES_OK || es == PGRES_COMMAND_OK)) {
            keep = r;
            continue;
        }
        if (!rc && es != PGRES_TUPLES_OK && es != PGRES_COMMAND_OK) rc = px_fail(x, st->name, r);
        PQclear(r);
    }
    if (!rc && !keep) {
        x->broken = 1;
        rc = sg_errf(x->err, x->errlen, SG_EDB, "%s: no answer", st->name);
    }
    if (rc || !out) PQclear(keep);
    else *out = keep;
    return rc;
}

/* ---- group commit (store_group.h): one transaction, one savepoint per operation ---- */

/* The deferred audit rows of a group, appended in one statement: the head moves from ($1, $2) to
 * ($3, $4) only if it is ($1, $2) once locked (it is when this transaction locked it, or when
 * nobody else moved it since the store's last group appended), and the rows are inserted only
 * if it moved; ids are $1 + 1, $1 + 2, ... in array order. The head is read FOR UPDATE first:
 * when the previous group still holds it (its COMMIT in progress, store_group.h "commit_start")
 * the statement waits for that COMMIT and then sees the head it left; a plain conditional
 * UPDATE would compare against the version of its snapshot (before that COMMIT) and miss. */
STMT(audit_append_many, 14,
     "WITH cur AS (SELECT last_id, last_hash FROM audit_head WHERE id = 1 FOR UPDATE),"
     " h AS (UPDATE audit_head a SET last_id = $3, last_hash = $4 FROM cur WHERE a.id = 1"
     " AND cur.last_id = $1 AND cur.last_hash = $2 RETURNING 1)"
     " INSERT INTO audit_log (audit_id, event_type, entity_type,"
     " entity_id, action, user_id, changes, ip_address, timestamp, prev_hash, hash)"
     " SELECT $1::bigint + u.o, u.et, u.ent, u.eid, u.act, u.uid, u.ch::json, u.ip,"
     " u.ts::timestamptz, u.ph, u.h FROM unnest($5::text[], $6::text[], $7::text[], $8::text[],"
     " $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[])"
     " WITH ORDINALITY AS u(et, ent, eid, act, uid, ch, ip, ts, ph, h, o)"
     " WHERE EXISTS (SELECT 1 FROM h)");
STMT(audit_head_lock, 0, "SELECT last_id, last_hash FROM audit_head WHERE id = 1 FOR UPDATE");

/* Appends s (NULL: an SQL NULL element) to a text[] literal. */
static int arr_text(struct sg_buf *b, const char *s, int first)
{
    int rc = first ? SG_OK : sg_buf_puts(b, ",");
    if (!rc && !s) return sg_buf_puts(b, "NULL");
    if (!rc) rc = sg_buf_puts(b, "\"");
    for (const char *q = s; *q && !rc; q++) {
        if (*q == '"' || *q == '\\') rc = sg_buf_append(b, "\\", 1);
        if (!rc) rc = sg_buf_append(b, q, 1);
    }
    if (!rc) rc = sg_buf_puts(b, "\"");
    return rc;
}

/* The cached chain head: 1 and (id, hash) when known, else 0. */
static int head_get(struct pg_store *s, long long *id, char hash[STORE_HASH_LEN])
{
    pthread_mutex_lock(&s->head_mu);
    int known = s->head_known;
    if (known) {
        *id = s->head_id;
        memcpy(hash, s->head_hash, STORE_HASH_LEN);
    }
    pthread_mutex_unlock(&s->head_mu);
    return known;
}

/* Caches (id, hash) as the chain head. */
static void head_put(struct pg_store *s, long long id, const char *hash)
{
    pthread_mutex_lock(&s->head_mu);
    s->head_known = 1;
    s->head_id = id;
    snprintf(s->head_hash, sizeof s->head_hash, "%s", hash);
    pthread_mutex_unlock(&s->head_mu);
}

/* Forgets the cached head if it is still the one a group published with id (a later group's
 * head stays: its append checks the head anyway); id < 0 forgets it in any case. */
static void head_forget(struct pg_store *s, long long id)
{
    pthread_mutex_lock(&s->head_mu);
    if (id < 0 || (s->head_known && s->head_id == id)) s->head_known = 0;
    pthread_mutex_unlock(&s->head_mu);
}

/* A one-dimensional text[] in PostgreSQL's binary array format (what array_recv reads: ndim,
 * has-null flag, element type, size and lower bound, then each element as a 32-bit length, -1
 * for NULL, and its bytes; integers big-endian): the server copies the elements instead of
 * parsing a quoted, escaped array literal. */
#define TEXT_OID 25
static int barr_u32(struct sg_buf *b, uint32_t v)
{
    unsigned char q[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    return sg_buf_append(b, q, 4);
}
static void barr_patch(struct sg_buf *b, size_t at, uint32_t v)
{
    unsigned char *q = (unsigned char *)b->data + at;
    q[0] = (unsigned char)(v >> 24);
    q[1] = (unsigned char)(v >> 16);
    q[2] = (unsigned char)(v >> 8);
    q[3] = (unsigned char)v;
}
/* Starts an array in b (its flag and size are patched by barr_end). */
static int barr_begin(struct sg_buf *b)
{
    int rc = barr_u32(b, 1);
    if (!rc) rc = barr_u32(b, 0);
    if (!rc) rc = barr_u32(b, TEXT_OID);
    if (!rc) rc = barr_u32(b, 0);
    if (!rc) rc = barr_u32(b, 1);
    return rc;
}
/* Appends s (NULL: an SQL NULL element). */
static int barr_text(struct sg_buf *b, const char *s, int *has_null)
{
    if (!s) {
        *has_null = 1;
        return barr_u32(b, 0xFFFFFFFFu);
    }
    size_t n = strlen(s);
    int rc = barr_u32(b, (uint32_t)n);
    return rc ? rc : sg_buf_append(b, s, n);
}
static void barr_end(struct sg_buf *b, size_t count, int has_null)
{
    barr_patch(b, 4, has_null ? 1u : 0u);
    barr_patch(b, 12, (uint32_t)count);
}

/* Drops the pending audit rows after the first `keep`. */
static void pend_drop(struct px *x, size_t keep)
{
    while (x->npend > keep) free(x->pend[--x->npend].changes);
}

#define PEND_COLS 10

/* Numbers and hashes the pending rows from head (id, hash) and appends them with one statement
 * that moves the head only if it is still (id, hash). *moved = 0 when it was not (nothing
 * written). */
static int audit_pipe_commit(struct px *x, const struct params *p, long long *n);

/* with_commit: BEGIN, the append and COMMIT in one pipeline (the transaction has run nothing
 * else); *moved = 0 then means an empty transaction was committed. */
static int audit_append_pending(struct px *x, long long id, const char *hash, int with_commit,
                                int *moved)
{
    struct sg_buf col[PEND_COLS];
    struct params p;
    PGresult *r = NULL;
    int rc = SG_OK;
    long long n = 0;
    *moved = 0;
    int nulls[PEND_COLS] = {0};
    for (int c = 0; c < PEND_COLS; c++) sg_buf_init(&col[c], (size_t)1 << 30);
    for (int c = 0; c < PEND_COLS && !rc; c++) rc = barr_begin(&col[c]);
    for (size_t i = 0; i < x->npend && !rc; i++) {
        struct store_audit *a = &x->pend[i];
        a->audit_id = id + 1 + (long long)i;
        snprintf(a->prev_hash, sizeof a->prev_hash, "%s", i ? x->pend[i - 1].hash : hash);
        if (store_audit_hash(a, a->hash)) {
            rc = sg_errf(x->err, x->errlen, SG_EINTERNAL, "audit: hashing failed");
            break;
        }
        const char *v[PEND_COLS] = {a->event_type, a->entity_type, a->entity_id[0] ? a->entity_id : NULL,
                                     a->action, a->user_id, a->changes,
                                     a->ip_address[0] ? a->ip_address : NULL, a->timestamp,
                                     a->prev_hash, a->hash};
        for (int c = 0; c < PEND_COLS && !rc; c++) rc = barr_text(&col[c], v[c], &nulls[c]);
    }
    for (int c = 0; c < PEND_COLS && !rc; c++) barr_end(&col[c], x->npend, nulls[c]);
    if (rc == SG_ENOMEM || rc == SG_ETOOBIG)
        rc = sg_errf(x->err, x->errlen, rc, "audit: out of memory for the group's rows");
    if (!rc) {
        /* published before the rows are sent: the next group appends behind them */
        head_put(x->s, id + (long long)x->npend, x->pend[x->npend - 1].hash);
        p_init(&p);
        p_ll(&p, id);
        p_str(&p, hash);
        p_ll(&p, id + (long long)x->npend);
        p_str(&p, x->pend[x->npend - 1].hash);
        for (int c = 0; c < PEND_COLS; c++) p_bin(&p, col[c].data, col[c].len);
        if (with_commit) {
            rc = audit_pipe_commit(x, &p, &n);
        } else {
            rc = px_exec(x, &audit_append_many, &p, &r);
            const char *t = rc ? NULL : PQcmdTuples(r);
            n = t && *t ? strtoll(t, NULL, 10) : 0;
        }
    }
    if (!rc) {
        if (n == (long long)x->npend) *moved = 1;
        else if (n != 0)
            rc = sg_errf(x->err, x->errlen, SG_EINTERNAL, "audit: %lld of %zu rows appended", n,
                         x->npend);
    }
    if (x->npend && (rc || !*moved)) head_forget(x->s, id + (long long)x->npend);
    PQclear(r);
    for (int c = 0; c < PEND_COLS; c++) sg_buf_fini(&col[c]);
    return rc;
}

/* Appends the group's pending audit rows before its COMMIT: first against the store's cached
 * head (no lock round trip); when that head is stale (another writer appended since), lock the
 * head FOR UPDATE and append against it. The chain cannot fork: a row is inserted only together
 * with the head update that checks its predecessor, under the head's row lock. */
static int audit_flush(struct px *x)
{
    x->flushed = 0;
    if (!x->npend) return SG_OK;
    int moved = 0, rc;
    long long hid;
    char hhash[STORE_HASH_LEN];
    int known = head_get(x->s, &hid, hhash);
    if (known) {
        rc = audit_append_pending(x, hid, hhash, 0, &moved);
        if (rc) return rc;
    }
    if (!moved) {
        LOG_DEBUG("event=audit_head_stale known=%d", known); /* another writer moved it */
        PGresult *r;
        rc = px_exec(x, &audit_head_lock, NULL, &r);
        if (rc) return rc;
        if (PQntuples(r) != 1) {
            PQclear(r);
            return sg_errf(x->err, x->errlen, SG_EINTERNAL, "audit_head_lock: chain head missing");
        }
        long long id = g_ll(r, 0, 0);
        char hash[STORE_HASH_LEN];
        g_copy(hash, sizeof hash, r, 0, 1);
        PQclear(r);
        rc = audit_append_pending(x, id, hash, 0, &moved);
        if (rc) return rc;
        if (!moved)
            return sg_errf(x->err, x->errlen, SG_EINTERNAL, "audit: locked chain head moved");
    }
    x->flushed = 1;
    x->flush_id = x->pend[x->npend - 1].audit_id;
    return SG_OK;
}

/* BEGIN, audit_append_many with p, COMMIT: one round trip (pipeline mode, one Sync). *n gets
 * the rows inserted (0: the head did not match and an empty transaction was committed). When
 * the append fails, COMMIT is skipped by the pipeline and the open transaction is left for
 * px_close to roll back. A connection found dead before anything of the operation ran is
 * replaced and *n = 0 returned, so the caller takes its ordinary path. */
static int audit_pipe_commit(struct px *x, const struct params *p, long long *n)
{
    *n = 0;
    int rc = pg_pool_prepare(x->c, audit_append_many.name, audit_append_many.sql,
                             audit_append_many.nparams, x->err, x->errlen);
    if (rc) {
        int again = px_reconnect(x);
        return again < 0 ? again : again ? SG_OK : rc;
    }
    if (!PQenterPipelineMode(x->pg))
        return sg_errf(x->err, x->errlen, SG_EDB, "pipeline: could not enter pipeline mode");
    if (!PQsendQueryParams(x->pg, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) ||
        !PQsendQueryPrepared(x->pg, audit_append_many.name, p->n, p->v, p_lens(p), p_fmts(p), 0) ||
        !PQsendQueryParams(x->pg, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) ||
        !PQpipelineSync(x->pg)) {
        x->broken = 1;
        return sg_errf(x->err, x->errlen, SG_EDB, "pipeline: audit append could not be sent");
    }
    x->tx = 1; /* BEGIN is on its way: until COMMIT is known to be done, px_close rolls back */
    PGresult *res[3] = {NULL, NULL, NULL};
    int got = 0, synced = 0, nulls = 0;
    while (!synced) {
        PGresult *r = PQgetResult(x->pg);
        if (!r) { /* the end of one statement's results (at most one per statement) */
            if (PQstatus(x->pg) == CONNECTION_BAD || ++nulls > 3) break;
            continue;
        }
        if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) synced = 1;
        if (!synced && got < 3) res[got++] = r;
        else PQclear(r);
    }
    int ok_begin = got > 0 && PQresultStatus(res[0]) == PGRES_COMMAND_OK;
    int ok_ins = got > 1 && PQresultStatus(res[1]) == PGRES_COMMAND_OK;
    int ok_commit = got > 2 && PQresultStatus(res[2]) == PGRES_COMMAND_OK;
    if (!synced || !PQexitPipelineMode(x->pg)) {
        x->broken = 1;
        if (!x->used && !ok_begin) { /* a dead pooled connection: nothing happened */
            for (int i = 0; i < got; i++) PQclear(res[i]);
            int again = px_reconnect(x);
            if (again > 0) x->tx = 0;
            return again < 0 ? again : again ? SG_OK
                                              : sg_errf(x->err, x->errlen, SG_EDB,
                                                        "pipeline: connection lost");
        }
        rc = sg_errf(x->err, x->errlen, SG_EDB, "pipeline: connection lost during COMMIT");
    } else if (!ok_begin) {
        rc = px_fail(x, "BEGIN", got > 0 ? res[0] : NULL);
    } else if (!ok_ins) {
        rc = px_fail(x, audit_append_many.name, got > 1 ? res[1] : NULL); /* tx left to roll back */
    } else if (!ok_commit) {
        x->tx = 0; /* a failed COMMIT ends the transaction */
        rc = px_fail(x, "COMMIT", got > 2 ? res[2] : NULL);
    } else {
        x->tx = 0;
        x->used = 1;
        const char *t = PQcmdTuples(res[1]);
        *n = t && *t ? strtoll(t, NULL, 10) : 0;
    }
    for (int i = 0; i < got; i++) PQclear(res[i]);
    return rc;
}

/* The leader's hold on a connection: one at a time per store, so allocated per group. */
static int gx_begin(void *ctx, void **conn, char *err, size_t errlen)
{
    struct px *x = malloc(sizeof *x);
    *conn = NULL;
    if (!x) return sg_errf(err, errlen, SG_ENOMEM, "group: out of memory");
    int rc = px_open(ctx, x, err, errlen);
    if (rc) {
        px_close(x);
        free(x);
        return rc;
    }
    x->begin_owed = 1; /* BEGIN goes with the first statement (px_ensure_begin) */
    x->defer = 1;      /* audit rows wait for the group's end (audit_flush) */
    *conn = x;
    return SG_OK;
}

static int gx_cmd(void *conn, const char *sql, char *err, size_t errlen)
{
    struct px *x = conn;
    x->err = err;
    x->errlen = errlen;
    return px_cmd(x, sql);
}

/* The savepoint of the next operation; the RELEASE of the previous one travels in the same
 * round trip (one simple-protocol query with two commands). */
static int gx_savepoint(void *conn, char *err, size_t errlen)
{
    struct px *x = conn;
    x->err = err;
    x->errlen = errlen;
    int rc = px_ensure_begin(x);
    if (rc) return rc;
    rc = gx_cmd(conn, x->release_owed ? "RELEASE SAVEPOINT sg_op; SAVEPOINT sg_op"
                                          : "SAVEPOINT sg_op", err, errlen);
    if (rc) return rc;
    x->release_owed = 0;
    x->sp_npend = x->npend;
    x->sp_head_valid = x->head_valid;
    x->sp_head_id = x->head_id;
    memcpy(x->sp_head_hash, x->head_hash, sizeof x->sp_head_hash);
    return SG_OK;
}

/* Deferred to the next SAVEPOINT (COMMIT releases every savepoint anyway). */
static int gx_release(void *conn, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    ((struct px *)conn)->release_owed = 1;
    return SG_OK;
}

/* Undoes the operation, including its chain appends and, when the operation took it, the lock on
 * the chain head (a row lock taken in a rolled-back subtransaction is released). */
static int gx_rollback_to(void *conn, char *err, size_t errlen)
{
    struct px *x = conn;
    int rc = gx_cmd(conn, "ROLLBACK TO SAVEPOINT sg_op", err, errlen);
    if (rc) return rc;
    x->release_owed = 1;
    pend_drop(x, x->sp_npend); /* the operation's audit rows go with it */
    x->head_valid = x->sp_head_valid;
    x->head_id = x->sp_head_id;
    memcpy(x->head_hash, x->sp_head_hash, sizeof x->head_hash);
    return SG_OK;
}

/* The group's commit_start (store_group.h): a group whose bodies ran statements appends its
 * audit rows now, taking the chain head's row lock, and (config store_group_overlap) lets the
 * next group begin; a group of
 * audited reads only (no statement yet) leaves everything to gx_commit's single round trip and
 * lets the next group wait (its rows could otherwise reach the head before this group's). */
static int gx_commit_start(void *conn, int *overlap, char *err, size_t errlen)
{
    struct px *x = conn;
    x->err = err;
    x->errlen = errlen;
    *overlap = 0;
    x->flushed = 0;
    if (x->begin_owed) return SG_OK;
    int rc = audit_flush(x);
    if (rc) return rc;
    x->flush_started = 1;
    *overlap = x->s->overlap;
    return SG_OK;
}

/* Appends the group's audit rows (unless gx_commit_start did), then commits; the store's cached
 * head was published with the rows and is forgotten after a failed commit (its outcome
 * unknown). */
static int gx_commit(void *conn, char *err, size_t errlen)
{
    struct px *x = conn;
    x->err = err;
    x->errlen = errlen;
    int rc;
    if (x->begin_owed) { /* no body ran a statement: nothing to commit but the audit rows */
        if (!x->npend) {
            x->begin_owed = 0;
            return SG_OK;
        }
        int moved = 0;
        long long hid;
        char hhash[STORE_HASH_LEN];
        if (head_get(x->s, &hid, hhash)) {
            rc = audit_append_pending(x, hid, hhash, 1, &moved);
            if (rc) return rc; /* (the head it published is forgotten) */
        }
        if (moved) return SG_OK; /* committed, rows and all */
        /* The cached head was stale (an empty transaction committed) or unknown: the locking
         * path below, in a new transaction. */
        x->begin_owed = 1;
    }
    rc = x->flush_started ? SG_OK : audit_flush(x);
    x->flush_started = 0;
    if (!rc) rc = px_commit(x);
    if (rc) { /* the outcome of the rows is unknown: the next group locks the head */
        head_forget(x->s, x->flushed ? x->flush_id : -1);
        return rc;
    }
    return SG_OK;
}

static int gap_set_send(struct px *x);
static int hist_set_send(struct px *x);
static struct hist_shared *hist_shared_new(PGresult *r, size_t nops);

/* Reads the results of the statements the sends queued (one Sync for all), leaves pipeline
 * mode and keeps the results for the bodies. Any failed statement fails the pass (the group
 * runs again with savepoints, without pipelining). The gap status changes the sends collected
 * are queued last, as one statement (gap_set_send), whose result is kept apart (gset_res). */
static int gx_pipeline_end(void *conn, char *err, size_t errlen)
{
    struct px *x = conn;
    x->err = err;
    x->errlen = errlen;
    int rc = SG_OK;
    if (x->nhset && (rc = hist_set_send(x))) return rc;
    if (x->ngset && (rc = gap_set_send(x))) return rc;
    if (!x->pipe) return SG_OK;
    if (!PQpipelineSync(x->pg)) {
        x->broken = 1;
        return sg_errf(err, errlen, SG_EDB, "pipeline: sync could not be sent");
    }
    free(x->stash);
    x->stash = calloc(x->nsent ? x->nsent : 1, sizeof *x->stash);
    if (!x->stash) {
        x->broken = 1; /* results left unread: the connection cannot be reused */
        return sg_errf(err, errlen, SG_ENOMEM, "pipeline: out of memory");
    }
    x->nstash = 0;
    for (size_t i = 0; i <= x->nsent; i++) {
        if (x->pipe_begin && i == x->begin_at) { /* BEGIN's result, then the end of its results */
            x->pipe_begin = 0;
            PGresult *b = PQgetResult(x->pg);
            if (!b) {
                x->broken = 1;
                return sg_errf(err, errlen, SG_EDB, "pipeline: BEGIN result missing");
            }
            if (PQresultStatus(b) != PGRES_COMMAND_OK && !rc)
                rc = PQresultStatus(b) == PGRES_PIPELINE_ABORTED
                         ? sg_errf(err, errlen, SG_EDB, "pipeline: BEGIN aborted")
                         : px_fail(x, "BEGIN", b);
            PQclear(b);
            PGresult *end = PQgetResult(x->pg);
            if (end) {
                PQclear(end);
                x->broken = 1;
                return sg_errf(err, errlen, SG_EDB, "pipeline: unexpected extra result");
            }
        }
        if (i == x->nsent) break;
        PGresult *r = PQgetResult(x->pg);
        if (!r) {
            x->broken = 1;
            return sg_errf(err, errlen, SG_EDB, "pipeline: result %zu missing", i);
        }
        ExecStatusType es = PQresultStatus(r);
        if (es != PGRES_TUPLES_OK && es != PGRES_COMMAND_OK && !rc)
            rc = es == PGRES_PIPELINE_ABORTED
                     ? sg_errf(err, errlen, SG_EDB, "pipeline: statement aborted")
                     : px_fail(x, "pipeline", r);
        x->stash[x->nstash++] = r;
        PGresult *end = PQgetResult(x->pg); /* NULL: the end of this statement's results */
        if (end) {
            PQclear(end);
            x->broken = 1;
            return sg_errf(err, errlen, SG_EDB, "pipeline: unexpected extra result");
        }
    }
    PGresult *sync = PQgetResult(x->pg);
    if (!sync || PQresultStatus(sync) != PGRES_PIPELINE_SYNC) {
        PQclear(sync);
        x->broken = 1;
        return sg_errf(err, errlen, SG_EDB, "pipeline: sync result missing");
    }
    PQclear(sync);
    if (!PQexitPipelineMode(x->pg)) {
        x->broken = 1;
        return sg_errf(err, errlen, SG_EDB, "pipeline: could not leave pipeline mode");
    }
    x->pipe = 0;
    x->nsent = 0;
    if (x->gset_sent && x->gset_idx < x->nstash) {
        x->gset_res = x->stash[x->gset_idx];
        x->stash[x->gset_idx] = NULL;
    }
    if (x->hset_sent && x->hset_idx < x->nstash && x->stash[x->hset_idx]) {
        x->hset_res = hist_shared_new(x->stash[x->hset_idx], x->nhset);
        if (x->hset_res) x->stash[x->hset_idx] = NULL; /* (else the bodies read alone) */
    }
    return rc;
}

static int pipe_prepare_all(struct px *x);

/* Queues a prepared statement in pipeline mode (entering it on the first send of the group,
 * after preparing every statement a group may pipeline: PQprepare cannot run in pipeline mode,
 * and a group that mixes a member's history with gap moves sends a second, different statement
 * there, which a fresh connection had not prepared: 26000, and the group ran again without
 * pipelining). */
static int pipe_send(struct px *x, const struct stmt *st, const struct params *p)
{
    if (!x->pipe) {
        int rc = pipe_prepare_all(x);
        if (!rc) rc = pg_pool_prepare(x->c, st->name, st->sql, st->nparams, x->err, x->errlen);
        if (rc) return rc;
        if (!PQenterPipelineMode(x->pg))
            return sg_errf(x->err, x->errlen, SG_EDB, "pipeline: could not enter pipeline mode");
        x->pipe = 1;
    }
    if (x->begin_owed && !st->ro) { /* the transaction's BEGIN goes before its first write */
        /* (reads sent before it ran in the pipeline's implicit transaction, which BEGIN turns
         * into this explicit one) */
        if (!PQsendQueryParams(x->pg, "BEGIN", 0, NULL, NULL, NULL, NULL, 0)) {
            x->broken = 1;
            return sg_errf(x->err, x->errlen, SG_EDB, "pipeline: BEGIN could not be sent");
        }
        x->begin_owed = 0;
        x->tx = 1;
        x->pipe_begin = 1;
        x->begin_at = x->nsent;
    }
    if (!PQsendQueryPrepared(x->pg, st->name, p->n, p->v, p_lens(p), p_fmts(p), 0)) {
        x->broken = 1;
        return sg_errf(x->err, x->errlen, SG_EDB, "pipeline: %s could not be sent", st->name);
    }
    x->nsent++;
    x->used = 1;
    return SG_OK;
}

static void hist_shared_drop(struct hist_shared *sh);

static void gx_end(void *ctx, void *conn)
{
    (void)ctx;
    struct px *x = conn;
    if (!x) return;
    x->err = NULL;
    x->errlen = 0;
    if (x->pipe) x->broken = 1; /* left in pipeline mode by a failure: results unread */
    for (size_t i = 0; i < x->nstash; i++) PQclear(x->stash[i]);
    free(x->stash);
    PQclear(x->gset_res);
    free(x->gset);
    hist_shared_drop(x->hset_res);
    free(x->hset);
    pend_drop(x, 0);
    free(x->pend);
    px_close(x);
    free(x);
}

/* Optimistic: the bodies below write only their outputs into their arg. */
static const struct store_group_tx pg_group_tx = {
    gx_begin, gx_savepoint, gx_release, gx_rollback_to, gx_commit, gx_end, 1, gx_pipeline_end,
    gx_commit_start,
};

/* The connection of a group body, with the operation's own error buffer. */
static struct px *gx_conn(void *conn, char *err, size_t errlen)
{
    struct px *x = conn;
    x->err = err;
    x->errlen = errlen;
    return x;
}

/* Number of rows a command touched. */
static long long cmd_rows(const PGresult *r)
{
    const char *t = PQcmdTuples((PGresult *)r);
    return t && *t ? strtoll(t, NULL, 10) : 0;
}

static struct pg_store *S(struct store *st) { return (struct pg_store *)st; }

/* Copies a PostgreSQL DATE ("YYYY-MM-DD") or "" for NULL. */
static void g_date(char out[STORE_DATE_LEN], const PGresult *r, int row, int col)
{
    snprintf(out, STORE_DATE_LEN, "%s", g_str(r, row, col));
}

/* Fills list->total/has_more from a count and the page. */
static void page_done(long long total, size_t n, const struct store_page *pg, long long *out_total,
                      int *has_more)
{
    *out_total = total;
    *has_more = pg ? (long long)pg->offset + (long long)n < total : 0;
}

/* ---- the audit chain ---- */

STMT(audit_head_get, 0, "SELECT last_id, last_hash FROM audit_head WHERE id = 1");
STMT(audit_append, 11,
     "WITH h AS (UPDATE audit_head SET last_id = $1, last_hash = $11 WHERE id = 1) "
     "INSERT INTO audit_log (audit_id, event_type, entity_type, entity_id, action, user_id, changes,"
     " ip_address, timestamp, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7::json, $8, $9,"
     " $10, $11)");

/* Appends one audit row inside the caller's transaction. The row lock on audit_head serializes
 * writers until COMMIT, so the chain never forks. */
static int px_audit(struct px *x, const struct store_actor *a, const char *event_type,
                    const char *entity_type, const char *entity_id, const char *action,
                    const char *changes, const char *now)
{
    struct store_audit row;
    memset(&row, 0, sizeof row);
    store_audit_fill(&row, a, event_type, entity_type, entity_id, action, changes, now);
    int rc;
    if (x->defer) { /* group transaction: numbered, hashed and appended before its COMMIT */
        if (x->npend == x->cappend) {
            size_t cap = x->cappend ? 2 * x->cappend : 16;
            struct store_audit *n = realloc(x->pend, cap * sizeof *n);
            if (!n) return sg_errf(x->err, x->errlen, SG_ENOMEM, "audit: out of memory");
            x->pend = n;
            x->cappend = cap;
        }
        if (changes && !(row.changes = strdup(changes)))
            return sg_errf(x->err, x->errlen, SG_ENOMEM, "audit: out of memory");
        x->pend[x->npend++] = row;
        return SG_OK;
    }
    if (x->head_valid) { /* this transaction holds the head already (group commit) */
        row.audit_id = x->head_id + 1;
        memcpy(row.prev_hash, x->head_hash, sizeof row.prev_hash);
    } else {
        PGresult *r;
        rc = px_exec(x, &audit_head_lock, NULL, &r);
        if (rc) return rc;
        if (PQntuples(r) != 1) {
            PQclear(r);
            return sg_errf(x->err, x->errlen, SG_EINTERNAL, "audit_head_lock: chain head missing");
        }
        row.audit_id = g_ll(r, 0, 0) + 1;
        g_copy(row.prev_hash, sizeof row.prev_hash, r, 0, 1);
        PQclear(r);
    }
    if (store_audit_hash(&row, row.hash))
        return sg_errf(x->err, x->errlen, SG_EINTERNAL, "audit: hashing failed");
    struct params p;
    p_init(&p);
    p_ll(&p, row.audit_id);
    p_str(&p, row.event_type);
    p_str(&p, row.entity_type);
    p_opt(&p, row.entity_id);
    p_str(&p, row.action);
    p_str(&p, row.user_id);
    p_raw(&p, row.changes);
    p_opt(&p, row.ip_address);
    p_str(&p, row.timestamp);
    p_str(&p, row.prev_hash);
    p_str(&p, row.hash);
    rc = px_exec(x, &audit_append, &p, NULL);
    if (rc) return rc;
    x->head_valid = 1; /* locked by the FOR UPDATE above (or earlier) in this transaction */
    x->head_id = row.audit_id;
    memcpy(x->head_hash, row.hash, sizeof x->head_hash);
    return SG_OK;
}

/* Audit with store_json_kv changes built from n key/value pairs. */
static int px_audit_kv(struct px *x, const struct store_actor *a, const char *event_type,
                       const char *entity_type, const char *entity_id, const char *action,
                       size_t n, const char *const *keys, const char *const *vals, const char *now)
{
    char *changes = store_json_kv(n, keys, vals);
    if (!changes) return sg_errf(x->err, x->errlen, SG_ENOMEM, "audit: out of memory");
    int rc = px_audit(x, a, event_type, entity_type, entity_id, action, changes, now);
    free(changes);
    return rc;
}

/* An audited read of member-level data: its access row is appended through the group commit
 * (store_group.h), so concurrent audited reads share one transaction and one WAL flush. The
 * caller's connection is released first: a waiting operation holds no connection. */
struct audit_read_arg {
    const struct store_actor *a;
    const char *entity_type, *entity_id, *action, *now;
};

static int audit_read_body(void *conn, void *arg, char *err, size_t errlen)
{
    struct audit_read_arg *r = arg;
    return px_audit(gx_conn(conn, err, errlen), r->a, "data_access", r->entity_type, r->entity_id,
                    r->action, NULL, r->now);
}

static int audit_read(struct px *x, const struct store_actor *a, const char *entity_type,
                      const char *entity_id, const char *action, const char *now)
{
    px_close(x);
    if (!a) return SG_OK;
    struct audit_read_arg r = {a, entity_type, entity_id, action, now};
    return store_group_run(&x->s->group, audit_read_body, &r, x->err, x->errlen);
}

/* ---- members ---- */

#define MEMBER_COLS                                                                            \
    "member_hash, contract_id, first_seen, last_updated, total_predictions, active, birth_year," \
    " sex, dual_eligible, lis, disabled, created_at, updated_at"

static void row_member(const PGresult *r, int i, struct store_member *m)
{
    memset(m, 0, sizeof *m);
    g_copy(m->member_hash, sizeof m->member_hash, r, i, 0);
    g_copy(m->contract_id, sizeof m->contract_id, r, i, 1);
    g_ts(m->first_seen, r, i, 2);
    g_ts(m->last_updated, r, i, 3);
    m->total_predictions = (long)g_ll(r, i, 4);
    m->active = g_bool(r, i, 5);
    m->birth_year = g_int(r, i, 6);
    enum store_sex sex = STORE_SEX_UNKNOWN;
    if (!g_null(r, i, 7) && store_sex_parse(g_str(r, i, 7), &sex)) sex = STORE_SEX_UNKNOWN;
    m->sex = sex;
    m->dual_eligible = g_tri(r, i, 8);
    m->lis = g_tri(r, i, 9);
    m->disabled = g_tri(r, i, 10);
    g_ts(m->created_at, r, i, 11);
    g_ts(m->updated_at, r, i, 12);
}

STMT(member_insert, 9,
     "INSERT INTO members (member_hash, contract_id, first_seen, last_updated, active, birth_year,"
     " sex, dual_eligible, lis, disabled) VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9)"
     " ON CONFLICT (member_hash) DO NOTHING RETURNING " MEMBER_COLS);
STMT(member_get, 1, "SELECT " MEMBER_COLS " FROM members WHERE member_hash = $1");
STMT(member_exists, 1, "SELECT 1 FROM members WHERE member_hash = $1");
STMT(member_activity, 3,
     "WITH b AS (SELECT active FROM members WHERE member_hash = $1 FOR UPDATE)"
     " UPDATE members m SET active = $2, last_updated = $3, updated_at = $3 FROM b"
     " WHERE m.member_hash = $1"
     " RETURNING b.active");

static void member_params(struct params *p, const struct store_member *m, const char *now)
{
    p_init(p);
    p_str(p, m->member_hash);
    p_str(p, m->contract_id);
    p_str(p, now);
    p_bool(p, m->active);
    if (m->birth_year > 0) p_ll(p, m->birth_year);
    else p_raw(p, NULL);
    const char *sx = store_sex_name(m->sex);
    p_opt(p, m->sex == STORE_SEX_UNKNOWN ? NULL : sx);
    p_tri(p, m->dual_eligible);
    p_tri(p, m->lis);
    p_tri(p, m->disabled);
}

/* Inserts m unless it exists; *created says whether it did. *out (may be NULL) gets the row. */
static int member_insert_tx(struct px *x, const struct store_actor *a, const struct store_member *m,
                            const char *now, struct store_member *out, int *created)
{
    struct params p;
    PGresult *r;
    member_params(&p, m, now);
    *created = 0;
    int rc = px_exec(x, &member_insert, &p, &r);
    if (rc) return rc;
    if (PQntuples(r) == 1) {
        *created = 1;
        if (out) row_member(r, 0, out);
        PQclear(r);
        const char *k[] = {"member_hash", "contract_id"};
        const char *v[] = {m->member_hash, m->contract_id};
        return px_audit_kv(x, a, "data_change", "member", m->member_hash, "create", 2, k, v, now);
    }
    PQclear(r);
    if (!out) return SG_OK;
    p_init(&p);
    p_str(&p, m->member_hash);
    rc = px_exec(x, &member_get, &p, &r);
    if (rc) return rc;
    if (PQntuples(r) == 1) row_member(r, 0, out);
    else rc = sg_errf(x->err, x->errlen, SG_EINTERNAL, "member_get: member vanished");
    PQclear(r);
    return rc;
}

/* member create / get_or_create as group-commit bodies (store_group.h). */
struct member_arg {
    const struct store_actor *a;
    const struct store_member *m;
    const char *now;
    int must_create;
    struct store_member out;
    int created;
};

static int member_body(void *conn, void *arg, char *err, size_t errlen)
{
    struct member_arg *ma = arg;
    struct px *x = gx_conn(conn, err, errlen);
    int rc = member_insert_tx(x, ma->a, ma->m, ma->now, &ma->out, &ma->created);
    if (!rc && ma->must_create && !ma->created)
        rc = sg_errf(err, errlen, SG_ECONFLICT, "member_hash: member exists");
    return rc;
}

static int pg_member_create(struct store *st, const struct store_actor *a,
                            const struct store_member *m, const char *now, char *err, size_t errlen)
{
    struct member_arg ma = {.a = a, .m = m, .now = now, .must_create = 1};
    return store_group_run(&S(st)->group, member_body, &ma, err, errlen);
}

static int pg_member_get(struct store *st, const char *member_hash, struct store_member *out,
                         char *err, size_t errlen)
{
    struct px x;
    struct params p;
    PGresult *r = NULL;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_str(&p, member_hash);
    rc = px_exec(&x, &member_get, &p, &r);
    if (!rc) {
        if (PQntuples(r) == 1) row_member(r, 0, out);
        else rc = sg_errf(err, errlen, SG_ENOTFOUND, "member_hash: no such member");
    }
    PQclear(r);
    px_close(&x);
    return rc;
}

static int pg_member_get_or_create(struct store *st, const struct store_actor *a,
                                   const struct store_member *m, const char *now,
                                   struct store_member *out, int *created, char *err,
                                   size_t errlen)
{
    struct member_arg ma = {.a = a, .m = m, .now = now};
    memset(out, 0, sizeof *out);
    if (created) *created = 0;
    int rc = store_group_run(&S(st)->group, member_body, &ma, err, errlen);
    if (!rc) {
        *out = ma.out;
        if (created) *created = ma.created;
    }
    return rc;
}

struct activity_arg {
    const struct store_actor *a;
    const char *member_hash;
    int active;
    const char *now;
};

static int activity_body(void *conn, void *arg, char *err, size_t errlen)
{
    struct activity_arg *aa = arg;
    struct px *x = gx_conn(conn, err, errlen);
    const struct store_actor *a = aa->a;
    const char *member_hash = aa->member_hash, *now = aa->now;
    int active = aa->active;
    struct params p;
    PGresult *r = NULL;
    p_init(&p);
    p_str(&p, member_hash);
    p_bool(&p, active);
    p_str(&p, now);
    int rc = px_exec(x, &member_activity, &p, &r);
    if (!rc && PQntuples(r) != 1) rc = sg_errf(err, errlen, SG_ENOTFOUND, "member: not found");
    int was = rc ? 0 : g_bool(r, 0, 0);
    PQclear(r);
    if (!rc) {
        char json[96];
        snprintf(json, sizeof json, "{\"before\":{\"active\":%d},\"after\":{\"active\":%d}}", was,
                 active ? 1 : 0);
        rc = px_audit(x, a, "data_change", "member", member_hash, "update", json, now);
    }
    return rc;
}

static int pg_member_update_activity(struct store *st, const struct store_actor *a,
                                     const char *member_hash, int active, const char *now,
                                     char *err, size_t errlen)
{
    struct activity_arg aa = {a, member_hash, active, now};
    return store_group_run(&S(st)->group, activity_body, &aa, err, errlen);
}

/* ---- COPY helpers ---- */

/* Appends s to b escaped for COPY's text format ("\N" for NULL). */
static int copy_field(struct sg_buf *b, const char *s, int last)
{
    int rc = SG_OK;
    if (!s) {
        rc = sg_buf_append(b, "\\N", 2);
    } else {
        const char *run = s;
        for (const char *q = s;; q++) {
            char c = *q;
            const char *esc = NULL;
            if (c == '\\') esc = "\\\\";
            else if (c == '\t') esc = "\\t";
            else if (c == '\n') esc = "\\n";
            else if (c == '\r') esc = "\\r";
            if (esc || !c) {
                if (q > run && (rc = sg_buf_append(b, run, (size_t)(q - run)))) return rc;
                if (!c) break;
                if ((rc = sg_buf_puts(b, esc))) return rc;
                run = q + 1;
            }
        }
    }
    if (!rc) rc = sg_buf_append(b, last ? "\n" : "\t", 1);
    return rc;
}

static int copy_num(struct sg_buf *b, double x, int last)
{
    char t[NUMLEN];
    if (isnan(x)) return copy_field(b, NULL, last);
    snprintf(t, sizeof t, "%.17g", x);
    return copy_field(b, t, last);
}

static int copy_ll(struct sg_buf *b, long long x, int last)
{
    char t[NUMLEN];
    snprintf(t, sizeof t, "%lld", x);
    return copy_field(b, t, last);
}

#define COPY_CHUNK (1 << 20)

/* Starts COPY `sql` (a constant statement) on x's connection. */
static int copy_start(struct px *x, const char *what, const char *sql)
{
    PGresult *r = PQexec(x->pg, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        int rc = px_fail(x, what, r);
        PQclear(r);
        return rc;
    }
    PQclear(r);
    return SG_OK;
}

/* Sends the buffered rows once the buffer holds a chunk (or always when force). */
static int copy_flush(struct px *x, const char *what, struct sg_buf *b, int force)
{
    if (b->len == 0 || (!force && b->len < COPY_CHUNK)) return SG_OK;
    /* in slices of at most COPY_CHUNK: a pre-encoded batch (the prediction COPY) can hold
     * hundreds of megabytes, which libpq would otherwise copy into its own buffer at once */
    for (size_t off = 0; off < b->len;) {
        size_t len = b->len - off < COPY_CHUNK ? b->len - off : COPY_CHUNK;
        if (PQputCopyData(x->pg, b->data + off, (int)len) != 1) {
            x->broken = PQstatus(x->pg) == CONNECTION_BAD;
            return sg_errf(x->err, x->errlen, SG_EDB, "%s: sending COPY data failed", what);
        }
        off += len;
    }
    sg_buf_reset(b);
    return SG_OK;
}

/* Ends COPY: sends the rest (or aborts when `abort_msg`) and collects the server's verdict. */
static int copy_end(struct px *x, const char *what, struct sg_buf *b, const char *abort_msg)
{
    int rc = SG_OK;
    if (!abort_msg) rc = copy_flush(x, what, b, 1);
    if (PQputCopyEnd(x->pg, (abort_msg || rc) ? "aborted by client" : NULL) != 1) {
        x->broken = 1;
        return rc ? rc : sg_errf(x->err, x->errlen, SG_EDB, "%s: ending COPY failed", what);
    }
    PGresult *r;
    while ((r = PQgetResult(x->pg))) {
        if (!rc && !abort_msg && PQresultStatus(r) != PGRES_COMMAND_OK) rc = px_fail(x, what, r);
        PQclear(r);
    }
    return rc;
}

/* ---- binary COPY (predictions) ----
 *
 * The prediction batch uses COPY's binary format: each field is a 32-bit length (-1 = NULL) and
 * the type's binary form, so the server parses no numbers, timestamps or UUIDs from text and the
 * client formats none (a million rows cost the server about 0.8 s less CPU than the text
 * format). The forms used: uuid = 16 bytes; text = its bytes (the server still checks UTF-8);
 * int4 / float8 = big-endian integer / IEEE double; timestamptz = int64 microseconds since
 * 2000-01-01 00:00 UTC; json (shap_values, top_features: json since migration 0004) = the JSON
 * text, which the server validates as it does for text COPY. */

static const char copy_bin_header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";

static void be16(uint8_t *o, uint16_t v)
{
    o[0] = (uint8_t)(v >> 8);
    o[1] = (uint8_t)v;
}

static void be32(uint8_t *o, uint32_t v)
{
    for (int i = 0; i < 4; i++) o[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void be64(uint8_t *o, uint64_t v)
{
    for (int i = 0; i < 8; i++) o[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* A text-like field: the bytes of s, or NULL when s is NULL. */
static int bin_field(struct sg_buf *b, const char *s)
{
    uint8_t len[4];
    if (!s) {
        be32(len, 0xffffffffu);
        return sg_buf_append(b, len, 4);
    }
    size_t n = strlen(s);
    if (n > 0x3fffffff) return SG_ETOOBIG; /* the server's 1 GB field limit */
    be32(len, (uint32_t)n);
    int rc = sg_buf_append(b, len, 4);
    if (!rc) rc = sg_buf_append(b, s, n);
    return rc;
}

static uint8_t *bin_fixed(uint8_t *o, size_t n)
{
    be32(o, (uint32_t)n);
    return o + 4;
}

static uint8_t *bin_null(uint8_t *o)
{
    be32(o, 0xffffffffu);
    return o + 4;
}

static uint8_t *bin_f8(uint8_t *o, double x)
{
    if (isnan(x)) return bin_null(o);
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    be64(bin_fixed(o, 8), u);
    return o + 12;
}

/* "8-4-4-4-12" hex -> 16 bytes; -1 when s is not such a UUID. */
static int uuid_bytes(const char *s, uint8_t out[16])
{
    int k = 0;
    for (const char *q = s; *q; q++) {
        if (*q == '-') continue;
        int v = isdigit((unsigned char)*q) ? *q - '0'
              : (*q >= 'a' && *q <= 'f') ? *q - 'a' + 10
              : (*q >= 'A' && *q <= 'F') ? *q - 'A' + 10 : -1;
        if (v < 0 || k >= 32) return -1;
        out[k / 2] = (uint8_t)(k % 2 ? (out[k / 2] | v) : (v << 4));
        k++;
    }
    return k == 32 ? 0 : -1;
}

static int dig(const char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) v = v * 10 + (p[i] - '0');
    return v;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's
 * days_from_civil; a dozen integer operations instead of a timegm call per row). */
static long long days_from_civil(long long y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* store.h's canonical "YYYY-MM-DDTHH:MM:SS.ffffffZ" (store.c normalizes every timestamp it
 * accepts to that shape) -> microseconds since 2000-01-01 UTC; -1 when ts has another shape.
 * A leap second (SS = 60) becomes the next minute's first second, as the server's text input
 * does. */
static int ts_pg_micros(const char *ts, int64_t *out)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    for (int i = 0; i < 27; i++)
        if (shape[i] == 'd' ? !isdigit((unsigned char)ts[i]) : ts[i] != shape[i]) return -1;
    if (ts[27]) return -1;
    long long days = days_from_civil(dig(ts, 4), dig(ts + 5, 2), dig(ts + 8, 2)) - 10957;
    long long secs = days * 86400 + dig(ts + 11, 2) * 3600 + dig(ts + 14, 2) * 60 + dig(ts + 17, 2);
    *out = (int64_t)(secs * 1000000 + dig(ts + 20, 6));
    return 0;
}

/* Appends one prediction as a binary COPY tuple of the 12 columns of predictions_copy. */
static int bin_prediction(struct sg_buf *b, const struct store_prediction *p, int64_t now_us)
{
    uint8_t fixed[2 + 4 + 16];
    uint8_t uid[16];
    int64_t us = now_us;
    if (uuid_bytes(p->prediction_id, uid) ||
        (p->prediction_date[0] && ts_pg_micros(p->prediction_date, &us)))
        return SG_EINVAL;
    be16(fixed, 13);
    memcpy(bin_fixed(fixed + 2, 16), uid, 16);
    int rc = sg_buf_append(b, fixed, sizeof fixed);
    if (!rc) rc = bin_field(b, p->member_hash);
    if (!rc) rc = bin_field(b, p->measure_code);
    uint8_t nums[24]; /* the largest use: two timestamp fields of 12 bytes */
    if (!rc) {
        be32(bin_fixed(nums, 4), (uint32_t)p->measurement_year);
        uint8_t *o = bin_f8(nums + 8, p->gap_probability);
        rc = sg_buf_append(b, nums, (size_t)(o - nums));
    }
    if (!rc) rc = bin_field(b, store_risk_tier_name(p->risk_tier));
    if (!rc) {
        uint8_t *o = bin_f8(nums, p->risk_score);
        rc = sg_buf_append(b, nums, (size_t)(o - nums));
    }
    if (!rc) rc = bin_field(b, p->shap_values);
    if (!rc) rc = bin_field(b, p->top_features);
    if (!rc) rc = bin_field(b, p->recommendation[0] ? p->recommendation : NULL);
    if (!rc) rc = bin_field(b, p->model_version);
    if (!rc) { /* prediction_date, then created_at: the batch's time (see the COPY below) */
        be64(bin_fixed(nums, 8), (uint64_t)us);
        be64(bin_fixed(nums + 12, 8), (uint64_t)now_us);
        rc = sg_buf_append(b, nums, 24);
    }
    return rc;
}

/* ---- predictions ---- */

#define PRED_COLS                                                                              \
    "prediction_id, member_hash, measure_code, measurement_year, gap_probability, risk_tier,"   \
    " risk_score, shap_values, top_features, recommendation, model_version, prediction_date,"   \
    " created_at"

static int row_prediction(const PGresult *r, int i, struct store_prediction *p)
{
    int oom = 0;
    memset(p, 0, sizeof *p);
    g_copy(p->prediction_id, sizeof p->prediction_id, r, i, 0);
    g_copy(p->member_hash, sizeof p->member_hash, r, i, 1);
    g_copy(p->measure_code, sizeof p->measure_code, r, i, 2);
    p->measurement_year = g_int(r, i, 3);
    p->gap_probability = g_dbl(r, i, 4);
    enum store_risk_tier t = STORE_TIER_LOW;
    if (store_risk_tier_parse(g_str(r, i, 5), &t)) t = STORE_TIER_LOW;
    p->risk_tier = t;
    p->risk_score = g_dbl(r, i, 6);
    p->shap_values = g_json(r, i, 7, &oom);
    p->top_features = g_json(r, i, 8, &oom);
    g_copy(p->recommendation, sizeof p->recommendation, r, i, 9);
    g_copy(p->model_version, sizeof p->model_version, r, i, 10);
    g_ts(p->prediction_date, r, i, 11);
    g_ts(p->created_at, r, i, 12);
    return oom ? SG_ENOMEM : SG_OK;
}

/* Counts rows per member (open addressing over borrowed member_hash pointers) so the members'
 * total_predictions can be bumped with one statement per batch. */
struct member_count {
    const char *hash;
    long long n;
};

static uint64_t hex_key(const char *h)
{
    uint64_t k = 0;
    for (int i = 0; i < 16 && h[i]; i++) k = (k << 4) | (uint64_t)(isdigit((unsigned char)h[i]) ? h[i] - '0' : (h[i] | 32) - 'a' + 10);
    return k;
}

STMT(member_bump, 3,
     "UPDATE members m SET total_predictions = m.total_predictions + u.n, last_updated = $3,"
     " updated_at = $3"
     " FROM unnest($1::text[], $2::bigint[]) AS u(h, n) WHERE m.member_hash = u.h");

/* The member hash of row i of a batch (predictions or measure results). */
typedef const char *(*member_at_fn)(const void *rows, size_t i);
static const char *pred_member(const void *rows, size_t i)
{
    return ((const struct store_prediction *)rows)[i].member_hash;
}
static const char *mr_member(const void *rows, size_t i)
{
    return ((const struct store_measure_result *)rows)[i].member_hash;
}

/* The distinct members of a batch with their row counts, as two text[]/bigint[] literals. */
struct member_set {
    struct member_count *tab;
    size_t cap, distinct;
    struct sg_buf hashes, counts;
};

static void member_set_fini(struct member_set *m)
{
    free(m->tab);
    sg_buf_fini(&m->hashes);
    sg_buf_fini(&m->counts);
}

/* Finds h in the table: its slot, or the empty slot where it would go. */
static size_t member_slot(const struct member_set *m, const char *h)
{
    size_t j = (size_t)hex_key(h) & (m->cap - 1);
    while (m->tab[j].hash && strcmp(m->tab[j].hash, h)) j = (j + 1) & (m->cap - 1);
    return j;
}

static int member_set_build(struct px *x, const void *rows, size_t n, member_at_fn at,
                            struct member_set *m)
{
    memset(m, 0, sizeof *m);
    sg_buf_init(&m->hashes, (size_t)1 << 31);
    sg_buf_init(&m->counts, (size_t)1 << 31);
    m->cap = 16;
    while (m->cap < n * 2) m->cap <<= 1;
    m->tab = calloc(m->cap, sizeof *m->tab);
    if (!m->tab) return sg_errf(x->err, x->errlen, SG_ENOMEM, "batch: out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *h = at(rows, i);
        size_t j = member_slot(m, h);
        if (!m->tab[j].hash) {
            m->tab[j].hash = h;
            m->distinct++;
        }
        m->tab[j].n++;
    }
    int rc = sg_buf_puts(&m->hashes, "{");
    if (!rc) rc = sg_buf_puts(&m->counts, "{");
    size_t k = 0;
    for (size_t j = 0; j < m->cap && !rc; j++) {
        if (!m->tab[j].hash) continue;
        const char *sep = k++ ? "," : "";
        rc = sg_buf_printf(&m->hashes, "%s%s", sep, m->tab[j].hash); /* validated hex: no quoting */
        if (!rc) rc = sg_buf_printf(&m->counts, "%s%lld", sep, m->tab[j].n);
    }
    if (!rc) rc = sg_buf_puts(&m->hashes, "}");
    if (!rc) rc = sg_buf_puts(&m->counts, "}");
    if (rc) return sg_errf(x->err, x->errlen, rc, "batch: too many members");
    return SG_OK;
}

STMT(members_missing, 1,
     "SELECT u.h FROM unnest($1::text[]) AS u(h)"
     " WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.member_hash = u.h)");

/* Fails with "rows[i].member_hash: no such member" for the first row (in the caller's order)
 * whose member does not exist, as the SQLite backend reports it; SG_OK when all exist. */
static int check_members(struct px *x, const void *rows, size_t n, member_at_fn at,
                         struct member_set *m)
{
    struct params p;
    PGresult *r;
    p_init(&p);
    p_raw(&p, sg_buf_str(&m->hashes));
    int rc = px_exec(x, &members_missing, &p, &r);
    if (rc) return rc;
    int nt = PQntuples(r);
    if (nt == 0) {
        PQclear(r);
        return SG_OK;
    }
    for (int i = 0; i < nt; i++) m->tab[member_slot(m, g_str(r, i, 0))].n = -1; /* mark missing */
    PQclear(r);
    for (size_t i = 0; i < n; i++)
        if (m->tab[member_slot(m, at(rows, i))].n < 0)
            return sg_errf(x->err, x->errlen, SG_EINVAL, "rows[%zu].member_hash: no such member", i);
    return sg_errf(x->err, x->errlen, SG_EINTERNAL, "members_missing: inconsistent answer");
}



/* ---- bulk writes: indexes and keys rebuilt instead of updated ----
 *
 * A batch that brings many rows relative to its table (a first load) drops the table's indexes
 * inside its transaction, writes its rows, and re-creates them before COMMIT: CREATE INDEX sorts
 * the entries once and writes each page once (in parallel workers when the server allows), where
 * row-by-row upkeep descends each b-tree and logs a WAL record per row and index.
 *
 * - A gap refresh whose new rows at least double gap_analysis (a year's first contracts in a
 *   first run) drops the secondary indexes only: those of pg_index that back no constraint and
 *   are not unique (gap_analysis' eleven partial list indexes, migration 0016, keyed on random
 *   values: priority, probability). Its PRIMARY KEY (which interventions reference), unique key and foreign key
 *   stay: the refresh's upsert needs its unique key in force.
 * - A prediction batch into a table that holds fewer rows than the batch (PG_BULK_PRED_SHARE) also
 *   drops the table's PRIMARY KEY, UNIQUE and FOREIGN KEY constraints (unless another table's
 *   foreign key references the key's index) and adds them again after the COPY: the unique keys
 *   are then checked by one sorted build each, and the foreign key by one anti-join of the
 *   table against members instead of a per-row trigger query (the RI check alone took 4 us a
 *   row, the two unique b-trees 2.7 us; docs/BENCHMARKS.md, "PostgreSQL prediction batch"). A
 *   duplicate makes ADD CONSTRAINT fail with 23505 as the COPY would have; the foreign key cannot
 *   fail there, because the batch has updated (and so row-locked) every member it names first.
 *
 * Everything is re-created from its own stored definition (pg_get_indexdef,
 * pg_get_constraintdef), so nothing here repeats the migrations and an index or constraint a
 * later migration adds is handled the same way. Column statistics survive DROP INDEX (only an
 * expression index's own statistics go, until the next ANALYZE).
 *
 * DDL is transactional on PostgreSQL: a batch that fails rolls the drops back with its rows, and
 * every index and constraint is as it was. The price is the locks: DROP takes ACCESS EXCLUSIVE
 * on the table until COMMIT, so every reader of it waits for the batch, and adding a foreign key
 * takes SHARE ROW EXCLUSIVE on the referenced table (members: writers of members wait, readers
 * do not). The locks are therefore taken only for such first loads, and only when they can be
 * had within PG_BULK_LOCK_TIMEOUT: when other sessions hold the tables (a long report, open
 * transactions), the batch takes the row-by-row path instead of queueing (and making every later
 * reader queue behind it). docs/DESIGN.md, "Storage: bulk writes on PostgreSQL". */

#define PG_BULK_MIN_ROWS 10000 /* smaller batches: a rebuild saves nothing measurable */
/* A gap refresh rebuilds when its new rows (the batch less the scope's gaps before it) at least
 * double the table. A rebuild costs about as much per row of the whole table as row-by-row upkeep
 * saves per new row times 0.45 (1,000,000 members: the six indexes took 21 us a new row in the
 * COPY, and their builds 9.3 us a row of the table), so it pays when the new rows are at least
 * about as many as the old ones. At 1,000,000 members the pipeline's first two contracts of a
 * year qualify (487,095 gaps into an empty table, then 633,885 into 487,095); the third
 * (341,689 into 1,120,980) would lose about 6 s, so SQLite's quarter (store_sqlite.c,
 * BULK_GAP_SHARE), where building an index is cheaper relative to upkeep, is not used here
 * (docs/BENCHMARKS.md, "PostgreSQL bulk path"). */
#define PG_BULK_GAP_SHARE 1
#define PG_BULK_LOCK_TIMEOUT "1s"

/* A prediction batch rebuilds when the table holds fewer rows than the batch (PG_BULK_PRED_SHARE
 * 1). Into an empty table with 100,000 members, the rebuild (both unique builds and the foreign
 * key's anti-join) took 1.6-1.9 s per 1,000,000 rows and the upkeep it replaces about 11 s
 * (server-side COPY of the same rows with and without the keys), which would pay up to a table
 * of five times the batch. But the foreign key's check scans members whole, whatever the batch:
 * in the 1,000,000-member pipeline (batches of 30,000-260,000 predictions) a batch into a table
 * of twice its rows took as long per row with the rebuild as without it (CBP: 176,096 rows
 * into 382,486, 25.5 us a row; BCS, 121,975 into an empty table, 24.6 us; KED without: 23 us),
 * while COL, 260,511 into 121,975, gained a quarter (19 us). So only a batch bigger than the
 * table rebuilds. */
#define PG_BULK_PRED_SHARE 1

struct pg_bulk {
    size_t n;
    char **def; /* the dropped objects' CREATE / ADD CONSTRAINT statements (malloc'd), in order */
};

static void pg_bulk_fini(struct pg_bulk *b)
{
    for (size_t i = 0; i < b->n; i++) free(b->def[i]);
    free(b->def);
    memset(b, 0, sizeof *b);
}

/* What a bulk batch drops of table $1, in the order to re-create it: the secondary indexes, then
 * (when $2) the PRIMARY KEY and UNIQUE constraints that no foreign key references, then the
 * table's FOREIGN KEY constraints. Each row: the DROP statement and the re-create statement. */
STMT(bulk_objects, 2,
     "SELECT d, c FROM ("
     " SELECT 0 AS o, c.relname AS nm, format('DROP INDEX %I.%I', n.nspname, c.relname) AS d,"
     " pg_get_indexdef(i.indexrelid) AS c"
     " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
     " JOIN pg_namespace n ON n.oid = c.relnamespace"
     " WHERE i.indrelid = $1::regclass AND NOT i.indisunique AND NOT i.indisprimary"
     " AND i.indisvalid AND i.indisready AND i.indislive"
     " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
     " UNION ALL"
     " SELECT CASE k.contype WHEN 'f' THEN 2 ELSE 1 END, k.conname,"
     " format('ALTER TABLE %s DROP CONSTRAINT %I', $1::regclass, k.conname),"
     " format('ALTER TABLE %s ADD CONSTRAINT %I %s', $1::regclass, k.conname,"
     " pg_get_constraintdef(k.oid))"
     " FROM pg_constraint k WHERE $2 AND k.conrelid = $1::regclass AND k.contype IN ('p', 'u', 'f')"
     " AND NOT EXISTS (SELECT 1 FROM pg_constraint r WHERE r.contype = 'f'"
     " AND r.confrelid = k.conrelid AND r.conindid = k.conindid)"
     ") t ORDER BY o, nm");
/* The scope's gaps of any status before the batch (gap_counts holds the exact totals). */
STMT(bulk_scope_gaps, 2,
     "SELECT coalesce(sum(n), 0) FROM gap_counts WHERE measurement_year = $1"
     " AND ($2::text IS NULL OR contract_id = $2)");
/* Whether gap_analysis holds fewer than $1 rows (reads at most $1). */
STMT(bulk_gaps_below, 1,
     "SELECT count(*) < $1 FROM (SELECT 1 FROM gap_analysis LIMIT $1) t");
/* Whether predictions holds fewer than $1 rows (reads at most $1). */
STMT(bulk_predictions_below, 1,
     "SELECT count(*) < $1 FROM (SELECT 1 FROM predictions LIMIT $1) t");

/* Runs the LOCK TABLE statements `locks` within PG_BULK_LOCK_TIMEOUT, under a savepoint. Returns
 * 0 (held), 1 (not had in time: rolled back to the savepoint, nothing changed) or a negative
 * sg_err. locks is a constant of this file. */
static int pg_bulk_lock(struct px *x, const char *locks)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SAVEPOINT sg_bulk; SET LOCAL lock_timeout = '" PG_BULK_LOCK_TIMEOUT "';"
             " %s; SET LOCAL lock_timeout TO DEFAULT; RELEASE SAVEPOINT sg_bulk",
             locks);
    PGresult *r = PQexec(x->pg, sql);
    if (PQresultStatus(r) == PGRES_COMMAND_OK) {
        PQclear(r);
        return SG_OK;
    }
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (state && !strcmp(state, "55P03") && PQstatus(x->pg) != CONNECTION_BAD) {
        PQclear(r);
        int rc = px_cmd(x, "ROLLBACK TO SAVEPOINT sg_bulk; RELEASE SAVEPOINT sg_bulk");
        return rc ? rc : 1;
    }
    int rc = px_fail(x, "bulk_lock", r);
    PQclear(r);
    return rc;
}

/* Takes `locks` (see pg_bulk_lock), then drops table's secondary indexes and, when keys is set,
 * its keys (bulk_objects; inside the caller's transaction), keeping their definitions in b for
 * pg_bulk_restore. When the locks cannot be had in time, drops nothing (b->n 0). table and locks
 * are constants of this file. */
static int pg_bulk_drop(struct px *x, struct pg_bulk *b, const char *table, const char *locks,
                        int keys)
{
    memset(b, 0, sizeof *b);
    int rc = pg_bulk_lock(x, locks);
    if (rc) return rc < 0 ? rc : SG_OK;
    struct params p;
    PGresult *r = NULL;
    p_init(&p);
    p_str(&p, table);
    p_str(&p, keys ? "t" : "f");
    if ((rc = px_exec(x, &bulk_objects, &p, &r))) return rc;
    int nt = PQntuples(r);
    struct sg_buf drop;
    sg_buf_init(&drop, 1 << 16);
    b->def = nt ? calloc((size_t)nt, sizeof *b->def) : NULL;
    if (nt && !b->def) rc = sg_errf(x->err, x->errlen, SG_ENOMEM, "out of memory");
    for (int i = 0; i < nt && !rc; i++) {
        if (!(b->def[i] = strdup(g_str(r, i, 1))))
            rc = sg_errf(x->err, x->errlen, SG_ENOMEM, "out of memory");
        else
            b->n++;
        if (!rc && (sg_buf_puts(&drop, g_str(r, i, 0)) || sg_buf_puts(&drop, ";")))
            rc = sg_errf(x->err, x->errlen, SG_ENOMEM, "out of memory");
    }
    PQclear(r);
    if (!rc && b->n) rc = px_cmd(x, sg_buf_str(&drop));
    sg_buf_fini(&drop);
    if (rc) pg_bulk_fini(b);
    return rc;
}

/* Re-creates what pg_bulk_drop dropped (same transaction), in order, and forgets it. A unique
 * key that the new rows break fails here with SG_ECONFLICT (23505). The builds sort every entry
 * of the table; maintenance_work_mem (64 MB by default, shared by a parallel build's workers) is
 * raised for the rest of the transaction to pg_bulk_maintenance_mb so that the sort of a big
 * table's index (1.46 million gaps: ~70 MB of entries per index) stays in memory instead of
 * spilling to temporary files and merging them. */
static int pg_bulk_restore(struct px *x, struct pg_bulk *b)
{
    char set[96];
    snprintf(set, sizeof set, "SET LOCAL maintenance_work_mem = '%ldMB'", x->s->bulk_maint_mb);
    int rc = b->n ? px_cmd(x, set) : SG_OK;
    for (size_t i = 0; i < b->n && !rc; i++) rc = px_cmd(x, b->def[i]);
    pg_bulk_fini(b);
    return rc;
}

/* Sends (without waiting: bump_members_finish collects it) the UPDATE ... FROM unnest that adds
 * each member's row count to total_predictions and stamps last_updated, over the batch's members
 * in hash order (rows are walked in `order`, which groups each member's rows): member_hash order
 * makes the update walk members' primary key and heap in order, and building the arrays from the
 * sorted rows needs no hash table. The rows are not checked yet (struct store_check): returns 1,
 * having sent nothing, when a member_hash is not 64 hex digits (the checks then name it); the
 * hashes go into the array literal unquoted only once they are known to be hex. *distinct
 * receives the number of members. */
static int bump_members_send(struct px *x, const struct store_prediction *rows, size_t n,
                             const uint32_t *order, const char *now, size_t *distinct)
{
    struct sg_buf hashes, counts;
    sg_buf_init(&hashes, (size_t)1 << 31);
    sg_buf_init(&counts, (size_t)1 << 31);
    *distinct = 0;
    int rc = sg_buf_puts(&hashes, "{");
    if (!rc) rc = sg_buf_puts(&counts, "{");
    for (size_t i = 0; i < n && !rc;) {
        const char *h = rows[order[i]].member_hash;
        if (!sg_is_hex64(h)) {
            rc = 1;
            break;
        }
        size_t j = i + 1;
        while (j < n && !strncmp(rows[order[j]].member_hash, h, STORE_HASH_LEN)) j++;
        const char *sep = (*distinct)++ ? "," : "";
        rc = sg_buf_printf(&hashes, "%s%s", sep, h);
        if (!rc) rc = sg_buf_printf(&counts, "%s%zu", sep, j - i);
        i = j;
    }
    if (!rc) rc = sg_buf_puts(&hashes, "}");
    if (!rc) rc = sg_buf_puts(&counts, "}");
    if (rc < 0) rc = sg_errf(x->err, x->errlen, rc, "batch: too many members");
    if (!rc) {
        struct params p;
        p_init(&p);
        p_raw(&p, sg_buf_str(&hashes));
        p_raw(&p, sg_buf_str(&counts));
        p_str(&p, now);
        rc = px_send(x, &member_bump, &p);
    }
    sg_buf_fini(&hashes);
    sg_buf_fini(&counts);
    return rc;
}

/* Collects the answer of bump_members_send's UPDATE. The missing-member check only runs when the
 * UPDATE touched fewer members than the batch names (the failure path; the rows are checked by
 * then), so a good batch costs one statement. */
static int bump_members_finish(struct px *x, const struct store_prediction *rows, size_t n,
                               size_t distinct)
{
    PGresult *r = NULL;
    int rc = px_wait(x, &member_bump, &r);
    if (rc) return rc;
    size_t updated = (size_t)strtoull(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    if (updated == distinct) return SG_OK;
    /* Some member does not exist: name the first such row in the caller's order. */
    struct member_set m;
    rc = member_set_build(x, rows, n, pred_member, &m);
    if (!rc) rc = check_members(x, rows, n, pred_member, &m);
    member_set_fini(&m);
    return rc ? rc : sg_errf(x->err, x->errlen, SG_EINTERNAL, "member_bump: %zu of %zu members updated",
                             updated, distinct);
}

/* Appends s as a quoted element of an array literal. */
static int arr_elem(struct sg_buf *b, const char *s, int first)
{
    int rc = sg_buf_puts(b, first ? "\"" : ",\"");
    for (const char *q = s; *q && !rc; q++) {
        if (*q == '"' || *q == '\\') rc = sg_buf_append(b, "\\", 1);
        if (!rc) rc = sg_buf_append(b, q, 1);
    }
    if (!rc) rc = sg_buf_puts(b, "\"");
    return rc;
}

STMT(prediction_conflicts, 5,
     "SELECT min(u.o) FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::uuid[])"
     " WITH ORDINALITY AS u(h, c, y, v, id, o) WHERE EXISTS (SELECT 1 FROM predictions p"
     " WHERE (p.member_hash = u.h AND p.measure_code = u.c AND p.measurement_year = u.y"
     " AND p.model_version = u.v) OR p.prediction_id = u.id)");

/* After a unique violation of COPY (which does not say which row): the first row, in the caller's
 * order, that repeats an earlier row's key or id, or collides with a stored prediction. Runs on
 * the connection after ROLLBACK. *row = n when none is found. */
static int find_duplicate_row(struct px *x, const struct store_prediction *rows, size_t n,
                              size_t *row)
{
    *row = n;
    struct sg_buf a[5], key;
    for (int i = 0; i < 5; i++) sg_buf_init(&a[i], (size_t)1 << 31);
    sg_buf_init(&key, 4 * STORE_NAME_LEN);
    size_t cap = 16;
    while (cap < n * 4) cap <<= 1;
    char **seen = calloc(cap, sizeof *seen);
    int rc = seen ? SG_OK : SG_ENOMEM;
    for (size_t i = 0; i < n && !rc && *row == n; i++) {
        const struct store_prediction *p = &rows[i];
        for (int pass = 0; pass < 2 && !rc && *row == n; pass++) {
            sg_buf_reset(&key);
            rc = pass ? sg_buf_printf(&key, "id|%s", p->prediction_id)
                      : sg_buf_printf(&key, "k|%s|%s|%d|%s", p->member_hash, p->measure_code,
                                      p->measurement_year, p->model_version);
            if (rc) break;
            const char *ks = sg_buf_str(&key);
            size_t j = 0;
            for (const char *q = ks; *q; q++) j = j * 31 + (unsigned char)*q;
            j &= cap - 1;
            while (seen[j] && strcmp(seen[j], ks)) j = (j + 1) & (cap - 1);
            if (seen[j]) *row = i;
            else if (!(seen[j] = strdup(ks))) rc = SG_ENOMEM;
        }
    }
    for (size_t j = 0; seen && j < cap; j++) free(seen[j]);
    free(seen);
    size_t limit = *row; /* only rows before an in-batch duplicate can fail earlier */
    for (int i = 0; i < 5 && !rc; i++) rc = sg_buf_puts(&a[i], "{");
    for (size_t i = 0; i < limit && !rc; i++) {
        char y[16];
        snprintf(y, sizeof y, "%d", rows[i].measurement_year);
        rc = arr_elem(&a[0], rows[i].member_hash, i == 0);
        if (!rc) rc = arr_elem(&a[1], rows[i].measure_code, i == 0);
        if (!rc) rc = arr_elem(&a[2], y, i == 0);
        if (!rc) rc = arr_elem(&a[3], rows[i].model_version, i == 0);
        if (!rc) rc = arr_elem(&a[4], rows[i].prediction_id, i == 0);
    }
    for (int i = 0; i < 5 && !rc; i++) rc = sg_buf_puts(&a[i], "}");
    if (rc) {
        rc = sg_errf(x->err, x->errlen, rc, "predictions: out of memory while diagnosing");
    } else if (limit > 0) {
        struct params p;
        PGresult *r;
        p_init(&p);
        for (int i = 0; i < 5; i++) p_raw(&p, sg_buf_str(&a[i]));
        rc = px_exec(x, &prediction_conflicts, &p, &r);
        if (!rc && !g_null(r, 0, 0)) *row = (size_t)(g_ll(r, 0, 0) - 1);
        if (!rc) PQclear(r);
    }
    for (int i = 0; i < 5; i++) sg_buf_fini(&a[i]);
    sg_buf_fini(&key);
    return rc;
}

/* Encodes row order[k] for the COPY into b, with the row named in err when it cannot be. */
static int enc_prediction(struct sg_buf *b, const struct store_prediction *rows,
                          const uint32_t *order, size_t k, int64_t now_us, char *err,
                          size_t errlen)
{
    int rc = bin_prediction(b, &rows[order[k]], now_us);
    if (rc == SG_ETOOBIG || rc == SG_ENOMEM)
        return sg_errf(err, errlen, rc, "rows[%u]: row too large for COPY", (unsigned)order[k]);
    if (rc == SG_EINVAL)
        return sg_errf(err, errlen, rc, "rows[%u]: prediction_id or prediction_date not in"
                       " store.h's canonical form", (unsigned)order[k]);
    return rc;
}

/* While the database runs the members' update, the client checks the rows (store_check_run) and
 * then encodes them for the COPY into b, up to PG_PRE_ENCODE bytes and only until the update's
 * answer is in (polled every PG_PRE_ENCODE_ROWS rows), so that the COPY that follows starts with
 * data in hand: a million rows of the benchmark's (280 MB encoded) then took the server 1.87 s
 * to copy instead of 2.5 s when each chunk was encoded between sends (docs/BENCHMARKS.md). The
 * cap bounds the memory (a batch holds at most a million rows). *k receives the number of rows
 * encoded. */
#define PG_PRE_ENCODE ((size_t)512 << 20)
#define PG_PRE_ENCODE_ROWS 4096
static int pre_encode(struct px *x, struct sg_buf *b, const struct store_prediction *rows,
                      size_t n, const uint32_t *order, int64_t now_us, size_t *k, char *err,
                      size_t errlen)
{
    *k = 0;
    int rc = sg_buf_append(b, copy_bin_header, sizeof copy_bin_header);
    while (!rc && *k < n && b->len < PG_PRE_ENCODE) {
        if (*k % PG_PRE_ENCODE_ROWS == 0 && (!PQconsumeInput(x->pg) || !PQisBusy(x->pg))) break;
        rc = enc_prediction(b, rows, order, (*k)++, now_us, err, errlen);
    }
    return rc;
}

/* Rows go in unique-key order (store.c assigned new ids in this order, so they ascend too): the
 * member-leading unique index, the primary key and the foreign key lookups then walk their
 * b-trees in order instead of jumping at random. The rows are checked (check) while the database
 * runs the batch's first statement, the members' counter update. */
static int pg_prediction_batch_create(struct store *st, const struct store_actor *a,
                                      const struct store_prediction *rows, size_t n,
                                      const uint32_t *order, const struct store_check *check,
                                      const char *now, char *err, size_t errlen)
{
    struct px x;
    struct sg_buf b;
    sg_buf_init(&b, PG_PRE_ENCODE + 2 * COPY_CHUNK + (1 << 20));
    double t0 = mono_ms();
    double t_check = t0, t_bump = t0;
    struct pg_bulk bulk;
    memset(&bulk, 0, sizeof bulk);
    size_t distinct = 0, k = 0, pre = 0;
    int64_t now_us = 0; /* the batch's time as COPY's binary timestamptz */
    int rc = px_open(S(st), &x, err, errlen);
    if (!rc) rc = px_begin(&x);
    if (!rc && n >= PG_BULK_MIN_ROWS) { /* a first load: keys rebuilt after the COPY */
        PGresult *r = NULL;
        struct params p;
        p_init(&p);
        p_ll(&p, (long long)n * PG_BULK_PRED_SHARE);
        int want = 0;
        if (!(rc = px_exec(&x, &bulk_predictions_below, &p, &r))) want = g_bool(r, 0, 0);
        PQclear(r);
        if (!rc && want)
            rc = pg_bulk_drop(&x, &bulk, "predictions",
                              "LOCK TABLE predictions IN ACCESS EXCLUSIVE MODE;"
                              " LOCK TABLE members IN SHARE ROW EXCLUSIVE MODE", 1);
    }
    /* Members first: a missing member is reported by row, before a million rows travel (and
     * the bulk path's foreign key, added again after the COPY, finds every member locked). The
     * update runs while the rows are checked and encoded. */
    int sent = 0;
    if (!rc) {
        rc = bump_members_send(&x, rows, n, order, now, &distinct);
        sent = rc == SG_OK;
        if (rc == 1) rc = SG_OK; /* a malformed member_hash: the checks below name it */
    }
    if (!rc) {
        rc = store_check_run(check, err, errlen);
        t_check = mono_ms();
        if (!rc && sent && ts_pg_micros(now, &now_us))
            rc = sg_errf(err, errlen, SG_EINTERNAL, "now: not in store.h's canonical form");
        if (!rc && sent) rc = pre_encode(&x, &b, rows, n, order, now_us, &k, err, errlen);
        pre = k;
        if (sent) {
            int brc = bump_members_finish(&x, rows, n, distinct);
            if (!rc) rc = brc;
        } else if (!rc) {
            rc = sg_errf(err, errlen, SG_EINTERNAL, "member_bump: a member_hash passed the checks"
                         " malformed");
        }
    }
    t_bump = mono_ms();
    /* created_at is sent (the batch's time, as the import's direct COPY does): left to its
     * clock_timestamp() default, a volatile default, COPY would insert row by row instead of
     * in multi-row groups */
    if (!rc)
        rc = copy_start(&x, "predictions_copy",
                        "COPY predictions (prediction_id, member_hash, measure_code,"
                        " measurement_year, gap_probability, risk_tier, risk_score, shap_values,"
                        " top_features, recommendation, model_version, prediction_date,"
                        " created_at) FROM STDIN (FORMAT binary)");
    if (!rc) {
        int copy_rc = copy_flush(&x, "predictions_copy", &b, 0);
        for (; k < n && !copy_rc; k++) {
            copy_rc = enc_prediction(&b, rows, order, k, now_us, err, errlen);
            if (!copy_rc) copy_rc = copy_flush(&x, "predictions_copy", &b, 0);
        }
        if (!copy_rc) {
            static const uint8_t trailer[2] = {0xff, 0xff};
            copy_rc = sg_buf_append(&b, trailer, 2);
        }
        rc = copy_end(&x, "predictions_copy", &b, copy_rc ? "client error" : NULL);
        if (copy_rc) rc = copy_rc;
    }
    double t_copy = mono_ms();
    size_t rebuilt = bulk.n;
    if (!rc && bulk.n) rc = pg_bulk_restore(&x, &bulk); /* a duplicate: SG_ECONFLICT here */
    double t_keys = mono_ms();
    if (rc == SG_ECONFLICT && x.c && !x.broken) {
        /* COPY does not say which row collided: roll back, then find it as SQLite reports it. */
        size_t row = n;
        int drc = px_cmd(&x, "ROLLBACK");
        x.tx = 0;
        if (!drc) drc = find_duplicate_row(&x, rows, n, &row);
        if (!drc && row < n)
            rc = sg_errf(err, errlen, SG_ECONFLICT,
                         "rows[%zu]: duplicate prediction (member, measure, year, model_version)"
                         " or prediction_id", row);
    }
    if (!rc) {
        char json[96];
        if (n == 1)
            snprintf(json, sizeof json, "{\"after\":{\"measure_code\":\"%s\",\"measurement_year\":%d}}",
                     rows[0].measure_code, rows[0].measurement_year);
        else
            snprintf(json, sizeof json, "{\"count\":%zu}", n);
        rc = px_audit(&x, a, "data_change", "prediction", n == 1 ? rows[0].prediction_id : NULL,
                      n == 1 ? "create" : "batch_create", json, now);
    }
    if (!rc) rc = px_commit(&x);
    px_close(&x);
    pg_bulk_fini(&bulk);
    sg_buf_fini(&b);
    LOG_DEBUG("event=prediction_batch rows=%zu rebuilt=%zu check_ms=%.0f members_ms=%.0f"
              " pre_encoded=%zu copy_ms=%.0f keys_ms=%.0f commit_ms=%.0f rc=%d", n, rebuilt,
              t_check - t0, t_bump - t0, pre, t_copy - t_bump, t_keys - t_copy,
              mono_ms() - t_keys, rc);
    return rc;
}

STMT(prediction_select, 1, "SELECT " PRED_COLS " FROM predictions WHERE prediction_id = $1::uuid");
STMT(prediction_by_member, 5,
     "SELECT " PRED_COLS " FROM predictions WHERE member_hash = $1"
     " AND ($2::text IS NULL OR measure_code = $2) AND ($3::int = 0 OR measurement_year = $3)"
     " ORDER BY prediction_date DESC, prediction_id DESC LIMIT $4 OFFSET $5");
STMT(prediction_by_member_count, 3,
     "SELECT count(*) FROM predictions WHERE member_hash = $1"
     " AND ($2::text IS NULL OR measure_code = $2) AND ($3::int = 0 OR measurement_year = $3)");
STMT(prediction_latest, 2,
     "SELECT " PRED_COLS " FROM predictions WHERE member_hash = $1 AND measure_code = $2"
     " ORDER BY prediction_date DESC, prediction_id DESC LIMIT 1");
STMT(prediction_delete_old, 1, "DELETE FROM predictions WHERE prediction_date < $1");

static int pg_prediction_get(struct store *st, const char *id, struct store_prediction *out,
                             char *err, size_t errlen)
{
    struct px x;
    struct params p;
    PGresult *r = NULL;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_str(&p, id);
    rc = px_exec(&x, &prediction_select, &p, &r);
    if (!rc) {
        if (PQntuples(r) == 1) rc = row_prediction(r, 0, out);
        else rc = sg_errf(err, errlen, SG_ENOTFOUND, "prediction_id: no such prediction");
    }
    PQclear(r);
    px_close(&x);
    return rc;
}

/* Allocates list storage for n items of size sz (n may be 0). */
static int list_alloc(void **items, size_t n, size_t sz, char *err, size_t errlen)
{
    *items = n ? calloc(n, sz) : NULL;
    if (n && !*items) return sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    return SG_OK;
}

static int pg_prediction_get_by_member(struct store *st, const char *member_hash,
                                       const char *measure_code, int year,
                                       const struct store_page *pg,
                                       struct store_prediction_list *out, char *err, size_t errlen)
{
    struct px x;
    struct params p;
    PGresult *r = NULL;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_str(&p, member_hash);
    p_opt(&p, measure_code);
    p_ll(&p, year);
    p_ll(&p, pg->limit);
    p_ll(&p, pg->offset);
    rc = px_exec(&x, &prediction_by_member, &p, &r);
    if (!rc) {
        int nt = PQntuples(r);
        rc = list_alloc((void **)&out->items, (size_t)nt, sizeof *out->items, err, errlen);
        for (int i = 0; i < nt && !rc; i++, out->n++) rc = row_prediction(r, i, &out->items[i]);
    }
    PQclear(r);
    r = NULL;
    if (!rc) {
        long long total = (long long)out->n;
        if (pg->offset > 0 || (long long)out->n >= pg->limit) {
            p.n = 3;
            rc = px_exec(&x, &prediction_by_member_count, &p, &r);
            if (!rc) total = g_ll(r, 0, 0);
            PQclear(r);
        }
        page_done(total, out->n, pg, &out->total, &out->has_more);
    }
    px_close(&x);
    if (rc) store_prediction_list_free(out);
    return rc;
}

static int pg_prediction_get_latest(struct store *st, const char *member_hash,
                                    const char *measure_code, struct store_prediction *out,
                                    char *err, size_t errlen)
{
    struct px x;
    struct params p;
    PGresult *r = NULL;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_str(&p, member_hash);
    p_str(&p, measure_code);
    rc = px_exec(&x, &prediction_latest, &p, &r);
    if (!rc) {
        if (PQntuples(r) == 1) rc = row_prediction(r, 0, out);
        else rc = sg_errf(err, errlen, SG_ENOTFOUND, "prediction: none for this member and measure");
    }
    PQclear(r);
    px_close(&x);
    return rc;
}

static int pg_prediction_delete_old(struct store *st, const struct store_actor *a,
                                    const char *before_ts, const char *now, long long *deleted,
                                    char *err, size_t errlen)
{
    struct px x;
    struct params p;
    PGresult *r = NULL;
    *deleted = 0;
    int rc = px_open(S(st), &x, err, errlen);
    if (!rc) rc = px_begin(&x);
    if (!rc) {
        p_init(&p);
        p_str(&p, before_ts);
        rc = px_exec(&x, &prediction_delete_old, &p, &r);
    }
    long long n = rc ? 0 : cmd_rows(r);
    PQclear(r);
    if (!rc) {
        char json[128];
        snprintf(json, sizeof json, "{\"before\":\"%s\",\"deleted\":%lld}", before_ts, n);
        rc = px_audit(&x, a, "data_change", "prediction", NULL, "delete_old", json, now);
    }
    if (!rc) rc = px_commit(&x);
    px_close(&x);
    if (!rc) *deleted = n;
    return rc;
}

/* ---- portfolio snapshots ---- */

#define SNAP_COLS                                                                              \
    "snapshot_id, contract_id, measurement_year, snapshot_date, total_members, total_gaps,"    \
    " gaps_by_measure, gaps_by_tier, star_rating_current, star_rating_projected,"              \
    " estimated_value, created_at"

static int row_snapshot(const PGresult *r, int i, struct store_snapshot *s)
{
    int oom = 0;
    memset(s, 0, sizeof *s);
    g_copy(s->snapshot_id, sizeof s->snapshot_id, r, i, 0);
    g_copy(s->contract_id, sizeof s->contract_id, r, i, 1);
    s->measurement_year = g_int(r, i, 2);
    g_ts(s->snapshot_date, r, i, 3);
    s->total_members = (long)g_ll(r, i, 4);
    s->total_gaps = (long)g_ll(r, i, 5);
    s->gaps_by_measure = g_json(r, i, 6, &oom);
    s->gaps_by_tier = g_json(r, i, 7, &oom);
    s->star_rating_current = g_dbl(r, i, 8);
    s->star_rating_projected = g_dbl(r, i, 9);
    s->estimated_value = g_dbl(r, i, 10);
    g_ts(s->created_at, r, i, 11);
    return oom ? SG_ENOMEM : SG_OK;
}

STMT(snapshot_insert, 11,
     "INSERT INTO portfolio_snapshots (snapshot_id, contract_id, measurement_year, snapshot_date,"
     " total_members, total_gaps, gaps_by_measure, gaps_by_tier, star_rating_current,"
     " star_rating_projected, estimated_value) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb,"
     " $8::jsonb, $9, $10, $11)");
#define SNAP_WHERE                                                                             \
    " WHERE coalesce(contract_id, '') = coalesce($1::text, '')"                                \
    " AND ($2::int = 0 OR measurement_year = $2)"
STMT(snapshot_latest, 2,
     "SELECT " SNAP_COLS " FROM portfolio_snapshots" SNAP_WHERE
     " ORDER BY snapshot_date DESC, snapshot_id DESC LIMIT 1");
STMT(snapshot_history, 4,
     "SELECT " SNAP_COLS " FROM portfolio_snapshots" SNAP_WHERE
     " ORDER BY snapshot_date DESC, snapshot_id DESC LIMIT $3 OFFSET $4");
STMT(snapshot_history_count, 2, "SELECT count(*) FROM portfolio_snapshots" SNAP_WHERE);
STMT(snapshot_trends, 3,
     "SELECT " SNAP_COLS " FROM portfolio_snapshots" SNAP_WHERE
     " AND snapshot_date >= $3 ORDER BY snapshot_date, snapshot_id");

static int pg_snapshot_create(struct store *st, const struct store_actor *a,
                              const struct store_snapshot *s, const char *now, char *err,
                              size_t errlen)
{
    struct px x;
    struct params p;
    int rc = px_open(S(st), &x, err, errlen);
    if (!rc) rc = px_begin(&x);
    if (!rc) {
        p_init(&p);
        p_str(&p, s->snapshot_id);
        p_opt(&p, s->contract_id);
        p_ll(&p, s->measurement_year);
        p_str(&p, s->snapshot_date[0] ? s->snapshot_date : now);
        p_ll(&p, s->total_members);
        p_ll(&p, s->total_gaps);
        p_raw(&p, s->gaps_by_measure);
        p_raw(&p, s->gaps_by_tier);
        p_dbl(&p, s->star_rating_current);
        p_dbl(&p, s->star_rating_projected);
        p_dbl(&p, s->estimated_value);
        rc = px_exec(&x, &snapshot_insert, &p, NULL);
    }
    if (!rc) {
        char year[16];
        snprintf(year, sizeof year, "%d", s->measurement_year);
        const char *k[] = {"contract_id", "measurement_year"};
        const char *v[] = {s->contract_id[0] ? s->contract_id : NULL, year};
        rc = px_audit_kv(&x, a, "data_change", "portfolio_snapshot", s->snapshot_id, "create", 2, k,
                         v, now);
    }
    if (!rc) rc = px_commit(&x);
    px_close(&x);
    return rc;
}

/* Runs a list statement and decodes every row with `dec` into a freshly allocated array. */
typedef int (*row_decoder)(const PGresult *r, int i, void *item);

static int fetch_list(struct px *x, const struct stmt *stm, const struct params *p, void **items,
                      size_t *n, size_t item_size, row_decoder dec)
{
    PGresult *r = NULL;
    *items = NULL;
    *n = 0;
    int rc = px_exec(x, stm, p, &r);
    if (rc) return rc;
    int nt = PQntuples(r);
    rc = list_alloc(items, (size_t)nt, item_size, x->err, x->errlen);
    for (int i = 0; i < nt && !rc; i++) {
        rc = dec(r, i, (char *)*items + (size_t)i * item_size);
        (*n)++;
    }
    PQclear(r);
    return rc;
}

static int count_query(struct px *x, const struct stmt *stm, const struct params *p,
                       long long *total)
{
    PGresult *r = NULL;
    int rc = px_exec(x, stm, p, &r);
    if (!rc) *total = g_ll(r, 0, 0);
    PQclear(r);
    return rc;
}

static int dec_snapshot(const PGresult *r, int i, void *it) { return row_snapshot(r, i, it); }

static int pg_snapshot_get_latest(struct store *st, const char *contract_id, int year,
                                  struct store_snapshot *out, char *err, size_t errlen)
{
    struct px x;
    struct params p;
    PGresult *r = NULL;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_opt(&p, contract_id);
    p_ll(&p, year);
    rc = px_exec(&x, &snapshot_latest, &p, &r);
    if (!rc) {
        if (PQntuples(r) == 1) rc = row_snapshot(r, 0, out);
        else rc = sg_errf(err, errlen, SG_ENOTFOUND, "snapshot: none for this contract and year");
    }
    PQclear(r);
    px_close(&x);
    return rc;
}

static int pg_snapshot_get_history(struct store *st, const char *contract_id, int year,
                                   const struct store_page *pg, struct store_snapshot_list *out,
                                   char *err, size_t errlen)
{
    struct px x;
    struct params p;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_opt(&p, contract_id);
    p_ll(&p, year);
    p_ll(&p, pg->limit);
    p_ll(&p, pg->offset);
    rc = fetch_list(&x, &snapshot_history, &p, (void **)&out->items, &out->n, sizeof *out->items,
                    dec_snapshot);
    long long total = 0;
    p.n = 2;
    if (!rc) rc = count_query(&x, &snapshot_history_count, &p, &total);
    if (!rc) page_done(total, out->n, pg, &out->total, &out->has_more);
    px_close(&x);
    if (rc) store_snapshot_list_free(out);
    return rc;
}

static int pg_snapshot_get_trends(struct store *st, const char *contract_id, int year,
                                  const char *since_ts, struct store_snapshot_list *out, char *err,
                                  size_t errlen)
{
    struct px x;
    struct params p;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_opt(&p, contract_id);
    p_ll(&p, year);
    p_str(&p, since_ts);
    rc = fetch_list(&x, &snapshot_trends, &p, (void **)&out->items, &out->n, sizeof *out->items,
                    dec_snapshot);
    if (!rc) out->total = (long long)out->n;
    px_close(&x);
    if (rc) store_snapshot_list_free(out);
    return rc;
}

/* ---- gaps ---- */

#define GAP_COLS                                                                               \
    "gap_id, member_hash, contract_id, measure_code, measurement_year, gap_probability,"       \
    " priority_score, intervention_type, estimated_cost, estimated_value, status,"             \
    " assigned_date, completed_date, closed_date, created_at, updated_at"

static void row_gap_at(const PGresult *r, int i, int c0, struct store_gap *g);
static int row_gap(const PGresult *r, int i, struct store_gap *g)
{
    row_gap_at(r, i, 0, g);
    return SG_OK;
}

/* Decodes GAP_COLS starting at column c0. */
static void row_gap_at(const PGresult *r, int i, int c0, struct store_gap *g)
{
    memset(g, 0, sizeof *g);
    g_copy(g->gap_id, sizeof g->gap_id, r, i, c0 + 0);
    g_copy(g->member_hash, sizeof g->member_hash, r, i, c0 + 1);
    g_copy(g->contract_id, sizeof g->contract_id, r, i, c0 + 2);
    g_copy(g->measure_code, sizeof g->measure_code, r, i, c0 + 3);
    g->measurement_year = g_int(r, i, c0 + 4);
    g->gap_probability = g_dbl(r, i, c0 + 5);
    g->priority_score = g_dbl(r, i, c0 + 6);
    g_copy(g->intervention_type, sizeof g->intervention_type, r, i, c0 + 7);
    g->estimated_cost = g_dbl(r, i, c0 + 8);
    g->estimated_value = g_dbl(r, i, c0 + 9);
    enum store_gap_status s = STORE_GAP_IDENTIFIED;
    if (store_gap_status_parse(g_str(r, i, c0 + 10), &s)) s = STORE_GAP_IDENTIFIED;
    g->status = s;
    g_date(g->assigned_date, r, i, c0 + 11);
    g_date(g->completed_date, r, i, c0 + 12);
    g_date(g->closed_date, r, i, c0 + 13);
    g_ts(g->created_at, r, i, c0 + 14);
    g_ts(g->updated_at, r, i, c0 + 15);
}
static int dec_gap(const PGresult *r, int i, void *it) { return row_gap(r, i, it); }

STMT(gap_insert, 13,
     "INSERT INTO gap_analysis (gap_id, member_hash, contract_id, measure_code, measurement_year,"
     " gap_probability, priority_score, intervention_type, estimated_cost, estimated_value,"
     " status, assigned_date, completed_date, closed_date)"
     " SELECT $1, m.member_hash, m.contract_id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13"
     " FROM members m WHERE m.member_hash = $2");
STMT(gap_select, 1, "SELECT " GAP_COLS " FROM gap_analysis WHERE gap_id = $1::uuid");
STMT(gap_select_lock, 1, "SELECT " GAP_COLS " FROM gap_analysis WHERE gap_id = $1::uuid FOR UPDATE");
STMT(gap_by_member, 1,
     "SELECT " GAP_COLS " FROM gap_analysis WHERE member_hash = $1"
     " ORDER BY measurement_year DESC, measure_code");
/* Open gaps (identified or assigned) by priority: the ordered merge of the two statuses' priority
 * indexes (partial, migration 0016), each read for at most $3 rows. */
#define GAP_HIGH_BRANCH(st)                                                                    \
    "(SELECT " GAP_COLS " FROM gap_analysis WHERE status = '" st "' AND priority_score >= $1"  \
    " AND ($2::text IS NULL OR contract_id = $2) ORDER BY priority_score DESC, gap_id LIMIT $3)"
STMT(gap_high_priority, 3,
     "SELECT * FROM (" GAP_HIGH_BRANCH("identified") " UNION ALL " GAP_HIGH_BRANCH("assigned")
     ") h ORDER BY priority_score DESC, gap_id LIMIT $3");
STMT(gap_set_status, 5,
     "UPDATE gap_analysis SET status = $2, assigned_date = $3, completed_date = $4,"
     " closed_date = $5 WHERE gap_id = $1::uuid RETURNING " GAP_COLS);

struct gap_create_arg {
    const struct store_actor *a;
    const struct store_gap *g;
    const char *now;
};

static int gap_create_body(void *conn, void *arg, char *err, size_t errlen)
{
    struct gap_create_arg *ca = arg;
    struct px *x = gx_conn(conn, err, errlen);
    const struct store_actor *a = ca->a;
    const struct store_gap *g = ca->g;
    const char *now = ca->now;
    struct params p;
    PGresult *r = NULL;
    int rc = SG_OK;
    {
        p_init(&p);
        p_str(&p, g->gap_id);
        p_str(&p, g->member_hash);
        p_str(&p, g->measure_code);
        p_ll(&p, g->measurement_year);
        p_dbl(&p, g->gap_probability);
        p_dbl(&p, g->priority_score);
        p_opt(&p, g->intervention_type);
        p_dbl(&p, g->estimated_cost);
        p_dbl(&p, g->estimated_value);
        p_str(&p, store_gap_status_name(g->status));
        p_opt(&p, g->assigned_date);
        p_opt(&p, g->completed_date);
        p_opt(&p, g->closed_date);
        rc = px_exec(x, &gap_insert, &p, &r);
        if (rc == SG_ECONFLICT)
            rc = sg_errf(err, errlen, SG_ECONFLICT,
                         "gap: a gap exists for this member, measure and year (or gap_id)");
    }
    if (!rc && cmd_rows(r) != 1) rc = sg_errf(err, errlen, SG_EINVAL, "member_hash: no such member");
    PQclear(r);
    r = NULL;
    if (!rc) {
        struct params q;
        p_init(&q);
        p_str(&q, g->gap_id);
        rc = px_exec(x, &gap_select, &q, &r);
    }
    if (!rc) {
        struct store_gap after;
        row_gap(r, 0, &after);
        char *ch = store_json_gap(NULL, &after);
        rc = ch ? px_audit(x, a, "data_change", "gap", g->gap_id, "create", ch, now)
                : sg_errf(err, errlen, SG_ENOMEM, "audit: out of memory");
        free(ch);
    }
    PQclear(r);
    return rc;
}

static int pg_gap_create(struct store *st, const struct store_actor *a, const struct store_gap *g,
                         const char *now, char *err, size_t errlen)
{
    struct gap_create_arg ca = {a, g, now};
    return store_group_run(&S(st)->group, gap_create_body, &ca, err, errlen);
}

static int pg_gap_get(struct store *st, const char *gap_id, struct store_gap *out, char *err,
                      size_t errlen)
{
    struct px x;
    struct params p;
    PGresult *r = NULL;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_str(&p, gap_id);
    rc = px_exec(&x, &gap_select, &p, &r);
    if (!rc) {
        if (PQntuples(r) == 1) row_gap(r, 0, out);
        else rc = sg_errf(err, errlen, SG_ENOTFOUND, "gap_id: no such gap");
    }
    PQclear(r);
    px_close(&x);
    return rc;
}

/* The gap list statements, one per combination of present filters, sort order and status, built
 * once from constant fragments (never from input) so each prepared statement has a plan that fits
 * its filters: a single statement with "$n IS NULL OR ..." conditions gets a generic plan that
 * cannot pick the right index once PostgreSQL switches from custom plans. The status is a
 * constant of the SQL, not a parameter: the list indexes are partial, one set per status
 * (migration 0016), and the planner uses a partial index only when it can prove the index's
 * predicate from the query's own text. Without a status filter the page is the ordered merge of
 * one branch per status, each reading at most limit + offset rows of its status's index. */
#define GF_MEASURE 1
#define GF_PRIORITY 2
#define GF_CONTRACT 4
#define GF_YEAR 8
#define GF_COMBOS 16
#define GF_NSTATUS 4       /* statuses 0..3 (enum store_gap_status); GF_NSTATUS: no status filter */
#define GF_SQL_MAX 8192

struct gap_filter_stmts {
    char name[2][GF_NSTATUS + 1][GF_COMBOS][32];
    char sql[2][GF_NSTATUS + 1][GF_COMBOS][GF_SQL_MAX];
    struct stmt st[2][GF_NSTATUS + 1][GF_COMBOS];
};
static struct gap_filter_stmts gfs;
static pthread_once_t gfs_once = PTHREAD_ONCE_INIT;

/* Appends to b "status = '<name>'" and the conditions of the filters in mask m, numbered from $1
 * in the order of cond[]. */
static int gfs_where(struct sg_buf *b, int status, int m)
{
    static const char *const cond[] = {"measure_code = $", "priority_score >= $",
                                       "contract_id = $", "measurement_year = $"};
    int rc = status < GF_NSTATUS ? sg_buf_printf(b, "status = '%s'", store_gap_status_name(status))
                                 : SG_OK;
    for (int bit = 0, np = 0; bit < 4 && !rc; bit++)
        if (m & (1 << bit)) {
            np++;
            rc = sg_buf_printf(b, "%s%s%d", np == 1 && status == GF_NSTATUS ? "" : " AND ",
                               cond[bit], np);
        }
    return rc;
}

/* One statement's SQL into b: the total, then the page (see gap_filter_stmts above). */
static int gfs_sql(struct sg_buf *b, int sort, int status, int m)
{
    const char *key = sort ? "gap_probability" : "priority_score";
    int np = __builtin_popcount((unsigned)m);
    int lim = np + 1, off = np + 2; /* the page's parameters follow the filters' */
    /* The exact total rides along in the same round trip: summed from gap_counts for equality
     * filters (one row per status, measure, year and contract), counted through the status's
     * index with a minimum priority (one count per status without a status filter). */
    int rc = sg_buf_printf(b, "WITH t AS (");
    if (!(m & GF_PRIORITY)) {
        rc = rc ? rc : sg_buf_printf(b, "SELECT coalesce(sum(n), 0) AS total FROM gap_counts%s",
                                     status < GF_NSTATUS || m ? " WHERE " : "");
        rc = rc ? rc : gfs_where(b, status, m);
    } else {
        rc = rc ? rc : sg_buf_printf(b, "SELECT sum(c) AS total FROM (");
        for (int s = 0; s < GF_NSTATUS && !rc; s++) {
            if (status < GF_NSTATUS && s != status) continue;
            rc = sg_buf_printf(b, "%sSELECT count(*) AS c FROM gap_analysis WHERE ",
                               s && status == GF_NSTATUS ? " UNION ALL " : "");
            rc = rc ? rc : gfs_where(b, s, m);
        }
        rc = rc ? rc : sg_buf_printf(b, ") s");
    }
    /* LEFT JOIN LATERAL keeps one row when the page is empty (gap columns NULL), so the total
     * always arrives. Without a status: the ordered merge of each status's first limit + offset
     * rows. */
    rc = rc ? rc : sg_buf_printf(b, ") SELECT t.total, g.* FROM t LEFT JOIN LATERAL (");
    if (status == GF_NSTATUS) rc = rc ? rc : sg_buf_printf(b, "SELECT * FROM (");
    for (int s = 0; s < GF_NSTATUS && !rc; s++) {
        if (status < GF_NSTATUS && s != status) continue;
        rc = sg_buf_printf(b, "%sSELECT " GAP_COLS " FROM gap_analysis WHERE ",
                           status < GF_NSTATUS ? "" : s ? " UNION ALL (" : "(");
        rc = rc ? rc : gfs_where(b, s, m);
        if (status < GF_NSTATUS)
            rc = rc ? rc : sg_buf_printf(b, " ORDER BY %s DESC, gap_id LIMIT $%d OFFSET $%d",
                                         key, lim, off);
        else
            rc = rc ? rc
                    : sg_buf_printf(b, " ORDER BY %s DESC, gap_id LIMIT $%d::bigint + $%d::bigint)",
                                    key, lim, off);
    }
    if (status == GF_NSTATUS)
        rc = rc ? rc : sg_buf_printf(b, ") u ORDER BY %s DESC, gap_id LIMIT $%d OFFSET $%d", key,
                                     lim, off);
    return rc ? rc : sg_buf_printf(b, ") g ON true ORDER BY g.%s DESC, g.gap_id", key);
}

static void gfs_build(void)
{
    struct sg_buf b;
    sg_buf_init(&b, GF_SQL_MAX);
    for (int sort = 0; sort < 2; sort++)
        for (int status = 0; status <= GF_NSTATUS; status++)
            for (int m = 0; m < GF_COMBOS; m++) {
                struct stmt *st = &gfs.st[sort][status][m];
                sg_buf_reset(&b);
                snprintf(gfs.name[sort][status][m], sizeof gfs.name[sort][status][m],
                         "gap_filter_%d_%d_%d", sort, status, m);
                /* The fragments are constants: the longest statement (about 2.5 KB) fits with
                 * room whatever the input. A statement that did not fit (a defect of this
                 * function) would be left empty: an error when used, and a failure of
                 * test_pg_partitions' plan test, which prepares every statement. */
                if (gfs_sql(&b, sort, status, m) == SG_OK)
                    snprintf(gfs.sql[sort][status][m], GF_SQL_MAX, "%s", sg_buf_str(&b));
                st->name = gfs.name[sort][status][m];
                st->sql = gfs.sql[sort][status][m];
                st->nparams = __builtin_popcount((unsigned)m) + 2;
            }
    sg_buf_fini(&b);
}

const char *store_pg_gap_list_sql(int by_probability, int status, unsigned filters, int *nparams)
{
    pthread_once(&gfs_once, gfs_build);
    if (by_probability < 0 || by_probability > 1 || status < -1 || status >= GF_NSTATUS ||
        filters >= GF_COMBOS)
        return NULL;
    const struct stmt *st = &gfs.st[by_probability][status < 0 ? GF_NSTATUS : status][filters];
    if (nparams) *nparams = st->nparams;
    return st->sql;
}

static int pg_gap_get_with_filters(struct store *st, const struct store_gap_filter *f,
                                   struct store_gap_list *out, char *err, size_t errlen)
{
    struct px x;
    struct params p;
    memset(out, 0, sizeof *out);
    pthread_once(&gfs_once, gfs_build);
    int m = 0;
    p_init(&p);
    int status = f->has_status ? (int)f->status : GF_NSTATUS;
    if (f->has_status && (status < 0 || status >= GF_NSTATUS))
        return sg_errf(err, errlen, SG_EINVAL, "status: not a gap status");
    if (f->measure_code) { m |= GF_MEASURE; p_str(&p, f->measure_code); }
    if (!isnan(f->min_priority)) { m |= GF_PRIORITY; p_dbl(&p, f->min_priority); }
    if (f->contract_id) { m |= GF_CONTRACT; p_str(&p, f->contract_id); }
    if (f->measurement_year) { m |= GF_YEAR; p_ll(&p, f->measurement_year); }
    p_ll(&p, f->page.limit);
    p_ll(&p, f->page.offset);
    int sort = f->sort == STORE_SORT_PROBABILITY ? 1 : 0;
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    PGresult *r = NULL;
    rc = px_exec(&x, &gfs.st[sort][status][m], &p, &r);
    if (!rc) {
        /* Column 0 is the total; an empty page is one row whose gap columns are NULL. */
        int nt = PQntuples(r);
        long long total = nt ? g_ll(r, 0, 0) : 0;
        if (nt == 1 && g_null(r, 0, 1)) nt = 0;
        rc = list_alloc((void **)&out->items, (size_t)nt, sizeof *out->items, err, errlen);
        for (int i = 0; i < nt && !rc; i++, out->n++) row_gap_at(r, i, 1, &out->items[i]);
        if (!rc) page_done(total, out->n, &f->page, &out->total, &out->has_more);
    }
    PQclear(r);
    px_close(&x);
    if (rc) store_gap_list_free(out);
    return rc;
}

static int pg_gap_get_by_member(struct store *st, const struct store_actor *a,
                                const char *member_hash, const char *now,
                                struct store_gap_list *out, char *err, size_t errlen)
{
    struct px x;
    struct params p;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_str(&p, member_hash);
    rc = fetch_list(&x, &gap_by_member, &p, (void **)&out->items, &out->n, sizeof *out->items,
                    dec_gap);
    if (!rc) out->total = (long long)out->n;
    if (!rc) rc = audit_read(&x, a, "member", member_hash, "read_gaps", now);
    px_close(&x);
    if (rc) store_gap_list_free(out);
    return rc;
}

static int pg_gap_get_high_priority(struct store *st, double min_priority, const char *contract_id,
                                    long limit, struct store_gap_list *out, char *err,
                                    size_t errlen)
{
    struct px x;
    struct params p;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_dbl(&p, isnan(min_priority) ? 0.0 : min_priority);
    p_opt(&p, contract_id);
    p_ll(&p, limit);
    rc = fetch_list(&x, &gap_high_priority, &p, (void **)&out->items, &out->n, sizeof *out->items,
                    dec_gap);
    if (!rc) out->total = (long long)out->n;
    px_close(&x);
    if (rc) store_gap_list_free(out);
    return rc;
}

/* Moves a locked gap to `to` inside the caller's transaction, stamping the date and auditing
 * before/after with `action`. *after gets the new row. */
static int gap_move_tx(struct px *x, const struct store_actor *a, const struct store_gap *before,
                       enum store_gap_status to, const char *action, const char *now,
                       struct store_gap *after)
{
    if (!store_gap_transition_ok(before->status, to))
        return sg_errf(x->err, x->errlen, SG_ETRANSITION, "status: %s -> %s not allowed",
                       store_gap_status_name(before->status), store_gap_status_name(to));
    char today[STORE_DATE_LEN];
    store_date_of(now, today);
    struct store_gap n = *before;
    n.status = to;
    if (to == STORE_GAP_ASSIGNED) snprintf(n.assigned_date, sizeof n.assigned_date, "%s", today);
    if (to == STORE_GAP_COMPLETED) snprintf(n.completed_date, sizeof n.completed_date, "%s", today);
    if (to == STORE_GAP_CLOSED) snprintf(n.closed_date, sizeof n.closed_date, "%s", today);
    struct params p;
    p_init(&p);
    p_str(&p, before->gap_id);
    p_str(&p, store_gap_status_name(to));
    p_opt(&p, n.assigned_date);
    p_opt(&p, n.completed_date);
    p_opt(&p, n.closed_date);
    PGresult *r;
    int rc = px_exec(x, &gap_set_status, &p, &r);
    if (rc) return rc;
    row_gap(r, 0, after);
    PQclear(r);
    char *ch = store_json_gap(before, after);
    if (!ch) return sg_errf(x->err, x->errlen, SG_ENOMEM, "audit: out of memory");
    rc = px_audit(x, a, "data_change", "gap", before->gap_id, action, ch, now);
    free(ch);
    return rc;
}

struct gap_status_arg {
    const struct store_actor *a;
    const char *gap_id;
    enum store_gap_status to;
    const char *now;
    struct store_gap after;
    size_t set_ord; /* 1-based position in the px's gset (gap_status_send); 0: not collected */
};

/* The common case of a status change in one round trip: lock the gap, check the transition
 * (the old status must be one of $4, the statuses `to` may follow), stamp the date of the new
 * status and return the new row with the old values of the columns it changed (status, the
 * three dates, updated_at). No row back: the gap is missing or the transition is invalid, told
 * apart by the locking path (gap_status_body). gap_counts follows through its trigger. */
STMT(gap_move_fast, 4,
     "UPDATE gap_analysis g SET status = $2,"
     " assigned_date = CASE WHEN $2 = 'assigned' THEN $3::date ELSE g.assigned_date END,"
     " completed_date = CASE WHEN $2 = 'completed' THEN $3::date ELSE g.completed_date END,"
     " closed_date = CASE WHEN $2 = 'closed' THEN $3::date ELSE g.closed_date END"
     " FROM (SELECT gap_id, status, assigned_date, completed_date, closed_date, updated_at"
     " FROM gap_analysis WHERE gap_id = $1::uuid FOR UPDATE) o"
     " WHERE g.gap_id = o.gap_id AND o.status = ANY ($4::text[])"
     " RETURNING g.gap_id, g.member_hash, g.contract_id, g.measure_code, g.measurement_year,"
     " g.gap_probability, g.priority_score, g.intervention_type, g.estimated_cost,"
     " g.estimated_value, g.status, g.assigned_date, g.completed_date, g.closed_date,"
     " g.created_at, g.updated_at, o.status, o.assigned_date, o.completed_date, o.closed_date,"
     " o.updated_at");

/* The group's gap status changes as ONE statement (sent by gx_pipeline_end): gap_move_fast over
 * arrays, $1 gap ids, $2 new statuses, $3 dates, $4 the allowed old statuses of each (comma-
 * separated). A gap id given twice is moved only by its first occurrence (DISTINCT ON ... ORDER
 * BY ordinal; the others find no row back and run alone, in order, after it). The old values
 * (the audit row's "before") are read without a lock, and a row is moved only while it is the
 * version read (status, dates and updated_at, which every update changes, unchanged): a row
 * another session changed in between fails the recheck PostgreSQL makes after waiting for it,
 * and its operation takes the per-operation path, which locks (a lock pass over the group's
 * rows cost ~10% of the statement). Each row returned carries its operation's ordinal (column
 * 21); an operation without a row (no such gap, invalid transition, repeated id, changed
 * meanwhile) wrote nothing and takes the per-operation path (gap_status_body). gap_counts follows once for the statement
 * (migration 0005). */
STMT(gap_move_set, 4,
     "WITH u AS (SELECT DISTINCT ON (id) id, st, day, allowed, ord"
     " FROM unnest($1::uuid[], $2::text[], $3::date[], $4::text[])"
     " WITH ORDINALITY AS t(id, st, day, allowed, ord) ORDER BY id, ord),"
     " o AS (SELECT gap_id, status, assigned_date, completed_date, closed_date, updated_at"
     " FROM gap_analysis WHERE gap_id IN (SELECT id FROM u))"
     " UPDATE gap_analysis g SET status = u.st,"
     " assigned_date = CASE WHEN u.st = 'assigned' THEN u.day ELSE g.assigned_date END,"
     " completed_date = CASE WHEN u.st = 'completed' THEN u.day ELSE g.completed_date END,"
     " closed_date = CASE WHEN u.st = 'closed' THEN u.day ELSE g.closed_date END"
     " FROM o JOIN u ON u.id = o.gap_id"
     " WHERE g.gap_id = o.gap_id AND g.status = ANY (string_to_array(u.allowed, ','))"
     " AND g.status = o.status AND g.updated_at = o.updated_at"
     " AND g.assigned_date IS NOT DISTINCT FROM o.assigned_date"
     " AND g.completed_date IS NOT DISTINCT FROM o.completed_date"
     " AND g.closed_date IS NOT DISTINCT FROM o.closed_date"
     " RETURNING g.gap_id, g.member_hash, g.contract_id, g.measure_code, g.measurement_year,"
     " g.gap_probability, g.priority_score, g.intervention_type, g.estimated_cost,"
     " g.estimated_value, g.status, g.assigned_date, g.completed_date, g.closed_date,"
     " g.created_at, g.updated_at, o.status, o.assigned_date, o.completed_date, o.closed_date,"
     " o.updated_at, u.ord");

/* The statuses `to` may follow, comma-separated, into out (cap bytes). */
static void gap_allowed_from(enum store_gap_status to, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (int st = STORE_GAP_IDENTIFIED; st <= STORE_GAP_CLOSED; st++)
        if (store_gap_transition_ok((enum store_gap_status)st, to) && len < cap)
            len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? "," : "",
                                    store_gap_status_name(st));
}

/* The text[] columns of a set statement (gap_move_set, hist_set): column c holds each
 * operation's value c, as row(op, scratch, v) gives them (v[c] may point into scratch). */
#define SET_COLS 4
typedef void (*set_row_fn)(const void *op, char scratch[SET_COLS][96], const char *v[SET_COLS]);

/* Queues the set statement st over the n operations ops (pipeline mode); *sent and *idx record
 * that it went out and its position among the statements sent. what words an out-of-memory
 * error. */
static int set_send(struct px *x, const struct stmt *st, void *const *ops, size_t n,
                    set_row_fn row, const char *what, int *sent, size_t *idx)
{
    int ncols = st->nparams;
    struct sg_buf col[SET_COLS];
    struct params p;
    int rc = SG_OK;
    for (int c = 0; c < ncols; c++) sg_buf_init(&col[c], (size_t)1 << 24);
    for (size_t i = 0; i < n && !rc; i++) {
        char scratch[SET_COLS][96];
        const char *v[SET_COLS] = {NULL};
        row(ops[i], scratch, v);
        for (int c = 0; c < ncols && !rc; c++) {
            if (i == 0) rc = sg_buf_puts(&col[c], "{");
            if (!rc) rc = arr_text(&col[c], v[c] ? v[c] : "", i == 0);
        }
    }
    for (int c = 0; c < ncols && !rc; c++) rc = sg_buf_puts(&col[c], "}");
    if (rc) {
        rc = sg_errf(x->err, x->errlen, rc, "%s: out of memory for the group's operations", what);
    } else {
        p_init(&p);
        for (int c = 0; c < ncols; c++) p_raw(&p, sg_buf_str(&col[c]));
        *idx = x->nsent;
        rc = pipe_send(x, st, &p);
        *sent = rc == SG_OK;
    }
    for (int c = 0; c < ncols; c++) sg_buf_fini(&col[c]);
    return rc;
}

/* Appends op to a group's set (*ops, *n of *cap) and gives it its 1-based ordinal *ord (0 when
 * out of memory: SG_ENOMEM, err filled with what). */
static int set_collect(void ***ops, size_t *n, size_t *cap, void *op, size_t *ord,
                       const char *what, char *err, size_t errlen)
{
    *ord = 0;
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 64;
        void **a = realloc(*ops, c * sizeof *a);
        if (!a) return sg_errf(err, errlen, SG_ENOMEM, "%s: out of memory", what);
        *ops = a;
        *cap = c;
    }
    (*ops)[(*n)++] = op;
    *ord = *n;
    return SG_OK;
}

/* A gap status change's values in gap_move_set: id, new status, date, allowed old statuses. */
static void gap_set_values(const void *op, char scratch[SET_COLS][96], const char *v[SET_COLS])
{
    const struct gap_status_arg *ga = op;
    gap_allowed_from(ga->to, scratch[0], sizeof scratch[0]);
    store_date_of(ga->now, scratch[1]);
    v[0] = ga->gap_id;
    v[1] = store_gap_status_name(ga->to);
    v[2] = scratch[1];
    v[3] = scratch[0];
}

/* Queues gap_move_set for the operations collected in x->gset (pipeline mode). */
static int gap_set_send(struct px *x)
{
    return set_send(x, &gap_move_set, x->gset, x->ngset, gap_set_values, "gap",
                    &x->gset_sent, &x->gset_idx);
}

/* gap_move_fast's parameters; from and today are the caller's buffers the params point into. */
static void gap_move_params(const struct gap_status_arg *ga, struct params *p, char from[96],
                            char today[STORE_DATE_LEN])
{
    from[0] = '{';
    gap_allowed_from(ga->to, from + 1, 94);
    size_t len = strlen(from);
    snprintf(from + len, 96 - len, "}");
    store_date_of(ga->now, today);
    p_init(p);
    p_str(p, ga->gap_id);
    p_str(p, store_gap_status_name(ga->to));
    p_str(p, today);
    p_str(p, from);
}

/* The row of the group's set statement (gap_move_set) that moved this operation's gap, or -1. */
static int gap_set_row(const struct px *x, const struct gap_status_arg *ga)
{
    if (!x->gset_res || !ga->set_ord) return -1;
    int n = PQntuples(x->gset_res);
    for (int i = 0; i < n; i++)
        if (strtoull(PQgetvalue(x->gset_res, i, 21), NULL, 10) == ga->set_ord) return i;
    return -1;
}

/* This operation's row of the group's set statement, or gap_move_fast run here; *moved = 0
 * when no row came back (nothing written). */
static int gap_move_one(struct px *x, const struct gap_status_arg *ga, struct store_gap *after,
                        int *moved)
{
    char from[96], today[STORE_DATE_LEN];
    struct params p;
    int row = gap_set_row(x, ga);
    PGresult *r = row >= 0 ? x->gset_res : NULL;
    int rc = SG_OK;
    *moved = 0;
    if (!r) {
        gap_move_params(ga, &p, from, today);
        rc = px_exec(x, &gap_move_fast, &p, &r);
        if (!rc && PQntuples(r) == 1) row = 0;
    }
    if (rc || row < 0) {
        if (r != x->gset_res) PQclear(r);
        return rc;
    }
    struct store_gap before;
    row_gap_at(r, row, 0, after);
    before = *after;
    enum store_gap_status old = STORE_GAP_IDENTIFIED;
    if (store_gap_status_parse(g_str(r, row, 16), &old)) old = STORE_GAP_IDENTIFIED;
    before.status = old;
    g_date(before.assigned_date, r, row, 17);
    g_date(before.completed_date, r, row, 18);
    g_date(before.closed_date, r, row, 19);
    g_ts(before.updated_at, r, row, 20);
    if (r != x->gset_res) PQclear(r);
    *moved = 1;
    char *ch = store_json_gap(&before, after);
    if (!ch) return sg_errf(x->err, x->errlen, SG_ENOMEM, "audit: out of memory");
    rc = px_audit(x, ga->a, "data_change", "gap", ga->gap_id,
                  ga->to == STORE_GAP_CLOSED ? "close" : "update", ch, ga->now);
    free(ch);
    return rc;
}

static int gap_status_body(void *conn, void *arg, char *err, size_t errlen)
{
    struct gap_status_arg *ga = arg;
    struct px *x = gx_conn(conn, err, errlen);
    struct params p;
    PGresult *r = NULL;
    struct store_gap before;
    int moved = 0;
    int rc = gap_move_one(x, ga, &ga->after, &moved);
    if (rc || moved) return rc;
    /* Slow path (no row came back): lock the gap and find out why (no such gap, or the
     * transition is not allowed from its status), or move it if a concurrent change made the
     * transition valid in between. */
    p_init(&p);
    p_str(&p, ga->gap_id);
    rc = px_exec(x, &gap_select_lock, &p, &r);
    if (!rc) {
        if (PQntuples(r) == 1) row_gap(r, 0, &before);
        else rc = sg_errf(err, errlen, SG_ENOTFOUND, "gap_id: no such gap");
    }
    PQclear(r);
    if (!rc)
        rc = gap_move_tx(x, ga->a, &before, ga->to, ga->to == STORE_GAP_CLOSED ? "close" : "update",
                         ga->now, &ga->after);
    return rc;
}

/* The pipelined half of gap_status_body (store_group_send): collects the operation for the
 * group's one set statement (gap_move_set, sent by gx_pipeline_end). */
static int gap_status_send(void *conn, void *arg, char *err, size_t errlen)
{
    struct px *x = gx_conn(conn, err, errlen);
    struct gap_status_arg *ga = arg;
    return set_collect(&x->gset, &x->ngset, &x->capgset, ga, &ga->set_ord, "gap", err, errlen);
}

static int pg_gap_update_status(struct store *st, const struct store_actor *a, const char *gap_id,
                                enum store_gap_status to, const char *now, struct store_gap *out,
                                char *err, size_t errlen)
{
    struct gap_status_arg ga = {.a = a, .gap_id = gap_id, .to = to, .now = now};
    if (out) memset(out, 0, sizeof *out);
    int rc = store_group_run_send(&S(st)->group, gap_status_send, gap_status_body, &ga, err, errlen);
    if (!rc && out) *out = ga.after;
    return rc;
}

/* store_gap_update_status_submit: the same body as pg_gap_update_status, queued without a
 * waiting caller; the operation owns copies of the id and the time. */
struct gap_status_job {
    struct gap_status_arg ga;
    char gap_id[STORE_ID_LEN], now[STORE_TS_LEN];
    struct store_gap *out;
    store_done_fn done;
    void *done_arg;
};

static void gap_status_done(void *arg, int rc, const char *err)
{
    struct gap_status_job *j = arg;
    if (!rc) *j->out = j->ga.after;
    j->done(j->done_arg, rc, err);
    free(j);
}

static int pg_gap_update_status_submit(struct store *st, const struct store_actor *a,
                                       const char *gap_id, enum store_gap_status to,
                                       const char *now, struct store_gap *out, store_done_fn done,
                                       void *done_arg)
{
    struct gap_status_job *j = calloc(1, sizeof *j);
    if (!j) return SG_ENOMEM;
    snprintf(j->gap_id, sizeof j->gap_id, "%s", gap_id);
    snprintf(j->now, sizeof j->now, "%s", now);
    j->ga.a = a;
    j->ga.gap_id = j->gap_id;
    j->ga.to = to;
    j->ga.now = j->now;
    j->out = out;
    j->done = done;
    j->done_arg = done_arg;
    int rc = store_group_submit(&S(st)->group, gap_status_send, gap_status_body, &j->ga,
                                gap_status_done, j);
    if (rc) free(j);
    return rc;
}

/* ---- interventions ---- */

#define IV_COLS                                                                                \
    "intervention_id, gap_id, member_hash, measure_codes, intervention_type, description,"     \
    " estimated_cost, estimated_value, roi, status, scheduled_date, completed_date, outcome,"  \
    " created_at, updated_at"

/* Parses a PostgreSQL text[] literal of measure codes ("{BCS,PDC-DR}" or with quotes). */
static void parse_codes_array(const char *s, struct store_intervention *iv)
{
    iv->n_measure_codes = 0;
    if (*s == '{') s++;
    while (*s && *s != '}' && iv->n_measure_codes < STORE_MAX_CODES) {
        char *dst = iv->measure_codes[iv->n_measure_codes];
        size_t k = 0;
        int quoted = *s == '"';
        if (quoted) s++;
        while (*s && (quoted ? *s != '"' : (*s != ',' && *s != '}'))) {
            if (quoted && *s == '\\' && s[1]) s++;
            if (k + 1 < STORE_CODE_LEN) dst[k++] = *s;
            s++;
        }
        dst[k] = '\0';
        if (quoted && *s == '"') s++;
        iv->n_measure_codes++;
        if (*s == ',') s++;
    }
}

/* Formats iv's measure codes as a text[] literal (codes are validated [A-Z0-9-]). */
static void codes_array(const struct store_intervention *iv, char *out, size_t cap)
{
    size_t len = (size_t)snprintf(out, cap, "{");
    for (int i = 0; i < iv->n_measure_codes && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s\"%s\"", i ? "," : "",
                                iv->measure_codes[i]);
    if (len < cap) snprintf(out + len, cap - len, "}");
}

static int row_iv(const PGresult *r, int i, struct store_intervention *iv)
{
    memset(iv, 0, sizeof *iv);
    g_copy(iv->intervention_id, sizeof iv->intervention_id, r, i, 0);
    g_copy(iv->gap_id, sizeof iv->gap_id, r, i, 1);
    g_copy(iv->member_hash, sizeof iv->member_hash, r, i, 2);
    parse_codes_array(g_str(r, i, 3), iv);
    g_copy(iv->intervention_type, sizeof iv->intervention_type, r, i, 4);
    g_copy(iv->description, sizeof iv->description, r, i, 5);
    iv->estimated_cost = g_dbl(r, i, 6);
    iv->estimated_value = g_dbl(r, i, 7);
    iv->roi = g_dbl(r, i, 8);
    enum store_iv_status s = STORE_IV_PLANNED;
    if (store_iv_status_parse(g_str(r, i, 9), &s)) s = STORE_IV_PLANNED;
    iv->status = s;
    g_date(iv->scheduled_date, r, i, 10);
    g_date(iv->completed_date, r, i, 11);
    enum store_outcome o = STORE_OUTCOME_NONE;
    if (!g_null(r, i, 12) && store_outcome_parse(g_str(r, i, 12), &o)) o = STORE_OUTCOME_NONE;
    iv->outcome = o;
    g_ts(iv->created_at, r, i, 13);
    g_ts(iv->updated_at, r, i, 14);
    return SG_OK;
}
static int dec_iv(const PGresult *r, int i, void *it) { return row_iv(r, i, it); }

STMT(iv_gap_check, 1,
     "SELECT member_hash, measure_code FROM gap_analysis WHERE gap_id = $1::uuid FOR SHARE");
STMT(iv_insert, 14,
     "INSERT INTO interventions (intervention_id, gap_id, member_hash, measure_codes,"
     " intervention_type, description, estimated_cost, estimated_value, roi, status,"
     " scheduled_date, completed_date, outcome, n_measures) VALUES ($1, $2, $3, $4::text[], $5,"
     " $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING " IV_COLS);
STMT(iv_link_gap, 2, "INSERT INTO intervention_gaps (intervention_id, gap_id) VALUES ($1, $2)");
STMT(iv_link_bundle, 3,
     "INSERT INTO intervention_gaps (intervention_id, gap_id) SELECT $1, gap_id FROM gap_analysis"
     " WHERE member_hash = $2 AND status IN ('identified', 'assigned')"
     " AND measure_code = ANY ($3::text[])");
STMT(iv_select, 1, "SELECT " IV_COLS " FROM interventions WHERE intervention_id = $1::uuid");
STMT(iv_select_lock, 1,
     "SELECT " IV_COLS " FROM interventions WHERE intervention_id = $1::uuid FOR UPDATE");
#define IV_LIST_WHERE                                                                          \
    " WHERE ($1::text IS NULL OR member_hash = $1) AND ($2::text IS NULL OR status = $2)"
STMT(iv_list, 4,
     "SELECT " IV_COLS " FROM interventions" IV_LIST_WHERE
     " ORDER BY created_at DESC, intervention_id DESC LIMIT $3 OFFSET $4");
STMT(iv_list_member, 4,
     "SELECT " IV_COLS " FROM interventions WHERE member_hash = $1 AND ($2::text IS NULL OR status = $2)"
     " ORDER BY created_at DESC, intervention_id DESC LIMIT $3 OFFSET $4");
STMT(iv_list_count, 2, "SELECT count(*) FROM interventions" IV_LIST_WHERE);
STMT(iv_pending, 3,
     "SELECT " IV_COLS " FROM interventions WHERE status IN ('planned', 'in_progress')"
     " AND scheduled_date IS NOT NULL AND scheduled_date <= $1"
     " ORDER BY scheduled_date, intervention_id LIMIT $2 OFFSET $3");
/* The total from the per-date counts kept by migration 0004's trigger (one row per date). */
STMT(iv_pending_count, 1,
     "SELECT coalesce(sum(n), 0) FROM iv_pending_counts WHERE scheduled_date <= $1::date");
STMT(iv_save, 6,
     "UPDATE interventions SET status = $2, scheduled_date = $3, completed_date = $4,"
     " outcome = $5, description = coalesce($6, description) WHERE intervention_id = $1::uuid"
     " RETURNING " IV_COLS);
STMT(iv_linked_gaps, 1,
     "SELECT " GAP_COLS " FROM gap_analysis WHERE gap_id IN (SELECT gap_id FROM intervention_gaps"
     " WHERE intervention_id = $1::uuid) AND status <> 'closed' ORDER BY gap_id FOR UPDATE");
STMT(iv_bundles, 1,
     "SELECT " IV_COLS " FROM interventions WHERE member_hash = $1 AND n_measures > 1"
     " ORDER BY created_at DESC, intervention_id DESC");

static int pg_intervention_create(struct store *st, const struct store_actor *a,
                                  const struct store_intervention *iv_in, const char *now,
                                  char *err, size_t errlen)
{
    struct px x;
    struct params p;
    PGresult *r = NULL;
    struct store_intervention iv = *iv_in, after;
    char codes[STORE_MAX_CODES * (STORE_CODE_LEN + 3) + 4];
    int rc = px_open(S(st), &x, err, errlen);
    if (!rc) rc = px_begin(&x);
    if (!rc) {
        p_init(&p);
        p_str(&p, iv.member_hash);
        rc = px_exec(&x, &member_exists, &p, &r);
        if (!rc && PQntuples(r) != 1) rc = sg_errf(err, errlen, SG_EINVAL, "member_hash: no such member");
        PQclear(r);
        r = NULL;
    }
    if (!rc && iv.gap_id[0]) {
        p_init(&p);
        p_str(&p, iv.gap_id);
        rc = px_exec(&x, &iv_gap_check, &p, &r);
        if (!rc && PQntuples(r) != 1) rc = sg_errf(err, errlen, SG_EINVAL, "gap_id: no such gap");
        if (!rc && strcmp(g_str(r, 0, 0), iv.member_hash))
            rc = sg_errf(err, errlen, SG_EINVAL, "gap_id: the gap belongs to another member");
        if (!rc && iv.n_measure_codes == 0) {
            g_copy(iv.measure_codes[0], sizeof iv.measure_codes[0], r, 0, 1);
            iv.n_measure_codes = 1;
        } else if (!rc && strcmp(iv.measure_codes[0], g_str(r, 0, 1))) {
            rc = sg_errf(err, errlen, SG_EINVAL, "measure_codes: must be the gap's measure");
        }
        PQclear(r);
        r = NULL;
    }
    if (!rc) {
        codes_array(&iv, codes, sizeof codes);
        p_init(&p);
        p_str(&p, iv.intervention_id);
        p_opt(&p, iv.gap_id);
        p_str(&p, iv.member_hash);
        p_str(&p, codes);
        p_str(&p, iv.intervention_type);
        p_opt(&p, iv.description);
        p_dbl(&p, iv.estimated_cost);
        p_dbl(&p, iv.estimated_value);
        p_dbl(&p, iv.roi);
        p_str(&p, store_iv_status_name(iv.status));
        p_opt(&p, iv.scheduled_date);
        p_opt(&p, iv.completed_date);
        p_opt(&p, iv.outcome == STORE_OUTCOME_NONE ? NULL : store_outcome_name(iv.outcome));
        p_ll(&p, iv.n_measure_codes);
        rc = px_exec(&x, &iv_insert, &p, &r);
        if (rc == SG_ECONFLICT) rc = sg_errf(err, errlen, SG_ECONFLICT, "intervention_id: exists");
        if (!rc) row_iv(r, 0, &after);
        PQclear(r);
    }
    if (!rc) {
        p_init(&p);
        p_str(&p, iv.intervention_id);
        if (iv.gap_id[0]) {
            p_str(&p, iv.gap_id);
            rc = px_exec(&x, &iv_link_gap, &p, NULL);
        } else {
            p_str(&p, iv.member_hash);
            p_str(&p, codes);
            rc = px_exec(&x, &iv_link_bundle, &p, NULL);
        }
    }
    if (!rc) {
        char *ch = store_json_intervention(NULL, &after);
        rc = ch ? px_audit(&x, a, "data_change", "intervention", iv.intervention_id, "create", ch,
                           now)
                : sg_errf(err, errlen, SG_ENOMEM, "audit: out of memory");
        free(ch);
    }
    if (!rc) rc = px_commit(&x);
    px_close(&x);
    return rc;
}

static int pg_intervention_get(struct store *st, const char *id, struct store_intervention *out,
                               char *err, size_t errlen)
{
    struct px x;
    struct params p;
    PGresult *r = NULL;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_str(&p, id);
    rc = px_exec(&x, &iv_select, &p, &r);
    if (!rc) {
        if (PQntuples(r) == 1) row_iv(r, 0, out);
        else rc = sg_errf(err, errlen, SG_ENOTFOUND, "intervention: not found");
    }
    PQclear(r);
    px_close(&x);
    return rc;
}

static int pg_intervention_list(struct store *st, const struct store_actor *a,
                                const struct store_iv_filter *f, const char *now,
                                struct store_intervention_list *out, char *err, size_t errlen)
{
    struct px x;
    struct params p;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_opt(&p, f->member_hash);
    p_opt(&p, f->has_status ? store_iv_status_name(f->status) : NULL);
    p_ll(&p, f->page.limit);
    p_ll(&p, f->page.offset);
    rc = fetch_list(&x, f->member_hash ? &iv_list_member : &iv_list, &p, (void **)&out->items,
                    &out->n, sizeof *out->items, dec_iv);
    long long total = 0;
    p.n = 2;
    if (!rc) rc = count_query(&x, &iv_list_count, &p, &total);
    if (!rc) page_done(total, out->n, &f->page, &out->total, &out->has_more);
    if (!rc && f->member_hash) rc = audit_read(&x, a, "member", f->member_hash, "read_interventions", now);
    px_close(&x);
    if (rc) store_intervention_list_free(out);
    return rc;
}

static int pg_intervention_get_pending(struct store *st, const char *date,
                                       const struct store_page *pg,
                                       struct store_intervention_list *out, char *err,
                                       size_t errlen)
{
    struct px x;
    struct params p;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_str(&p, date);
    p_ll(&p, pg->limit);
    p_ll(&p, pg->offset);
    rc = fetch_list(&x, &iv_pending, &p, (void **)&out->items, &out->n, sizeof *out->items, dec_iv);
    long long total = (long long)out->n;
    p.n = 1;
    if (!rc && (pg->offset > 0 || (long long)out->n >= pg->limit))
        rc = count_query(&x, &iv_pending_count, &p, &total);
    if (!rc) page_done(total, out->n, pg, &out->total, &out->has_more);
    px_close(&x);
    if (rc) store_intervention_list_free(out);
    return rc;
}

/* Writes iv's status/dates/outcome and audits before/after. */
static int iv_save_tx(struct px *x, const struct store_actor *a, const struct store_intervention *b,
                      const struct store_intervention *n, const char *action, const char *now,
                      struct store_intervention *after)
{
    struct params p;
    PGresult *r;
    p_init(&p);
    p_str(&p, n->intervention_id);
    p_str(&p, store_iv_status_name(n->status));
    p_opt(&p, n->scheduled_date);
    p_opt(&p, n->completed_date);
    p_opt(&p, n->outcome == STORE_OUTCOME_NONE ? NULL : store_outcome_name(n->outcome));
    p_raw(&p, NULL);
    int rc = px_exec(x, &iv_save, &p, &r);
    if (rc) return rc;
    row_iv(r, 0, after);
    PQclear(r);
    char *ch = store_json_intervention(b, after);
    if (!ch) return sg_errf(x->err, x->errlen, SG_ENOMEM, "audit: out of memory");
    rc = px_audit(x, a, "data_change", "intervention", n->intervention_id, action, ch, now);
    free(ch);
    return rc;
}

static int iv_lock(struct px *x, const char *id, struct store_intervention *out)
{
    struct params p;
    PGresult *r;
    p_init(&p);
    p_str(&p, id);
    int rc = px_exec(x, &iv_select_lock, &p, &r);
    if (rc) return rc;
    if (PQntuples(r) == 1) row_iv(r, 0, out);
    else rc = sg_errf(x->err, x->errlen, SG_ENOTFOUND, "intervention: not found");
    PQclear(r);
    return rc;
}

struct iv_arg {
    const struct store_actor *a;
    const char *id;
    const struct store_iv_update *u;
    enum store_outcome outcome;
    const char *now;
    struct store_intervention after;
    int closed;
};

static int iv_update_body(void *conn, void *arg, char *err, size_t errlen)
{
    struct iv_arg *ia = arg;
    struct px *x = gx_conn(conn, err, errlen);
    const struct store_iv_update *u = ia->u;
    struct store_intervention before, n;
    int rc = iv_lock(x, ia->id, &before);
    if (!rc) {
        n = before;
        if (u->set_status && u->status == before.status) {
            rc = sg_errf(err, errlen, SG_ETRANSITION, "status: already %s",
                         store_iv_status_name(u->status));
        } else if (u->set_status) {
            if (!store_iv_transition_ok(before.status, u->status))
                rc = sg_errf(err, errlen, SG_ETRANSITION, "status: %s -> %s not allowed",
                             store_iv_status_name(before.status), store_iv_status_name(u->status));
            else n.status = u->status;
        }
        if (!rc && u->set_outcome) {
            if (n.status != STORE_IV_COMPLETED)
                rc = sg_errf(err, errlen, SG_EINVAL,
                             "outcome: only a completed intervention has an outcome");
            else n.outcome = u->outcome;
        }
        if (!rc && u->set_scheduled_date) {
            if (n.status == STORE_IV_COMPLETED || n.status == STORE_IV_CANCELLED)
                rc = sg_errf(err, errlen, SG_EINVAL, "scheduled_date: the intervention is %s",
                             store_iv_status_name(n.status));
            else snprintf(n.scheduled_date, sizeof n.scheduled_date, "%s", u->scheduled_date);
        }
    }
    if (!rc) rc = iv_save_tx(x, ia->a, &before, &n, "update", ia->now, &ia->after);
    return rc;
}

static int pg_intervention_update(struct store *st, const struct store_actor *a, const char *id,
                                  const struct store_iv_update *u, const char *now,
                                  struct store_intervention *out, char *err, size_t errlen)
{
    struct iv_arg ia = {.a = a, .id = id, .u = u, .now = now};
    if (out) memset(out, 0, sizeof *out);
    int rc = store_group_run(&S(st)->group, iv_update_body, &ia, err, errlen);
    if (!rc && out) *out = ia.after;
    return rc;
}

static int iv_complete_body(void *conn, void *arg, char *err, size_t errlen)
{
    struct iv_arg *ia = arg;
    struct px *x = gx_conn(conn, err, errlen);
    const struct store_actor *a = ia->a;
    const char *id = ia->id, *now = ia->now;
    enum store_outcome outcome = ia->outcome;
    struct store_intervention before, n;
    struct store_gap_list gaps = {0};
    ia->closed = 0;
    int rc = iv_lock(x, id, &before);
    if (!rc && before.status != STORE_IV_PLANNED && before.status != STORE_IV_IN_PROGRESS)
        rc = sg_errf(err, errlen, SG_ETRANSITION, "status: %s -> completed not allowed",
                     store_iv_status_name(before.status));
    if (!rc) {
        n = before;
        n.status = STORE_IV_COMPLETED;
        n.outcome = outcome;
        store_date_of(now, n.completed_date);
        rc = iv_save_tx(x, a, &before, &n, "complete", now, &ia->after);
    }
    if (!rc && (outcome == STORE_OUTCOME_SUCCESS || outcome == STORE_OUTCOME_PARTIAL)) {
        struct params p;
        p_init(&p);
        p_str(&p, id);
        rc = fetch_list(x, &iv_linked_gaps, &p, (void **)&gaps.items, &gaps.n,
                        sizeof *gaps.items, dec_gap);
        for (size_t i = 0; i < gaps.n && !rc; i++) {
            struct store_gap g;
            rc = gap_move_tx(x, a, &gaps.items[i], STORE_GAP_CLOSED, "close", now, &g);
            if (!rc) ia->closed++;
        }
    }
    store_gap_list_free(&gaps);
    return rc;
}

static int pg_intervention_complete(struct store *st, const struct store_actor *a, const char *id,
                                    enum store_outcome outcome, const char *now,
                                    struct store_intervention *out, int *gaps_closed, char *err,
                                    size_t errlen)
{
    struct iv_arg ia = {.a = a, .id = id, .outcome = outcome, .now = now};
    if (out) memset(out, 0, sizeof *out);
    if (gaps_closed) *gaps_closed = 0;
    int rc = store_group_run(&S(st)->group, iv_complete_body, &ia, err, errlen);
    if (!rc) {
        if (out) *out = ia.after;
        if (gaps_closed) *gaps_closed = ia.closed;
    }
    return rc;
}

static int pg_intervention_get_bundles(struct store *st, const struct store_actor *a,
                                       const char *member_hash, const char *now,
                                       struct store_intervention_list *out, char *err,
                                       size_t errlen)
{
    struct px x;
    struct params p;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_str(&p, member_hash);
    rc = fetch_list(&x, &iv_bundles, &p, (void **)&out->items, &out->n, sizeof *out->items, dec_iv);
    if (!rc) out->total = (long long)out->n;
    if (!rc) rc = audit_read(&x, a, "member", member_hash, "read_bundles", now);
    px_close(&x);
    if (rc) store_intervention_list_free(out);
    return rc;
}

/* ---- star ratings ---- */

#define RATING_COLS                                                                            \
    "rating_id, contract_id, star_year, measurement_year, calculation_date, part_c, part_d,"   \
    " overall, measure_stars, measure_scores, reward_factor, cai, details, created_at"

static int row_rating(const PGresult *r, int i, struct store_star_rating *s)
{
    int oom = 0;
    memset(s, 0, sizeof *s);
    g_copy(s->rating_id, sizeof s->rating_id, r, i, 0);
    g_copy(s->contract_id, sizeof s->contract_id, r, i, 1);
    s->star_year = g_int(r, i, 2);
    s->measurement_year = g_int(r, i, 3);
    g_ts(s->calculation_date, r, i, 4);
    s->part_c = g_dbl(r, i, 5);
    s->part_d = g_dbl(r, i, 6);
    s->overall = g_dbl(r, i, 7);
    s->measure_stars = g_json(r, i, 8, &oom);
    s->measure_scores = g_json(r, i, 9, &oom);
    s->reward_factor = g_dbl(r, i, 10);
    s->cai = g_dbl(r, i, 11);
    s->details = g_json(r, i, 12, &oom);
    g_ts(s->created_at, r, i, 13);
    return oom ? SG_ENOMEM : SG_OK;
}
static int dec_rating(const PGresult *r, int i, void *it) { return row_rating(r, i, it); }

STMT(rating_insert, 13,
     "INSERT INTO star_ratings (rating_id, contract_id, star_year, measurement_year,"
     " calculation_date, part_c, part_d, overall, measure_stars, measure_scores, reward_factor,"
     " cai, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11, $12,"
     " $13::jsonb)");
STMT(rating_latest, 2,
     "SELECT " RATING_COLS " FROM star_ratings WHERE ($1::text IS NULL OR contract_id = $1)"
     " AND ($2::int = 0 OR star_year = $2) ORDER BY calculation_date DESC, rating_id DESC LIMIT 1");
STMT(rating_history, 3,
     "SELECT " RATING_COLS " FROM star_ratings WHERE ($1::text IS NULL OR contract_id = $1)"
     " ORDER BY star_year DESC, calculation_date DESC, rating_id DESC LIMIT $2 OFFSET $3");
STMT(rating_history_count, 1,
     "SELECT count(*) FROM star_ratings WHERE ($1::text IS NULL OR contract_id = $1)");

static int pg_star_rating_create(struct store *st, const struct store_actor *a,
                                 const struct store_star_rating *s, const char *now, char *err,
                                 size_t errlen)
{
    struct px x;
    struct params p;
    int rc = px_open(S(st), &x, err, errlen);
    if (!rc) rc = px_begin(&x);
    if (!rc) {
        p_init(&p);
        p_str(&p, s->rating_id);
        p_str(&p, s->contract_id);
        p_ll(&p, s->star_year);
        p_ll(&p, s->measurement_year);
        p_str(&p, s->calculation_date[0] ? s->calculation_date : now);
        p_dbl(&p, s->part_c);
        p_dbl(&p, s->part_d);
        p_dbl(&p, s->overall);
        p_raw(&p, s->measure_stars);
        p_raw(&p, s->measure_scores);
        p_dbl(&p, s->reward_factor);
        p_dbl(&p, s->cai);
        p_raw(&p, s->details);
        rc = px_exec(&x, &rating_insert, &p, NULL);
    }
    if (!rc) {
        char y[16];
        snprintf(y, sizeof y, "%d", s->star_year);
        const char *k[] = {"contract_id", "star_year"};
        const char *v[] = {s->contract_id, y};
        rc = px_audit_kv(&x, a, "data_change", "star_rating", s->rating_id, "create", 2, k, v, now);
    }
    if (!rc) rc = px_commit(&x);
    px_close(&x);
    return rc;
}

static int pg_star_rating_get_latest(struct store *st, const char *contract_id, int star_year,
                                     struct store_star_rating *out, char *err, size_t errlen)
{
    struct px x;
    struct params p;
    PGresult *r = NULL;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_opt(&p, contract_id);
    p_ll(&p, star_year);
    rc = px_exec(&x, &rating_latest, &p, &r);
    if (!rc) {
        if (PQntuples(r) == 1) rc = row_rating(r, 0, out);
        else rc = sg_errf(err, errlen, SG_ENOTFOUND, "star_rating: none for this contract and year");
    }
    PQclear(r);
    px_close(&x);
    return rc;
}

static int pg_star_rating_get_history(struct store *st, const char *contract_id,
                                      const struct store_page *pg,
                                      struct store_star_rating_list *out, char *err, size_t errlen)
{
    struct px x;
    struct params p;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_opt(&p, contract_id);
    p_ll(&p, pg->limit);
    p_ll(&p, pg->offset);
    rc = fetch_list(&x, &rating_history, &p, (void **)&out->items, &out->n, sizeof *out->items,
                    dec_rating);
    long long total = 0;
    p.n = 1;
    if (!rc) rc = count_query(&x, &rating_history_count, &p, &total);
    if (!rc) page_done(total, out->n, pg, &out->total, &out->has_more);
    px_close(&x);
    if (rc) store_star_rating_list_free(out);
    return rc;
}

/* ---- simulations ---- */

#define SIM_COLS                                                                               \
    "simulation_id, contract_id, measurement_year, simulation_date, strategy, closure_rate,"   \
    " baseline_stars, projected_stars, revenue_impact, investment_required, roi, gaps_closed,"  \
    " members_impacted, scenario_details, created_at"

static int row_sim(const PGresult *r, int i, struct store_simulation *s)
{
    int oom = 0;
    memset(s, 0, sizeof *s);
    g_copy(s->simulation_id, sizeof s->simulation_id, r, i, 0);
    g_copy(s->contract_id, sizeof s->contract_id, r, i, 1);
    s->measurement_year = g_int(r, i, 2);
    g_ts(s->simulation_date, r, i, 3);
    g_copy(s->strategy, sizeof s->strategy, r, i, 4);
    s->closure_rate = g_dbl(r, i, 5);
    s->baseline_stars = g_dbl(r, i, 6);
    s->projected_stars = g_dbl(r, i, 7);
    s->revenue_impact = g_dbl(r, i, 8);
    s->investment_required = g_dbl(r, i, 9);
    s->roi = g_dbl(r, i, 10);
    s->gaps_closed = (long)g_ll(r, i, 11);
    s->members_impacted = (long)g_ll(r, i, 12);
    s->scenario_details = g_json(r, i, 13, &oom);
    g_ts(s->created_at, r, i, 14);
    return oom ? SG_ENOMEM : SG_OK;
}
static int dec_sim(const PGresult *r, int i, void *it) { return row_sim(r, i, it); }

STMT(sim_insert, 14,
     "INSERT INTO simulations (simulation_id, contract_id, measurement_year, simulation_date,"
     " strategy, closure_rate, baseline_stars, projected_stars, revenue_impact,"
     " investment_required, roi, gaps_closed, members_impacted, scenario_details) VALUES ($1,"
     " $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb)");
STMT(sim_select, 1, "SELECT " SIM_COLS " FROM simulations WHERE simulation_id = $1::uuid");
#define SIM_WHERE                                                                              \
    " WHERE ($1::int = 0 OR measurement_year = $1) AND ($2::text IS NULL OR strategy = $2)"    \
    " AND ($3::text IS NULL OR contract_id = $3)"
STMT(sim_list, 5,
     "SELECT " SIM_COLS " FROM simulations" SIM_WHERE
     " ORDER BY simulation_date DESC, simulation_id DESC LIMIT $4 OFFSET $5");
STMT(sim_count, 3, "SELECT count(*) FROM simulations" SIM_WHERE);

static int pg_simulation_create(struct store *st, const struct store_actor *a,
                                const struct store_simulation *s, const char *now, char *err,
                                size_t errlen)
{
    struct px x;
    struct params p;
    int rc = px_open(S(st), &x, err, errlen);
    if (!rc) rc = px_begin(&x);
    if (!rc) {
        p_init(&p);
        p_str(&p, s->simulation_id);
        p_opt(&p, s->contract_id);
        p_ll(&p, s->measurement_year);
        p_str(&p, s->simulation_date[0] ? s->simulation_date : now);
        p_str(&p, s->strategy);
        p_dbl(&p, s->closure_rate);
        p_dbl(&p, s->baseline_stars);
        p_dbl(&p, s->projected_stars);
        p_dbl(&p, s->revenue_impact);
        p_dbl(&p, s->investment_required);
        p_dbl(&p, s->roi);
        p_ll(&p, s->gaps_closed);
        p_ll(&p, s->members_impacted);
        p_raw(&p, s->scenario_details);
        rc = px_exec(&x, &sim_insert, &p, NULL);
    }
    if (!rc) {
        const char *k[] = {"strategy", "contract_id"};
        const char *v[] = {s->strategy, s->contract_id[0] ? s->contract_id : NULL};
        rc = px_audit_kv(&x, a, "data_change", "simulation", s->simulation_id, "create", 2, k, v,
                         now);
    }
    if (!rc) rc = px_commit(&x);
    px_close(&x);
    return rc;
}

static int pg_simulation_get(struct store *st, const char *id, struct store_simulation *out,
                             char *err, size_t errlen)
{
    struct px x;
    struct params p;
    PGresult *r = NULL;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_str(&p, id);
    rc = px_exec(&x, &sim_select, &p, &r);
    if (!rc) {
        if (PQntuples(r) == 1) rc = row_sim(r, 0, out);
        else rc = sg_errf(err, errlen, SG_ENOTFOUND, "simulation_id: no such simulation");
    }
    PQclear(r);
    px_close(&x);
    return rc;
}

static int pg_simulation_list(struct store *st, const struct store_sim_filter *f,
                              struct store_simulation_list *out, char *err, size_t errlen)
{
    struct px x;
    struct params p;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_ll(&p, f->measurement_year);
    p_opt(&p, f->strategy);
    p_opt(&p, f->contract_id);
    p_ll(&p, f->page.limit);
    p_ll(&p, f->page.offset);
    rc = fetch_list(&x, &sim_list, &p, (void **)&out->items, &out->n, sizeof *out->items, dec_sim);
    long long total = 0;
    p.n = 3;
    if (!rc) rc = count_query(&x, &sim_count, &p, &total);
    if (!rc) page_done(total, out->n, &f->page, &out->total, &out->has_more);
    px_close(&x);
    if (rc) store_simulation_list_free(out);
    return rc;
}

/* ---- api logs ---- */

#define LOG_COLS                                                                               \
    "log_id, request_id, endpoint, method, api_key_hash, status_code, response_time_ms,"       \
    " prediction_count, error_message, timestamp"

static int row_log(const PGresult *r, int i, struct store_api_log *l)
{
    memset(l, 0, sizeof *l);
    l->log_id = g_ll(r, i, 0);
    g_copy(l->request_id, sizeof l->request_id, r, i, 1);
    g_copy(l->endpoint, sizeof l->endpoint, r, i, 2);
    g_copy(l->method, sizeof l->method, r, i, 3);
    g_copy(l->api_key_hash, sizeof l->api_key_hash, r, i, 4);
    l->status_code = g_int(r, i, 5);
    l->response_time_ms = g_dbl(r, i, 6);
    l->prediction_count = (long)g_ll(r, i, 7);
    g_copy(l->error_message, sizeof l->error_message, r, i, 8);
    g_ts(l->timestamp, r, i, 9);
    return SG_OK;
}
static int dec_log(const PGresult *r, int i, void *it) { return row_log(r, i, it); }

static int pg_api_log_batch_create(struct store *st, const struct store_api_log *rows, size_t n,
                                   const char *now, char *err, size_t errlen)
{
    struct px x;
    struct sg_buf b;
    sg_buf_init(&b, 2 * COPY_CHUNK + (1 << 20));
    int rc = px_open(S(st), &x, err, errlen);
    if (!rc) rc = px_begin(&x);
    /* the request log need not wait for its WAL flush (store.h) */
    if (!rc) rc = px_cmd(&x, "SET LOCAL synchronous_commit = off");
    if (!rc)
        rc = copy_start(&x, "api_logs_copy",
                        "COPY api_logs (request_id, endpoint, method, api_key_hash, status_code,"
                        " response_time_ms, prediction_count, error_message, timestamp) FROM STDIN");
    if (!rc) {
        int crc = SG_OK;
        for (size_t i = 0; i < n && !crc; i++) {
            const struct store_api_log *l = &rows[i];
            crc = copy_field(&b, l->request_id, 0);
            if (!crc) crc = copy_field(&b, l->endpoint, 0);
            if (!crc) crc = copy_field(&b, l->method, 0);
            if (!crc) crc = copy_field(&b, l->api_key_hash[0] ? l->api_key_hash : NULL, 0);
            if (!crc) crc = copy_ll(&b, l->status_code, 0);
            if (!crc) crc = copy_num(&b, l->response_time_ms, 0);
            if (!crc) crc = copy_ll(&b, l->prediction_count, 0);
            if (!crc) crc = copy_field(&b, l->error_message[0] ? l->error_message : NULL, 0);
            if (!crc) crc = copy_field(&b, l->timestamp[0] ? l->timestamp : now, 1);
            if (crc == SG_ETOOBIG || crc == SG_ENOMEM)
                crc = sg_errf(err, errlen, crc, "rows[%zu]: row too large for COPY", i);
            else if (!crc)
                crc = copy_flush(&x, "api_logs_copy", &b, 0);
        }
        rc = copy_end(&x, "api_logs_copy", &b, crc ? "client error" : NULL);
        if (crc) rc = crc;
    }
    if (!rc) rc = px_commit(&x);
    px_close(&x);
    sg_buf_fini(&b);
    return rc;
}

#define LOG_WHERE " WHERE timestamp >= $1 AND ($2::text IS NULL OR endpoint = $2)"
STMT(log_stats, 2,
     "SELECT count(*), coalesce(avg(response_time_ms), 0),"
     " count(*) FILTER (WHERE status_code >= 500),"
     " count(*) FILTER (WHERE status_code BETWEEN 400 AND 499) FROM api_logs" LOG_WHERE);
STMT(log_stats_endpoints, 2,
     "SELECT endpoint, count(*), avg(response_time_ms), count(*) FILTER (WHERE status_code >= 500)"
     " FROM api_logs" LOG_WHERE " GROUP BY endpoint ORDER BY count(*) DESC, endpoint");
STMT(log_slowest, 2,
     "SELECT " LOG_COLS " FROM api_logs WHERE timestamp >= $1"
     " ORDER BY response_time_ms DESC, log_id DESC LIMIT $2");
STMT(log_errors, 2,
     "SELECT " LOG_COLS " FROM api_logs WHERE timestamp >= $1 AND status_code >= 400"
     " ORDER BY timestamp DESC, log_id DESC LIMIT $2");

static int pg_api_log_get_stats(struct store *st, const char *since_ts, const char *endpoint,
                                struct store_api_stats *out, char *err, size_t errlen)
{
    struct px x;
    struct params p;
    PGresult *r = NULL;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_str(&p, since_ts);
    p_opt(&p, endpoint);
    rc = px_exec(&x, &log_stats, &p, &r);
    if (!rc) {
        out->total = g_ll(r, 0, 0);
        out->avg_ms = out->total ? g_dbl(r, 0, 1) : 0.0;
        out->error_rate = out->total ? (double)g_ll(r, 0, 2) / (double)out->total : 0.0;
        out->client_errors = g_ll(r, 0, 3);
    }
    PQclear(r);
    r = NULL;
    if (!rc) rc = px_exec(&x, &log_stats_endpoints, &p, &r);
    if (!rc) {
        int nt = PQntuples(r);
        rc = list_alloc((void **)&out->by_endpoint, (size_t)nt, sizeof *out->by_endpoint, err,
                        errlen);
        for (int i = 0; i < nt && !rc; i++) {
            struct store_endpoint_stats *e = &out->by_endpoint[i];
            g_copy(e->endpoint, sizeof e->endpoint, r, i, 0);
            e->total = g_ll(r, i, 1);
            e->avg_ms = g_dbl(r, i, 2);
            e->error_rate = e->total ? (double)g_ll(r, i, 3) / (double)e->total : 0.0;
            out->n_endpoints++;
        }
    }
    PQclear(r);
    px_close(&x);
    if (rc) store_api_stats_fini(out);
    return rc;
}

static int log_list(struct store *st, const struct stmt *stm, const char *since_ts, long limit,
                    struct store_api_log_list *out, char *err, size_t errlen)
{
    struct px x;
    struct params p;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_str(&p, since_ts);
    p_ll(&p, limit);
    rc = fetch_list(&x, stm, &p, (void **)&out->items, &out->n, sizeof *out->items, dec_log);
    if (!rc) out->total = (long long)out->n;
    px_close(&x);
    if (rc) store_api_log_list_free(out);
    return rc;
}

static int pg_api_log_get_slowest(struct store *st, const char *since_ts, long limit,
                                  struct store_api_log_list *out, char *err, size_t errlen)
{
    return log_list(st, &log_slowest, since_ts, limit, out, err, errlen);
}

static int pg_api_log_get_errors(struct store *st, const char *since_ts, long limit,
                                 struct store_api_log_list *out, char *err, size_t errlen)
{
    return log_list(st, &log_errors, since_ts, limit, out, err, errlen);
}

/* ---- audit ---- */

#define AUDIT_COLS                                                                             \
    "audit_id, event_type, entity_type, entity_id, action, user_id, changes, ip_address,"      \
    " timestamp, prev_hash, hash"

static int row_audit(const PGresult *r, int i, struct store_audit *a)
{
    int oom = 0;
    memset(a, 0, sizeof *a);
    a->audit_id = g_ll(r, i, 0);
    g_copy(a->event_type, sizeof a->event_type, r, i, 1);
    g_copy(a->entity_type, sizeof a->entity_type, r, i, 2);
    g_copy(a->entity_id, sizeof a->entity_id, r, i, 3);
    g_copy(a->action, sizeof a->action, r, i, 4);
    g_copy(a->user_id, sizeof a->user_id, r, i, 5);
    a->changes = g_json(r, i, 6, &oom);
    g_copy(a->ip_address, sizeof a->ip_address, r, i, 7);
    g_ts(a->timestamp, r, i, 8);
    g_copy(a->prev_hash, sizeof a->prev_hash, r, i, 9);
    g_copy(a->hash, sizeof a->hash, r, i, 10);
    return oom ? SG_ENOMEM : SG_OK;
}
static int dec_audit(const PGresult *r, int i, void *it) { return row_audit(r, i, it); }

STMT(audit_trail, 4,
     "SELECT " AUDIT_COLS " FROM audit_log WHERE entity_type = $1"
     " AND ($2::text IS NULL OR entity_id = $2) ORDER BY audit_id DESC LIMIT $3 OFFSET $4");
STMT(audit_trail_count, 2,
     "SELECT count(*) FROM audit_log WHERE entity_type = $1 AND ($2::text IS NULL OR entity_id = $2)");
STMT(audit_recent, 3,
     "SELECT " AUDIT_COLS " FROM audit_log WHERE timestamp >= $1"
     " ORDER BY audit_id DESC LIMIT $2 OFFSET $3");
STMT(audit_recent_count, 1, "SELECT count(*) FROM audit_log WHERE timestamp >= $1");
STMT(audit_walk, 2,
     "SELECT " AUDIT_COLS " FROM audit_log WHERE audit_id > $1 ORDER BY audit_id LIMIT $2");

static int pg_audit_create(struct store *st, const struct store_actor *a,
                           const struct store_audit_event *ev, const char *now, char *err,
                           size_t errlen)
{
    struct px x;
    int rc = px_open(S(st), &x, err, errlen);
    if (!rc) rc = px_begin(&x);
    if (!rc)
        rc = px_audit(&x, a, ev->event_type, ev->entity_type, ev->entity_id, ev->action,
                      ev->changes, now);
    if (!rc) rc = px_commit(&x);
    px_close(&x);
    return rc;
}

static int pg_audit_get_trail(struct store *st, const char *entity_type, const char *entity_id,
                              const struct store_page *pg, struct store_audit_list *out, char *err,
                              size_t errlen)
{
    struct px x;
    struct params p;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_str(&p, entity_type);
    p_opt(&p, entity_id);
    p_ll(&p, pg->limit);
    p_ll(&p, pg->offset);
    rc = fetch_list(&x, &audit_trail, &p, (void **)&out->items, &out->n, sizeof *out->items,
                    dec_audit);
    long long total = 0;
    p.n = 2;
    if (!rc) rc = count_query(&x, &audit_trail_count, &p, &total);
    if (!rc) page_done(total, out->n, pg, &out->total, &out->has_more);
    px_close(&x);
    if (rc) store_audit_list_free(out);
    return rc;
}

static int pg_audit_get_recent(struct store *st, const char *since_ts, const struct store_page *pg,
                               struct store_audit_list *out, char *err, size_t errlen)
{
    struct px x;
    struct params p;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_str(&p, since_ts);
    p_ll(&p, pg->limit);
    p_ll(&p, pg->offset);
    rc = fetch_list(&x, &audit_recent, &p, (void **)&out->items, &out->n, sizeof *out->items,
                    dec_audit);
    long long total = 0;
    p.n = 1;
    if (!rc) rc = count_query(&x, &audit_recent_count, &p, &total);
    if (!rc) page_done(total, out->n, pg, &out->total, &out->has_more);
    px_close(&x);
    if (rc) store_audit_list_free(out);
    return rc;
}

#define AUDIT_WALK_CHUNK 5000

/* Walks the chain in audit_id order in chunks (bounded memory), recomputing every hash. The
 * first row is the oldest one kept (retention may have removed older rows): its prev_hash is
 * taken as given, every later link must match. */
static int pg_audit_verify(struct store *st, struct store_audit_verify *out, char *err,
                           size_t errlen)
{
    struct px x;
    memset(out, 0, sizeof *out);
    out->ok = 1;
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    /* One snapshot for the whole walk. */
    rc = px_cmd(&x, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (!rc) x.tx = 1;
    long long last_id = 0;
    char last_hash[STORE_HASH_LEN] = "";
    int first = 1;
    while (!rc && out->ok) {
        struct params p;
        PGresult *r = NULL;
        p_init(&p);
        p_ll(&p, last_id);
        p_ll(&p, AUDIT_WALK_CHUNK);
        rc = px_exec(&x, &audit_walk, &p, &r);
        if (rc) break;
        int nt = PQntuples(r);
        for (int i = 0; i < nt && out->ok && !rc; i++) {
            struct store_audit row;
            char h[STORE_HASH_LEN];
            rc = row_audit(r, i, &row);
            if (rc) {
                store_audit_fini(&row);
                break;
            }
            out->rows_checked++;
            const char *reason = NULL;
            if (!first && row.audit_id != last_id + 1) reason = "gap in audit ids (row deleted)";
            else if (!first && strcmp(row.prev_hash, last_hash))
                reason = "prev_hash does not match the previous row";
            else if (store_audit_hash(&row, h)) rc = SG_EINTERNAL;
            else if (strcmp(h, row.hash)) reason = "hash does not match the row's content";
            if (reason) {
                out->ok = 0;
                out->first_bad_id = row.audit_id;
                snprintf(out->reason, sizeof out->reason, "%s", reason);
            }
            first = 0;
            last_id = row.audit_id;
            snprintf(last_hash, sizeof last_hash, "%s", row.hash);
            store_audit_fini(&row);
        }
        PQclear(r);
        if (nt < AUDIT_WALK_CHUNK) break;
    }
    /* The last row must be the chain head: a truncated tail leaves every link intact. */
    if (!rc && out->ok) {
        PGresult *r = NULL;
        rc = px_exec(&x, &audit_head_get, NULL, &r);
        if (!rc && PQntuples(r) == 1) {
            long long head_id = g_ll(r, 0, 0);
            if (first ? head_id != 0 : (head_id != last_id || strcmp(g_str(r, 0, 1), last_hash))) {
                out->ok = 0;
                out->first_bad_id = first ? head_id : last_id;
                snprintf(out->reason, sizeof out->reason,
                         "chain head does not match the last row (rows removed)");
            }
        }
        PQclear(r);
    }
    if (rc == SG_EINTERNAL) sg_errf(err, errlen, rc, "audit verify: hashing failed");
    if (!rc) rc = px_commit(&x);
    px_close(&x);
    return rc;
}

/* ---- measure results ---- */

#define MR_COLS                                                                                \
    "member_hash, measure_code, measurement_year, initial_population, denominator,"           \
    " denominator_exclusion, numerator, evaluated_at, source, numerator_date"

static int row_mr(const PGresult *r, int i, struct store_measure_result *m)
{
    memset(m, 0, sizeof *m);
    g_copy(m->member_hash, sizeof m->member_hash, r, i, 0);
    g_copy(m->measure_code, sizeof m->measure_code, r, i, 1);
    m->measurement_year = g_int(r, i, 2);
    m->initial_population = g_bool(r, i, 3);
    m->denominator = g_bool(r, i, 4);
    m->denominator_exclusion = g_bool(r, i, 5);
    m->numerator = g_bool(r, i, 6);
    g_ts(m->evaluated_at, r, i, 7);
    g_copy(m->source, sizeof m->source, r, i, 8);
    g_copy(m->numerator_date, sizeof m->numerator_date, r, i, 9);
    return SG_OK;
}
static int dec_mr(const PGresult *r, int i, void *it) { return row_mr(r, i, it); }

/* The staging table lives as long as the connection and is emptied at each commit. It has the
 * COPYed columns only: created_at/updated_at with their clock_timestamp() defaults (as LIKE
 * ... INCLUDING DEFAULTS gave it) cost two clock reads per row and, being volatile, made COPY
 * insert row by row; the upserts never read them. */
static const char mr_stage_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS mr_stage (member_hash TEXT, measure_code TEXT,"
    " measurement_year INTEGER, initial_population BOOLEAN, denominator BOOLEAN,"
    " denominator_exclusion BOOLEAN, numerator BOOLEAN, evaluated_at TIMESTAMPTZ, source TEXT,"
    " numerator_date DATE) ON COMMIT DELETE ROWS";
STMT(mr_merge, 0,
     "INSERT INTO measure_results (" MR_COLS ") SELECT DISTINCT ON (member_hash, measure_code,"
     " measurement_year) " MR_COLS " FROM mr_stage ORDER BY member_hash, measure_code,"
     " measurement_year, ctid DESC"
     " ON CONFLICT (member_hash, measure_code, measurement_year) DO UPDATE SET"
     " initial_population = EXCLUDED.initial_population, denominator = EXCLUDED.denominator,"
     " denominator_exclusion = EXCLUDED.denominator_exclusion, numerator = EXCLUDED.numerator,"
     " evaluated_at = EXCLUDED.evaluated_at, source = EXCLUDED.source,"
     " numerator_date = EXCLUDED.numerator_date");
STMT(mr_by_member, 2,
     "SELECT " MR_COLS " FROM measure_results WHERE member_hash = $1"
     " AND ($2::int = 0 OR measurement_year = $2) ORDER BY measurement_year DESC, measure_code");
STMT(mr_rates, 3,
     "SELECT r.measure_code, m.contract_id, r.measurement_year,"
     " count(*) FILTER (WHERE r.denominator AND NOT r.denominator_exclusion),"
     " count(*) FILTER (WHERE r.numerator AND r.denominator AND NOT r.denominator_exclusion),"
     " count(*) FILTER (WHERE r.denominator_exclusion)"
     " FROM measure_results r JOIN members m ON m.member_hash = r.member_hash"
     " WHERE ($1::text IS NULL OR r.measure_code = $1) AND ($2::text IS NULL OR m.contract_id = $2)"
     " AND ($3::int = 0 OR r.measurement_year = $3)"
     " GROUP BY r.measure_code, m.contract_id, r.measurement_year"
     " ORDER BY r.measure_code, m.contract_id, r.measurement_year");

static const char *tf(int b) { return b ? "t" : "f"; }

/* Writes row i of `rows` as one COPY text line into b (fields in the stage's column order). */
typedef int (*stage_row_fn)(struct sg_buf *b, const void *rows, size_t i, const char *now);

/* Creates the connection's temporary staging table (stage_sql: CREATE TEMP TABLE IF NOT EXISTS
 * ... ON COMMIT DELETE ROWS) and COPYs the n rows into it through row(), inside the caller's
 * transaction. `what` names the COPY in errors. */
static int stage_copy(struct px *x, const char *stage_sql, const char *what, const char *copy_sql,
                      const void *rows, size_t n, stage_row_fn row, const char *now)
{
    struct sg_buf b;
    sg_buf_init(&b, 2 * COPY_CHUNK + (1 << 20));
    int rc = px_cmd(x, stage_sql);
    if (!rc) rc = copy_start(x, what, copy_sql);
    if (!rc) {
        int crc = SG_OK;
        for (size_t i = 0; i < n && !crc; i++) {
            crc = row(&b, rows, i, now);
            if (crc == SG_ETOOBIG || crc == SG_ENOMEM)
                crc = sg_errf(x->err, x->errlen, crc, "rows[%zu]: row too large for COPY", i);
            else if (!crc)
                crc = copy_flush(x, what, &b, 0);
        }
        rc = copy_end(x, what, &b, crc ? "client error" : NULL);
        if (crc) rc = crc;
    }
    sg_buf_fini(&b);
    return rc;
}

static int mr_stage_row(struct sg_buf *b, const void *rows, size_t i, const char *now)
{
    const struct store_measure_result *m = &((const struct store_measure_result *)rows)[i];
    int crc = copy_field(b, m->member_hash, 0);
    if (!crc) crc = copy_field(b, m->measure_code, 0);
    if (!crc) crc = copy_ll(b, m->measurement_year, 0);
    if (!crc) crc = copy_field(b, tf(m->initial_population), 0);
    if (!crc) crc = copy_field(b, tf(m->denominator), 0);
    if (!crc) crc = copy_field(b, tf(m->denominator_exclusion), 0);
    if (!crc) crc = copy_field(b, tf(m->numerator), 0);
    if (!crc) crc = copy_field(b, m->evaluated_at[0] ? m->evaluated_at : now, 0);
    if (!crc) crc = copy_field(b, m->source, 0);
    if (!crc) crc = copy_field(b, m->numerator_date[0] ? m->numerator_date : NULL, 1);
    return crc;
}

static int pg_measure_result_upsert_batch(struct store *st, const struct store_actor *a,
                                          const struct store_measure_result *rows, size_t n,
                                          const char *now, char *err, size_t errlen)
{
    struct px x;
    int rc = px_open(S(st), &x, err, errlen);
    if (!rc) rc = px_begin(&x);
    if (!rc) {
        struct member_set ms;
        rc = member_set_build(&x, rows, n, mr_member, &ms);
        if (!rc) rc = check_members(&x, rows, n, mr_member, &ms);
        member_set_fini(&ms);
    }
    if (!rc)
        rc = stage_copy(&x, mr_stage_sql, "measure_results_copy",
                        "COPY mr_stage (" MR_COLS ") FROM STDIN", rows, n, mr_stage_row, now);
    if (!rc) rc = px_exec(&x, &mr_merge, NULL, NULL);
    if (!rc) {
        char cnt[32];
        snprintf(cnt, sizeof cnt, "%zu", n);
        char json[64];
        snprintf(json, sizeof json, "{\"count\":%s}", cnt);
        rc = px_audit(&x, a, "data_change", "measure_result", NULL, "upsert_batch", json, now);
    }
    if (!rc) rc = px_commit(&x);
    px_close(&x);
    return rc;
}

static int pg_measure_result_get_by_member(struct store *st, const char *member_hash, int year,
                                           struct store_measure_result_list *out, char *err,
                                           size_t errlen)
{
    struct px x;
    struct params p;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_str(&p, member_hash);
    p_ll(&p, year);
    rc = fetch_list(&x, &mr_by_member, &p, (void **)&out->items, &out->n, sizeof *out->items,
                    dec_mr);
    if (!rc) out->total = (long long)out->n;
    px_close(&x);
    if (rc) store_measure_result_list_free(out);
    return rc;
}

static int dec_rate(const PGresult *r, int i, void *it)
{
    struct store_measure_rate *m = it;
    memset(m, 0, sizeof *m);
    g_copy(m->measure_code, sizeof m->measure_code, r, i, 0);
    g_copy(m->contract_id, sizeof m->contract_id, r, i, 1);
    m->measurement_year = g_int(r, i, 2);
    m->eligible = g_ll(r, i, 3);
    m->numerator = g_ll(r, i, 4);
    m->exclusions = g_ll(r, i, 5);
    m->rate = m->eligible ? (double)m->numerator / (double)m->eligible : NAN;
    return SG_OK;
}

static int pg_measure_result_rates(struct store *st, const char *measure_code,
                                   const char *contract_id, int year,
                                   struct store_measure_rate_list *out, char *err, size_t errlen)
{
    struct px x;
    struct params p;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_opt(&p, measure_code);
    p_opt(&p, contract_id);
    p_ll(&p, year);
    rc = fetch_list(&x, &mr_rates, &p, (void **)&out->items, &out->n, sizeof *out->items, dec_rate);
    if (!rc) out->total = (long long)out->n;
    px_close(&x);
    if (rc) store_measure_rate_list_free(out);
    return rc;
}

/* ---- measures catalog ---- */

#define MEASURE_COLS                                                                           \
    "star_year, code, cms_id, name, part, domain, weighting_category, weight, direction,"      \
    " display_precision, member_level"

static int dec_measure(const PGresult *r, int i, void *it)
{
    struct store_measure *m = it;
    memset(m, 0, sizeof *m);
    m->star_year = g_int(r, i, 0);
    g_copy(m->code, sizeof m->code, r, i, 1);
    g_copy(m->cms_id, sizeof m->cms_id, r, i, 2);
    g_copy(m->name, sizeof m->name, r, i, 3);
    m->part = g_str(r, i, 4)[0];
    g_copy(m->domain, sizeof m->domain, r, i, 5);
    enum store_weight_cat wc = STORE_WCAT_PROCESS;
    if (store_weight_cat_parse(g_str(r, i, 6), &wc)) wc = STORE_WCAT_PROCESS;
    m->weighting_category = wc;
    m->weight = g_dbl(r, i, 7);
    enum store_direction d = STORE_HIGHER_BETTER;
    if (store_direction_parse(g_str(r, i, 8), &d)) d = STORE_HIGHER_BETTER;
    m->direction = d;
    m->display_precision = g_int(r, i, 9);
    m->member_level = g_bool(r, i, 10);
    return SG_OK;
}

STMT(measure_upsert, 11,
     "INSERT INTO measures (" MEASURE_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
     " ON CONFLICT (star_year, code) DO UPDATE SET cms_id = EXCLUDED.cms_id, name = EXCLUDED.name,"
     " part = EXCLUDED.part, domain = EXCLUDED.domain,"
     " weighting_category = EXCLUDED.weighting_category, weight = EXCLUDED.weight,"
     " direction = EXCLUDED.direction, display_precision = EXCLUDED.display_precision,"
     " member_level = EXCLUDED.member_level");
STMT(measure_list, 1,
     "SELECT " MEASURE_COLS " FROM measures WHERE ($1::int = 0 OR star_year = $1)"
     " ORDER BY star_year, cms_id");
STMT(measure_get, 2, "SELECT " MEASURE_COLS " FROM measures WHERE star_year = $1 AND code = $2");

static int pg_measure_upsert_batch(struct store *st, const struct store_actor *a,
                                   const struct store_measure *rows, size_t n, const char *now,
                                   char *err, size_t errlen)
{
    struct px x;
    int rc = px_open(S(st), &x, err, errlen);
    if (!rc) rc = px_begin(&x);
    for (size_t i = 0; i < n && !rc; i++) {
        const struct store_measure *m = &rows[i];
        struct params p;
        char part[2] = {m->part, '\0'};
        p_init(&p);
        p_ll(&p, m->star_year);
        p_str(&p, m->code);
        p_str(&p, m->cms_id);
        p_str(&p, m->name);
        p_str(&p, part);
        p_str(&p, m->domain);
        p_str(&p, store_weight_cat_name(m->weighting_category));
        p_dbl(&p, m->weight);
        p_str(&p, store_direction_name(m->direction));
        p_ll(&p, m->display_precision);
        p_bool(&p, m->member_level);
        rc = px_exec(&x, &measure_upsert, &p, NULL);
        if (rc == SG_ECONFLICT) {
            rc = sg_errf(err, errlen, SG_ECONFLICT,
                         "rows[%zu].cms_id: used by another measure of that star year", i);
        } else if (rc) {
            char inner[SG_ERRLEN];
            snprintf(inner, sizeof inner, "%s", err ? err : "");
            sg_errf(err, errlen, rc, "rows[%zu]: %s", i, inner);
        }
    }
    if (!rc) {
        char cnt[32];
        snprintf(cnt, sizeof cnt, "%zu", n);
        char json[64];
        snprintf(json, sizeof json, "{\"count\":%s}", cnt);
        rc = px_audit(&x, a, "data_change", "measure", NULL, "upsert_batch", json, now);
    }
    if (!rc) rc = px_commit(&x);
    px_close(&x);
    return rc;
}

static int pg_measure_list(struct store *st, int star_year, struct store_measure_list *out,
                           char *err, size_t errlen)
{
    struct px x;
    struct params p;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_ll(&p, star_year);
    rc = fetch_list(&x, &measure_list, &p, (void **)&out->items, &out->n, sizeof *out->items,
                    dec_measure);
    if (!rc) out->total = (long long)out->n;
    px_close(&x);
    if (rc) store_measure_list_free(out);
    return rc;
}

static int pg_measure_get(struct store *st, int star_year, const char *code,
                          struct store_measure *out, char *err, size_t errlen)
{
    struct px x;
    struct params p;
    PGresult *r = NULL;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_ll(&p, star_year);
    p_str(&p, code);
    rc = px_exec(&x, &measure_get, &p, &r);
    if (!rc) {
        if (PQntuples(r) == 1) dec_measure(r, 0, out);
        else rc = sg_errf(err, errlen, SG_ENOTFOUND, "code: no such measure in star year %d", star_year);
    }
    PQclear(r);
    px_close(&x);
    return rc;
}

/* ---- api keys ---- */

#define KEY_COLS "key_hash, name, role, created_at, revoked_at"

static int dec_key(const PGresult *r, int i, void *it)
{
    struct store_api_key *k = it;
    memset(k, 0, sizeof *k);
    g_copy(k->key_hash, sizeof k->key_hash, r, i, 0);
    g_copy(k->name, sizeof k->name, r, i, 1);
    enum store_role role = STORE_ROLE_READER;
    if (store_role_parse(g_str(r, i, 2), &role)) role = STORE_ROLE_READER;
    k->role = role;
    g_ts(k->created_at, r, i, 3);
    g_ts(k->revoked_at, r, i, 4);
    return SG_OK;
}

STMT(key_insert, 4,
     "INSERT INTO api_keys (key_hash, name, role, created_at) VALUES ($1, $2, $3, $4)");
STMT(key_by_hash, 1, "SELECT " KEY_COLS " FROM api_keys WHERE key_hash = $1");
STMT(key_list, 0, "SELECT " KEY_COLS " FROM api_keys ORDER BY name");
STMT(key_revoke, 2,
     "UPDATE api_keys SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL");
STMT(key_exists, 1, "SELECT 1 FROM api_keys WHERE name = $1");

static int pg_api_key_create(struct store *st, const struct store_actor *a,
                             const struct store_api_key *k, const char *now, char *err,
                             size_t errlen)
{
    struct px x;
    struct params p;
    int rc = px_open(S(st), &x, err, errlen);
    if (!rc) rc = px_begin(&x);
    if (!rc) {
        p_init(&p);
        p_str(&p, k->key_hash);
        p_str(&p, k->name);
        p_str(&p, store_role_name(k->role));
        p_str(&p, k->created_at[0] ? k->created_at : now);
        rc = px_exec(&x, &key_insert, &p, NULL);
        if (rc == SG_ECONFLICT)
            rc = sg_errf(err, errlen, SG_ECONFLICT, "name: a key with this name (or hash) exists");
    }
    if (!rc) {
        const char *kk[] = {"name", "role"};
        const char *v[] = {k->name, store_role_name(k->role)};
        rc = px_audit_kv(&x, a, "security", "api_key", k->name, "create", 2, kk, v, now);
    }
    if (!rc) rc = px_commit(&x);
    px_close(&x);
    return rc;
}

static int pg_api_key_get_by_hash(struct store *st, const char *key_hash,
                                  struct store_api_key *out, char *err, size_t errlen)
{
    struct px x;
    struct params p;
    PGresult *r = NULL;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_str(&p, key_hash);
    rc = px_exec(&x, &key_by_hash, &p, &r);
    if (!rc) {
        if (PQntuples(r) == 1) dec_key(r, 0, out);
        else rc = sg_errf(err, errlen, SG_ENOTFOUND, "api key: unknown");
    }
    PQclear(r);
    px_close(&x);
    return rc;
}

static int pg_api_key_list(struct store *st, struct store_api_key_list *out, char *err,
                           size_t errlen)
{
    struct px x;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    rc = fetch_list(&x, &key_list, NULL, (void **)&out->items, &out->n, sizeof *out->items, dec_key);
    if (!rc) out->total = (long long)out->n;
    px_close(&x);
    if (rc) store_api_key_list_free(out);
    return rc;
}

static int pg_api_key_revoke(struct store *st, const struct store_actor *a, const char *name,
                             const char *now, char *err, size_t errlen)
{
    struct px x;
    struct params p;
    PGresult *r = NULL;
    int rc = px_open(S(st), &x, err, errlen);
    if (!rc) rc = px_begin(&x);
    if (!rc) {
        p_init(&p);
        p_str(&p, name);
        p_str(&p, now);
        rc = px_exec(&x, &key_revoke, &p, &r);
    }
    if (!rc && cmd_rows(r) != 1) {
        PGresult *e = NULL;
        p.n = 1;
        rc = px_exec(&x, &key_exists, &p, &e);
        if (!rc)
            rc = PQntuples(e) ? sg_errf(err, errlen, SG_ECONFLICT, "name: key already revoked")
                              : sg_errf(err, errlen, SG_ENOTFOUND, "name: no such key");
        PQclear(e);
    }
    PQclear(r);
    if (!rc) {
        rc = px_audit(&x, a, "security", "api_key", name, "revoke",
                      "{\"after\":{\"revoked\":true}}", now);
    }
    if (!rc) rc = px_commit(&x);
    px_close(&x);
    return rc;
}

/* ---- member history ---- */

/* A member's time line over the four tables, for the member hash `mh` (an SQL expression). */
#define HIST_UNION_OF(mh)                                                                      \
    "SELECT 0 AS kind, '' AS id, measure_code, measurement_year, evaluated_at AS at,"          \
    " CASE WHEN numerator THEN 'numerator' WHEN denominator_exclusion THEN 'excluded'"          \
    " WHEN denominator THEN 'denominator' WHEN initial_population THEN 'population'"            \
    " ELSE 'none' END AS status, NULL::float8 AS value FROM measure_results"                    \
    " WHERE member_hash = " mh                                                                  \
    " UNION ALL SELECT 1, prediction_id::text, measure_code, measurement_year, prediction_date," \
    " risk_tier, gap_probability FROM predictions WHERE member_hash = " mh                     \
    " UNION ALL SELECT 2, gap_id::text, measure_code, measurement_year, created_at, status,"    \
    " priority_score FROM gap_analysis WHERE member_hash = " mh                                 \
    " UNION ALL SELECT 3, intervention_id::text, measure_codes[1], 0, created_at, status,"      \
    " estimated_cost FROM interventions WHERE member_hash = " mh
#define HIST_UNION HIST_UNION_OF("$1")
/* The page (columns 0..6). A row proves the member exists (every history table references
 * members); a page shorter than its limit gives the total without counting (offset + rows). A
 * full page needs the count (hist_count); an empty one says nothing about either: hist_all. */
STMT_RO(hist_page, 3,
     "SELECT kind, id, measure_code, measurement_year, at, status, value"
     " FROM (" HIST_UNION ") h ORDER BY at DESC, kind, id LIMIT $2 OFFSET $3");
#define HIST_COUNT                                                                             \
    "(SELECT count(*) FROM measure_results WHERE member_hash = $1)"                            \
    " + (SELECT count(*) FROM predictions WHERE member_hash = $1)"                             \
    " + (SELECT count(*) FROM gap_analysis WHERE member_hash = $1)"                            \
    " + (SELECT count(*) FROM interventions WHERE member_hash = $1)"
STMT_RO(hist_count, 1, "SELECT " HIST_COUNT);
/* The pages of a group's history reads as ONE statement (sent by gx_pipeline_end): $1 member
 * hashes, $2 limits, $3 offsets; each page's rows after its read's ordinal (column 0), in order.
 * One statement instead of one per read: the reads of a group cost the backend one parse, bind
 * and executor start-up. A read whose page is full or empty gets no total here and runs its
 * own statements (hist_read). */
STMT_RO(hist_set, 3,
     "SELECT u.ord, h.kind, h.id, h.measure_code, h.measurement_year, h.at, h.status, h.value"
     " FROM unnest($1::text[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS u(mh, lim, off, ord)"
     " CROSS JOIN LATERAL (SELECT kind, id, measure_code, measurement_year, at, status, value"
     " FROM (" HIST_UNION_OF("u.mh") ") p ORDER BY at DESC, kind, id LIMIT u.lim OFFSET u.off) h"
     " ORDER BY u.ord, h.at DESC, h.kind, h.id");
/* Member existence (column 0: 1 or 0), the total (column 1) and the page (columns 2..8; one row
 * of NULLs when the page is empty) in one round trip. */
STMT_RO(hist_all, 3,
     "WITH m AS (SELECT count(*) AS n FROM members WHERE member_hash = $1),"
     " t AS (SELECT " HIST_COUNT " AS total)"
     " SELECT m.n, t.total, h.kind, h.id, h.measure_code, h.measurement_year, h.at, h.status,"
     " h.value FROM m CROSS JOIN t LEFT JOIN (SELECT * FROM (" HIST_UNION ") u"
     " ORDER BY at DESC, kind, id LIMIT $2 OFFSET $3) h ON m.n > 0"
     " ORDER BY h.at DESC, h.kind, h.id");

static void row_hist_at(const PGresult *r, int i, int c0, struct store_history_item *h)
{
    memset(h, 0, sizeof *h);
    h->kind = (enum store_history_kind)g_int(r, i, c0 + 0);
    g_copy(h->id, sizeof h->id, r, i, c0 + 1);
    g_copy(h->measure_code, sizeof h->measure_code, r, i, c0 + 2);
    h->measurement_year = g_int(r, i, c0 + 3);
    g_ts(h->at, r, i, c0 + 4);
    g_copy(h->status, sizeof h->status, r, i, c0 + 5);
    h->value = g_dbl(r, i, c0 + 6);
}

/* One member history read: its page statement, the decoding of the page, the total and the
 * audit row of an audited read. Run alone on a pooled connection (unaudited) or as a group
 * body (audited: the page statement is sent with the group's other statements and the read
 * shares the group's transaction, so its audit row commits with the group). A missing member
 * is the operation's result (rc), not the body's failure, so it does not make the group run
 * again. */
/* The result of a group's hist_set, shared by the group and the reads that take rows from it
 * (decoded after the group, so it outlives the group's px): freed by the last reference. start
 * and count give each read's rows (index: its ordinal, 1-based). */
struct hist_shared {
    PGresult *r;
    int *start, *count;
    atomic_int refs;
};

/* A new shared result holding r (taken) for nops reads, one reference (the group's); NULL
 * (r untouched) when out of memory. */
static struct hist_shared *hist_shared_new(PGresult *r, size_t nops)
{
    struct hist_shared *sh = calloc(1, sizeof *sh);
    int *start = calloc(nops + 1, sizeof *start), *count = calloc(nops + 1, sizeof *count);
    if (!sh || !start || !count) {
        free(sh);
        free(start);
        free(count);
        return NULL;
    }
    int n = PQntuples(r);
    for (int i = n - 1; i >= 0; i--) { /* rows come ordered by ordinal */
        unsigned long long ord = strtoull(PQgetvalue(r, i, 0), NULL, 10);
        if (ord >= 1 && ord <= nops) {
            start[ord] = i;
            count[ord]++;
        }
    }
    sh->r = r;
    sh->start = start;
    sh->count = count;
    atomic_init(&sh->refs, 1);
    return sh;
}

static void hist_shared_drop(struct hist_shared *sh)
{
    if (!sh || atomic_fetch_sub(&sh->refs, 1) != 1) return;
    PQclear(sh->r);
    free(sh->start);
    free(sh->count);
    free(sh);
}

struct hist_arg {
    const struct store_actor *a;
    const char *member_hash, *now;
    const struct store_page *pg;
    struct store_history_list *out;
    size_t set_ord; /* 1-based position in the px's hset (hist_send); 0: not collected */
    int rc;         /* SG_OK or SG_ENOTFOUND */
    /* The page as read, decoded into out by hist_decode after the group (off the leader's
     * serial path: the next group can begin meanwhile): nt rows from row first of res (or of
     * the shared set result) from column c0. */
    PGresult *res;
    struct hist_shared *shared;
    int first, nt, c0;
    long long total;
};

/* Lets go of the kept page (own result or shared one). */
static void hist_release(struct hist_arg *h)
{
    PQclear(h->res);
    h->res = NULL;
    hist_shared_drop(h->shared);
    h->shared = NULL;
}

/* Fills h->out from the kept page and lets it go. Returns SG_OK or SG_ENOMEM (err filled). */
static int hist_decode(struct hist_arg *h, char *err, size_t errlen)
{
    struct store_history_list *out = h->out;
    const PGresult *r = h->shared ? h->shared->r : h->res;
    int rc = list_alloc((void **)&out->items, (size_t)h->nt, sizeof *out->items, err, errlen);
    for (int i = 0; i < h->nt && !rc; i++, out->n++)
        row_hist_at(r, h->first + i, h->c0, &out->items[i]);
    hist_release(h);
    if (!rc) page_done(h->total, out->n, h->pg, &out->total, &out->has_more);
    return rc;
}

static void hist_params(const struct hist_arg *h, struct params *p)
{
    p_init(p);
    p_str(p, h->member_hash);
    p_ll(p, h->pg->limit);
    p_ll(p, h->pg->offset);
}

/* Prepares, on x's connection, every statement pipe_send may queue (pg_pool_prepare returns at
 * once for one already prepared there). */
static int pipe_prepare_all(struct px *x)
{
    static const struct stmt *const all[] = {&gap_move_set, &hist_set};
    int rc = SG_OK;
    for (size_t i = 0; i < sizeof all / sizeof all[0] && !rc; i++)
        rc = pg_pool_prepare(x->c, all[i]->name, all[i]->sql, all[i]->nparams, x->err, x->errlen);
    return rc;
}

/* The pipelined half of an audited history read (store_group_send): collects the read for the
 * group's one hist_set statement (sent by gx_pipeline_end). */
static int hist_send(void *conn, void *arg, char *err, size_t errlen)
{
    struct px *x = gx_conn(conn, err, errlen);
    struct hist_arg *h = arg;
    return set_collect(&x->hset, &x->nhset, &x->caphset, h, &h->set_ord, "member history", err,
                       errlen);
}

/* A history read's values in hist_set: member hash, limit, offset. */
static void hist_set_values(const void *op, char scratch[SET_COLS][96], const char *v[SET_COLS])
{
    const struct hist_arg *h = op;
    snprintf(scratch[0], sizeof scratch[0], "%ld", h->pg->limit);
    snprintf(scratch[1], sizeof scratch[1], "%ld", h->pg->offset);
    v[0] = h->member_hash;
    v[1] = scratch[0];
    v[2] = scratch[1];
}

/* Queues hist_set for the reads collected in x->hset (pipeline mode). */
static int hist_set_send(struct px *x)
{
    return set_send(x, &hist_set, x->hset, x->nhset, hist_set_values,
                    "member history", &x->hset_sent, &x->hset_idx);
}

/* The page of h from the group's set statement, or from its own statements (hist_page, then
 * hist_count or hist_all); h->rc SG_ENOTFOUND for a missing member. */
static int hist_page_read(struct px *x, struct hist_arg *h)
{
    /* The group's set statement: a page shorter than its limit and not empty is complete (the
     * total is offset + rows); any other page runs the statements below. */
    size_t ord = h->set_ord;
    struct hist_shared *sh =
        ord && ord <= x->nhset && x->hset[ord - 1] == h ? x->hset_res : NULL;
    h->set_ord = 0;
    if (sh && sh->count[ord] > 0 && sh->count[ord] < h->pg->limit) {
        atomic_fetch_add(&sh->refs, 1);
        h->shared = sh;
        h->first = sh->start[ord];
        h->nt = sh->count[ord];
        h->c0 = 1;
        h->total = h->pg->offset + h->nt;
        return SG_OK;
    }
    struct params p;
    hist_params(h, &p);
    PGresult *r = NULL;
    int rc = px_exec(x, &hist_page, &p, &r);
    /* A page shorter than the limit holds the rest of the history; a full page is followed by
     * hist_count; an empty page (no such member, no history, or an offset past the end) takes
     * hist_all for existence and total. */
    long long total = 0;
    int nt = rc ? 0 : PQntuples(r), c0 = 0;
    if (!rc && nt > 0 && nt < h->pg->limit) {
        total = h->pg->offset + nt;
    } else if (!rc && nt > 0) {
        PGresult *cr = NULL;
        p.n = 1;
        rc = px_exec(x, &hist_count, &p, &cr);
        if (!rc) total = g_ll(cr, 0, 0);
        PQclear(cr);
    } else if (!rc) {
        PQclear(r);
        r = NULL;
        rc = px_exec(x, &hist_all, &p, &r);
        nt = rc ? 0 : PQntuples(r);
        c0 = 2;
        if (!rc && (nt < 1 || g_ll(r, 0, 0) == 0)) {
            h->rc = SG_ENOTFOUND; /* (the caller words the error) */
            nt = 0;
        } else if (!rc) {
            total = g_ll(r, 0, 1);
            if (nt == 1 && g_null(r, 0, 2)) nt = 0;
        }
    }
    if (nt < 0) nt = 0;
    if (rc) {
        PQclear(r);
    } else {
        h->res = r;
        h->nt = nt;
        h->c0 = c0;
        h->total = total;
    }
    return rc;
}

/* One read: its page, then (audited, member found) its access row. */
static int hist_read(struct px *x, struct hist_arg *h)
{
    h->rc = SG_OK;
    hist_release(h); /* a body may run twice (store_group.h, optimistic) */
    h->first = h->nt = h->c0 = 0;
    int rc = hist_page_read(x, h);
    if (!rc && !h->rc && h->a)
        rc = px_audit(x, h->a, "data_access", "member", h->member_hash, "read_history", NULL, h->now);
    return rc;
}

static int hist_body(void *conn, void *arg, char *err, size_t errlen)
{
    return hist_read(gx_conn(conn, err, errlen), arg);
}

static int pg_member_history(struct store *st, const struct store_actor *a,
                             const char *member_hash, const struct store_page *pg,
                             const char *now, struct store_history_list *out, char *err,
                             size_t errlen)
{
    struct hist_arg h = {.a = a, .member_hash = member_hash, .now = now, .pg = pg, .out = out};
    memset(out, 0, sizeof *out);
    int rc;
    if (a) {
        rc = store_group_run_send(&S(st)->group, hist_send, hist_body, &h, err, errlen);
    } else {
        struct px x;
        rc = px_open(S(st), &x, err, errlen);
        if (!rc) rc = hist_read(&x, &h);
        px_close(&x);
    }
    if (!rc && h.rc) rc = sg_errf(err, errlen, h.rc, "member_hash: no such member");
    if (!rc) rc = hist_decode(&h, err, errlen);
    hist_release(&h);
    if (rc) store_history_list_free(out);
    return rc;
}

/* store_member_history_submit: hist_body queued without a waiting caller; the operation owns
 * copies of the hash and the time. */
struct hist_job {
    struct hist_arg h;
    char member_hash[STORE_HASH_LEN], now[STORE_TS_LEN];
    store_done_fn done;
    void *done_arg;
};

static void hist_done(void *arg, int rc, const char *err)
{
    struct hist_job *j = arg;
    char derr[SG_ERRLEN];
    if (!rc && j->h.rc) {
        rc = j->h.rc;
        err = "member_hash: no such member";
    }
    if (!rc && (rc = hist_decode(&j->h, derr, sizeof derr))) err = derr;
    hist_release(&j->h);
    if (rc) store_history_list_free(j->h.out);
    j->done(j->done_arg, rc, err);
    free(j);
}

static int pg_member_history_submit(struct store *st, const struct store_actor *a,
                                    const char *member_hash, const struct store_page *pg,
                                    const char *now, struct store_history_list *out,
                                    store_done_fn done, void *done_arg)
{
    struct hist_job *j = calloc(1, sizeof *j);
    if (!j) return SG_ENOMEM;
    snprintf(j->member_hash, sizeof j->member_hash, "%s", member_hash);
    snprintf(j->now, sizeof j->now, "%s", now);
    j->h.a = a;
    j->h.member_hash = j->member_hash;
    j->h.now = j->now;
    j->h.pg = pg;
    j->h.out = out;
    j->done = done;
    j->done_arg = done_arg;
    int rc = store_group_submit(&S(st)->group, hist_send, hist_body, &j->h, hist_done, j);
    if (rc) free(j);
    return rc;
}

/* ---- migrations ---- */

static const char migrations_table_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL, checksum TEXT NOT NULL CHECK (length(checksum) = 64),"
    " applied_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())";
STMT(migrations_applied, 0, "SELECT version, checksum FROM schema_migrations ORDER BY version");
STMT(migration_record, 3,
     "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)");
STMT(migration_forget, 1, "DELETE FROM schema_migrations WHERE version = $1");

static int pg_migrate_applied(struct store *st, int *versions,
                              char (*checksums)[STORE_HASH_LEN], size_t cap, size_t *n, char *err,
                              size_t errlen)
{
    struct px x;
    PGresult *r = NULL;
    *n = 0;
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    /* Quiet the NOTICE that IF NOT EXISTS raises once the table exists. */
    rc = px_cmd(&x, "SET client_min_messages = warning");
    if (!rc) rc = px_cmd(&x, migrations_table_sql);
    if (!rc) rc = px_exec(&x, &migrations_applied, NULL, &r);
    if (!rc) {
        int nt = PQntuples(r);
        if ((size_t)nt > cap) {
            rc = sg_errf(err, errlen, SG_ETOOBIG, "schema_migrations: %d rows, room for %zu", nt, cap);
        } else {
            for (int i = 0; i < nt; i++) {
                versions[i] = g_int(r, i, 0);
                g_copy(checksums[i], STORE_HASH_LEN, r, i, 1);
            }
            *n = (size_t)nt;
        }
    }
    PQclear(r);
    px_close(&x);
    return rc;
}

static int pg_migrate_apply(struct store *st, int up, int version, const char *name,
                            const char *checksum, const char *sql, char *err, size_t errlen)
{
    struct px x;
    struct params p;
    int rc = px_open(S(st), &x, err, errlen);
    if (!rc) rc = px_begin(&x);
    /* The embedded script (never input) may hold several statements: simple query protocol. */
    if (!rc) {
        PGresult *r = PQexec(x.pg, sql);
        ExecStatusType es = PQresultStatus(r);
        if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK) {
            char what[96];
            snprintf(what, sizeof what, "migration %04d_%s %s", version, name, up ? "up" : "down");
            rc = px_fail(&x, what, r);
        }
        PQclear(r);
    }
    if (!rc) {
        p_init(&p);
        p_ll(&p, version);
        if (up) {
            p_str(&p, name);
            p_str(&p, checksum);
            rc = px_exec(&x, &migration_record, &p, NULL);
        } else {
            rc = px_exec(&x, &migration_forget, &p, NULL);
        }
    }
    if (!rc) rc = px_commit(&x);
    /* A schema change invalidates the prepared statements' plans and result types: start the
     * pool's connections afresh rather than risk "cached plan must not change result type". */
    x.broken = 1;
    px_close(&x);
    return rc;
}

/* ---- maintenance ---- */

#define PARTITION_MONTHS_AHEAD 3 /* the current month and the next three exist after maintain */

STMT(ensure_month, 2, "SELECT stargap_ensure_month($1, $2::date)");
STMT(drop_before, 2, "SELECT stargap_drop_before($1, $2::timestamptz)");

static int pg_maintain(struct store *st, const char *api_before_ts, const char *audit_before_ts,
                       const char *now, struct store_maintain_report *out, char *err,
                       size_t errlen)
{
    struct px x;
    struct params p;
    memset(out, 0, sizeof *out);
    int rc = px_open(S(st), &x, err, errlen);
    if (!rc) rc = px_begin(&x);
    /* Take the chain head first, as every writer does before it touches audit_log: dropping an
     * audit_log partition locks the parent table, and the opposite order could deadlock with a
     * writer that holds the head and waits to insert. */
    if (!rc) {
        PGresult *r = NULL;
        rc = px_exec(&x, &audit_head_lock, NULL, &r);
        PQclear(r);
    }
    int year = 0, month = 0;
    if (!rc && sscanf(now, "%4d-%2d", &year, &month) != 2)
        rc = sg_errf(err, errlen, SG_EINVAL, "now: not a timestamp");
    static const char *const tables[] = {"api_logs", "audit_log"};
    for (int t = 0; t < 2 && !rc; t++) {
        for (int k = 0; k <= PARTITION_MONTHS_AHEAD && !rc; k++) {
            int mi = (year * 12 + (month - 1)) + k;
            char day[32];
            snprintf(day, sizeof day, "%04d-%02d-01", mi / 12, mi % 12 + 1);
            PGresult *r = NULL;
            p_init(&p);
            p_str(&p, tables[t]);
            p_str(&p, day);
            rc = px_exec(&x, &ensure_month, &p, &r);
            if (!rc) out->partitions_created += g_int(r, 0, 0);
            PQclear(r);
        }
    }
    for (int t = 0; t < 2 && !rc; t++) {
        PGresult *r = NULL;
        p_init(&p);
        p_str(&p, tables[t]);
        p_str(&p, t == 0 ? api_before_ts : audit_before_ts);
        rc = px_exec(&x, &drop_before, &p, &r);
        if (!rc) {
            if (t == 0) out->api_logs_deleted = g_ll(r, 0, 0);
            else out->audit_deleted = g_ll(r, 0, 0);
        }
        PQclear(r);
    }
    if (!rc) {
        char json[192];
        snprintf(json, sizeof json,
                 "{\"api_logs_deleted\":%lld,\"audit_deleted\":%lld,\"partitions_created\":%d}",
                 out->api_logs_deleted, out->audit_deleted, out->partitions_created);
        rc = px_audit(&x, NULL, "maintenance", "database", NULL, "retention", json, now);
    }
    if (!rc) rc = px_commit(&x);
    px_close(&x);
    if (rc) memset(out, 0, sizeof *out);
    return rc;
}

static int pg_raw_exec(struct store *st, const char *sql, char *err, size_t errlen)
{
    struct px x;
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    PGresult *r = PQexec(x.pg, sql);
    ExecStatusType es = PQresultStatus(r);
    if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK) rc = px_fail(&x, "raw_exec", r);
    PQclear(r);
    px_close(&x);
    return rc;
}

/* ---- opening and closing ---- */

static void pg_close(struct store *st)
{
    if (!st) return;
    store_group_fini(&S(st)->group);
    pthread_mutex_destroy(&S(st)->head_mu);
    pg_pool_free(S(st)->pool);
    free(st);
}

/* ==== predict block (issue 6: import, member features, models) ==== */

static int pmerge_audit(struct px *x, const struct store_actor *a, const char *entity,
                        const struct store_merge_counts *k, const char *now)
{
    if (k->inserted == 0 && k->updated == 0) return SG_OK; /* nothing written: nothing to record */
    char ins[32], upd[32];
    snprintf(ins, sizeof ins, "%lld", k->inserted);
    snprintf(upd, sizeof upd, "%lld", k->updated);
    const char *keys[] = {"inserted", "updated"};
    const char *vals[] = {ins, upd};
    return px_audit_kv(x, a, "data_change", entity, NULL, "merge", 2, keys, vals, now);
}

/* Merges of a batch (members, measure results, member features): the rows are COPYed into a
 * temporary staging table, then ONE upsert statement inserts the new keys and updates the keys
 * whose values differ, so a batch costs a few statements however many rows it has (one upsert
 * per row cost a round trip each). A batch holds each key once (store.c refuses duplicates), so the
 * stage needs no de-duplication; unchanged = rows - inserted - updated. */
enum merge_kind { MERGE_MEMBERS, MERGE_RESULTS, MERGE_FEATURES };

struct stage_merge {
    const char *stage_sql, *what, *copy_sql, *entity;
    stage_row_fn row;
    const struct stmt *upsert; /* one row: the counts inserted and updated */
    /* The direct path: COPY into the target table itself, its columns being the stage's columns
     * followed by `direct_now` more (last_updated, created_at, updated_at: all `now`). */
    enum merge_kind kind;
    const char *direct_sql;
    int direct_now;
};

/* The direct path of a staged merge. When none of the batch's keys exists yet (a first import:
 * every batch of a fresh database), the rows are COPYed straight into the target table under a
 * savepoint: no staging table, no speculative insertion per row, no RETURNING to count, and
 * COPY's multi-row inserts (the target's only defaults, created_at and updated_at, are given
 * explicitly: a volatile default would make COPY insert row by row). A key that exists already
 * fails the COPY with a unique violation: the savepoint is rolled back (nothing of the attempt
 * stays) and the caller runs the staged upsert, as it does for any other error so that the
 * upsert reports it as before. Returns 0 (all n rows inserted), 1 (refused: rolled back to the
 * savepoint; the kind is switched off for this store after a unique violation) or a negative
 * sg_err when the connection or the client failed (the transaction is lost then). */
static int direct_copy(struct px *x, const struct stage_merge *m, const void *rows, size_t n,
                       const char *now)
{
    int rc = px_cmd(x, "SAVEPOINT sg_direct");
    if (rc) return rc;
    struct sg_buf b;
    sg_buf_init(&b, 2 * COPY_CHUNK + (1 << 20));
    rc = copy_start(x, m->what, m->direct_sql);
    int refused = 0;
    if (!rc) {
        int crc = SG_OK;
        for (size_t i = 0; i < n && !crc; i++) {
            crc = m->row(&b, rows, i, now);
            /* the stage row ends its line: continue it with the timestamp columns */
            for (int t = 0; t < m->direct_now && !crc; t++) {
                b.data[b.len - 1] = '\t';
                crc = copy_field(&b, now, 1);
            }
            if (crc == SG_ETOOBIG || crc == SG_ENOMEM)
                crc = sg_errf(x->err, x->errlen, crc, "rows[%zu]: row too large for COPY", i);
            else if (!crc)
                crc = copy_flush(x, m->what, &b, 0);
        }
        rc = copy_end(x, m->what, &b, crc ? "client error" : NULL);
        if (crc) rc = crc;
        else if (rc && !x->broken) {
            refused = 1;
            if (rc == SG_ECONFLICT) __atomic_store_n(&x->s->direct_off[m->kind], 1, __ATOMIC_RELAXED);
        }
    }
    sg_buf_fini(&b);
    if (refused) {
        rc = px_cmd(x, "ROLLBACK TO SAVEPOINT sg_direct");
        return rc ? rc : 1;
    }
    if (!rc) rc = px_cmd(x, "RELEASE SAVEPOINT sg_direct");
    return rc;
}

/* Runs m over the n rows inside the caller's transaction and fills *k (the caller appends the
 * merge's audit row: pmerge_audit). */
static int stage_merge(struct px *xp, const struct stage_merge *m, const void *rows, size_t n,
                       const char *now, struct store_merge_counts *k)
{
    memset(k, 0, sizeof *k);
    int rc = 1;
    if (m->direct_sql && !__atomic_load_n(&xp->s->direct_off[m->kind], __ATOMIC_RELAXED)) {
        rc = direct_copy(xp, m, rows, n, now);
        if (rc < 0) return rc;
        if (rc == 0) k->inserted = (long long)n;
    }
    if (rc == 1) {
        rc = stage_copy(xp, m->stage_sql, m->what, m->copy_sql, rows, n, m->row, now);
        PGresult *r = NULL;
        if (!rc && !(rc = px_exec(xp, m->upsert, NULL, &r))) {
            k->inserted = g_ll(r, 0, 0);
            k->updated = g_ll(r, 0, 1);
        }
        PQclear(r);
        if (rc) return rc;
    }
    k->unchanged = (long long)n - k->inserted - k->updated;
    if (k->unchanged < 0) k->unchanged = 0;
    return SG_OK;
}

#define MEMBER_STAGE_COLS \
    "member_hash, contract_id, first_seen, active, birth_year, sex, dual_eligible, lis, disabled"
static int member_stage_row(struct sg_buf *b, const void *rows, size_t i, const char *now)
{
    const struct store_member *m = &((const struct store_member *)rows)[i];
    static const char *const tri[] = {NULL, "f", "t"};
    char by[NUMLEN];
    snprintf(by, sizeof by, "%d", m->birth_year);
    int crc = copy_field(b, m->member_hash, 0);
    if (!crc) crc = copy_field(b, m->contract_id, 0);
    if (!crc) crc = copy_field(b, now, 0);
    if (!crc) crc = copy_field(b, tf(m->active), 0);
    if (!crc) crc = copy_field(b, m->birth_year > 0 ? by : NULL, 0);
    if (!crc)
        crc = copy_field(b, m->sex == STORE_SEX_UNKNOWN ? NULL : store_sex_name(m->sex), 0);
    if (!crc) crc = copy_field(b, tri[m->dual_eligible < 0 ? 0 : m->dual_eligible ? 2 : 1], 0);
    if (!crc) crc = copy_field(b, tri[m->lis < 0 ? 0 : m->lis ? 2 : 1], 0);
    if (!crc) crc = copy_field(b, tri[m->disabled < 0 ? 0 : m->disabled ? 2 : 1], 1);
    return crc;
}
/* Upserts: an inserted row has xmax = 0, an updated one the locking transaction's id; a row
 * whose values are equal is neither (the DO UPDATE's WHERE is false). The conflict is found by
 * the unique index's probe the insert makes anyway (an UPDATE ... FROM the stage was planned as a
 * hash join over the whole table, once per batch). */
STMT(member_merge_upsert, 0,
     "WITH u AS (INSERT INTO members AS t (member_hash, contract_id, first_seen, last_updated,"
     " active, birth_year, sex, dual_eligible, lis, disabled) SELECT member_hash, contract_id,"
     " first_seen, first_seen, active, birth_year, sex, dual_eligible, lis, disabled"
     " FROM member_stage ON CONFLICT (member_hash) DO UPDATE SET contract_id = EXCLUDED.contract_id,"
     " birth_year = EXCLUDED.birth_year, sex = EXCLUDED.sex, dual_eligible = EXCLUDED.dual_eligible,"
     " lis = EXCLUDED.lis, disabled = EXCLUDED.disabled, last_updated = EXCLUDED.last_updated,"
     " active = EXCLUDED.active, updated_at = clock_timestamp()"
     " WHERE (t.contract_id, t.birth_year, t.sex, t.dual_eligible, t.lis, t.disabled, t.active)"
     " IS DISTINCT FROM (EXCLUDED.contract_id, EXCLUDED.birth_year, EXCLUDED.sex,"
     " EXCLUDED.dual_eligible, EXCLUDED.lis, EXCLUDED.disabled, EXCLUDED.active)"
     " RETURNING (t.xmax = 0) AS ins)"
     " SELECT count(*) FILTER (WHERE ins), count(*) FILTER (WHERE NOT ins) FROM u");
static const struct stage_merge member_merge = {
    "CREATE TEMP TABLE IF NOT EXISTS member_stage (member_hash TEXT, contract_id TEXT,"
    " first_seen TIMESTAMPTZ, active BOOLEAN, birth_year INTEGER, sex TEXT, dual_eligible BOOLEAN,"
    " lis BOOLEAN, disabled BOOLEAN) ON COMMIT DELETE ROWS",
    "members_merge_copy", "COPY member_stage (" MEMBER_STAGE_COLS ") FROM STDIN", "member",
    member_stage_row, &member_merge_upsert, MERGE_MEMBERS,
    "COPY members (" MEMBER_STAGE_COLS ", last_updated, created_at, updated_at) FROM STDIN", 3};

STMT(mr_merge_upsert, 0,
     "WITH u AS (INSERT INTO measure_results AS t (" MR_COLS ") SELECT " MR_COLS " FROM mr_stage"
     " ON CONFLICT (member_hash, measure_code, measurement_year) DO UPDATE SET"
     " initial_population = EXCLUDED.initial_population, denominator = EXCLUDED.denominator,"
     " denominator_exclusion = EXCLUDED.denominator_exclusion, numerator = EXCLUDED.numerator,"
     " evaluated_at = EXCLUDED.evaluated_at, source = EXCLUDED.source,"
     " numerator_date = EXCLUDED.numerator_date"
     " WHERE (t.initial_population, t.denominator, t.denominator_exclusion, t.numerator, t.source,"
     " t.numerator_date) IS DISTINCT FROM (EXCLUDED.initial_population, EXCLUDED.denominator,"
     " EXCLUDED.denominator_exclusion, EXCLUDED.numerator, EXCLUDED.source,"
     " EXCLUDED.numerator_date)"
     " RETURNING (t.xmax = 0) AS ins)"
     " SELECT count(*) FILTER (WHERE ins), count(*) FILTER (WHERE NOT ins) FROM u");
static const struct stage_merge mr_merge_def = {
    mr_stage_sql, "measure_results_merge_copy", "COPY mr_stage (" MR_COLS ") FROM STDIN",
    "measure_result", mr_stage_row, &mr_merge_upsert, MERGE_RESULTS,
    "COPY measure_results (" MR_COLS ", created_at, updated_at) FROM STDIN", 2};

static int mf_stage_row(struct sg_buf *b, const void *rows, size_t i, const char *now)
{
    const struct store_member_feature *f = &((const struct store_member_feature *)rows)[i];
    (void)now;
    int crc = copy_field(b, f->member_hash, 0);
    if (!crc) crc = copy_ll(b, f->measurement_year, 0);
    if (!crc) crc = copy_field(b, f->features, 0);
    if (!crc) crc = copy_field(b, f->source, 1);
    return crc;
}
STMT(mf_merge_upsert, 0,
     "WITH u AS (INSERT INTO member_features AS t (member_hash, measurement_year, features, source)"
     " SELECT member_hash, measurement_year, features, source FROM mf_stage"
     " ON CONFLICT (member_hash, measurement_year) DO UPDATE SET features = EXCLUDED.features,"
     " source = EXCLUDED.source"
     " WHERE (t.features, t.source) IS DISTINCT FROM (EXCLUDED.features, EXCLUDED.source)"
     " RETURNING (t.xmax = 0) AS ins)"
     " SELECT count(*) FILTER (WHERE ins), count(*) FILTER (WHERE NOT ins) FROM u");
static const struct stage_merge mf_merge_def = {
    "CREATE TEMP TABLE IF NOT EXISTS mf_stage (member_hash TEXT, measurement_year INTEGER,"
    " features JSONB, source TEXT) ON COMMIT DELETE ROWS",
    "member_features_merge_copy",
    "COPY mf_stage (member_hash, measurement_year, features, source) FROM STDIN",
    "member_feature", mf_stage_row, &mf_merge_upsert, MERGE_FEATURES,
    "COPY member_features (member_hash, measurement_year, features, source, created_at,"
    " updated_at) FROM STDIN", 2};

/* Runs the staged merges def[i] over rows[i] (n[i] rows; a part with no rows is skipped) in ONE
 * transaction, k[i] receiving each part's counts: any failure rolls every part back and zeroes
 * k[0..parts). */
static int merge_tx(struct store *st, const struct store_actor *a, size_t parts,
                    const struct stage_merge *const *def, const void *const *rows, const size_t *n,
                    const char *now, const struct store_gate *gate, struct store_merge_counts *k,
                    char *err, size_t errlen)
{
    struct px x;
    memset(k, 0, parts * sizeof *k);
    double t0 = mono_ms();
    int rc = px_open(S(st), &x, err, errlen);
    if (!rc) rc = px_begin(&x);
    for (size_t i = 0; i < parts && !rc; i++)
        if (n[i]) rc = stage_merge(&x, def[i], rows[i], n[i], now, &k[i]);
    double t_rows = mono_ms();
    /* the rows are written; the audit head (the chain's FOR UPDATE lock) only after the gate */
    if (!rc && gate) rc = gate->wait(gate->ctx);
    double t_gate = mono_ms();
    for (size_t i = 0; i < parts && !rc; i++)
        if (n[i]) rc = pmerge_audit(&x, a, def[i]->entity, &k[i], now);
    if (!rc) rc = px_commit(&x);
    px_close(&x);
    LOG_DEBUG("event=merge entity=%s rows=%zu rows_ms=%.0f gate_ms=%.0f commit_ms=%.0f rc=%d",
              def[parts - 1]->entity, n[parts - 1], t_rows - t0, t_gate - t_rows,
              mono_ms() - t_gate, rc);
    if (rc) memset(k, 0, parts * sizeof *k);
    return rc;
}

static int pg_member_upsert_batch(struct store *st, const struct store_actor *a,
                                  const struct store_member *rows, size_t n, const char *now,
                                  struct store_merge_counts *k, char *err, size_t errlen)
{
    const struct stage_merge *def[] = {&member_merge};
    const void *r[] = {rows};
    return merge_tx(st, a, 1, def, r, &n, now, NULL, k, err, errlen);
}

static int pg_measure_result_merge_batch(struct store *st, const struct store_actor *a,
                                         const struct store_measure_result *rows, size_t n,
                                         const char *now, const struct store_gate *gate,
                                         struct store_merge_counts *k, char *err, size_t errlen)
{
    const struct stage_merge *def[] = {&mr_merge_def};
    const void *r[] = {rows};
    return merge_tx(st, a, 1, def, r, &n, now, gate, k, err, errlen);
}

static int pg_member_feature_merge_batch(struct store *st, const struct store_actor *a,
                                         const struct store_member_feature *rows, size_t n,
                                         const char *now, const struct store_gate *gate,
                                         struct store_merge_counts *k, char *err, size_t errlen)
{
    const struct stage_merge *def[] = {&mf_merge_def};
    const void *r[] = {rows};
    return merge_tx(st, a, 1, def, r, &n, now, gate, k, err, errlen);
}

/* Members, then measure results, then member features in ONE transaction: any failure rolls
 * all three back. k[0..3) get the three merge counts. */
static int pg_import_batch(struct store *st, const struct store_actor *a,
                           const struct store_member *members, size_t n_members,
                           const struct store_measure_result *results, size_t n_results,
                           const struct store_member_feature *features, size_t n_features,
                           const char *now, struct store_merge_counts k[3], char *err,
                           size_t errlen)
{
    const struct stage_merge *def[] = {&member_merge, &mr_merge_def, &mf_merge_def};
    const void *r[] = {members, results, features};
    const size_t n[] = {n_members, n_results, n_features};
    return merge_tx(st, a, 3, def, r, n, now, NULL, k, err, errlen);
}

STMT(member_scan_all, 0, "SELECT " MEMBER_COLS " FROM members ORDER BY member_hash");
STMT(mr_scan_year, 1,
     "SELECT " MR_COLS " FROM measure_results WHERE measurement_year = $1"
     " ORDER BY member_hash, measure_code");
STMT(mf_scan_year, 1,
     "SELECT member_hash, measurement_year, features::text FROM member_features"
     " WHERE measurement_year = $1 ORDER BY member_hash");

/* Runs a bulk read in one REPEATABLE READ transaction is not needed: each scan is one statement,
 * hence one snapshot. The whole result is received before the callbacks run. */
static int pscan(struct store *st, const struct stmt *stm, int year, int kind, void *cb, void *ctx,
                 char *err, size_t errlen)
{
    struct px x;
    struct params p;
    PGresult *r = NULL;
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    if (year) p_ll(&p, year);
    rc = px_exec(&x, stm, year ? &p : NULL, &r);
    int nt = rc ? 0 : PQntuples(r);
    for (int i = 0; i < nt && !rc; i++) {
        if (kind == 0) {
            struct store_member m;
            row_member(r, i, &m);
            rc = ((store_member_cb)cb)(ctx, &m);
        } else if (kind == 1) {
            struct store_measure_result m;
            row_mr(r, i, &m);
            rc = ((store_result_cb)cb)(ctx, &m);
        } else {
            rc = ((store_feature_cb)cb)(ctx, g_str(r, i, 0), g_int(r, i, 1), g_str(r, i, 2));
        }
    }
    PQclear(r);
    px_close(&x);
    return rc;
}

static int pg_member_scan(struct store *st, store_member_cb cb, void *ctx, char *err, size_t errlen)
{
    return pscan(st, &member_scan_all, 0, 0, (void *)cb, ctx, err, errlen);
}

static int pg_measure_result_scan(struct store *st, int year, store_result_cb cb, void *ctx,
                                  char *err, size_t errlen)
{
    return pscan(st, &mr_scan_year, year, 1, (void *)cb, ctx, err, errlen);
}

static int pg_member_feature_scan(struct store *st, int year, store_feature_cb cb, void *ctx,
                                  char *err, size_t errlen)
{
    return pscan(st, &mf_scan_year, year, 2, (void *)cb, ctx, err, errlen);
}

STMT(mf_get, 2,
     "SELECT member_hash, measurement_year, features::text, source FROM member_features"
     " WHERE member_hash = $1 AND measurement_year = $2");

static int pg_member_feature_get(struct store *st, const char *member_hash, int year,
                                 struct store_member_feature *out, char *err, size_t errlen)
{
    struct px x;
    struct params p;
    PGresult *r = NULL;
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_str(&p, member_hash);
    p_ll(&p, year);
    if (!(rc = px_exec(&x, &mf_get, &p, &r))) {
        if (PQntuples(r) == 0) {
            rc = sg_errf(err, errlen, SG_ENOTFOUND, "member_features: no row for that member and year");
        } else {
            int oom = 0;
            g_copy(out->member_hash, sizeof out->member_hash, r, 0, 0);
            out->measurement_year = g_int(r, 0, 1);
            out->features = g_json(r, 0, 2, &oom);
            g_copy(out->source, sizeof out->source, r, 0, 3);
            if (oom) rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
        }
    }
    PQclear(r);
    px_close(&x);
    return rc;
}

STMT(mr_years, 0, "SELECT DISTINCT measurement_year FROM measure_results ORDER BY 1");

static int pg_measure_result_years(struct store *st, int *years, size_t cap, size_t *n, char *err,
                                   size_t errlen)
{
    struct px x;
    PGresult *r = NULL;
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    if (!(rc = px_exec(&x, &mr_years, NULL, &r)))
        for (int i = 0; i < PQntuples(r) && *n < cap; i++) years[(*n)++] = g_int(r, i, 0);
    PQclear(r);
    px_close(&x);
    return rc;
}

#define MODEL_COLS                                                                             \
    "model_id, measure_code, version, trained_year, learner, fingerprint, hyperparams::text,"  \
    " metrics::text, created_at"

static int row_model(const PGresult *r, int i, struct store_model *m, int with_text)
{
    int oom = 0;
    memset(m, 0, sizeof *m);
    g_copy(m->model_id, sizeof m->model_id, r, i, 0);
    g_copy(m->measure_code, sizeof m->measure_code, r, i, 1);
    m->version = g_int(r, i, 2);
    m->trained_year = g_int(r, i, 3);
    g_copy(m->learner, sizeof m->learner, r, i, 4);
    g_copy(m->fingerprint, sizeof m->fingerprint, r, i, 5);
    m->hyperparams = g_json(r, i, 6, &oom);
    m->metrics = g_json(r, i, 7, &oom);
    g_ts(m->created_at, r, i, 8);
    if (with_text) m->model_text = g_json(r, i, 9, &oom);
    return oom;
}

/* The advisory lock serializes version assignment per measure (two trainers of one measure get
 * consecutive versions instead of a UNIQUE violation). */
STMT(model_lock, 1, "SELECT pg_advisory_xact_lock(727361002, hashtext($1))");
STMT(model_next_version, 1, "SELECT coalesce(max(version), 0) + 1 FROM models WHERE measure_code = $1");
STMT(model_insert, 10,
     "INSERT INTO models (model_id, measure_code, version, trained_year, learner, fingerprint,"
     " hyperparams, metrics, created_at, model_text) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb,"
     " $8::jsonb, $9, $10)");
STMT(model_by_id, 1, "SELECT " MODEL_COLS ", model_text FROM models WHERE model_id = $1");
STMT(model_latest, 1,
     "SELECT " MODEL_COLS ", model_text FROM models WHERE measure_code = $1"
     " ORDER BY version DESC LIMIT 1");
STMT(model_list_all, 1,
     "SELECT " MODEL_COLS " FROM models WHERE ($1::text IS NULL OR measure_code = $1)"
     " ORDER BY measure_code, version DESC");

static int pg_model_create(struct store *st, const struct store_actor *a, struct store_model *m,
                           const char *now, char *err, size_t errlen)
{
    struct px x;
    struct params p;
    PGresult *r = NULL;
    int rc = px_open(S(st), &x, err, errlen);
    if (!rc) rc = px_begin(&x);
    p_init(&p);
    p_str(&p, m->measure_code);
    if (!rc) rc = px_exec(&x, &model_lock, &p, NULL);
    if (!rc && !(rc = px_exec(&x, &model_next_version, &p, &r))) m->version = g_int(r, 0, 0);
    PQclear(r);
    if (!rc) {
        p_init(&p);
        p_str(&p, m->model_id);
        p_str(&p, m->measure_code);
        p_ll(&p, m->version);
        p_ll(&p, m->trained_year);
        p_str(&p, m->learner);
        p_str(&p, m->fingerprint);
        p_str(&p, m->hyperparams);
        p_str(&p, m->metrics);
        p_str(&p, now);
        p_str(&p, m->model_text);
        rc = px_exec(&x, &model_insert, &p, NULL);
    }
    if (!rc) {
        char ver[16];
        snprintf(ver, sizeof ver, "%d", m->version);
        const char *keys[] = {"measure_code", "version", "learner", "fingerprint"};
        const char *vals[] = {m->measure_code, ver, m->learner, m->fingerprint};
        rc = px_audit_kv(&x, a, "data_change", "model", m->model_id, "create", 4, keys, vals, now);
    }
    if (!rc) rc = px_commit(&x);
    px_close(&x);
    return rc;
}

static int model_fetch_one(struct store *st, const struct stmt *stm, const char *key,
                           struct store_model *out, char *err, size_t errlen)
{
    struct px x;
    struct params p;
    PGresult *r = NULL;
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_str(&p, key);
    if (!(rc = px_exec(&x, stm, &p, &r))) {
        if (PQntuples(r) == 0) rc = sg_errf(err, errlen, SG_ENOTFOUND, "model: not found");
        else if (row_model(r, 0, out, 1)) {
            store_model_fini(out);
            rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
        }
    }
    PQclear(r);
    px_close(&x);
    return rc;
}

static int pg_model_get(struct store *st, const char *model_id, struct store_model *out, char *err,
                        size_t errlen)
{
    return model_fetch_one(st, &model_by_id, model_id, out, err, errlen);
}

static int pg_model_get_latest(struct store *st, const char *code, struct store_model *out,
                               char *err, size_t errlen)
{
    return model_fetch_one(st, &model_latest, code, out, err, errlen);
}

static int dec_model(const PGresult *r, int i, void *it)
{
    return row_model(r, i, it, 0) ? SG_ENOMEM : SG_OK;
}

static int pg_model_list(struct store *st, const char *code, struct store_model_list *out,
                         char *err, size_t errlen)
{
    struct px x;
    struct params p;
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_raw(&p, code);
    rc = fetch_list(&x, &model_list_all, &p, (void **)&out->items, &out->n, sizeof *out->items,
                    dec_model);
    if (rc == SG_ENOMEM) rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    out->total = (long long)out->n;
    px_close(&x);
    if (rc) store_model_list_free(out);
    return rc;
}

/* ==== end predict block ==== */

/* ==== decide block (issue 7: gap refresh, bulk reads for the portfolio wiring) ==== */

STMT(pred_scan_latest, 1,
     "SELECT DISTINCT ON (member_hash, measure_code) prediction_id, member_hash, measure_code,"
     " measurement_year, gap_probability, risk_tier, risk_score, NULL, NULL, recommendation,"
     " model_version, prediction_date, created_at FROM predictions WHERE measurement_year = $1"
     " ORDER BY member_hash, measure_code, prediction_date DESC, prediction_id DESC");
STMT(gap_scan_year, 2,
     "SELECT " GAP_COLS " FROM gap_analysis WHERE measurement_year = $1"
     " AND ($2::text IS NULL OR contract_id = $2) ORDER BY member_hash, measure_code");

/* Both scans are one statement each (one snapshot); the result is received whole. */
static int pg_decide_scan(struct store *st, const struct stmt *stm, int year,
                          const char *contract_id, int kind, void *cb, void *ctx, char *err,
                          size_t errlen)
{
    struct px x;
    struct params p;
    PGresult *r = NULL;
    int rc = px_open(S(st), &x, err, errlen);
    if (rc) return rc;
    p_init(&p);
    p_ll(&p, year);
    if (kind == 1) p_opt(&p, contract_id);
    rc = px_exec(&x, stm, &p, &r);
    int nt = rc ? 0 : PQntuples(r);
    for (int i = 0; i < nt && !rc; i++) {
        if (kind == 0) {
            struct store_prediction pr;
            if ((rc = row_prediction(r, i, &pr))) break;
            rc = ((store_prediction_cb)cb)(ctx, &pr);
            store_prediction_fini(&pr);
        } else {
            struct store_gap g;
            if ((rc = row_gap(r, i, &g))) break;
            rc = ((store_gap_cb)cb)(ctx, &g);
        }
    }
    PQclear(r);
    px_close(&x);
    return rc;
}

static int pg_prediction_scan_latest(struct store *st, int year, store_prediction_cb cb,
                                     void *ctx, char *err, size_t errlen)
{
    return pg_decide_scan(st, &pred_scan_latest, year, NULL, 0, (void *)cb, ctx, err, errlen);
}

static int pg_gap_scan(struct store *st, int year, const char *contract_id, store_gap_cb cb,
                       void *ctx, char *err, size_t errlen)
{
    return pg_decide_scan(st, &gap_scan_year, year, contract_id, 1, (void *)cb, ctx, err, errlen);
}

/* Whether a gap refresh of n rows for the scope (year, contract) takes the bulk path: its new
 * rows, n less the scope's gaps before it, are at least 1/PG_BULK_GAP_SHARE of the rows
 * gap_analysis holds before it. */
static int gr_bulk_want(struct px *x, int year, const char *contract_id, size_t n, int *want)
{
    struct params p;
    PGresult *r = NULL;
    *want = 0;
    if (n < PG_BULK_MIN_ROWS) return SG_OK;
    p_init(&p);
    p_ll(&p, year);
    p_opt(&p, contract_id);
    int rc = px_exec(x, &bulk_scope_gaps, &p, &r);
    long long before = rc ? 0 : g_ll(r, 0, 0);
    PQclear(r);
    r = NULL;
    if (rc) return rc;
    long long fresh = (long long)n - (before > 0 ? before : 0);
    if (fresh < PG_BULK_MIN_ROWS) return SG_OK;
    p_init(&p);
    p_ll(&p, fresh * PG_BULK_GAP_SHARE + 1); /* the table holds at most fresh * share rows */
    if (!(rc = px_exec(x, &bulk_gaps_below, &p, &r))) *want = g_bool(r, 0, 0);
    PQclear(r);
    return rc;
}

#define GR_COLS                                                                                \
    "gap_id, member_hash, contract_id, measure_code, measurement_year, gap_probability,"       \
    " priority_score, intervention_type, estimated_cost, estimated_value"
static const char gr_stage_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS gap_refresh_stage (gap_id uuid, member_hash text,"
    " contract_id text, measure_code text, measurement_year int, gap_probability float8,"
    " priority_score float8, intervention_type text, estimated_cost float8,"
    " estimated_value float8) ON COMMIT DELETE ROWS;"
    /* an index on the keys keeps every join plan cheap, even when gap_analysis's statistics
     * are stale (first refresh into an empty table: the planner expects a few rows there) */
    " CREATE INDEX IF NOT EXISTS gap_refresh_stage_key ON gap_refresh_stage"
    " (member_hash, measure_code, measurement_year)";
/* New gaps: created_at = updated_at = now marks them for the steps below. */
STMT(gr_insert, 1,
     "WITH ins AS (INSERT INTO gap_analysis (" GR_COLS ", status, created_at, updated_at)"
     " SELECT " GR_COLS ", 'identified', $1::timestamptz, $1::timestamptz FROM gap_refresh_stage"
     " ON CONFLICT (member_hash, measure_code, measurement_year) DO NOTHING RETURNING 1)"
     " SELECT count(*) FROM ins");
STMT(gr_update, 1,
     "UPDATE gap_analysis t SET gap_probability = s.gap_probability,"
     " priority_score = s.priority_score, intervention_type = s.intervention_type,"
     " estimated_cost = s.estimated_cost, estimated_value = s.estimated_value,"
     " updated_at = $1::timestamptz FROM gap_refresh_stage s"
     " WHERE t.member_hash = s.member_hash AND t.measure_code = s.measure_code"
     " AND t.measurement_year = s.measurement_year AND t.status IN ('identified', 'assigned')"
     " AND t.created_at <> $1::timestamptz");
STMT(gr_close, 3,
     "UPDATE gap_analysis t SET status = 'closed', closed_date = $3::date"
     " WHERE t.measurement_year = $1 AND ($2::text IS NULL OR t.contract_id = $2)"
     " AND t.status IN ('identified', 'assigned') AND NOT EXISTS (SELECT 1 FROM gap_refresh_stage s"
     " WHERE s.member_hash = t.member_hash AND s.measure_code = t.measure_code"
     " AND s.measurement_year = t.measurement_year)");

/* COPYs rows[0..n) into the refresh stage, or (direct) into gap_analysis itself as new open gaps
 * (status identified, created_at = updated_at = now). */
static int gr_copy(struct px *x, struct sg_buf *b, const struct store_gap *rows, size_t n,
                   int direct, const char *now, char *err, size_t errlen)
{
    int rc = copy_start(x, "gap_refresh_copy",
                        direct ? "COPY gap_analysis (" GR_COLS ", status, created_at, updated_at)"
                                 " FROM STDIN"
                               : "COPY gap_refresh_stage (" GR_COLS ") FROM STDIN");
    if (rc) return rc;
    int crc = SG_OK;
    for (size_t i = 0; i < n && !crc; i++) {
        const struct store_gap *g = &rows[i];
        crc = copy_field(b, g->gap_id, 0);
        if (!crc) crc = copy_field(b, g->member_hash, 0);
        if (!crc) crc = copy_field(b, g->contract_id, 0);
        if (!crc) crc = copy_field(b, g->measure_code, 0);
        if (!crc) crc = copy_ll(b, g->measurement_year, 0);
        if (!crc) crc = copy_num(b, g->gap_probability, 0);
        if (!crc) crc = copy_num(b, g->priority_score, 0);
        if (!crc) crc = copy_field(b, g->intervention_type[0] ? g->intervention_type : NULL, 0);
        if (!crc) crc = copy_num(b, g->estimated_cost, 0);
        if (!crc) crc = copy_num(b, g->estimated_value, !direct);
        if (!crc && direct) crc = copy_field(b, "identified", 0);
        if (!crc && direct) crc = copy_field(b, now, 0);
        if (!crc && direct) crc = copy_field(b, now, 1);
        if (crc == SG_ETOOBIG || crc == SG_ENOMEM)
            crc = sg_errf(err, errlen, crc, "rows[%zu]: row too large for COPY", i);
        else if (!crc)
            crc = copy_flush(x, "gap_refresh_copy", b, 0);
    }
    rc = copy_end(x, "gap_refresh_copy", b, crc ? "client error" : NULL);
    return crc ? crc : rc;
}

/* No open gap of the refresh's scope (year, and contract when given) exists yet. */
STMT(gr_scope_open, 2,
     "SELECT EXISTS (SELECT 1 FROM gap_analysis WHERE measurement_year = $1"
     " AND ($2::text IS NULL OR contract_id = $2) AND status IN ('identified', 'assigned'))");

/* The direct path of a refresh. When the scope has no open gap yet (the first refresh of a year:
 * nothing to update or close), the rows are COPYed straight into gap_analysis under a savepoint,
 * without the stage, its statistics and the upsert (as the import merges do: stage_merge). A key
 * that exists already (a completed or closed gap of the same member, measure and year), or any
 * other refusal, rolls the attempt back and the staged refresh runs and reports as before.
 * Returns 0 (all n inserted), 1 (not taken or rolled back) or a negative sg_err. */
static int gr_direct(struct px *x, struct sg_buf *b, int year, const char *contract_id,
                     const struct store_gap *rows, size_t n, const char *now, char *err,
                     size_t errlen)
{
    struct params p;
    PGresult *r = NULL;
    p_init(&p);
    p_ll(&p, year);
    p_opt(&p, contract_id);
    int rc = px_exec(x, &gr_scope_open, &p, &r);
    int open = rc ? 1 : g_bool(r, 0, 0);
    PQclear(r);
    if (rc || open) return rc ? rc : 1;
    if ((rc = px_cmd(x, "SAVEPOINT sg_direct"))) return rc;
    rc = gr_copy(x, b, rows, n, 1, now, err, errlen);
    sg_buf_reset(b);
    if (rc && !x->broken) {
        rc = px_cmd(x, "ROLLBACK TO SAVEPOINT sg_direct");
        return rc ? rc : 1;
    }
    if (!rc) rc = px_cmd(x, "RELEASE SAVEPOINT sg_direct");
    return rc;
}

static int pg_gap_refresh_batch(struct store *st, const struct store_actor *a, int year,
                                const char *contract_id, const struct store_gap *rows, size_t n,
                                const char *now, struct store_refresh_counts *k, char *err,
                                size_t errlen)
{
    struct px x;
    struct sg_buf b;
    struct params p;
    char today[STORE_DATE_LEN];
    store_date_of(now, today);
    memset(k, 0, sizeof *k);
    sg_buf_init(&b, 2 * COPY_CHUNK + (1 << 20));
    struct pg_bulk bulk;
    memset(&bulk, 0, sizeof bulk);
    int want = 0;
    int rc = px_open(S(st), &x, err, errlen);
    if (!rc) rc = px_begin(&x);
    if (!rc) rc = gr_bulk_want(&x, year, contract_id, n, &want);
    if (!rc && want)
        rc = pg_bulk_drop(&x, &bulk, "gap_analysis",
                          "LOCK TABLE gap_analysis IN ACCESS EXCLUSIVE MODE", 0);
    int direct = 1;
    if (!rc && n) {
        direct = gr_direct(&x, &b, year, contract_id, rows, n, now, err, errlen);
        if (direct < 0) rc = direct;
        if (direct == 0) k->inserted = (long long)n;
    }
    if (!rc && direct) rc = px_cmd(&x, gr_stage_sql);
    if (!rc && n && direct) rc = gr_copy(&x, &b, rows, n, 0, now, err, errlen);
    /* statistics for the joins below: without them the planner takes the fresh temp table for
     * a few rows and joins by nested loops (minutes at 100,000 rows) */
    if (!rc && n && direct) rc = px_cmd(&x, "ANALYZE gap_refresh_stage");
    PGresult *r = NULL;
    p_init(&p);
    p_str(&p, now);
    if (!rc && n && direct && !(rc = px_exec(&x, &gr_insert, &p, &r))) k->inserted = g_ll(r, 0, 0);
    PQclear(r);
    r = NULL;
    if (rc && strstr(err ? err : "", "23503"))
        rc = sg_errf(err, errlen, SG_EINVAL, "rows.member_hash: no such member");
    if (!rc && n && direct && !(rc = px_exec(&x, &gr_update, &p, &r))) k->updated = cmd_rows(r);
    PQclear(r);
    r = NULL;
    if (!rc && direct) {
        k->kept = (long long)n - k->inserted - k->updated;
        if (k->kept < 0) k->kept = 0;
        p_init(&p);
        p_ll(&p, year);
        p_opt(&p, contract_id);
        p_str(&p, today);
        if (!(rc = px_exec(&x, &gr_close, &p, &r))) k->closed = cmd_rows(r);
        PQclear(r);
    }
    if (!rc && bulk.n) rc = pg_bulk_restore(&x, &bulk);
    if (!rc) {
        char y[16], ins[32], upd[32], kept[32], cl[32];
        snprintf(y, sizeof y, "%d", year);
        snprintf(ins, sizeof ins, "%lld", k->inserted);
        snprintf(upd, sizeof upd, "%lld", k->updated);
        snprintf(kept, sizeof kept, "%lld", k->kept);
        snprintf(cl, sizeof cl, "%lld", k->closed);
        const char *keys[] = {"year", "inserted", "updated", "kept", "closed"};
        const char *vals[] = {y, ins, upd, kept, cl};
        rc = px_audit_kv(&x, a, "data_change", "gap", contract_id, "refresh", 5, keys, vals, now);
    }
    if (!rc) rc = px_commit(&x);
    px_close(&x);
    pg_bulk_fini(&bulk);
    sg_buf_fini(&b);
    if (rc) memset(k, 0, sizeof *k);
    return rc;
}

/* ==== end decide block ==== */

static const struct store_ops pg_ops = {
    .name = "postgres",
    .close = pg_close,
    .member_create = pg_member_create,
    .member_get = pg_member_get,
    .member_get_or_create = pg_member_get_or_create,
    .member_update_activity = pg_member_update_activity,
    .prediction_batch_create = pg_prediction_batch_create,
    .prediction_get = pg_prediction_get,
    .prediction_get_by_member = pg_prediction_get_by_member,
    .prediction_get_latest = pg_prediction_get_latest,
    .prediction_delete_old = pg_prediction_delete_old,
    .snapshot_create = pg_snapshot_create,
    .snapshot_get_latest = pg_snapshot_get_latest,
    .snapshot_get_history = pg_snapshot_get_history,
    .snapshot_get_trends = pg_snapshot_get_trends,
    .gap_create = pg_gap_create,
    .gap_get = pg_gap_get,
    .gap_get_with_filters = pg_gap_get_with_filters,
    .gap_get_by_member = pg_gap_get_by_member,
    .gap_get_high_priority = pg_gap_get_high_priority,
    .gap_update_status = pg_gap_update_status,
    .intervention_create = pg_intervention_create,
    .intervention_get = pg_intervention_get,
    .intervention_list = pg_intervention_list,
    .intervention_get_pending = pg_intervention_get_pending,
    .intervention_update = pg_intervention_update,
    .intervention_complete = pg_intervention_complete,
    .intervention_get_bundles = pg_intervention_get_bundles,
    .star_rating_create = pg_star_rating_create,
    .star_rating_get_latest = pg_star_rating_get_latest,
    .star_rating_get_history = pg_star_rating_get_history,
    .simulation_create = pg_simulation_create,
    .simulation_get = pg_simulation_get,
    .simulation_list = pg_simulation_list,
    .api_log_batch_create = pg_api_log_batch_create,
    .api_log_get_stats = pg_api_log_get_stats,
    .api_log_get_slowest = pg_api_log_get_slowest,
    .api_log_get_errors = pg_api_log_get_errors,
    .audit_create = pg_audit_create,
    .audit_get_trail = pg_audit_get_trail,
    .audit_get_recent = pg_audit_get_recent,
    .audit_verify = pg_audit_verify,
    .measure_result_upsert_batch = pg_measure_result_upsert_batch,
    .measure_result_get_by_member = pg_measure_result_get_by_member,
    .measure_result_rates = pg_measure_result_rates,
    .measure_upsert_batch = pg_measure_upsert_batch,
    .measure_list = pg_measure_list,
    .measure_get = pg_measure_get,
    .api_key_create = pg_api_key_create,
    .api_key_get_by_hash = pg_api_key_get_by_hash,
    .api_key_list = pg_api_key_list,
    .api_key_revoke = pg_api_key_revoke,
    .member_history = pg_member_history,
    .member_history_submit = pg_member_history_submit,
    .gap_update_status_submit = pg_gap_update_status_submit,
    .migrate_applied = pg_migrate_applied,
    .migrate_apply = pg_migrate_apply,
    .maintain = pg_maintain,
    .raw_exec = pg_raw_exec,
    /* predict block */
    .member_upsert_batch = pg_member_upsert_batch,
    .measure_result_merge_batch = pg_measure_result_merge_batch,
    .member_feature_merge_batch = pg_member_feature_merge_batch,
    .import_batch = pg_import_batch,
    .member_scan = pg_member_scan,
    .measure_result_scan = pg_measure_result_scan,
    .member_feature_scan = pg_member_feature_scan,
    .member_feature_get = pg_member_feature_get,
    .measure_result_years = pg_measure_result_years,
    .model_create = pg_model_create,
    .model_get = pg_model_get,
    .model_get_latest = pg_model_get_latest,
    .model_list = pg_model_list,
    /* decide block */
    .prediction_scan_latest = pg_prediction_scan_latest,
    .gap_scan = pg_gap_scan,
    .gap_refresh_batch = pg_gap_refresh_batch,
};

int store_pg_open(const char *url, const struct sg_config *cfg, struct store **out, char *err,
                  size_t errlen)
{
    *out = NULL;
    struct pg_store *s = calloc(1, sizeof *s);
    if (!s) return sg_errf(err, errlen, SG_ENOMEM, "postgres: out of memory");
    struct pg_pool_config pc;
    pg_pool_config_defaults(&pc, url);
    if (cfg) {
        pc.min = (int)cfg->pool_min;
        pc.max = (int)cfg->pool_max;
        pc.max_lifetime_s = (int)cfg->pool_max_lifetime_s;
        pc.acquire_timeout_ms = (int)cfg->pool_acquire_timeout_ms;
        if (pc.min > pc.max) pc.min = pc.max;
    }
    int rc = pg_pool_new(&pc, &s->pool, err, errlen);
    if (rc) {
        free(s);
        return rc;
    }
    s->base.batch_writers = pc.max >= 3 ? 2 : 1; /* store_batch_writers */
    s->base.ops = &pg_ops;
    s->bulk_maint_mb = cfg ? cfg->pg_bulk_maintenance_mb : 512;
    pthread_mutex_init(&s->head_mu, NULL);
    s->overlap = cfg ? cfg->store_group_overlap != 0 : 0;
    store_group_init(&s->group, cfg ? (size_t)cfg->store_group_max : 64, &pg_group_tx, s);
    snprintf(s->base.url_scheme, sizeof s->base.url_scheme, "postgres");
    s->base.busy_timeout_ms = cfg ? cfg->sqlite_busy_timeout_ms : 5000;
    *out = &s->base;
    return SG_OK;
}

int store_pg_pool_stats(struct store *st, struct pg_pool_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!st || st->ops != &pg_ops) return SG_EUNSUPPORTED;
    pg_pool_stats(S(st)->pool, out);
    return SG_OK;
}
