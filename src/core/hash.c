/* hash.c: OpenSSL-backed implementations of hash.h. */
#include "core/hash.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

int sg_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                   uint8_t out[SG_SHA256_LEN])
{
    unsigned int outlen = 0;
    if (keylen > 0x7fffffff) return SG_EINVAL;
    if (!HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out, &outlen) ||
        outlen != SG_SHA256_LEN)
        return SG_EINTERNAL;
    return SG_OK;
}

int sg_sha256(const void *msg, size_t len, uint8_t out[SG_SHA256_LEN])
{
    unsigned int outlen = 0;
    if (!EVP_Digest(msg, len, out, &outlen, EVP_sha256(), NULL) || outlen != SG_SHA256_LEN)
        return SG_EINTERNAL;
    return SG_OK;
}

void sg_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int sg_hex_decode(const char *hex, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(hex[2 * i]);
        int lo = hi < 0 ? -1 : hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return SG_EPARSE;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return SG_OK;
}

int sg_hmac_sha256_hex(const void *key, size_t keylen, const char *msg, char out[SG_HEX64_LEN])
{
    uint8_t mac[SG_SHA256_LEN];
    out[0] = '\0';
    int rc = sg_hmac_sha256(key, keylen, msg, strlen(msg), mac);
    if (rc) return rc;
    sg_hex_encode(mac, sizeof mac, out);
    return SG_OK;
}

int sg_sha256_hex(const void *msg, size_t len, char out[SG_HEX64_LEN])
{
    uint8_t d[SG_SHA256_LEN];
    out[0] = '\0';
    int rc = sg_sha256(msg, len, d);
    if (rc) return rc;
    sg_hex_encode(d, sizeof d, out);
    return SG_OK;
}

int sg_random_bytes(void *buf, size_t n)
{
    if (n > 0x7fffffff) return SG_EINVAL;
    return RAND_bytes(buf, (int)n) == 1 ? SG_OK : SG_EINTERNAL;
}

int sg_uuid_v4(char out[SG_UUID_LEN])
{
    uint8_t b[16];
    out[0] = '\0';
    int rc = sg_random_bytes(b, sizeof b);
    if (rc) return rc;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    char hex[33];
    sg_hex_encode(b, 16, hex);
    memcpy(out, hex, 8);
    out[8] = '-';
    memcpy(out + 9, hex + 8, 4);
    out[13] = '-';
    memcpy(out + 14, hex + 12, 4);
    out[18] = '-';
    memcpy(out + 19, hex + 16, 4);
    out[23] = '-';
    memcpy(out + 24, hex + 20, 12);
    out[36] = '\0';
    return SG_OK;
}

int sg_is_uuid(const char *s)
{
    if (!s || strlen(s) != 36) return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

int sg_is_hex64(const char *s)
{
    if (!s) return 0;
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)s[i])) return 0;
    return s[64] == '\0';
}

int sg_ct_equal(const void *a, const void *b, size_t n) { return CRYPTO_memcmp(a, b, n) == 0; }
