/* csv.h: a streaming RFC 4180 CSV reader over a FILE*.
 *
 * Reads one record at a time with bounded memory: quoted fields may contain the delimiter,
 * doubled quotes and line breaks; records end at LF, CRLF or a lone CR; a UTF-8 byte order mark at
 * the start is skipped. Text is delivered as UTF-8: input declared (or detected) as Windows-1252 is
 * transcoded, and UTF-8 input is validated. Every record knows the physical line it starts on, so
 * callers can name file, line and column in their error messages. Used for CMS's published data
 * tables and by the importer; no suitable small Debian library does streaming RFC 4180 with
 * transcoding and record caps (libcsv has no encoding handling and no record bound), hence our own.
 *
 * Leniency: a quote inside an unquoted field is kept literally (common in real exports); a
 * character other than the delimiter or a line break right after a closing quote is an error. */
#ifndef SG_CORE_CSV_H
#define SG_CORE_CSV_H

#include <stddef.h>
#include <stdio.h>

#include "core/err.h"

enum sg_csv_encoding {
    SG_CSV_AUTO = 0, /* BOM -> UTF-8; else the first non-ASCII record decides: valid UTF-8 -> UTF-8,
                        otherwise Windows-1252 for the rest of the file */
    SG_CSV_UTF8,     /* UTF-8; invalid sequences are an error */
    SG_CSV_CP1252,   /* Windows-1252, transcoded to UTF-8 */
};

struct sg_csv_opts {
    enum sg_csv_encoding encoding; /* default SG_CSV_AUTO */
    char delim;                    /* field delimiter; 0 means ',' */
    size_t max_record;             /* most bytes in one record (after transcoding); 0 = 1 MiB */
    size_t max_fields;             /* most fields in one record; 0 = 4096 */
};

struct sg_csv; /* opaque reader */

/* Creates a reader over f (borrowed: the caller keeps and closes it). `name` (copied; may be NULL)
 * is used in error messages, typically the file path. opts may be NULL for the defaults.
 * Returns SG_OK and *out, or SG_ENOMEM / SG_EINVAL (bad options) with *out NULL. */
int sg_csv_open(struct sg_csv **out, FILE *f, const char *name, const struct sg_csv_opts *opts,
                char *err, size_t errlen) SG_WUR;

/* Reads the next record. Returns 1 when a record was read, 0 at end of input, or a negative code:
 * SG_EPARSE (unterminated quote, junk after a closing quote, invalid UTF-8), SG_ETOOBIG (record or
 * field count over the cap), SG_EIO (read error), SG_ENOMEM; err then names the file, line and
 * field ("data.csv:12: field 3: ..."). After an error the reader must not be used further. */
int sg_csv_next(struct sg_csv *c, char *err, size_t errlen) SG_WUR;

/* Number of fields in the current record (0 before the first sg_csv_next). */
size_t sg_csv_nfields(const struct sg_csv *c);

/* Field i (0-based) of the current record as a NUL-terminated UTF-8 string, borrowed until the
 * next sg_csv_next; "" when i is out of range. */
const char *sg_csv_field(const struct sg_csv *c, size_t i);

/* Length in bytes of field i ("" -> 0; 0 when out of range). */
size_t sg_csv_field_len(const struct sg_csv *c, size_t i);

/* Physical line (1-based) on which the current record starts. */
long sg_csv_line(const struct sg_csv *c);

/* 1-based number of the current record (header rows count). */
long sg_csv_record(const struct sg_csv *c);

/* The name given to sg_csv_open ("<input>" when none); borrowed. */
const char *sg_csv_name(const struct sg_csv *c);

/* The encoding in effect (SG_CSV_AUTO until decided). */
enum sg_csv_encoding sg_csv_encoding_used(const struct sg_csv *c);

/* Frees the reader (not the FILE). NULL is allowed. */
void sg_csv_free(struct sg_csv *c);

/* Appends the UTF-8 encoding of Windows-1252 bytes s[0..n) to out. Bytes 0x81, 0x8D, 0x8F, 0x90
 * and 0x9D (undefined in Windows-1252) map to the same C1 code points, as WHATWG does.
 * Returns sg_buf_append's errors. */
struct sg_buf;
int sg_cp1252_to_utf8(struct sg_buf *out, const char *s, size_t n) SG_WUR;

/* True when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int sg_utf8_valid(const char *s, size_t n);

#endif
