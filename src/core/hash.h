/* hash.h: hashing and randomness (OpenSSL 3): HMAC-SHA-256 for member identity, SHA-256 for API
 * keys and the audit chain, random bytes, UUIDs, and constant-time comparison.
 *
 * Raw member IDs are never stored: member_hash = hex(HMAC-SHA-256(key, member_id)). A keyed
 * hash is used because a plain SHA-256 of an ID drawn from a small space can be reversed by
 * enumerating the space (docs/DATABASE.md). */
#ifndef SG_CORE_HASH_H
#define SG_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define SG_SHA256_LEN 32
#define SG_HEX64_LEN 65 /* 64 hex characters + NUL */
#define SG_UUID_LEN 37  /* 36 characters + NUL */

/* Computes HMAC-SHA-256(key, msg) into out[32]. Returns SG_OK or SG_EINTERNAL. */
int sg_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                   uint8_t out[SG_SHA256_LEN]) SG_WUR;

/* Computes SHA-256(msg) into out[32]. Returns SG_OK or SG_EINTERNAL. */
int sg_sha256(const void *msg, size_t len, uint8_t out[SG_SHA256_LEN]) SG_WUR;

/* Writes the lowercase hex encoding of n bytes into out (2n+1 bytes, NUL-terminated). */
void sg_hex_encode(const uint8_t *in, size_t n, char *out);

/* Decodes 2n hex characters (either case) into out[n]. Returns SG_OK or SG_EPARSE. */
int sg_hex_decode(const char *hex, uint8_t *out, size_t n) SG_WUR;

/* hex(HMAC-SHA-256(key, msg)) into out[65]. Returns SG_OK or SG_EINTERNAL. */
int sg_hmac_sha256_hex(const void *key, size_t keylen, const char *msg,
                       char out[SG_HEX64_LEN]) SG_WUR;

/* hex(SHA-256(msg)) into out[65]. Returns SG_OK or SG_EINTERNAL. */
int sg_sha256_hex(const void *msg, size_t len, char out[SG_HEX64_LEN]) SG_WUR;

/* Fills buf with n cryptographically secure random bytes. Returns SG_OK or SG_EINTERNAL. */
int sg_random_bytes(void *buf, size_t n) SG_WUR;

/* Writes a random (version 4) UUID in canonical lowercase form into out[37]. */
int sg_uuid_v4(char out[SG_UUID_LEN]) SG_WUR;

/* True when s is a canonical UUID (36 characters, hex and dashes, either case). */
int sg_is_uuid(const char *s);

/* True when s is exactly 64 hexadecimal characters (a member hash or key hash). */
int sg_is_hex64(const char *s);

/* Compares n bytes in constant time; returns 1 when equal, 0 otherwise. */
int sg_ct_equal(const void *a, const void *b, size_t n);

#endif
