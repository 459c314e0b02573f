/* err.h: the one error convention of stargap.
 *
 * Fallible functions return int: 0 (SG_OK) on success or a negative code from enum sg_err.
 * They are marked SG_WUR so a caller cannot drop the result. Where a human-readable detail
 * helps (which file, line, field), the function also takes a caller-supplied buffer
 * `char *err, size_t errlen` (may be NULL) filled with sg_errf(). Out-parameters are set even
 * on failure. assert() is for programmer errors only, never for input. */
#ifndef SG_CORE_ERR_H
#define SG_CORE_ERR_H

#include <stddef.h>

#define SG_WUR __attribute__((warn_unused_result))
#define SG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define SG_ERRLEN 512 /* recommended size of a caller-supplied error buffer */

enum sg_err {
    SG_OK = 0,
    SG_EINVAL = -1,      /* invalid argument or input (names the field in err) */
    SG_ENOMEM = -2,      /* allocation failed */
    SG_EIO = -3,         /* file or socket I/O failed */
    SG_ENOTFOUND = -4,   /* the entity does not exist */
    SG_ECONFLICT = -5,   /* duplicate key or conflicting state */
    SG_ETRANSITION = -6, /* invalid status transition */
    SG_EDB = -7,         /* the database reported an error */
    SG_ERANGE = -8,      /* a value is outside its allowed range */
    SG_EPARSE = -9,      /* malformed input (CSV, JSON, FHIR, date ...) */
    SG_ETOOBIG = -10,    /* a bounded buffer or limit was exceeded */
    SG_EUNSUPPORTED = -11, /* valid request the backend or version cannot serve */
    SG_EINTERNAL = -12,  /* a bug or an unexpected state */
    SG_EAUTH = -13,      /* missing or invalid credentials */
    SG_EFORBIDDEN = -14, /* authenticated but not allowed */
    SG_EBUSY = -15,      /* resource temporarily unavailable (pool exhausted, rate limit) */
    SG_ECHANGED = -16,   /* an applied migration's text changed, or a checksum mismatch */
};

/* Returns a static, human-readable name for an sg_err code ("invalid argument", ...).
 * Never returns NULL; unknown codes give "unknown error". */
const char *sg_strerror(int code);

/* Returns a short stable token for an sg_err code ("invalid_input", "not_found", ...), used as
 * the machine-readable error code in API responses. Never returns NULL. */
const char *sg_errcode_name(int code);

/* Formats a message into err (if err is non-NULL and errlen > 0), always NUL-terminated and
 * truncated to fit. Returns `code` so callers can write `return sg_errf(err, n, SG_EINVAL, ...)`. */
int sg_errf(char *err, size_t errlen, int code, const char *fmt, ...) SG_PRINTF(4, 5);

#endif
