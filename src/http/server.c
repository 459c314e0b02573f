/* server.c: the libmicrohttpd server (the only file that includes microhttpd.h).
 *
 * Request flow (one access-handler invocation sequence per request):
 *   call 1: headers are in; allocate the request state and note the start time. Return without
 *           queueing a response: queueing here would make MHD close keep-alive connections and
 *           drop pipelined requests. (Only a declared Content-Length far above the body limit
 *           is answered here, with 413, closing the connection on purpose.)
 *   call 2..n: body chunks are appended to a capped buffer (past the limit: counted, dropped).
 *   last call: route, authenticate, rate-limit, run the handler, queue the response.
 *   A route marked `queued` (http.h) instead has its handler run by a queue worker: the last
 *   call suspends the connection and hands the request over; the worker runs the handler and
 *   resumes the connection; MHD then calls the access handler once more, which queues the
 *   response the worker left. The connection threads never wait on a group commit, so every
 *   waiting audited request can join the same group, however the connections are spread over
 *   the threads.
 * After the response is sent, the completion callback frees the state. */
#include "http/server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/log.h"
#include "http/metrics.h"
#include "http/ratelimit.h"
#include "http/router.h"

/* One request in the hands of the queue workers (a `queued` route), from the last call of the
 * access handler until its response is queued: the request view and the route match (the
 * params point into m.scratch) outlive that call here. */
struct job {
    struct http_request req;
    struct http_response res;
    struct http_match m;
    size_t route_index;
    struct MHD_Connection *conn;
    atomic_int done; /* the handler has filled res (or the deferred work is done) */
    struct job *next;
    /* HTTP_DEFERRABLE routes: the handler deferred its answer (http_defer: finish(fctx) fills
     * res once the work is done) or asked to be requeued; dstate orders the suspension of the
     * connection against the completion (DEFER_RUNNING -> DEFER_SUSPENDED by the connection
     * thread, -> DEFER_DONE by the completion, whichever comes first resumes). */
    int deferred, requeue;
    http_finish finish;
    void *fctx;
    atomic_int dstate;
    atomic_long *pending; /* the server's count of deferred work not done yet */
};
#define DEFER_RUNNING 0
#define DEFER_SUSPENDED 1
#define DEFER_DONE 2

/* The queue workers: a FIFO of jobs under one mutex, n threads. */
struct workers {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *head, *tail;
    size_t depth;
    int stop;
    pthread_t *tid;
    size_t n;
    atomic_ullong done_total;
    atomic_ullong deferred_total; /* HTTP_DEFERRABLE requests answered after deferred work */
    atomic_long deferred_pending; /* deferred requests whose work has not called done yet */
};

struct http_server {
    struct http_server_options o;
    struct workers w;
    int workers_on;
    struct MHD_Daemon *daemon;
    struct http_router router;
    struct http_metrics *metrics;
    struct http_ratelimit *ratelimit;
    struct http_keycache *keys;
    struct http_logq *logq;
    atomic_long inflight;
    atomic_int stopping;
    uint16_t port;
};

struct req_state {
    struct job *job; /* non-NULL while a queue worker has the request, and after */
    struct sg_buf body;
    double start_s;
    int too_big;
    unsigned long long received; /* body bytes seen, kept or not */
};

/* A body over the limit is read and discarded up to this multiple of the limit, so the client
 * receives its 413 on a connection that stays usable; a declared length beyond it is answered
 * before reading (and the connection closed) rather than reading an unbounded upload. */
#define DRAIN_FACTOR 4ULL

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *http_req_header(const struct http_request *req, const char *name)
{
    if (!req->conn) return NULL;
    return MHD_lookup_connection_value((struct MHD_Connection *)req->conn, MHD_HEADER_KIND, name);
}

const char *http_req_query(const struct http_request *req, const char *name)
{
    for (size_t i = 0; i < req->nquery; i++)
        if (!strcmp(req->query[i].key, name)) return req->query[i].value;
    return NULL;
}

struct query_collect {
    struct http_request *req;
    int too_many;
    const char *dup; /* first repeated name */
};

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    struct query_collect *qc = cls;
    struct http_request *req = qc->req;
    for (size_t i = 0; i < req->nquery; i++) {
        if (!strcmp(req->query[i].key, key)) {
            if (!qc->dup) qc->dup = req->query[i].key;
            return MHD_YES;
        }
    }
    if (req->nquery >= HTTP_MAX_QUERY) {
        qc->too_many = 1;
        return MHD_NO;
    }
    req->query[req->nquery].key = key;
    req->query[req->nquery].value = value ? value : "";
    req->nquery++;
    return MHD_YES;
}

static void client_ip(struct MHD_Connection *c, char *out, size_t n)
{
    out[0] = '\0';
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out, (socklen_t)n);
}

static int is_json_type(const char *ct)
{
    if (!ct) return 0;
    while (*ct == ' ') ct++;
    size_t n = !strncasecmp(ct, "application/json", 16)        ? 16
               : !strncasecmp(ct, "application/fhir+json", 21) ? 21 /* FHIR operations */
                                                               : 0;
    if (!n) return 0;
    char next = ct[n];
    return next == '\0' || next == ';' || next == ' ';
}

static int method_has_body(const char *m)
{
    return !strcmp(m, "POST") || !strcmp(m, "PATCH") || !strcmp(m, "PUT");
}

/* Everything before the handler: the route match's outcome (k, m), authentication, rate
 * limiting and the request's shape. Returns 1 when the handler is to run, 0 when res already
 * holds the answer (an error). */
static int admit(struct http_server *s, struct http_request *req, struct http_response *res,
                 struct req_state *st, enum http_match_kind k, const struct http_match *m,
                 size_t *route_index)
{
    *route_index = s->router.n; /* unmatched until proven otherwise */
    if (st->too_big) {
        http_error(req, res, 413, "too_large", "request body exceeds %ld bytes", s->o.body_limit);
        return 0;
    }
    if (k == HTTP_MATCH_NOT_FOUND) {
        http_error(req, res, 404, "not_found", "no such endpoint");
        return 0;
    }
    if (k == HTTP_MATCH_BAD_METHOD) {
        http_copy(res->allow, sizeof res->allow, m->allow);
        http_error(req, res, 405, "method_not_allowed", "method %s is not allowed here (allowed: %s)",
                   req->method, m->allow);
        return 0;
    }
    *route_index = m->index;
    req->route = &s->o.routes[m->index];
    req->route_index = m->index;
    req->nparams = m->nparams;
    for (size_t i = 0; i < m->nparams; i++) req->params[i] = m->params[i];

    struct query_collect qc = {.req = req};
    MHD_get_connection_values((struct MHD_Connection *)req->conn, MHD_GET_ARGUMENT_KIND,
                              collect_query, &qc);

    if (req->route->role > HTTP_ROLE_PUBLIC) {
        const char *key;
        size_t keylen;
        char msg[160];
        int rc = http_auth_extract(http_req_header(req, "X-API-Key"),
                                   http_req_header(req, "Authorization"), &key, &keylen, msg, sizeof msg);
        if (rc != SG_OK) {
            http_error(req, res, 401, "unauthorized", "%s", msg);
            return 0;
        }
        if (sg_sha256_hex(key, keylen, req->key_hash) != SG_OK) {
            http_error(req, res, 500, "internal_error", "internal error");
            return 0;
        }
        double now = mono_now();
        rc = http_keycache_get(s->keys, req->key_hash, now, req->key_name, &req->role);
        if (rc == SG_ENOTFOUND) {
            http_error(req, res, 401, "unauthorized", "the API key is not valid or has been revoked");
            return 0;
        }
        if (rc != SG_OK) {
            http_error_from_err(req, res, rc, "API key lookup failed");
            return 0;
        }
        long retry;
        if (!http_ratelimit_take(s->ratelimit, req->key_hash, now, &retry)) {
            res->retry_after_s = retry;
            http_error(req, res, 429, "rate_limited",
                       "rate limit of %ld requests per minute exceeded; retry after %ld s",
                       s->o.rate_limit_per_min, retry);
            return 0;
        }
        if (req->role < req->route->role) {
            http_error(req, res, 403, "forbidden", "this endpoint needs the %s role; the key has %s",
                       http_role_name(req->route->role), http_role_name(req->role));
            return 0;
        }
    }
    if (qc.too_many) {
        http_error(req, res, 400, "invalid_input", "too many query parameters (at most %d)", HTTP_MAX_QUERY);
        return 0;
    }
    if (qc.dup) {
        http_error(req, res, 400, "invalid_input", "query parameter '%s' is given more than once", qc.dup);
        return 0;
    }
    if (method_has_body(req->method) && req->body_len > 0 &&
        !is_json_type(http_req_header(req, "Content-Type"))) {
        http_error(req, res, 415, "unsupported_media_type", "the request body must be application/json (or application/fhir+json)");
        return 0;
    }
    if (!method_has_body(req->method) && req->body_len > 0) {
        http_error(req, res, 400, "invalid_input", "a %s request takes no body", req->method);
        return 0;
    }
    return 1;
}

/* A handler (or a deferred finish) that set no status answers 500. */
static void ensure_status(const struct http_request *req, struct http_response *res)
{
    if (res->status == 0) http_error(req, res, 500, "internal_error", "internal error");
}

/* Runs the route's handler. */
static void run_handler(struct http_request *req, struct http_response *res)
{
    req->route->handler(req, res);
    ensure_status(req, res);
}

/* The job of a request whose handler may defer (req->can_defer: always a heap job). */
static struct job *job_of(struct http_request *req)
{
    return (struct job *)(void *)((char *)req - offsetof(struct job, req));
}

struct http_deferral *http_defer(struct http_request *req, http_finish finish, void *ctx)
{
    if (!req->can_defer) return NULL;
    struct job *j = job_of(req);
    j->deferred = 1;
    j->finish = finish;
    j->fctx = ctx;
    j->pending = &req->server->w.deferred_pending;
    atomic_fetch_add(j->pending, 1);
    return (struct http_deferral *)j;
}

void http_defer_cancel(struct http_deferral *d)
{
    if (!d) return;
    struct job *j = (struct job *)d;
    j->deferred = 0;
    j->finish = NULL;
    j->fctx = NULL;
    atomic_fetch_sub(j->pending, 1);
}

void http_deferral_done(struct http_deferral *d)
{
    struct job *j = (struct job *)d;
    atomic_long *pending = j->pending; /* (j may be answered and freed once resumed) */
    atomic_store(&j->done, 1);
    if (atomic_exchange(&j->dstate, DEFER_DONE) == DEFER_SUSPENDED)
        MHD_resume_connection(j->conn); /* MHD calls the access handler again: it answers */
    atomic_fetch_sub(pending, 1);
}

void http_requeue(struct http_request *req)
{
    if (req->can_defer) job_of(req)->requeue = 1;
}

static enum MHD_Result send_response(struct http_server *s, struct MHD_Connection *c,
                                     struct http_request *req, struct http_response *res,
                                     double start_s, size_t route_index)
{
    double elapsed = mono_now() - start_s;
    char ms[32];
    snprintf(ms, sizeof ms, "%.3f", elapsed * 1000.0);
    struct MHD_Response *r;
    if (res->body) {
        r = MHD_create_response_from_buffer(res->body_len, res->body, MHD_RESPMEM_MUST_FREE);
        if (r) res->body = NULL; /* now owned by MHD */
    } else {
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!r) {
        free(res->body);
        res->body = NULL;
        return MHD_NO;
    }
    if (res->body_len || res->content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                res->content_type ? res->content_type : "application/json");
    MHD_add_response_header(r, "X-Request-ID", req->request_id);
    MHD_add_response_header(r, "X-Process-Time-Ms", ms);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (res->retry_after_s > 0) {
        char ra[24];
        snprintf(ra, sizeof ra, "%ld", res->retry_after_s);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (res->allow[0]) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, res->allow);
    if (atomic_load(&s->stopping)) MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned int)res->status, r);
    MHD_destroy_response(r);

    http_metrics_record(s->metrics, route_index, res->status, elapsed);
    if (s->logq) {
        struct http_log_row row;
        memset(&row, 0, sizeof row);
        http_copy(row.request_id, sizeof row.request_id, req->request_id);
        snprintf(row.endpoint, sizeof row.endpoint, "%s",
                 route_index < s->router.n ? s->o.routes[route_index].pattern : "unmatched");
        http_copy(row.method, sizeof row.method, req->method);
        memcpy(row.key_hash, req->key_hash, sizeof row.key_hash);
        row.status = res->status;
        row.latency_ms = elapsed * 1000.0;
        if (res->status >= 400) http_copy(row.error, sizeof row.error, res->error_msg);
        row.ts_ms = wall_ms();
        (void)http_logq_push(s->logq, &row);
    }
    return ret;
}

/* Hands a job to the queue workers. */
static void workers_push(struct workers *w, struct job *j)
{
    pthread_mutex_lock(&w->mu);
    j->next = NULL;
    if (w->tail) w->tail->next = j;
    else w->head = j;
    w->tail = j;
    w->depth++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* A queue worker: runs jobs' handlers and resumes their connections, until told to stop and
 * the queue is empty. */
static void *worker_main(void *arg)
{
    struct workers *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stop) pthread_cond_wait(&w->cv, &w->mu);
        struct job *j = w->head;
        if (!j) break; /* stopping and drained */
        w->head = j->next;
        if (!w->head) w->tail = NULL;
        w->depth--;
        pthread_mutex_unlock(&w->mu);
        run_handler(&j->req, &j->res);
        atomic_store(&j->done, 1);
        atomic_fetch_add(&w->done_total, 1);
        MHD_resume_connection(j->conn); /* MHD calls the access handler again: it answers */
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Starts n queue workers (n may be 0: queued routes then run on the connection threads).
 * Returns SG_OK or SG_ENOMEM / SG_EIO with err filled (the started ones are stopped). */
static void workers_stop(struct workers *w);
static int workers_start(struct workers *w, size_t n, char *err, size_t errlen)
{
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    atomic_init(&w->done_total, 0);
    atomic_init(&w->deferred_total, 0);
    atomic_init(&w->deferred_pending, 0);
    if (n == 0) return SG_OK;
    w->tid = calloc(n, sizeof *w->tid);
    if (!w->tid) return sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    for (; w->n < n; w->n++) {
        if (pthread_create(&w->tid[w->n], NULL, worker_main, w) != 0) {
            workers_stop(w);
            return sg_errf(err, errlen, SG_EIO, "cannot start HTTP queue worker %zu", w->n);
        }
    }
    return SG_OK;
}

/* Lets the workers finish every queued job, then joins them. */
static void workers_stop(struct workers *w)
{
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (size_t i = 0; i < w->n; i++) pthread_join(w->tid[i], NULL);
    free(w->tid);
    w->tid = NULL;
    w->n = 0;
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

/* Fills the request view of the request being answered on c. */
static void request_init(struct http_server *s, struct MHD_Connection *c, const char *url,
                         const char *method, const struct req_state *st, struct http_request *req)
{
    req->method = method;
    req->path = url;
    req->conn = c;
    req->app = s->o.app;
    req->server = s;
    req->body = sg_buf_str(&st->body);
    req->body_len = st->body.len;
    const char *rid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-ID");
    if (http_request_id_valid(rid))
        http_copy(req->request_id, sizeof req->request_id, rid);
    else
        http_request_id_new(req->request_id);
    client_ip(c, req->client_ip, sizeof req->client_ip);
}

/* Builds the request view, admits it and runs the handler, or hands a `queued` route's request
 * to the workers (connection suspended; answered when resumed), and queues the response. */
/* Runs an HTTP_DEFERRABLE route's handler on the connection thread. A deferred answer suspends
 * the connection until http_deferral_done (or resumes it at once when the work finished
 * first); a requeued one goes to the queue workers like an HTTP_QUEUED route (without workers,
 * the handler runs again here). Otherwise the handler answered: the caller sends it. */
static void req_handler_deferrable(struct http_server *s, struct MHD_Connection *c,
                                   struct req_state *st, struct job *j)
{
    j->req.route->handler(&j->req, &j->res);
    if (j->deferred) {
        atomic_fetch_add(&s->w.deferred_total, 1);
        st->job = j;
        MHD_suspend_connection(c);
        if (atomic_exchange(&j->dstate, DEFER_SUSPENDED) == DEFER_DONE)
            MHD_resume_connection(c); /* the work finished before the suspension */
        return;
    }
    j->req.can_defer = 0;
    if (j->requeue) {
        free(j->res.body);
        memset(&j->res, 0, sizeof j->res);
        if (s->w.n == 0) { /* no workers: answer here */
            j->requeue = 0;
            run_handler(&j->req, &j->res);
            return;
        }
        st->job = j;
        MHD_suspend_connection(c);
        workers_push(&s->w, j);
        return;
    }
    ensure_status(&j->req, &j->res);
}

static enum MHD_Result answer(struct http_server *s, struct MHD_Connection *c, const char *url,
                              const char *method, struct req_state *st)
{
    atomic_fetch_add(&s->inflight, 1);
    struct job local, *j = &local;
    memset(&local, 0, sizeof local);
    enum http_match_kind k = http_router_match(&s->router, method, url, &local.m);
    int mode = k == HTTP_MATCH_OK ? s->o.routes[local.m.index].queued : 0;
    if (mode == HTTP_QUEUED && s->w.n == 0) mode = 0;
    if (mode) {
        struct job *h = calloc(1, sizeof *h); /* out of memory: answered here instead */
        if (h) {
            j = h;
            k = http_router_match(&s->router, method, url, &j->m); /* params into j->m */
        }
    }
    request_init(s, c, url, method, st, &j->req);
    int run = admit(s, &j->req, &j->res, st, k, &j->m, &j->route_index);
    if (run && j != &local) {
        j->conn = c;
        atomic_init(&j->done, 0);
        atomic_init(&j->dstate, DEFER_RUNNING);
        if (mode == HTTP_DEFERRABLE) { /* the handler starts here, and may defer or requeue */
            j->req.can_defer = 1;
            req_handler_deferrable(s, c, st, j);
            if (j->deferred || j->requeue) return MHD_YES; /* answered() finishes it */
            j->req.can_defer = 0;
        } else {
            st->job = j;
            MHD_suspend_connection(c);
            workers_push(&s->w, j);
            return MHD_YES; /* still in flight: answered() finishes it */
        }
    } else if (run) {
        run_handler(&j->req, &j->res);
    }
    enum MHD_Result ret = send_response(s, c, &j->req, &j->res, st->start_s, j->route_index);
    free(j->res.body);
    if (j != &local) free(j);
    atomic_fetch_sub(&s->inflight, 1);
    return ret;
}

/* The access handler's call after a worker resumed the connection: queues the job's response. */
static enum MHD_Result answered(struct http_server *s, struct MHD_Connection *c, struct req_state *st)
{
    struct job *j = st->job;
    if (!atomic_load(&j->done)) return MHD_YES; /* not resumed by its worker yet */
    if (j->finish) { /* a deferred answer: filled here, on the connection thread */
        j->finish(&j->req, &j->res, j->fctx);
        j->finish = NULL;
        ensure_status(&j->req, &j->res);
    }
    enum MHD_Result ret = send_response(s, c, &j->req, &j->res, st->start_s, j->route_index);
    free(j->res.body);
    j->res.body = NULL;
    free(j);
    st->job = NULL;
    atomic_fetch_sub(&s->inflight, 1);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct http_server *s = cls;
    struct req_state *st = *con_cls;
    const unsigned long long drain_max = DRAIN_FACTOR * (unsigned long long)s->o.body_limit;
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st) return MHD_NO;
        sg_buf_init(&st->body, (size_t)s->o.body_limit);
        st->start_s = mono_now();
        *con_cls = st;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(cl, &end, 10);
            int bad = errno || end == cl;
            if (bad || v > (unsigned long long)s->o.body_limit) st->too_big = 1;
            /* Far too large: answer 413 now, before reading any of it. libmicrohttpd accepts a
             * response only before the body or after all of it, and one queued now closes the
             * connection, which is what an oversized upload deserves. */
            if (bad || v > drain_max) return answer(s, c, url, method, st);
        }
        return MHD_YES;
    }
    if (st->job) return answered(s, c, st);
    if (*upload_data_size > 0) {
        st->received += *upload_data_size;
        if (!st->too_big) {
            int rc = sg_buf_append(&st->body, upload_data, *upload_data_size);
            if (rc == SG_ETOOBIG) st->too_big = 1;
            else if (rc != SG_OK) return MHD_NO;
        }
        /* a chunked upload without a length that keeps going: close the connection */
        if (st->too_big && st->received > drain_max) return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    /* The whole request is in: answer. A body over the limit (read and discarded up to
     * DRAIN_FACTOR times the limit) gets its 413 on a connection that stays usable. */
    return answer(s, c, url, method, st);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c;
    (void)toe;
    struct http_server *s = cls;
    struct req_state *st = *con_cls;
    if (!st) return;
    if (st->job) { /* resumed but closed (or the daemon stopping) before its answer was queued */
        if (st->job->finish) st->job->finish(&st->job->req, NULL, st->job->fctx);
        free(st->job->res.body);
        free(st->job);
        atomic_fetch_sub(&s->inflight, 1);
    }
    sg_buf_fini(&st->body);
    free(st);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
    LOG_WARN("http server message=\"%s\"", msg);
}

/* Splits "host:port" or "[v6]:port" and resolves it. */
static int resolve_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen,
                          char *err, size_t errlen)
{
    char host[256];
    const char *colon;
    if (!listen || !*listen) return sg_errf(err, errlen, SG_EINVAL, "listen address is empty");
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':') goto bad;
        size_t hl = (size_t)(close - listen - 1);
        if (hl == 0 || hl >= sizeof host) goto bad;
        memcpy(host, listen + 1, hl);
        host[hl] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon) goto bad;
        size_t hl = (size_t)(colon - listen);
        if (hl == 0 || hl >= sizeof host) goto bad;
        memcpy(host, listen, hl);
        host[hl] = '\0';
    }
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port < 0 || port > 65535) goto bad;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(host, NULL, &hints, &ai);
    if (g != 0 || !ai)
        return sg_errf(err, errlen, SG_EINVAL, "listen address '%s': %s", listen, gai_strerror(g));
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *sslen = ai->ai_addrlen;
    freeaddrinfo(ai);
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)(void *)ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)(void *)ss)->sin6_port = htons((uint16_t)port);
    return SG_OK;
bad:
    return sg_errf(err, errlen, SG_EINVAL, "listen address '%s' is not HOST:PORT", listen);
}

/* Each connection costs a descriptor; 10,000 keep-alive clients need more than the usual
 * soft limit of 1024. Raise the soft limit as far as the hard limit allows. */
static void raise_nofile(long want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rlim_t need = (rlim_t)want + 256;
    if (rl.rlim_cur < rl.rlim_max && rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) LOG_WARN("http cannot raise RLIMIT_NOFILE errno=%d", errno);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need)
        LOG_WARN("http open-file limit %llu is below max_connections %ld + 256; connections beyond it will be refused",
                 (unsigned long long)rl.rlim_cur, want);
}

struct http_server *http_server_start(const struct http_server_options *o, char *err, size_t errlen)
{
    struct http_server *s = calloc(1, sizeof *s);
    if (!s) {
        sg_errf(err, errlen, SG_ENOMEM, "out of memory");
        return NULL;
    }
    s->o = *o;
    if (s->o.threads <= 0) {
        /* Handlers wait on the database, so a thread per core leaves the cores idle: on the
         * 2-core benchmark machine 8 threads served GET /gaps/{id} at 23,600/s against 17,500/s
         * with 4. Audited operations wait for their group commit (store_group.h), and a group
         * can only hold as many operations as there are threads waiting: with 8 threads a
         * group had at most 8 (about 1,500 PATCH/s), with 64 up to 64 (docs/BENCHMARKS.md,
         * "Group commit"). 32 per core, at most 128. (stargap serve passes the PostgreSQL
         * pool's size instead: cli_serve.c.) */
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n = n > 0 ? 32 * n : 32;
        s->o.threads = n > 128 ? 128 : n;
    }
    if (s->o.body_limit <= 0) s->o.body_limit = 1048576;
    if (s->o.rate_limit_per_min <= 0) s->o.rate_limit_per_min = 6000;
    if (s->o.log_queue_capacity == 0) s->o.log_queue_capacity = 65536;
    atomic_init(&s->inflight, 0);
    atomic_init(&s->stopping, 0);

    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    if (resolve_listen(o->listen, &ss, &sslen, err, errlen) != SG_OK) goto fail;
    if (http_router_init(&s->router, o->routes, o->nroutes, err, errlen) != SG_OK) goto fail;
    s->metrics = http_metrics_new(o->nroutes);
    s->ratelimit = http_ratelimit_new(s->o.rate_limit_per_min);
    s->keys = o->key_lookup ? http_keycache_new(o->key_lookup, o->key_ctx) : NULL;
    if (!s->metrics || !s->ratelimit || (o->key_lookup && !s->keys)) {
        sg_errf(err, errlen, SG_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < o->nroutes; i++) {
        if (o->routes[i].role > HTTP_ROLE_PUBLIC && !s->keys) {
            sg_errf(err, errlen, SG_EINVAL, "route %s needs a key lookup hook", o->routes[i].pattern);
            goto fail;
        }
    }
    if (o->log_sink) {
        s->logq = http_logq_new(s->o.log_queue_capacity, 500, o->log_sink, o->log_ctx, err, errlen);
        if (!s->logq) goto fail;
    }
    raise_nofile(s->o.max_connections);
    if (workers_start(&s->w, s->o.queue_workers > 0 ? (size_t)s->o.queue_workers : 0, err, errlen) != SG_OK)
        goto fail;
    s->workers_on = 1;

    unsigned int flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                         MHD_USE_TURBO;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)s->o.threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)s->o.max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)s->o.conn_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)s->o.conn_memory,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)4096,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_END);
    if (!s->daemon) {
        sg_errf(err, errlen, SG_EIO, "cannot listen on %s (address in use or not permitted)", o->listen);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : 0;
    return s;
fail:
    if (s->workers_on) workers_stop(&s->w);
    http_logq_free(s->logq);
    http_keycache_free(s->keys);
    http_ratelimit_free(s->ratelimit);
    http_metrics_free(s->metrics);
    http_router_fini(&s->router);
    free(s);
    return NULL;
}

uint16_t http_server_port(const struct http_server *s) { return s->port; }

long http_server_threads(const struct http_server *s) { return s->o.threads; }

int http_server_render_metrics(struct http_server *s, struct sg_buf *out)
{
    int rc = http_metrics_render(s->metrics, s->o.routes, out);
    unsigned int conns = 0;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    if (di) conns = di->num_connections;
    if (rc == SG_OK)
        rc = sg_buf_printf(out,
                           "# HELP http_connections Open HTTP connections.\n# TYPE http_connections gauge\n"
                           "http_connections %u\n"
                           "# HELP http_connections_max Configured connection limit.\n# TYPE http_connections_max gauge\n"
                           "http_connections_max %ld\n"
                           "# HELP http_requests_in_flight Requests being handled.\n# TYPE http_requests_in_flight gauge\n"
                           "http_requests_in_flight %ld\n"
                           "# HELP http_worker_threads HTTP pool threads.\n# TYPE http_worker_threads gauge\n"
                           "http_worker_threads %ld\n",
                           conns, s->o.max_connections, atomic_load(&s->inflight), s->o.threads);
    if (rc == SG_OK) {
        pthread_mutex_lock(&s->w.mu);
        size_t depth = s->w.depth;
        pthread_mutex_unlock(&s->w.mu);
        rc = sg_buf_printf(out,
                           "# HELP http_queue_workers Threads running the handlers of queued routes.\n# TYPE http_queue_workers gauge\n"
                           "http_queue_workers %zu\n"
                           "# HELP http_queue_depth Queued-route requests waiting for a worker.\n# TYPE http_queue_depth gauge\n"
                           "http_queue_depth %zu\n"
                           "# HELP http_queue_handled_total Queued-route requests a worker has handled.\n# TYPE http_queue_handled_total counter\n"
                           "http_queue_handled_total %llu\n"
                           "# HELP http_deferred_total Requests answered once the work their handler started (a group commit) was done, without a worker waiting.\n# TYPE http_deferred_total counter\n"
                           "http_deferred_total %llu\n",
                           s->w.n, depth, (unsigned long long)atomic_load(&s->w.done_total),
                           (unsigned long long)atomic_load(&s->w.deferred_total));
    }
    if (rc == SG_OK && s->logq) {
        struct http_logq_stats st;
        http_logq_stats(s->logq, &st);
        rc = sg_buf_printf(out,
                           "# HELP api_log_queue_depth api_logs rows waiting to be written.\n# TYPE api_log_queue_depth gauge\n"
                           "api_log_queue_depth %zu\n"
                           "# HELP api_log_queue_capacity api_logs queue size.\n# TYPE api_log_queue_capacity gauge\n"
                           "api_log_queue_capacity %zu\n"
                           "# HELP api_log_rows_written_total api_logs rows written.\n# TYPE api_log_rows_written_total counter\n"
                           "api_log_rows_written_total %llu\n"
                           "# HELP api_log_rows_dropped_total api_logs rows dropped because the queue was full.\n# TYPE api_log_rows_dropped_total counter\n"
                           "api_log_rows_dropped_total %llu\n"
                           "# HELP api_log_rows_failed_total api_logs rows the database refused.\n# TYPE api_log_rows_failed_total counter\n"
                           "api_log_rows_failed_total %llu\n",
                           st.depth, st.capacity, (unsigned long long)st.written,
                           (unsigned long long)st.dropped, (unsigned long long)st.failed);
    }
    if (rc == SG_OK && s->o.metrics_extra) rc = s->o.metrics_extra(s->o.metrics_ctx, out);
    return rc;
}

void http_server_stop(struct http_server *s, long drain_timeout_ms)
{
    if (!s) return;
    atomic_store(&s->stopping, 1);
    MHD_socket ls = MHD_quiesce_daemon(s->daemon); /* no new connections from here on */
    if (ls != MHD_INVALID_SOCKET) close(ls);
    /* Let in-flight requests finish; requests already read on open connections are served with
     * "Connection: close". Wait until nothing has been in flight for 100 ms, or the timeout. */
    double deadline = mono_now() + (double)drain_timeout_ms / 1000.0, idle_since = -1;
    while (mono_now() < deadline) {
        if (atomic_load(&s->inflight) == 0) {
            if (idle_since < 0) idle_since = mono_now();
            if (mono_now() - idle_since >= 0.1) break;
        } else {
            idle_since = -1;
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    /* The workers finish what they hold and resume those connections, and deferred work (a
     * group commit in the store) resumes its own: MHD must not be stopped with a connection
     * suspended, nor resumed after it stopped. */
    workers_stop(&s->w);
    long pending = atomic_load(&s->w.deferred_pending);
    if (pending > 0) LOG_WARN("http stopping: waiting for %ld deferred requests", pending);
    while (atomic_load(&s->w.deferred_pending) > 0) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(s->daemon);
    if (s->logq) {
        if (http_logq_flush(s->logq, 10000) != SG_OK) LOG_WARN("http api_logs flush timed out");
        http_logq_free(s->logq);
    }
    http_keycache_free(s->keys);
    http_ratelimit_free(s->ratelimit);
    http_metrics_free(s->metrics);
    http_router_fini(&s->router);
    free(s);
}
