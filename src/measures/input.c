/* input.c: streaming patient input for the CLI and batch jobs (see meas_input_* in measures.h).
 *
 * Sources are expanded at open: a file (".ndjson"/".jsonl": one Bundle per line; anything else:
 * one Bundle), a directory of such files (sorted by name, not recursive), or a Bulk FHIR export
 * directory (it holds Patient.ndjson or Patient.000.ndjson ...). Bundles and NDJSON lines are
 * read one at a time: memory is bounded by the largest patient (one line / one file).
 *
 * A Bulk export is grouped by patient with an offset index: one pass over each resource file
 * (of the types the measures read) records, per patient reference, the byte offset and length of
 * each line, found by a light scan for the subject/patient reference without parsing the JSON.
 * Then the Patient files drive: for each Patient the indexed lines are read back and parsed.
 * Real exports (Synthea, servers) interleave patients within a file, so a streaming join on
 * sorted files would be wrong for them; the index costs 24 bytes per resource line plus the
 * patient ids, while resource contents are held for one patient at a time. Resources whose
 * Patient is missing are reported as rejects at the end. */
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fileio.h"
#include "measures/engine_int.h"
#include "measures/measures.h"

enum src_kind { SRC_JSON, SRC_NDJSON, SRC_BULK };

struct src {
    enum src_kind kind;
    char *path;
};

/* Offset index of a Bulk export's resource files: patient id -> its resource lines. */
struct bulk_rec {
    int64_t off;   /* byte offset of the line */
    uint32_t len;  /* line length */
    uint32_t file; /* index in rfiles */
    int32_t next;  /* next record of the same patient, -1 at the end */
};

struct bulk_key {
    char *pid; /* owned; NULL = empty slot */
    int32_t head, tail;
    int done; /* its Patient was read */
};

struct bulk {
    char **pfiles;
    size_t npf, pcur; /* Patient*.ndjson parts, in name order */
    FILE *pf;
    long plineno;
    char **rfiles;
    FILE **rf;
    size_t nrf;
    struct bulk_rec *recs;
    size_t nrec, caprec;
    struct bulk_key *keys;
    size_t capkey, nkey;
    size_t leftover; /* scan position over keys at the end */
    char *buf;
    size_t bufcap; /* one resource line */
};

struct meas_input {
    struct src *srcs;
    size_t nsrc, cur;
    /* current NDJSON file */
    FILE *f;
    char *line;
    size_t linecap;
    long lineno;
    /* current Bulk export */
    struct bulk *bk;
    char where[4200];
};

static void efill(struct meas_error *e, int code, int line, const char *where, const char *fmt, ...)
    SG_PRINTF(5, 6);
static void efill(struct meas_error *e, int code, int line, const char *where, const char *fmt, ...)
{
    if (!e) return;
    memset(e, 0, sizeof *e);
    e->code = code;
    e->line = line;
    snprintf(e->where, sizeof e->where, "%s", where ? where : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static int add_src(struct meas_input *in, enum src_kind k, const char *path)
{
    struct src *ns = realloc(in->srcs, (in->nsrc + 1) * sizeof *ns);
    if (!ns) return SG_ENOMEM;
    in->srcs = ns;
    ns[in->nsrc].kind = k;
    ns[in->nsrc].path = strdup(path);
    if (!ns[in->nsrc].path) return SG_ENOMEM;
    in->nsrc++;
    return SG_OK;
}

static int file_kind(const char *name)
{
    return ends_with(name, ".ndjson") || ends_with(name, ".jsonl") ? SRC_NDJSON : SRC_JSON;
}

static int sel_data(const struct dirent *d)
{
    return d->d_name[0] != '.' &&
           (ends_with(d->d_name, ".json") || ends_with(d->d_name, ".ndjson") ||
            ends_with(d->d_name, ".jsonl"));
}

static int sel_patient(const struct dirent *d)
{
    return !strncmp(d->d_name, "Patient", 7) &&
           (d->d_name[7] == '.' || d->d_name[7] == '_' || d->d_name[7] == '-') &&
           ends_with(d->d_name, ".ndjson");
}

/* A directory holding Patient.ndjson (or Patient.000.ndjson ...) is a Bulk export. */
static int has_patient_ndjson(const char *dir)
{
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, sel_patient, NULL);
    for (int i = 0; i < n; i++)
        free(ents[i]);
    free(ents);
    return n > 0;
}

int meas_input_open(char *const *paths, size_t n, struct meas_input **out, char *err, size_t errlen)
{
    *out = NULL;
    struct meas_input *in = calloc(1, sizeof *in);
    if (!in) return SG_ENOMEM;
    int rc = SG_OK;
    for (size_t i = 0; i < n && rc == SG_OK; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            rc = sg_errf(err, errlen, SG_EIO, "cannot read input %s", paths[i]);
            break;
        }
        if (!S_ISDIR(st.st_mode)) {
            rc = add_src(in, (enum src_kind)file_kind(paths[i]), paths[i]);
            continue;
        }
        char pp[4200];
        if (has_patient_ndjson(paths[i])) {
            rc = add_src(in, SRC_BULK, paths[i]);
            continue;
        }
        struct dirent **ents = NULL;
        int ne = scandir(paths[i], &ents, sel_data, alphasort);
        if (ne < 0) {
            rc = sg_errf(err, errlen, SG_EIO, "cannot read directory %s", paths[i]);
            break;
        }
        for (int k = 0; k < ne; k++) {
            if (rc == SG_OK) {
                snprintf(pp, sizeof pp, "%s/%s", paths[i], ents[k]->d_name);
                rc = add_src(in, (enum src_kind)file_kind(ents[k]->d_name), pp);
            }
            free(ents[k]);
        }
        free(ents);
    }
    if (rc != SG_OK) {
        meas_input_close(in);
        return rc;
    }
    *out = in;
    return SG_OK;
}

static void bulk_close(struct meas_input *in)
{
    struct bulk *bk = in->bk;
    if (!bk) return;
    for (size_t i = 0; i < bk->npf; i++)
        free(bk->pfiles[i]);
    free(bk->pfiles);
    if (bk->pf) fclose(bk->pf);
    for (size_t i = 0; i < bk->nrf; i++) {
        free(bk->rfiles[i]);
        if (bk->rf[i]) fclose(bk->rf[i]);
    }
    free(bk->rfiles);
    free(bk->rf);
    free(bk->recs);
    for (size_t i = 0; i < bk->capkey; i++)
        free(bk->keys[i].pid);
    free(bk->keys);
    free(bk->buf);
    free(bk);
    in->bk = NULL;
}

void meas_input_close(struct meas_input *in)
{
    if (!in) return;
    if (in->f) fclose(in->f);
    free(in->line);
    bulk_close(in);
    for (size_t i = 0; i < in->nsrc; i++)
        free(in->srcs[i].path);
    free(in->srcs);
    free(in);
}

/* Reads one line without its newline into *buf, growing it to at most max + 2 bytes (getline
 * has no cap). Returns 1 (a line, *len bytes), 0 (EOF), SG_ETOOBIG (the line is longer than max;
 * the rest of it is skipped so the next call reads the next line), SG_EIO or SG_ENOMEM. */
static int read_capped(FILE *f, char **buf, size_t *cap, size_t *len, size_t max)
{
    size_t n = 0;
    int any = 0;
    for (;;) {
        if (*cap - n < 2 || !*buf) {
            if (*cap >= max + 2) {
                int c;
                while ((c = getc(f)) != EOF && c != '\n') {
                }
                return SG_ETOOBIG;
            }
            size_t nc = *cap ? *cap * 2 : 65536;
            if (nc > max + 2) nc = max + 2;
            char *nb = realloc(*buf, nc);
            if (!nb) return SG_ENOMEM;
            *buf = nb;
            *cap = nc;
        }
        if (!fgets(*buf + n, (int)(*cap - n), f)) {
            if (ferror(f)) return SG_EIO;
            break;
        }
        any = 1;
        n += strlen(*buf + n);
        if (n && (*buf)[n - 1] == '\n') {
            n--;
            break;
        }
    }
    if (!any) return 0;
    (*buf)[n] = '\0';
    *len = n;
    return 1;
}

/* Reads the next non-blank line. 1 line, 0 EOF, SG_ETOOBIG (that line skipped) / SG_EIO. */
static int next_line(FILE *f, char **line, size_t *cap, long *lineno, size_t *len)
{
    for (;;) {
        size_t n;
        int r = read_capped(f, line, cap, &n, MEAS_MAX_RECORD);
        if (r == 0) return 0;
        (*lineno)++;
        if (r < 0) return r;
        while (n > 0 && ((*line)[n - 1] == '\r' || (*line)[n - 1] == ' '))
            n--;
        (*line)[n] = '\0';
        if (n > 0) {
            *len = n;
            return 1;
        }
    }
}

/* The patient id of a resource line without parsing it: the "reference" string that follows
 * the first "subject", "patient" or "beneficiary" key (last path segment). Returns 0 or -1. */
static int scan_pid(const char *line, char *out, size_t outlen)
{
    static const char *const keys[] = {"\"subject\"", "\"patient\"", "\"beneficiary\""};
    for (size_t k = 0; k < 3; k++) {
        const char *p = strstr(line, keys[k]);
        if (!p) continue;
        const char *r = strstr(p, "\"reference\"");
        const char *close = strchr(p, '}');
        if (!r || (close && close < r)) continue;
        r += strlen("\"reference\"");
        while (*r == ' ' || *r == '\t' || *r == ':')
            r++;
        if (*r != '"') continue;
        const char *e = strchr(++r, '"');
        if (!e) continue;
        const char *seg = r;
        for (const char *q = r; q < e; q++)
            if (*q == '/') seg = q + 1;
        size_t n = (size_t)(e - seg);
        if (n == 0 || n >= outlen) continue;
        memcpy(out, seg, n);
        out[n] = '\0';
        return 0;
    }
    return -1;
}

static uint64_t str_hash(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* Finds (or with create, adds) the key of pid. NULL when absent or on ENOMEM. */
static struct bulk_key *key_get(struct bulk *bk, const char *pid, int create)
{
    if (create && (bk->nkey + 1) * 2 > bk->capkey) {
        size_t nc = bk->capkey ? bk->capkey * 2 : 1024;
        struct bulk_key *nk = calloc(nc, sizeof *nk);
        if (!nk) return NULL;
        for (size_t i = 0; i < bk->capkey; i++) {
            if (!bk->keys[i].pid) continue;
            size_t j = str_hash(bk->keys[i].pid) & (nc - 1);
            while (nk[j].pid)
                j = (j + 1) & (nc - 1);
            nk[j] = bk->keys[i];
        }
        free(bk->keys);
        bk->keys = nk;
        bk->capkey = nc;
    }
    if (!bk->capkey) return NULL;
    for (size_t j = str_hash(pid) & (bk->capkey - 1);; j = (j + 1) & (bk->capkey - 1)) {
        struct bulk_key *k = &bk->keys[j];
        if (!k->pid) {
            if (!create) return NULL;
            k->pid = strdup(pid);
            if (!k->pid) return NULL;
            k->head = k->tail = -1;
            bk->nkey++;
            return k;
        }
        if (!strcmp(k->pid, pid)) return k;
    }
}

static int sel_ndjson(const struct dirent *d)
{
    return d->d_name[0] != '.' && ends_with(d->d_name, ".ndjson");
}

/* "Type.ndjson", "Type.000.ndjson", "Type_1.ndjson", "Type-1.ndjson" */
static int type_file(const char *name, const char *type)
{
    size_t n = strlen(type);
    return !strncmp(name, type, n) && (name[n] == '.' || name[n] == '_' || name[n] == '-');
}

static int push_name(char ***arr, size_t *n, const char *dir, const char *name)
{
    char **na = realloc(*arr, (*n + 1) * sizeof *na);
    if (!na) return SG_ENOMEM;
    *arr = na;
    size_t l = strlen(dir) + strlen(name) + 2;
    if (!(na[*n] = malloc(l))) return SG_ENOMEM;
    snprintf(na[*n], l, "%s/%s", dir, name);
    (*n)++;
    return SG_OK;
}

static int grow_recs(struct bulk *bk)
{
    size_t nc = bk->caprec ? bk->caprec * 2 : 4096;
    struct bulk_rec *nr = realloc(bk->recs, nc * sizeof *nr);
    if (!nr) return SG_ENOMEM;
    bk->recs = nr;
    bk->caprec = nc;
    return SG_OK;
}

/* Opens a Bulk export: lists its files and indexes every resource line by patient. */
static int bulk_open(struct meas_input *in, const char *dir, struct meas_error *e)
{
    static const char *const types[] = {
        "Encounter",      "Condition",     "Observation",       "Procedure",
        "ServiceRequest", "DeviceRequest", "MedicationRequest", NULL};
    struct dirent **ents = NULL;
    int ne = scandir(dir, &ents, sel_ndjson, alphasort);
    if (ne < 0) {
        efill(e, SG_EIO, 0, dir, "cannot read Bulk export directory");
        return SG_EIO;
    }
    struct bulk *bk = calloc(1, sizeof *bk);
    int rc = bk ? SG_OK : SG_ENOMEM;
    in->bk = bk;
    for (int k = 0; k < ne; k++) {
        const char *nm = ents[k]->d_name;
        if (rc == SG_OK && type_file(nm, "Patient"))
            rc = push_name(&bk->pfiles, &bk->npf, dir, nm);
        else
            for (int t = 0; types[t] && rc == SG_OK; t++)
                if (type_file(nm, types[t])) rc = push_name(&bk->rfiles, &bk->nrf, dir, nm);
        free(ents[k]);
    }
    free(ents);
    if (rc != SG_OK) return rc;
    if (!bk->npf) {
        efill(e, SG_EIO, 0, dir, "Bulk export has no Patient ndjson file");
        return SG_EIO;
    }
    bk->rf = calloc(bk->nrf + 1, sizeof *bk->rf);
    if (!bk->rf) return SG_ENOMEM;
    char *line = NULL;
    size_t cap = 0;
    char pid[256];
    for (size_t i = 0; i < bk->nrf && rc == SG_OK; i++) {
        if (!(bk->rf[i] = fopen(bk->rfiles[i], "r"))) {
            efill(e, SG_EIO, 0, bk->rfiles[i], "cannot open");
            rc = SG_EIO;
            break;
        }
        long lineno = 0;
        for (;;) {
            off_t off = ftello(bk->rf[i]);
            size_t n;
            int got = read_capped(bk->rf[i], &line, &cap, &n, MEAS_MAX_RECORD);
            if (got == 0) break;
            lineno++;
            if (got < 0) {
                efill(e, got, (int)lineno, bk->rfiles[i], "%s",
                      got == SG_ETOOBIG ? "line too long" : "read error");
                rc = got;
                break;
            }
            while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' '))
                line[--n] = '\0';
            if (n == 0) continue;
            /* lines without a patient reference are indexed under "" and reported at the end */
            if (scan_pid(line, pid, sizeof pid) != 0) pid[0] = '\0';
            struct bulk_key *key = key_get(bk, pid, 1);
            if (!key || (bk->nrec == bk->caprec && grow_recs(bk) != SG_OK)) {
                rc = SG_ENOMEM;
                break;
            }
            struct bulk_rec *r = &bk->recs[bk->nrec];
            r->off = (int64_t)off;
            r->len = (uint32_t)n;
            r->file = (uint32_t)i;
            r->next = -1;
            if (key->tail >= 0)
                bk->recs[key->tail].next = (int32_t)bk->nrec;
            else
                key->head = (int32_t)bk->nrec;
            key->tail = (int32_t)bk->nrec;
            bk->nrec++;
        }
    }
    free(line);
    return rc;
}

/* Reads record r into bk->buf (NUL-terminated). */
static int read_rec(struct bulk *bk, const struct bulk_rec *r)
{
    if (r->len + 1 > bk->bufcap) {
        char *nb = realloc(bk->buf, r->len + 1);
        if (!nb) return SG_ENOMEM;
        bk->buf = nb;
        bk->bufcap = r->len + 1;
    }
    FILE *f = bk->rf[r->file];
    if (fseeko(f, (off_t)r->off, SEEK_SET) != 0 || fread(bk->buf, 1, r->len, f) != r->len)
        return SG_EIO;
    bk->buf[r->len] = '\0';
    return SG_OK;
}

/* Line number of a record (for messages): counted on demand, only on the error path. */
static long rec_line(struct bulk *bk, const struct bulk_rec *r)
{
    FILE *f = bk->rf[r->file];
    if (fseeko(f, 0, SEEK_SET) != 0) return 0;
    long line = 1;
    for (int64_t i = 0; i < r->off; i++) {
        int c = fgetc(f);
        if (c == EOF) break;
        if (c == '\n') line++;
    }
    return line;
}

/* One patient of a Bulk export: 1, 0 (done), or an error for a rejected record. */
static int bulk_next(struct meas_input *in, const struct meas_engine *eng, struct meas_patient *p,
                     const char **file, long *line, struct meas_error *e)
{
    struct bulk *bk = in->bk;
    size_t len;
    for (;;) {
        if (!bk->pf) {
            if (bk->pcur >= bk->npf) break;
            bk->pf = fopen(bk->pfiles[bk->pcur], "r");
            bk->plineno = 0;
            if (!bk->pf) {
                efill(e, SG_EIO, 0, NULL, "cannot open");
                *file = bk->pfiles[bk->pcur++];
                return SG_EIO;
            }
        }
        *file = bk->pfiles[bk->pcur];
        int r = next_line(bk->pf, &in->line, &in->linecap, &bk->plineno, &len);
        *line = bk->plineno;
        if (r == 0) {
            fclose(bk->pf);
            bk->pf = NULL;
            bk->pcur++;
            continue;
        }
        if (r < 0) {
            efill(e, r, (int)bk->plineno, NULL, "%s",
                  r == SG_ETOOBIG ? "line too long" : "read error");
            return r;
        }
        meas_patient_reset(p);
        if (e) memset(e, 0, sizeof *e);
        json_error_t je;
        json_t *pj = json_loadb(in->line, len, JSON_REJECT_DUPLICATES, &je);
        if (!pj) {
            efill(e, SG_EPARSE, (int)bk->plineno, NULL, "not valid JSON: %s (column %d)", je.text,
                  je.column);
            return SG_EPARSE;
        }
        const char *rt = json_string_value(json_object_get(pj, "resourceType"));
        const char *id = json_string_value(json_object_get(pj, "id"));
        if (!rt || strcmp(rt, "Patient") || !id) {
            json_decref(pj);
            efill(e, SG_EINVAL, (int)bk->plineno, NULL, "expected a Patient resource with an id");
            return SG_EINVAL;
        }
        int rc = mx_add_resource(eng, p, pj, NULL, "Patient", e);
        struct bulk_key *key = key_get(bk, id, 0);
        json_decref(pj);
        if (rc != SG_OK) {
            if (e) e->line = (int)bk->plineno;
            return rc;
        }
        if (key) {
            key->done = 1;
            for (int32_t ri = key->head; ri >= 0; ri = bk->recs[ri].next) {
                struct bulk_rec *rec = &bk->recs[ri];
                if ((rc = read_rec(bk, rec)) != SG_OK) {
                    *file = bk->rfiles[rec->file];
                    efill(e, rc, 0, NULL, "cannot read resource line");
                    return rc;
                }
                json_t *res = json_loadb(bk->buf, rec->len, JSON_REJECT_DUPLICATES, &je);
                if (!res) {
                    *file = bk->rfiles[rec->file];
                    *line = rec_line(bk, rec);
                    efill(e, SG_EPARSE, (int)*line, NULL, "not valid JSON: %s (column %d)", je.text,
                          je.column);
                    return SG_EPARSE;
                }
                rc = mx_add_resource(eng, p, res, NULL, rec->file < bk->nrf ? "resource" : "", e);
                json_decref(res);
                if (rc != SG_OK) {
                    *file = bk->rfiles[rec->file];
                    *line = rec_line(bk, rec);
                    if (e) e->line = (int)*line;
                    return rc;
                }
            }
        }
        rc = mx_finish(eng, p, e);
        if (rc != SG_OK) {
            if (e) e->line = (int)bk->plineno;
            return rc;
        }
        return 1;
    }
    /* resources whose patient never came: one reject per patient id (or per unreferenced group) */
    while (bk->leftover < bk->capkey) {
        struct bulk_key *k = &bk->keys[bk->leftover++];
        if (!k->pid || k->done || k->head < 0) continue;
        const struct bulk_rec *rec = &bk->recs[k->head];
        *file = bk->rfiles[rec->file];
        *line = rec_line(bk, rec);
        if (k->pid[0])
            efill(e, SG_EINVAL, (int)*line, NULL,
                  "resources reference Patient '%s', which is not in the export", k->pid);
        else
            efill(e, SG_EINVAL, (int)*line, NULL, "resource without a subject/patient reference");
        return SG_EINVAL;
    }
    return 0;
}

int meas_input_next(struct meas_input *in, const struct meas_engine *eng, struct meas_patient *p,
                    const char **file, long *line, struct meas_error *e)
{
    *file = "";
    *line = 0;
    while (in->cur < in->nsrc) {
        struct src *s = &in->srcs[in->cur];
        *file = s->path;
        if (s->kind == SRC_JSON) {
            in->cur++;
            char *text = NULL;
            size_t len;
            char msg[SG_ERRLEN];
            int rc = sg_read_file(s->path, MEAS_MAX_RECORD, &text, &len, msg, sizeof msg);
            if (rc != SG_OK) {
                efill(e, rc, 0, NULL, "%s", msg);
                return rc == SG_ETOOBIG ? SG_EINVAL : rc;
            }
            rc = meas_patient_from_text(eng, text, len, p, e);
            free(text);
            if (rc != SG_OK) {
                *line = e ? e->line : 0;
                return rc;
            }
            return 1;
        }
        if (s->kind == SRC_NDJSON) {
            if (!in->f) {
                in->f = fopen(s->path, "r");
                in->lineno = 0;
                if (!in->f) {
                    in->cur++;
                    efill(e, SG_EIO, 0, NULL, "cannot open");
                    return SG_EIO;
                }
            }
            size_t len;
            int r = next_line(in->f, &in->line, &in->linecap, &in->lineno, &len);
            *line = in->lineno;
            if (r == 0) {
                fclose(in->f);
                in->f = NULL;
                in->cur++;
                continue;
            }
            if (r < 0) {
                efill(e, r, (int)in->lineno, NULL, "%s",
                      r == SG_ETOOBIG ? "line too long" : "read error");
                return r;
            }
            int rc = meas_patient_from_text(eng, in->line, len, p, e);
            if (rc != SG_OK) {
                if (e) e->line = (int)in->lineno;
                return rc;
            }
            return 1;
        }
        /* SRC_BULK */
        if (!in->bk) {
            int rc = bulk_open(in, s->path, e);
            if (rc != SG_OK) {
                bulk_close(in);
                in->cur++;
                return rc;
            }
        }
        int r = bulk_next(in, eng, p, file, line, e);
        if (r == 0) {
            bulk_close(in);
            in->cur++;
            continue;
        }
        return r;
    }
    return 0;
}
