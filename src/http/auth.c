/* auth.c: key extraction and the key lookup cache (see auth.h). The cache is a small open
 * table of the most recently used keys, replaced round-robin; deployments have tens of keys. */
#include "http/auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CACHE_SLOTS 64

struct slot {
    char hash[SG_HEX64_LEN];
    char name[HTTP_KEY_NAME_MAX + 1];
    enum http_role role;
    double expires_s;
};

struct http_keycache {
    pthread_rwlock_t mu;
    http_key_lookup lookup;
    void *ctx;
    size_t next; /* next slot to replace */
    struct slot slots[CACHE_SLOTS];
};

static int key_chars_ok(const char *k, size_t n)
{
    if (n == 0 || n > HTTP_KEY_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (k[i] <= 0x20 || k[i] >= 0x7f) return 0;
    return 1;
}

int http_auth_extract(const char *x_api_key, const char *authorization, const char **key,
                      size_t *keylen, char *err, size_t errlen)
{
    const char *bearer = NULL;
    size_t blen = 0;
    *key = NULL;
    *keylen = 0;
    if (authorization) {
        if (strncasecmp(authorization, "Bearer ", 7) != 0)
            return sg_errf(err, errlen, SG_EINVAL, "Authorization header must be 'Bearer <key>'");
        bearer = authorization + 7;
        while (*bearer == ' ') bearer++;
        blen = strlen(bearer);
        while (blen && bearer[blen - 1] == ' ') blen--;
        if (!key_chars_ok(bearer, blen))
            return sg_errf(err, errlen, SG_EINVAL, "the bearer key is empty, too long or malformed");
    }
    if (x_api_key) {
        size_t n = strlen(x_api_key);
        if (!key_chars_ok(x_api_key, n))
            return sg_errf(err, errlen, SG_EINVAL, "X-API-Key is empty, too long or malformed");
        if (bearer && (n != blen || memcmp(bearer, x_api_key, n) != 0))
            return sg_errf(err, errlen, SG_EINVAL, "X-API-Key and Authorization name different keys");
        *key = x_api_key;
        *keylen = n;
        return SG_OK;
    }
    if (bearer) {
        *key = bearer;
        *keylen = blen;
        return SG_OK;
    }
    return sg_errf(err, errlen, SG_EAUTH, "an API key is required (X-API-Key or Authorization: Bearer)");
}

struct http_keycache *http_keycache_new(http_key_lookup lookup, void *ctx)
{
    struct http_keycache *kc = calloc(1, sizeof *kc);
    if (!kc) return NULL;
    pthread_rwlock_init(&kc->mu, NULL);
    kc->lookup = lookup;
    kc->ctx = ctx;
    return kc;
}

void http_keycache_free(struct http_keycache *kc)
{
    if (!kc) return;
    pthread_rwlock_destroy(&kc->mu);
    free(kc);
}

int http_keycache_get(struct http_keycache *kc, const char *key_hash, double now_s, char *name,
                      enum http_role *role)
{
    pthread_rwlock_rdlock(&kc->mu);
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        const struct slot *s = &kc->slots[i];
        if (s->expires_s > now_s && !strcmp(s->hash, key_hash)) {
            memcpy(name, s->name, sizeof s->name);
            *role = s->role;
            pthread_rwlock_unlock(&kc->mu);
            return SG_OK;
        }
    }
    pthread_rwlock_unlock(&kc->mu);

    int rc = kc->lookup(kc->ctx, key_hash, name, role);
    if (rc != SG_OK) return rc;
    pthread_rwlock_wrlock(&kc->mu);
    size_t victim = kc->next;
    for (size_t i = 0; i < CACHE_SLOTS; i++) { /* refresh the key's own slot if present */
        if (!strcmp(kc->slots[i].hash, key_hash)) {
            victim = i;
            break;
        }
    }
    if (victim == kc->next) kc->next = (kc->next + 1) % CACHE_SLOTS;
    struct slot *s = &kc->slots[victim];
    http_copy(s->hash, sizeof s->hash, key_hash);
    http_copy(s->name, sizeof s->name, name);
    s->role = *role;
    s->expires_s = now_s + HTTP_KEYCACHE_TTL_S;
    pthread_rwlock_unlock(&kc->mu);
    return SG_OK;
}
