/* logreg.c: Newton-fitted L2 logistic regression and its exact SHAP values (logreg.h). */
#include "model/logreg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void logreg_params_default(struct logreg_params *prm)
{
    prm->l2 = 1.0;
    prm->max_iter = 50;
    prm->tol = 1e-8;
}

int logreg_init(struct logreg *m, size_t p)
{
    memset(m, 0, sizeof *m);
    m->mean = calloc(p, sizeof(double));
    m->sd = calloc(p, sizeof(double));
    m->w = calloc(p, sizeof(double));
    m->p = p;
    if (!m->mean || !m->sd || !m->w) {
        logreg_fini(m);
        return SG_ENOMEM;
    }
    for (size_t j = 0; j < p; j++)
        m->sd[j] = 1.0;
    return SG_OK;
}

void logreg_fini(struct logreg *m)
{
    free(m->mean);
    free(m->sd);
    free(m->w);
    memset(m, 0, sizeof *m);
}

double logreg_margin(const struct logreg *m, const float *x)
{
    double s = m->b;
    for (size_t j = 0; j < m->p; j++)
        s += m->w[j] * (((double)x[j] - m->mean[j]) / m->sd[j]);
    return s;
}

void logreg_shap(const struct logreg *m, const float *x, double *phi, double *base)
{
    *base = m->b;
    for (size_t j = 0; j < m->p; j++)
        phi[j] = m->w[j] * (((double)x[j] - m->mean[j]) / m->sd[j]);
}

static double sigmoid(double t)
{
    return t >= 0 ? 1.0 / (1.0 + exp(-t)) : exp(t) / (1.0 + exp(t));
}

/* Penalized negative log-likelihood at (b, w) over the standardized rows. */
static double objective(const struct model_matrix *X, const uint8_t *y, const uint32_t *rows,
                        size_t nrows, const struct logreg *m, const double *wb, double l2)
{
    size_t p = m->p;
    double f = 0.0;
    for (size_t r = 0; r < nrows; r++) {
        const float *x = model_matrix_row(X, rows[r]);
        double t = wb[p];
        for (size_t j = 0; j < p; j++)
            t += wb[j] * (((double)x[j] - m->mean[j]) / m->sd[j]);
        /* log(1 + e^t) - y t, computed stably */
        double sp = t > 0 ? t + log1p(exp(-t)) : log1p(exp(t));
        f += sp - (y[rows[r]] ? t : 0.0);
    }
    for (size_t j = 0; j < p; j++)
        f += 0.5 * l2 * wb[j] * wb[j];
    return f;
}

/* Solves A x = g in place (A symmetric positive definite, k x k, row-major) by Cholesky.
 * Returns 0, or -1 when A is not positive definite. */
static int cholesky_solve(double *A, double *g, size_t k)
{
    for (size_t j = 0; j < k; j++) {
        double d = A[j * k + j];
        for (size_t t = 0; t < j; t++)
            d -= A[j * k + t] * A[j * k + t];
        if (!(d > 0.0)) return -1;
        d = sqrt(d);
        A[j * k + j] = d;
        for (size_t i = j + 1; i < k; i++) {
            double s = A[i * k + j];
            for (size_t t = 0; t < j; t++)
                s -= A[i * k + t] * A[j * k + t];
            A[i * k + j] = s / d;
        }
    }
    for (size_t i = 0; i < k; i++) { /* L y = g */
        double s = g[i];
        for (size_t t = 0; t < i; t++)
            s -= A[i * k + t] * g[t];
        g[i] = s / A[i * k + i];
    }
    for (size_t i = k; i-- > 0;) { /* L^T x = y */
        double s = g[i];
        for (size_t t = i + 1; t < k; t++)
            s -= A[t * k + i] * g[t];
        g[i] = s / A[i * k + i];
    }
    return 0;
}

int logreg_fit(const struct model_matrix *X, const uint8_t *y, const uint32_t *rows, size_t nrows,
               const struct logreg_params *prm, struct logreg *out, char *err, size_t errlen)
{
    size_t p = X->p, k = p + 1;
    double *H = NULL, *g = NULL, *wb = NULL, *trial = NULL, *z = NULL;
    int rc = logreg_init(out, p);
    if (rc) return sg_errf(err, errlen, rc, "out of memory");
    if (!nrows) return sg_errf(err, errlen, SG_EINVAL, "logistic regression: no training rows");
    if (!(prm->l2 >= 0.0) || prm->max_iter < 1)
        return sg_errf(err, errlen, SG_EINVAL,
                       "logistic regression: l2 must be >= 0, max_iter >= 1");
    size_t npos = 0;
    for (size_t r = 0; r < nrows; r++)
        npos += y[rows[r]] != 0;
    if (npos == 0 || npos == nrows)
        return sg_errf(err, errlen, SG_EINVAL, "logistic regression: labels have one class only");

    /* Standardization statistics (two passes for accuracy). */
    for (size_t r = 0; r < nrows; r++) {
        const float *x = model_matrix_row(X, rows[r]);
        for (size_t j = 0; j < p; j++)
            out->mean[j] += x[j];
    }
    for (size_t j = 0; j < p; j++)
        out->mean[j] /= (double)nrows;
    for (size_t j = 0; j < p; j++)
        out->sd[j] = 0.0;
    for (size_t r = 0; r < nrows; r++) {
        const float *x = model_matrix_row(X, rows[r]);
        for (size_t j = 0; j < p; j++) {
            double d = x[j] - out->mean[j];
            out->sd[j] += d * d;
        }
    }
    for (size_t j = 0; j < p; j++) {
        double v = sqrt(out->sd[j] / (double)nrows);
        out->sd[j] = v > 1e-12 ? v : 1.0;
    }

    H = malloc(k * k * sizeof *H);
    g = malloc(k * sizeof *g);
    wb = calloc(k, sizeof *wb); /* w[0..p), b at [p] */
    trial = malloc(k * sizeof *trial);
    z = malloc(k * sizeof *z);
    if (!H || !g || !wb || !trial || !z) {
        rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
        goto fail;
    }
    double rate = (double)npos / (double)nrows;
    wb[p] = log(rate / (1.0 - rate));
    double f = objective(X, y, rows, nrows, out, wb, prm->l2);
    int it;
    for (it = 0; it < prm->max_iter; it++) {
        memset(H, 0, k * k * sizeof *H);
        memset(g, 0, k * sizeof *g);
        for (size_t r = 0; r < nrows; r++) {
            const float *x = model_matrix_row(X, rows[r]);
            for (size_t j = 0; j < p; j++)
                z[j] = ((double)x[j] - out->mean[j]) / out->sd[j];
            z[p] = 1.0;
            double t = 0.0;
            for (size_t j = 0; j < k; j++)
                t += wb[j] * z[j];
            double q = sigmoid(t);
            double resid = q - (y[rows[r]] ? 1.0 : 0.0), h = q * (1.0 - q);
            for (size_t i = 0; i < k; i++) {
                g[i] += resid * z[i];
                double hz = h * z[i];
                double *Hi = H + i * k;
                for (size_t j = 0; j <= i; j++)
                    Hi[j] += hz * z[j];
            }
        }
        for (size_t j = 0; j < p; j++) {
            g[j] += prm->l2 * wb[j];
            H[j * k + j] += prm->l2;
        }
        H[p * k + p] += 1e-12 * (double)nrows; /* keeps the intercept row definite */
        for (size_t i = 0; i < k; i++)
            for (size_t j = i + 1; j < k; j++)
                H[i * k + j] = H[j * k + i];
        if (cholesky_solve(H, g, k)) {
            rc = sg_errf(err, errlen, SG_EINTERNAL,
                         "logistic regression: Hessian not positive definite (set l2 > 0)");
            goto fail;
        }
        /* g now holds the Newton step; halve it until the objective does not increase. */
        double step = 1.0, fn = f;
        for (int h = 0; h < 30; h++) {
            for (size_t j = 0; j < k; j++)
                trial[j] = wb[j] - step * g[j];
            fn = objective(X, y, rows, nrows, out, trial, prm->l2);
            if (fn <= f) break;
            step *= 0.5;
        }
        double maxstep = 0.0;
        for (size_t j = 0; j < k; j++) {
            double d = fabs(trial[j] - wb[j]);
            if (d > maxstep) maxstep = d;
        }
        if (fn > f) break; /* no descent possible: at the optimum to rounding */
        memcpy(wb, trial, k * sizeof *wb);
        f = fn;
        if (maxstep < prm->tol) {
            it++;
            break;
        }
    }
    memcpy(out->w, wb, p * sizeof *wb);
    out->b = wb[p];
    out->iters = it;
    rc = SG_OK;
fail:
    free(H);
    free(g);
    free(wb);
    free(trial);
    free(z);
    return rc;
}
