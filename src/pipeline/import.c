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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/csv.h"
#include "core/log.h"
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

static uint64_t key_hash(const char *k, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 1099511628211ULL;
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

struct imp {
    struct store *st;
    const struct store_actor *a;
    const struct sg_memberid *mid;
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
    *rej = 0;
    if (sg_memberid_hash(im->mid, sg_csv_field(c, 0), out, e, sizeof e) != SG_OK) {
        *rej = 1;
        return reject(im, file, sg_csv_line(c), PL_REJ_MEMBER_ID,
                      "empty, too long or control characters", fs);
    }
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

static int cmp_result_row(const void *a, const void *b)
{
    const struct store_measure_result *x = a, *y = b;
    int c = strcmp(x->member_hash, y->member_hash);
    if (!c) c = strcmp(x->measure_code, y->measure_code);
    if (!c)
        c = (x->measurement_year > y->measurement_year) -
            (x->measurement_year < y->measurement_year);
    return c;
}

static int cmp_feature_row(const void *a, const void *b)
{
    const struct store_member_feature *x = a, *y = b;
    int c = strcmp(x->member_hash, y->member_hash);
    if (!c)
        c = (x->measurement_year > y->measurement_year) -
            (x->measurement_year < y->measurement_year);
    return c;
}

static int flush_members(struct imp *im, struct store_member *rows, size_t *n)
{
    if (!*n) return SG_OK;
    qsort(rows, *n, sizeof *rows, cmp_member_row);
    struct store_merge_counts k;
    int rc = store_member_upsert_batch(im->st, im->a, rows, *n, &k, im->err, im->errlen);
    if (rc) return rc;
    im->sum->members.merged.inserted += k.inserted;
    im->sum->members.merged.updated += k.updated;
    im->sum->members.merged.unchanged += k.unchanged;
    *n = 0;
    return SG_OK;
}

static int import_members(struct imp *im, const char *dir)
{
    const char *file = "members.csv";
    char path[4096];
    FILE *f;
    struct sg_csv *c;
    struct pl_file_summary *fs = &im->sum->members;
    struct store_member *rows = calloc(im->batch, sizeof *rows);
    size_t n = 0;
    char today[STORE_TS_LEN];
    store_now(today);
    today[10] = '\0';
    int rc = rows ? open_csv(im, dir, file, 0, &f, &c, path, sizeof path) : SG_ENOMEM;
    if (rc) {
        free(rows);
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
        if (++n == im->batch && (rc = flush_members(im, rows, &n))) goto out;
    }
    if (r < 0) {
        rc = r;
        goto out;
    }
    rc = flush_members(im, rows, &n);
    progress(im, file, fs->rows, 1);
out:
    sg_csv_free(c);
    fclose(f);
    free(rows);
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

static int flush_results(struct imp *im, struct store_measure_result *rows, size_t *n)
{
    if (!*n) return SG_OK;
    qsort(rows, *n, sizeof *rows, cmp_result_row);
    struct store_merge_counts k;
    int rc = store_measure_result_merge_batch(im->st, im->a, rows, *n, &k, im->err, im->errlen);
    if (rc) return rc;
    im->sum->results.merged.inserted += k.inserted;
    im->sum->results.merged.updated += k.updated;
    im->sum->results.merged.unchanged += k.unchanged;
    *n = 0;
    return SG_OK;
}

static int import_results(struct imp *im, const char *dir)
{
    const char *file = "measure_results.csv";
    char path[4096];
    FILE *f;
    struct sg_csv *c;
    struct pl_file_summary *fs = &im->sum->results;
    struct keyset seen = {NULL, 65 + 16 + 4, 0, 0}; /* hash, code, year */
    struct store_measure_result *rows = calloc(im->batch, sizeof *rows);
    size_t n = 0;
    int rc = rows ? open_csv(im, dir, file, 0, &f, &c, path, sizeof path) : SG_ENOMEM;
    if (rc) {
        free(rows);
        return rc == SG_ENOMEM ? sg_errf(im->err, im->errlen, rc, "out of memory") : rc;
    }
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
        struct store_measure_result *m = &rows[n];
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
        char key[65 + 16 + 4];
        memset(key, 0, sizeof key);
        memcpy(key, m->member_hash, 64);
        snprintf(key + 65, 16, "%s", code);
        memcpy(key + 81, &m->measurement_year, 4);
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
        snprintf(m->measure_code, sizeof m->measure_code, "%s", code);
        m->initial_population = fl[0];
        m->denominator = fl[1];
        m->denominator_exclusion = fl[2];
        m->numerator = fl[3];
        snprintf(m->source, sizeof m->source, "csv");
        fs->accepted++;
        if (++n == im->batch && (rc = flush_results(im, rows, &n))) goto out;
    }
    if (r < 0) {
        rc = r;
        goto out;
    }
    rc = flush_results(im, rows, &n);
    progress(im, file, fs->rows, 1);
out:
    sg_csv_free(c);
    fclose(f);
    free(rows);
    free(seen.keys);
    return rc;
}

/* ---- member_features.csv ---- */

static int flush_features(struct imp *im, struct store_member_feature *rows, size_t *n)
{
    if (!*n) return SG_OK;
    qsort(rows, *n, sizeof *rows, cmp_feature_row);
    struct store_merge_counts k;
    int rc = store_member_feature_merge_batch(im->st, im->a, rows, *n, &k, im->err, im->errlen);
    for (size_t i = 0; i < *n; i++) {
        free(rows[i].features);
        rows[i].features = NULL;
    }
    *n = 0;
    if (rc) return rc;
    im->sum->features.merged.inserted += k.inserted;
    im->sum->features.merged.updated += k.updated;
    im->sum->features.merged.unchanged += k.unchanged;
    return SG_OK;
}

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

static int import_features(struct imp *im, const char *dir)
{
    const char *file = "member_features.csv";
    char path[4096];
    FILE *f;
    struct sg_csv *c;
    struct pl_file_summary *fs = &im->sum->features;
    struct keyset seen = {NULL, 65 + 4, 0, 0};
    struct store_member_feature *rows = calloc(im->batch, sizeof *rows);
    struct sg_buf js;
    size_t n = 0, nf = 0;
    sg_buf_init(&js, 1 << 20);
    int rc = rows ? open_csv(im, dir, file, 1, &f, &c, path, sizeof path) : SG_ENOMEM;
    if (rc || !f) {
        free(rows);
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
        struct store_member_feature *m = &rows[n];
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
        char key[69];
        memcpy(key, m->member_hash, 65);
        memcpy(key + 65, &m->measurement_year, 4);
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
        if (!(m->features = strdup(sg_buf_str(&js)))) {
            rc = sg_errf(im->err, im->errlen, SG_ENOMEM, "out of memory");
            goto out;
        }
        snprintf(m->source, sizeof m->source, "csv");
        fs->accepted++;
        if (++n == im->batch && (rc = flush_features(im, rows, &n))) goto out;
    }
    if (r < 0) {
        rc = r;
        goto out;
    }
    rc = flush_features(im, rows, &n);
    progress(im, file, fs->rows, 1);
out:
    for (size_t i = 0; i < n; i++)
        free(rows[i].features);
    for (size_t j = 0; names && j < nf; j++)
        free(names[j]);
    free(names);
    sg_csv_free(c);
    fclose(f);
    free(rows);
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
    if (!rc) rc = import_members(&im, dir);
    if (!rc) rc = import_results(&im, dir);
    if (!rc) rc = import_features(&im, dir);
    if (fclose(im.rej) && !rc)
        rc = sg_errf(err, errlen, SG_EIO, "%s: write failed", opts->rejects_path);
    free(im.members.keys);
    LOG_INFO("event=import members=%lld results=%lld features=%lld rejected=%lld rc=%d",
             sum->members.accepted, sum->results.accepted, sum->features.accepted,
             sum->members.rejected + sum->results.rejected + sum->features.rejected, rc);
    return rc;
}
