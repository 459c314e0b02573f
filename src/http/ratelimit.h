/* ratelimit.h: per-key token buckets.
 *
 * Each API key (by its hash) has a bucket holding at most `per_min` tokens, refilled continuously
 * at per_min/60 tokens a second; a request takes one token or is refused with the number of
 * seconds until the next token. Buckets of keys idle for longer than a full refill are recycled,
 * so the table stays as small as the set of active keys. Thread-safe. */
#ifndef SG_HTTP_RATELIMIT_H
#define SG_HTTP_RATELIMIT_H

#include <stddef.h>

#include "core/err.h"

struct http_ratelimit;

/* Creates a limiter allowing per_min requests a minute per key (per_min >= 1).
 * Returns NULL on allocation failure. Free with http_ratelimit_free. */
struct http_ratelimit *http_ratelimit_new(long per_min);

/* Frees the limiter and all its buckets. */
void http_ratelimit_free(struct http_ratelimit *rl);

/* Takes one token from key's bucket at time now_s (monotonic seconds). Returns 1 when allowed;
 * 0 when refused, with *retry_after_s set to the whole seconds (>= 1) until a token is back.
 * A bucket that cannot be allocated lets the request through (failing open on memory). */
int http_ratelimit_take(struct http_ratelimit *rl, const char *key, double now_s, long *retry_after_s);

/* Number of buckets currently held (for tests and metrics). */
size_t http_ratelimit_size(struct http_ratelimit *rl);

#endif
