/* config.c: parsers for the portfolio configuration files shipped under data/portfolio/:
 * interventions.csv, bundles.csv (RFC 4180 CSV with a header row) and economics.conf
 * (`key = value`). They work on a text buffer so that the CLI, the API and the tests can feed
 * them from anywhere; every error names the file, the line and the field.
 *
 * CSV goes through core/csv.h (the project's one CSV reader) over an fmemopen'ed buffer. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/csv.h"
#include "core/fileio.h"
#include "portfolio/portfolio.h"

#define CSV_MAX_FIELDS 8
#define CSV_FIELD_LEN 256

/* Reads CSV records from a text buffer with core/csv.h (through fmemopen), skipping blank
 * records and records whose first field starts with '#'. */
struct csv_reader {
    FILE *f;
    struct sg_csv *csv;
    long line;
};

static int csv_begin(struct csv_reader *r, const char *text, size_t len, const char *name,
                     char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    if (len == 0) return sg_errf(err, errlen, SG_EPARSE, "%s: missing header", name);
    r->f = fmemopen((void *)text, len, "r");
    if (!r->f) return sg_errf(err, errlen, SG_ENOMEM, "%s: cannot open buffer", name);
    struct sg_csv_opts o = {SG_CSV_UTF8, ',', 64 * 1024, CSV_MAX_FIELDS};
    int rc = sg_csv_open(&r->csv, r->f, name, &o, err, errlen);
    if (rc) {
        fclose(r->f);
        r->f = NULL;
    }
    return rc;
}

static void csv_end(struct csv_reader *r)
{
    sg_csv_free(r->csv);
    if (r->f) fclose(r->f);
    memset(r, 0, sizeof *r);
}

/* Copies the next record's fields (each at most CSV_FIELD_LEN - 1 bytes) into fields. Returns the
 * number of fields, 0 at the end, or a negative sg_err with err filled. */
static int csv_next(struct csv_reader *r, char fields[CSV_MAX_FIELDS][CSV_FIELD_LEN],
                    const char *name, char *err, size_t errlen)
{
    for (;;) {
        int rc = sg_csv_next(r->csv, err, errlen);
        if (rc <= 0) return rc;
        size_t nf = sg_csv_nfields(r->csv);
        r->line = sg_csv_line(r->csv);
        const char *f0 = sg_csv_field(r->csv, 0);
        if (f0[0] == '#' || (nf == 1 && f0[0] == '\0')) continue;
        for (size_t i = 0; i < nf; i++) {
            if (sg_csv_field_len(r->csv, i) >= CSV_FIELD_LEN)
                return sg_errf(err, errlen, SG_ETOOBIG, "%s:%ld: field %zu longer than %d bytes",
                               name, r->line, i + 1, CSV_FIELD_LEN - 1);
            memcpy(fields[i], sg_csv_field(r->csv, i), sg_csv_field_len(r->csv, i) + 1);
        }
        return (int)nf;
    }
}

static void trim(char *s)
{
    size_t n = strlen(s), a = 0;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    while (s[a] == ' ' || s[a] == '\t')
        a++;
    if (a) memmove(s, s + a, n - a + 1);
}

static int parse_double(const char *s, double *out)
{
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (e == s || errno || !isfinite(v)) return -1;
    while (*e == ' ' || *e == '\t')
        e++;
    if (*e) return -1;
    *out = v;
    return 0;
}

static int copy_field(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n == 0 || n >= cap) return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

/* Copies src into dst, truncated to cap - 1 bytes (descriptions are informational). */
static void copy_trunc(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int check_header(char f[CSV_MAX_FIELDS][CSV_FIELD_LEN], int nf, const char *const *want,
                        int nwant, const char *name, char *err, size_t errlen)
{
    if (nf != nwant) goto bad;
    for (int i = 0; i < nwant; i++) {
        trim(f[i]);
        if (strcmp(f[i], want[i])) goto bad;
    }
    return SG_OK;
bad:;
    char list[256] = "";
    for (int i = 0; i < nwant; i++) {
        strncat(list, want[i], sizeof list - strlen(list) - 1);
        if (i + 1 < nwant) strncat(list, ",", sizeof list - strlen(list) - 1);
    }
    return sg_errf(err, errlen, SG_EPARSE, "%s:1: header must be '%s'", name, list);
}

/* Opens a CSV table in text: reads the header record and checks it against want[0..nwant).
 * On failure the reader is already closed; the errors are those of csv_begin, csv_next and
 * check_header ("missing header" for an empty table). */
static int csv_table_begin(struct csv_reader *r, const char *text, size_t len, const char *name,
                           const char *const *want, int nwant,
                           char f[CSV_MAX_FIELDS][CSV_FIELD_LEN], char *err, size_t errlen)
{
    int rc = csv_begin(r, text, len, name, err, errlen);
    if (rc) return rc;
    int nf = csv_next(r, f, name, err, errlen);
    if (nf < 0)
        rc = nf;
    else if (nf == 0)
        rc = sg_errf(err, errlen, SG_EPARSE, "%s: missing header", name);
    else
        rc = check_header(f, nf, want, nwant, name, err, errlen);
    if (rc) csv_end(r);
    return rc;
}

/* Reads the next data record into f, requiring exactly nfields fields and at most max rows (n
 * rows read so far). Returns 1 for a record, 0 at the end, or a negative error (reader left
 * open) with file and line in err. */
static int csv_table_row(struct csv_reader *r, char f[CSV_MAX_FIELDS][CSV_FIELD_LEN],
                         const char *name, int nfields, size_t n, int max, char *err,
                         size_t errlen)
{
    int nf = csv_next(r, f, name, err, errlen);
    if (nf <= 0) return nf;
    if (nf != nfields)
        return sg_errf(err, errlen, SG_EPARSE, "%s:%ld: expected %d fields, found %d", name,
                       r->line, nfields, nf);
    if (n >= (size_t)max)
        return sg_errf(err, errlen, SG_ETOOBIG, "%s:%ld: more than %d rows", name, r->line, max);
    return 1;
}

void pf_config_init(struct pf_config *c)
{
    memset(c, 0, sizeof *c);
}

const struct pf_itype *pf_config_itype(const struct pf_config *c, const char *measure)
{
    for (size_t i = 0; i < c->n_itypes; i++)
        if (!strcmp(c->itypes[i].measure, measure)) return &c->itypes[i];
    return NULL;
}

int pf_config_parse_interventions(struct pf_config *c, const char *text, size_t len,
                                  const char *name, char *err, size_t errlen)
{
    static const char *const hdr[] = {"measure", "intervention_type", "cost", "success_rate",
                                      "description"};
    struct csv_reader r;
    char f[CSV_MAX_FIELDS][CSV_FIELD_LEN];
    int rc;
    c->n_itypes = 0;
    if ((rc = csv_table_begin(&r, text, len, name, hdr, 5, f, err, errlen))) return rc;
    size_t n = 0;
    while ((rc = csv_table_row(&r, f, name, 5, n, PF_MAX_ITYPES, err, errlen)) > 0) {
        struct pf_itype *t = &c->itypes[n];
        memset(t, 0, sizeof *t);
        for (int i = 0; i < 4; i++)
            trim(f[i]);
        if (copy_field(t->measure, sizeof t->measure, f[0])) {
            rc = sg_errf(err, errlen, SG_EPARSE, "%s:%ld: field measure: empty or too long", name,
                         r.line);
            goto fail;
        }
        if (copy_field(t->type, sizeof t->type, f[1])) {
            rc = sg_errf(err, errlen, SG_EPARSE,
                         "%s:%ld: field intervention_type: empty or too long", name, r.line);
            goto fail;
        }
        if (parse_double(f[2], &t->cost) || !(t->cost > 0)) {
            rc = sg_errf(err, errlen, SG_ERANGE,
                         "%s:%ld: field cost: '%s' is not a positive number", name, r.line, f[2]);
            goto fail;
        }
        if (parse_double(f[3], &t->success) || t->success < 0 || t->success > 1) {
            rc = sg_errf(err, errlen, SG_ERANGE,
                         "%s:%ld: field success_rate: '%s' is not a number in [0,1]", name, r.line,
                         f[3]);
            goto fail;
        }
        copy_trunc(t->desc, sizeof t->desc, f[4]);
        for (size_t j = 0; j < n; j++)
            if (!strcmp(c->itypes[j].measure, t->measure)) {
                rc = sg_errf(err, errlen, SG_ECONFLICT, "%s:%ld: field measure: '%s' listed twice",
                             name, r.line, t->measure);
                goto fail;
            }
        n++;
    }
    if (rc < 0) goto fail;
    c->n_itypes = n;
    csv_end(&r);
    return SG_OK;
fail:
    csv_end(&r);
    c->n_itypes = 0;
    return rc;
}

int pf_config_parse_bundles(struct pf_config *c, const char *text, size_t len, const char *name,
                            char *err, size_t errlen)
{
    static const char *const hdr[] = {"bundle", "intervention_type", "measures", "shared_cost",
                                      "description"};
    struct csv_reader r;
    char f[CSV_MAX_FIELDS][CSV_FIELD_LEN];
    int rc;
    c->n_rules = 0;
    if ((rc = csv_table_begin(&r, text, len, name, hdr, 5, f, err, errlen))) return rc;
    size_t n = 0;
    while ((rc = csv_table_row(&r, f, name, 5, n, PF_MAX_RULES, err, errlen)) > 0) {
        struct pf_bundle_rule *b = &c->rules[n];
        memset(b, 0, sizeof *b);
        for (int i = 0; i < 4; i++)
            trim(f[i]);
        if (copy_field(b->name, sizeof b->name, f[0]) ||
            copy_field(b->type, sizeof b->type, f[1])) {
            rc = sg_errf(err, errlen, SG_EPARSE,
                         "%s:%ld: field bundle/intervention_type: empty or too long", name, r.line);
            goto fail;
        }
        if (parse_double(f[3], &b->shared_cost) || !(b->shared_cost >= 0)) {
            rc =
                sg_errf(err, errlen, SG_ERANGE,
                        "%s:%ld: field shared_cost: '%s' is not a number >= 0", name, r.line, f[3]);
            goto fail;
        }
        copy_trunc(b->desc, sizeof b->desc, f[4]);
        char *save = NULL;
        for (char *tok = strtok_r(f[2], ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
            trim(tok);
            if (b->n_measures >= PF_BUNDLE_MAX) {
                rc = sg_errf(err, errlen, SG_ETOOBIG, "%s:%ld: field measures: more than %d", name,
                             r.line, PF_BUNDLE_MAX);
                goto fail;
            }
            const struct pf_itype *t = pf_config_itype(c, tok);
            if (!t) {
                rc = sg_errf(err, errlen, SG_EINVAL,
                             "%s:%ld: field measures: '%s' has no intervention type", name, r.line,
                             tok);
                goto fail;
            }
            if (!(b->shared_cost < t->cost)) {
                rc = sg_errf(err, errlen, SG_ERANGE,
                             "%s:%ld: field shared_cost: %g is not below the single cost %g of %s",
                             name, r.line, b->shared_cost, t->cost, tok);
                goto fail;
            }
            for (size_t j = 0; j < b->n_measures; j++)
                if (!strcmp(b->measures[j], tok)) {
                    rc = sg_errf(err, errlen, SG_ECONFLICT,
                                 "%s:%ld: field measures: '%s' listed twice", name, r.line, tok);
                    goto fail;
                }
            snprintf(b->measures[b->n_measures++], PF_CODE_LEN, "%s", tok);
        }
        if (b->n_measures < 2) {
            rc = sg_errf(err, errlen, SG_EINVAL, "%s:%ld: field measures: a bundle needs >= 2",
                         name, r.line);
            goto fail;
        }
        n++;
    }
    if (rc < 0) goto fail;
    c->n_rules = n;
    csv_end(&r);
    return SG_OK;
fail:
    csv_end(&r);
    c->n_rules = 0;
    return rc;
}

/* Reads "MIN PCT" into a table row, requiring ascending MIN. */
static int table_row(const char *v, double *mins, double *pcts, size_t *n, const char *key,
                     const char *name, long line, char *err, size_t errlen)
{
    char a[64], b[64], extra[8];
    if (sscanf(v, "%63s %63s %7s", a, b, extra) != 2)
        return sg_errf(err, errlen, SG_EPARSE, "%s:%ld: field %s: expected 'MIN_RATING PERCENT'",
                       name, line, key);
    double mn, pc;
    if (parse_double(a, &mn) || mn < 0 || mn > 5)
        return sg_errf(err, errlen, SG_ERANGE, "%s:%ld: field %s: rating '%s' outside [0,5]", name,
                       line, key, a);
    if (parse_double(b, &pc) || pc < 0 || pc > 100)
        return sg_errf(err, errlen, SG_ERANGE, "%s:%ld: field %s: percent '%s' outside [0,100]",
                       name, line, key, b);
    if (*n >= PF_MAX_LEVELS)
        return sg_errf(err, errlen, SG_ETOOBIG, "%s:%ld: field %s: more than %d rows", name, line,
                       key, PF_MAX_LEVELS);
    if (*n > 0 && !(mn > mins[*n - 1]))
        return sg_errf(err, errlen, SG_EINVAL, "%s:%ld: field %s: ratings must ascend", name, line,
                       key);
    mins[*n] = mn;
    pcts[*n] = pc;
    (*n)++;
    return SG_OK;
}

int pf_econ_parse(struct pf_econ *e, const char *text, size_t len, const char *name, char *err,
                  size_t errlen)
{
    const char *p = text, *end = text + len;
    long line = 0;
    double bid_ratio = -1;
    int have_bench = 0, rc = SG_OK;
    memset(e, 0, sizeof *e);
    e->risk_score = 1.0;
    e->bid_pmpm = -1;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char buf[256];
        line++;
        if (n >= sizeof buf) {
            rc = sg_errf(err, errlen, SG_ETOOBIG, "%s:%ld: line too long", name, line);
            goto fail;
        }
        memcpy(buf, p, n);
        buf[n] = '\0';
        p += n + (nl ? 1 : 0);
        char *hash = strchr(buf, '#');
        if (hash) *hash = '\0';
        trim(buf);
        size_t bl = strlen(buf);
        if (bl && buf[bl - 1] == '\r') buf[--bl] = '\0';
        if (!bl) continue;
        char *eq = strchr(buf, '=');
        if (!eq) {
            rc = sg_errf(err, errlen, SG_EPARSE, "%s:%ld: expected 'key = value'", name, line);
            goto fail;
        }
        *eq = '\0';
        char *key = buf, *val = eq + 1;
        trim(key);
        trim(val);
        double v;
        if (!strcmp(key, "bonus")) {
            if ((rc = table_row(val, e->bonus_min, e->bonus_pct, &e->n_bonus, key, name, line, err,
                                errlen)))
                goto fail;
            continue;
        }
        if (!strcmp(key, "rebate")) {
            if ((rc = table_row(val, e->rebate_min, e->rebate_pct, &e->n_rebate, key, name, line,
                                err, errlen)))
                goto fail;
            continue;
        }
        if (parse_double(val, &v)) {
            rc = sg_errf(err, errlen, SG_EPARSE, "%s:%ld: field %s: '%s' is not a number", name,
                         line, key, val);
            goto fail;
        }
        if (!strcmp(key, "benchmark_pmpm")) {
            if (!(v > 0)) goto range;
            e->benchmark_pmpm = v;
            have_bench = 1;
        } else if (!strcmp(key, "bid_pmpm")) {
            if (!(v > 0)) goto range;
            e->bid_pmpm = v;
        } else if (!strcmp(key, "bid_ratio")) {
            if (!(v > 0) || v > 2) goto range;
            bid_ratio = v;
        } else if (!strcmp(key, "risk_score")) {
            if (!(v > 0) || v > 10) goto range;
            e->risk_score = v;
        } else if (!strcmp(key, "double_bonus_county")) {
            if (v != 0 && v != 1) goto range;
            e->double_bonus = (int)v;
        } else {
            rc = sg_errf(err, errlen, SG_EINVAL, "%s:%ld: unknown key '%s'", name, line, key);
            goto fail;
        }
        continue;
    range:
        rc = sg_errf(err, errlen, SG_ERANGE, "%s:%ld: field %s: %s is out of range", name, line,
                     key, val);
        goto fail;
    }
    if (!have_bench) {
        rc = sg_errf(err, errlen, SG_EINVAL, "%s: field benchmark_pmpm is missing", name);
        goto fail;
    }
    if (e->bid_pmpm < 0) {
        if (bid_ratio < 0) {
            rc =
                sg_errf(err, errlen, SG_EINVAL, "%s: field bid_pmpm or bid_ratio is missing", name);
            goto fail;
        }
        e->bid_pmpm = bid_ratio * e->benchmark_pmpm;
    }
    if ((rc = pf_econ_check(e, err, errlen))) goto fail;
    return SG_OK;
fail:
    memset(e, 0, sizeof *e);
    return rc;
}

int pf_config_load_dir(struct pf_config *c, const char *dir, char *err, size_t errlen)
{
    static const char *const files[] = {"interventions.csv", "bundles.csv", "economics.conf"};
    pf_config_init(c);
    for (int i = 0; i < 3; i++) {
        char path[1024];
        char *text = NULL;
        size_t len = 0;
        int rc;
        if (snprintf(path, sizeof path, "%s/%s", dir, files[i]) >= (int)sizeof path)
            return sg_errf(err, errlen, SG_ETOOBIG, "%s: path too long", dir);
        if ((rc = sg_read_file(path, 1 << 20, &text, &len, err, errlen))) return rc;
        if (i == 0)
            rc = pf_config_parse_interventions(c, text, len, path, err, errlen);
        else if (i == 1)
            rc = pf_config_parse_bundles(c, text, len, path, err, errlen);
        else
            rc = pf_econ_parse(&c->econ, text, len, path, err, errlen);
        free(text);
        if (rc) {
            pf_config_init(c);
            return rc;
        }
    }
    return SG_OK;
}
