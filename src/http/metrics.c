/* metrics.c: fixed arrays of atomic counters (see metrics.h). Status codes are counted in one
 * slot each for the codes the API sends and an "other" slot, so the table never grows. */
#include "http/metrics.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

static const int status_codes[] = {200, 201, 204, 400, 401, 403, 404, 405, 409,
                                   413, 415, 422, 429, 500, 503};
#define NSTATUS (sizeof status_codes / sizeof status_codes[0] + 1) /* + other */
static const double bucket_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                   0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
#define NBUCKET (sizeof bucket_le / sizeof bucket_le[0])

struct route_counters {
    atomic_uint_fast64_t by_status[NSTATUS];
    atomic_uint_fast64_t bucket[NBUCKET + 1]; /* last: +Inf */
    atomic_uint_fast64_t sum_us;              /* sum of latencies in microseconds */
};

struct http_metrics {
    size_t nroutes;
    struct route_counters r[]; /* nroutes + 1 */
};

struct http_metrics *http_metrics_new(size_t nroutes)
{
    struct http_metrics *m = calloc(1, sizeof *m + (nroutes + 1) * sizeof(struct route_counters));
    if (m) m->nroutes = nroutes;
    return m;
}

void http_metrics_free(struct http_metrics *m) { free(m); }

static size_t status_slot(int status)
{
    for (size_t i = 0; i < NSTATUS - 1; i++)
        if (status_codes[i] == status) return i;
    return NSTATUS - 1;
}

void http_metrics_record(struct http_metrics *m, size_t route, int status, double latency_s)
{
    if (route > m->nroutes) route = m->nroutes;
    struct route_counters *c = &m->r[route];
    atomic_fetch_add_explicit(&c->by_status[status_slot(status)], 1, memory_order_relaxed);
    size_t b = 0;
    while (b < NBUCKET && latency_s > bucket_le[b]) b++;
    atomic_fetch_add_explicit(&c->bucket[b], 1, memory_order_relaxed);
    double us = latency_s * 1e6;
    atomic_fetch_add_explicit(&c->sum_us, us > 0 ? (uint_fast64_t)us : 0, memory_order_relaxed);
}

int http_metrics_render(const struct http_metrics *m, const struct http_route *routes,
                        struct sg_buf *out)
{
    int rc = sg_buf_puts(out, "# HELP http_requests_total HTTP requests by route, method and status.\n"
                              "# TYPE http_requests_total counter\n");
    for (size_t i = 0; rc == SG_OK && i <= m->nroutes; i++) {
        const char *route = i < m->nroutes ? routes[i].pattern : "unmatched";
        const char *method = i < m->nroutes ? routes[i].method : "any";
        for (size_t s = 0; rc == SG_OK && s < NSTATUS; s++) {
            uint64_t v = atomic_load_explicit(&m->r[i].by_status[s], memory_order_relaxed);
            if (!v) continue;
            if (s < NSTATUS - 1)
                rc = sg_buf_printf(out, "http_requests_total{route=\"%s\",method=\"%s\",status=\"%d\"} %llu\n",
                                   route, method, status_codes[s], (unsigned long long)v);
            else
                rc = sg_buf_printf(out, "http_requests_total{route=\"%s\",method=\"%s\",status=\"other\"} %llu\n",
                                   route, method, (unsigned long long)v);
        }
    }
    if (rc == SG_OK)
        rc = sg_buf_puts(out, "# HELP http_request_duration_seconds Time from request end to response.\n"
                              "# TYPE http_request_duration_seconds histogram\n");
    for (size_t i = 0; rc == SG_OK && i <= m->nroutes; i++) {
        const struct route_counters *c = &m->r[i];
        uint64_t counts[NBUCKET + 1], total = 0;
        for (size_t b = 0; b <= NBUCKET; b++) {
            counts[b] = atomic_load_explicit(&c->bucket[b], memory_order_relaxed);
            total += counts[b];
        }
        if (!total) continue;
        const char *route = i < m->nroutes ? routes[i].pattern : "unmatched";
        const char *method = i < m->nroutes ? routes[i].method : "any";
        uint64_t cum = 0;
        for (size_t b = 0; rc == SG_OK && b < NBUCKET; b++) {
            cum += counts[b];
            rc = sg_buf_printf(out, "http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\",le=\"%g\"} %llu\n",
                               route, method, bucket_le[b], (unsigned long long)cum);
        }
        if (rc == SG_OK)
            rc = sg_buf_printf(out,
                               "http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\",le=\"+Inf\"} %llu\n"
                               "http_request_duration_seconds_sum{route=\"%s\",method=\"%s\"} %.6f\n"
                               "http_request_duration_seconds_count{route=\"%s\",method=\"%s\"} %llu\n",
                               route, method, (unsigned long long)total, route, method,
                               (double)atomic_load_explicit(&c->sum_us, memory_order_relaxed) / 1e6,
                               route, method, (unsigned long long)total);
    }
    return rc;
}
