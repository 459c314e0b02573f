/* ratelimit.c: token buckets in a chained hash table under one mutex (see ratelimit.h). The
 * critical section is a hash, a compare and a few floating-point operations; one mutex costs
 * nothing measurable at the request rates of a two-core server. */
#include "http/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 1024

struct bucket {
    struct bucket *next;
    double tokens;
    double last_s;
    char key[];
};

struct http_ratelimit {
    pthread_mutex_t mu;
    double capacity; /* tokens */
    double rate;     /* tokens per second */
    size_t count;
    size_t takes;    /* calls since the last sweep */
    struct bucket *tab[NBUCKETS];
};

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 16777619u;
    }
    return h;
}

struct http_ratelimit *http_ratelimit_new(long per_min)
{
    struct http_ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl) return NULL;
    pthread_mutex_init(&rl->mu, NULL);
    rl->capacity = (double)(per_min < 1 ? 1 : per_min);
    rl->rate = rl->capacity / 60.0;
    return rl;
}

void http_ratelimit_free(struct http_ratelimit *rl)
{
    if (!rl) return;
    for (size_t i = 0; i < NBUCKETS; i++) {
        struct bucket *b = rl->tab[i];
        while (b) {
            struct bucket *n = b->next;
            free(b);
            b = n;
        }
    }
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

/* Drops buckets that have been idle long enough to be full again (they would behave exactly
 * like a fresh bucket). Called under the mutex every few thousand takes. */
static void sweep(struct http_ratelimit *rl, double now_s)
{
    double full_after = rl->capacity / rl->rate;
    for (size_t i = 0; i < NBUCKETS; i++) {
        struct bucket **pp = &rl->tab[i];
        while (*pp) {
            struct bucket *b = *pp;
            if (now_s - b->last_s > full_after) {
                *pp = b->next;
                free(b);
                rl->count--;
            } else {
                pp = &b->next;
            }
        }
    }
}

int http_ratelimit_take(struct http_ratelimit *rl, const char *key, double now_s, long *retry_after_s)
{
    *retry_after_s = 0;
    uint32_t h = fnv1a(key) % NBUCKETS;
    int allowed = 1;
    pthread_mutex_lock(&rl->mu);
    if (++rl->takes >= 4096) {
        rl->takes = 0;
        sweep(rl, now_s);
    }
    struct bucket *b = rl->tab[h];
    while (b && strcmp(b->key, key) != 0) b = b->next;
    if (!b) {
        size_t klen = strlen(key);
        b = malloc(sizeof *b + klen + 1);
        if (!b) goto out; /* fail open: memory pressure must not lock every client out */
        memcpy(b->key, key, klen + 1);
        b->tokens = rl->capacity;
        b->last_s = now_s;
        b->next = rl->tab[h];
        rl->tab[h] = b;
        rl->count++;
    }
    if (now_s > b->last_s) {
        b->tokens = fmin(rl->capacity, b->tokens + (now_s - b->last_s) * rl->rate);
        b->last_s = now_s;
    }
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
    } else {
        allowed = 0;
        double wait = (1.0 - b->tokens) / rl->rate;
        long secs = (long)ceil(wait);
        *retry_after_s = secs < 1 ? 1 : secs;
    }
out:
    pthread_mutex_unlock(&rl->mu);
    return allowed;
}

size_t http_ratelimit_size(struct http_ratelimit *rl)
{
    pthread_mutex_lock(&rl->mu);
    size_t n = rl->count;
    pthread_mutex_unlock(&rl->mu);
    return n;
}
