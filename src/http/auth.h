/* auth.h: API key extraction and a short-lived cache of key lookups.
 *
 * A client presents its key in X-API-Key or as "Authorization: Bearer KEY". Keys are stored only
 * as hex SHA-256; the server hashes the presented key and asks the store (through a lookup hook)
 * for the key's name and role. Successful lookups are cached for HTTP_KEYCACHE_TTL_S seconds so a
 * hot key costs no database round trip per request; a revocation therefore takes effect within
 * that many seconds. Failed lookups are not cached. */
#ifndef SG_HTTP_AUTH_H
#define SG_HTTP_AUTH_H

#include "http/http.h"

#define HTTP_KEYCACHE_TTL_S 2.0
#define HTTP_KEY_MAX 256 /* longest key accepted */

/* Looks a key up by its SHA-256 hex. Fills name (HTTP_KEY_NAME_MAX + 1 bytes) and *role and
 * returns SG_OK; SG_ENOTFOUND for an unknown or revoked key; another sg_err on failure. */
typedef int (*http_key_lookup)(void *ctx, const char *key_hash, char *name, enum http_role *role);

/* Picks the presented key out of the two headers (either may be NULL). Returns SG_OK with *key
 * pointing into a header, SG_EAUTH when no key is presented, SG_EINVAL (message in err) when
 * the Authorization header is not "Bearer KEY" or the key is empty, too long or has characters
 * outside printable ASCII. When both headers are given they must agree. */
int http_auth_extract(const char *x_api_key, const char *authorization, const char **key,
                      size_t *keylen, char *err, size_t errlen) SG_WUR;

struct http_keycache;

/* Creates a cache in front of lookup(ctx, ...). Returns NULL on allocation failure. */
struct http_keycache *http_keycache_new(http_key_lookup lookup, void *ctx);

/* Frees the cache. NULL is a no-op. */
void http_keycache_free(struct http_keycache *kc);

/* Resolves key_hash at time now_s (monotonic seconds) through the cache; same results as the
 * lookup hook. */
int http_keycache_get(struct http_keycache *kc, const char *key_hash, double now_s, char *name,
                      enum http_role *role) SG_WUR;

#endif
