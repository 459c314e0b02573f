/* model.c: training orchestration (split, cross-validated learner choice, refit, calibration,
 * held-out metrics), prediction, explanations, risk tiers, recommendations and the model text
 * format (model.h). */
#include "model/model.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/hash.h"
#include "core/rng.h"
#include "model/metrics.h"

void model_train_params_default(struct model_train_params *prm)
{
    memset(prm, 0, sizeof *prm);
    prm->seed = 1;
    prm->cv_folds = 3;
    prm->cv_max_rows = 200000;
    prm->test_fraction = 0.2;
    prm->valid_fraction = 0.1;
    prm->ece_max = 0.01;
    prm->force_kind = 0;
    logreg_params_default(&prm->lr);
    gbdt_params_default(&prm->gb);
}

static int check_params(const struct model_train_params *prm, char *err, size_t errlen)
{
    if (prm->cv_folds < 2 || prm->cv_folds > 20)
        return sg_errf(err, errlen, SG_EINVAL, "cv_folds must be 2..20");
    if (!(prm->test_fraction > 0.0 && prm->test_fraction <= 0.5))
        return sg_errf(err, errlen, SG_EINVAL, "test_fraction must be in (0, 0.5]");
    if (!(prm->valid_fraction > 0.0 && prm->valid_fraction <= 0.5))
        return sg_errf(err, errlen, SG_EINVAL, "valid_fraction must be in (0, 0.5]");
    if (!(prm->ece_max >= 0.0)) return sg_errf(err, errlen, SG_EINVAL, "ece_max must be >= 0");
    if (prm->force_kind != 0 && prm->force_kind != MODEL_LOGREG && prm->force_kind != MODEL_GBDT)
        return sg_errf(err, errlen, SG_EINVAL, "force_kind must be 0, 1 (logreg) or 2 (gbdt)");
    if (!(prm->lr.l2 >= 0.0) || prm->lr.max_iter < 1 || !(prm->lr.tol > 0.0))
        return sg_errf(err, errlen, SG_EINVAL,
                       "logistic regression: l2 >= 0, max_iter >= 1, tol > 0");
    return gbdt_params_check(&prm->gb, err, errlen);
}

void model_free(struct model *m)
{
    if (!m) return;
    if (m->feature_names)
        for (size_t j = 0; j < m->p; j++)
            free(m->feature_names[j]);
    free(m->feature_names);
    logreg_fini(&m->lr);
    gbdt_free_members(&m->gb);
    free(m);
}

int model_fingerprint(const struct model_matrix *X, const uint8_t *y, char out[65])
{
    uint8_t hx[SG_SHA256_LEN], hy[SG_SHA256_LEN], hn[SG_SHA256_LEN];
    out[0] = '\0';
    struct sg_buf b;
    sg_buf_init(&b, (size_t)1 << 24);
    int rc = SG_EINTERNAL;
    for (size_t j = 0; j < X->p; j++)
        if (sg_buf_puts(&b, X->names[j]) || sg_buf_append(&b, "\n", 1)) goto done;
    if (sg_sha256(b.data ? b.data : "", b.len, hn) ||
        sg_sha256(X->x, X->n * X->p * sizeof(float), hx) || sg_sha256(y, X->n, hy))
        goto done;
    sg_buf_reset(&b);
    char hex[65];
    if (sg_buf_printf(&b, "stargap-training-data n=%zu p=%zu", X->n, X->p)) goto done;
    sg_hex_encode(hn, 32, hex);
    if (sg_buf_printf(&b, " names=%s", hex)) goto done;
    sg_hex_encode(hx, 32, hex);
    if (sg_buf_printf(&b, " x=%s", hex)) goto done;
    sg_hex_encode(hy, 32, hex);
    if (sg_buf_printf(&b, " y=%s", hex)) goto done;
    rc = sg_sha256_hex(b.data, b.len, out) ? SG_EINTERNAL : SG_OK;
done:
    sg_buf_fini(&b);
    return rc;
}

static double sigmoid(double t)
{
    return t >= 0 ? 1.0 / (1.0 + exp(-t)) : exp(t) / (1.0 + exp(t));
}

static double raw_margin(const struct model *m, const float *x)
{
    return m->kind == MODEL_LOGREG ? logreg_margin(&m->lr, x) : gbdt_margin(&m->gb, x);
}

double model_margin(const struct model *m, const float *x)
{
    return m->platt_a * raw_margin(m, x) + m->platt_b;
}

double model_predict(const struct model *m, const float *x)
{
    return sigmoid(model_margin(m, x));
}

void model_predict_batch(const struct model *m, const float *x, size_t n, double *out)
{
    if (m->kind == MODEL_GBDT) {
        gbdt_margin_batch(&m->gb, x, n, out);
    } else {
        for (size_t i = 0; i < n; i++)
            out[i] = logreg_margin(&m->lr, x + i * m->p);
    }
    for (size_t i = 0; i < n; i++)
        out[i] = sigmoid(m->platt_a * out[i] + m->platt_b);
}

/* ---- training ----------------------------------------------------------------------------- */

/* Fits one learner of `kind` on fit rows (trees early-stop on valid rows) into m. */
static int fit_kind(struct model *m, int kind, const struct model_matrix *X, const uint8_t *y,
                    const uint32_t *fit, size_t nfit, const uint32_t *valid, size_t nvalid,
                    const struct model_train_params *prm, char *err, size_t errlen)
{
    m->kind = (enum model_kind)kind;
    m->p = X->p;
    m->platt_a = 1.0;
    m->platt_b = 0.0;
    if (kind == MODEL_LOGREG) return logreg_fit(X, y, fit, nfit, &prm->lr, &m->lr, err, errlen);
    return gbdt_fit(X, y, fit, nfit, valid, nvalid, &prm->gb, &m->gb, err, errlen);
}

static void predict_rows(const struct model *m, const struct model_matrix *X, const uint32_t *rows,
                         size_t n, double *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = model_predict(m, model_matrix_row(X, rows[i]));
}

/* Mean k-fold AUC of one learner on rows[0..n). */
static int cv_auc(int kind, const struct model_matrix *X, const uint8_t *y, const uint32_t *rows,
                  size_t n, const struct model_train_params *prm, double *auc, char *err,
                  size_t errlen)
{
    int k = prm->cv_folds, rc = SG_OK;
    uint32_t *trn = malloc(n * sizeof *trn), *tst = malloc(n * sizeof *tst);
    double *pr = malloc(n * sizeof *pr);
    uint8_t *yy = malloc(n ? n : 1);
    double sum = 0.0;
    *auc = NAN;
    if (!trn || !tst || !pr || !yy) {
        rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
        goto done;
    }
    for (int f = 0; f < k; f++) {
        size_t lo = n * (size_t)f / (size_t)k, hi = n * (size_t)(f + 1) / (size_t)k;
        size_t ntr = 0, nts = 0;
        for (size_t i = 0; i < n; i++) {
            if (i >= lo && i < hi)
                tst[nts++] = rows[i];
            else
                trn[ntr++] = rows[i];
        }
        size_t nes = kind == MODEL_GBDT ? ntr / 10 : 0; /* early-stopping tail of the fold */
        struct model fm;
        memset(&fm, 0, sizeof fm);
        rc = fit_kind(&fm, kind, X, y, trn, ntr - nes, trn + (ntr - nes), nes, prm, err, errlen);
        if (rc == SG_OK) {
            predict_rows(&fm, X, tst, nts, pr);
            for (size_t i = 0; i < nts; i++)
                yy[i] = y[tst[i]];
            double a;
            rc = metric_auc(pr, yy, nts, &a);
            sum += a;
        }
        logreg_fini(&fm.lr);
        gbdt_free_members(&fm.gb);
        if (rc) goto done;
    }
    *auc = sum / k;
done:
    free(trn);
    free(tst);
    free(pr);
    free(yy);
    return rc;
}

/* Platt scaling: fits y ~ sigmoid(a * s + b) by Newton's method on scores s. Returns 0, or -1
 * when it does not converge (the caller then keeps the model uncalibrated). */
/* Log-likelihood of labels y under margins a * s + b. */
static double platt_loglik(const double *s, const uint8_t *y, size_t n, double a, double b)
{
    double ll = 0.0;
    for (size_t i = 0; i < n; i++) {
        double t = a * s[i] + b;
        /* log sigmoid(t) = -log1p(exp(-t)); log(1 - sigmoid(t)) = -log1p(exp(t)) */
        double u = y[i] ? -t : t;
        ll -= u > 0 ? u + log1p(exp(-u)) : log1p(exp(u));
    }
    return ll;
}

/* Platt scaling must improve the validation likelihood significantly: the likelihood-ratio
 * statistic of (a, b) against (1, 0) is chi-square with 2 degrees of freedom when the raw model
 * is calibrated, and is required above its 99% point. Fitted on a small validation set, a and b
 * otherwise only fit noise (issue 7: with ~150 validation rows they moved a measure's mean
 * probability by 0.07 and its projected closures by 8 standard deviations). */
#define PLATT_LR_MIN 9.2103 /* chi-square(2) 0.99 quantile = -2 ln(0.01) */

static int platt_fit(const double *s, const uint8_t *y, size_t n, double *pa, double *pb)
{
    double a = 1.0, b = 0.0;
    for (int it = 0; it < 100; it++) {
        double ga = 0, gb = 0, haa = 0, hab = 0, hbb = 0;
        for (size_t i = 0; i < n; i++) {
            double q = sigmoid(a * s[i] + b), r = q - (y[i] ? 1.0 : 0.0), h = q * (1.0 - q);
            ga += r * s[i];
            gb += r;
            haa += h * s[i] * s[i];
            hab += h * s[i];
            hbb += h;
        }
        haa += 1e-9;
        hbb += 1e-9;
        double det = haa * hbb - hab * hab;
        if (!(det > 0.0)) return -1;
        double da = (hbb * ga - hab * gb) / det, db = (haa * gb - hab * ga) / det;
        a -= da;
        b -= db;
        if (!isfinite(a) || !isfinite(b)) return -1;
        if (fabs(da) < 1e-10 && fabs(db) < 1e-10) break;
    }
    *pa = a;
    *pb = b;
    return 0;
}

static void evaluate(const double *p, const uint8_t *y, size_t n, struct model_metrics *mt)
{
    size_t pos = 0;
    for (size_t i = 0; i < n; i++)
        pos += y[i] != 0;
    mt->n = n;
    mt->base_rate = n ? (double)pos / (double)n : NAN;
    if (metric_auc(p, y, n, &mt->auc)) mt->auc = NAN;
    mt->brier = metric_brier(p, y, n);
    mt->logloss = metric_logloss(p, y, n);
    mt->ece = metric_ece(p, y, n, MODEL_ECE_BINS);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int model_train(const struct model_matrix *X, const uint8_t *y, const char *measure, int year,
                const struct model_train_params *prm, struct model **out, char *err, size_t errlen)
{
    *out = NULL;
    double t0 = now_seconds();
    int rc = check_params(prm, err, errlen);
    if (rc) return rc;
    if (!measure || !*measure || strlen(measure) >= sizeof((struct model *)0)->measure)
        return sg_errf(err, errlen, SG_EINVAL, "measure code missing or too long");
    if (X->n < 50)
        return sg_errf(err, errlen, SG_EINVAL, "measure %s: %zu rows, at least 50 are needed",
                       measure, X->n);
    rc = model_matrix_check(X, err, errlen);
    if (rc) return rc;
    for (size_t j = 0; j < X->p; j++)
        if (!model_feature_name_ok(X->names[j]))
            return sg_errf(err, errlen, SG_EINVAL, "feature %zu: invalid name", j);
    size_t npos = 0;
    for (size_t i = 0; i < X->n; i++) {
        if (y[i] > 1) return sg_errf(err, errlen, SG_EINVAL, "row %zu: label must be 0 or 1", i);
        npos += y[i];
    }
    if (npos < 5 || X->n - npos < 5)
        return sg_errf(err, errlen, SG_EINVAL,
                       "measure %s: needs at least 5 open and 5 closed gaps (have %zu and %zu)",
                       measure, npos, X->n - npos);

    struct model *m = calloc(1, sizeof *m);
    uint32_t *idx = malloc(X->n * sizeof *idx);
    double *pr = malloc(X->n * sizeof *pr);
    uint8_t *yy = malloc(X->n);
    if (!m || !idx || !pr || !yy) {
        rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
        goto fail;
    }
    snprintf(m->measure, sizeof m->measure, "%s", measure);
    m->year = year;
    m->params = *prm;
    m->n_rows = X->n;
    m->p = X->p;
    m->cv_auc_logreg = m->cv_auc_gbdt = NAN;
    m->feature_names = calloc(X->p, sizeof *m->feature_names);
    if (!m->feature_names) {
        rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t j = 0; j < X->p; j++)
        if (!(m->feature_names[j] = strdup(X->names[j]))) {
            rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
            goto fail;
        }
    rc = model_fingerprint(X, y, m->fingerprint);
    if (rc) {
        sg_errf(err, errlen, rc, "cannot hash the training data");
        goto fail;
    }

    /* 1. shuffle and split: [0, ntest) test, then validation, then fit */
    struct sg_rng rng;
    sg_rng_seed(&rng, prm->seed);
    for (size_t i = 0; i < X->n; i++)
        idx[i] = (uint32_t)i;
    sg_rng_shuffle(&rng, idx, X->n);
    size_t ntest = (size_t)((double)X->n * prm->test_fraction);
    size_t nrest = X->n - ntest;
    size_t nvalid = (size_t)((double)nrest * prm->valid_fraction);
    if (ntest < 10 || nvalid < 10) {
        rc = sg_errf(err, errlen, SG_EINVAL, "measure %s: too few rows for test and validation",
                     measure);
        goto fail;
    }
    const uint32_t *test = idx, *valid = idx + ntest, *fit = idx + ntest + nvalid;
    size_t nfit = nrest - nvalid;
    m->n_fit = nfit;
    m->n_valid = nvalid;

    /* 2. cross-validated choice of the learner */
    int kind = prm->force_kind;
    if (!kind) {
        size_t ncv = prm->cv_max_rows && prm->cv_max_rows < nrest ? prm->cv_max_rows : nrest;
        rc = cv_auc(MODEL_LOGREG, X, y, idx + ntest, ncv, prm, &m->cv_auc_logreg, err, errlen);
        if (rc) goto fail;
        rc = cv_auc(MODEL_GBDT, X, y, idx + ntest, ncv, prm, &m->cv_auc_gbdt, err, errlen);
        if (rc) goto fail;
        kind = m->cv_auc_gbdt > m->cv_auc_logreg ? MODEL_GBDT : MODEL_LOGREG;
    }

    /* 3. refit */
    rc = fit_kind(m, kind, X, y, fit, nfit, valid, nvalid, prm, err, errlen);
    if (rc) goto fail;

    /* 4. calibration check on the validation rows */
    for (size_t i = 0; i < nvalid; i++) {
        pr[i] = raw_margin(m, model_matrix_row(X, valid[i]));
        yy[i] = y[valid[i]];
    }
    double *pv = pr + nvalid; /* probabilities after pr's margins */
    for (size_t i = 0; i < nvalid; i++)
        pv[i] = sigmoid(pr[i]);
    m->valid_ece_raw = metric_ece(pv, yy, nvalid, MODEL_ECE_BINS);
    if (m->valid_ece_raw > prm->ece_max) {
        double a, b;
        if (platt_fit(pr, yy, nvalid, &a, &b) == 0 &&
            2.0 * (platt_loglik(pr, yy, nvalid, a, b) - platt_loglik(pr, yy, nvalid, 1.0, 0.0)) >
                PLATT_LR_MIN) {
            for (size_t i = 0; i < nvalid; i++)
                pv[i] = sigmoid(a * pr[i] + b);
            if (metric_ece(pv, yy, nvalid, MODEL_ECE_BINS) < m->valid_ece_raw) {
                m->calibrated = 1;
                m->platt_a = a;
                m->platt_b = b;
            }
        }
    }

    /* 5. held-out metrics */
    for (size_t i = 0; i < ntest; i++) {
        pr[i] = model_predict(m, model_matrix_row(X, test[i]));
        yy[i] = y[test[i]];
    }
    evaluate(pr, yy, ntest, &m->test);
    m->train_seconds = now_seconds() - t0;
    *out = m;
    m = NULL;
    rc = SG_OK;
fail:
    model_free(m);
    free(idx);
    free(pr);
    free(yy);
    return rc;
}

/* ---- explanations ------------------------------------------------------------------------- */

int model_explain(const struct model *m, const float *x, double *phi_out,
                  struct model_explanation *ex)
{
    memset(ex, 0, sizeof *ex);
    double stackphi[256];
    double *phi = phi_out ? phi_out : m->p <= 256 ? stackphi : malloc(m->p * sizeof *phi);
    if (!phi) return SG_ENOMEM;
    double base;
    int rc = SG_OK;
    if (m->kind == MODEL_LOGREG) {
        logreg_shap(&m->lr, x, phi, &base);
    } else {
        rc = gbdt_shap(&m->gb, x, phi, &base);
        if (rc) goto done;
    }
    for (size_t j = 0; j < m->p; j++)
        phi[j] *= m->platt_a;
    ex->base = m->platt_a * base + m->platt_b;
    ex->margin = model_margin(m, x);
    ex->probability = sigmoid(ex->margin);
    /* top K by |phi|, ties to the lower index */
    for (size_t j = 0; j < m->p; j++) {
        double a = fabs(phi[j]);
        size_t k = ex->n_top;
        while (k > 0 && fabs(ex->top[k - 1].impact) < a)
            k--;
        if (k >= MODEL_TOP_K) continue;
        size_t last = ex->n_top < MODEL_TOP_K ? ex->n_top : MODEL_TOP_K - 1;
        for (size_t t = last; t > k; t--)
            ex->top[t] = ex->top[t - 1];
        ex->top[k] = (struct model_top_feature){m->feature_names[j], x[j], phi[j]};
        if (ex->n_top < MODEL_TOP_K) ex->n_top++;
    }
done:
    if (phi != phi_out && phi != stackphi) free(phi);
    return rc;
}

const char *model_risk_tier(double p, double high, double medium)
{
    if (p >= high) return "high";
    if (p >= medium) return "medium";
    return "low";
}

struct measure_action {
    const char *code;
    const char *name;
    const char *action;
};

static const struct measure_action ACTIONS[] = {
    {"BCS", "breast cancer screening",
     "Schedule a screening mammogram before December 31 and send a reminder with the appointment"},
    {"COL", "colorectal cancer screening",
     "Offer colorectal cancer screening: mail a FIT or stool DNA kit, or refer for colonoscopy"},
    {"CBP", "blood pressure control",
     "Book a blood-pressure visit so a representative reading below 140/90 is recorded, and "
     "review the antihypertensive regimen"},
    {"GSD", "glycemic status",
     "Order an HbA1c (glycemic status) test and review diabetes therapy so the last result of "
     "the year is at or below 9%"},
    {"EED", "diabetic eye exam",
     "Schedule a retinal eye exam or retinal imaging with an eye care professional"},
    {"KED", "kidney health evaluation",
     "Order both an eGFR blood test and a urine albumin-creatinine ratio (uACR) this year"},
    {"BPD", "blood pressure control in diabetes",
     "Record a blood-pressure reading below 140/90 at a diabetes visit and review therapy"},
    {"SUPD", "statin use in diabetes",
     "Ask the prescriber to consider a statin and make sure it is filled this year"},
    {"PDC-DR", "adherence to diabetes medications",
     "Support adherence to diabetes medications: 90-day fills, mail order, refill reminders "
     "and a pharmacist call"},
    {"PDC-RASA", "adherence to RAS antagonists",
     "Support adherence to RAS antagonists (ACE inhibitors, ARBs): 90-day fills, mail order, "
     "refill reminders and a pharmacist call"},
    {"PDC-STA", "adherence to statins",
     "Support adherence to statins: 90-day fills, mail order, refill reminders and a "
     "pharmacist call"},
};

static const struct measure_action *find_action(const char *code)
{
    for (size_t i = 0; i < sizeof ACTIONS / sizeof ACTIONS[0]; i++)
        if (!strcmp(ACTIONS[i].code, code)) return &ACTIONS[i];
    return NULL;
}

/* Describes one driver in words; falls back to "name = value". */
static int describe_driver(struct sg_buf *b, const struct model_top_feature *t)
{
    const char *n = t->name;
    double v = t->value;
    char code[32];
    size_t ln = strlen(n);
    if (!strncmp(n, "prior_", 6) && ln > 10 && ln < 6 + sizeof code) {
        const char *suffix = strrchr(n, '_');
        size_t cl = (size_t)(suffix - (n + 6));
        memcpy(code, n + 6, cl);
        code[cl] = '\0';
        if (!strcmp(suffix, "_met"))
            return sg_buf_printf(b, v > 0.5 ? "%s was met last year" : "%s was not met last year",
                                 code);
        if (!strcmp(suffix, "_elig"))
            return sg_buf_printf(b,
                                 v > 0.5 ? "in the %s denominator last year"
                                         : "not in the %s denominator last year (new to it)",
                                 code);
    }
    if (!strcmp(n, "age")) return sg_buf_printf(b, "age %.0f", v);
    if (!strcmp(n, "female")) return sg_buf_puts(b, v > 0.5 ? "female" : "male");
    if (!strcmp(n, "dual")) return sg_buf_puts(b, v > 0.5 ? "dual eligible" : "not dual eligible");
    if (!strcmp(n, "lis"))
        return sg_buf_puts(b,
                           v > 0.5 ? "receives the low-income subsidy" : "no low-income subsidy");
    if (!strcmp(n, "disability"))
        return sg_buf_puts(b, v > 0.5 ? "Medicare entitlement by disability" : "entitled by age");
    if (!strcmp(n, "contract_prior_rate"))
        return sg_buf_printf(b, "the contract's rate last year was %.0f%%", 100.0 * v);
    if (!strcmp(n, "prior_gaps_open")) return sg_buf_printf(b, "%.0f open gaps last year", v);
    if (!strcmp(n, "prior_measures_met")) return sg_buf_printf(b, "%.0f measures met last year", v);
    if (!strcmp(n, "enrolled_prior_year"))
        return sg_buf_puts(b, v > 0.5 ? "enrolled last year" : "new to the plan");
    return sg_buf_printf(b, "%s = %g", n, v);
}

int model_recommendation(const char *measure, const struct model_explanation *ex,
                         struct sg_buf *out)
{
    const struct measure_action *a = find_action(measure);
    int rc;
    if (a)
        rc = sg_buf_printf(out, "%s.", a->action);
    else
        rc =
            sg_buf_printf(out, "Close the %s gap before the end of the measurement year.", measure);
    if (rc) return rc;
    size_t nd = 0;
    for (size_t k = 0; k < ex->n_top; k++) {
        const struct model_top_feature *t = &ex->top[k];
        if (!(t->impact > 0.0)) continue;
        rc = sg_buf_puts(out, nd == 0 ? " Main drivers of the risk: " : "; ");
        if (!rc) rc = describe_driver(out, t);
        if (rc) return rc;
        nd++;
    }
    if (nd) {
        rc = sg_buf_puts(out, ".");
        if (rc) return rc;
    }
    /* targeted follow-ups for the strongest patterns */
    for (size_t k = 0; k < ex->n_top; k++) {
        const struct model_top_feature *t = &ex->top[k];
        if (!(t->impact > 0.0)) continue;
        size_t ml = strlen(measure);
        if (!strncmp(t->name, "prior_", 6) && !strncmp(t->name + 6, measure, ml) &&
            !strcmp(t->name + 6 + ml, "_met") && t->value < 0.5)
            return sg_buf_puts(out, " The gap was also open last year: prefer a direct call or a "
                                    "care-manager visit over a mailed reminder.");
    }
    if (ex->probability >= 0.7)
        return sg_buf_puts(out, " High risk: start outreach early in the year.");
    if (!nd) return sg_buf_puts(out, " No single factor stands out; standard outreach is enough.");
    return SG_OK;
}

int model_check_features(const struct model *m, char *const *names, size_t p, char *err,
                         size_t errlen)
{
    if (p != m->p)
        return sg_errf(err, errlen, SG_EINVAL, "model %s has %zu features, the data has %zu",
                       m->measure, m->p, p);
    for (size_t j = 0; j < p; j++)
        if (strcmp(names[j], m->feature_names[j]))
            return sg_errf(err, errlen, SG_EINVAL, "feature %zu: model has '%s', data has '%s'", j,
                           m->feature_names[j], names[j]);
    return SG_OK;
}

int model_summary(const struct model *m, struct sg_buf *out)
{
    char learner[48];
    if (m->kind == MODEL_GBDT)
        snprintf(learner, sizeof learner, "gbdt (%zu trees)", m->gb.n_trees);
    else
        snprintf(learner, sizeof learner, "logreg");
    return sg_buf_printf(out,
                         "%s %d: %s, %zu rows; CV AUC logreg %.4f gbdt %.4f; calibration %s; "
                         "held out n=%zu: AUC %.4f, Brier %.4f, log loss %.4f, ECE %.4f",
                         m->measure, m->year, learner, m->n_rows, m->cv_auc_logreg, m->cv_auc_gbdt,
                         m->calibrated ? "Platt" : "none", m->test.n, m->test.auc, m->test.brier,
                         m->test.logloss, m->test.ece);
}

/* ---- text format -------------------------------------------------------------------------- */

static const char *kind_name(int k)
{
    return k == MODEL_GBDT ? "gbdt" : "logreg";
}

int model_save(const struct model *m, struct sg_buf *b)
{
    const struct model_train_params *pr = &m->params;
    int rc = sg_buf_printf(b, "stargap-model %d\nmeasure %s\nyear %d\nkind %s\nfingerprint %s\n",
                           MODEL_FORMAT_VERSION, m->measure, m->year, kind_name(m->kind),
                           m->fingerprint[0] ? m->fingerprint : "-");
    if (!rc) rc = sg_buf_printf(b, "rows %zu %zu %zu\n", m->n_rows, m->n_fit, m->n_valid);
    if (!rc)
        rc = sg_buf_printf(b, "train_params %" PRIu64 " %d %zu %a %a %a %d\n", pr->seed,
                           pr->cv_folds, pr->cv_max_rows, pr->test_fraction, pr->valid_fraction,
                           pr->ece_max, pr->force_kind);
    if (!rc)
        rc = sg_buf_printf(b, "logreg_params %a %d %a\n", pr->lr.l2, pr->lr.max_iter, pr->lr.tol);
    if (!rc)
        rc = sg_buf_printf(b, "gbdt_params %d %a %d %d %a %a %d %d %d\n", pr->gb.max_trees,
                           pr->gb.learning_rate, pr->gb.max_depth, pr->gb.max_leaves,
                           pr->gb.min_child_weight, pr->gb.lambda, pr->gb.max_bins,
                           pr->gb.early_stopping, pr->gb.threads);
    if (!rc)
        rc = sg_buf_printf(b, "calibration %d %a %a %a\n", m->calibrated, m->platt_a, m->platt_b,
                           m->valid_ece_raw);
    if (!rc) rc = sg_buf_printf(b, "cv_auc %a %a\n", m->cv_auc_logreg, m->cv_auc_gbdt);
    if (!rc)
        rc = sg_buf_printf(b, "test_metrics %zu %a %a %a %a %a\n", m->test.n, m->test.base_rate,
                           m->test.auc, m->test.brier, m->test.logloss, m->test.ece);
    if (!rc) rc = sg_buf_printf(b, "features %zu\n", m->p);
    for (size_t j = 0; j < m->p && !rc; j++)
        rc = sg_buf_printf(b, "%s\n", m->feature_names[j]);
    if (rc) return rc;
    if (m->kind == MODEL_LOGREG) {
        rc = sg_buf_printf(b, "logreg %a %d\n", m->lr.b, m->lr.iters);
        for (size_t j = 0; j < m->p && !rc; j++)
            rc = sg_buf_printf(b, "%a %a %a\n", m->lr.mean[j], m->lr.sd[j], m->lr.w[j]);
    } else {
        rc = sg_buf_printf(b, "gbdt %a %zu %a\n", m->gb.base, m->gb.n_trees, m->gb.valid_logloss);
        for (size_t t = 0; t < m->gb.n_trees && !rc; t++) {
            const struct gbdt_tree *tr = &m->gb.trees[t];
            rc = sg_buf_printf(b, "tree %zu %u\n", t, tr->n_nodes);
            for (uint32_t i = 0; i < tr->n_nodes && !rc; i++) {
                const struct gbdt_node *n = &tr->nodes[i];
                rc = sg_buf_printf(b, "%d %a %d %a %a\n", n->feature, (double)n->threshold, n->left,
                                   n->value, n->cover);
            }
        }
    }
    if (!rc) rc = sg_buf_puts(b, "end\n");
    return rc;
}

struct reader {
    const char *p, *end;
    int line;
    char buf[512];
};

/* Copies the next line into r->buf; returns 0, or -1 at end of input or on an over-long line. */
static int next_line(struct reader *r)
{
    if (r->p >= r->end) return -1;
    const char *e = memchr(r->p, '\n', (size_t)(r->end - r->p));
    if (!e) e = r->end;
    size_t n = (size_t)(e - r->p);
    if (n >= sizeof r->buf) return -1;
    memcpy(r->buf, r->p, n);
    r->buf[n] = '\0';
    r->p = e < r->end ? e + 1 : e;
    r->line++;
    return 0;
}

int model_load(const char *text, size_t len, struct model **out, char *err, size_t errlen)
{
    *out = NULL;
    struct reader r = {.p = text, .end = text + len};
    struct model *m = calloc(1, sizeof *m);
    int rc = SG_EPARSE, ver = 0, n = 0;
    char kind[16], fp[80];
    if (!m) return sg_errf(err, errlen, SG_ENOMEM, "out of memory");
#define LINE(...)                                                                                  \
    do {                                                                                           \
        if (next_line(&r) || (__VA_ARGS__)) goto bad;                                              \
    } while (0)
    LINE(sscanf(r.buf, "stargap-model %d%n", &ver, &n) != 1 || r.buf[n]);
    if (ver != MODEL_FORMAT_VERSION) {
        model_free(m);
        return sg_errf(err, errlen, SG_EUNSUPPORTED,
                       "model format version %d is not supported "
                       "(this build reads %d)",
                       ver, MODEL_FORMAT_VERSION);
    }
    LINE(sscanf(r.buf, "measure %15s%n", m->measure, &n) != 1 || r.buf[n]);
    LINE(sscanf(r.buf, "year %d%n", &m->year, &n) != 1 || r.buf[n]);
    LINE(sscanf(r.buf, "kind %15s%n", kind, &n) != 1 || r.buf[n]);
    if (!strcmp(kind, "gbdt"))
        m->kind = MODEL_GBDT;
    else if (!strcmp(kind, "logreg"))
        m->kind = MODEL_LOGREG;
    else
        goto bad;
    LINE(sscanf(r.buf, "fingerprint %79s%n", fp, &n) != 1 || r.buf[n]);
    if (strcmp(fp, "-")) {
        if (!sg_is_hex64(fp)) goto bad;
        memcpy(m->fingerprint, fp, 65);
    }
    LINE(sscanf(r.buf, "rows %zu %zu %zu%n", &m->n_rows, &m->n_fit, &m->n_valid, &n) != 3 ||
         r.buf[n]);
    struct model_train_params *pr = &m->params;
    LINE(sscanf(r.buf, "train_params %" SCNu64 " %d %zu %la %la %la %d%n", &pr->seed, &pr->cv_folds,
                &pr->cv_max_rows, &pr->test_fraction, &pr->valid_fraction, &pr->ece_max,
                &pr->force_kind, &n) != 7 ||
         r.buf[n]);
    LINE(sscanf(r.buf, "logreg_params %la %d %la%n", &pr->lr.l2, &pr->lr.max_iter, &pr->lr.tol,
                &n) != 3 ||
         r.buf[n]);
    LINE(sscanf(r.buf, "gbdt_params %d %la %d %d %la %la %d %d %d%n", &pr->gb.max_trees,
                &pr->gb.learning_rate, &pr->gb.max_depth, &pr->gb.max_leaves,
                &pr->gb.min_child_weight, &pr->gb.lambda, &pr->gb.max_bins, &pr->gb.early_stopping,
                &pr->gb.threads, &n) != 9 ||
         r.buf[n]);
    LINE(sscanf(r.buf, "calibration %d %la %la %la%n", &m->calibrated, &m->platt_a, &m->platt_b,
                &m->valid_ece_raw, &n) != 4 ||
         r.buf[n]);
    if (!isfinite(m->platt_a) || !isfinite(m->platt_b)) goto bad;
    LINE(sscanf(r.buf, "cv_auc %la %la%n", &m->cv_auc_logreg, &m->cv_auc_gbdt, &n) != 2 ||
         r.buf[n]);
    LINE(sscanf(r.buf, "test_metrics %zu %la %la %la %la %la%n", &m->test.n, &m->test.base_rate,
                &m->test.auc, &m->test.brier, &m->test.logloss, &m->test.ece, &n) != 6 ||
         r.buf[n]);
    size_t p;
    LINE(sscanf(r.buf, "features %zu%n", &p, &n) != 1 || r.buf[n] || p == 0 || p > 100000);
    m->feature_names = calloc(p, sizeof *m->feature_names);
    if (!m->feature_names) goto nomem;
    m->p = p;
    for (size_t j = 0; j < p; j++) {
        LINE(!model_feature_name_ok(r.buf));
        if (!(m->feature_names[j] = strdup(r.buf))) goto nomem;
    }
    if (m->kind == MODEL_LOGREG) {
        if (logreg_init(&m->lr, p)) goto nomem;
        LINE(sscanf(r.buf, "logreg %la %d%n", &m->lr.b, &m->lr.iters, &n) != 2 || r.buf[n] ||
             !isfinite(m->lr.b));
        for (size_t j = 0; j < p; j++)
            LINE(sscanf(r.buf, "%la %la %la%n", &m->lr.mean[j], &m->lr.sd[j], &m->lr.w[j], &n) !=
                     3 ||
                 r.buf[n] || !isfinite(m->lr.mean[j]) || !(m->lr.sd[j] > 0.0) ||
                 !isfinite(m->lr.sd[j]) || !isfinite(m->lr.w[j]));
    } else {
        size_t T;
        m->gb.p = p;
        LINE(sscanf(r.buf, "gbdt %la %zu %la%n", &m->gb.base, &T, &m->gb.valid_logloss, &n) != 3 ||
             r.buf[n] || !isfinite(m->gb.base) || T > 100000);
        m->gb.trees = calloc(T ? T : 1, sizeof *m->gb.trees);
        if (!m->gb.trees) goto nomem;
        m->gb.n_trees = T;
        for (size_t t = 0; t < T; t++) {
            size_t tt;
            unsigned nn;
            LINE(sscanf(r.buf, "tree %zu %u%n", &tt, &nn, &n) != 2 || r.buf[n] || tt != t ||
                 nn == 0 || nn > 1024);
            struct gbdt_tree *tr = &m->gb.trees[t];
            tr->nodes = calloc(nn, sizeof *tr->nodes);
            if (!tr->nodes) goto nomem;
            tr->n_nodes = nn;
            for (unsigned i = 0; i < nn; i++) {
                struct gbdt_node *nd = &tr->nodes[i];
                double thr;
                LINE(sscanf(r.buf, "%d %la %d %la %la%n", &nd->feature, &thr, &nd->left, &nd->value,
                            &nd->cover, &n) != 5 ||
                     r.buf[n]);
                nd->threshold = (float)thr;
                if ((double)nd->threshold != thr && nd->feature >= 0) goto bad;
            }
        }
        rc = gbdt_prepare(&m->gb, err, errlen);
        if (rc) {
            char tmp[SG_ERRLEN];
            snprintf(tmp, sizeof tmp, "%s", err ? err : "");
            sg_errf(err, errlen, rc, "model text: %s", tmp);
            model_free(m);
            return rc;
        }
    }
    LINE(strcmp(r.buf, "end"));
#undef LINE
    *out = m;
    return SG_OK;
bad:
    model_free(m);
    return sg_errf(err, errlen, SG_EPARSE, "model text, line %d: malformed or unexpected line",
                   r.line);
nomem:
    model_free(m);
    return sg_errf(err, errlen, SG_ENOMEM, "out of memory");
}
