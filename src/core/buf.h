/* buf.h: a growable byte buffer with a hard size cap (after curl's dynbuf).
 *
 * Every growable buffer in stargap has a maximum: request bodies, CSV lines, FHIR resources,
 * SQL results can never grow without bound. The content is always NUL-terminated. */
#ifndef SG_CORE_BUF_H
#define SG_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "core/err.h"

struct sg_buf {
    char *data; /* owned; NULL until the first append; always NUL-terminated when non-NULL */
    size_t len; /* bytes used, excluding the terminating NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* largest allowed len */
};

/* Initializes an empty buffer in caller storage that may grow to `max` bytes. */
void sg_buf_init(struct sg_buf *b, size_t max);

/* Frees the buffer's memory and leaves it empty (re-usable after sg_buf_init). */
void sg_buf_fini(struct sg_buf *b);

/* Empties the buffer, keeping its allocation. */
void sg_buf_reset(struct sg_buf *b);

/* Appends n bytes. Returns SG_OK, SG_ETOOBIG (cap reached; buffer unchanged) or SG_ENOMEM. */
int sg_buf_append(struct sg_buf *b, const void *p, size_t n) SG_WUR;

/* Appends a NUL-terminated string; same errors as sg_buf_append. */
int sg_buf_puts(struct sg_buf *b, const char *s) SG_WUR;

/* Appends formatted text; same errors as sg_buf_append. */
int sg_buf_printf(struct sg_buf *b, const char *fmt, ...) SG_WUR SG_PRINTF(2, 3);

/* va_list form of sg_buf_printf. */
int sg_buf_vprintf(struct sg_buf *b, const char *fmt, va_list ap) SG_WUR;

/* Writes finite x into out (at least 32 bytes) as the shortest of up to 17 significant digits
 * that reads back (strtod) as exactly x, in %g style ("0", "-1.5", "1e-07", "123456789"); NaN
 * and infinities as "nan"/"inf"/"-inf". Returns the length. About 3 times faster than
 * snprintf("%.17g"): the digits come from one scaled integer and are checked by parsing them
 * back, with snprintf as the fallback when the check fails. */
int sg_fmt_double(double x, char out[32]);

/* Appends sg_fmt_double(x); same errors as sg_buf_append. */
int sg_buf_put_double(struct sg_buf *b, double x) SG_WUR;

/* Transfers ownership of the data to the caller (free() it); the buffer becomes empty.
 * Returns "" copied on the heap when nothing was appended; NULL only on allocation failure. */
char *sg_buf_take(struct sg_buf *b);

/* Returns the content as a borrowed string ("" when empty); valid until the next change. */
const char *sg_buf_str(const struct sg_buf *b);

#endif
