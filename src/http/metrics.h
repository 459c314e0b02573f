/* metrics.h: request counters and latency histograms per route, printed in the Prometheus text
 * exposition format. Recording is lock-free (relaxed atomics); rendering reads a consistent-enough
 * snapshot, as Prometheus expects of counters. */
#ifndef SG_HTTP_METRICS_H
#define SG_HTTP_METRICS_H

#include <stddef.h>

#include "core/buf.h"
#include "http/http.h"

struct http_metrics;

/* Creates counters for `nroutes` routes plus one slot for requests that matched no route.
 * Returns NULL on allocation failure. */
struct http_metrics *http_metrics_new(size_t nroutes);

/* Frees the counters. NULL is a no-op. */
void http_metrics_free(struct http_metrics *m);

/* Records one finished request: route index (nroutes = unmatched), status and latency. */
void http_metrics_record(struct http_metrics *m, size_t route, int status, double latency_s);

/* Appends http_requests_total{route,method,status} and the
 * http_request_duration_seconds histogram{route,method} to out. Returns sg_buf errors. */
int http_metrics_render(const struct http_metrics *m, const struct http_route *routes,
                        struct sg_buf *out) SG_WUR;

#endif
