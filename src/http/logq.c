/* logq.c: ring buffer + drain thread behind logq.h. */
#include "http/logq.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct http_logq {
    pthread_mutex_t mu;
    pthread_cond_t wake;    /* signalled when a batch is ready or on stop */
    pthread_cond_t drained; /* signalled after each sink call */
    pthread_t thread;
    struct http_log_row *ring;
    size_t cap, head, len; /* head: oldest row */
    size_t batch;
    int stop;
    int flush_req; /* a flusher waits: drain even less than a batch */
    http_log_sink sink;
    void *ctx;
    uint64_t queued, written, dropped, failed, handed; /* handed: rows taken by the drain thread */
    struct http_log_row *scratch; /* batch copied out of the ring */
};

static void deadline_in(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *drain_main(void *arg)
{
    struct http_logq *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->stop && !q->flush_req && q->len < q->batch) {
            struct timespec ts;
            deadline_in(&ts, 200);
            int rc = pthread_cond_timedwait(&q->wake, &q->mu, &ts);
            if (rc == ETIMEDOUT && q->len > 0) break;
        }
        if (q->len == 0) {
            q->flush_req = 0;
            pthread_cond_broadcast(&q->drained);
            if (q->stop) break;
            continue;
        }
        size_t n = q->len < q->batch ? q->len : q->batch;
        for (size_t i = 0; i < n; i++) q->scratch[i] = q->ring[(q->head + i) % q->cap];
        q->head = (q->head + n) % q->cap;
        q->len -= n;
        pthread_mutex_unlock(&q->mu);
        int rc = q->sink(q->ctx, q->scratch, n);
        pthread_mutex_lock(&q->mu);
        q->handed += n;
        if (rc == SG_OK)
            q->written += n;
        else
            q->failed += n;
        pthread_cond_broadcast(&q->drained);
    }
    pthread_cond_broadcast(&q->drained);
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

struct http_logq *http_logq_new(size_t capacity, size_t batch, http_log_sink sink, void *ctx,
                                char *err, size_t errlen)
{
    struct http_logq *q = calloc(1, sizeof *q);
    if (!q) goto nomem;
    if (capacity < 1) capacity = 1;
    if (batch < 1) batch = 1;
    if (batch > capacity) batch = capacity;
    q->ring = calloc(capacity, sizeof *q->ring);
    q->scratch = calloc(batch, sizeof *q->scratch);
    if (!q->ring || !q->scratch) goto nomem;
    q->cap = capacity;
    q->batch = batch;
    q->sink = sink;
    q->ctx = ctx;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->wake, NULL);
    pthread_cond_init(&q->drained, NULL);
    if (pthread_create(&q->thread, NULL, drain_main, q) != 0) {
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->wake);
        pthread_cond_destroy(&q->drained);
        free(q->ring);
        free(q->scratch);
        free(q);
        sg_errf(err, errlen, SG_EINTERNAL, "cannot start the api_logs writer thread");
        return NULL;
    }
    return q;
nomem:
    if (q) {
        free(q->ring);
        free(q->scratch);
        free(q);
    }
    sg_errf(err, errlen, SG_ENOMEM, "out of memory for the api_logs queue");
    return NULL;
}

int http_logq_push(struct http_logq *q, const struct http_log_row *row)
{
    int ok = 0;
    pthread_mutex_lock(&q->mu);
    if (q->len < q->cap && !q->stop) {
        q->ring[(q->head + q->len) % q->cap] = *row;
        q->len++;
        q->queued++;
        ok = 1;
        if (q->len == q->batch) pthread_cond_signal(&q->wake);
    } else {
        q->dropped++;
    }
    pthread_mutex_unlock(&q->mu);
    return ok;
}

void http_logq_stats(struct http_logq *q, struct http_logq_stats *st)
{
    pthread_mutex_lock(&q->mu);
    st->queued = q->queued;
    st->written = q->written;
    st->dropped = q->dropped;
    st->failed = q->failed;
    st->depth = q->len;
    st->capacity = q->cap;
    pthread_mutex_unlock(&q->mu);
}

int http_logq_flush(struct http_logq *q, long timeout_ms)
{
    struct timespec ts;
    deadline_in(&ts, timeout_ms);
    int rc = SG_OK;
    pthread_mutex_lock(&q->mu);
    uint64_t target = q->queued;
    while (q->handed < target) {
        /* wake the drain thread even when less than a batch is waiting */
        q->flush_req = 1;
        pthread_cond_signal(&q->wake);
        if (pthread_cond_timedwait(&q->drained, &q->mu, &ts) == ETIMEDOUT) {
            rc = q->handed < target ? SG_EBUSY : SG_OK;
            break;
        }
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

void http_logq_free(struct http_logq *q)
{
    if (!q) return;
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->wake);
    pthread_cond_destroy(&q->drained);
    free(q->ring);
    free(q->scratch);
    free(q);
}
