/* memberid.h: member identity. Raw member IDs are never stored or logged: the service keeps
 * member_hash = hex(HMAC-SHA-256(key, member_id)) only.
 *
 * A keyed hash is used because a plain SHA-256 of an ID drawn from a small, structured space
 * (an MBI has 11 characters of known shape; plan member numbers are often sequential) can be
 * reversed by hashing every possible ID; without the key that enumeration is impossible. The key
 * comes from the `hash_key` setting (STARGAP_HASH_KEY) or, when that is empty, from the file named
 * by `hash_key_file`, which is generated once (32 random bytes, hex, mode 0600) when missing. */
#ifndef SG_CORE_MEMBERID_H
#define SG_CORE_MEMBERID_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"
#include "core/hash.h"

#define SG_MEMBERID_MAX_KEY 1024 /* longest key in bytes */
#define SG_MEMBERID_MIN_KEY 16   /* shortest accepted key in bytes */
#define SG_MEMBERID_MAX_ID 256   /* longest member ID in bytes */

struct sg_memberid {
    uint8_t key[SG_MEMBERID_MAX_KEY]; /* secret; wiped by sg_memberid_fini */
    size_t keylen;
};

/* Loads the key: cfg->hash_key when non-empty (its bytes are the key), else the content of
 * cfg->hash_key_file with trailing whitespace removed; when that file does not exist it is created
 * (exclusively, mode 0600) with 64 random hex characters, *created (may be NULL) is set to 1 and an
 * info line names the file. Fails with SG_EINVAL (key shorter than 16 bytes, no key source),
 * SG_EIO (file unreadable or not creatable; message names the path) or SG_EINTERNAL. A key file
 * readable by group or others is accepted with a warning. */
int sg_memberid_init(struct sg_memberid *m, const struct sg_config *cfg, int *created, char *err,
                     size_t errlen) SG_WUR;

/* Wipes the key. */
void sg_memberid_fini(struct sg_memberid *m);

/* member_hash of member_id (1..256 bytes, no control characters) into out[65]. Returns SG_OK,
 * SG_EINVAL (bad ID; the message never contains the ID) or SG_EINTERNAL. */
int sg_memberid_hash(const struct sg_memberid *m, const char *member_id, char out[SG_HEX64_LEN],
                     char *err, size_t errlen) SG_WUR;

/* A pre-keyed hasher for bulk hashing (the importer hashes one ID per CSV row): the HMAC key
 * schedule is computed once here instead of on every call, which is most of the cost of
 * sg_memberid_hash. Gives exactly sg_memberid_hash's results and errors. One hasher must be used
 * by one thread at a time. The hasher holds key material: free it with sg_memberid_hasher_free.
 * Returns SG_OK, SG_EINVAL (key not loaded) or SG_EINTERNAL/SG_ENOMEM. */
struct sg_memberid_hasher;
int sg_memberid_hasher_new(const struct sg_memberid *m, struct sg_memberid_hasher **out,
                           char *err, size_t errlen) SG_WUR;
int sg_memberid_hasher_hash(struct sg_memberid_hasher *h, const char *member_id,
                            char out[SG_HEX64_LEN], char *err, size_t errlen) SG_WUR;
void sg_memberid_hasher_free(struct sg_memberid_hasher *h);

#endif
