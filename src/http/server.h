/* server.h: starting and stopping the HTTP server.
 *
 * libmicrohttpd with a thread pool, each pool thread running its own epoll loop
 * (MHD_USE_EPOLL_INTERNAL_THREAD + MHD_OPTION_THREAD_POOL_SIZE). Handlers run on the pool
 * threads, except those of `queued` routes (http.h): they run on the queue workers while their
 * connection is suspended (MHD_suspend_connection), so a request waiting for its group commit
 * holds no pool thread and its connection's neighbours on that thread are served meanwhile. The response is queued on the second call of the access handler, after the body has
 * been read, so keep-alive connections stay open and pipelined requests are answered in order. */
#ifndef SG_HTTP_SERVER_H
#define SG_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "http/auth.h"
#include "http/http.h"
#include "http/logq.h"

struct http_server_options {
    const char *listen;                /* "HOST:PORT" or "[V6]:PORT"; port 0 picks a free port */
    const struct http_route *routes;   /* the route table (borrowed, must outlive the server) */
    size_t nroutes;
    void *app;                         /* handed to handlers in req->app */
    long threads;                      /* pool threads; 0 = 32 per online CPU, at most 128 */
    long queue_workers;                /* threads running `queued` routes' handlers (http.h);
                                        * 0 = none: those run on the pool threads too */
    long max_connections;
    long conn_timeout_s;
    long conn_memory;                  /* bytes per connection */
    long body_limit;                   /* largest request body (larger: 413) */
    long rate_limit_per_min;           /* per key */
    http_key_lookup key_lookup;        /* required when any route needs a role */
    void *key_ctx;
    http_log_sink log_sink;            /* api_logs writer; NULL disables request logging */
    void *log_ctx;
    size_t log_queue_capacity;         /* 0 = 65536 rows */
    /* Optional: appends extra Prometheus lines (pool usage, audit queue...) to out. */
    int (*metrics_extra)(void *ctx, struct sg_buf *out);
    void *metrics_ctx;
};

struct http_server;

/* Raises RLIMIT_NOFILE, compiles the routes, starts the api_logs writer and the daemon listening
 * on o->listen. Returns NULL with a message in err (bad address, port in use, bad route table,
 * out of memory). */
struct http_server *http_server_start(const struct http_server_options *o, char *err, size_t errlen);

/* Returns the port the server listens on (useful when o->listen asked for port 0). */
uint16_t http_server_port(const struct http_server *s);
/* The pool threads the server runs (the option, or the default it chose for 0). */
long http_server_threads(const struct http_server *s);

/* Appends the server's Prometheus metrics (requests, latency, connections, in-flight requests,
 * the api_logs queue and the extra hook's lines) to out. Returns sg_buf errors. */
int http_server_render_metrics(struct http_server *s, struct sg_buf *out) SG_WUR;

/* Graceful stop: stops accepting connections, lets in-flight requests finish (at most
 * drain_timeout_ms), closes the daemon, flushes the api_logs queue into the sink and frees the
 * server. NULL is a no-op. */
void http_server_stop(struct http_server *s, long drain_timeout_ms);

#endif
