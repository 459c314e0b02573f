/* dataset.c: feature sets read from the store, training and scoring of the gap models.
 *
 * A year's data is read with the store's bulk scans (members, one year's measure results, one
 * year's imported features) into arrays indexed like the member scan (sorted by member_hash, so a
 * hash is found by binary search). model/features.h turns them into rows: the same builder for
 * training (labels of year Y, features of Y-1) and for scoring (open gaps of Y, features of Y-1).
 * The learners, calibration, metrics, SHAP values and recommendations are model/'s.
 *
 * As-of training (issue 7): the year being scored is observed on an as-of day, so a model must
 * give P(gap open at year end | open on the as-of day). Training on year Y therefore keeps the
 * members whose gap was still open on the same day of Y (numerator 0, or a numerator_date after
 * that day), labelled by the year-end status; a met row without a date counts as met before the
 * day. As-of PL_AS_OF_START keeps every denominator row (nothing known yet: the unconditional
 * model). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/log.h"
#include "model/features.h"
#include "model/model.h"
#include "pipeline/pipeline.h"

#define NM FEATURES_N_MEASURES

/* status codes of a member on a measure in one year */
enum { ST_NONE = 0, ST_OPEN = 1, ST_MET = 2, ST_EXCL = 3 };

struct pl_data {
    size_t n; /* members */
    char (*hash)[STORE_HASH_LEN];
    struct features_member *fm; /* attributes; prior[] = statuses of the feature year */
    uint32_t *contract;         /* contract index */
    char (*contracts)[STORE_CONTRACT_LEN];
    size_t n_contracts, cap_contracts;
    uint8_t *cur;       /* n * NM statuses of the outcome year (ST_*) */
    uint16_t *cur_md;   /* n * NM: month * 100 + day of the outcome year's numerator_date, 0 =
                           none or unknown */
    size_t n_extra;     /* imported feature columns */
    char **extra_names; /* sorted */
    double *extra;      /* n * n_extra, NAN = missing */
    size_t cap;
    char *err;
    size_t errlen;
};

static void data_free(struct pl_data *d)
{
    free(d->hash);
    free(d->fm);
    free(d->contract);
    free(d->contracts);
    free(d->cur);
    free(d->cur_md);
    for (size_t j = 0; j < d->n_extra; j++)
        free(d->extra_names[j]);
    free(d->extra_names);
    free(d->extra);
    memset(d, 0, sizeof *d);
}

static long find_member(const struct pl_data *d, const char *hash)
{
    size_t lo = 0, hi = d->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(d->hash[mid], hash);
        if (!c) return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int on_member(void *ctx, const struct store_member *m)
{
    struct pl_data *d = ctx;
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 4096;
        void *h = realloc(d->hash, nc * sizeof *d->hash);
        if (h) d->hash = h;
        void *f = realloc(d->fm, nc * sizeof *d->fm);
        if (f) d->fm = f;
        void *c = realloc(d->contract, nc * sizeof *d->contract);
        if (c) d->contract = c;
        if (!h || !f || !c) return sg_errf(d->err, d->errlen, SG_ENOMEM, "out of memory");
        d->cap = nc;
    }
    size_t i = d->n++;
    memcpy(d->hash[i], m->member_hash, STORE_HASH_LEN);
    struct features_member *fm = &d->fm[i];
    memset(fm, 0, sizeof *fm);
    fm->birth_year = m->birth_year;
    fm->female = m->sex == STORE_SEX_FEMALE;
    fm->dual = m->dual_eligible == 1;
    fm->lis = m->lis == 1;
    fm->disability = m->disabled == 1;
    /* contracts are few: linear search over the distinct ones */
    size_t k;
    for (k = 0; k < d->n_contracts; k++)
        if (!strcmp(d->contracts[k], m->contract_id)) break;
    if (k == d->n_contracts) {
        if (d->n_contracts == d->cap_contracts) {
            size_t nc = d->cap_contracts ? d->cap_contracts * 2 : 64;
            void *p = realloc(d->contracts, nc * sizeof *d->contracts);
            if (!p) return sg_errf(d->err, d->errlen, SG_ENOMEM, "out of memory");
            d->contracts = p;
            d->cap_contracts = nc;
        }
        memcpy(d->contracts[d->n_contracts++], m->contract_id, STORE_CONTRACT_LEN);
    }
    d->contract[i] = (uint32_t)k;
    return 0;
}

static uint8_t status_of(const struct store_measure_result *r)
{
    if (!r->denominator) return ST_NONE;
    if (r->denominator_exclusion) return ST_EXCL;
    return r->numerator ? ST_MET : ST_OPEN;
}

static int on_prior(void *ctx, const struct store_measure_result *r)
{
    struct pl_data *d = ctx;
    long i = find_member(d, r->member_hash);
    int k = features_measure_index(r->measure_code);
    if (i < 0 || k < 0) return 0;
    uint8_t s = status_of(r);
    d->fm[i].prior[k] = s == ST_OPEN  ? FEATURES_OPEN
                        : s == ST_MET ? FEATURES_MET
                                      : FEATURES_NOT_ELIGIBLE;
    d->fm[i].enrolled_prior_year = 1;
    return 0;
}

static int on_current(void *ctx, const struct store_measure_result *r)
{
    struct pl_data *d = ctx;
    long i = find_member(d, r->member_hash);
    int k = features_measure_index(r->measure_code);
    if (i >= 0 && k >= 0) {
        d->cur[(size_t)i * NM + (size_t)k] = status_of(r);
        d->cur_md[(size_t)i * NM + (size_t)k] = (uint16_t)pl_month_day(r->numerator_date);
    }
    return 0;
}

int pl_month_day(const char *date)
{
    if (!date || strlen(date) != 10 || date[4] != '-' || date[7] != '-') return 0;
    int m = atoi(date + 5), d = atoi(date + 8);
    return m >= 1 && m <= 12 && d >= 1 && d <= 31 ? m * 100 + d : 0;
}

struct as_of_scan {
    int max_md;
    long long dated, met;
};

static int on_as_of(void *ctx, const struct store_measure_result *r)
{
    struct as_of_scan *x = ctx;
    if (!r->numerator) return 0;
    x->met++;
    int md = pl_month_day(r->numerator_date);
    if (md) x->dated++;
    if (md > x->max_md) x->max_md = md;
    return 0;
}

int pl_data_as_of(struct store *st, int year, int *as_of, long long *dated, long long *met,
                  char *err, size_t errlen)
{
    struct as_of_scan x = {0, 0, 0};
    int rc = store_measure_result_scan(st, year, on_as_of, &x, err, errlen);
    *as_of = rc ? 0 : x.max_md;
    if (dated) *dated = x.dated;
    if (met) *met = x.met;
    return rc;
}

int pl_scoring_as_of(struct store *st, int year, int requested, int *as_of, int *from_data,
                     char *err, size_t errlen)
{
    int data_md = 0;
    int rc = pl_data_as_of(st, year, &data_md, NULL, NULL, err, errlen);
    if (rc) return rc;
    *from_data = requested < 0;
    if (requested < 0) {
        *as_of = data_md;
        return SG_OK;
    }
    if (data_md > requested) {
        char a[16], b[16];
        pl_as_of_text(data_md, a, sizeof a);
        pl_as_of_text(requested, b, sizeof b);
        return sg_errf(err, errlen, SG_EINVAL,
                       "--as-of: the %d data holds numerator dates up to %s, after %s (the data is "
                       "observed later than that day)",
                       year, a, b);
    }
    *as_of = requested;
    return SG_OK;
}

void pl_as_of_text(int as_of, char *out, size_t cap)
{
    if (as_of <= 0)
        snprintf(out, cap, "start");
    else
        snprintf(out, cap, "%02d-%02d", (as_of / 100) % 100, as_of % 100);
}

int pl_as_of_parse(const char *s, int *as_of)
{
    static const int md[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!strcmp(s, "start")) {
        *as_of = PL_AS_OF_START;
        return 0;
    }
    if (strlen(s) != 5 || s[2] != '-') return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9')) return -1;
    int m = atoi(s), d = atoi(s + 3);
    if (m < 1 || m > 12 || d < 1 || d > md[m - 1]) return -1;
    *as_of = m * 100 + d;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* first feature pass: the union of names */
static int on_feature_names(void *ctx, const char *hash, int year, const char *features)
{
    struct pl_data *d = ctx;
    (void)hash;
    (void)year;
    json_t *j = json_loads(features, 0, NULL);
    if (!j) return sg_errf(d->err, d->errlen, SG_EPARSE, "member_features: stored JSON unreadable");
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach(j, k, v)
    {
        size_t q;
        for (q = 0; q < d->n_extra; q++)
            if (!strcmp(d->extra_names[q], k)) break;
        if (q < d->n_extra) continue;
        char **p = realloc(d->extra_names, (d->n_extra + 1) * sizeof *p);
        if (!p || !(p[d->n_extra] = strdup(k))) {
            if (p) d->extra_names = p;
            rc = sg_errf(d->err, d->errlen, SG_ENOMEM, "out of memory");
            break;
        }
        d->extra_names = p;
        d->n_extra++;
    }
    json_decref(j);
    return rc;
}

static int on_feature_values(void *ctx, const char *hash, int year, const char *features)
{
    struct pl_data *d = ctx;
    (void)year;
    long i = find_member(d, hash);
    if (i < 0) return 0;
    d->fm[i].enrolled_prior_year = 1;
    json_t *j = json_loads(features, 0, NULL);
    if (!j) return sg_errf(d->err, d->errlen, SG_EPARSE, "member_features: stored JSON unreadable");
    for (size_t q = 0; q < d->n_extra; q++) {
        json_t *v = json_object_get(j, d->extra_names[q]);
        if (v && json_is_number(v)) d->extra[(size_t)i * d->n_extra + q] = json_number_value(v);
    }
    json_decref(j);
    return 0;
}

/* Reads members, the statuses of feature_year (as priors) and of outcome_year, and the imported
 * features of feature_year. names/n_names: the imported feature columns to use (a model's), or
 * NULL to take every name found (training). */
static int data_load(struct store *st, int outcome_year, char *const *names, size_t n_names,
                     struct pl_data *d, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    d->err = err;
    d->errlen = errlen;
    int rc = store_member_scan(st, on_member, d, err, errlen);
    if (!rc && d->n == 0)
        rc = sg_errf(err, errlen, SG_ENOTFOUND, "no members in the database (run stargap import)");
    if (!rc && (!(d->cur = calloc(d->n * NM, 1)) || !(d->cur_md = calloc(d->n * NM, 2))))
        rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    if (!rc) rc = store_measure_result_scan(st, outcome_year - 1, on_prior, d, err, errlen);
    if (!rc) rc = store_measure_result_scan(st, outcome_year, on_current, d, err, errlen);
    if (!rc) {
        if (names) {
            d->extra_names = calloc(n_names ? n_names : 1, sizeof *d->extra_names);
            if (!d->extra_names) rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
            for (size_t q = 0; !rc && q < n_names; q++) {
                if (!(d->extra_names[q] = strdup(names[q])))
                    rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
                else
                    d->n_extra++;
            }
        } else {
            rc = store_member_feature_scan(st, outcome_year - 1, on_feature_names, d, err, errlen);
            if (!rc && d->n_extra)
                qsort(d->extra_names, d->n_extra, sizeof *d->extra_names, cmp_str);
        }
    }
    if (!rc) {
        size_t ncell = d->n * d->n_extra;
        d->extra = malloc((ncell > 0 ? ncell : 1) * sizeof *d->extra);
        if (!d->extra)
            rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
        else
            for (size_t i = 0; i < d->n * d->n_extra; i++)
                d->extra[i] = NAN;
    }
    if (!rc)
        rc = store_member_feature_scan(st, outcome_year - 1, on_feature_values, d, err, errlen);
    if (rc) data_free(d);
    return rc;
}

/* True when member i's measure-k row of the outcome year is a row: for training, in the
 * denominator, not excluded and still open on the as-of day (numerator 0, or met after it; every
 * denominator row when as_of is PL_AS_OF_START); for scoring, an open gap. */
static int want_row(const struct pl_data *d, size_t i, int k, int for_training, int as_of)
{
    uint8_t s = d->cur[i * NM + (size_t)k];
    if (!for_training) return s == ST_OPEN;
    if (s != ST_OPEN && s != ST_MET) return 0;
    return pl_as_of_label(s == ST_MET, d->cur_md[i * NM + (size_t)k], as_of) >= 0;
}

int pl_as_of_label(int numerator, int numerator_md, int as_of)
{
    if (!numerator) return 1;
    if (as_of == PL_AS_OF_START) return 0;
    return numerator_md > as_of ? 0 : -1; /* unknown day (0): met before the as-of day */
}

/* Builds the matrix of the members selected by want_row for measure k. */
static int build_rows(const struct pl_data *d, int k, int year, int for_training, int as_of,
                      struct model_matrix *X, uint8_t **y, size_t **idx, char *err, size_t errlen)
{
    size_t rows = 0;
    *y = NULL;
    *idx = NULL;
    for (size_t i = 0; i < d->n; i++)
        rows += (size_t)want_row(d, i, k, for_training, as_of);
    if (rows == 0)
        return sg_errf(err, errlen, SG_ENOTFOUND, "%s: no %s rows in %d", features_measures[k],
                       for_training ? "denominator rows open on the as-of day" : "open-gap", year);
    double *rate = malloc((d->n_contracts ? d->n_contracts : 1) * sizeof *rate);
    uint8_t *prior = malloc(d->n ? d->n : 1);
    int rc = SG_OK;
    if (!rate || !prior) rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < d->n; i++)
        prior[i] = d->fm[i].prior[k];
    if (!rc && features_contract_rates(d->contract, prior, d->n, d->n_contracts, rate))
        rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    if (!rc && (rc = model_matrix_init(X, rows, FEATURES_N_BASE + d->n_extra)))
        rc = sg_errf(err, errlen, rc, "feature matrix: %zu x %zu", rows,
                     (size_t)FEATURES_N_BASE + d->n_extra);
    if (!rc)
        rc = features_set_names(X, (const char *const *)d->extra_names, d->n_extra, err, errlen);
    if (!rc && (!(*y = malloc(rows)) || !(*idx = malloc(rows * sizeof **idx))))
        rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    size_t r = 0;
    for (size_t i = 0; !rc && i < d->n; i++) {
        uint8_t s = d->cur[i * NM + (size_t)k];
        if (!want_row(d, i, k, for_training, as_of)) continue;
        features_build_row(&d->fm[i], year, rate[d->contract[i]], d->extra + i * d->n_extra,
                           d->n_extra, model_matrix_row(X, r));
        (*y)[r] = s == ST_OPEN; /* 1 = the gap stayed open */
        (*idx)[r] = i;
        r++;
    }
    free(rate);
    free(prior);
    if (rc) {
        model_matrix_fini(X);
        free(*y);
        free(*idx);
        *y = NULL;
        *idx = NULL;
    }
    return rc;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void pl_model_version(const char *code, int version, char *out, size_t cap)
{
    snprintf(out, cap, "%s-v%d", code, version);
}

int pl_default_train_year(struct store *st, int *year, char *err, size_t errlen)
{
    int years[256];
    size_t n = 0;
    *year = 0;
    int rc = store_measure_result_years(st, years, 256, &n, err, errlen);
    if (rc) return rc;
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    int current = tm.tm_year + 1900;
    for (size_t i = 0; i < n; i++)
        if (years[i] < current && years[i] > *year) *year = years[i];
    if (!*year)
        return sg_errf(err, errlen, SG_ENOTFOUND,
                       "no measurement year before %d in measure_results", current);
    return SG_OK;
}

static int measure_list(const char *code, int *ks, size_t *nk, char *err, size_t errlen)
{
    *nk = 0;
    if (!code) {
        for (int k = 0; k < NM; k++)
            ks[(*nk)++] = k;
        return SG_OK;
    }
    int k = features_measure_index(code);
    if (k < 0)
        return sg_errf(
            err, errlen, SG_EINVAL,
            "measure: '%s' is not one of BCS COL CBP GSD EED KED BPD SUPD PDC-DR PDC-RASA PDC-STA",
            code);
    ks[(*nk)++] = k;
    return SG_OK;
}

int pl_train(struct store *st, const struct store_actor *a, int year, const char *code,
             const struct model_train_params *prm, struct pl_train_result *results, size_t *n,
             char *err, size_t errlen)
{
    return pl_train_as_of(st, a, year, PL_AS_OF_START, code, prm, results, n, err, errlen);
}

/* Training of the measures runs on up to `workers` threads (each measure's model depends only on
 * its own rows and the parameters' seed, so the models are the same with any number of workers);
 * the models are stored afterwards one by one in measure order, so versions and the audit trail
 * are as with one thread. */
struct train_job {
    int k;                       /* measure index */
    struct pl_train_result *res; /* skipped, note, rows */
    struct model *m;             /* trained model, or NULL */
    int rc;                      /* a failure that stops the training */
    char e[SG_ERRLEN];
    double t0;
};

struct train_ctx {
    const struct pl_data *d;
    int year, as_of;
    const struct model_train_params *prm;
    struct train_job *jobs;
    size_t n, next;
    pthread_mutex_t mu;
};

static void train_one(const struct train_ctx *tc, struct train_job *j)
{
    struct pl_train_result *res = j->res;
    struct model_matrix X;
    uint8_t *y = NULL;
    size_t *idx = NULL;
    char e[SG_ERRLEN];
    j->t0 = now_s();
    memset(&X, 0, sizeof X);
    int brc = build_rows(tc->d, j->k, tc->year, 1, tc->as_of, &X, &y, &idx, e, sizeof e);
    if (brc == SG_ENOTFOUND) {
        res->skipped = 1;
        snprintf(res->note, sizeof res->note, "%.150s", e);
        return;
    }
    if (brc) {
        j->rc = brc;
        snprintf(j->e, sizeof j->e, "%s", e);
        return;
    }
    res->rows = X.n;
    int trc = model_train(&X, y, features_measures[j->k], tc->year, tc->prm, &j->m, e, sizeof e);
    free(y);
    free(idx);
    model_matrix_fini(&X);
    if (trc == SG_EINVAL) { /* too few rows or one class: reported, not fatal */
        res->skipped = 1;
        snprintf(res->note, sizeof res->note, "%.150s", e);
    } else if (trc) {
        j->rc = trc;
        snprintf(j->e, sizeof j->e, "%s: %.400s", res->measure, e);
    }
}

static void *train_worker(void *arg)
{
    struct train_ctx *tc = arg;
    for (;;) {
        pthread_mutex_lock(&tc->mu);
        size_t i = tc->next++;
        pthread_mutex_unlock(&tc->mu);
        if (i >= tc->n) break;
        train_one(tc, &tc->jobs[i]);
    }
    return NULL;
}

int pl_train_as_of(struct store *st, const struct store_actor *a, int year, int as_of,
                   const char *code, const struct model_train_params *prm,
                   struct pl_train_result *results, size_t *n, char *err, size_t errlen)
{
    return pl_train_workers(st, a, year, as_of, code, prm, 2, results, n, err, errlen);
}

int pl_train_workers(struct store *st, const struct store_actor *a, int year, int as_of,
                     const char *code, const struct model_train_params *prm, int workers,
                     struct pl_train_result *results, size_t *n, char *err, size_t errlen)
{
    int ks[NM];
    size_t nk;
    struct model_train_params def;
    struct pl_data d;
    struct train_job jobs[NM];
    *n = 0;
    int rc = measure_list(code, ks, &nk, err, errlen);
    if (rc) return rc;
    if (workers < 1 || workers > 64)
        return sg_errf(err, errlen, SG_EINVAL, "workers: must be 1..64");
    if (!prm) {
        model_train_params_default(&def);
        prm = &def;
    }
    if ((rc = data_load(st, year, NULL, 0, &d, err, errlen))) return rc;
    memset(jobs, 0, sizeof jobs);
    for (size_t q = 0; q < nk; q++) {
        jobs[q].k = ks[q];
        jobs[q].res = &results[q];
        memset(&results[q], 0, sizeof results[q]);
        snprintf(results[q].measure, sizeof results[q].measure, "%s", features_measures[ks[q]]);
    }
    struct train_ctx tc = {&d, year, as_of, prm, jobs, nk, 0, PTHREAD_MUTEX_INITIALIZER};
    pthread_t th[64];
    int started = 0;
    for (int w = 1; w < workers && (size_t)w < nk; w++, started++)
        if (pthread_create(&th[started], NULL, train_worker, &tc)) break; /* fewer workers */
    train_worker(&tc);
    for (int w = 0; w < started; w++)
        pthread_join(th[w], NULL);
    pthread_mutex_destroy(&tc.mu);
    /* store in measure order; stop at the first failure as the one-thread loop did */
    for (size_t q = 0; q < nk && !rc; q++) {
        struct train_job *j = &jobs[q];
        struct pl_train_result *res = &results[(*n)++];
        struct model *m = j->m;
        j->m = NULL;
        if (j->rc) {
            model_free(m);
            rc = sg_errf(err, errlen, j->rc, "%s", j->e);
            break;
        }
        if (res->skipped || !m) continue;
        res->test = m->test;
        res->base_rate = m->test.base_rate;
        res->cv_auc_logreg = m->cv_auc_logreg;
        res->cv_auc_gbdt = m->cv_auc_gbdt;
        res->calibrated = m->calibrated;
        snprintf(res->learner, sizeof res->learner, "%s",
                 m->kind == MODEL_GBDT ? "gbdt" : "logreg");
        memcpy(res->fingerprint, m->fingerprint, 65);
        struct sg_buf text;
        sg_buf_init(&text, (size_t)256 << 20);
        char hyper[1024], metrics[512], asof_txt[16];
        const struct model_train_params *p = &m->params;
        pl_as_of_text(as_of, asof_txt, sizeof asof_txt);
        snprintf(hyper, sizeof hyper,
                 "{\"as_of\":\"%s\",\"seed\":%llu,\"cv_folds\":%d,\"cv_max_rows\":%zu,"
                 "\"test_fraction\":%.17g,"
                 "\"valid_fraction\":%.17g,\"ece_max\":%.17g,\"calibrated\":%s,\"platt_a\":%.17g,"
                 "\"platt_b\":%.17g,\"features\":%zu}",
                 asof_txt, (unsigned long long)p->seed, p->cv_folds, p->cv_max_rows,
                 p->test_fraction, p->valid_fraction, p->ece_max, m->calibrated ? "true" : "false",
                 m->platt_a, m->platt_b, m->p);
#define JNUM(x) (isfinite(x) ? (x) : -1.0)
        snprintf(metrics, sizeof metrics,
                 "{\"n_test\":%zu,\"base_rate\":%.17g,\"auc\":%.17g,\"brier\":%.17g,"
                 "\"log_loss\":%.17g,\"ece\":%.17g,\"cv_auc_logreg\":%.17g,\"cv_auc_gbdt\":%.17g,"
                 "\"n_rows\":%zu}",
                 m->test.n, JNUM(m->test.base_rate), JNUM(m->test.auc), JNUM(m->test.brier),
                 JNUM(m->test.logloss), JNUM(m->test.ece), JNUM(m->cv_auc_logreg),
                 JNUM(m->cv_auc_gbdt), m->n_rows);
        int src = model_save(m, &text);
        if (src) {
            sg_buf_fini(&text);
            model_free(m);
            rc = sg_errf(err, errlen, src, "%s: model text too large", res->measure);
            break;
        }
        struct store_model sm;
        memset(&sm, 0, sizeof sm);
        snprintf(sm.measure_code, sizeof sm.measure_code, "%s", res->measure);
        sm.trained_year = year;
        snprintf(sm.learner, sizeof sm.learner, "%s", res->learner);
        memcpy(sm.fingerprint, m->fingerprint, 65);
        sm.hyperparams = hyper;
        sm.metrics = metrics;
        sm.model_text = (char *)sg_buf_str(&text);
        rc = store_model_create(st, a, &sm, err, errlen);
        sg_buf_fini(&text);
        model_free(m);
        if (rc) break;
        res->version = sm.version;
        memcpy(res->model_id, sm.model_id, STORE_ID_LEN);
        res->seconds = now_s() - j->t0;
        LOG_INFO("event=model_trained measure=%s version=%d learner=%s rows=%zu auc=%.4f",
                 res->measure, res->version, res->learner, res->rows, res->test.auc);
    }
    for (size_t q = 0; q < nk; q++)
        model_free(jobs[q].m); /* models not stored after a failure */
    data_free(&d);
    return rc;
}

int pl_model_load_latest(struct store *st, const char *code, struct pl_model *out, char *err,
                         size_t errlen)
{
    struct store_model sm;
    memset(out, 0, sizeof *out);
    int rc = store_model_get_latest(st, code, &sm, err, errlen);
    if (rc == SG_ENOTFOUND)
        return sg_errf(err, errlen, SG_ENOTFOUND, "%s: no trained model (run stargap train)", code);
    if (rc) return rc;
    rc = model_load(sm.model_text, strlen(sm.model_text), &out->m, err, errlen);
    if (!rc) {
        pl_model_version(sm.measure_code, sm.version, out->version, sizeof out->version);
        out->trained_year = sm.trained_year;
    }
    store_model_fini(&sm);
    return rc;
}

void pl_model_fini(struct pl_model *pm)
{
    if (!pm) return;
    model_free(pm->m);
    pm->m = NULL;
}

/* Fills a prediction row from one scored feature row: probability, tier, SHAP JSON (optional),
 * top features JSON, recommendation. */
static int fill_prediction(const struct model *m, const float *x, double *phi, int include_shap,
                           const struct pl_tiers *t, struct store_prediction *p, struct sg_buf *b,
                           char *err, size_t errlen)
{
    struct model_explanation ex;
    int rc = model_explain(m, x, phi, &ex);
    if (rc) return sg_errf(err, errlen, rc, "%s: explanation failed", m->measure);
    p->gap_probability = ex.probability;
    if (store_risk_tier_parse(model_risk_tier(ex.probability, t->high, t->medium), &p->risk_tier))
        return sg_errf(err, errlen, SG_EINTERNAL, "risk tier");
    p->risk_score = ex.margin;
    if (include_shap) {
        sg_buf_reset(b);
        rc = sg_buf_puts(b, "{\"base_value\":");
        if (!rc) rc = sg_buf_put_double(b, ex.base);
        if (!rc) rc = sg_buf_puts(b, ",\"values\":{");
        for (size_t j = 0; !rc && j < m->p; j++) {
            rc = sg_buf_printf(b, "%s\"%s\":", j ? "," : "", m->feature_names[j]);
            if (!rc) rc = sg_buf_put_double(b, phi[j]);
        }
        if (!rc) rc = sg_buf_puts(b, "}}");
        if (rc || !(p->shap_values = strdup(sg_buf_str(b))))
            return sg_errf(err, errlen, SG_ENOMEM, "shap_values: out of memory");
    }
    sg_buf_reset(b);
    rc = sg_buf_puts(b, "[");
    for (size_t j = 0; !rc && j < ex.n_top; j++) {
        rc = sg_buf_printf(b, "%s{\"name\":\"%s\",\"value\":", j ? "," : "", ex.top[j].name);
        if (!rc) rc = sg_buf_put_double(b, ex.top[j].value);
        if (!rc) rc = sg_buf_puts(b, ",\"impact\":");
        if (!rc) rc = sg_buf_put_double(b, ex.top[j].impact);
        if (!rc) rc = sg_buf_puts(b, "}");
    }
    if (!rc) rc = sg_buf_puts(b, "]");
    if (rc || !(p->top_features = strdup(sg_buf_str(b))))
        return sg_errf(err, errlen, SG_ENOMEM, "top_features: out of memory");
    sg_buf_reset(b);
    if (model_recommendation(m->measure, &ex, b) == SG_OK)
        snprintf(p->recommendation, sizeof p->recommendation, "%s", sg_buf_str(b));
    return SG_OK;
}

/* Scoring with SHAP is most of predict's CPU and each row is independent: rows [lo, hi) of one
 * part are scored on their own thread (the other half on the caller's), each with its own
 * buffers; the result does not depend on the split. */
struct score_part {
    const struct model *m;
    const struct model_matrix *X;
    const struct pl_tiers *t;
    struct store_prediction *rows;
    size_t lo, hi;
    int rc;
    char e[SG_ERRLEN];
};

static void *score_part_run(void *arg)
{
    struct score_part *sp = arg;
    double *phi = malloc(sp->m->p * sizeof *phi);
    struct sg_buf b;
    sg_buf_init(&b, 1 << 20);
    if (!phi) sp->rc = sg_errf(sp->e, sizeof sp->e, SG_ENOMEM, "out of memory");
    for (size_t r = sp->lo; !sp->rc && r < sp->hi; r++)
        sp->rc = fill_prediction(sp->m, model_matrix_row(sp->X, r), phi, 1, sp->t, &sp->rows[r],
                                 &b, sp->e, sizeof sp->e);
    free(phi);
    sg_buf_fini(&b);
    return NULL;
}

/* Fills the probability, tier, SHAP values, top features and recommendation of rows[0..X->n)
 * on two threads (one when a thread cannot be started or the rows are few). The first error in
 * row order is reported. */
static int score_rows(const struct model *m, const struct model_matrix *X,
                      const struct pl_tiers *t, struct store_prediction *rows, char *err,
                      size_t errlen)
{
    struct score_part part[2];
    memset(part, 0, sizeof part);
    size_t half = X->n >= 256 ? X->n / 2 : X->n;
    for (int i = 0; i < 2; i++) {
        part[i].m = m;
        part[i].X = X;
        part[i].t = t;
        part[i].rows = rows;
        part[i].lo = i ? half : 0;
        part[i].hi = i ? X->n : half;
    }
    pthread_t th;
    int threaded = part[1].lo < part[1].hi && !pthread_create(&th, NULL, score_part_run, &part[1]);
    score_part_run(&part[0]);
    if (threaded)
        pthread_join(th, NULL);
    else if (part[1].lo < part[1].hi && !part[0].rc)
        score_part_run(&part[1]);
    for (int i = 0; i < 2; i++)
        if (part[i].rc) return sg_errf(err, errlen, part[i].rc, "%s", part[i].e);
    return SG_OK;
}

/* True when d holds exactly the imported feature columns names[0..n). */
static int same_names(const struct pl_data *d, char *const *names, size_t n)
{
    if (d->n_extra != n) return 0;
    for (size_t j = 0; j < n; j++)
        if (strcmp(d->extra_names[j], names[j])) return 0;
    return 1;
}

/* The write of one measure's predictions (store_prediction_batch_create: one transaction) runs
 * on a thread of its own while the next measure is loaded and scored: on PostgreSQL the write is
 * the server's work (COPY, its indexes and the member counters) and scoring is the client's, so
 * the two overlap instead of taking turns. At most one write is in flight, and it is finished
 * (joined, its error reported) before the next one starts and before pl_predict returns: the
 * batches are written in measure order, a failed one writes nothing and stops the run, and no
 * later measure is written after it, as when they ran one after the other. */
struct pred_write {
    int active, threaded;
    pthread_t th;
    struct store *st;
    const struct store_actor *a;
    struct store_prediction *rows; /* owned while active */
    size_t n;
    double sum; /* of gap_probability, in row order */
    struct pl_score_result *res;
    int year;
    double seconds;
    int rc;
    char e[SG_ERRLEN];
};

static void *pred_write_run(void *arg)
{
    struct pred_write *w = arg;
    double t0 = now_s();
    w->rc = w->rc ? w->rc : store_prediction_batch_create(w->st, w->a, w->rows, w->n, w->e,
                                                          sizeof w->e);
    w->seconds = now_s() - t0;
    return NULL;
}

/* Waits for the write in flight (if any), fills its measure's result and frees its rows.
 * Returns its error (err set) or SG_OK. */
static int pred_write_finish(struct pred_write *w, char *err, size_t errlen)
{
    if (!w->active) return SG_OK;
    if (w->threaded) pthread_join(w->th, NULL);
    else pred_write_run(w);
    w->active = 0;
    int rc = w->rc;
    if (rc == SG_ECONFLICT)
        rc = sg_errf(err, errlen, SG_ECONFLICT,
                     "%s: model %s already scored %d (train a new version to score again)",
                     w->res->measure, w->res->model_version, w->year);
    else if (rc)
        rc = sg_errf(err, errlen, rc, "%s", w->e);
    if (!rc) {
        w->res->open_gaps = w->n;
        w->res->mean_probability = w->sum / (double)w->n;
    }
    w->res->seconds += w->seconds;
    for (size_t r = 0; r < w->n; r++)
        store_prediction_fini(&w->rows[r]);
    free(w->rows);
    w->rows = NULL;
    return rc;
}

/* Hands rows[0..n) (ownership passes) to a new write, after finishing the one in flight. */
static int pred_write_start(struct pred_write *w, struct store_prediction *rows, size_t n,
                            double sum, struct pl_score_result *res, int year, char *err,
                            size_t errlen)
{
    int rc = pred_write_finish(w, err, errlen);
    if (rc) { /* an earlier measure failed: this one is not written */
        for (size_t r = 0; r < n; r++)
            store_prediction_fini(&rows[r]);
        free(rows);
        return rc;
    }
    w->rows = rows;
    w->n = n;
    w->sum = sum;
    w->res = res;
    w->year = year;
    w->rc = SG_OK;
    w->e[0] = '\0';
    w->active = 1;
    w->threaded = !pthread_create(&w->th, NULL, pred_write_run, w);
    return SG_OK;
}

int pl_predict(struct store *st, const struct store_actor *a, int year, const char *code,
               const struct pl_tiers *tiers, struct pl_score_result *results, size_t *n, char *err,
               size_t errlen)
{
    struct pred_write w;
    memset(&w, 0, sizeof w);
    w.st = st;
    w.a = a;
    int ks[NM];
    size_t nk;
    struct pl_data d; /* loaded once and reused while the models read the same feature columns */
    int loaded = 0;
    *n = 0;
    memset(&d, 0, sizeof d);
    int rc = measure_list(code, ks, &nk, err, errlen);
    for (size_t q = 0; q < nk && !rc; q++) {
        int k = ks[q];
        struct pl_score_result *res = &results[(*n)++];
        memset(res, 0, sizeof *res);
        snprintf(res->measure, sizeof res->measure, "%s", features_measures[k]);
        struct pl_model pm;
        char e[SG_ERRLEN];
        double t0 = now_s();
        int lrc = pl_model_load_latest(st, res->measure, &pm, e, sizeof e);
        if (lrc == SG_ENOTFOUND) {
            res->skipped = 1;
            continue;
        }
        if (lrc) {
            rc = sg_errf(err, errlen, lrc, "%s", e);
            break;
        }
        snprintf(res->model_version, sizeof res->model_version, "%s", pm.version);
        size_t nx = pm.m->p - FEATURES_N_BASE;
        if (!loaded || !same_names(&d, pm.m->feature_names + FEATURES_N_BASE, nx)) {
            if (loaded) data_free(&d);
            loaded = 0;
            if ((rc = data_load(st, year, pm.m->feature_names + FEATURES_N_BASE, nx, &d, err,
                                errlen))) {
                pl_model_fini(&pm);
                break;
            }
            loaded = 1;
        }
        struct model_matrix X;
        uint8_t *y = NULL;
        size_t *idx = NULL;
        memset(&X, 0, sizeof X);
        int brc = build_rows(&d, k, year, 0, PL_AS_OF_START, &X, &y, &idx, e, sizeof e);
        if (brc == SG_ENOTFOUND) {
            pl_model_fini(&pm);
            continue; /* no open gaps: nothing to score */
        }
        if (!brc) brc = model_check_features(pm.m, X.names, X.p, e, sizeof e);
        if (brc) {
            rc = sg_errf(err, errlen, brc, "%s", e);
        } else {
            struct store_prediction *rows = calloc(X.n, sizeof *rows);
            double sum = 0;
            if (!rows) rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
            for (size_t r = 0; !rc && r < X.n; r++) {
                struct store_prediction *p = &rows[r];
                memcpy(p->member_hash, d.hash[idx[r]], STORE_HASH_LEN);
                snprintf(p->measure_code, sizeof p->measure_code, "%s", res->measure);
                p->measurement_year = year;
                snprintf(p->model_version, sizeof p->model_version, "%s", pm.version);
            }
            if (!rc) rc = score_rows(pm.m, &X, tiers, rows, err, errlen);
            for (size_t r = 0; !rc && r < X.n; r++) { /* in row order: the same sum every run */
                res->by_tier[rows[r].risk_tier]++;
                sum += rows[r].gap_probability;
            }
            if (!rc) {
                rc = pred_write_start(&w, rows, X.n, sum, res, year, err, errlen);
                rows = NULL; /* the write owns them */
            }
            for (size_t r = 0; rows && r < X.n; r++)
                store_prediction_fini(&rows[r]);
            free(rows);
        }
        res->seconds = now_s() - t0;
        model_matrix_fini(&X);
        free(y);
        free(idx);
        pl_model_fini(&pm);
    }
    /* the last write; an earlier measure's failure is reported before a later one's */
    char we[SG_ERRLEN];
    int wrc = pred_write_finish(&w, we, sizeof we);
    if (wrc) {
        rc = wrc;
        snprintf(err, errlen, "%s", we);
    }
    if (loaded) data_free(&d);
    return rc;
}

/* Contract rates of one measure and year, cached for RATE_TTL seconds: the prediction endpoints
 * need them for every member, and computing them reads every result of the measure-year. A
 * stale rate (results imported in the last minute) only shifts one feature slightly. */
#define RATE_TTL 60
#define RATE_SLOTS 32

struct rate_slot {
    const struct store *st;
    char code[STORE_CODE_LEN];
    int year;
    time_t at;
    struct store_measure_rate_list l;
    double all; /* the all-contract rate (NAN when nobody is eligible) */
};

static struct rate_slot rate_cache[RATE_SLOTS];
static pthread_mutex_t rate_mu = PTHREAD_MUTEX_INITIALIZER;

static int contract_rate(struct store *st, const char *code, int year, const char *contract,
                         double *rate, char *err, size_t errlen)
{
    time_t now = time(NULL);
    *rate = NAN;
    pthread_mutex_lock(&rate_mu);
    struct rate_slot *slot = NULL, *oldest = &rate_cache[0];
    for (int i = 0; i < RATE_SLOTS && !slot; i++) {
        struct rate_slot *r = &rate_cache[i];
        if (r->st == st && r->year == year && !strcmp(r->code, code) && now - r->at < RATE_TTL)
            slot = r;
        else if (r->at < oldest->at)
            oldest = r;
    }
    if (!slot) {
        struct store_measure_rate_list l;
        int rc = store_measure_result_rates(st, code, NULL, year, &l, err, errlen);
        if (rc) {
            pthread_mutex_unlock(&rate_mu);
            return rc;
        }
        slot = oldest;
        store_measure_rate_list_free(&slot->l);
        slot->l = l;
        slot->st = st;
        snprintf(slot->code, sizeof slot->code, "%s", code);
        slot->year = year;
        slot->at = now;
        long long te = 0, tm = 0;
        for (size_t i = 0; i < l.n; i++) {
            te += l.items[i].eligible;
            tm += l.items[i].numerator;
        }
        slot->all = te ? (double)tm / (double)te : NAN;
    }
    for (size_t i = 0; i < slot->l.n; i++)
        if (!strcmp(slot->l.items[i].contract_id, contract) && slot->l.items[i].eligible >= 30)
            *rate = (double)slot->l.items[i].numerator / (double)slot->l.items[i].eligible;
    if (isnan(*rate)) *rate = slot->all;
    pthread_mutex_unlock(&rate_mu);
    return SG_OK;
}

int pl_score_member(struct store *st, const struct pl_model *pm, const char *member_hash,
                    const char *code, int year, const struct pl_tiers *tiers, int include_shap,
                    struct pl_member_score *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int k = features_measure_index(code);
    if (k < 0) return sg_errf(err, errlen, SG_EINVAL, "measure_code: not a modelled measure");
    struct store_member mem;
    int rc = store_member_get(st, member_hash, &mem, err, errlen);
    if (rc) return rc;
    struct store_measure_result_list cur, prev;
    memset(&prev, 0, sizeof prev);
    if ((rc = store_measure_result_get_by_member(st, member_hash, year, &cur, err, errlen)))
        return rc;
    for (size_t i = 0; i < cur.n; i++)
        if (!strcmp(cur.items[i].measure_code, code) && cur.items[i].denominator &&
            !cur.items[i].denominator_exclusion) {
            out->in_denominator = 1;
            out->numerator = cur.items[i].numerator;
        }
    store_measure_result_list_free(&cur);
    if (!out->in_denominator)
        return sg_errf(err, errlen, SG_EINVAL,
                       "member_hash: member not in the %s denominator for %d", code, year);
    if (out->numerator)
        return sg_errf(err, errlen, SG_ECONFLICT,
                       "member_hash: the %s gap of %d is already closed (numerator met)", code,
                       year);
    struct features_member fm;
    memset(&fm, 0, sizeof fm);
    fm.birth_year = mem.birth_year;
    fm.female = mem.sex == STORE_SEX_FEMALE;
    fm.dual = mem.dual_eligible == 1;
    fm.lis = mem.lis == 1;
    fm.disability = mem.disabled == 1;
    if ((rc = store_measure_result_get_by_member(st, member_hash, year - 1, &prev, err, errlen)))
        return rc;
    for (size_t i = 0; i < prev.n; i++) {
        int q = features_measure_index(prev.items[i].measure_code);
        fm.enrolled_prior_year = 1;
        if (q < 0) continue;
        uint8_t s = status_of(&prev.items[i]);
        fm.prior[q] = s == ST_OPEN  ? FEATURES_OPEN
                      : s == ST_MET ? FEATURES_MET
                                    : FEATURES_NOT_ELIGIBLE;
    }
    store_measure_result_list_free(&prev);
    /* contract prior-year rate as features_contract_rates: own contract when >= 30 eligible */
    double rate = NAN;
    if ((rc = contract_rate(st, code, year - 1, mem.contract_id, &rate, err, errlen))) return rc;
    const struct model *m = pm->m;
    size_t nx = m->p - FEATURES_N_BASE;
    double *extra = malloc((nx ? nx : 1) * sizeof *extra);
    float *x = malloc(m->p * sizeof *x);
    double *phi = malloc(m->p * sizeof *phi);
    struct sg_buf b;
    sg_buf_init(&b, 1 << 20);
    if (!extra || !x || !phi) rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    for (size_t q = 0; !rc && q < nx; q++)
        extra[q] = NAN;
    struct store_member_feature f;
    int frc = rc ? rc : store_member_feature_get(st, member_hash, year - 1, &f, err, errlen);
    if (!rc && frc == SG_OK) {
        fm.enrolled_prior_year = 1;
        json_t *j = json_loads(f.features, 0, NULL);
        for (size_t q = 0; j && q < nx; q++) {
            json_t *v = json_object_get(j, m->feature_names[FEATURES_N_BASE + q]);
            if (v && json_is_number(v)) extra[q] = json_number_value(v);
        }
        json_decref(j);
        store_member_feature_fini(&f);
    } else if (!rc && frc != SG_ENOTFOUND) {
        rc = frc;
    }
    if (!rc) {
        features_build_row(&fm, year, rate, extra, nx, x);
        struct store_prediction *p = &out->pred;
        memcpy(p->member_hash, member_hash, STORE_HASH_LEN);
        snprintf(p->measure_code, sizeof p->measure_code, "%s", code);
        p->measurement_year = year;
        snprintf(p->model_version, sizeof p->model_version, "%s", pm->version);
        rc = fill_prediction(m, x, phi, include_shap, tiers, p, &b, err, errlen);
        if (rc) store_prediction_fini(p);
    }
    free(extra);
    free(x);
    free(phi);
    sg_buf_fini(&b);
    return rc;
}
