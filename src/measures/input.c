/* input.c: streaming patient input for the CLI and batch jobs (see meas_input_* in measures.h).
 *
 * Sources are expanded at open: a file (".ndjson"/".jsonl": one Bundle per line; anything else:
 * one Bundle), a directory of such files (sorted by name, not recursive), or a Bulk FHIR export
 * directory (it holds Patient.ndjson or Patient.000.ndjson ...). Bundles and NDJSON lines are
 * read one at a time: memory is bounded by the largest patient (one line / one file).
 *
 * A Bulk export is grouped by patient in two passes, so that memory does not grow with the
 * export. Pass 1 streams every line of the Patient files and of the resource files the measures
 * read (in name, then line order) into one of P temporary spill files chosen by a hash of its
 * patient key (a Patient's top-level id; a resource's subject/patient/beneficiary reference,
 * found by a light scan without parsing), each line carrying its file and line number;
 * P = ceil(1.25 x input bytes / budget) (input_bulk.h; config bulk_partition_bytes). Pass 2 reads
 * one partition whole, chains each key's resource lines, and emits its Patients in spill order
 * with their resources, then one reject per key whose Patient is absent (or for lines without a
 * patient reference). Memory: one partition (~ the budget) or the largest single patient.
 * Real exports (Synthea, servers) interleave patients within a file, so a streaming join on
 * sorted files would be wrong for them. The spill files are created in TMPDIR and unlinked at
 * once: nothing is left behind when the input is closed, fails or the process dies. Written here
 * rather than with a library: Debian has no small C library for external hash partitioning of
 * text lines, and the whole is ~300 lines. */
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fileio.h"
#include "core/log.h"
#include "measures/engine_int.h"
#include "measures/input_bulk.h"
#include "measures/measures.h"

enum src_kind { SRC_JSON, SRC_NDJSON, SRC_BULK };

struct src {
    enum src_kind kind;
    char *path;
};

/* A Bulk export is grouped by patient in two passes (see the comment above bulk_open). */

/* Header of one spilled line; it is followed by the patient key and the line, each with a
 * terminating NUL, so that pass 2 uses them in place. */
struct spill_hdr {
    uint32_t file;   /* index in bulk.files (Patient files first) */
    uint32_t kind;   /* SPILL_RES, SPILL_PATIENT or SPILL_TOOLONG (a Patient line over the cap) */
    uint32_t pidlen; /* key length without its NUL; "" = no resolvable patient reference/id */
    uint32_t len;    /* line length without its NUL */
    int64_t line;    /* 1-based line number in that file */
};
enum { SPILL_RES = 0, SPILL_PATIENT = 1, SPILL_TOOLONG = 2 };

/* A line of the partition in memory. */
struct bulk_rec {
    size_t off;   /* offset of its spill_hdr in bulk.pbuf */
    int32_t next; /* next resource line of the same patient, -1 at the end */
};

/* A patient key of the partition in memory: its resource lines, in file and line order. */
struct bulk_key {
    const char *pid; /* in bulk.pbuf; NULL = empty slot */
    int32_t head, tail;
    int done; /* 1: its Patient was read; 2: reported as missing */
};

struct bulk {
    char **files;       /* Patient*.ndjson parts, then the resource files, each in name order */
    size_t nfiles, npf; /* npf = how many Patient files */
    FILE **parts;       /* the spill files (already unlinked), one per partition */
    size_t nparts, pcur;
    char *pbuf; /* the current partition, read whole */
    size_t pbuflen, pbufcap;
    struct bulk_rec *recs;
    size_t nrec, caprec;
    size_t rcur;   /* emitting: next record (Patients), then leftovers */
    int leftovers; /* emitting: 1 once the partition's Patients are done */
    int loaded;    /* partition pcur is in pbuf */
    struct bulk_key *keys;
    size_t capkey, nkey;
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
    size_t bulk_budget; /* bytes per partition (0 = MEAS_BULK_BUDGET) */
    size_t bulk_parts;  /* partitions of the last Bulk export opened */
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
    for (size_t i = 0; i < bk->nfiles; i++)
        free(bk->files[i]);
    free(bk->files);
    for (size_t i = 0; i < bk->nparts; i++)
        if (bk->parts[i]) fclose(bk->parts[i]); /* unlinked at creation: this removes it */
    free(bk->parts);
    free(bk->pbuf);
    free(bk->recs);
    free(bk->keys);
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

/* The partition of a patient key: the high half of FNV-1a times the golden ratio, so it does
 * not share the low bits that index the per-partition hash table. */
static size_t part_of(const char *pid, size_t nparts)
{
    return (size_t)(((str_hash(pid) * 0x9E3779B97F4A7C15ULL) >> 32) % nparts);
}

/* The top-level "id" of a Patient line without parsing it: a string-aware brace/bracket depth
 * scan. Returns 0, or -1 when not found or when the id holds an escape (the caller parses). */
static int scan_top_id(const char *s, char *out, size_t outlen)
{
    int depth = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            depth--;
        } else if (*p == '"') {
            const char *b = ++p;
            while (*p && *p != '"') {
                if (*p == '\\' && !*++p) return -1;
                p++;
            }
            if (!*p) return -1;
            if (depth != 1 || p - b != 2 || memcmp(b, "id", 2)) continue;
            const char *q = p + 1;
            while (*q == ' ' || *q == '\t')
                q++;
            if (*q != ':') continue;
            q++;
            while (*q == ' ' || *q == '\t')
                q++;
            if (*q != '"') return -1;
            const char *v = ++q;
            while (*q && *q != '"' && *q != '\\')
                q++;
            if (*q != '"') return -1;
            size_t n = (size_t)(q - v);
            if (n == 0 || n >= outlen) return -1;
            memcpy(out, v, n);
            out[n] = '\0';
            return 0;
        }
    }
    return -1;
}

/* The id of a Patient line for routing: scanned, else parsed; "" when there is none (the line
 * is then rejected in pass 2 by the same checks as any Patient line). */
static void patient_key(const char *line, size_t len, char *out, size_t outlen)
{
    if (scan_top_id(line, out, outlen) == 0) return;
    out[0] = '\0';
    json_t *j = json_loadb(line, len, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "id"));
    if (id && strlen(id) < outlen) snprintf(out, outlen, "%s", id);
    json_decref(j);
}

/* Finds (or with create, adds) the key of pid in the current partition. NULL when absent or
 * on ENOMEM. pid must stay valid while the partition is loaded (it points into pbuf). */
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
            k->pid = pid;
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

/* The number of partitions: ceil(1.25 x input bytes / budget) (the 25% covers the spill
 * headers and the per-line records of pass 2), at least 1, at most what the open-file limit
 * allows (and 4096). */
static size_t choose_parts(uint64_t total, size_t budget)
{
    uint64_t want = (total + total / 4 + budget - 1) / budget;
    uint64_t most = 4096;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < most + 64)
        most = rl.rlim_cur > 128 ? rl.rlim_cur - 64 : 64;
    if (want < 1) want = 1;
    if (want > most) want = most;
    return (size_t)want;
}

/* One spill file: created in TMPDIR (else /tmp) and unlinked at once, so that it disappears
 * when closed, whatever way the process ends. NULL on failure. */
static FILE *spill_new(void)
{
    const char *td = getenv("TMPDIR");
    if (!td || !*td) td = "/tmp";
    char tmpl[4200];
    snprintf(tmpl, sizeof tmpl, "%s/stargap-bulk-XXXXXX", td);
    int fd = mkstemp(tmpl);
    if (fd < 0) return NULL;
    unlink(tmpl);
    FILE *f = fdopen(fd, "w+b");
    if (!f) close(fd);
    return f;
}

static int spill_put(FILE *f, uint32_t file, uint32_t kind, long line, const char *pid,
                     const char *text, size_t len)
{
    struct spill_hdr h = {file, kind, (uint32_t)strlen(pid), (uint32_t)len, (int64_t)line};
    if (fwrite(&h, sizeof h, 1, f) != 1 || fwrite(pid, 1, h.pidlen + 1, f) != h.pidlen + 1 ||
        fwrite(text, 1, len, f) != len || putc('\0', f) == EOF)
        return SG_EIO;
    return SG_OK;
}

/* Opens a Bulk export, pass 1: lists its files and streams every line of the Patient files
 * and of the resource files the measures read, in name and line order, into one of P spill
 * files chosen by a hash of its patient key (a Patient's id, a resource's subject/patient/
 * beneficiary reference found by a light scan; "" when there is none). Each spilled line
 * carries its file and line number. Memory: one line. */
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
    char **rfiles = NULL;
    size_t nrf = 0;
    for (int k = 0; k < ne; k++) {
        const char *nm = ents[k]->d_name;
        if (rc == SG_OK && type_file(nm, "Patient"))
            rc = push_name(&bk->files, &bk->nfiles, dir, nm);
        else
            for (int t = 0; types[t] && rc == SG_OK; t++)
                if (type_file(nm, types[t])) rc = push_name(&rfiles, &nrf, dir, nm);
        free(ents[k]);
    }
    free(ents);
    if (rc == SG_OK) bk->npf = bk->nfiles;
    char **nf = rc == SG_OK ? realloc(bk->files, (bk->nfiles + nrf + 1) * sizeof *nf) : NULL;
    if (nf) bk->files = nf;
    for (size_t i = 0; i < nrf; i++) {
        if (nf)
            bk->files[bk->nfiles++] = rfiles[i];
        else
            free(rfiles[i]);
    }
    if (rc == SG_OK && !nf) rc = SG_ENOMEM;
    free(rfiles);
    if (rc != SG_OK) return rc;
    if (!bk->npf) {
        efill(e, SG_EIO, 0, dir, "Bulk export has no Patient ndjson file");
        return SG_EIO;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < bk->nfiles; i++) {
        struct stat st;
        if (stat(bk->files[i], &st) == 0) total += (uint64_t)st.st_size;
    }
    size_t np = choose_parts(total, in->bulk_budget ? in->bulk_budget : MEAS_BULK_BUDGET);
    if (!(bk->parts = calloc(np, sizeof *bk->parts))) return SG_ENOMEM;
    for (bk->nparts = 0; bk->nparts < np; bk->nparts++)
        if (!(bk->parts[bk->nparts] = spill_new())) {
            efill(e, SG_EIO, 0, dir, "cannot create a temporary file in %s",
                  getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
            return SG_EIO;
        }
    char *line = NULL;
    size_t cap = 0;
    char pid[256];
    for (size_t i = 0; i < bk->nfiles && rc == SG_OK; i++) {
        FILE *f = fopen(bk->files[i], "r");
        if (!f) {
            efill(e, SG_EIO, 0, bk->files[i], "cannot open");
            rc = SG_EIO;
            break;
        }
        int patient = i < bk->npf;
        long lineno = 0;
        for (;;) {
            size_t n;
            int got = read_capped(f, &line, &cap, &n, MEAS_MAX_RECORD);
            if (got == 0) break;
            lineno++;
            if (got == SG_ETOOBIG && patient) { /* one rejected Patient, as for NDJSON */
                rc = spill_put(bk->parts[0], (uint32_t)i, SPILL_TOOLONG, lineno, "", "", 0);
                if (rc != SG_OK) {
                    efill(e, rc, 0, dir, "cannot write a temporary file");
                    break;
                }
                continue;
            }
            if (got < 0) {
                efill(e, got, (int)lineno, bk->files[i], "%s",
                      got == SG_ETOOBIG ? "line too long" : "read error");
                rc = got;
                break;
            }
            while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' '))
                line[--n] = '\0';
            if (n == 0) continue;
            if (patient)
                patient_key(line, n, pid, sizeof pid);
            else if (scan_pid(line, pid, sizeof pid) != 0)
                pid[0] = '\0'; /* reported once per partition at its end, as a reject */
            rc = spill_put(bk->parts[part_of(pid, bk->nparts)], (uint32_t)i,
                           patient ? SPILL_PATIENT : SPILL_RES, lineno, pid, line, n);
            if (rc != SG_OK) {
                efill(e, rc, 0, dir, "cannot write a temporary file");
                break;
            }
        }
        fclose(f);
    }
    free(line);
    for (size_t k = 0; k < bk->nparts && rc == SG_OK; k++)
        if (fflush(bk->parts[k]) != 0 || ferror(bk->parts[k]) ||
            fseeko(bk->parts[k], 0, SEEK_SET)) {
            efill(e, SG_EIO, 0, dir, "cannot write a temporary file");
            rc = SG_EIO;
        }
    if (rc == SG_OK) LOG_DEBUG("bulk export: %zu files, %zu partitions", bk->nfiles, bk->nparts);
    return rc;
}

static const struct spill_hdr *rec_hdr(const struct bulk *bk, const struct bulk_rec *r,
                                       struct spill_hdr *h)
{
    memcpy(h, bk->pbuf + r->off, sizeof *h);
    return h;
}
static const char *rec_pid(const struct bulk *bk, const struct bulk_rec *r)
{
    return bk->pbuf + r->off + sizeof(struct spill_hdr);
}
static const char *rec_text(const struct bulk *bk, const struct bulk_rec *r,
                            const struct spill_hdr *h)
{
    return bk->pbuf + r->off + sizeof(struct spill_hdr) + h->pidlen + 1;
}

/* Pass 2 for one partition: reads its spill file whole, closes it (freeing the disk space),
 * and chains each patient key's resource lines in spill order (= file, then line order). */
static int part_load(struct bulk *bk, struct meas_error *e)
{
    FILE *f = bk->parts[bk->pcur];
    if (fseeko(f, 0, SEEK_END) != 0) goto ioerr;
    off_t sz = ftello(f);
    if (sz < 0 || fseeko(f, 0, SEEK_SET) != 0) goto ioerr;
    if ((size_t)sz + 1 > bk->pbufcap) {
        char *nb = realloc(bk->pbuf, (size_t)sz + 1);
        if (!nb) return SG_ENOMEM;
        bk->pbuf = nb;
        bk->pbufcap = (size_t)sz + 1;
    }
    if (fread(bk->pbuf, 1, (size_t)sz, f) != (size_t)sz) goto ioerr;
    fclose(f);
    bk->parts[bk->pcur] = NULL;
    bk->pbuflen = (size_t)sz;
    bk->nrec = bk->rcur = 0;
    bk->leftovers = 0;
    if (bk->keys) memset(bk->keys, 0, bk->capkey * sizeof *bk->keys);
    bk->nkey = 0;
    for (size_t off = 0; off < bk->pbuflen;) {
        struct spill_hdr h;
        if (bk->pbuflen - off < sizeof h) goto corrupt;
        memcpy(&h, bk->pbuf + off, sizeof h);
        size_t need = sizeof h + (size_t)h.pidlen + 1 + (size_t)h.len + 1;
        if (h.file >= bk->nfiles || h.pidlen >= 256 || h.len > MEAS_MAX_RECORD ||
            bk->pbuflen - off < need)
            goto corrupt;
        if (bk->nrec == bk->caprec) {
            size_t nc = bk->caprec ? bk->caprec * 2 : 4096;
            struct bulk_rec *nr = realloc(bk->recs, nc * sizeof *nr);
            if (!nr) return SG_ENOMEM;
            bk->recs = nr;
            bk->caprec = nc;
        }
        if (bk->nrec >= INT32_MAX) return SG_ENOMEM;
        struct bulk_rec *r = &bk->recs[bk->nrec];
        r->off = off;
        r->next = -1;
        if (h.kind == SPILL_RES) {
            struct bulk_key *key = key_get(bk, rec_pid(bk, r), 1);
            if (!key) return SG_ENOMEM;
            if (key->tail >= 0)
                bk->recs[key->tail].next = (int32_t)bk->nrec;
            else
                key->head = (int32_t)bk->nrec;
            key->tail = (int32_t)bk->nrec;
        }
        bk->nrec++;
        off += need;
    }
    bk->loaded = 1;
    return SG_OK;
ioerr:
    efill(e, SG_EIO, 0, NULL, "cannot read a temporary file");
    return SG_EIO;
corrupt:
    efill(e, SG_EIO, 0, NULL, "temporary file is corrupt");
    return SG_EIO;
}

/* Reads one Patient record of the loaded partition with its resources into p: 1, or an error
 * for a rejected patient (file and line are the failing line's). */
static int emit_patient(struct bulk *bk, const struct meas_engine *eng, struct meas_patient *p,
                        const struct bulk_rec *pr, const char **file, long *line,
                        struct meas_error *e)
{
    struct spill_hdr h;
    rec_hdr(bk, pr, &h);
    *file = bk->files[h.file];
    *line = (long)h.line;
    if (h.kind == SPILL_TOOLONG) {
        efill(e, SG_ETOOBIG, (int)h.line, NULL, "line too long");
        return SG_ETOOBIG;
    }
    meas_patient_reset(p);
    if (e) memset(e, 0, sizeof *e);
    json_error_t je;
    json_t *pj = json_loadb(rec_text(bk, pr, &h), h.len, JSON_REJECT_DUPLICATES, &je);
    if (!pj) {
        efill(e, SG_EPARSE, (int)h.line, NULL, "not valid JSON: %s (column %d)", je.text,
              je.column);
        return SG_EPARSE;
    }
    const char *rt = json_string_value(json_object_get(pj, "resourceType"));
    const char *id = json_string_value(json_object_get(pj, "id"));
    if (!rt || strcmp(rt, "Patient") || !id) {
        json_decref(pj);
        efill(e, SG_EINVAL, (int)h.line, NULL, "expected a Patient resource with an id");
        return SG_EINVAL;
    }
    int rc = mx_add_resource(eng, p, pj, NULL, "Patient", e);
    struct bulk_key *key = key_get(bk, id, 0);
    json_decref(pj);
    if (rc != SG_OK) {
        if (e) e->line = (int)h.line;
        return rc;
    }
    if (key) {
        key->done = 1;
        for (int32_t ri = key->head; ri >= 0; ri = bk->recs[ri].next) {
            const struct bulk_rec *rec = &bk->recs[ri];
            struct spill_hdr rh;
            rec_hdr(bk, rec, &rh);
            json_t *res = json_loadb(rec_text(bk, rec, &rh), rh.len, JSON_REJECT_DUPLICATES, &je);
            if (!res) {
                *file = bk->files[rh.file];
                *line = (long)rh.line;
                efill(e, SG_EPARSE, (int)rh.line, NULL, "not valid JSON: %s (column %d)", je.text,
                      je.column);
                return SG_EPARSE;
            }
            rc = mx_add_resource(eng, p, res, NULL, "resource", e);
            json_decref(res);
            if (rc != SG_OK) {
                *file = bk->files[rh.file];
                *line = (long)rh.line;
                if (e) e->line = (int)rh.line;
                return rc;
            }
        }
    }
    rc = mx_finish(eng, p, e);
    if (rc != SG_OK) {
        if (e) e->line = (int)h.line;
        return rc;
    }
    return 1;
}

/* One patient of a Bulk export, pass 2: partition by partition, its Patient lines in file and
 * line order, each with its resource lines; then, once per patient key in order of first
 * appearance, a reject for resources whose Patient is not in the export (or that have no
 * patient reference). 1, 0 (done), or an error for a rejected record. */
static int bulk_next(struct meas_input *in, const struct meas_engine *eng, struct meas_patient *p,
                     const char **file, long *line, struct meas_error *e)
{
    struct bulk *bk = in->bk;
    while (bk->pcur < bk->nparts) {
        if (!bk->loaded) {
            int rc = part_load(bk, e);
            if (rc == SG_ENOMEM) efill(e, rc, 0, NULL, "out of memory");
            if (rc != SG_OK) return rc;
        }
        while (bk->rcur < bk->nrec) {
            const struct bulk_rec *r = &bk->recs[bk->rcur++];
            struct spill_hdr h;
            rec_hdr(bk, r, &h);
            if (!bk->leftovers) {
                if (h.kind != SPILL_RES) return emit_patient(bk, eng, p, r, file, line, e);
                continue;
            }
            if (h.kind != SPILL_RES) continue;
            struct bulk_key *k = key_get(bk, rec_pid(bk, r), 0);
            if (!k || k->done || k->head != (int32_t)(bk->rcur - 1)) continue;
            k->done = 2;
            *file = bk->files[h.file];
            *line = (long)h.line;
            if (k->pid[0])
                efill(e, SG_EINVAL, (int)h.line, NULL,
                      "resources reference Patient '%s', which is not in the export", k->pid);
            else
                efill(e, SG_EINVAL, (int)h.line, NULL,
                      "resource without a subject/patient reference");
            return SG_EINVAL;
        }
        if (!bk->leftovers) {
            bk->leftovers = 1;
            bk->rcur = 0;
            continue;
        }
        bk->loaded = 0;
        bk->pcur++;
    }
    return 0;
}

void meas_input_set_bulk_budget(struct meas_input *in, size_t bytes)
{
    if (in) in->bulk_budget = bytes;
}

size_t meas_input_bulk_partitions(const struct meas_input *in)
{
    return in ? in->bulk_parts : 0;
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
            in->bulk_parts = in->bk ? in->bk->nparts : 0;
            if (rc == SG_ENOMEM) efill(e, rc, 0, s->path, "out of memory");
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
