/* logq.h: the api_logs writer: a bounded in-memory queue drained in batches by one background
 * thread.
 *
 * The request path only copies a fixed-size row into a ring under a mutex and never waits: when
 * the ring is full the row is dropped and counted (reported in /metrics). The drain thread hands
 * up to `batch` rows at a time to a sink (the store's batched api_logs insert), waking when a
 * batch is ready or every 200 ms. http_logq_free flushes everything still queued. */
#ifndef SG_HTTP_LOGQ_H
#define SG_HTTP_LOGQ_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/hash.h"

struct http_log_row {
    char request_id[65];
    char endpoint[96];   /* route template, never the concrete path (it may hold a member hash) */
    char method[8];
    char key_hash[SG_HEX64_LEN]; /* "" for unauthenticated requests */
    int status;
    double latency_ms;
    char error[160];     /* "" unless status >= 400 */
    int64_t ts_ms;       /* Unix time in milliseconds */
};

/* Writes n rows; returns SG_OK or an sg_err code (the rows are then counted as failed). */
typedef int (*http_log_sink)(void *ctx, const struct http_log_row *rows, size_t n);

struct http_logq;

/* Creates the queue with room for `capacity` rows and starts its drain thread handing at most
 * `batch` rows per sink call. Returns NULL (message in err) when allocation or thread creation
 * fails. */
struct http_logq *http_logq_new(size_t capacity, size_t batch, http_log_sink sink, void *ctx,
                                char *err, size_t errlen);

/* Queues a copy of row without blocking. Returns 1 when queued, 0 when dropped (queue full). */
int http_logq_push(struct http_logq *q, const struct http_log_row *row);

struct http_logq_stats {
    uint64_t queued;  /* rows accepted */
    uint64_t written; /* rows the sink accepted */
    uint64_t dropped; /* rows refused because the queue was full */
    uint64_t failed;  /* rows the sink failed to write */
    size_t depth;     /* rows waiting now */
    size_t capacity;
};

/* Copies the counters into *st. */
void http_logq_stats(struct http_logq *q, struct http_logq_stats *st);

/* Waits until every row queued so far has been handed to the sink (or timeout_ms passes).
 * Returns SG_OK or SG_EBUSY on timeout. */
int http_logq_flush(struct http_logq *q, long timeout_ms) SG_WUR;

/* Stops the drain thread after writing every queued row, and frees the queue. NULL is a no-op. */
void http_logq_free(struct http_logq *q);

#endif
