/* bench_model.c: quality and speed of the gap models on a generated portfolio.
 *
 * Generates a portfolio with src/synth (timed), reads its CSV files back, builds for every
 * measure the training rows of the last year (labels: gap stayed open in Y2; features from
 * Y2-1, via model/features.h), holds out 20% of them (seeded), trains on the rest with
 * model_train (timed), and reports on the held-out rows: the model's AUC next to the
 * Bayes-optimal AUC of the generator's true probabilities, the expected calibration error, and
 * the scoring rate without and with SHAP on one core. Member ids are the generator's
 * "M%08u" numbers, used directly as indexes (this program reads generated data only).
 *
 * usage: bench_model [--members N] [--contracts K] [--years Y1-Y2] [--seed S] [--dir DIR]
 *                    [--measure CODE] [--reuse] */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/fileio.h"
#include "core/rng.h"
#include "model/features.h"
#include "model/metrics.h"
#include "model/model.h"
#include "synth/synth.h"

#define NM FEATURES_N_MEASURES
#define NX 6

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* wall time; CPU time of the process (all threads); CPU time of this thread. The machine is
 * shared, so scoring rates are per CPU-second of the scoring thread (= per core) and training
 * is reported both as wall time and as process CPU time. */
static double now(void)
{
    return clock_s(CLOCK_MONOTONIC);
}
static double cpu(void)
{
    return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}
static double tcpu(void)
{
    return clock_s(CLOCK_THREAD_CPUTIME_ID);
}

struct mrow {
    int birth_year, female, dual, lis, disability;
    uint32_t contract;
};

static char *load(const char *dir, const char *name, size_t *len)
{
    char p[1024], err[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    char *s = NULL;
    if (sg_read_file(p, (size_t)8 << 30, &s, len, err, sizeof err)) {
        fprintf(stderr, "bench_model: %s\n", err);
        exit(1);
    }
    return s;
}

static const char *next_field(const char *p, char sep)
{
    return strchr(p, sep) + 1;
}

int main(int argc, char **argv)
{
    struct synth_params sp = {1000000, 40, 2023, 2025, 42, 12, 31}; /* complete last year */
    const char *dir = "/tmp/stargap_bench_model";
    const char *only = NULL;
    int reuse = 0;
    double lr = -1.0;
    long cvrows = -1, leaves = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--members") && i + 1 < argc)
            sp.members = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--contracts") && i + 1 < argc)
            sp.contracts = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            sp.seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--years") && i + 1 < argc) {
            if (sscanf(argv[++i], "%d-%d", &sp.year_first, &sp.year_last) != 2) return 2;
        } else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--measure") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--reuse"))
            reuse = 1;
        else if (!strcmp(argv[i], "--lr") && i + 1 < argc)
            lr = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "--cv-rows") && i + 1 < argc)
            cvrows = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--leaves") && i + 1 < argc)
            leaves = strtol(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_model [--members N] [--contracts K] [--years Y1-Y2] "
                            "[--seed S] [--dir DIR] [--measure CODE] [--reuse]\n");
            return 2;
        }
    }
    char err[SG_ERRLEN];
    int Y = sp.year_last;
    if (!reuse) {
        mkdir(dir, 0755);
        struct synth_summary sum;
        double t0 = now(), c0 = cpu();
        if (synth_write_csv(&sp, dir, &sum, err, sizeof err)) {
            fprintf(stderr, "bench_model: %s\n", err);
            return 1;
        }
        printf("generator: %zu members, %zu contracts, years %d-%d: %.2f s wall, %.2f s CPU "
               "(%zu result rows)\n",
               sp.members, sp.contracts, sp.year_first, sp.year_last, now() - t0, cpu() - c0,
               sum.result_rows);
        fflush(stdout);
    }
    double t0 = now();
    size_t n = sp.members, len;
    struct mrow *mem = calloc(n + 1, sizeof *mem);
    uint8_t *st_prev = calloc((n + 1) * NM, 1), *st_cur = calloc((n + 1) * NM, 1);
    uint8_t *enrolled_prev = calloc(n + 1, 1);
    float *ptrue = malloc((n + 1) * NM * sizeof *ptrue);
    double *xprev = malloc((n + 1) * NX * sizeof *xprev);
    if (!mem || !st_prev || !st_cur || !enrolled_prev || !ptrue || !xprev) return 1;
    for (size_t i = 0; i < (n + 1) * NX; i++)
        xprev[i] = NAN;
    /* members.csv */
    char *s = load(dir, "members.csv", &len);
    char *p = strchr(s, '\n') + 1;
    while (p < s + len) {
        unsigned long id = strtoul(p + 1, &p, 10);
        if (id > n) return 1;
        struct mrow *m = &mem[id];
        m->contract = (uint32_t)(strtoul(p + 2, &p, 10) - 1000);
        m->birth_year = (int)strtol(p + 1, &p, 10);
        p = (char *)next_field(p, ',');
        m->female = *p == 'F';
        m->dual = p[2] == '1';
        m->lis = p[4] == '1';
        m->disability = p[6] == '1';
        p = strchr(p, '\n') + 1;
    }
    free(s);
    /* measure_results.csv: statuses for Y-1 and Y */
    s = load(dir, "measure_results.csv", &len);
    p = strchr(s, '\n') + 1;
    while (p < s + len) {
        unsigned long id = strtoul(p + 1, &p, 10);
        char *code = p + 1;
        char *c2 = strchr(code, ',');
        *c2 = '\0';
        int k = features_measure_index(code);
        p = c2 + 1;
        int year = (int)strtol(p, &p, 10);
        int ex = p[5] == '1', nu = p[7] == '1';
        p += 9;
        if (k < 0 || id > n) return 1;
        uint8_t v = ex ? 3 : nu ? FEATURES_MET : FEATURES_OPEN;
        if (year == Y - 1) {
            st_prev[id * NM + (size_t)k] = ex ? FEATURES_NOT_ELIGIBLE : v;
            enrolled_prev[id] = 1;
        } else if (year == Y) {
            st_cur[id * NM + (size_t)k] = v;
        }
    }
    free(s);
    /* member_features.csv of Y-1 */
    s = load(dir, "member_features.csv", &len);
    p = strchr(s, '\n') + 1;
    while (p < s + len) {
        unsigned long id = strtoul(p + 1, &p, 10);
        int year = (int)strtol(p + 1, &p, 10);
        double v[NX];
        for (int q = 0; q < NX; q++)
            v[q] = strtod(p + 1, &p);
        p++;
        if (id > n) return 1;
        if (year == Y - 1) {
            memcpy(xprev + id * NX, v, sizeof v);
            enrolled_prev[id] = 1;
        }
    }
    free(s);
    /* true probabilities of compliance in Y */
    s = load(dir, "true_probabilities.csv", &len);
    p = strchr(s, '\n') + 1;
    while (p < s + len) {
        unsigned long id = strtoul(p + 1, &p, 10);
        char *code = p + 1;
        char *c2 = strchr(code, ',');
        *c2 = '\0';
        int k = features_measure_index(code);
        p = c2 + 1;
        strtol(p, &p, 10);
        double v = strtod(p + 1, &p);
        p++;
        if (k < 0 || id > n) return 1;
        ptrue[id * NM + (size_t)k] = (float)v;
    }
    free(s);
    printf("read back in %.2f s\n", now() - t0);

    static const char *xnames[NX] = {"pcp_visits",      "specialist_visits",  "ed_visits",
                                     "inpatient_stays", "chronic_conditions", "risk_score"};
    /* the storage side will fill these plain structs the same way (docs/MODELS.md, Wiring) */
    uint32_t *con = calloc(n + 1, sizeof *con);
    struct features_member *fms = calloc(n + 1, sizeof *fms);
    uint32_t *sel = malloc((n + 1) * sizeof *sel);
    if (!con || !fms || !sel) return 1;
    for (size_t i = 1; i <= n; i++) {
        con[i] = mem[i].contract;
        fms[i] =
            (struct features_member){mem[i].birth_year, mem[i].female,    mem[i].dual, mem[i].lis,
                                     mem[i].disability, enrolled_prev[i], {0}};
        memcpy(fms[i].prior, st_prev + i * NM, NM);
    }
    printf("\n| measure | rows | learner | CV AUC lr/gbdt | AUC | Bayes AUC | gap | gap, enrolled "
           "Y-1 | ECE | Brier | "
           "calibrated | train s (CPU s) | pred/CPU-s | SHAP pred/CPU-s "
           "|\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int k = 0; k < NM; k++) {
        if (only && strcmp(only, features_measures[k])) continue;
        size_t rows = 0;
        for (size_t i = 1; i <= n; i++) {
            uint8_t v = st_cur[i * NM + (size_t)k];
            if (v == FEATURES_OPEN || v == FEATURES_MET) sel[rows++] = (uint32_t)i;
        }
        struct model_matrix X;
        if (features_build_matrix(fms, con, n + 1, sp.contracts, xprev, xnames, NX, k, Y, sel, rows,
                                  &X, err, sizeof err)) {
            fprintf(stderr, "bench_model: %s\n", err);
            return 1;
        }
        uint8_t *y = malloc(rows);
        double *pg = malloc(rows * sizeof *pg);
        for (size_t r = 0; r < rows; r++) {
            y[r] = st_cur[sel[r] * NM + (size_t)k] == FEATURES_OPEN;
            pg[r] = 1.0 - ptrue[sel[r] * NM + (size_t)k];
        }
        /* bench hold-out: 20% of rows, seeded */
        uint32_t *idx = malloc(rows * sizeof *idx);
        for (size_t i = 0; i < rows; i++)
            idx[i] = (uint32_t)i;
        struct sg_rng rng;
        sg_rng_seed(&rng, 12345);
        sg_rng_shuffle(&rng, idx, rows);
        size_t nh = rows / 5, nt = rows - nh;
        struct model_matrix T, H;
        if (model_matrix_init(&T, nt, X.p) || model_matrix_init(&H, nh, X.p)) return 1;
        for (size_t j = 0; j < X.p; j++)
            if (model_matrix_set_name(&T, j, X.names[j], err, sizeof err)) return 1;
        uint8_t *yt = malloc(nt), *yh = malloc(nh);
        double *ph = malloc(nh * sizeof *ph), *pb = malloc(nh * sizeof *pb);
        for (size_t i = 0; i < nt; i++) {
            memcpy(model_matrix_row(&T, i), model_matrix_row(&X, idx[nh + i]), X.p * sizeof(float));
            yt[i] = y[idx[nh + i]];
        }
        for (size_t i = 0; i < nh; i++) {
            memcpy(model_matrix_row(&H, i), model_matrix_row(&X, idx[i]), X.p * sizeof(float));
            yh[i] = y[idx[i]];
            pb[i] = pg[idx[i]];
        }
        struct model_train_params prm;
        model_train_params_default(&prm);
        if (lr > 0) prm.gb.learning_rate = lr;
        if (cvrows >= 0) prm.cv_max_rows = (size_t)cvrows;
        if (leaves > 0) prm.gb.max_leaves = (int)leaves;
        struct model *m;
        double ts = now(), tc = cpu();
        if (model_train(&T, yt, features_measures[k], Y, &prm, &m, err, sizeof err)) {
            fprintf(stderr, "bench_model: %s\n", err);
            return 1;
        }
        double train_s = now() - ts, train_cpu = cpu() - tc;
        model_predict_batch(m, H.x, nh, ph);
        double auc, bauc;
        if (metric_auc(ph, yh, nh, &auc) || metric_auc(pb, yh, nh, &bauc)) return 1;
        double ece = metric_ece(ph, yh, nh, MODEL_ECE_BINS), brier = metric_brier(ph, yh, nh);
        /* the same on members enrolled the year before (new enrollees have no history, while
         * the true probabilities may use current-year facts, e.g. SUPD's statin fills) */
        size_t ne = 0;
        double *pe = malloc(nh * sizeof *pe), *pbe = malloc(nh * sizeof *pbe);
        uint8_t *ye = malloc(nh);
        for (size_t i = 0; i < nh; i++)
            if (model_matrix_row(&H, i)[5] > 0.5f) {
                pe[ne] = ph[i];
                pbe[ne] = pb[i];
                ye[ne++] = yh[i];
            }
        double auc_e, bauc_e;
        if (metric_auc(pe, ye, ne, &auc_e) || metric_auc(pbe, ye, ne, &bauc_e)) return 1;
        free(pe);
        free(pbe);
        free(ye);
        /* scoring rate without SHAP: batch over the hold-out, repeated for >= 1 s */
        size_t done = 0;
        ts = tcpu();
        while (tcpu() - ts < 1.0) {
            model_predict_batch(m, H.x, nh, ph);
            done += nh;
        }
        double rate_plain = (double)done / (tcpu() - ts);
        /* with SHAP: one explanation per row */
        double *phi = malloc(X.p * sizeof *phi);
        struct model_explanation ex;
        done = 0;
        ts = tcpu();
        while (tcpu() - ts < 1.0) {
            for (size_t i = 0; i < nh && i < 20000; i++) {
                if (model_explain(m, model_matrix_row(&H, i), phi, &ex)) return 1;
                done++;
            }
        }
        double rate_shap = (double)done / (tcpu() - ts);
        printf("| %s | %zu | %s | %.4f/%.4f | %.4f | %.4f | %+.4f | %+.4f | %.4f | %.4f | %s | "
               "%.1f (%.1f) | %.2e | %.2e |\n",
               features_measures[k], rows, m->kind == MODEL_GBDT ? "gbdt" : "logreg",
               m->cv_auc_logreg, m->cv_auc_gbdt, auc, bauc, auc - bauc, auc_e - bauc_e, ece, brier,
               m->calibrated ? "Platt" : "no", train_s, train_cpu, rate_plain, rate_shap);
        fflush(stdout);
        if (only) {
            printf("   trees=%zu test(internal) auc=%.4f ece=%.4f valid_ece_raw=%.4f\n",
                   m->kind == MODEL_GBDT ? m->gb.n_trees : 0, m->test.auc, m->test.ece,
                   m->valid_ece_raw);
            printf("   example top features of hold-out row 0:");
            for (size_t q = 0; q < ex.n_top; q++)
                printf(" %s=%g (%+.3f)", ex.top[q].name, ex.top[q].value, ex.top[q].impact);
            printf("\n");
        }
        free(phi);
        model_free(m);
        free(idx);
        free(yt);
        free(yh);
        free(ph);
        free(pb);
        free(y);
        free(pg);
        model_matrix_fini(&X);
        model_matrix_fini(&T);
        model_matrix_fini(&H);
    }
    free(con);
    free(fms);
    free(sel);
    free(mem);
    free(st_prev);
    free(st_cur);
    free(enrolled_prev);
    free(ptrue);
    free(xprev);
    return 0;
}
