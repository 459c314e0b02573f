/* import.c: `stargap import` — members.csv, measure_results.csv and member_features.csv into the
 * store (issue 6).
 *
 * Each file is read with core/csv.h (streaming, bounded records, line numbers). Every row is
 * validated on its own; a bad row is written to the rejects CSV as (file, line, reason) and
 * counted, never imported, and never stops the import. Reasons never quote the member ID: the ID
 * is hashed (HMAC, core/memberid.h) as soon as the row is read and only the hash travels on.
 * Accepted rows are merged in transactions of batch_rows rows with the store's idempotent merge
 * operations, so a second import of the same files writes nothing. A member must be in
 * members.csv (or already in the store) for its results and features to be accepted. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/csv.h"
#include "core/log.h"
#include "core/sort.h"
#include "core/memberid.h"
#include "model/features.h"
#include "model/matrix.h"
#include "pipeline/pipeline.h"

static const char *const reject_names[PL_REJ_COUNT] = {
    [PL_REJ_COLUMNS] = "wrong column count",
    [PL_REJ_MEMBER_ID] = "bad member_id",
    [PL_REJ_CONTRACT] = "bad contract_id",
    [PL_REJ_DATE] = "bad date",
    [PL_REJ_SEX] = "bad sex",
    [PL_REJ_FLAG] = "flag not 0/1",
    [PL_REJ_MEASURE] = "unknown measure",
    [PL_REJ_YEAR] = "bad year",
    [PL_REJ_NUMERATOR] = "numerator without denominator",
    [PL_REJ_DENOMINATOR] = "denominator or exclusion without initial population",
    [PL_REJ_DUPLICATE] = "duplicate key",
    [PL_REJ_UNKNOWN_MEMBER] = "unknown member",
    [PL_REJ_NUMBER] = "bad number",
    [PL_REJ_FHIR] = "bad FHIR patient",
    [PL_REJ_NUMDATE_YEAR] = "numerator_date outside the measurement year",
    [PL_REJ_NUMDATE_OPEN] = "numerator_date without numerator",
};

const char *pl_reject_name(enum pl_reject r)
{
    return (unsigned)r < PL_REJ_COUNT ? reject_names[r] : "unknown";
}

/* ---- a set of fixed-size keys (open addressing), for members and duplicate detection ---- */

struct keyset {
    char *keys;   /* cap * ksize bytes; an all-zero slot is empty */
    size_t ksize; /* key bytes */
    size_t cap, n;
};

/* Eight bytes at a time (the keys are 65 to 85 bytes; a byte-wise FNV-1a was 3% of an import),
 * with a final avalanche so the low bits used as the slot index depend on every byte. */
static uint64_t key_hash(const char *k, size_t n)
{
    uint64_t h = 1469598103934665603ULL, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, k + i, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 1099511628211ULL;
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ULL;
    h ^= h >> 32;
    return h;
}

static int ks_grow(struct keyset *s)
{
    size_t nc = s->cap ? s->cap * 2 : 1024;
    char *nk = calloc(nc, s->ksize);
    if (!nk) return SG_ENOMEM;
    for (size_t i = 0; i < s->cap; i++) {
        const char *k = s->keys + i * s->ksize;
        if (!k[0]) continue;
        size_t j = key_hash(k, s->ksize) & (nc - 1);
        while (nk[j * s->ksize])
            j = (j + 1) & (nc - 1);
        memcpy(nk + j * s->ksize, k, s->ksize);
    }
    free(s->keys);
    s->keys = nk;
    s->cap = nc;
    return SG_OK;
}

/* Adds key (ksize bytes, first byte non-zero); *added = 0 when it was present. */
static int ks_add(struct keyset *s, const char *key, int *added)
{
    if ((s->n + 1) * 2 > s->cap && ks_grow(s)) return SG_ENOMEM;
    size_t j = key_hash(key, s->ksize) & (s->cap - 1);
    for (;;) {
        char *slot = s->keys + j * s->ksize;
        if (!slot[0]) {
            memcpy(slot, key, s->ksize);
            s->n++;
            *added = 1;
            return SG_OK;
        }
        if (!memcmp(slot, key, s->ksize)) {
            *added = 0;
            return SG_OK;
        }
        j = (j + 1) & (s->cap - 1);
    }
}

static int ks_has(const struct keyset *s, const char *key)
{
    if (!s->cap) return 0;
    size_t j = key_hash(key, s->ksize) & (s->cap - 1);
    for (;;) {
        const char *slot = s->keys + j * s->ksize;
        if (!slot[0]) return 0;
        if (!memcmp(slot, key, s->ksize)) return 1;
        j = (j + 1) & (s->cap - 1);
    }
}

/* The duplicate-key sets hold the member hash in binary (32 bytes, not 64 hex characters) after a
 * non-zero marker byte, then the year: at 1,000,000 members the results set has 10.7 million
 * keys, and its table (at most half full) is 1.2 GB this way instead of 2.7 GB. */
#define DUP_KEY_LEN (1 + 32 + 2)

static void dup_key(const char *member_hash, int year, char out[DUP_KEY_LEN])
{
    uint8_t bin[32];
    uint16_t y = (uint16_t)year;
    out[0] = 1; /* a slot whose first byte is 0 is empty */
    if (sg_hex_decode(member_hash, bin, sizeof bin) != SG_OK) /* cannot happen: our own HMAC hex */
        memset(bin, 0xff, sizeof bin);
    memcpy(out + 1, bin, 32);
    memcpy(out + 33, &y, 2);
}

/* ---- field checks ---- */

static int parse_flag(const char *s, int *out)
{
    if (!strcmp(s, "0"))
        *out = 0;
    else if (!strcmp(s, "1"))
        *out = 1;
    else
        return -1;
    return 0;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* YYYY-MM-DD with a real calendar date, year 1900..2100. */
static int parse_date(const char *s, int *y, int *m, int *d)
{
    static const int md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) return -1;
    *y = atoi(s);
    *m = atoi(s + 5);
    *d = atoi(s + 8);
    if (*y < 1900 || *y > 2100 || *m < 1 || *m > 12 || *d < 1) return -1;
    if (*d > md[*m - 1] + (*m == 2 && is_leap(*y))) return -1;
    return 0;
}

static int parse_year(const char *s, int *out)
{
    if (strlen(s) != 4) return -1;
    for (int i = 0; i < 4; i++)
        if (s[i] < '0' || s[i] > '9') return -1;
    int y = atoi(s);
    if (y < 2000 || y > 2100) return -1;
    *out = y;
    return 0;
}

static int contract_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n >= STORE_CONTRACT_LEN) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9'))) return 0;
    return 1;
}

/* ---- the import state ---- */

/* The writer thread. Reading a batch (CSV parsing, HMAC, checks) and merging the previous batch
 * into the store do not depend on each other, so they run on two threads: the reader fills one
 * row buffer while the writer merges the other. Batches are merged one at a time in the order
 * they were read, each in its own transaction as before; the first store error stops the import
 * (the failing batch writes nothing, earlier ones stay) and is reported by the reader at its next
 * hand-over or at the end of the file. measure_results.csv is handed over whole once read and
 * sorted (W_RESULTS_ALL: the writer cuts and merges its batches, two at once on PostgreSQL:
 * merge_results_all), so member_features.csv is read
 * while the results are merged; a results merge error is then reported at the first features
 * hand-over or at the end of the import (after member_features.csv was read and its rejects
 * written). */
enum wjob { W_MEMBERS, W_RESULTS_ALL, W_FEATURES_ALL };

struct writer {
    pthread_t th;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int busy; /* a batch was handed over and is not merged yet */
    int quit;
    enum wjob kind;
    void *rows;
    size_t n;
    int rc; /* the first merge error; the writer merges nothing after it */
    char err[SG_ERRLEN];
};

struct imp {
    struct store *st;
    const struct store_actor *a;
    const struct sg_memberid *mid;
    struct sg_memberid_hasher *hasher; /* pre-keyed HMAC */
    char last_id[SG_MEMBERID_MAX_ID + 1]; /* the previous row's member ID and its hash: rows of */
    char last_hash[STORE_HASH_LEN];       /* one member are usually consecutive */
    struct writer w;
    const struct pl_import_opts *o;
    struct pl_import_summary *sum;
    FILE *rej;
    const char *rej_path;
    struct keyset members; /* member hashes of this import (65 bytes) */
    size_t batch;
    char *err;
    size_t errlen;
    time_t last_progress;
};

static int reject(struct imp *im, const char *file, long line, enum pl_reject r, const char *detail,
                  struct pl_file_summary *fs)
{
    fs->rejected++;
    im->sum->by_reason[r]++;
    /* the detail names a field or value class, never a member ID */
    if (fprintf(im->rej, "%s,%ld,\"%s%s%s\"\n", file, line, reject_names[r], detail ? ": " : "",
                detail ? detail : "") < 0)
        return sg_errf(im->err, im->errlen, SG_EIO, "%s: write failed: %s", im->rej_path,
                       strerror(errno));
    return SG_OK;
}

static void progress(struct imp *im, const char *file, long long rows, int force)
{
    if (!im->o->progress) return;
    time_t now = time(NULL);
    if (!force && now == im->last_progress) return;
    im->last_progress = now;
    fprintf(im->o->progress, "\r%s: %lld rows%s", file, rows, force ? "\n" : "");
    fflush(im->o->progress);
}

/* Opens DIR/name; *f NULL and SG_OK when optional and missing. */
static int open_csv(struct imp *im, const char *dir, const char *name, int optional, FILE **f,
                    struct sg_csv **c, char *path, size_t pcap)
{
    *f = NULL;
    *c = NULL;
    snprintf(path, pcap, "%s/%s", dir, name);
    *f = fopen(path, "rb");
    if (!*f) {
        if (optional && errno == ENOENT) return SG_OK;
        return sg_errf(im->err, im->errlen, SG_EIO, "%s: cannot open: %s", path, strerror(errno));
    }
    struct sg_csv_opts co = {SG_CSV_UTF8, ',', 0, 0};
    int rc = sg_csv_open(c, *f, name, &co, im->err, im->errlen);
    if (rc) {
        fclose(*f);
        *f = NULL;
    }
    return rc;
}

/* Reads the header and checks it against the expected columns (n_fixed first names; when
 * open_ended, more columns may follow). */
static int check_header(struct imp *im, struct sg_csv *c, const char *file,
                        const char *const *names, size_t n_fixed, int open_ended)
{
    int r = sg_csv_next(c, im->err, im->errlen);
    if (r < 0) return r;
    if (r == 0)
        return sg_errf(im->err, im->errlen, SG_EPARSE,
                       "%s:1: empty file (a header row is required)", file);
    size_t nf = sg_csv_nfields(c);
    if (nf < n_fixed || (!open_ended && nf != n_fixed))
        return sg_errf(im->err, im->errlen, SG_EPARSE,
                       "%s:%ld: header has %zu columns, expected %s%zu", file, sg_csv_line(c), nf,
                       open_ended ? "at least " : "", n_fixed);
    for (size_t i = 0; i < n_fixed; i++)
        if (strcmp(sg_csv_field(c, i), names[i]))
            return sg_errf(im->err, im->errlen, SG_EPARSE,
                           "%s:%ld: header column %zu is '%s', expected '%s'", file, sg_csv_line(c),
                           i + 1, sg_csv_field(c, i), names[i]);
    return SG_OK;
}

/* Hashes the member_id field; 0 on success, else a reject was written (*rej = 1). */
static int hash_member(struct imp *im, struct sg_csv *c, const char *file, char out[65],
                       struct pl_file_summary *fs, int *rej)
{
    char e[128];
    const char *id = sg_csv_field(c, 0);
    *rej = 0;
    if (im->last_hash[0] && !strcmp(id, im->last_id)) {
        memcpy(out, im->last_hash, STORE_HASH_LEN);
        return SG_OK;
    }
    int hrc = im->hasher ? sg_memberid_hasher_hash(im->hasher, id, out, e, sizeof e)
                         : sg_memberid_hash(im->mid, id, out, e, sizeof e);
    if (hrc != SG_OK) {
        *rej = 1;
        return reject(im, file, sg_csv_line(c), PL_REJ_MEMBER_ID,
                      "empty, too long or control characters", fs);
    }
    size_t n = strlen(id); /* at most SG_MEMBERID_MAX_ID: the hash accepted it */
    memcpy(im->last_id, id, n + 1);
    memcpy(im->last_hash, out, STORE_HASH_LEN);
    return SG_OK;
}

/* Whether a member hash is known: in this import's members.csv, or already stored. */
static int member_known(struct imp *im, const char *hash)
{
    if (ks_has(&im->members, hash)) return 1;
    struct store_member m;
    char e[SG_ERRLEN];
    if (store_member_get(im->st, hash, &m, e, sizeof e) != SG_OK) return 0;
    int added;
    (void)ks_add(&im->members, hash, &added); /* cache; on ENOMEM we just ask again */
    return 1;
}

/* ---- members.csv ---- */

static const char *const member_cols[] = {
    "member_id", "contract_id", "birth_date",       "sex",           "dual",
    "lis",       "disability",  "enrollment_start", "enrollment_end"};

/* Batches are merged in key order: the tables' primary keys start with member_hash (a random
 * hex string), so unsorted rows touch a random B-tree page each; sorted, consecutive rows share
 * pages (3x faster merges on a 100,000-member import). */
static int cmp_member_row(const void *a, const void *b)
{
    return strcmp(((const struct store_member *)a)->member_hash,
                  ((const struct store_member *)b)->member_hash);
}

static void add_counts(struct store_merge_counts *to, const struct store_merge_counts *k)
{
    to->inserted += k->inserted;
    to->updated += k->updated;
    to->unchanged += k->unchanged;
}

struct crow;
struct frow;
static int merge_results_all(struct imp *im, struct crow *all, size_t n, char *err,
                             size_t errlen);
static int merge_features_all(struct imp *im, struct frow *all, size_t n, char *err,
                              size_t errlen);
static void frows_free(struct frow *all, size_t n);

/* Sorts and merges one batch (one transaction); frees the feature rows' JSON. Runs on the writer
 * thread (or the reader's when no thread could be started); touches only the merged counts of
 * the summary. */
static int merge_batch(struct imp *im, enum wjob kind, void *rows, size_t n, char *err,
                       size_t errlen)
{
    struct store_merge_counts k;
    int rc;
    if (kind == W_MEMBERS) {
        qsort(rows, n, sizeof(struct store_member), cmp_member_row);
        rc = store_member_upsert_batch(im->st, im->a, rows, n, &k, err, errlen);
        if (!rc) add_counts(&im->sum->members.merged, &k);
    } else if (kind == W_RESULTS_ALL) {
        return merge_results_all(im, rows, n, err, errlen); /* frees rows */
    } else {
        return merge_features_all(im, rows, n, err, errlen); /* frees rows and their JSON */
    }
    return rc;
}

static void *writer_main(void *arg)
{
    struct imp *im = arg;
    struct writer *w = &im->w;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->busy && !w->quit)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->busy) break; /* quit with nothing pending */
        enum wjob kind = w->kind;
        void *rows = w->rows;
        size_t n = w->n;
        int failed = w->rc;
        pthread_mutex_unlock(&w->mu);
        char e[SG_ERRLEN] = "";
        int rc = SG_OK;
        if (failed) { /* after a failure nothing more is merged; the rows are only freed */
            if (kind == W_RESULTS_ALL) free(rows);
            if (kind == W_FEATURES_ALL) frows_free(rows, n);
        } else {
            rc = merge_batch(im, kind, rows, n, e, sizeof e);
        }
        pthread_mutex_lock(&w->mu);
        if (rc && !w->rc) {
            w->rc = rc;
            memcpy(w->err, e, sizeof e);
        }
        w->busy = 0;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Waits until the writer has merged everything handed over; returns its first error (copied to
 * im->err) or SG_OK. */
static int writer_drain(struct imp *im)
{
    struct writer *w = &im->w;
    if (!w->started) return SG_OK;
    pthread_mutex_lock(&w->mu);
    while (w->busy)
        pthread_cond_wait(&w->cv, &w->mu);
    int rc = w->rc;
    if (rc) snprintf(im->err, im->errlen, "%s", w->err);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* Hands rows[0..n) to the writer once it is idle (or merges them here without a writer thread).
 * The caller must not touch rows again before the next hand-over or writer_drain returns. */
static int writer_submit(struct imp *im, enum wjob kind, void *rows, size_t n)
{
    struct writer *w = &im->w;
    if (!n) return SG_OK;
    if (!w->started) return merge_batch(im, kind, rows, n, im->err, im->errlen);
    int rc = writer_drain(im);
    if (rc) return rc;
    pthread_mutex_lock(&w->mu);
    w->kind = kind;
    w->rows = rows;
    w->n = n;
    w->busy = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return SG_OK;
}

static void writer_start(struct imp *im)
{
    struct writer *w = &im->w;
    if (pthread_mutex_init(&w->mu, NULL)) return;
    if (pthread_cond_init(&w->cv, NULL)) {
        pthread_mutex_destroy(&w->mu);
        return;
    }
    if (pthread_create(&w->th, NULL, writer_main, im)) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        return; /* merge on the reader's thread */
    }
    w->started = 1;
}

static void writer_stop(struct imp *im)
{
    struct writer *w = &im->w;
    if (!w->started) return;
    pthread_mutex_lock(&w->mu);
    w->quit = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    w->started = 0;
}

static int import_members(struct imp *im, const char *dir)
{
    const char *file = "members.csv";
    char path[4096];
    FILE *f;
    struct sg_csv *c;
    struct pl_file_summary *fs = &im->sum->members;
    struct store_member *buf[2] = {calloc(im->batch, sizeof **buf),
                                   calloc(im->batch, sizeof **buf)}; /* read / being merged */
    struct store_member *rows = buf[0];
    size_t n = 0;
    char today[STORE_TS_LEN];
    store_now(today);
    today[10] = '\0';
    int rc = rows && buf[1] ? open_csv(im, dir, file, 0, &f, &c, path, sizeof path) : SG_ENOMEM;
    if (rc) {
        free(buf[0]);
        free(buf[1]);
        return rc == SG_ENOMEM ? sg_errf(im->err, im->errlen, rc, "out of memory") : rc;
    }
    if ((rc = check_header(im, c, file, member_cols, 9, 0))) goto out;
    int r;
    while ((r = sg_csv_next(c, im->err, im->errlen)) == 1) {
        long line = sg_csv_line(c);
        fs->rows++;
        progress(im, file, fs->rows, 0);
        if (sg_csv_nfields(c) != 9) {
            char d[64];
            snprintf(d, sizeof d, "%zu columns, expected 9", sg_csv_nfields(c));
            if ((rc = reject(im, file, line, PL_REJ_COLUMNS, d, fs))) goto out;
            continue;
        }
        struct store_member *m = &rows[n];
        memset(m, 0, sizeof *m);
        int rj, y, mo, d, ys, ms, ds, ye, me, de;
        if ((rc = hash_member(im, c, file, m->member_hash, fs, &rj))) goto out;
        if (rj) continue;
        const char *why = NULL;
        enum pl_reject reason = PL_REJ_COUNT;
        const char *con = sg_csv_field(c, 1), *sex = sg_csv_field(c, 3), *end = sg_csv_field(c, 8);
        if (!contract_ok(con))
            reason = PL_REJ_CONTRACT, why = "contract_id: 1..15 of A-Z 0-9";
        else if (parse_date(sg_csv_field(c, 2), &y, &mo, &d))
            reason = PL_REJ_DATE, why = "birth_date";
        else if (strcmp(sex, "F") && strcmp(sex, "M"))
            reason = PL_REJ_SEX, why = "sex: F or M";
        else if (parse_flag(sg_csv_field(c, 4), &m->dual_eligible))
            reason = PL_REJ_FLAG, why = "dual";
        else if (parse_flag(sg_csv_field(c, 5), &m->lis))
            reason = PL_REJ_FLAG, why = "lis";
        else if (parse_flag(sg_csv_field(c, 6), &m->disabled))
            reason = PL_REJ_FLAG, why = "disability";
        else if (parse_date(sg_csv_field(c, 7), &ys, &ms, &ds))
            reason = PL_REJ_DATE, why = "enrollment_start";
        else if (*end && parse_date(end, &ye, &me, &de))
            reason = PL_REJ_DATE, why = "enrollment_end";
        else if (*end && strcmp(end, sg_csv_field(c, 7)) < 0)
            reason = PL_REJ_DATE, why = "enrollment_end before enrollment_start";
        else if (strcmp(sg_csv_field(c, 2), sg_csv_field(c, 7)) > 0)
            reason = PL_REJ_DATE, why = "enrollment_start before birth_date";
        if (reason != PL_REJ_COUNT) {
            if ((rc = reject(im, file, line, reason, why, fs))) goto out;
            continue;
        }
        int added;
        if (ks_add(&im->members, m->member_hash, &added)) {
            rc = sg_errf(im->err, im->errlen, SG_ENOMEM, "out of memory");
            goto out;
        }
        if (!added) {
            if ((rc = reject(im, file, line, PL_REJ_DUPLICATE,
                             "member_id appears on an earlier line", fs)))
                goto out;
            continue;
        }
        snprintf(m->contract_id, sizeof m->contract_id, "%s", con);
        m->birth_year = y;
        m->sex = sex[0] == 'F' ? STORE_SEX_FEMALE : STORE_SEX_MALE;
        m->active = !*end || strcmp(end, today) >= 0;
        fs->accepted++;
        if (++n == im->batch) {
            if ((rc = writer_submit(im, W_MEMBERS, rows, n))) goto out;
            rows = rows == buf[0] ? buf[1] : buf[0];
            n = 0;
        }
    }
    if (r < 0) {
        rc = r;
        goto out;
    }
    rc = writer_submit(im, W_MEMBERS, rows, n);
    progress(im, file, fs->rows, 1);
out:;
    int drc = writer_drain(im); /* the writer is done with both buffers after this */
    if (!rc) rc = drc;
    sg_csv_free(c);
    fclose(f);
    free(buf[0]);
    free(buf[1]);
    return rc;
}

/* ---- measure_results.csv ---- */

/* The eighth column, numerator_date (the day the numerator was met; empty = unknown), is
 * optional: files with the first seven columns only import as before. */
static const char *const result_cols[] = {
    "member_id", "measure", "year", "initial_population", "denominator", "denominator_exclusion",
    "numerator", "numerator_date"};

/* Checks a numerator_date field (empty = unknown, fine): a real date (PL_REJ_DATE), in the
 * measurement year (PL_REJ_NUMDATE_YEAR), on a met row (PL_REJ_NUMDATE_OPEN); copies it to out when
 * good and returns PL_REJ_COUNT. */
static enum pl_reject check_numerator_date(const char *s, int year, int numerator,
                                           char out[STORE_DATE_LEN], const char **why)
{
    int y, mo, d;
    if (!*s) return PL_REJ_COUNT; /* empty: unknown */
    if (parse_date(s, &y, &mo, &d)) {
        *why = "numerator_date: YYYY-MM-DD";
        return PL_REJ_DATE;
    }
    if (y != year) {
        *why = NULL;
        return PL_REJ_NUMDATE_YEAR;
    }
    if (!numerator) {
        *why = NULL;
        return PL_REJ_NUMDATE_OPEN;
    }
    snprintf(out, STORE_DATE_LEN, "%s", s);
    return PL_REJ_COUNT;
}

/* An accepted result, compact (70 bytes): the file's rows are collected, sorted by primary key
 * and then merged in that order. Batches cut from one sorted sequence fill each b-tree from left
 * to right, instead of every batch scattering its rows over the whole tree (the input is in
 * member-ID order, the keys are hashes): at 1,000,000 members the tables outgrow every cache and
 * a scattered batch rewrites most of their pages. */
struct crow {
    char hash[64];
    uint16_t year;
    uint8_t code;  /* features_measures index */
    uint8_t flags; /* bit 0 initial_population, 1 denominator, 2 denominator_exclusion, 3 numerator */
    uint16_t md;   /* numerator_date (in `year`) as month * 100 + day; 0 = unknown */
};

static int cmp_crow(const void *a, const void *b)
{
    const struct crow *x = a, *y = b;
    int c = memcmp(x->hash, y->hash, 64);
    if (!c && x->code != y->code)
        c = strcmp(features_measures[x->code], features_measures[y->code]);
    if (!c) c = (x->year > y->year) - (x->year < y->year);
    return c;
}

static int crow_cmp_at(const void *ctx, uint32_t a, uint32_t b)
{
    return cmp_crow(&((const struct crow *)ctx)[a], &((const struct crow *)ctx)[b]);
}

/* Sorts n rows of `size` bytes, each starting with its 64 hex digits of member hash, into the
 * order of cmp (which orders by that hash first): core/sort.h's radix order of the hashes, cmp
 * for the rows of one member, then one pass moving the rows. glibc's qsort sorted the 10.75
 * million results of a 1,000,000-member import through pointers, missing the cache on every
 * comparison, while the server waited. Falls back to qsort_cmp when the order cannot be
 * allocated (or n does not fit it). */
static void sort_by_hash(void *rows, size_t n, size_t size, sg_row_cmp_fn cmp,
                         int (*qsort_cmp)(const void *, const void *))
{
    if (n < 2) return;
    uint64_t *key = n <= UINT32_MAX ? malloc(n * sizeof *key) : NULL;
    uint32_t *order = key ? malloc(n * sizeof *order) : NULL;
    char *out = order ? malloc(n * size) : NULL;
    if (!out) {
        free(key);
        free(order);
        free(out);
        qsort(rows, n, size, qsort_cmp);
        return;
    }
    const char *in = rows;
    for (size_t i = 0; i < n; i++) key[i] = sg_hex_prefix64(in + i * size);
    if (sg_order_by_key(key, n, cmp, rows, order) != SG_OK) {
        qsort(rows, n, size, qsort_cmp);
    } else {
        for (size_t i = 0; i < n; i++) memcpy(out + i * size, in + (size_t)order[i] * size, size);
        memcpy(rows, out, n * size);
    }
    free(key);
    free(order);
    free(out);
}

static void crow_unpack(const struct crow *cr, struct store_measure_result *m)
{
    memset(m, 0, sizeof *m);
    memcpy(m->member_hash, cr->hash, 64);
    snprintf(m->measure_code, sizeof m->measure_code, "%s", features_measures[cr->code]);
    m->measurement_year = cr->year;
    m->initial_population = cr->flags & 1;
    m->denominator = (cr->flags >> 1) & 1;
    m->denominator_exclusion = (cr->flags >> 2) & 1;
    m->numerator = (cr->flags >> 3) & 1;
    if (cr->md)
        snprintf(m->numerator_date, sizeof m->numerator_date, "%04d-%02d-%02d", cr->year % 10000,
                 cr->md / 100 % 100, cr->md % 100);
    snprintf(m->source, sizeof m->source, "csv");
}

static int import_results(struct imp *im, const char *dir)
{
    const char *file = "measure_results.csv";
    char path[4096];
    FILE *f;
    struct sg_csv *c;
    struct pl_file_summary *fs = &im->sum->results;
    struct keyset seen = {NULL, DUP_KEY_LEN + 1, 0, 0}; /* hash, measure, year */
    struct store_measure_result one;
    struct crow *all = NULL; /* the accepted rows */
    size_t n_all = 0, cap_all = 0;
    int rc = open_csv(im, dir, file, 0, &f, &c, path, sizeof path);
    if (rc) return rc;
    if ((rc = check_header(im, c, file, result_cols, 7, 1))) goto out;
    size_t ncols = sg_csv_nfields(c);
    if (ncols > 8 || (ncols == 8 && strcmp(sg_csv_field(c, 7), result_cols[7]))) {
        rc = sg_errf(im->err, im->errlen, SG_EPARSE,
                     "%s:%ld: header has %zu columns, expected 7 or 8 (the 8th: numerator_date)",
                     file, sg_csv_line(c), ncols);
        goto out;
    }
    int r;
    while ((r = sg_csv_next(c, im->err, im->errlen)) == 1) {
        long line = sg_csv_line(c);
        fs->rows++;
        progress(im, file, fs->rows, 0);
        if (sg_csv_nfields(c) != ncols) {
            char d[64];
            snprintf(d, sizeof d, "%zu columns, expected %zu", sg_csv_nfields(c), ncols);
            if ((rc = reject(im, file, line, PL_REJ_COLUMNS, d, fs))) goto out;
            continue;
        }
        struct store_measure_result *m = &one;
        memset(m, 0, sizeof *m);
        int rj;
        if ((rc = hash_member(im, c, file, m->member_hash, fs, &rj))) goto out;
        if (rj) continue;
        const char *code = sg_csv_field(c, 1), *why = NULL;
        enum pl_reject reason = PL_REJ_COUNT;
        static const char *const flag_names[4] = {"initial_population", "denominator",
                                                  "denominator_exclusion", "numerator"};
        int fl[4];
        if (features_measure_index(code) < 0)
            reason = PL_REJ_MEASURE,
            why = "measure: not one of BCS COL CBP GSD EED KED BPD SUPD PDC-DR PDC-RASA PDC-STA";
        else if (parse_year(sg_csv_field(c, 2), &m->measurement_year))
            reason = PL_REJ_YEAR, why = "year: 2000..2100";
        else {
            for (int k = 0; k < 4 && reason == PL_REJ_COUNT; k++)
                if (parse_flag(sg_csv_field(c, 3 + (size_t)k), &fl[k]))
                    reason = PL_REJ_FLAG, why = flag_names[k];
            if (reason == PL_REJ_COUNT) {
                if (fl[3] && !fl[1])
                    reason = PL_REJ_NUMERATOR, why = NULL;
                else if ((fl[1] || fl[2]) && !fl[0])
                    reason = PL_REJ_DENOMINATOR, why = NULL;
                else if (ncols == 8)
                    reason = check_numerator_date(sg_csv_field(c, 7), m->measurement_year, fl[3],
                                                  m->numerator_date, &why);
                if (reason == PL_REJ_COUNT && !member_known(im, m->member_hash))
                    reason = PL_REJ_UNKNOWN_MEMBER, why = "not in members.csv nor in the database";
            }
        }
        if (reason != PL_REJ_COUNT) {
            if ((rc = reject(im, file, line, reason, why, fs))) goto out;
            continue;
        }
        char key[DUP_KEY_LEN + 1];
        dup_key(m->member_hash, m->measurement_year, key);
        key[DUP_KEY_LEN] = (char)features_measure_index(code);
        int added;
        if (ks_add(&seen, key, &added)) {
            rc = sg_errf(im->err, im->errlen, SG_ENOMEM, "out of memory");
            goto out;
        }
        if (!added) {
            if ((rc = reject(im, file, line, PL_REJ_DUPLICATE,
                             "member_id, measure and year appear on an earlier line", fs)))
                goto out;
            continue;
        }
        if (n_all == cap_all) {
            size_t nc = cap_all ? cap_all * 2 : 65536;
            struct crow *p = realloc(all, nc * sizeof *p);
            if (!p) {
                rc = sg_errf(im->err, im->errlen, SG_ENOMEM, "out of memory");
                goto out;
            }
            all = p;
            cap_all = nc;
        }
        struct crow *cr = &all[n_all++];
        memcpy(cr->hash, m->member_hash, 64);
        cr->year = (uint16_t)m->measurement_year;
        cr->code = (uint8_t)features_measure_index(code);
        cr->flags = (uint8_t)(fl[0] | fl[1] << 1 | fl[2] << 2 | fl[3] << 3);
        cr->md = m->numerator_date[0] /* checked YYYY-MM-DD */
                     ? (uint16_t)(atoi(m->numerator_date + 5) * 100 + atoi(m->numerator_date + 8))
                     : 0;
        fs->accepted++;
    }
    if (r < 0) {
        rc = r;
        goto out;
    }
    progress(im, file, fs->rows, 1);
    /* all rows are read and checked: the writer merges them in key order, batch by batch,
     * while the next file is read (merge_results_all); its first error is reported at the next
     * hand-over or at the import's end */
    if (n_all) {
        sort_by_hash(all, n_all, sizeof *all, crow_cmp_at, cmp_crow);
        if (!(rc = writer_submit(im, W_RESULTS_ALL, all, n_all))) all = NULL; /* handed over */
    }
out:
    sg_csv_free(c);
    fclose(f);
    free(all);
    free(seen.keys);
    return rc;
}

/* The writer's job for a whole results file: all[0..n) (sorted by key; owned, freed here) cut
 * into transactions of im->batch rows, merged in order; the first failure stops it (the failing
 * batch writes nothing, earlier ones stay), as when the reader handed the batches over one by
 * one. Running it on the writer lets the reader go on to member_features.csv meanwhile. */
/* The sorted files' batches (measure results, member features) are merged on
 * store_batch_writers threads at once (the writer thread and, on PostgreSQL, one more): each
 * batch is its own transaction on its own connection, so the server works on one batch while
 * the client checks and encodes the next, and two server processes share the work. The batches
 * cut the sorted file into disjoint key ranges, and each commits only after the one before it
 * has (store_gate): as with one thread, the first failing batch writes nothing, every batch
 * before it stays, and none after it is written (a later batch waiting at its gate is rolled
 * back). */
struct omerge {
    struct imp *im;
    const void *all; /* the sorted file: struct crow or struct frow */
    size_t n, cap, batches, row_size;
    /* unpacks file rows [from, from + k) into rows (row_size bytes each) */
    void (*fill)(const void *all, size_t from, size_t k, void *rows);
    /* merges one batch; SG_OK or the store's error in e */
    int (*merge)(struct store *st, const struct store_actor *a, const void *rows, size_t k,
                 const struct store_gate *gate, struct store_merge_counts *c, char *e,
                 size_t elen);
    struct store_merge_counts *merged; /* the summary's counts for the file */
    size_t next;      /* the next batch to take */
    size_t committed; /* batches [0, committed) are committed */
    int rc;           /* the first failure (in batch order) */
    size_t failed;    /* its batch */
    char err[SG_ERRLEN];
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

struct oturn {
    struct omerge *m;
    size_t batch;
    int canceled; /* refused at the gate: an earlier batch failed */
};

/* The gate of batch t->batch: waits until every earlier batch has committed, or refuses when
 * one of them failed. */
static int omerge_gate(void *ctx)
{
    struct oturn *t = ctx;
    struct omerge *m = t->m;
    pthread_mutex_lock(&m->mu);
    while (m->committed < t->batch && !(m->rc && m->failed < t->batch))
        pthread_cond_wait(&m->cv, &m->mu);
    t->canceled = m->committed < t->batch;
    pthread_mutex_unlock(&m->mu);
    return t->canceled ? SG_EBUSY : SG_OK;
}

static void *omerge_worker(void *arg)
{
    struct omerge *m = arg;
    void *rows = calloc(m->cap ? m->cap : 1, m->row_size);
    pthread_mutex_lock(&m->mu);
    if (!rows && !m->rc) {
        m->rc = sg_errf(m->err, sizeof m->err, SG_ENOMEM, "out of memory");
        m->failed = m->next;
        pthread_cond_broadcast(&m->cv);
    }
    while (rows && !m->rc && m->next < m->batches) {
        struct oturn t = {m, m->next++, 0};
        pthread_mutex_unlock(&m->mu);
        size_t from = t.batch * m->cap, k = m->n - from < m->cap ? m->n - from : m->cap;
        m->fill(m->all, from, k, rows);
        struct store_gate gate = {omerge_gate, &t};
        struct store_merge_counts c;
        char e[SG_ERRLEN] = "";
        int rc = m->merge(m->im->st, m->im->a, rows, k, &gate, &c, e, sizeof e);
        pthread_mutex_lock(&m->mu);
        if (!rc) {
            m->committed = t.batch + 1;
            add_counts(m->merged, &c);
        } else if (!t.canceled && (!m->rc || t.batch < m->failed)) {
            m->rc = rc;
            m->failed = t.batch;
            memcpy(m->err, e, sizeof e);
        }
        pthread_cond_broadcast(&m->cv);
    }
    pthread_mutex_unlock(&m->mu);
    free(rows);
    return NULL;
}

/* Merges the n sorted file rows `all` in batches of im->batch rows as described above: fill
 * makes a batch's rows (row_size bytes each), merge writes them, their counts are added to
 * *merged. SG_OK or the first failing batch's error. all stays the caller's. */
static int omerge_run(struct imp *im, const void *all, size_t n, size_t row_size,
                      void (*fill)(const void *, size_t, size_t, void *),
                      int (*merge)(struct store *, const struct store_actor *, const void *,
                                   size_t, const struct store_gate *,
                                   struct store_merge_counts *, char *, size_t),
                      struct store_merge_counts *merged, char *err, size_t errlen)
{
    struct omerge mo = {.im = im, .all = all, .n = n, .cap = im->batch, .row_size = row_size,
                        .fill = fill, .merge = merge, .merged = merged};
    struct omerge *m = &mo;
    m->batches = n ? (n + m->cap - 1) / m->cap : 0;
    if (pthread_mutex_init(&m->mu, NULL))
        return sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    if (pthread_cond_init(&m->cv, NULL)) {
        pthread_mutex_destroy(&m->mu);
        return sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    }
    pthread_t th;
    int helper = m->batches > 1 && store_batch_writers(im->st) > 1 &&
                 pthread_create(&th, NULL, omerge_worker, m) == 0;
    omerge_worker(m);
    if (helper) pthread_join(th, NULL);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    if (m->rc) snprintf(err, errlen, "%s", m->err);
    return m->rc;
}

static void fill_results(const void *all, size_t from, size_t k, void *rows)
{
    for (size_t i = 0; i < k; i++)
        crow_unpack(&((const struct crow *)all)[from + i], &((struct store_measure_result *)rows)[i]);
}

static int merge_results(struct store *st, const struct store_actor *a, const void *rows,
                         size_t k, const struct store_gate *gate, struct store_merge_counts *c,
                         char *e, size_t elen)
{
    return store_measure_result_merge_batch_gated(st, a, rows, k, gate, c, e, elen);
}

static int merge_results_all(struct imp *im, struct crow *all, size_t n, char *err,
                             size_t errlen)
{
    int rc = omerge_run(im, all, n, sizeof(struct store_measure_result), fill_results,
                        merge_results, &im->sum->results.merged, err, errlen);
    free(all);
    return rc;
}

/* ---- member_features.csv ---- */

/* True when name is one of the model's built-in feature names (features_set_names), which an
 * imported column may not repeat. */
static int builtin_name(const char *name)
{
    struct model_matrix m;
    char e[128];
    int hit = 0;
    if (model_matrix_init(&m, 1, FEATURES_N_BASE)) return 0;
    if (features_set_names(&m, NULL, 0, e, sizeof e) == SG_OK)
        for (size_t j = 0; j < m.p && !hit; j++)
            hit = !strcmp(m.names[j], name);
    model_matrix_fini(&m);
    return hit;
}

/* An accepted feature row while the file is read: collected, sorted by primary key and merged
 * in that order, for the reason given at struct crow. */
struct frow {
    char hash[64];
    int year;
    char *features; /* owned until handed to a batch */
};

static int cmp_frow(const void *a, const void *b)
{
    const struct frow *x = a, *y = b;
    int c = memcmp(x->hash, y->hash, 64);
    return c ? c : (x->year > y->year) - (x->year < y->year);
}

static int frow_cmp_at(const void *ctx, uint32_t a, uint32_t b)
{
    return cmp_frow(&((const struct frow *)ctx)[a], &((const struct frow *)ctx)[b]);
}

/* Frees n rows and their JSON. */
static void frows_free(struct frow *all, size_t n)
{
    for (size_t i = 0; i < n; i++) free(all[i].features);
    free(all);
}

/* The batch rows borrow the file rows' JSON (freed with the file rows by merge_features_all). */
static void fill_features(const void *all, size_t from, size_t k, void *rows)
{
    const struct frow *fr = (const struct frow *)all + from;
    struct store_member_feature *m = rows;
    for (size_t i = 0; i < k; i++) {
        memset(&m[i], 0, sizeof m[i]);
        memcpy(m[i].member_hash, fr[i].hash, 64);
        m[i].measurement_year = fr[i].year;
        m[i].features = fr[i].features;
        snprintf(m[i].source, sizeof m[i].source, "csv");
    }
}

static int merge_features(struct store *st, const struct store_actor *a, const void *rows,
                          size_t k, const struct store_gate *gate, struct store_merge_counts *c,
                          char *e, size_t elen)
{
    return store_member_feature_merge_batch_gated(st, a, rows, k, gate, c, e, elen);
}

static int merge_features_all(struct imp *im, struct frow *all, size_t n, char *err,
                              size_t errlen)
{
    int rc = omerge_run(im, all, n, sizeof(struct store_member_feature), fill_features,
                        merge_features, &im->sum->features.merged, err, errlen);
    frows_free(all, n);
    return rc;
}

static int import_features(struct imp *im, const char *dir)
{
    const char *file = "member_features.csv";
    char path[4096];
    FILE *f;
    struct sg_csv *c;
    struct pl_file_summary *fs = &im->sum->features;
    struct keyset seen = {NULL, DUP_KEY_LEN, 0, 0}; /* hash, year */
    struct store_member_feature one;
    struct frow *all = NULL; /* the accepted rows */
    size_t n_all = 0, cap_all = 0;
    struct sg_buf js;
    size_t nf = 0;
    sg_buf_init(&js, 1 << 20);
    int rc = open_csv(im, dir, file, 1, &f, &c, path, sizeof path);
    if (rc || !f) {
        sg_buf_fini(&js);
        return rc == SG_ENOMEM ? sg_errf(im->err, im->errlen, rc, "out of memory") : rc;
    }
    im->sum->features_present = 1;
    static const char *const fixed[] = {"member_id", "year"};
    char **names = NULL;
    if ((rc = check_header(im, c, file, fixed, 2, 1))) goto out;
    nf = sg_csv_nfields(c) - 2;
    names = calloc(nf ? nf : 1, sizeof *names);
    if (!names) {
        rc = sg_errf(im->err, im->errlen, SG_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t j = 0; j < nf; j++) {
        const char *nm = sg_csv_field(c, 2 + j);
        if (!model_feature_name_ok(nm)) {
            rc = sg_errf(im->err, im->errlen, SG_EPARSE,
                         "%s:1: column %zu: feature name '%s' (1..63 of A-Z a-z 0-9 _ . -)", file,
                         j + 3, nm);
            goto out;
        }
        if (builtin_name(nm)) {
            rc = sg_errf(im->err, im->errlen, SG_EPARSE,
                         "%s:1: column %zu: feature name '%s' is a built-in model feature", file,
                         j + 3, nm);
            goto out;
        }
        for (size_t q = 0; q < j; q++)
            if (!strcmp(names[q], nm)) {
                rc = sg_errf(im->err, im->errlen, SG_EPARSE,
                             "%s:1: column %zu: feature name '%s' repeated", file, j + 3, nm);
                goto out;
            }
        if (!(names[j] = strdup(nm))) {
            rc = sg_errf(im->err, im->errlen, SG_ENOMEM, "out of memory");
            goto out;
        }
    }
    im->sum->n_feature_names = nf;
    int r;
    while ((r = sg_csv_next(c, im->err, im->errlen)) == 1) {
        long line = sg_csv_line(c);
        fs->rows++;
        progress(im, file, fs->rows, 0);
        if (sg_csv_nfields(c) != nf + 2) {
            char d[64];
            snprintf(d, sizeof d, "%zu columns, expected %zu", sg_csv_nfields(c), nf + 2);
            if ((rc = reject(im, file, line, PL_REJ_COLUMNS, d, fs))) goto out;
            continue;
        }
        struct store_member_feature *m = &one;
        memset(m, 0, sizeof *m);
        int rj;
        if ((rc = hash_member(im, c, file, m->member_hash, fs, &rj))) goto out;
        if (rj) continue;
        enum pl_reject reason = PL_REJ_COUNT;
        char why[128] = "";
        if (parse_year(sg_csv_field(c, 1), &m->measurement_year)) {
            reason = PL_REJ_YEAR;
            snprintf(why, sizeof why, "year: 2000..2100");
        }
        sg_buf_reset(&js);
        int wrc = sg_buf_puts(&js, "{");
        size_t written = 0;
        for (size_t j = 0; j < nf && reason == PL_REJ_COUNT && !wrc; j++) {
            const char *v = sg_csv_field(c, 2 + j);
            if (!*v) continue; /* missing value */
            char *end;
            errno = 0;
            double x = strtod(v, &end);
            if (*end || errno == ERANGE || !isfinite(x)) {
                reason = PL_REJ_NUMBER;
                snprintf(why, sizeof why, "%s: not a finite number", names[j]);
                break;
            }
            wrc = sg_buf_printf(&js, "%s\"%s\":%.17g", written++ ? "," : "", names[j], x);
        }
        if (!wrc) wrc = sg_buf_puts(&js, "}");
        if (wrc) {
            rc = sg_errf(im->err, im->errlen, wrc, "%s:%ld: feature row too large", file, line);
            goto out;
        }
        if (reason == PL_REJ_COUNT && !member_known(im, m->member_hash)) {
            reason = PL_REJ_UNKNOWN_MEMBER;
            snprintf(why, sizeof why, "not in members.csv nor in the database");
        }
        if (reason != PL_REJ_COUNT) {
            if ((rc = reject(im, file, line, reason, why, fs))) goto out;
            continue;
        }
        char key[DUP_KEY_LEN];
        dup_key(m->member_hash, m->measurement_year, key);
        int added;
        if (ks_add(&seen, key, &added)) {
            rc = sg_errf(im->err, im->errlen, SG_ENOMEM, "out of memory");
            goto out;
        }
        if (!added) {
            if ((rc = reject(im, file, line, PL_REJ_DUPLICATE,
                             "member_id and year appear on an earlier line", fs)))
                goto out;
            continue;
        }
        if (n_all == cap_all) {
            size_t nc = cap_all ? cap_all * 2 : 65536;
            struct frow *p = realloc(all, nc * sizeof *p);
            if (!p) {
                rc = sg_errf(im->err, im->errlen, SG_ENOMEM, "out of memory");
                goto out;
            }
            all = p;
            cap_all = nc;
        }
        struct frow *fr = &all[n_all];
        if (!(fr->features = strdup(sg_buf_str(&js)))) {
            rc = sg_errf(im->err, im->errlen, SG_ENOMEM, "out of memory");
            goto out;
        }
        memcpy(fr->hash, m->member_hash, 64);
        fr->year = m->measurement_year;
        n_all++;
        fs->accepted++;
    }
    if (r < 0) {
        rc = r;
        goto out;
    }
    progress(im, file, fs->rows, 1);
    /* all rows are read and checked: merge them in key order (the writer cuts the batches) */
    sort_by_hash(all, n_all, sizeof *all, frow_cmp_at, cmp_frow);
    if (n_all && !(rc = writer_submit(im, W_FEATURES_ALL, all, n_all))) {
        all = NULL; /* handed over: the writer frees the rows and their JSON */
        n_all = 0;
    }
out:;
    int drc = writer_drain(im);
    if (!rc) rc = drc;
    frows_free(all, n_all);
    for (size_t j = 0; names && j < nf; j++)
        free(names[j]);
    free(names);
    sg_csv_free(c);
    fclose(f);
    free(seen.keys);
    sg_buf_fini(&js);
    return rc;
}

int pl_import(struct store *st, const struct store_actor *a, const struct sg_memberid *mid,
              const char *dir, const struct pl_import_opts *opts, struct pl_import_summary *sum,
              char *err, size_t errlen)
{
    memset(sum, 0, sizeof *sum);
    if (!opts || !opts->rejects_path || !dir)
        return sg_errf(err, errlen, SG_EINVAL, "import: directory and rejects path are required");
    struct imp im;
    memset(&im, 0, sizeof im);
    im.st = st;
    im.a = a;
    im.mid = mid;
    im.o = opts;
    im.sum = sum;
    im.err = err;
    im.errlen = errlen;
    im.members.ksize = 65;
    im.batch = opts->batch_rows ? opts->batch_rows : 200000;
    im.rej_path = opts->rejects_path;
    int rc = pl_catalog_ensure(st, a, opts->data_dir, NULL, err, errlen);
    if (rc) return rc;
    im.rej = fopen(opts->rejects_path, "w");
    if (!im.rej)
        return sg_errf(err, errlen, SG_EIO, "%s: cannot create: %s", opts->rejects_path,
                       strerror(errno));
    if (fputs("file,line,reason\n", im.rej) == EOF)
        rc = sg_errf(err, errlen, SG_EIO, "%s: write failed", opts->rejects_path);
    char he[SG_ERRLEN];
    if (!rc && sg_memberid_hasher_new(mid, &im.hasher, he, sizeof he) != SG_OK)
        im.hasher = NULL; /* hash_member falls back to sg_memberid_hash (and its errors) */
    if (!rc) writer_start(&im);
    if (!rc) rc = import_members(&im, dir);
    if (!rc) rc = import_results(&im, dir);
    if (!rc) rc = import_features(&im, dir);
    /* the results merge when no features batch followed it; its error came first */
    int drc = writer_drain(&im);
    if (drc) rc = drc;
    writer_stop(&im);
    sg_memberid_hasher_free(im.hasher);
    memset(im.last_id, 0, sizeof im.last_id);
    if (fclose(im.rej) && !rc)
        rc = sg_errf(err, errlen, SG_EIO, "%s: write failed", opts->rejects_path);
    free(im.members.keys);
    LOG_INFO("event=import members=%lld results=%lld features=%lld rejected=%lld rc=%d",
             sum->members.accepted, sum->results.accepted, sum->features.accepted,
             sum->members.rejected + sum->results.rejected + sum->features.rejected, rc);
    return rc;
}
