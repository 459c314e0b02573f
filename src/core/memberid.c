/* memberid.c: loading (or creating) the member-ID HMAC key and hashing member IDs.
 * See memberid.h for why the hash is keyed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "core/fileio.h"
#include "core/log.h"
#include "core/memberid.h"

static int set_key(struct sg_memberid *m, const char *text, size_t len, const char *source,
                   char *err, size_t errlen)
{
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ' ||
                       text[len - 1] == '\t'))
        len--;
    if (len < SG_MEMBERID_MIN_KEY)
        return sg_errf(err, errlen, SG_EINVAL, "%s: member-ID key shorter than %d bytes", source,
                       SG_MEMBERID_MIN_KEY);
    if (len > SG_MEMBERID_MAX_KEY)
        return sg_errf(err, errlen, SG_EINVAL, "%s: member-ID key longer than %d bytes", source,
                       SG_MEMBERID_MAX_KEY);
    memcpy(m->key, text, len);
    m->keylen = len;
    return SG_OK;
}

/* Creates path exclusively with mode 0600 holding 64 random hex characters. Returns SG_OK,
 * SG_ECONFLICT when the file appeared meanwhile, or SG_EIO/SG_EINTERNAL. */
static int create_key_file(const char *path, char *err, size_t errlen)
{
    uint8_t raw[32];
    char hex[65];
    if (sg_random_bytes(raw, sizeof raw) != SG_OK)
        return sg_errf(err, errlen, SG_EINTERNAL, "random bytes unavailable");
    sg_hex_encode(raw, sizeof raw, hex);
    memset(raw, 0, sizeof raw);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST) return SG_ECONFLICT;
        return sg_errf(err, errlen, SG_EIO, "%s: cannot create key file: %s", path, strerror(errno));
    }
    hex[64] = '\n';
    ssize_t w = write(fd, hex, 65);
    int rc = (w == 65 && fsync(fd) == 0) ? SG_OK
                                         : sg_errf(err, errlen, SG_EIO, "%s: cannot write key file", path);
    if (close(fd) != 0 && rc == SG_OK) rc = sg_errf(err, errlen, SG_EIO, "%s: cannot write key file", path);
    memset(hex, 0, sizeof hex);
    if (rc) unlink(path);
    return rc;
}

int sg_memberid_init(struct sg_memberid *m, const struct sg_config *cfg, int *created, char *err,
                     size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc;
    memset(m, 0, sizeof *m);
    if (created) *created = 0;
    if (cfg->hash_key[0]) return set_key(m, cfg->hash_key, strlen(cfg->hash_key), "hash_key", err, errlen);
    const char *path = cfg->hash_key_file;
    if (!path[0]) return sg_errf(err, errlen, SG_EINVAL, "hash_key_file: no member-ID key configured");
    if (access(path, F_OK) != 0) {
        rc = create_key_file(path, err, errlen);
        if (rc == SG_OK) {
            if (created) *created = 1;
            LOG_INFO("event=hash_key_created path=%s mode=0600 note=\"new member-ID key generated; "
                     "keep it: member hashes depend on it\"", path);
        } else if (rc != SG_ECONFLICT) {
            return rc;
        }
    }
    struct stat sb;
    if (stat(path, &sb) == 0 && (sb.st_mode & 077))
        LOG_WARN("event=hash_key_permissions path=%s note=\"key file is readable by group or others; "
                 "chmod 600 it\"", path);
    if ((rc = sg_read_file(path, 2 * SG_MEMBERID_MAX_KEY, &text, &len, err, errlen))) return rc;
    rc = set_key(m, text, len, path, err, errlen);
    memset(text, 0, len);
    free(text);
    return rc;
}

void sg_memberid_fini(struct sg_memberid *m)
{
    volatile uint8_t *p = m->key;
    for (size_t i = 0; i < sizeof m->key; i++) p[i] = 0;
    m->keylen = 0;
}

/* The checks of a member ID shared by both hash functions; *len gets its length. */
static int check_id(const char *member_id, size_t *len, char *err, size_t errlen)
{
    if (!member_id || !*member_id) return sg_errf(err, errlen, SG_EINVAL, "member_id: required");
    size_t n = strnlen(member_id, SG_MEMBERID_MAX_ID + 1);
    if (n > SG_MEMBERID_MAX_ID)
        return sg_errf(err, errlen, SG_EINVAL, "member_id: longer than %d bytes", SG_MEMBERID_MAX_ID);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)member_id[i] < 0x20 || member_id[i] == 0x7f)
            return sg_errf(err, errlen, SG_EINVAL, "member_id: control character");
    *len = n;
    return SG_OK;
}

int sg_memberid_hash(const struct sg_memberid *m, const char *member_id, char out[SG_HEX64_LEN],
                     char *err, size_t errlen)
{
    out[0] = '\0';
    size_t n;
    int rc = check_id(member_id, &n, err, errlen);
    if (rc) return rc;
    if (m->keylen < SG_MEMBERID_MIN_KEY) return sg_errf(err, errlen, SG_EINVAL, "member-ID key not loaded");
    if (sg_hmac_sha256_hex(m->key, m->keylen, member_id, out) != SG_OK)
        return sg_errf(err, errlen, SG_EINTERNAL, "HMAC-SHA-256 failed");
    return SG_OK;
}

/* OpenSSL's HMAC provider keeps the padded key's two digest states after EVP_MAC_init; a later
 * EVP_MAC_init with a NULL key restarts from them, so a message costs two SHA-256 compressions
 * of its own instead of four plus the algorithm fetch of a one-shot HMAC() call. */
struct sg_memberid_hasher {
    EVP_MAC *mac;
    EVP_MAC_CTX *ctx;
};

void sg_memberid_hasher_free(struct sg_memberid_hasher *h)
{
    if (!h) return;
    EVP_MAC_CTX_free(h->ctx); /* clears the key schedule */
    EVP_MAC_free(h->mac);
    free(h);
}

int sg_memberid_hasher_new(const struct sg_memberid *m, struct sg_memberid_hasher **out,
                           char *err, size_t errlen)
{
    *out = NULL;
    if (m->keylen < SG_MEMBERID_MIN_KEY) return sg_errf(err, errlen, SG_EINVAL, "member-ID key not loaded");
    struct sg_memberid_hasher *h = calloc(1, sizeof *h);
    if (!h) return sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    char digest[] = "SHA256";
    OSSL_PARAM prm[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                        OSSL_PARAM_construct_end()};
    if (!(h->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) || !(h->ctx = EVP_MAC_CTX_new(h->mac)) ||
        !EVP_MAC_init(h->ctx, m->key, m->keylen, prm)) {
        sg_memberid_hasher_free(h);
        return sg_errf(err, errlen, SG_EINTERNAL, "HMAC-SHA-256 unavailable");
    }
    *out = h;
    return SG_OK;
}

int sg_memberid_hasher_hash(struct sg_memberid_hasher *h, const char *member_id,
                            char out[SG_HEX64_LEN], char *err, size_t errlen)
{
    out[0] = '\0';
    size_t n = 0, len = 0; /* n is set by check_id; gcc -O2 cannot see it */
    int rc = check_id(member_id, &n, err, errlen);
    if (rc) return rc;
    uint8_t mac[SG_SHA256_LEN];
    if (!EVP_MAC_init(h->ctx, NULL, 0, NULL) ||
        !EVP_MAC_update(h->ctx, (const unsigned char *)member_id, n) ||
        !EVP_MAC_final(h->ctx, mac, &len, sizeof mac) || len != SG_SHA256_LEN)
        return sg_errf(err, errlen, SG_EINTERNAL, "HMAC-SHA-256 failed");
    sg_hex_encode(mac, sizeof mac, out);
    return SG_OK;
}
