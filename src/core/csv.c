/* csv.c: the streaming CSV reader of csv.h.
 *
 * Bytes are read through a 64 KiB chunk buffer; a record's raw fields are collected in one bounded
 * buffer (each field NUL-terminated, offsets kept in a bounded array), then transcoded or
 * validated field by field into a second bounded buffer that the accessors expose. */
#include "core/csv.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#define CSV_CHUNK 65536
#define CSV_DEFAULT_MAX_RECORD (1u << 20)
#define CSV_DEFAULT_MAX_FIELDS 4096

struct sg_csv {
    FILE *f;
    char *name;
    enum sg_csv_encoding enc;
    char delim;
    size_t max_fields;
    unsigned char chunk[CSV_CHUNK];
    size_t pos, end;   /* read position and fill of chunk */
    int eof;           /* the FILE reported end of input */
    int started;       /* BOM check done */
    long line;         /* current physical line (1-based) */
    long rec_line;     /* line on which the current record starts */
    long nrec;         /* records read */
    struct sg_buf raw; /* raw bytes of the record's fields, each NUL-terminated */
    struct sg_buf out; /* the fields after transcoding/validation */
    size_t *roff;      /* offsets of the raw fields */
    size_t *off;       /* offsets of the output fields */
    size_t *len;       /* lengths of the output fields */
    size_t nf, cap_f;  /* fields in the current record, allocated slots */
};

int sg_csv_open(struct sg_csv **out, FILE *f, const char *name, const struct sg_csv_opts *opts,
                char *err, size_t errlen)
{
    *out = NULL;
    struct sg_csv_opts o = {0};
    if (opts) o = *opts;
    if (!o.delim) o.delim = ',';
    if (!o.max_record) o.max_record = CSV_DEFAULT_MAX_RECORD;
    if (!o.max_fields) o.max_fields = CSV_DEFAULT_MAX_FIELDS;
    if (!f || o.delim == '"' || o.delim == '\r' || o.delim == '\n' || o.encoding > SG_CSV_CP1252)
        return sg_errf(err, errlen, SG_EINVAL, "csv: invalid reader options");
    struct sg_csv *c = calloc(1, sizeof *c);
    if (!c) return sg_errf(err, errlen, SG_ENOMEM, "csv: out of memory");
    c->name = strdup(name ? name : "<input>");
    if (!c->name) {
        free(c);
        return sg_errf(err, errlen, SG_ENOMEM, "csv: out of memory");
    }
    c->f = f;
    c->enc = o.encoding;
    c->delim = o.delim;
    c->max_fields = o.max_fields;
    c->line = 1;
    sg_buf_init(&c->raw, o.max_record);
    sg_buf_init(&c->out, o.max_record);
    *out = c;
    return SG_OK;
}

void sg_csv_free(struct sg_csv *c)
{
    if (!c) return;
    sg_buf_fini(&c->raw);
    sg_buf_fini(&c->out);
    free(c->roff);
    free(c->off);
    free(c->len);
    free(c->name);
    free(c);
}

/* Returns the next byte, or -1 at end of input, or -2 on a read error. */
static int csv_getc(struct sg_csv *c)
{
    if (c->pos < c->end) return c->chunk[c->pos++];
    if (c->eof) return -1;
    c->end = fread(c->chunk, 1, sizeof c->chunk, c->f);
    c->pos = 0;
    if (c->end == 0) {
        c->eof = 1;
        return ferror(c->f) ? -2 : -1;
    }
    return c->chunk[c->pos++];
}

static int csv_peek(struct sg_csv *c)
{
    int ch = csv_getc(c);
    if (ch >= 0) c->pos--;
    return ch;
}

static int csv_new_field(struct sg_csv *c, char *err, size_t errlen)
{
    if (c->nf >= c->max_fields)
        return sg_errf(err, errlen, SG_ETOOBIG, "%s:%ld: more than %zu fields in a record", c->name,
                       c->rec_line, c->max_fields);
    if (c->nf == c->cap_f) {
        size_t n = c->cap_f ? c->cap_f * 2 : 64;
        if (n > c->max_fields) n = c->max_fields;
        size_t *a = realloc(c->roff, n * sizeof *a);
        if (!a) return sg_errf(err, errlen, SG_ENOMEM, "csv: out of memory");
        c->roff = a;
        a = realloc(c->off, n * sizeof *a);
        if (!a) return sg_errf(err, errlen, SG_ENOMEM, "csv: out of memory");
        c->off = a;
        a = realloc(c->len, n * sizeof *a);
        if (!a) return sg_errf(err, errlen, SG_ENOMEM, "csv: out of memory");
        c->len = a;
        c->cap_f = n;
    }
    c->roff[c->nf++] = c->raw.len;
    return SG_OK;
}

static int csv_put(struct sg_csv *c, const void *p, size_t n, char *err, size_t errlen)
{
    int rc = sg_buf_append(&c->raw, p, n);
    if (rc == SG_ETOOBIG)
        return sg_errf(err, errlen, rc, "%s:%ld: record longer than %zu bytes", c->name,
                       c->rec_line, c->raw.max);
    if (rc) return sg_errf(err, errlen, rc, "csv: out of memory");
    return SG_OK;
}

int sg_cp1252_to_utf8(struct sg_buf *out, const char *s, size_t n)
{
    /* Code points of 0x80..0x9F; the five undefined bytes map to the C1 controls. */
    static const uint16_t hi[32] = {0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
                                    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
                                    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j < n && (unsigned char)s[j] < 0x80) j++; /* ASCII runs are copied as they are */
        if (j > i) {
            int rc = sg_buf_append(out, s + i, j - i);
            if (rc) return rc;
            if (j == n) break;
            i = j;
        }
        unsigned char b = (unsigned char)s[i];
        unsigned cp = b < 0x80 ? b : (b < 0xA0 ? hi[b - 0x80] : b);
        char u[3];
        size_t k;
        if (cp < 0x80) {
            u[0] = (char)cp;
            k = 1;
        } else if (cp < 0x800) {
            u[0] = (char)(0xC0 | (cp >> 6));
            u[1] = (char)(0x80 | (cp & 0x3F));
            k = 2;
        } else {
            u[0] = (char)(0xE0 | (cp >> 12));
            u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
            u[2] = (char)(0x80 | (cp & 0x3F));
            k = 3;
        }
        int rc = sg_buf_append(out, u, k);
        if (rc) return rc;
    }
    return SG_OK;
}

int sg_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char b = p[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t k;
        unsigned cp, min;
        if ((b & 0xE0) == 0xC0) {
            k = 1, cp = b & 0x1Fu, min = 0x80;
        } else if ((b & 0xF0) == 0xE0) {
            k = 2, cp = b & 0x0Fu, min = 0x800;
        } else if ((b & 0xF8) == 0xF0) {
            k = 3, cp = b & 0x07u, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i <= k) return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (p[i + j] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += k + 1;
    }
    return 1;
}

static int has_high(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return 1;
    return 0;
}

/* Converts the raw fields into c->out according to the encoding. */
static int csv_finish(struct sg_csv *c, char *err, size_t errlen)
{
    sg_buf_reset(&c->out);
    if (c->enc == SG_CSV_AUTO) {
        int high = 0, valid = 1;
        for (size_t i = 0; i < c->nf; i++) {
            const char *s = c->raw.data + c->roff[i];
            size_t n = (i + 1 < c->nf ? c->roff[i + 1] - 1 : c->raw.len - 1) - c->roff[i];
            if (has_high(s, n)) {
                high = 1;
                if (!sg_utf8_valid(s, n)) valid = 0;
            }
        }
        if (high) c->enc = valid ? SG_CSV_UTF8 : SG_CSV_CP1252;
    }
    for (size_t i = 0; i < c->nf; i++) {
        const char *s = c->raw.data + c->roff[i];
        size_t n = (i + 1 < c->nf ? c->roff[i + 1] - 1 : c->raw.len - 1) - c->roff[i];
        c->off[i] = c->out.len;
        int rc;
        if (c->enc == SG_CSV_CP1252) {
            rc = sg_cp1252_to_utf8(&c->out, s, n);
        } else {
            if (c->enc == SG_CSV_UTF8 && !sg_utf8_valid(s, n))
                return sg_errf(err, errlen, SG_EPARSE, "%s:%ld: field %zu: invalid UTF-8", c->name,
                               c->rec_line, i + 1);
            rc = sg_buf_append(&c->out, s, n);
        }
        if (!rc) rc = sg_buf_append(&c->out, "", 1);
        if (rc == SG_ETOOBIG)
            return sg_errf(err, errlen, rc, "%s:%ld: record longer than %zu bytes", c->name,
                           c->rec_line, c->out.max);
        if (rc) return sg_errf(err, errlen, rc, "csv: out of memory");
        c->len[i] = c->out.len - 1 - c->off[i];
    }
    return SG_OK;
}

int sg_csv_next(struct sg_csv *c, char *err, size_t errlen)
{
    int rc;
    const int dl = (unsigned char)c->delim; /* bytes come back as 0..255 */
    c->nf = 0;
    sg_buf_reset(&c->raw);
    if (!c->started) {
        c->started = 1;
        if (c->end - c->pos < 3 && !c->eof) { /* fill so the BOM can be seen */
            int ch = csv_peek(c);
            (void)ch;
        }
        if (c->end - c->pos >= 3 && c->chunk[c->pos] == 0xEF && c->chunk[c->pos + 1] == 0xBB &&
            c->chunk[c->pos + 2] == 0xBF) {
            c->pos += 3;
            if (c->enc == SG_CSV_AUTO) c->enc = SG_CSV_UTF8;
        }
    }
    int ch = csv_getc(c);
    if (ch == -2)
        return sg_errf(err, errlen, SG_EIO, "%s: read error: %s", c->name, strerror(errno));
    if (ch == -1) return 0;
    c->rec_line = c->line;
    c->nrec++;
    if ((rc = csv_new_field(c, err, errlen))) return rc;
    for (;;) {
        /* at the start of a field; ch is its first byte (or -1) */
        if (ch == '"') {
            long qline = c->line;
            for (;;) {
                ch = csv_getc(c);
                if (ch == -2)
                    return sg_errf(err, errlen, SG_EIO, "%s: read error: %s", c->name,
                                   strerror(errno));
                if (ch == -1)
                    return sg_errf(
                        err, errlen, SG_EPARSE,
                        "%s:%ld: field %zu: quoted field never closed (opened on line %ld)",
                        c->name, c->rec_line, c->nf, qline);
                if (ch == '"') {
                    if (csv_peek(c) == '"') {
                        (void)csv_getc(c);
                    } else {
                        ch = csv_getc(c);
                        break;
                    }
                }
                if (ch != '"' && ch != '\n' && ch != '\r') {
                    /* fast path: copy the run of ordinary bytes in the chunk at once */
                    size_t s0 = c->pos - 1, e = c->pos;
                    while (e < c->end && c->chunk[e] != '"' && c->chunk[e] != '\n' &&
                           c->chunk[e] != '\r')
                        e++;
                    if ((rc = csv_put(c, c->chunk + s0, e - s0, err, errlen))) return rc;
                    c->pos = e;
                    continue;
                }
                if (ch == '\n') c->line++;
                if (ch == '\r' && csv_peek(c) != '\n') c->line++;
                char b = (char)ch;
                if ((rc = csv_put(c, &b, 1, err, errlen))) return rc;
            }
            if (ch != -1 && ch != dl && ch != '\n' && ch != '\r')
                return sg_errf(err, errlen, SG_EPARSE,
                               "%s:%ld: field %zu: unexpected character '%c' after closing quote",
                               c->name, c->line, c->nf, (ch >= 32 && ch < 127) ? ch : '?');
        } else {
            while (ch >= 0 && ch != dl && ch != '\n' && ch != '\r') {
                /* ch is chunk[pos-1]: copy it with the rest of the run in the chunk */
                size_t s0 = c->pos - 1, e = c->pos;
                while (e < c->end && c->chunk[e] != dl && c->chunk[e] != '\n' &&
                       c->chunk[e] != '\r')
                    e++;
                if ((rc = csv_put(c, c->chunk + s0, e - s0, err, errlen))) return rc;
                c->pos = e;
                ch = csv_getc(c);
            }
            if (ch == -2)
                return sg_errf(err, errlen, SG_EIO, "%s: read error: %s", c->name, strerror(errno));
        }
        if ((rc = csv_put(c, "", 1, err, errlen))) return rc;
        if (ch == dl) {
            if ((rc = csv_new_field(c, err, errlen))) return rc;
            ch = csv_getc(c);
            continue;
        }
        if (ch == '\r' && csv_peek(c) == '\n') (void)csv_getc(c);
        if (ch == '\r' || ch == '\n') c->line++;
        break;
    }
    rc = csv_finish(c, err, errlen);
    return rc ? rc : 1;
}

size_t sg_csv_nfields(const struct sg_csv *c)
{
    return c->nf;
}

const char *sg_csv_field(const struct sg_csv *c, size_t i)
{
    return i < c->nf ? c->out.data + c->off[i] : "";
}

size_t sg_csv_field_len(const struct sg_csv *c, size_t i)
{
    return i < c->nf ? c->len[i] : 0;
}

long sg_csv_line(const struct sg_csv *c)
{
    return c->rec_line;
}

long sg_csv_record(const struct sg_csv *c)
{
    return c->nrec;
}

const char *sg_csv_name(const struct sg_csv *c)
{
    return c->name;
}

enum sg_csv_encoding sg_csv_encoding_used(const struct sg_csv *c)
{
    return c->enc;
}
